"""The portal API of a patient's own outcomes: /api/v1/portal/questionnaires, /use-days, /progress.

Contracts (keys exactly), refusals with the CLI's codes and nothing written, a token from
``kapstone token create <patient>`` works, staff tokens get 403, and a patient only ever reaches
their own record."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command

from kapstone.audit.models import AuditEvent
from kapstone.outcomes.models import ClinicalFlag, QuestionnaireResponse, UseDay
from kapstone.outcomes.services import questionnaire_record, use_days_record
from kapstone.patients.services import clinic_today
from tests.api.test_patients_api import Api, error_of
from tests.portal.outcome_fixtures import PHQ9_CALM, PHQ9_ITEM9, row_counts

pytestmark = pytest.mark.django_db

OPERATIONS = [
    ("post", "/portal/questionnaires", {"instrument": "phq-9", "answers": PHQ9_CALM}),
    ("post", "/portal/use-days", {"substance": "alcohol", "days": []}),
    ("get", "/portal/progress", None),
]


def call(api: Api, method: str, path: str, body):
    return api.post(path, body) if method == "post" else api.get(path)


# --- Access --------------------------------------------------------------------------------------


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS)
def test_a_token_is_required(method, path, body):
    response = call(Api(), method, path, body)
    assert response.status_code == 401 and error_of(response)["code"] == "unauthorized"


@pytest.mark.parametrize(("method", "path", "body"), OPERATIONS)
@pytest.mark.parametrize("role", ["alice", "nina", "terry", "adam", "bob"])
def test_staff_tokens_are_refused_before_the_body_is_read(method, path, body, role, request, patient_a):
    user = request.getfixturevalue(role)
    before = row_counts()
    response = call(Api(user), method, path, body)
    assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
    assert b"Zzyzxfield" not in response.content
    # Even with a body the schema would refuse: the access check comes first.
    if method == "post":
        assert Api(user).post(path, {"nonsense": 1}).status_code == 403
    assert row_counts() == before
    assert AuditEvent.objects.filter(actor=user, outcome="denied", object_type="api").exists()


def test_a_token_from_the_command_line_works(pat, pat_course):
    out = StringIO()
    call_command("token", "create", pat.username, stdout=out)
    response = Api(token=out.getvalue().strip()).get("/portal/progress")
    assert response.status_code == 200


def test_a_disabled_account_is_refused(pat, nina):
    from kapstone.portal.patient_services import portal_account_disable

    api = Api(pat)
    portal_account_disable(actor=nina, account=pat.patient_account, reason="Left the programme")
    assert api.get("/portal/progress").status_code == 401  # its tokens are revoked


# --- Questionnaires ------------------------------------------------------------------------------


def test_a_calm_phq9_has_no_crisis_key(pat, pat_course, patient_a):
    response = Api(pat).post("/portal/questionnaires", {"instrument": "phq-9", "answers": PHQ9_CALM})
    assert response.status_code == 201, response.content
    body = response.json()
    assert set(body) == {"id", "total", "band", "flags"}
    assert (body["total"], body["band"], body["flags"]) == (3, "minimal", [])
    saved = QuestionnaireResponse.objects.get(pk=body["id"])
    assert saved.source == "patient" and saved.patient_id == patient_a.pk and saved.time_point_months == 0
    event = AuditEvent.objects.get(object_type="questionnaire_response", object_id=str(body["id"]))
    assert event.actor_id == pat.pk


def test_phq9_item_9_answers_with_crisis_help_and_opens_the_alert(pat, pat_course, patient_a):
    response = Api(pat).post("/portal/questionnaires", {"instrument": "phq-9", "answers": PHQ9_ITEM9})
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "total", "band", "flags", "crisis"}
    assert body["flags"] == ["self-harm-risk"]
    assert set(body["crisis"]) == {"message", "phone"} and body["crisis"]["phone"] == "988"
    assert "988" in body["crisis"]["message"] and "911" in body["crisis"]["message"]
    flag = ClinicalFlag.objects.get(response_id=body["id"])
    assert flag.patient_id == patient_a.pk and flag.clinic_id == patient_a.clinic_id


def test_a_pacs_has_no_band(pat, pat_course):
    body = Api(pat).post("/portal/questionnaires", {"instrument": "pacs", "answers": [1, 2, 3, 4, 5]}).json()
    assert (body["total"], body["band"]) == (15, None)


@pytest.mark.parametrize(
    ("body", "code", "field"),
    [
        ({"instrument": "bdi", "answers": [0]}, "unknown_instrument", "instrument"),
        ({"instrument": "phq-9", "answers": [0] * 8}, "wrong_answer_count", "answers"),
        ({"instrument": "phq-9", "answers": [0] * 8 + [4]}, "answer_out_of_range", "answers[8]"),
        ({"instrument": "phq-9", "answers": [0] * 8 + ["x"]}, "invalid_answer", "answers[8]"),
        ({"instrument": "phq-9", "answers": "000000000"}, "invalid_answers", "answers"),
        ({"instrument": "audit", "answers": [0] * 8 + [1, 0]}, "answer_out_of_range", "answers[8]"),
        ({"instrument": "dast-10", "answers": [0] * 10}, "not_a_patient_instrument", "instrument"),
        ({"instrument": "phq-9", "answers": PHQ9_CALM, "sex": "male"}, "unknown_field", "sex"),
        ({"instrument": "phq-9", "answers": PHQ9_CALM, "patient_id": 1}, "unknown_field", "patient_id"),
    ],
)
def test_questionnaire_refusals_write_nothing(pat, pat_course, body, code, field):
    before = row_counts()
    response = Api(pat).post("/portal/questionnaires", body)
    assert response.status_code == 422
    assert (error_of(response)["code"], error_of(response)["field"]) == (code, field)
    assert row_counts() == before


def test_audit_c_without_a_sex_on_record_is_refused(nina, alice, clinic_a):
    from tests.conftest import new_patient
    from tests.portal.outcome_fixtures import open_account

    patient = new_patient(alice, clinic_a, mrn="A-9", sex_at_birth="intersex")
    user = open_account(nina, patient, "i@example.org")
    response = Api(user).post("/portal/questionnaires", {"instrument": "audit-c", "answers": [1, 1, 1]})
    assert response.status_code == 422 and error_of(response)["code"] == "sex_required"
    assert QuestionnaireResponse.objects.count() == 0


# --- Use days ------------------------------------------------------------------------------------


def test_use_days_store_the_patients_days(pat, pat_course, patient_a):
    today = clinic_today(patient_a.clinic)
    body = {
        "substance": "Alcohol",
        "days": [
            {"day": (today - timedelta(days=2)).isoformat(), "standard_drinks": 2.5},
            {"day": (today - timedelta(days=1)).isoformat()},  # not remembered
            {"day": today.isoformat(), "standard_drinks": 0},
        ],
    }
    response = Api(pat).post("/portal/use-days", body)
    assert response.status_code == 201, response.content
    assert response.json() == {"substance": "alcohol", "days_given": 3, "stored": 2, "not_remembered": 1}
    rows = list(UseDay.objects.order_by("day"))
    assert [(r.day, str(r.standard_drinks), r.source) for r in rows] == [
        (today - timedelta(days=2), "2.5", "patient"),
        (today, "0.0", "patient"),
    ]
    event = AuditEvent.objects.filter(object_type="use_calendar").latest("id")
    assert event.actor_id == pat.pk and event.patient_id == patient_a.pk and event.detail["days_written"] == 2
    # The same days again write nothing.
    again = Api(pat).post("/portal/use-days", body).json()
    assert again["stored"] == 0 and UseDay.objects.count() == 2


def test_other_substances_take_used(pat, pat_course, patient_a):
    today = clinic_today(patient_a.clinic)
    response = Api(pat).post(
        "/portal/use-days", {"substance": "cocaine", "days": [{"day": today.isoformat(), "used": True}]}
    )
    assert response.status_code == 201 and response.json()["stored"] == 1
    assert UseDay.objects.get().used


@pytest.mark.parametrize(
    ("days", "code", "field"),
    [
        ([{"day": "+1", "standard_drinks": 0}], "day_out_of_range", "days[0].day"),
        ([{"day": "-11", "standard_drinks": 0}], "day_out_of_range", "days[0].day"),  # before the course
        ([{"day": "-31"}], "day_out_of_range", "days[0].day"),  # even "not remembered"
        ([{"day": "0", "standard_drinks": 0}, {"day": "0"}], "duplicate_day", "days[1].day"),
        ([{"day": "0", "used": True}], "drinks_required", "days[0].standard_drinks"),
        ([{"day": "0", "standard_drinks": 100}], "invalid_value", "days.0.standard_drinks"),
        ([{"day": "0", "standard_drinks": 1.25}], "invalid_value", "days.0.standard_drinks"),
        ([{"day": "0", "standard_drinks": -1}], "invalid_value", "days.0.standard_drinks"),
        ([{"day": "0", "amount": 3}], "unknown_field", "days.0.amount"),
        ([], "no_days", "days"),
    ],
)
def test_use_day_refusals_write_nothing(pat, pat_course, patient_a, days, code, field):
    today = clinic_today(patient_a.clinic)

    def when(offset: str) -> str:
        return (today + timedelta(days=int(offset))).isoformat()

    body = {"substance": "alcohol", "days": [{**d, "day": when(d["day"])} for d in days]}
    before = row_counts()
    response = Api(pat).post("/portal/use-days", body)
    assert response.status_code == 422, response.content
    assert (error_of(response)["code"], error_of(response)["field"]) == (code, field)
    assert row_counts() == before


def test_a_patient_cannot_overwrite_the_clinics_day(pat, pat_course, patient_a, nina):
    today = clinic_today(patient_a.clinic)
    use_days_record(
        actor=nina, patient=patient_a, substance="alcohol", days=[{"day": today, "standard_drinks": 5}]
    )
    response = Api(pat).post(
        "/portal/use-days",
        {
            "substance": "alcohol",
            "days": [
                {"day": (today - timedelta(days=1)).isoformat()},
                {"day": today.isoformat(), "standard_drinks": 0},
            ],
        },
    )
    assert response.status_code == 422
    assert (error_of(response)["code"], error_of(response)["field"]) == (
        "day_recorded_by_clinic",
        "days[1].day",
    )
    assert UseDay.objects.get().standard_drinks == 5


# --- Progress ------------------------------------------------------------------------------------


def test_progress_is_the_patients_own(pat, quinn, rhea, pat_course, patient_a, nina):
    today = clinic_today(patient_a.clinic)
    questionnaire_record(actor=nina, patient=patient_a, instrument="phq-9", answers=[2] * 9)
    questionnaire_record(
        actor=pat, patient=patient_a, instrument="phq-9", answers=PHQ9_CALM, source="patient"
    )
    questionnaire_record(actor=nina, patient=patient_a, instrument="dast-10", answers=[0] * 10)  # staff-only
    use_days_record(
        actor=pat,
        patient=patient_a,
        substance="alcohol",
        days=[{"day": today, "standard_drinks": 0}, {"day": today - timedelta(days=1), "standard_drinks": 4}],
        source="patient",
    )
    response = Api(pat).get("/portal/progress")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"questionnaires", "days_without_use"}
    assert body["questionnaires"] == [
        {
            "instrument": "phq-9",
            "points": [{"date": today.isoformat(), "total": 18}, {"date": today.isoformat(), "total": 3}],
        }
    ]
    months = body["days_without_use"]
    assert all(set(m) == {"substance", "month", "days_reported", "days_without_use"} for m in months)
    assert sum(m["days_reported"] for m in months) == 2 and sum(m["days_without_use"] for m in months) == 1
    assert (
        AuditEvent.objects.filter(object_type="portal_progress", actor=pat, patient_id=patient_a.pk).count()
        == 1
    )
    for other in (quinn, rhea):
        assert Api(other).get("/portal/progress").json() == {"questionnaires": [], "days_without_use": []}
