"""Adverse event writes and the dependence watch: every refusal, audit rows, the close rule and
the review flags from a hand-built dose history."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.utils import timezone

from kapstone.audit.models import AuditEvent
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.outcomes.models import ToxicologyTest
from kapstone.safety import selectors, services
from kapstone.safety.models import AdverseEvent, AdverseEventUpdate
from tests.care.conftest import first_dosing
from tests.safety.conftest import give_doses, report_fields, row_counts, serious_fields

pytestmark = pytest.mark.django_db


# --- Report -----------------------------------------------------------------------------------


def test_report_stores_the_event_and_an_audit_row_without_free_text(nina, patient_a):
    event = services.adverse_event_report(
        actor=nina, patient=patient_a, **report_fields(term="other", term_text="Metallic taste")
    )
    assert (
        event.status == "open"
        and event.term_text == "Metallic taste"
        and event.clinic_id == patient_a.clinic_id
    )
    audit = AuditEvent.objects.get(object_type="adverse_event", action="create")
    assert audit.patient_id == patient_a.pk and audit.actor_id == nina.pk
    assert audit.detail == {"term": "other", "grade": 1, "serious": False}
    assert "Metallic" not in str(audit.detail)


@pytest.mark.parametrize(
    ("changes", "code", "field"),
    [
        ({"term": "hiccups"}, "unknown_adverse_event_term", "term"),
        ({"term": "other"}, "term_text_required", "term_text"),
        ({"onset_at": timezone.now() + timedelta(hours=1)}, "onset_in_future", "onset_at"),
        ({"grade": 6}, "invalid_grade", "grade"),
        ({"serious": True}, "serious_requires_criteria", "seriousness_criteria"),
        ({"seriousness_criteria": ["hospitalisation"]}, "criteria_require_serious", "serious"),
        ({"relatedness": "maybe"}, "invalid_choice", "relatedness"),
        ({"outcome": "resolved"}, "resolution_date_required", "resolved_at"),
        ({"grade": 5}, "grade_5_requires_fatal_outcome", "outcome"),
        (
            {"outcome": "resolved", "resolved_at": timezone.now() - timedelta(hours=3)},
            "resolution_before_onset",
            "resolved_at",
        ),
    ],
)
def test_report_refusals_write_nothing(nina, patient_a, changes, code, field):
    before = row_counts()
    audits = AuditEvent.objects.count()
    with pytest.raises(DomainError) as refused:
        services.adverse_event_report(actor=nina, patient=patient_a, **report_fields(**changes))
    assert refused.value.code == code and refused.value.field == field
    assert refused.value.message
    assert row_counts() == before and AuditEvent.objects.count() == audits


def test_report_refuses_a_session_of_another_patient(alice, nina, patient_a, course_a, carol, patient_b):
    before = row_counts()
    with pytest.raises(DomainError) as refused:
        services.adverse_event_report(
            actor=nina, patient=patient_b, session=first_dosing(course_a), **report_fields()
        )
    assert refused.value.code == "session_not_of_patient"
    assert row_counts() == before


# --- Update, review, close --------------------------------------------------------------------


def test_update_keeps_the_previous_values_and_audits_field_names(nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **report_fields())
    resolved = timezone.now() - timedelta(minutes=5)
    update = services.adverse_event_update(
        actor=nina,
        event=event,
        changes={"outcome": "resolved", "resolved_at": resolved},
        reason="Settled by evening",
    )
    event.refresh_from_db()
    assert event.outcome == "resolved" and event.resolved_at == resolved
    assert update.previous == {"outcome": "recovering", "resolved_at": None}
    assert update.values["outcome"] == "resolved" and update.reason == "Settled by evening"
    audit = AuditEvent.objects.get(object_type="adverse_event", action="update")
    assert audit.detail == {"fields": ["outcome", "resolved_at"]}


@pytest.mark.parametrize(
    ("changes", "reason", "code"),
    [
        ({"grade": 2}, "", "reason_required"),
        ({"patient": 3}, "typo", "unknown_field"),
        ({"grade": 1}, "nothing really", "no_change"),
        ({"outcome": "resolved"}, "resolved", "resolution_date_required"),
    ],
)
def test_update_refusals_change_nothing(nina, patient_a, changes, reason, code):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **report_fields())
    before = row_counts()
    with pytest.raises(DomainError) as refused:
        services.adverse_event_update(actor=nina, event=event, changes=changes, reason=reason)
    assert refused.value.code == code
    assert row_counts() == before
    event.refresh_from_db()
    assert event.grade == 1 and event.outcome == "recovering"


def test_closing_a_serious_event_without_review_is_refused(alice, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    audits = AuditEvent.objects.count()
    with pytest.raises(WorkflowConflict) as refused:
        services.adverse_event_close(actor=alice, event=event)
    assert refused.value.code == "prescriber_review_required"
    event.refresh_from_db()
    assert event.status == "open" and event.closed_at is None
    assert AuditEvent.objects.count() == audits


def test_serious_event_closes_after_a_prescriber_review(alice, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    services.adverse_event_review(actor=alice, event=event, note="Seen; naloxone not needed; monitored 2 h.")
    closed = services.adverse_event_close(actor=alice, event=event)
    assert closed.status == "closed" and closed.closed_by == alice
    review_audit = AuditEvent.objects.get(object_type="adverse_event_review")
    assert review_audit.detail == {"adverse_event": event.pk, "serious": True}
    assert AuditEvent.objects.filter(object_type="adverse_event", detail__status="closed").count() == 1


def test_non_serious_event_closes_without_review(nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **report_fields())
    assert services.adverse_event_close(actor=nina, event=event).status == "closed"


def test_closed_event_refuses_update_review_and_second_close(alice, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **report_fields())
    services.adverse_event_close(actor=nina, event=event)
    before = row_counts()
    for attempt in (
        lambda: services.adverse_event_update(actor=nina, event=event, changes={"grade": 2}, reason="late"),
        lambda: services.adverse_event_review(actor=alice, event=event, note="late"),
        lambda: services.adverse_event_close(actor=nina, event=event),
    ):
        with pytest.raises(WorkflowConflict) as refused:
            attempt()
        assert refused.value.code == "adverse_event_closed"
    assert row_counts() == before


def test_review_needs_a_note(alice, nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    before = row_counts()
    with pytest.raises(DomainError) as refused:
        services.adverse_event_review(actor=alice, event=event, note="   ")
    assert refused.value.code == "note_required" and row_counts() == before


def test_serious_awaiting_review_lists_only_unreviewed_open_serious_events(
    alice, nina, patient_a, carol, patient_b
):
    waiting = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    reviewed = services.adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
    services.adverse_event_review(actor=alice, event=reviewed, note="Reviewed.")
    services.adverse_event_report(actor=nina, patient=patient_a, **report_fields())
    services.adverse_event_report(actor=carol, patient=patient_b, **serious_fields())
    rows = selectors.serious_awaiting_review_for_user(user=alice, roles={"prescriber"})
    assert [e.pk for e in rows] == [waiting.pk]
    assert AuditEvent.objects.filter(object_type="adverse_event_list", detail__awaiting_review=1).exists()


def test_update_rows_are_the_history(nina, patient_a):
    event = services.adverse_event_report(actor=nina, patient=patient_a, **report_fields())
    services.adverse_event_update(actor=nina, event=event, changes={"grade": 2}, reason="Worse by noon")
    services.adverse_event_update(actor=nina, event=event, changes={"grade": 1}, reason="Better again")
    assert list(AdverseEventUpdate.objects.filter(event=event).values_list("values", flat=True)) == [
        {"grade": 2},
        {"grade": 1},
    ]
    assert AdverseEvent.objects.get(pk=event.pk).grade == 1


# --- Dependence watch ---------------------------------------------------------------------------


def test_dependence_flags_from_a_hand_built_dose_history(alice, nina, course_a, lot_50):
    # Three doses of 200 mg, 10 and 5 days apart: 600 mg cumulative, a 5-day interval.
    give_doses(course_a, alice, nina, lot_50, [(15, "200"), (5, "200"), (0, "200")])
    watch = selectors.dependence_watch(course_a.patient)
    assert watch.review.total_dose_mg == 600 and watch.review.session_count == 3
    assert watch.review.shortest_interval_days == 5
    assert set(watch.review.flag_codes) == {"cumulative_dose_at_review", "short_dosing_interval"}
    assert not watch.review.prescriber_decision_required


def test_dependence_below_thresholds_raises_no_flag(alice, nina, course_a, lot_50):
    give_doses(course_a, alice, nina, lot_50, [(21, "199.9"), (14, "200"), (7, "200")])
    assert selectors.dependence_watch(course_a.patient).review.flag_codes == ()


def test_voided_or_unfinished_orders_are_not_counted(alice, nina, course_a, lot_50):
    give_doses(course_a, alice, nina, lot_50, [(14, "300"), (7, "300")], status="voided")
    assert selectors.dependence_watch(course_a.patient).review.session_count == 0


def test_requests_cravings_and_positive_tests_raise_their_flags(alice, nina, course_a, lot_50):
    patient = course_a.patient
    give_doses(course_a, alice, nina, lot_50, [(30, "100")])
    now = timezone.now()
    services.extra_session_request_record(actor=nina, patient=patient, requested_at=now - timedelta(days=3))
    assert "extra_session_requests" not in selectors.dependence_watch(patient).review.flag_codes
    services.extra_session_request_record(actor=nina, patient=patient, requested_at=now - timedelta(days=1))
    services.ketamine_craving_record(
        actor=nina, patient=patient, rated_on=date.today() - timedelta(days=2), score=7
    )
    services.ketamine_craving_record(
        actor=nina, patient=patient, rated_on=date.today() - timedelta(days=1), score=4
    )
    # A positive test 3 days after the dose is the programme's own; one 20 days after is not.
    dose_day = (now - timedelta(days=30)).date()
    for offset in (3, 20):
        ToxicologyTest.objects.create(
            patient=patient,
            collected_on=dose_day + timedelta(days=offset),
            substance="ketamine",
            method="urine_drug_screen",
            result="positive",
            confirmed=False,
            entered_by=nina,
            entered_at=now,
        )
    watch = selectors.dependence_watch(patient)
    assert [t.collected_on for t in watch.positive_tests_outside] == [dose_day + timedelta(days=20)]
    # The latest craving (4) counts, not the highest (7).
    assert set(watch.review.flag_codes) == {"extra_session_requests", "ketamine_positive_outside_treatment"}


def test_active_misuse_with_dosing_requires_a_prescriber_decision(alice, nina, course_a, lot_50):
    patient = course_a.patient
    give_doses(course_a, alice, nina, lot_50, [(7, "150")])
    services.misuse_document(actor=nina, patient=patient, active=True, note="Cocaine use reported this week")
    watch = selectors.dependence_watch(patient)
    assert "serial_dosing_with_active_misuse" in watch.review.flag_codes
    assert watch.review.prescriber_decision_required
    services.dependence_decision_record(
        actor=alice, patient=patient, decision="pause", reason="Stabilise first"
    )
    assert not selectors.dependence_watch(patient).review.prescriber_decision_required
    # A new documentation of active misuse needs a new decision.
    services.misuse_document(actor=nina, patient=patient, active=True, note="Relapse again")
    assert selectors.dependence_watch(patient).review.prescriber_decision_required
    services.misuse_document(actor=nina, patient=patient, active=False, note="Abstinent four weeks")
    assert not selectors.dependence_watch(patient).review.prescriber_decision_required
    audit = AuditEvent.objects.filter(object_type="misuse_documentation").first()
    assert audit.detail == {"active": True}


@pytest.mark.parametrize(
    ("call", "code"),
    [
        (
            lambda a, p: services.ketamine_craving_record(
                actor=a, patient=p, rated_on=date.today(), score=11
            ),
            "answer_out_of_range",
        ),
        (
            lambda a, p: services.ketamine_craving_record(
                actor=a, patient=p, rated_on=date.today(), score="x"
            ),
            "invalid_number",
        ),
        (
            lambda a, p: services.ketamine_craving_record(
                actor=a, patient=p, rated_on=date.today() + timedelta(days=3), score=2
            ),
            "date_in_future",
        ),
        (
            lambda a, p: services.extra_session_request_record(
                actor=a, patient=p, requested_at=timezone.now() + timedelta(days=1)
            ),
            "requested_in_future",
        ),
        (lambda a, p: services.misuse_document(actor=a, patient=p, active=True, note=""), "note_required"),
        (
            lambda a, p: services.dependence_decision_record(
                actor=a, patient=p, decision="maybe", reason="x"
            ),
            "invalid_choice",
        ),
        (
            lambda a, p: services.dependence_decision_record(actor=a, patient=p, decision="stop", reason=" "),
            "reason_required",
        ),
    ],
)
def test_dependence_record_refusals_write_nothing(alice, patient_a, call, code):
    before = row_counts()
    with pytest.raises(DomainError) as refused:
        call(alice, patient_a)
    assert refused.value.code == code
    assert row_counts() == before
