"""Therapy notes: draft, sign (locks), addenda; scoped, audited reads; no note text in audit rows."""

from __future__ import annotations

import json

import pytest
from django.http import Http404
from django.urls import reverse

from kapstone.audit.models import AuditEvent
from kapstone.care.models import NoteAddendum, TherapyNote
from kapstone.care.notes import (
    note_addendum_add,
    note_create,
    note_get_for_user,
    note_sign,
    note_update,
    notes_context,
)
from kapstone.domain.errors import DomainError, WorkflowConflict
from tests.care.conftest import first_dosing
from tests.conftest import audit_count

pytestmark = pytest.mark.django_db

# Distinctive words, so a test can prove they never leak into audit rows or foreign pages.
SECRET = "Quillonwhisper relapse memory"
TEXT = {
    "intentions": f"{SECRET}: to stop drinking alone",
    "themes": "",
    "insights": "",
    "plan": "Daily practice",
}


def preparation(course):
    return course.sessions.filter(kind="preparation").order_by("order").first()


def rows() -> tuple[int, int, int]:
    return TherapyNote.objects.count(), NoteAddendum.objects.count(), AuditEvent.objects.count()


def refused(exc_type, call, code: str, message_part: str):
    before = rows()
    with pytest.raises(exc_type) as error:
        call()
    assert error.value.code == code
    assert message_part in error.value.message
    assert rows() == before
    return error.value


@pytest.fixture
def draft(terry, course_a):
    return note_create(actor=terry, session=preparation(course_a), **TEXT)


@pytest.fixture
def signed(terry, draft):
    return note_sign(actor=terry, note=draft)


class TestWriting:
    def test_therapist_writes_a_draft_and_it_is_audited_without_text(self, terry, course_a, patient_a):
        session = preparation(course_a)
        note = note_create(actor=terry, session=session, **TEXT)
        assert (note.session, note.patient, note.clinic_id, note.author) == (
            session,
            patient_a,
            session.clinic_id,
            terry,
        )
        assert not note.is_signed and note.intentions == TEXT["intentions"]
        event = AuditEvent.objects.get(action="create", object_type="therapy_note", object_id=str(note.pk))
        assert (event.actor, event.patient_id, event.clinic_id) == (terry, patient_a.pk, session.clinic_id)
        assert event.detail == {"target": "session", "session": session.pk, "fields": ["intentions", "plan"]}

    def test_prescriber_may_write_too(self, alice, course_a):
        assert note_create(actor=alice, session=preparation(course_a), plan="Follow up").author == alice

    def test_refuses_a_dosing_session(self, terry, course_a):
        refused(
            WorkflowConflict,
            lambda: note_create(actor=terry, session=first_dosing(course_a), **TEXT),
            "notes_not_for_dosing",
            "dosing session is documented in its own record",
        )

    @pytest.mark.parametrize("blank", ["", "   \n  "])
    def test_refuses_an_empty_note(self, terry, course_a, blank):
        error = refused(
            DomainError,
            lambda: note_create(
                actor=terry,
                session=preparation(course_a),
                intentions=blank,
                themes=blank,
                insights=blank,
                plan=blank,
            ),
            "note_empty",
            "at least one of intentions, themes, insights or plan",
        )
        assert error.field is None

    def test_accepts_10000_characters_and_refuses_10001(self, terry, alice, course_a):
        session = preparation(course_a)
        assert len(note_create(actor=terry, session=session, insights="x" * 10_000).insights) == 10_000
        error = refused(
            DomainError,
            lambda: note_create(actor=alice, session=session, insights="x" * 10_001),
            "text_too_long",
            "Insights is longer than 10,000 characters",
        )
        assert error.field == "insights"

    def test_refuses_nul(self, terry, course_a):
        error = refused(
            DomainError,
            lambda: note_create(actor=terry, session=preparation(course_a), plan="a\x00b"),
            "invalid_text",
            "Plan contains a character that cannot be stored",
        )
        assert error.field == "plan"

    def test_one_note_per_author_per_session(self, terry, alice, course_a, draft):
        refused(
            WorkflowConflict,
            lambda: note_create(actor=terry, session=preparation(course_a), plan="again"),
            "note_exists",
            "You already have a note for this session",
        )
        assert note_create(actor=alice, session=preparation(course_a), plan="co-therapist").pk != draft.pk

    def test_other_clinic_and_non_writers_get_not_found(self, carol, nina, bob, course_a):
        for actor in (carol, nina, bob):
            before = rows()
            with pytest.raises(Http404):
                note_create(actor=actor, session=preparation(course_a), **TEXT)
            assert rows() == before

    def test_create_and_sign_in_one_step(self, terry, course_a):
        note = note_create(actor=terry, session=preparation(course_a), sign=True, **TEXT)
        assert note.is_signed and note.signed_by == terry
        assert (
            audit_count(
                action="update", object_type="therapy_note", object_id=str(note.pk), detail={"signed": True}
            )
            == 1
        )


