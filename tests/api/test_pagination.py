"""Every list of the API is paged with ``limit`` and ``offset`` and says how many rows there are
(issue 15: the audit events stopped silently at 500 rows).

A list answers ``{"items": [...], "count": N}`` in its documented order; the two lists whose bare
array an issue pins (the session's alerts, issue 5; the referral queue, issue 12) keep the array
and give the total in the ``X-Total-Count`` header. docs/api.md, "Lists".
"""

from __future__ import annotations

from pathlib import Path

import pytest
from ninja.errors import ConfigError

from kapstone.accounts.api_kit import PAGE_LIMIT_DEFAULT, PAGE_LIMIT_MAX, paginated
from kapstone.audit.models import AuditEvent
from kapstone.audit.services import audit_record
from kapstone.forms import RECORD_ID_MAX
from kapstone.portal.services import referral_submit
from tests.api.test_patients_api import Api, error_of
from tests.conftest import new_patient
from tests.portal.conftest import CONTACT, answers

pytestmark = pytest.mark.django_db

#: Lists whose bare JSON array an issue pins: paged, with the total in a header.
PINNED_ARRAYS = {"/api/v1/sessions/{session_id}/alerts", "/api/v1/referrals"}


#: (minimum, maximum, default) of the two query parameters of every list.
LIMIT_BOUNDS = (1, PAGE_LIMIT_MAX, PAGE_LIMIT_DEFAULT)
OFFSET_BOUNDS = (0, RECORD_ID_MAX, 0)


@pytest.fixture
def document(client):
    return client.get("/api/v1/openapi.json").json()


def _list_operations(document):
    """GET operations whose success is a list, paged or not."""
    components = document["components"]["schemas"]
    for path, methods in document["paths"].items():
        operation = methods.get("get")
        if operation is None:
            continue
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        while "$ref" in schema:
            schema = components[schema["$ref"].rsplit("/", 1)[-1]]
        if schema.get("type") == "array" or {"items", "count"} <= set(schema.get("properties", {})):
            yield path, operation, schema


def test_every_list_is_paged(document):
    lists = list(_list_operations(document))
    assert len(lists) >= 11, [p for p, _, _ in lists]
    wrong = []
    for path, operation, schema in lists:
        query = {p["name"]: p["schema"] for p in operation.get("parameters", []) if p["in"] == "query"}
        for name, bounds in (("limit", LIMIT_BOUNDS), ("offset", OFFSET_BOUNDS)):
            schema_of = query.get(name, {})
            if tuple(schema_of.get(k) for k in ("minimum", "maximum", "default")) != bounds:
                wrong.append(f"{path}: {name} {schema_of}")
        if path in PINNED_ARRAYS:
            if schema.get("type") != "array":
                wrong.append(f"{path}: an issue pins a bare array")
            headers = operation["responses"]["200"].get("headers", {})
            if headers.get("X-Total-Count", {}).get("schema", {}).get("type") != "integer":
                wrong.append(f"{path}: the X-Total-Count header is not declared on its 200 answer")
        elif schema.get("type") == "array" or schema.get("required") != ["items", "count"]:
            wrong.append(
                f"{path}: answers {schema.get('type')} {schema.get('required')}, not items and count"
            )
    assert not wrong, "\n".join(wrong)


@pytest.fixture
def many_events(adam, clinic_a):
    """600 audit events of clinic A: more than the 500 the list used to stop at."""
    for number in range(600):
        audit_record(
            actor=adam, action="export", object_type="probe", object_id=number, clinic_id=clinic_a.pk
        )


def test_the_audit_events_go_past_500_page_by_page_newest_first(adam, many_events):
    api = Api(adam)
    first = api.get("/audit/events")
    assert first.status_code == 200
    body = first.json()
    assert set(body) == {"items", "count"}
    assert len(body["items"]) == PAGE_LIMIT_DEFAULT
    assert body["count"] >= 600  # the probes, and the token's creation
    assert set(body["items"][0]) == {"action", "actor", "object_type", "object_id", "patient_id", "at_utc"}
    # Each read of the trail is itself an event, at the top of the unfiltered list: page through
    # the exports, which reading does not add to (docs/api.md, "Lists").
    pages = [
        api.get("/audit/events", action="export", limit=PAGE_LIMIT_MAX, offset=o).json() for o in (0, 500)
    ]
    assert [p["count"] for p in pages] == [600, 600]
    assert [len(p["items"]) for p in pages] == [500, 100]
    probes = [int(e["object_id"]) for p in pages for e in p["items"]]
    assert probes == list(reversed(range(600)))  # every one, once, newest first


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": PAGE_LIMIT_MAX + 1}, "limit"),
        ({"limit": "all"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"offset": -1}, "offset"),
        ({"offset": str(RECORD_ID_MAX + 1)}, "offset"),
        ({"offset": "1e3"}, "offset"),
    ],
)
def test_a_page_out_of_range_is_refused_and_nothing_is_read(adam, params, field):
    api = Api(adam)
    before = AuditEvent.objects.count()
    response = api.get("/audit/events", **params)
    assert response.status_code == 422
    assert (error_of(response)["code"], error_of(response)["field"]) == ("invalid_value", field)
    assert AuditEvent.objects.count() == before  # not even the read of the trail


