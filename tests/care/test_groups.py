"""Group sessions: one clinic, several patients, attendance per patient, group and per-patient notes."""

from __future__ import annotations

import random
import re
from datetime import time

import pytest
from django.http import Http404
from django.urls import reverse

from kapstone.audit.models import AuditEvent
from kapstone.care.models import CareSession, GroupAttendance, GroupSession, SessionEvent, TherapyNote
from kapstone.care.notes import (
    group_attendance_record,
    group_list_for_user,
    group_note_create,
    group_patient_add,
    group_session_create,
    note_sign,
    note_update,
)
from kapstone.care.notes_demo import seed_notes_and_groups
from kapstone.care.services import session_transition
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.patients.services import clinic_today
from tests.care.conftest import days
from tests.conftest import audit_count, new_patient

pytestmark = pytest.mark.django_db

SECRET = "Brambleglint group insight"


def rows() -> tuple[int, int, int, int, int]:
    return (
        GroupSession.objects.count(),
        GroupAttendance.objects.count(),
        TherapyNote.objects.count(),
        SessionEvent.objects.count(),
        AuditEvent.objects.count(),
    )


def refused(exc_type, call, code: str, message_part: str):
    before = rows()
    with pytest.raises(exc_type) as error:
        call()
    assert error.value.code == code
    assert message_part in error.value.message
    assert rows() == before
    return error.value


def integration(course, n: int = 0) -> CareSession:
    return course.sessions.filter(kind="integration").order_by("order")[n]


@pytest.fixture
def today(clinic_a):
    return clinic_today(clinic_a)


@pytest.fixture
def patient_a2(alice, clinic_a):
    return new_patient(alice, clinic_a, mrn="A-1002", given_name="Blair", family_name="Quimbleton")


@pytest.fixture
def group(terry, today):
    return group_session_create(
        actor=terry,
        title="Tuesday integration circle",
        scheduled_date=today,
        start_time=time(17, 30),
        room="Group room",
    )


@pytest.fixture
def member(terry, group, patient_a, course_a):
    group_patient_add(actor=terry, group_session=group, patient_id=patient_a.pk)
    return patient_a


class TestCreate:
    def test_creates_with_the_creator_as_facilitator_and_audits(self, terry, clinic_a, today):
        group = group_session_create(
            actor=terry,
            kind="preparation",
            title="Preparation circle",
            scheduled_date=today,
            duration_min=120,
            room="Room 4",
        )
        assert (group.clinic, group.facilitator, group.created_by, group.kind) == (
            clinic_a,
            terry,
            terry,
            "preparation",
        )
        assert group.status == "scheduled"
        event = AuditEvent.objects.get(action="create", object_type="group_session")
        assert (event.object_id, event.clinic_id) == (str(group.pk), clinic_a.pk)

    @pytest.mark.parametrize(
        ("changes", "code", "message"),
        [
            ({"kind": "dosing"}, "invalid_group_kind", "integration or a preparation session"),
            ({"title": "  "}, "title_required", "Give the group a title"),
            ({"title": "t" * 201}, "text_too_long", "longer than 200 characters"),
            ({"room": "r" * 61}, "text_too_long", "longer than 60 characters"),
            ({"duration_min": 14}, "duration_out_of_range", "15 to 480 minutes"),
            ({"duration_min": 481}, "duration_out_of_range", "15 to 480 minutes"),
            ({"scheduled_date": "far"}, "date_out_of_range", "within a year"),
        ],
    )
    def test_refusals(self, terry, today, changes, code, message):
        if changes.get("scheduled_date") == "far":
            changes = {"scheduled_date": today + days(367)}
        fields = {"title": "Circle", "scheduled_date": today} | changes
        refused(DomainError, lambda: group_session_create(actor=terry, **fields), code, message)

    def test_other_clinic_and_non_writers_get_not_found(self, carol, nina, clinic_a, today):
        for actor in (carol, nina):
            before = rows()
            with pytest.raises(Http404):
                group_session_create(actor=actor, clinic_id=clinic_a.pk, title="Circle", scheduled_date=today)
            assert rows() == before


