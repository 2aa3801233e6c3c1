"""Reads of the interoperability layer: the patient and session a device message is for."""

from __future__ import annotations

from collections.abc import Iterable

from kapstone.accounts.access import VITALS_SOURCES, has_role
from kapstone.accounts.models import Clinic, User
from kapstone.care.models import CareSession
from kapstone.domain.protocols import DOSING
from kapstone.interop.models import Hl7Message
from kapstone.monitoring.selectors import BOARD_STATES
from kapstone.patients.models import Patient

#: The session states a monitor's feed records into: a dosing session in progress or recovering
#: (issue 16), the sessions on the board where its alerts show. Narrower than the vitals API's
#: ``MONITORED_STATES`` (from check-in): a monitor left attached to a chair must not write into
#: a session that has not started, whose baseline a nurse takes and checks before dosing.
FEED_STATES = BOARD_STATES


def feed_patient(
    *, actor: User, clinic: Clinic, identifiers: Iterable[str]
) -> Patient | list[Patient] | None:
    """The patient of ``clinic`` whose MRN is one of ``identifiers`` (PID-3's repetitions), for an
    actor who may record vitals there; None when there is none (or the actor may not), and the
    list when the identifiers name several patients. Another clinic's MRN is never looked up."""
    ids = sorted({i for i in identifiers if i})
    if not ids or not has_role(actor, VITALS_SOURCES, clinic.pk):
        return None
    found = list(Patient.objects.filter(clinic=clinic, mrn__in=ids).order_by("pk")[:3])
    if not found:
        return None
    return found[0] if len(found) == 1 else found


def feed_session(*, patient: Patient) -> CareSession | None:
    """The patient's dosing session in progress or recovering (``FEED_STATES``); the latest begun
    if there were ever several."""
    return (
        CareSession.objects.filter(
            patient=patient, clinic_id=patient.clinic_id, kind=DOSING, status__in=FEED_STATES
        )
        .select_related("clinic", "course")
        .order_by("-scheduled_date", "-pk")
        .first()
    )


def hl7_message_ack(*, clinic: Clinic, sender: str, control_id: str) -> str | None:
    """The ACK given to the message ``control_id`` of ``sender`` in ``clinic``, if it was accepted."""
    return (
        Hl7Message.objects.filter(clinic=clinic, sender=sender, control_id=control_id)
        .values_list("ack_text", flat=True)
        .first()
    )
