"""Demo safety data: a handful of adverse events on the clinic's past dosing sessions (mild
dizziness, nausea and blood pressure rises; one serious event reviewed and closed, one serious
event awaiting a prescriber's review) and one request for an extra session. Written through the
services. Idempotent: a clinic that already has adverse events is left alone.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from kapstone.accounts.models import Clinic, User
from kapstone.care.models import CareSession
from kapstone.dosing.models import OrderStatus
from kapstone.safety.models import AdverseEvent
from kapstone.safety.services import (
    adverse_event_close,
    adverse_event_report,
    adverse_event_review,
    extra_session_request_record,
)

# (term, grade, relatedness, action taken, outcome, minutes after the start of dosing)
MILD = (
    ("dizziness", 1, "probable", "dose_not_changed", "resolved", 35),
    ("nausea", 1, "possible", "dose_not_changed", "resolved", 50),
    ("blood_pressure_increased", 2, "probable", "infusion_interrupted", "resolved", 40),
    ("blood_pressure_increased", 1, "probable", "dose_not_changed", "resolved", 30),
)


def _given_sessions(clinic: Clinic, today: date) -> list[CareSession]:
    return list(
        CareSession.objects.filter(
            clinic=clinic,
            kind="dosing",
            scheduled_date__lt=today,
            dose_orders__status__in=[OrderStatus.COMPLETED, OrderStatus.STOPPED],
            dose_orders__administration__ended_at__isnull=False,
        )
        .select_related("patient", "patient__clinic")
        .order_by("-scheduled_date", "id")
        .distinct()[:40]
    )


def seed_safety(*, clinic: Clinic, nurse: User, prescriber: User, rng: random.Random, today: date) -> int:
    """Seed the clinic's safety demo; returns the number of adverse events written (0 when the
    clinic already has some, or has no past dosing session)."""
    if AdverseEvent.objects.filter(clinic_id=clinic.pk).exists():
        return 0
    sessions = _given_sessions(clinic, today)
    if not sessions:
        return 0
    chosen = rng.sample(sessions, k=min(len(sessions), len(MILD) + 2))
    written = 0
    with transaction.atomic():
        serious, mild = chosen[:2], chosen[2:]
        for session, (term, grade, relatedness, action, outcome, minutes) in zip(mild, MILD, strict=False):
            started = session.dose_orders.exclude(status="voided").first().administration.started_at
            onset = started + timedelta(minutes=minutes)
            mild_event = adverse_event_report(
                actor=nurse,
                patient=session.patient,
                session=session,
                term=term,
                onset_at=onset,
                grade=grade,
                serious=False,
                relatedness=relatedness,
                action_taken=action,
                outcome=outcome,
                resolved_at=onset + timedelta(minutes=rng.randint(20, 90)),
            )
            adverse_event_close(actor=nurse, event=mild_event)  # resolved before discharge
            written += 1
        for index, session in enumerate(serious):
            started = session.dose_orders.exclude(status="voided").first().administration.started_at
            onset = started + timedelta(minutes=25)
            event = adverse_event_report(
                actor=nurse,
                patient=session.patient,
                session=session,
                term="sedation" if index == 0 else "emergence_reaction",
                onset_at=onset,
                grade=3,
                serious=True,
                seriousness_criteria=["important_medical_event"],
                relatedness="probable",
                action_taken="drug_withdrawn",
                outcome="resolved" if index == 0 else "recovering",
                resolved_at=onset + timedelta(hours=2) if index == 0 else None,
            )
            written += 1
            if index == 0:
                adverse_event_review(
                    actor=prescriber,
                    event=event,
                    note="Reviewed: responsive to voice within 20 minutes, airway maintained; dose to be "
                    "reduced at the next session.",
                )
                adverse_event_close(actor=prescriber, event=event)
        patient = chosen[0].patient
        extra_session_request_record(
            actor=nurse,
            patient=patient,
            requested_at=timezone.now() - timedelta(days=rng.randint(1, 5)),
            note="Asked whether the next session could be brought forward.",
        )
    return written