class TestMembersAndAttendance:
    def test_adds_a_patient_as_expected(self, terry, group, patient_a):
        row = group_patient_add(actor=terry, group_session=group, patient_id=patient_a.pk)
        assert (row.patient, row.status, row.recorded_by) == (patient_a, "expected", terry)
        assert audit_count(action="create", object_type="group_attendance", patient_id=patient_a.pk) == 1

    def test_patient_of_another_clinic_is_not_found_and_nothing_written(self, terry, group, patient_b):
        # Nothing clinical is written; the attempt on another clinic's patient (not the missing
        # id) is recorded as denied for the privacy officer.
        for patient_id, denied in ((patient_b.pk, 1), (patient_b.pk + 1000, 0)):
            before = rows()
            with pytest.raises(Http404):
                group_patient_add(actor=terry, group_session=group, patient_id=patient_id)
            assert rows()[:4] == before[:4]
            assert rows()[4] == before[4] + denied
            assert audit_count(action="denied", object_type="patient", object_id=str(patient_b.pk)) == 1

    def test_patient_twice_is_refused(self, terry, group, member):
        error = refused(
            DomainError,
            lambda: group_patient_add(actor=terry, group_session=group, patient_id=member.pk),
            "already_in_group",
            "already in the group",
        )
        assert error.field == "patient_id"

    def test_links_the_patients_scheduled_session_of_that_day(self, terry, patient_a, course_a):
        session = integration(course_a)
        group = group_session_create(
            actor=terry,
            title="Circle",
            scheduled_date=session.scheduled_date,
            start_time=time(18, 0),
            room="Group room",
        )
        row = group_patient_add(actor=terry, group_session=group, patient_id=patient_a.pk)
        session.refresh_from_db()
        assert row.linked_session == session
        assert (session.group_session, session.start_time, session.room) == (group, time(18, 0), "Group room")
        event = SessionEvent.objects.get(session=session, kind="group_linked")
        assert event.detail == {"group_session": group.pk, "filled": ["start_time", "room"]}
        assert audit_count(action="update", object_type="session", object_id=str(session.pk)) == 1

    def test_does_not_link_a_session_that_is_no_longer_scheduled(self, terry, nina, patient_a, course_a):
        session = integration(course_a)
        session_transition(actor=nina, session=session, to="cancelled", reason="patient away")
        group = group_session_create(actor=terry, title="Circle", scheduled_date=session.scheduled_date)
        assert (
            group_patient_add(actor=terry, group_session=group, patient_id=patient_a.pk).linked_session
            is None
        )
        session.refresh_from_db()
        assert session.group_session is None

    def test_does_not_link_on_another_day_or_another_kind(self, terry, patient_a, course_a):
        session = integration(course_a)
        other_day = group_session_create(
            actor=terry, title="A", scheduled_date=session.scheduled_date + days(1)
        )
        other_kind = group_session_create(
            actor=terry, title="B", kind="preparation", scheduled_date=session.scheduled_date
        )
        for group in (other_day, other_kind):
            assert (
                group_patient_add(actor=terry, group_session=group, patient_id=patient_a.pk).linked_session
                is None
            )

    def test_records_attendance_and_audits_each_change(self, terry, group, member, patient_a2):
        group_patient_add(actor=terry, group_session=group, patient_id=patient_a2.pk)
        changed = group_attendance_record(
            actor=terry, group_session=group, statuses={member.pk: "attended", patient_a2.pk: "expected"}
        )
        assert [r.patient_id for r in changed] == [member.pk]
        assert GroupAttendance.objects.get(patient=member).status == "attended"
        event = AuditEvent.objects.get(action="update", object_type="group_attendance")
        assert (event.patient_id, event.detail) == (
            member.pk,
            {"group_session": group.pk, "from": "expected", "to": "attended"},
        )

    def test_attendance_refusals(self, terry, group, member, patient_a2, today):
        refused(
            DomainError,
            lambda: group_attendance_record(
                actor=terry, group_session=group, statuses={patient_a2.pk: "attended"}
            ),
            "not_in_group",
            "not in the group",
        )
        refused(
            DomainError,
            lambda: group_attendance_record(actor=terry, group_session=group, statuses={member.pk: "late"}),
            "invalid_attendance_status",
            "expected, attended, absent, excused",
        )
        later = group_session_create(actor=terry, title="Later", scheduled_date=today + days(3))
        group_patient_add(actor=terry, group_session=later, patient_id=member.pk)
        refused(
            DomainError,
            lambda: group_attendance_record(
                actor=terry, group_session=later, statuses={member.pk: "attended"}
            ),
            "group_not_yet_held",
            "has not met yet",
        )
        assert group_attendance_record(actor=terry, group_session=later, statuses={member.pk: "excused"})

    def test_other_clinic_cannot_record_attendance(self, carol, group, member):
        before = rows()
        with pytest.raises(Http404):
            group_attendance_record(actor=carol, group_session=group, statuses={member.pk: "absent"})
        assert rows() == before


