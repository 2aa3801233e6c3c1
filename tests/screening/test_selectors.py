"""Scoped, audited reads of screenings, and the enrolment gate the care app relies on."""

from __future__ import annotations

import pytest
from django.http import Http404

from kapstone.audit.models import AuditEvent
from kapstone.domain.errors import WorkflowConflict
from kapstone.screening import selectors, services
from kapstone.screening.access import SCREENING_SIGN_OFF
from tests.conftest import audit_count
from tests.screening.conftest import screen

pytestmark = pytest.mark.django_db


class TestList:
    def test_newest_first_with_history_and_a_read_event(self, nina, terry, patient_a):
        first = screen(nina, patient_a, "deferred")
        second = screen(nina, patient_a, "needs_review")
        third = screen(nina, patient_a, "eligible")
        history = selectors.screening_list_for_user(user=terry, patient_id=patient_a.pk)
        assert history.patient == patient_a
        assert history.current == third
        assert history.earlier == [second, first]
        event = AuditEvent.objects.filter(object_type="screening_list").last()
        assert (event.action, event.actor, event.patient_id, event.clinic_id) == (
            "read",
            terry,
            patient_a.pk,
            patient_a.clinic_id,
        )
        assert event.detail == {"returned": 3}

    def test_an_unscreened_patient_has_no_current(self, nina, patient_a):
        history = selectors.screening_list_for_user(user=nina, patient_id=patient_a.pk)
        assert history.current is None and history.earlier == []

    def test_other_clinic_and_missing_are_the_same_404(self, carol, nina, patient_a):
        screen(nina, patient_a)
        with pytest.raises(Http404) as theirs:
            selectors.screening_list_for_user(user=carol, patient_id=patient_a.pk)
        with pytest.raises(Http404) as missing:
            selectors.screening_list_for_user(user=carol, patient_id=987_654)
        assert str(theirs.value) == str(missing.value)
        assert "Zzyzxfield" not in str(theirs.value)
        assert audit_count(action="denied", object_type="patient", patient_id=patient_a.pk, actor=carol) == 1
        assert audit_count(action="read", object_type="screening_list", actor=carol) == 0

    def test_researcher_sees_nothing(self, bob, nina, patient_a):
        screen(nina, patient_a)
        with pytest.raises(Http404):
            selectors.screening_list_for_user(user=bob, patient_id=patient_a.pk)

    def test_admin_may_read(self, adam, nina, patient_a):
        screening = screen(nina, patient_a)
        assert selectors.screening_list_for_user(user=adam, patient_id=patient_a.pk).current == screening


class TestGet:
    def test_it_returns_and_audits_the_read(self, nina, terry, patient_a):
        screening = screen(nina, patient_a)
        assert selectors.screening_get_for_user(user=terry, screening_id=screening.pk) == screening
        event = AuditEvent.objects.filter(object_type="screening", action="read").last()
        assert (event.actor, event.object_id, event.patient_id, event.clinic_id) == (
            terry,
            str(screening.pk),
            patient_a.pk,
            patient_a.clinic_id,
        )

    def test_other_clinic_and_missing_are_the_same_404_and_the_attempt_is_audited(
        self, carol, nina, patient_a
    ):
        screening = screen(nina, patient_a)
        with pytest.raises(Http404) as theirs:
            selectors.screening_get_for_user(user=carol, screening_id=screening.pk)
        with pytest.raises(Http404) as missing:
            selectors.screening_get_for_user(user=carol, screening_id=987_654)
        assert str(theirs.value) == str(missing.value)
        denied = AuditEvent.objects.get(action="denied", object_type="screening", actor=carol)
        assert denied.object_id == str(screening.pk) and denied.patient_id == patient_a.pk
        assert denied.outcome == "denied"
        assert audit_count(action="read", object_type="screening", actor=carol) == 0

    def test_roles_narrow_the_scope(self, alice, nina, patient_a):
        screening = screen(nina, patient_a)
        with pytest.raises(Http404):
            selectors.screening_get_for_user(user=nina, screening_id=screening.pk, roles=SCREENING_SIGN_OFF)
        assert selectors.screening_get_for_user(
            user=alice, screening_id=screening.pk, roles=SCREENING_SIGN_OFF
        )