class TestDraftSignAddendum:
    def test_author_edits_a_draft_audited_as_update_with_changed_fields(self, terry, draft):
        note = note_update(actor=terry, note=draft, **(TEXT | {"insights": "Calmer", "plan": "Weekly"}))
        assert (note.insights, note.plan) == ("Calmer", "Weekly")
        event = AuditEvent.objects.get(action="update", object_type="therapy_note", object_id=str(draft.pk))
        assert event.detail == {"fields": ["insights", "plan"]}
        note_update(actor=terry, note=draft, **TEXT)
        assert audit_count(action="update", object_type="therapy_note", object_id=str(draft.pk)) == 2

    def test_someone_else_cannot_edit_or_sign_a_draft(self, alice, draft):
        refused(
            WorkflowConflict,
            lambda: note_update(actor=alice, note=draft, plan="mine now"),
            "not_note_author",
            "Only the author may edit or sign a draft note",
        )
        refused(
            WorkflowConflict,
            lambda: note_sign(actor=alice, note=draft),
            "not_note_author",
            "Only the author may edit or sign a draft note",
        )
        draft.refresh_from_db()
        assert draft.plan == TEXT["plan"] and not draft.is_signed

    def test_signing_locks_the_note(self, terry, draft):
        note = note_sign(actor=terry, note=draft)
        assert note.signed_by == terry and note.signed_at is not None
        event = AuditEvent.objects.get(action="update", object_type="therapy_note", object_id=str(draft.pk))
        assert event.detail == {"signed": True}
        refused(
            WorkflowConflict,
            lambda: note_update(actor=terry, note=draft, plan="changed my mind"),
            "note_locked",
            "signed and locked: add an addendum instead",
        )
        refused(
            WorkflowConflict, lambda: note_sign(actor=terry, note=draft), "already_signed", "already signed"
        )
        draft.refresh_from_db()
        assert draft.plan == TEXT["plan"]

    def test_a_signed_note_changes_only_by_addendum(self, terry, alice, signed):
        addendum = note_addendum_add(actor=alice, note=signed, text="Patient called: plan moved to Tuesdays.")
        assert (addendum.note, addendum.author) == (signed, alice)
        event = AuditEvent.objects.get(action="create", object_type="note_addendum")
        assert (event.object_id, event.patient_id, event.detail) == (
            str(addendum.pk),
            signed.patient_id,
            {"note": signed.pk},
        )
        signed.refresh_from_db()
        assert signed.plan == TEXT["plan"]

    def test_addendum_refusals(self, terry, draft):
        refused(
            WorkflowConflict,
            lambda: note_addendum_add(actor=terry, note=draft, text="too early"),
            "note_not_signed",
            "still a draft",
        )
        note_sign(actor=terry, note=draft)
        refused(
            DomainError,
            lambda: note_addendum_add(actor=terry, note=draft, text="  "),
            "addendum_required",
            "Write the addendum",
        )
        refused(
            DomainError,
            lambda: note_addendum_add(actor=terry, note=draft, text="y" * 10_001),
            "text_too_long",
            "longer than 10,000 characters",
        )

    def test_other_clinic_cannot_add_an_addendum(self, carol, signed):
        before = rows()
        with pytest.raises(Http404):
            note_addendum_add(actor=carol, note=signed, text="not mine")
        assert rows() == before

    def test_audit_rows_never_hold_note_text(self, terry, alice, draft):
        note_update(actor=terry, note=draft, **(TEXT | {"insights": f"{SECRET} again"}))
        note_sign(actor=terry, note=draft)
        note_addendum_add(actor=alice, note=draft, text=f"{SECRET} addendum")
        note_get_for_user(user=alice, note_id=draft.pk)
        dumped = json.dumps(
            list(AuditEvent.objects.values("detail", "object_type", "object_id", "actor_label"))
        )
        assert "Quillonwhisper" not in dumped


