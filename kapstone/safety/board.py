"""Serious adverse events on the live monitoring board (issue 5: "a serious event notifies the
prescriber on the board").

Registered with ``kapstone.monitoring.notices`` from ``SafetyConfig.ready()``: every open serious
event of the board's clinics that no prescriber has reviewed yet is a notice at the top of the
board, and also in the row of its patient's session when that patient is on the board. It leaves
the board with the prescriber's review (``services.adverse_event_review``). The link to review it
is offered to prescribers only (the review page admits no one else). A plain read: the board's
own audited read covers what it shows.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef
from django.urls import reverse
from django.utils import timezone

from kapstone.accounts.access import clinic_ids_for
from kapstone.care.models import CareSession
from kapstone.monitoring.notices import BoardNotice
from kapstone.safety.access import SAFETY_PRESCRIBE, SAFETY_READ
from kapstone.safety.models import AdverseEvent, AdverseEventReview, EventStatus

#: At most this many events are listed (the oldest first); the safety page lists them all.
BOARD_LIMIT = 20


def serious_unreviewed_notices(user: Any, clinic_ids: list[int], session_ids: list[int]) -> list[BoardNotice]:
    readable = set(clinic_ids) & set(clinic_ids_for(user, SAFETY_READ))
    if not readable:
        return []
    events = list(
        AdverseEvent.objects.filter(clinic_id__in=readable, serious=True, status=EventStatus.OPEN)
        .filter(~Exists(AdverseEventReview.objects.filter(event=OuterRef("pk"))))
        .select_related("patient")
        .order_by("onset_at", "id")[:BOARD_LIMIT]
    )
    if not events:
        return []
    on_board = dict(
        CareSession.objects.filter(pk__in=session_ids, patient_id__in={e.patient_id for e in events})
        .order_by("id")
        .values_list("patient_id", "pk")
    )
    prescriber_of = set(clinic_ids_for(user, SAFETY_PRESCRIBE))
    notices = []
    for event in events:
        patient = event.patient
        onset = timezone.localtime(event.onset_at).strftime("%d %b %H:%M")
        text = (
            f"Serious adverse event awaiting a prescriber's review: {event.term_name} (grade {event.grade}), "
            f"{patient.display_name} — onset {onset}."
        )
        prescriber = event.clinic_id in prescriber_of
        # Once at the top of the board, and again in the row of the patient's session if on it.
        for place, session_id in (("top", None), ("row", on_board.get(event.patient_id))):
            if place == "row" and session_id is None:
                continue
            notices.append(
                BoardNotice(
                    key=f"safety:serious_unreviewed:{place}:{event.pk}",
                    clinic_id=event.clinic_id,
                    patient_id=event.patient_id,
                    session_id=session_id,
                    severity="critical",
                    text=text,
                    url=reverse("safety:review" if prescriber else "safety:event", args=[event.pk]),
                    link_text="Review" if prescriber else "Open",
                )
            )
    return notices