class TestCurrent:
    def test_latest_wins_and_it_does_not_audit(self, nina, patient_a, patient_b, carol):
        screen(nina, patient_a, "deferred")
        latest = screen(nina, patient_a, "eligible")
        screen(carol, patient_b, "ineligible")
        events = AuditEvent.objects.count()
        assert selectors.screening_current(patient_a) == latest
        assert AuditEvent.objects.count() == events

    def test_none_when_unscreened(self, patient_a):
        assert selectors.screening_current(patient_a) is None

    def test_one_query_including_the_sign_off(self, alice, nina, patient_a, django_assert_num_queries):
        screening = screen(nina, patient_a, "needs_review")
        services.screening_sign_off(actor=alice, screening=screening, approve=True, reason="Reviewed.")
        with django_assert_num_queries(1):
            current = selectors.screening_current(patient_a)
            assert current.sign_off.signed_by == alice and current.entered_by == nina


# (decision, sign-off: None | True (approved) | False (declined), cleared?, words in the refusal)
ENROLMENT_CASES = [
    ("eligible", None, True, None),
    ("eligible", True, True, None),
    ("eligible", False, False, "declined"),
    ("needs_review", None, False, "not been approved"),
    ("needs_review", True, True, None),
    ("needs_review", False, False, "declined"),
    ("deferred", None, False, "deferred"),
    ("deferred", False, False, "deferred"),
    ("ineligible", None, False, "ineligible"),
    ("ineligible", False, False, "ineligible"),
]


class TestEnrolmentCheck:
    @pytest.mark.parametrize(("decision", "approve", "cleared", "words"), ENROLMENT_CASES)
    def test_every_decision_and_sign_off(self, alice, nina, patient_a, decision, approve, cleared, words):
        screening = screen(nina, patient_a, decision)
        if approve is not None:
            services.screening_sign_off(actor=alice, screening=screening, approve=approve, reason="Reviewed.")
        events = AuditEvent.objects.count()
        if cleared:
            assert selectors.screening_enrolment_check(patient_a) is None
        else:
            with pytest.raises(WorkflowConflict) as refused:
                selectors.screening_enrolment_check(patient_a)
            assert refused.value.code == "screening_not_approved"
            assert words in refused.value.message
            assert refused.value.message.startswith("Cannot enrol: ")
        assert selectors.screening_is_approved(selectors.screening_current(patient_a)) is cleared
        assert AuditEvent.objects.count() == events  # the caller's write is what gets audited

    def test_no_screening(self, patient_a):
        with pytest.raises(WorkflowConflict) as refused:
            selectors.screening_enrolment_check(patient_a)
        assert refused.value.code == "screening_not_approved"
        assert "no eligibility screening" in refused.value.message

    def test_only_the_current_screening_counts(self, alice, nina, patient_a):
        approved = screen(nina, patient_a, "needs_review")
        services.screening_sign_off(actor=alice, screening=approved, approve=True, reason="Reviewed.")
        selectors.screening_enrolment_check(patient_a)
        screen(nina, patient_a, "deferred")  # a later screening supersedes the approved one
        with pytest.raises(WorkflowConflict) as refused:
            selectors.screening_enrolment_check(patient_a)
        assert "deferred" in refused.value.message
        screen(nina, patient_a, "eligible")
        selectors.screening_enrolment_check(patient_a)

    def test_the_message_names_no_patient(self, nina, patient_a):
        screen(nina, patient_a, "ineligible")
        with pytest.raises(WorkflowConflict) as refused:
            selectors.screening_enrolment_check(patient_a)
        assert "Zzyzxfield" not in refused.value.message and "A-1001" not in refused.value.message
