"""HL7 v2 over HTTP: ``POST /api/v1/hl7/v2`` takes one ORU^R01 message and answers its ACK.

The same receiving core as the MLLP listener (:func:`kapstone.interop.hl7.receive.receive_message`).
Every message gets a 200 whose body is the ACK (``application/hl7-v2``): AA, AE and AR carry the
result. Authentication and access answer as the rest of /api/v1 (401, 403, the JSON error shape).
"""
# No "from __future__ import annotations" in API modules (see kapstone/monitoring/api.py).

from django.http import Http404, HttpRequest, HttpResponse
from ninja import Query, Schema

from kapstone.accounts.access import VITALS_SOURCES
from kapstone.accounts.api_kit import FilterText, KapstoneRouter, api_roles
from kapstone.accounts.models import Clinic
from kapstone.accounts.selectors import clinics_of
from kapstone.domain.errors import DomainError
from kapstone.interop.hl7.receive import ack_unreadable, receive_message

router = KapstoneRouter()

#: The ACK's media type (HL7 v2 over HTTP; the ER7 "pipe and hat" encoding).
HL7_MEDIA_TYPE = "application/hl7-v2"


class ClinicQuery(Schema):
    #: The clinic's slug, for a caller who records vitals in several (bounded, no NUL: a 422).
    clinic: FilterText | None = None


_MESSAGE_BODY = {
    "required": True,
    "content": {
        "text/plain": {"schema": {"type": "string"}},
        HL7_MEDIA_TYPE: {"schema": {"type": "string"}},
    },
}
_ACK_ANSWER = {
    200: {
        "description": "The ACK message: MSA-1 AA (stored), AE (refused, ERR names the code) or AR "
        "(not readable); MSA-2 echoes MSH-10.",
        "content": {HL7_MEDIA_TYPE: {"schema": {"type": "string"}}},
    }
}


def _feed_clinic(request: HttpRequest, slug: str | None) -> Clinic:
    """The clinic the message is for: the caller's only clinic where they may record vitals, or
    ``?clinic=SLUG`` among theirs (another clinic's slug is the 404 of an unknown one)."""
    clinics = clinics_of(request.auth, VITALS_SOURCES)
    if slug:
        chosen = next((c for c in clinics if c.slug == slug), None)
        if chosen is None:
            raise Http404("Not found.")
        return chosen
    if len(clinics) != 1:
        raise DomainError(
            "clinic_required",
            "You record vital signs in several clinics: name the clinic with ?clinic=SLUG.",
            field="clinic",
        )
    return clinics[0]


@router.post(
    "/v2",
    response={200: str},
    openapi_extra={"requestBody": _MESSAGE_BODY, "responses": _ACK_ANSWER},
)
@api_roles(*VITALS_SOURCES)
def receive_hl7(request: HttpRequest, query: Query[ClinicQuery]):
    """One HL7 v2 ORU^R01 message in the body (``text/plain`` or ``application/hl7-v2``, UTF-8),
    for the caller's clinic (a bedside monitor's account, or a nurse or prescriber). The answer is
    the ACK; see docs/interop.md for the codes."""
    clinic = _feed_clinic(request, query.clinic)
    try:
        text = request.body.decode("utf-8")
    except UnicodeDecodeError:
        ack = ack_unreadable(clinic=clinic, message="The message is not UTF-8 text.")
    else:
        ack = receive_message(text, clinic=clinic, actor=request.auth, sender=f"api:{request.auth.pk}")
    return HttpResponse(ack, content_type=f"{HL7_MEDIA_TYPE}; charset=utf-8")