def test_a_page_beyond_the_end_is_empty_with_the_count(adam, nina, patient_a):
    response = Api(nina).get("/patients", offset=RECORD_ID_MAX)
    assert response.status_code == 200
    assert response.json() == {"items": [], "count": 1}


def test_patients_are_paged_in_name_order_and_the_read_is_audited(nina, clinic_a, alice):
    for mrn, family in (("A-3", "Cobb"), ("A-1", "Abbot"), ("A-2", "Baird")):
        new_patient(alice, clinic_a, mrn=mrn, family_name=family)
    api = Api(nina)
    first = api.get("/patients", limit=2).json()
    second = api.get("/patients", limit=2, offset=2).json()
    assert [p["family_name"] for p in first["items"]] == ["Abbot", "Baird"]
    assert [p["family_name"] for p in second["items"]] == ["Cobb"]
    assert first["count"] == second["count"] == 3
    read = AuditEvent.objects.filter(object_type="patient_list", actor=nina).order_by("-id").first()
    assert read.detail == {"searched": False, "returned": 1, "total": 3}


def test_sessions_are_paged_in_time_order_with_the_count(nina, course_a):
    sessions = Api(nina).get("/sessions").json()
    assert sessions["count"] == len(sessions["items"]) >= 3
    page = Api(nina).get("/sessions", limit=1, offset=1).json()
    assert page == {"items": [sessions["items"][1]], "count": sessions["count"]}


def test_every_list_answers_a_page(document, nina, adam, patient_a, course_a, profiles):
    """Each list operation, called with ``limit=1``: at most one row, and the count."""
    session = course_a.sessions.order_by("id").first()
    users = {"/api/v1/audit/events": adam, "/api/v1/inventory/lots": adam}
    for path, _, _ in _list_operations(document):
        url = path.replace("/api/v1", "").format(patient_id=patient_a.pk, session_id=session.pk)
        response = Api(users.get(path, nina)).get(url, limit=1)
        assert response.status_code == 200, (path, response.content)
        if path in PINNED_ARRAYS:
            assert isinstance(response.json(), list) and len(response.json()) <= 1
            assert int(response["X-Total-Count"]) >= len(response.json())
        else:
            body = response.json()
            assert set(body) == {"items", "count"}, (path, body)
            assert len(body["items"]) <= 1 and body["count"] >= len(body["items"]), (path, body)


def _refer(clinic, number):
    return referral_submit(
        clinic_id=clinic.pk,
        answers=answers(region="NY"),
        contact={"name": f"{CONTACT['name']} {number}", "email": CONTACT["email"]},
        consent_to_contact=True,
        address=f"192.0.2.{number}",
    )


def test_the_referral_queue_keeps_its_array_and_gives_the_total_in_a_header(nina, clinic_a, profiles):
    made = [_refer(clinic_a, n) for n in range(3)]
    api = Api(nina)
    everything = api.get("/referrals")
    assert [r["reference"] for r in everything.json()] == [r.reference for r in reversed(made)]
    assert everything["X-Total-Count"] == "3"
    page = api.get("/referrals", limit=2, offset=1)
    assert page.status_code == 200
    assert [r["reference"] for r in page.json()] == [made[1].reference, made[0].reference]
    assert page["X-Total-Count"] == "3"
    refused = api.get("/referrals", limit=0)
    assert refused.status_code == 422 and error_of(refused)["field"] == "limit"


def test_the_documentation_states_the_bounds():
    text = (Path(__file__).resolve().parents[2] / "docs" / "api.md").read_text(encoding="utf-8")
    assert f"`limit`: how many rows to answer, 1 to {PAGE_LIMIT_MAX} (default {PAGE_LIMIT_DEFAULT})" in text
    assert f"0 (the default) to {RECORD_ID_MAX}" in text
    for path in PINNED_ARRAYS:
        assert path.replace("{session_id}", "{id}") in text


def test_a_pinned_array_must_take_the_response_that_carries_its_count():
    def list_things(request):
        return []

    with pytest.raises(ConfigError, match="response: HttpResponse"):
        paginated(array=True)(list_things)
