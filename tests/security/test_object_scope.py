"""Another clinic's record is a 404 identical to a missing one, and the attempt is audited.

Walks every web route and every API operation that takes a record id in its path (generated from
the URL resolver and the NinjaAPI's routers, so a new route is covered or fails here) as staff of
the demo's first clinic, asking for a record of the second clinic. Each must answer 404 with the
very body a missing id gets, and write exactly one ``denied`` audit row naming the record's type
and id (the privacy officer's trail of probing); a missing id writes none. Where a route nests
one record under another (a diagnosis under its patient), the inner record of the other clinic
under the user's own outer record is tried too (OpenEMR #11853).

Every lookup goes through ``kapstone.accounts.access.scoped_get``; this is the evidence that
all of them do.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from django.apps import apps
from django.test import Client

from kapstone.accounts.access import AUTHENTICATED, PATIENT, PUBLIC
from kapstone.accounts.models import Clinic, Role, User
from kapstone.api.api import api
from kapstone.audit.models import AuditEvent
from kapstone.demo.seed import seed_demo
from tests.api.test_patients_api import Api
from tests.conftest import verified_client, without_csrf
from tests.security.test_url_access import OPERATIONS, ROUTES

pytestmark = pytest.mark.django_db

MISSING_ID = 987654321


@dataclass(frozen=True)
class Kind:
    """A record id in a path: its audit ``object_type``, its model and the path to its clinic."""

    object_type: str
    model: str
    clinic: str


#: Every path parameter that names a record. A new one must be added here (the test says so).
RECORDS = {
    "patient_id": Kind("patient", "patients.Patient", "clinic_id"),
    "measurement_id": Kind("body_measurement", "patients.BodyMeasurement", "patient__clinic_id"),
    "diagnosis_id": Kind("diagnosis", "patients.Diagnosis", "patient__clinic_id"),
    "liver_test_id": Kind("liver_test", "patients.LiverTest", "clinic_id"),
    "document_id": Kind("consent_document", "patients.ConsentDocument", "clinic_id"),
    "screening_id": Kind("screening", "screening.Screening", "patient__clinic_id"),
    "course_id": Kind("course", "care.TreatmentCourse", "clinic_id"),
    "session_id": Kind("session", "care.CareSession", "clinic_id"),
    "note_id": Kind("therapy_note", "care.TherapyNote", "clinic_id"),
    "group_id": Kind("group_session", "care.GroupSession", "clinic_id"),
    "lot_id": Kind("lot", "inventory.Lot", "clinic_id"),
    "entry_id": Kind("register_entry", "inventory.RegisterEntry", "clinic_id"),
    "location_id": Kind("storage_location", "inventory.StorageLocation", "clinic_id"),
    "count_id": Kind("count", "inventory.CountSession", "clinic_id"),
    "line_id": Kind("count_line", "inventory.CountLine", "count__clinic_id"),
    "order_id": Kind("dose_order", "dosing.DoseOrder", "clinic_id"),
    "administration_id": Kind("administration", "dosing.Administration", "order__clinic_id"),
    "alert_id": Kind("alert", "monitoring.Alert", "clinic_id"),
    "observation_id": Kind("observation", "monitoring.Observation", "clinic_id"),
    "flag_id": Kind("clinical_flag", "outcomes.ClinicalFlag", "clinic_id"),
    "event_id": Kind("adverse_event", "safety.AdverseEvent", "clinic_id"),
    "referral_id": Kind("referral", "portal.Referral", "clinic_id"),
}

#: Path parameters that are not record ids, with a value the route accepts (a route refuses an
#: unknown value with its own 404 before it looks the record up).
VALUES = {
    "months": "1",
    "kind": "dispense",
    "instrument": "phq-9",
    "slug": "x",
    "version": "1",
    "export_format": "courses",
    "token": "x",
}


def _attendee(clinic_id: int) -> tuple[int, int]:
    row = apps.get_model("care.GroupAttendance").objects.filter(group_session__clinic_id=clinic_id)
    return row.values_list("group_session_id", "patient_id").order_by("pk").first()


def _of_patient(model: str) -> Callable[[int], tuple[int, int]]:
    def pick(clinic_id: int) -> tuple[int, int]:
        rows = apps.get_model(model).objects.filter(patient__clinic_id=clinic_id)
        return rows.values_list("patient_id", "pk").order_by("pk").first()

    return pick


def _of_session(model: str) -> Callable[[int], tuple[int, int]]:
    def pick(clinic_id: int) -> tuple[int, int]:
        rows = apps.get_model(model).objects.filter(session__clinic_id=clinic_id)
        return rows.values_list("session_id", "pk").order_by("pk").first()

    return pick


#: Routes with two record ids: (outer, inner) of one clinic that belong together.
NESTED: dict[tuple[str, str], Callable[[int], tuple[int, int]]] = {
    ("patient_id", "measurement_id"): _of_patient("patients.BodyMeasurement"),
    ("patient_id", "diagnosis_id"): _of_patient("patients.Diagnosis"),
    ("patient_id", "liver_test_id"): _of_patient("patients.LiverTest"),
    ("group_id", "patient_id"): _attendee,
    ("session_id", "observation_id"): _of_session("monitoring.Observation"),
}

PARAM = re.compile(r"[<{](?:(\w+):)?(\w+)[>}]")


def path_params(route: str) -> list[tuple[str, str]]:
    return [(m.group(1) or "", m.group(2)) for m in PARAM.finditer(route)]


def fill(route: str, ids: dict[str, int]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(2)
        return str(ids[name]) if name in ids else VALUES[name]

    filled = PARAM.sub(value, route)
    return filled if filled.startswith("/") else "/" + filled


def id_params(route: str) -> list[str]:
    return [name for converter, name in path_params(route) if name.endswith("_id")]


def _access(view) -> object:
    return getattr(view, "kapstone_access", None)


WEB = [
    (route, name, _access(view))
    for route, name, view in ROUTES
    if id_params(route) and _access(view) not in (PUBLIC, PATIENT, AUTHENTICATED)
]
API = [
    (path, method, _access(op.view_func))
    for path, op in OPERATIONS
    if id_params(path)
    for method in op.methods
]


def test_every_path_parameter_is_known():
    """A new kind of record id (or another path parameter) must be described above."""
    unknown = set()
    for route, _, _ in ROUTES:
        unknown |= {n for _, n in path_params(route) if n not in RECORDS and n not in VALUES}
    for path, _ in OPERATIONS:
        unknown |= {n for _, n in path_params(path) if n not in RECORDS and n not in VALUES}
    assert not unknown, f"describe these path parameters in RECORDS or VALUES: {sorted(unknown)}"
    for route, name, _ in WEB:
        ids = id_params(route)
        assert len(ids) == 1 or tuple(ids) in NESTED, f"{name}: say in NESTED how {ids} belong together"
    assert len(WEB) >= 60 and len(API) >= 20


# --- Request bodies for the API (a body must pass the schema for the record to be looked up) ---

NOW = datetime(2026, 1, 5, 10, 0)
SCHEMA = api.get_openapi_schema(path_prefix="")


def _resolve(schema: dict) -> dict:
    while "$ref" in schema:
        schema = SCHEMA["components"]["schemas"][schema["$ref"].rsplit("/", 1)[1]]
    if "allOf" in schema and len(schema["allOf"]) == 1:
        return _resolve(schema["allOf"][0])
    if "anyOf" in schema:
        return _resolve(next(s for s in schema["anyOf"] if s.get("type") != "null"))
    return schema


def example(schema: dict):
    """A value that passes ``schema`` (required fields only): the lookup happens after it."""
    schema = _resolve(schema)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind, fmt = schema.get("type"), schema.get("format")
    if kind == "object":
        properties = schema.get("properties", {})
        return {name: example(properties[name]) for name in schema.get("required", [])}
    if kind == "array":
        return [example(schema["items"]) for _ in range(schema.get("minItems", 0))]
    if kind == "string":
        if fmt == "date":
            return (NOW.date() - timedelta(days=1)).isoformat()
        if fmt == "date-time":
            return (NOW - timedelta(hours=1)).isoformat() + "Z"
        return "x" * max(1, schema.get("minLength", 1))
    if kind == "integer":
        return max(1, schema.get("minimum", 1))
    if kind == "number":
        return max(1, schema.get("minimum", 1))
    if kind == "boolean":
        return True
    return "x"


def body_for(path: str, method: str) -> str:
    operation = SCHEMA["paths"][re.sub(r"\{\w+:(\w+)\}", r"{\1}", path)][method.lower()]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    return json.dumps(example(content["schema"])) if content else ""


# --- The walk ---------------------------------------------------------------------------------

ROLE_ORDER = (Role.PRESCRIBER, Role.NURSE, Role.ADMIN, Role.THERAPIST, Role.RESEARCHER)


def _role_for(access) -> str:
    return next(role for role in ROLE_ORDER if role in access)


class Walk:
    def __init__(self) -> None:
        self.home = Clinic.objects.get(slug="north")
        self.other = Clinic.objects.get(slug="river")
        self.web_clients: dict[str, Client] = {}
        self.api_clients: dict[str, Api] = {}
        self.failures: list[str] = []

    def user(self, role: str) -> User:
        return User.objects.get(username=f"{role}.north")

    def web(self, role: str) -> Client:
        if role not in self.web_clients:
            self.web_clients[role] = verified_client(self.user(role))
        return self.web_clients[role]

    def api(self, role: str) -> Api:
        if role not in self.api_clients:
            self.api_clients[role] = Api(self.user(role))
        return self.api_clients[role]

    def record_of(self, param: str, clinic: Clinic) -> int:
        kind = RECORDS[param]
        pk = (
            apps.get_model(kind.model)
            .objects.filter(**{kind.clinic: clinic.pk})
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        assert pk is not None, f"the demo has no {kind.object_type} in {clinic.slug}"
        return pk

    def cases(self, route: str) -> list[tuple[dict[str, int], list[str]]]:
        """(ids, the params that may name the other clinic's record in the denied row)."""
        ids = id_params(route)
        if len(ids) == 1:
            return [({ids[0]: self.record_of(ids[0], self.other)}, ids)]
        outer, inner = ids
        theirs = NESTED[(outer, inner)](self.other.pk)
        ours = NESTED[(outer, inner)](self.home.pk)
        return [
            # Both of the other clinic: whichever the route looks up first is denied.
            ({outer: theirs[0], inner: theirs[1]}, [outer, inner]),
            # Their record under our own: the inner one is denied.
            ({outer: ours[0], inner: theirs[1]}, [inner]),
        ]

    def check(self, label: str, send: Callable[[str], object], route: str, normalise) -> bool:
        """Returns False when the method is not allowed (nothing to check)."""
        any_checked = False
        for ids, params in self.cases(route):
            missing_ids = {**ids, **dict.fromkeys(params, MISSING_ID)}
            missing_url, theirs_url = fill(route, missing_ids), fill(route, ids)
            mark = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            missing = send(missing_url)
            if missing.status_code == 405:
                continue
            any_checked = True
            denied_missing = AuditEvent.objects.filter(pk__gt=mark, action="denied").count()
            mark = AuditEvent.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
            theirs = send(theirs_url)
            denied = list(
                AuditEvent.objects.filter(pk__gt=mark, action="denied").values_list(
                    "object_type", "object_id", "outcome", "clinic_id"
                )
            )
            where = f"{label} {theirs_url}"
            if missing.status_code != 404 or theirs.status_code != 404:
                self.failures.append(f"{where}: {theirs.status_code} (missing id: {missing.status_code})")
                continue
            if normalise(missing, missing_url) != normalise(theirs, theirs_url):
                self.failures.append(f"{where}: the body differs from a missing id's")
            if denied_missing:
                self.failures.append(f"{where}: a missing id wrote {denied_missing} denied rows")
            expected = [(RECORDS[p].object_type, str(ids[p]), "denied", self.other.pk) for p in params]
            if len(denied) != 1 or denied[0] not in expected:
                self.failures.append(f"{where}: denied rows {denied}, expected one of {expected}")
        return any_checked


def _web_body(response, url: str) -> bytes:
    return without_csrf(response.content).replace(url.encode(), b"URL")


def _api_body(response, url: str) -> bytes:
    return response.content


def test_another_clinics_record_is_a_missing_one_and_the_attempt_is_audited():
    seed_demo(patients_per_clinic=6, follow_up_per_protocol=1)
    walk = Walk()
    for route, name, access in WEB:
        role = _role_for(access)
        client = walk.web(role)
        checked = [
            walk.check(f"{method.upper()} {name} as {role}", getattr(client, method), route, _web_body)
            for method in ("get", "post")
        ]
        if not any(checked):
            walk.failures.append(f"{name}: neither GET nor POST is allowed")
    for path, method, access in API:
        role = _role_for(access)
        client = walk.api(role)
        body = body_for(path, method)

        def send(url: str, method=method, body=body, client=client):
            return client.client.generic(
                method, "/api/v1" + url, data=body, content_type="application/json", **client.headers
            )

        if not walk.check(f"{method} {path} as {role}", send, path, _api_body):
            walk.failures.append(f"{method} {path}: not allowed")
    assert not walk.failures, "\n".join(walk.failures)


def test_a_missing_id_and_another_clinics_id_are_told_apart_only_in_the_audit_trail():
    """The helper itself: same exception, same message; only the audit trail differs."""
    from django.http import Http404

    from kapstone.accounts.access import PATIENT_READ, scoped_get
    from kapstone.patients.models import Patient

    seed_demo(patients_per_clinic=1, follow_up_per_protocol=1)
    user = User.objects.get(username="nurse.north")
    theirs = Patient.objects.filter(clinic__slug="river").order_by("pk").first()
    raised = []
    for pk in (MISSING_ID, theirs.pk):
        before = AuditEvent.objects.filter(action="denied").count()
        with pytest.raises(Http404) as caught:
            scoped_get(
                Patient.objects.all(), pk, user=user, roles=PATIENT_READ, object_type="patient", patient="id"
            )
        raised.append((str(caught.value), AuditEvent.objects.filter(action="denied").count() - before))
    assert raised == [("Not found.", 0), ("Not found.", 1)]
    row = AuditEvent.objects.filter(action="denied").latest("pk")
    assert (row.actor_id, row.object_type, row.object_id, row.patient_id, row.clinic_id, row.detail) == (
        user.pk,
        "patient",
        str(theirs.pk),
        theirs.pk,
        theirs.clinic_id,
        {},
    )
