"""Monitoring API: vitals from devices and bedside entry, the session's alerts, acknowledgement."""
# No "from __future__ import annotations" in API modules: django-ninja resolves the operation
# signatures through the role wrapper, which lives in another module, so annotations must be real.

from datetime import datetime
from decimal import Decimal

from django.http import HttpRequest
from ninja import Schema, Status

from kapstone.accounts.access import DOSING_CLINICIANS, PATIENT_READ
from kapstone.accounts.api_kit import KapstoneRouter, StrictSchema, api_roles, text
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


class AlertOut(Schema):
    id: int
    code: str
    severity: str
    status: str
    raised_at: datetime


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
    }


@router.post("/sessions/{int:session_id}/vitals", response={201: VitalsCreatedOut})
@api_roles(*DOSING_CLINICIANS)
def record_vitals(request: HttpRequest, session_id: int, payload: VitalsIn):
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


@router.get("/sessions/{int:session_id}/vitals", response=list[ObservationOut])
@api_roles(*PATIENT_READ)
def list_vitals(request: HttpRequest, session_id: int):
    session = session_get_for_user(user=request.auth, session_id=session_id)
    return [
        {
            "id": o.pk,
            "code": o.code,
            "loinc": o.loinc or None,
            "value": float(o.value),
            "unit": o.unit,
            "observed_at": o.observed_at,
            "source": o.source,
        }
        for o in selectors.observations_of(session)
    ]


@router.get("/sessions/{int:session_id}/alerts", response=list[AlertOut])
@api_roles(*PATIENT_READ)
def list_alerts(request: HttpRequest, session_id: int):
    session = session_get_for_user(user=request.auth, session_id=session_id)
    return [_alert_out(a) for a in selectors.alerts_of(session)]


@router.post("/alerts/{int:alert_id}/acknowledge", response=AlertOut)
@api_roles(*DOSING_CLINICIANS)
def acknowledge_alert(request: HttpRequest, alert_id: int, payload: AcknowledgeIn):
    alert = selectors.alert_get_for_user(user=request.auth, alert_id=alert_id, roles=DOSING_CLINICIANS)
    done = services.alert_acknowledge(
        actor=request.auth,
        alert=alert,
        action=payload.action,
        note=payload.note,
        witness=witness_named(username=payload.witness, clinic_id=alert.clinic_id),
    )
    return _alert_out(done)