class TestReading:
    def test_read_is_scoped_and_audited(self, nina, adam, draft):
        for user in (nina, adam):
            assert note_get_for_user(user=user, note_id=draft.pk) == draft
            assert (
                audit_count(action="read", object_type="therapy_note", object_id=str(draft.pk), actor=user)
                == 1
            )

    def test_other_clinic_gets_404_and_a_denied_audit(self, carol, draft):
        with pytest.raises(Http404):
            note_get_for_user(user=carol, note_id=draft.pk)
        assert (
            audit_count(action="denied", object_type="therapy_note", object_id=str(draft.pk), actor=carol)
            == 1
        )
        with pytest.raises(Http404):
            note_get_for_user(user=carol, note_id=draft.pk + 1000)

    def test_researcher_cannot_read(self, bob, draft):
        with pytest.raises(Http404):
            note_get_for_user(user=bob, note_id=draft.pk)

    def test_session_context_shows_states_and_the_write_link(self, terry, alice, nina, course_a, draft):
        session = preparation(course_a)
        own = notes_context(terry, session)
        assert own["own_note"] == draft and not own["can_write_note"]
        assert notes_context(alice, session)["can_write_note"]
        assert not notes_context(nina, session)["can_write_note"]
        assert notes_context(alice, first_dosing(course_a)) == {
            "notes_enabled": False,
            "session_notes": [],
            "own_note": None,
            "can_write_note": False,
        }


def form_data(**changes) -> dict[str, str]:
    return TEXT | changes


