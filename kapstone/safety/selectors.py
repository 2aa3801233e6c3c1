"""Reads of adverse events and the dependence watch.

The ``*_for_user`` reads are scoped to the user's clinics and audited; "not yours" and "does not
exist" raise the same Http404. The plain helpers (``dependence_watch``, ``serious_open_of``…)
serve the chart section and services, whose own read event or write covers them.

The dependence review is never stored: it is computed at run time by the domain
(``evaluate_dependence``) from the doses actually given, the requests for extra sessions, the
ketamine-positive urine tests outside treatment, the ketamine craving ratings, the documented
active misuse and the prescriber's decisions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.db.models import Exists, OuterRef

from kapstone.accounts.access import PATIENT_READ, clinic_ids_for, scoped_get
from kapstone.accounts.models import User
from kapstone.audit.services import audit_record
from kapstone.care.models import TreatmentCourse
from kapstone.care.services import course_protocol
from kapstone.domain.monitoring.dependence import (
    CravingScore,
    DependenceReview,
    DependenceThresholds,
    DoseRecord,
    evaluate_dependence,
)
from kapstone.dosing.models import DoseOrder, OrderStatus
from kapstone.outcomes.models import ToxicologyResultValue, ToxicologyTest
from kapstone.patients.models import Patient
from kapstone.patients.selectors import patient_get_for_user
from kapstone.safety.models import (
    AdverseEvent,
    AdverseEventReview,
    DependenceDecision,
    EventStatus,
    ExtraSessionRequest,
    KetamineCravingScore,
    MisuseDocumentation,
)

#: A ketamine-positive urine test collected within this many days after a dose given in the
#: programme is explained by treatment; later ones count as "outside treatment". Chosen here, not
#: sourced in clinical.md: ketamine and norketamine stay detectable in urine for several days
#: (up to about a week with sensitive assays), so a week avoids flagging the programme's own dose.
URINE_WINDOW_AFTER_DOSE_DAYS = 7


def _with_review(qs):
    return qs.annotate(reviewed=Exists(AdverseEventReview.objects.filter(event=OuterRef("pk"))))


# --- Adverse events ---------------------------------------------------------------------------


def adverse_event_get_for_user(
    *, user: User, event_id: int, roles: Iterable[str] = PATIENT_READ
) -> AdverseEvent:
    """One adverse event of the user's clinics (404 alike for missing and not-yours), audited."""
    return scoped_get(
        _with_review(
            AdverseEvent.objects.select_related("patient", "patient__clinic", "session", "reported_by")
        ),
        event_id,
        user=user,
        roles=roles,
        object_type="adverse_event",
    )


def adverse_event_history(event: AdverseEvent) -> tuple[list, list]:
    """The updates and reviews of an event already read through a scoped selector."""
    updates = list(event.updates.select_related("updated_by").order_by("updated_at", "id"))
    reviews = list(
        AdverseEventReview.objects.filter(event=event)
        .select_related("reviewer")
        .order_by("reviewed_at", "id")
    )
    return updates, reviews


def adverse_events_of(patient: Patient) -> list[AdverseEvent]:
    """Every adverse event of a patient already read through a scoped selector, newest onset first."""
    return list(
        _with_review(
            AdverseEvent.objects.filter(patient=patient).select_related("reported_by", "session")
        ).order_by("-onset_at", "-id")
    )


def adverse_event_list_for_user(
    *, user: User, patient_id: int, roles: Iterable[str] = PATIENT_READ
) -> tuple[Patient, list[AdverseEvent]]:
    patient = patient_get_for_user(user=user, patient_id=patient_id, roles=roles, audit=False)
    events = adverse_events_of(patient)
    audit_record(
        actor=user,
        action="read",
        object_type="adverse_event_list",
        object_id=patient.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail={"returned": len(events)},
    )
    return patient, events


def serious_open_of(patient: Patient) -> list[AdverseEvent]:
    """Open serious events of a patient (the chart's notice)."""
    return [e for e in adverse_events_of(patient) if e.serious and e.status == EventStatus.OPEN]


def serious_awaiting_review_for_user(
    *, user: User, roles: Iterable[str], limit: int = 500
) -> list[AdverseEvent]:
    """Open serious events of the user's clinics with no prescriber review yet, oldest first.

    Lists patients, so the read is audited (how many; not who).
    """
    rows = list(
        _with_review(
            AdverseEvent.objects.filter(
                clinic_id__in=clinic_ids_for(user, roles), serious=True, status=EventStatus.OPEN
            ).select_related("patient", "patient__clinic")
        )
        .filter(reviewed=False)
        .order_by("onset_at", "id")[:limit]
    )
    audit_record(
        actor=user, action="read", object_type="adverse_event_list", detail={"awaiting_review": len(rows)}
    )
    return rows