class TestGroupNotes:
    def test_group_note_and_per_patient_note(self, terry, group, member):
        group_note = group_note_create(actor=terry, group_session=group, insights=SECRET)
        assert (group_note.group_session, group_note.patient, group_note.session) == (group, None, None)
        own = group_note_create(
            actor=terry, group_session=group, patient_id=member.pk, plan="Keep journaling"
        )
        assert (own.group_session, own.patient) == (group, member)
        event = AuditEvent.objects.get(action="create", object_type="therapy_note", object_id=str(own.pk))
        assert event.patient_id == member.pk and event.detail["target"] == "group_patient"
        assert "Brambleglint" not in str(list(AuditEvent.objects.values_list("detail", flat=True)))

    def test_per_patient_note_needs_the_patient_in_the_group(self, terry, group, patient_a2, patient_b):
        for patient_id in (patient_a2.pk, patient_b.pk):
            error = refused(
                DomainError,
                lambda pid=patient_id: group_note_create(
                    actor=terry, group_session=group, patient_id=pid, plan="x"
                ),
                "not_in_group",
                "not in the group",
            )
            assert error.field == "patient"

    def test_per_patient_note_is_tied_to_the_linked_session(self, terry, patient_a, course_a):
        session = integration(course_a)
        group = group_session_create(actor=terry, title="Circle", scheduled_date=session.scheduled_date)
        group_patient_add(actor=terry, group_session=group, patient_id=patient_a.pk)
        note = group_note_create(actor=terry, group_session=group, patient_id=patient_a.pk, plan="x")
        assert note.session == session

    def test_one_note_per_author_and_target(self, terry, alice, group, member):
        group_note_create(actor=terry, group_session=group, plan="group")
        group_note_create(actor=terry, group_session=group, patient_id=member.pk, plan="member")
        refused(
            WorkflowConflict,
            lambda: group_note_create(actor=terry, group_session=group, plan="again"),
            "note_exists",
            "already have this note for the group",
        )
        refused(
            WorkflowConflict,
            lambda: group_note_create(actor=terry, group_session=group, patient_id=member.pk, plan="again"),
            "note_exists",
            "already have this note",
        )
        assert group_note_create(actor=alice, group_session=group, plan="co-facilitator").author == alice

    def test_same_draft_sign_lock_rules(self, terry, group):
        note = group_note_create(actor=terry, group_session=group, plan="draft", sign=True)
        assert note.is_signed
        refused(
            WorkflowConflict,
            lambda: note_update(actor=terry, note=note, plan="edit"),
            "note_locked",
            "locked",
        )
        refused(
            WorkflowConflict, lambda: note_sign(actor=terry, note=note), "already_signed", "already signed"
        )

    def test_other_clinic_cannot_write_group_notes(self, carol, group):
        before = rows()
        with pytest.raises(Http404):
            group_note_create(actor=carol, group_session=group, plan="x")
        assert rows() == before


