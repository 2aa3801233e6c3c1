"""Monitoring API: vitals from devices and bedside entry, the session's alerts, acknowledgement."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import datetime
from decimal import Decimal

from django.http import HttpRequest, HttpResponse
from ninja import Schema, Status

from kapstone.accounts.access import DOSING_CLINICIANS, PATIENT_READ
from kapstone.accounts.api_kit import KapstoneRouter, RecordId, StrictSchema, api_roles, paginated, text
from kapstone.accounts.selectors import witness_named
from kapstone.care.selectors import session_get_for_user
from kapstone.monitoring import selectors, services

router = KapstoneRouter()


class ObservationIn(StrictSchema):
    code: text(20, min_length=1)
    value: Decimal
    observed_at: datetime


class VitalsIn(StrictSchema):
    observations: list[ObservationIn]
    source: text(60) = "manual"


class RaisedOut(Schema):
    code: str
    severity: str
    message: str


class VitalsCreatedOut(Schema):
    created: int
    alerts: list[RaisedOut]


class ObservationOut(Schema):
    id: int
    code: str
    loinc: str | None
    value: float
    unit: str
    observed_at: datetime
    source: str
    voided_at: datetime | None
    voided_by: str | None
    void_reason: str | None


class ObservationVoidIn(StrictSchema):
    reason: text(500)


class AlertOut(Schema):
    id: int
    code: str
    severity: str
    status: str
    raised_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None
    entered_in_error: bool


class AcknowledgeIn(StrictSchema):
    action: text(20, min_length=1)
    note: text(500) = ""
    witness: text(150) = ""


def _alert_out(alert) -> dict:
    return {
        "id": alert.pk,
        "code": alert.code,
        "severity": alert.severity,
        "status": alert.status,
        "raised_at": alert.raised_at,
        "acknowledged_at": alert.acknowledged_at,
        "resolved_at": alert.resolved_at,
        "entered_in_error": alert.entered_in_error,
    }


@router.post("/sessions/{int:session_id}/vitals", response={201: VitalsCreatedOut})
@api_roles(*DOSING_CLINICIANS)
def record_vitals(request: HttpRequest, session_id: RecordId, payload: VitalsIn):
    session = session_get_for_user(user=request.auth, session_id=session_id, roles=DOSING_CLINICIANS)
    observations = [item.dict() for item in payload.observations]
    alerts = services.vitals_record(
        actor=request.auth, session=session, observations=observations, source=payload.source
    )
    return Status(
        201,
        {
            "created": len(observations),
            "alerts": [{"code": a.code, "severity": a.severity, "message": a.message} for a in alerts],
        },
    )


def _observation_out(o) -> dict:
    return {
        "id": o.pk,
        "code": o.code,
        "loinc": o.loinc or None,
        "value": float(o.value),
        "unit": o.unit,
        "observed_at": o.observed_at,
        "source": o.source,
        "voided_at": o.voided_at,
        "voided_by": o.voided_by.username if o.voided_by_id else None,
        "void_reason": o.void_reason if o.voided_at else None,
    }


@router.get("/sessions/{int:session_id}/vitals", response=list[ObservationOut])
@api_roles(*PATIENT_READ)
@paginated
def list_vitals(request: HttpRequest, session_id: RecordId):
    """Every value of the session in time order; one marked entered in error carries its
    ``voided_at``, ``voided_by`` and ``void_reason`` (no rule counts it)."""
    session = session_get_for_user(user=request.auth, session_id=session_id)
    return [_observation_out(o) for o in selectors.observations_with_voided_of(session)]


@router.post("/observations/{int:observation_id}/void", response=ObservationOut)
@api_roles(*DOSING_CLINICIANS)
def void_observation(request: HttpRequest, observation_id: RecordId, payload: ObservationVoidIn):
    """Mark one value entered in error, with a reason: kept and returned with its void, and no
    longer counted by the baseline, the alerts, the checks or the discharge criteria."""
    observation = selectors.observation_get_for_user(
        user=request.auth, observation_id=observation_id, roles=DOSING_CLINICIANS
    )
    return _observation_out(
        services.observation_void(actor=request.auth, observation=observation, reason=payload.reason)
    )


@router.get("/sessions/{int:session_id}/alerts", response=list[AlertOut])
@api_roles(*PATIENT_READ)
@paginated(array=True)  # issue 5 pins the bare array: the count is in X-Total-Count
def list_alerts(request: HttpRequest, session_id: RecordId, response: HttpResponse):
    session = session_get_for_user(user=request.auth, session_id=session_id)
    return [_alert_out(a) for a in selectors.alerts_of(session)]


@router.post("/alerts/{int:alert_id}/acknowledge", response=AlertOut)
@api_roles(*DOSING_CLINICIANS)
def acknowledge_alert(request: HttpRequest, alert_id: RecordId, payload: AcknowledgeIn):
    alert = selectors.alert_get_for_user(user=request.auth, alert_id=alert_id, roles=DOSING_CLINICIANS)
    done = services.alert_acknowledge(
        actor=request.auth,
        alert=alert,
        action=payload.action,
        note=payload.note,
        witness=witness_named(username=payload.witness, clinic_id=alert.clinic_id),
    )
    return _alert_out(done)
