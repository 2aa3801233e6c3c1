"""Safety tests: the URLs (with the safety app's), row counts, a past dose history built by hand
and a valid adverse event report."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from django.utils import timezone

from kapstone.dosing.models import Administration, AdministrationLot, DoseOrder
from kapstone.safety.models import (
    AdverseEvent,
    AdverseEventReview,
    AdverseEventUpdate,
    DependenceDecision,
    ExtraSessionRequest,
    KetamineCravingScore,
    MisuseDocumentation,
)
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.dosing.conftest import cleared_session, lot_50  # noqa: F401 - shared fixtures


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            AdverseEvent,
            AdverseEventUpdate,
            AdverseEventReview,
            ExtraSessionRequest,
            KetamineCravingScore,
            MisuseDocumentation,
            DependenceDecision,
        )
    }


def report_fields(**changes) -> dict:
    fields = {
        "term": "nausea",
        "onset_at": timezone.now() - timedelta(hours=2),
        "grade": 1,
        "serious": False,
        "relatedness": "probable",
        "action_taken": "dose_not_changed",
        "outcome": "recovering",
    }
    fields.update(changes)
    return fields


def serious_fields(**changes) -> dict:
    return report_fields(
        term="respiratory_depression",
        grade=3,
        serious=True,
        seriousness_criteria=["important_medical_event"],
        action_taken="drug_withdrawn",
        **changes,
    )


def give_doses(
    course, prescriber, nurse, lot, doses: list[tuple[int, str]], status: str = "completed"
) -> list:
    """Test set-up, not the dosing workflow: given doses on the course's dosing sessions, as
    (days before today, mg given) — written straight as completed orders and administrations."""
    sessions = list(course.sessions.filter(kind="dosing").order_by("order"))
    now = timezone.now()
    orders = []
    for session, (days_ago, mg) in zip(sessions, doses, strict=False):
        session.scheduled_date = (now - timedelta(days=days_ago)).date()
        session.status = "discharged"
        session.save(update_fields=["scheduled_date", "status"])
        started = now - timedelta(days=days_ago)
        order = DoseOrder.objects.create(
            session=session,
            patient=course.patient,
            clinic_id=course.clinic_id,
            status=status,
            weight_kg=Decimal("72.5"),
            weight_measured_on=session.scheduled_date,
            protocol_mg_per_kg=Decimal("0.8"),
            mg_per_kg=Decimal("0.8"),
            max_mg_per_kg=Decimal("1.0"),
            route="iv",
            concentration_mg_per_ml=Decimal("50"),
            dose_mg=Decimal(mg),
            volume_ml=Decimal(mg) / 50,
            ordered_by=prescriber,
            ordered_at=started - timedelta(hours=1),
            verified_by=nurse,
            verified_at=started - timedelta(minutes=30),
        )
        administration = Administration.objects.create(
            order=order,
            dispensed_mg=Decimal(mg),
            started_at=started,
            started_by=nurse,
            ended_at=started + timedelta(minutes=40),
            ended_by=nurse,
            given_mg=Decimal(mg),
            wasted_mg=Decimal(0),
        )
        AdministrationLot.objects.create(
            administration=administration,
            lot=lot,
            position=1,
            dispensed_mg=Decimal(mg),
            given_mg=Decimal(mg),
            wasted_mg=Decimal(0),
        )
        orders.append(order)
    return orders