# --- Dependence watch ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DependenceWatch:
    review: DependenceReview
    doses: list[DoseRecord]
    extra_requests: list[ExtraSessionRequest]
    positive_tests_outside: list[ToxicologyTest]
    cravings: list[KetamineCravingScore]
    misuse: MisuseDocumentation | None
    decision: DependenceDecision | None
    decision_counts: bool

    @property
    def active_misuse(self) -> bool:
        return self.misuse is not None and self.misuse.active


def given_doses(patient: Patient) -> list[DoseRecord]:
    """The ketamine actually given: completed or stopped orders with an amount given, dated by
    their session."""
    rows = (
        DoseOrder.objects.filter(
            patient=patient,
            status__in=[OrderStatus.COMPLETED, OrderStatus.STOPPED],
            administration__given_mg__isnull=False,
        )
        .values_list("session__scheduled_date", "administration__given_mg")
        .order_by("session__scheduled_date", "id")
    )
    return [DoseRecord(session_date=day, dose_mg=mg) for day, mg in rows]


def positive_tests_outside_treatment(patient: Patient, doses: list[DoseRecord]) -> list[ToxicologyTest]:
    """Ketamine-positive urine tests not explained by a programme dose in the
    ``URINE_WINDOW_AFTER_DOSE_DAYS`` before them."""
    dose_days = [d.session_date for d in doses]
    window = timedelta(days=URINE_WINDOW_AFTER_DOSE_DAYS)
    tests = ToxicologyTest.objects.filter(
        patient=patient, substance="ketamine", result=ToxicologyResultValue.POSITIVE
    ).order_by("collected_on", "id")

    def explained(collected: date) -> bool:
        return any(day <= collected <= day + window for day in dose_days)

    return [t for t in tests if not explained(t.collected_on)]


def dependence_watch(patient: Patient) -> DependenceWatch:
    """The dependence review of a patient already read through a scoped selector.

    A prescriber's decision counts for the ASRA rule when it was documented at or after the
    latest documentation of active misuse (a new episode needs a new decision).
    """
    doses = given_doses(patient)
    requests = list(ExtraSessionRequest.objects.filter(patient=patient).order_by("-requested_at", "-id"))
    positives = positive_tests_outside_treatment(patient, doses)
    cravings = list(KetamineCravingScore.objects.filter(patient=patient).order_by("-rated_on", "-id"))
    misuse = MisuseDocumentation.objects.filter(patient=patient).order_by("-documented_at", "-id").first()
    decision = (
        DependenceDecision.objects.filter(patient=patient)
        .select_related("prescriber")
        .order_by("-decided_at", "-id")
        .first()
    )
    active = misuse is not None and misuse.active
    counts = bool(active and decision is not None and decision.decided_at >= misuse.documented_at)
    # Same-day ratings: the domain takes the latest by date; pass one (the newest) per day.
    per_day: dict[date, KetamineCravingScore] = {}
    for row in cravings:
        per_day.setdefault(row.rated_on, row)
    review = evaluate_dependence(
        thresholds=dependence_thresholds(patient),
        dosing_history=doses,
        extra_session_requests=len(requests),
        ketamine_positive_tests_outside_treatment=len(positives),
        ketamine_craving_scores=[CravingScore(rated_on=d, score=r.score) for d, r in per_day.items()],
        active_substance_misuse=active,
        prescriber_decision_documented=counts,
    )
    return DependenceWatch(
        review=review,
        doses=doses,
        extra_requests=requests,
        positive_tests_outside=positives,
        cravings=cravings,
        misuse=misuse,
        decision=decision,
        decision_counts=counts,
    )


def dependence_thresholds(patient: Patient) -> DependenceThresholds:
    """The review thresholds of the patient's latest course's protocol
    (``monitoring.dependence_limits``, local policy); the defaults without a course."""
    course = TreatmentCourse.objects.filter(patient=patient).order_by("-start_date", "-id").first()
    if course is None:
        return DependenceThresholds()
    limits = course_protocol(course).monitoring.dependence_limits
    return DependenceThresholds(
        sessions_review_above=limits.sessions_review_above,
        cumulative_dose_review_at_mg=Decimal(limits.cumulative_dose_review_at_mg),
        min_interval_days=limits.min_interval_days,
        craving_review_at=Decimal(limits.craving_review_at),
    )


def dependence_watch_for_user(
    *, user: User, patient_id: int, roles: Iterable[str] = PATIENT_READ
) -> tuple[Patient, DependenceWatch]:
    patient = patient_get_for_user(user=user, patient_id=patient_id, roles=roles, audit=False)
    watch = dependence_watch(patient)
    audit_record(
        actor=user,
        action="read",
        object_type="dependence_watch",
        object_id=patient.pk,
        patient_id=patient.pk,
        clinic_id=patient.clinic_id,
        detail={"flags": list(watch.review.flag_codes)},
    )
    return patient, watch


def safety_plans_of(patient) -> list:
    """The patient's documented safety plans, newest first. Not audited (the page's read)."""
    from kapstone.safety.models import SafetyPlan

    return list(
        SafetyPlan.objects.filter(patient_id=patient.pk)
        .select_related("prescriber")
        .order_by("-documented_at", "-id")
    )