class TestList:
    def test_upcoming_and_recent_of_own_clinics_only(self, terry, carol, today):
        past = group_session_create(actor=terry, title="Past", scheduled_date=today - days(3))
        soon = group_session_create(actor=terry, title="Soon", scheduled_date=today + days(2))
        now = group_session_create(actor=terry, title="Now", scheduled_date=today)
        group_session_create(actor=terry, title="Long ago", scheduled_date=today - days(90))
        upcoming, recent = group_list_for_user(user=terry, today=today)
        assert [r.group for r in upcoming] == [now, soon] and [r.group for r in recent] == [past]
        assert group_list_for_user(user=carol, today=today) == ([], [])
        assert audit_count(action="read", object_type="group_list", actor=terry) == 1


class TestListAndCreateViews:
    def test_list_works(self, as_user, terry, nina, group):
        for user in (terry, nina):
            response = as_user(user).get(reverse("care:groups"))
            assert response.status_code == 200 and b"Tuesday integration circle" in response.content
        assert b"New group" in as_user(terry).get(reverse("care:groups")).content
        assert b"New group" not in as_user(nina).get(reverse("care:groups")).content

    def test_list_requires_login_and_hides_other_clinics(self, client, as_user, carol, bob, group):
        assert client.get(reverse("care:groups")).status_code == 302
        assert b"Tuesday integration circle" not in as_user(carol).get(reverse("care:groups")).content
        assert as_user(bob).get(reverse("care:groups")).status_code == 403

    def test_nav_shows_groups_to_clinical_roles_only(self, as_user, terry, nina, adam, bob):
        for user, shown in ((terry, True), (nina, True), (adam, False), (bob, False)):
            body = as_user(user).get(reverse("care:protocols")).content
            assert (b'href="/groups/"' in body) is shown, user.username

    def test_create_works(self, as_user, terry, today):
        client = as_user(terry)
        assert client.get(reverse("care:group_create")).status_code == 200
        response = client.post(
            reverse("care:group_create"),
            {
                "kind": "integration",
                "title": "Thursday circle",
                "scheduled_date": today.isoformat(),
                "start_time": "17:30",
                "duration_min": "90",
                "room": "Group room",
            },
        )
        group = GroupSession.objects.get()
        assert response.status_code == 302 and response["Location"] == reverse("care:group", args=[group.pk])
        assert (group.facilitator, group.title, group.start_time) == (terry, "Thursday circle", time(17, 30))

    def test_create_requires_login_and_role(self, client, as_user, nina, bob):
        assert client.post(reverse("care:group_create"), {"title": "x"}).status_code == 302
        for user in (nina, bob):
            assert as_user(user).post(reverse("care:group_create"), {"title": "x"}).status_code == 403
        assert GroupSession.objects.count() == 0

    def test_create_bad_input_keeps_input_and_writes_nothing(self, as_user, terry, today):
        data = {
            "kind": "integration",
            "title": "Kept title",
            "scheduled_date": (today + days(400)).isoformat(),
            "duration_min": "90",
            "room": "Kept room",
        }
        response = as_user(terry).post(reverse("care:group_create"), data)
        assert response.status_code == 400 and b"date_out_of_range" in response.content
        assert b'value="Kept title"' in response.content and b'value="Kept room"' in response.content
        short = as_user(terry).post(
            reverse("care:group_create"), data | {"duration_min": "5", "scheduled_date": today.isoformat()}
        )
        assert short.status_code == 400 and b'value="Kept title"' in short.content
        assert GroupSession.objects.count() == 0