class TestSessionPageAndCreateView:
    def test_session_page_shows_notes_with_state_and_write_link(self, as_user, terry, nina, course_a, draft):
        session = preparation(course_a)
        body = as_user(nina).get(reverse("care:session", args=[session.pk])).content
        assert b"Therapy notes" in body and b"Draft" in body
        assert b"Write note" not in body and SECRET.encode() not in body
        other = as_user(terry).get(reverse("care:session", args=[course_a.sessions.get(order=3).pk])).content
        assert b"Write note" in other

    def test_dosing_session_page_has_no_notes_panel(self, as_user, terry, course_a):
        body = as_user(terry).get(reverse("care:session", args=[first_dosing(course_a).pk])).content
        assert b"Therapy notes" not in body

    def test_works(self, as_user, terry, course_a):
        client = as_user(terry)
        url = reverse("care:note_create", args=[preparation(course_a).pk])
        assert client.get(url).status_code == 200
        response = client.post(url, form_data(action="draft"))
        note = TherapyNote.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse("care:note", args=[note.pk])
        assert not note.is_signed
        assert client.get(url)["Location"] == reverse(
            "care:note", args=[note.pk]
        )  # the second "write" opens it

    def test_save_and_sign(self, as_user, terry, course_a):
        as_user(terry).post(
            reverse("care:note_create", args=[preparation(course_a).pk]), form_data(action="sign")
        )
        assert TherapyNote.objects.get().signed_by == terry

    def test_requires_login(self, client, course_a):
        response = client.get(reverse("care:note_create", args=[preparation(course_a).pk]))
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")

    def test_other_clinic_gets_404(self, as_user, carol, course_a):
        url = reverse("care:note_create", args=[preparation(course_a).pk])
        for response in (as_user(carol).get(url), as_user(carol).post(url, form_data())):
            assert response.status_code == 404 and b"Zzyzxfield" not in response.content
        assert TherapyNote.objects.count() == 0

    def test_wrong_role_gets_403(self, as_user, nina, bob, course_a):
        url = reverse("care:note_create", args=[preparation(course_a).pk])
        for user in (nina, bob):
            response = as_user(user).post(url, form_data())
            assert response.status_code == 403 and b"Zzyzxfield" not in response.content
        assert TherapyNote.objects.count() == 0

    def test_bad_input_keeps_input_and_writes_nothing(self, as_user, terry, course_a):
        url = reverse("care:note_create", args=[preparation(course_a).pk])
        response = as_user(terry).post(url, form_data(plan="z" * 10_001))
        assert response.status_code == 400
        assert SECRET.encode() in response.content and b"text_too_long" in response.content
        empty = as_user(terry).post(url, {"intentions": " ", "themes": "", "insights": "", "plan": ""})
        assert empty.status_code == 400 and b"note_empty" in empty.content
        assert TherapyNote.objects.count() == 0

    def test_dosing_session_is_refused(self, as_user, terry, course_a):
        url = reverse("care:note_create", args=[first_dosing(course_a).pk])
        assert as_user(terry).get(url).status_code == 302
        response = as_user(terry).post(url, form_data())
        assert response.status_code == 400 and b"notes_not_for_dosing" in response.content
        assert TherapyNote.objects.count() == 0


