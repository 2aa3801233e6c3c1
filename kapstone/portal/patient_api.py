"""The patient's own API under /api/v1/portal (a portal account's token): who they are, their
sessions with the preparation for those ahead, and what is due. Always their own record: no
operation takes a patient id."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the access wrapper, which lives in another module, so annotations must be real.

from django.http import HttpRequest
from ninja import Schema

from kapstone.accounts.api_kit import KapstoneRouter
from kapstone.portal import patient_selectors
from kapstone.portal.access import api_patient

me_router = KapstoneRouter()


class PortalPatientOut(Schema):
    mrn: str
    given_name: str
    family_name: str
    clinic: str


class InstructionOut(Schema):
    code: str
    text: str


class PortalSessionOut(Schema):
    id: int
    kind: str
    starts_at: str
    status: str
    instructions: list[InstructionOut]


class DueOut(Schema):
    instrument: str
    due_date: str
    time_point: int | None


class MeOut(Schema):
    patient: PortalPatientOut
    sessions: list[PortalSessionOut]
    due: list[DueOut]


@me_router.get("/me", response=MeOut)
@api_patient
def me(request: HttpRequest):
    """The signed-in patient: record identity, every session of their courses (``starts_at`` in
    ISO 8601 with the clinic's offset, or the date alone while no time is booked; ``status`` in
    the patient's terms; ``instructions`` for a session still ahead, in English) and the
    questionnaires due."""
    summary = patient_selectors.me_read(account=request.patient_account)
    patient = summary.patient
    return {
        "patient": {
            "mrn": patient.mrn,
            "given_name": patient.given_name,
            "family_name": patient.family_name,
            "clinic": patient.clinic.name,
        },
        "sessions": [
            {
                "id": s.id,
                "kind": s.kind,
                "starts_at": s.starts_at_iso,
                "status": s.status,
                "instructions": [{"code": i.code, "text": i.text} for i in s.instructions],
            }
            for s in summary.sessions
        ],
        "due": [
            {
                "instrument": d.instrument,
                "due_date": d.due_date.isoformat(),
                "time_point": d.time_point_months,
            }
            for d in summary.due
        ],
    }