class TestDetailViews:
    def test_detail_works_and_is_audited(self, as_user, terry, nina, group, member):
        page = as_user(terry).get(reverse("care:group", args=[group.pk]))
        assert page.status_code == 200 and b"Zzyzxfield" in page.content and b'type="radio"' in page.content
        assert (
            audit_count(action="read", object_type="group_session", object_id=str(group.pk), actor=terry) == 1
        )
        read_only = as_user(nina).get(reverse("care:group", args=[group.pk])).content
        assert (
            b"Zzyzxfield" in read_only
            and b'type="radio"' not in read_only
            and b"Add a patient" not in read_only
        )

    def test_detail_requires_login(self, client, group, member):
        response = client.get(reverse("care:group", args=[group.pk]))
        assert response.status_code == 302 and b"Zzyzxfield" not in response.content

    def test_other_clinic_gets_404_without_phi(self, as_user, carol, group, member, terry):
        group_note_create(actor=terry, group_session=group, insights=SECRET)
        client = as_user(carol)
        for url in (
            reverse("care:group", args=[group.pk]),
            reverse("care:group_note_create", args=[group.pk]),
            reverse("care:group_patient_note_create", args=[group.pk, member.pk]),
        ):
            response = client.get(url)
            assert response.status_code == 404, url
            assert b"Zzyzxfield" not in response.content and SECRET.encode() not in response.content
        before = rows()
        assert (
            client.post(
                reverse("care:group_add_patient", args=[group.pk]), {"patient_id": member.pk}
            ).status_code
            == 404
        )
        assert (
            client.post(
                reverse("care:group_attendance", args=[group.pk]), {f"status_{member.pk}": "absent"}
            ).status_code
            == 404
        )
        assert rows()[:4] == before[:4]

    def test_researcher_gets_403(self, as_user, bob, group, member):
        response = as_user(bob).get(reverse("care:group", args=[group.pk]))
        assert response.status_code == 403 and b"Zzyzxfield" not in response.content

    def test_add_patient_works(self, as_user, terry, group, patient_a, course_a):
        page = as_user(terry).get(reverse("care:group", args=[group.pk])).content
        assert f'value="{patient_a.pk}"'.encode() in page  # offered: an open course in this clinic
        response = as_user(terry).post(
            reverse("care:group_add_patient", args=[group.pk]), {"patient_id": patient_a.pk}
        )
        assert response.status_code == 302
        assert GroupAttendance.objects.filter(group_session=group, patient=patient_a).count() == 1

    def test_add_patient_of_another_clinic_is_404_and_writes_nothing(self, as_user, terry, group, patient_b):
        response = as_user(terry).post(
            reverse("care:group_add_patient", args=[group.pk]), {"patient_id": patient_b.pk}
        )
        assert response.status_code == 404 and b"Qorvanhollow" not in response.content
        assert GroupAttendance.objects.count() == 0

    def test_add_patient_bad_input(self, as_user, terry, group, member):
        twice = as_user(terry).post(
            reverse("care:group_add_patient", args=[group.pk]), {"patient_id": member.pk}
        )
        assert twice.status_code == 400 and b"already_in_group" in twice.content
        junk = as_user(terry).post(reverse("care:group_add_patient", args=[group.pk]), {"patient_id": "abc"})
        assert junk.status_code == 400
        assert GroupAttendance.objects.count() == 1

    def test_add_patient_wrong_role(self, as_user, nina, group, patient_a):
        response = as_user(nina).post(
            reverse("care:group_add_patient", args=[group.pk]), {"patient_id": patient_a.pk}
        )
        assert response.status_code == 403 and GroupAttendance.objects.count() == 0

    def test_attendance_works(self, as_user, terry, group, member, patient_a2):
        group_patient_add(actor=terry, group_session=group, patient_id=patient_a2.pk)
        response = as_user(terry).post(
            reverse("care:group_attendance", args=[group.pk]),
            {f"status_{member.pk}": "attended", f"status_{patient_a2.pk}": "excused"},
        )
        assert response.status_code == 302
        assert dict(GroupAttendance.objects.values_list("patient_id", "status")) == {
            member.pk: "attended",
            patient_a2.pk: "excused",
        }

    def test_attendance_bad_input_keeps_input_and_writes_nothing(
        self, as_user, terry, group, member, patient_a2
    ):
        group_patient_add(actor=terry, group_session=group, patient_id=patient_a2.pk)
        response = as_user(terry).post(
            reverse("care:group_attendance", args=[group.pk]),
            {f"status_{member.pk}": "attended", f"status_{patient_a2.pk}": "late"},
        )
        assert response.status_code == 400 and b"invalid_choice" not in response.content
        assert b"Select a valid choice" in response.content
        kept = re.search(
            rf'<input type="radio" name="status_{member.pk}" value="attended"[^>]*>'.encode(),
            response.content,
        )
        assert kept and b" checked" in kept.group(0)
        assert set(GroupAttendance.objects.values_list("status", flat=True)) == {"expected"}

    def test_attendance_for_a_future_group_is_refused(self, as_user, terry, member, today):
        later = group_session_create(actor=terry, title="Later", scheduled_date=today + days(3))
        group_patient_add(actor=terry, group_session=later, patient_id=member.pk)
        response = as_user(terry).post(
            reverse("care:group_attendance", args=[later.pk]), {f"status_{member.pk}": "absent"}
        )
        assert response.status_code == 400 and b"group_not_yet_held" in response.content
        assert GroupAttendance.objects.get(group_session=later).status == "expected"

    def test_attendance_wrong_role_and_login(self, client, as_user, nina, group, member):
        data = {f"status_{member.pk}": "absent"}
        assert client.post(reverse("care:group_attendance", args=[group.pk]), data).status_code == 302
        assert as_user(nina).post(reverse("care:group_attendance", args=[group.pk]), data).status_code == 403
        assert GroupAttendance.objects.get().status == "expected"

    def test_group_note_pages(self, as_user, terry, nina, group, member):
        client = as_user(terry)
        assert client.get(reverse("care:group_note_create", args=[group.pk])).status_code == 200
        client.post(
            reverse("care:group_note_create", args=[group.pk]), {"insights": SECRET, "action": "sign"}
        )
        client.post(
            reverse("care:group_patient_note_create", args=[group.pk, member.pk]), {"plan": "Journal"}
        )
        group_note = TherapyNote.objects.get(patient__isnull=True)
        patient_note = TherapyNote.objects.get(patient=member)
        assert group_note.is_signed and not patient_note.is_signed and patient_note.group_session == group
        page = as_user(nina).get(reverse("care:group", args=[group.pk])).content
        assert reverse("care:note", args=[group_note.pk]).encode() in page
        assert reverse("care:note", args=[patient_note.pk]).encode() in page
        assert (
            SECRET.encode() not in page
        )  # the list shows who and state; the text is one click (and one read) away
        assert as_user(nina).get(reverse("care:group_note_create", args=[group.pk])).status_code == 403

    def test_group_note_bad_input_keeps_input(self, as_user, terry, group):
        response = as_user(terry).post(
            reverse("care:group_note_create", args=[group.pk]), {"intentions": "Kept", "plan": "p" * 10_001}
        )
        assert response.status_code == 400 and b"Kept" in response.content
        assert TherapyNote.objects.count() == 0

    def test_per_patient_note_for_someone_not_in_the_group_is_404(
        self, as_user, terry, group, patient_a2, patient_b
    ):
        for patient in (patient_a2, patient_b):
            url = reverse("care:group_patient_note_create", args=[group.pk, patient.pk])
            assert as_user(terry).get(url).status_code == 404
            assert as_user(terry).post(url, {"plan": "x"}).status_code == 404
        assert TherapyNote.objects.count() == 0


class TestDemo:
    def test_seeds_notes_and_groups_idempotently(self, terry, nina, clinic_a, patient_a, course_a, today):
        for session in course_a.sessions.filter(kind="preparation"):
            for to in ("checked_in", "in_progress", "discharged"):
                session = session_transition(actor=nina, session=session, to=to)

        def seed():
            seed_notes_and_groups(
                clinic=clinic_a,
                therapist=terry,
                patients_with_courses=[(patient_a, course_a)],
                rng=random.Random(7),
                today=today,
            )

        seed()
        first = rows()
        assert TherapyNote.objects.filter(session__kind="preparation", author=terry).count() == 1
        groups = list(GroupSession.objects.order_by("scheduled_date"))
        assert [g.scheduled_date < today for g in groups] == [True, False]
        past, upcoming = groups
        assert GroupAttendance.objects.get(group_session=past).status == "attended"
        assert (
            TherapyNote.objects.filter(
                group_session=past, patient__isnull=True, signed_at__isnull=False
            ).count()
            == 1
        )
        # The upcoming group meets on the day of the patient's next integration session, which it links.
        assert CareSession.objects.get(group_session=upcoming).patient == patient_a
        seed()
        assert rows()[:4] == first[:4]