class TestNoteViews:
    def test_detail_works_for_clinicians_and_admins_and_is_audited(self, as_user, terry, nina, adam, draft):
        for user in (terry, nina, adam):
            response = as_user(user).get(reverse("care:note", args=[draft.pk]))
            assert response.status_code == 200 and SECRET.encode() in response.content
        assert audit_count(action="read", object_type="therapy_note", object_id=str(draft.pk)) == 3

    def test_detail_requires_login(self, client, draft):
        response = client.get(reverse("care:note", args=[draft.pk]))
        assert response.status_code == 302 and SECRET.encode() not in response.content

    def test_other_clinic_gets_404_without_phi(self, as_user, carol, signed):
        client = as_user(carol)
        for name in ("note", "note_edit"):
            response = client.get(reverse(f"care:{name}", args=[signed.pk]))
            assert response.status_code == 404, name
            assert SECRET.encode() not in response.content and b"Zzyzxfield" not in response.content
        for name, data in (("note_sign", {}), ("note_addendum", {"text": "x"}), ("note_edit", form_data())):
            assert client.post(reverse(f"care:{name}", args=[signed.pk]), data).status_code == 404, name
        assert NoteAddendum.objects.count() == 0

    def test_researcher_gets_403_without_phi(self, as_user, bob, draft):
        for name in ("note", "note_edit"):
            response = as_user(bob).get(reverse(f"care:{name}", args=[draft.pk]))
            assert response.status_code == 403
            assert SECRET.encode() not in response.content and b"Zzyzxfield" not in response.content

    def test_edit_works_for_the_author(self, as_user, terry, draft):
        client = as_user(terry)
        assert client.get(reverse("care:note_edit", args=[draft.pk])).status_code == 200
        response = client.post(
            reverse("care:note_edit", args=[draft.pk]), form_data(insights="Settled", action="draft")
        )
        assert response.status_code == 302
        draft.refresh_from_db()
        assert draft.insights == "Settled" and not draft.is_signed

    def test_someone_elses_draft_is_403(self, as_user, alice, draft):
        client = as_user(alice)
        assert client.get(reverse("care:note_edit", args=[draft.pk])).status_code == 403
        assert client.post(reverse("care:note_edit", args=[draft.pk]), form_data(plan="x")).status_code == 403
        assert client.post(reverse("care:note_sign", args=[draft.pk])).status_code == 403
        draft.refresh_from_db()
        assert draft.plan == TEXT["plan"] and not draft.is_signed
        assert audit_count(action="denied", actor=alice) == 3

    def test_nurse_may_read_but_not_edit(self, as_user, nina, draft):
        client = as_user(nina)
        page = client.get(reverse("care:note", args=[draft.pk])).content
        assert b"Edit draft" not in page and b"Sign and lock" not in page
        assert client.get(reverse("care:note_edit", args=[draft.pk])).status_code == 403
        assert client.post(reverse("care:note_sign", args=[draft.pk])).status_code == 403

    def test_edit_bad_input_keeps_input_and_writes_nothing(self, as_user, terry, draft):
        response = as_user(terry).post(
            reverse("care:note_edit", args=[draft.pk]), form_data(intentions="Kept words", plan="p" * 10_001)
        )
        assert response.status_code == 400 and b"Kept words" in response.content
        draft.refresh_from_db()
        assert draft.intentions == TEXT["intentions"]

    def test_signed_note_cannot_be_edited(self, as_user, terry, signed):
        client = as_user(terry)
        assert client.get(reverse("care:note_edit", args=[signed.pk])).status_code == 302
        response = client.post(reverse("care:note_edit", args=[signed.pk]), form_data(plan="new plan"))
        assert response.status_code == 400 and b"note_locked" in response.content
        signed.refresh_from_db()
        assert signed.plan == TEXT["plan"]

    def test_draft_sign_addendum_flow(self, as_user, terry, alice, course_a):
        client = as_user(terry)
        client.post(reverse("care:note_create", args=[preparation(course_a).pk]), form_data(action="draft"))
        note = TherapyNote.objects.get()
        page = client.get(reverse("care:note", args=[note.pk])).content
        assert b"Sign and lock" in page and b"Add addendum" not in page
        assert client.post(reverse("care:note_sign", args=[note.pk])).status_code == 302
        note.refresh_from_db()
        assert note.is_signed
        again = client.post(reverse("care:note_sign", args=[note.pk]), follow=True)
        assert b"already_signed" in again.content
        response = as_user(alice).post(
            reverse("care:note_addendum", args=[note.pk]), {"text": "Later: sleeping better."}
        )
        assert response.status_code == 302
        page = client.get(reverse("care:note", args=[note.pk])).content
        assert (
            b"Later: sleeping better." in page and b"Signed and locked" in page and b"Edit draft" not in page
        )

    def test_addendum_bad_input_keeps_input_and_writes_nothing(self, as_user, terry, signed):
        client = as_user(terry)
        blank = client.post(reverse("care:note_addendum", args=[signed.pk]), {"text": ""})
        assert blank.status_code == 400 and b"required" in blank.content
        long = client.post(
            reverse("care:note_addendum", args=[signed.pk]), {"text": "Keep me " + "w" * 10_000}
        )
        assert long.status_code == 400 and b"Keep me " in long.content
        assert NoteAddendum.objects.count() == 0

    def test_addendum_on_a_draft_is_refused(self, as_user, terry, draft):
        response = as_user(terry).post(reverse("care:note_addendum", args=[draft.pk]), {"text": "early"})
        assert response.status_code == 400 and b"note_not_signed" in response.content
        assert NoteAddendum.objects.count() == 0

    def test_addendum_requires_login_and_writer_role(self, client, as_user, nina, signed):
        assert client.post(reverse("care:note_addendum", args=[signed.pk]), {"text": "x"}).status_code == 302
        assert (
            as_user(nina).post(reverse("care:note_addendum", args=[signed.pk]), {"text": "x"}).status_code
            == 403
        )
        assert NoteAddendum.objects.count() == 0
