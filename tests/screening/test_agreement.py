"""Web, API and CLI give one decision for one answer set: all three call check_eligibility."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse

from kapstone.screening.models import Screening
from tests.screening.conftest import Api, clean_answers, form_data

pytestmark = pytest.mark.django_db

ANSWER_SETS = [
    clean_answers(),
    clean_answers(maoi_use=True, stimulant_use=True, systolic_bp=150, diastolic_bp=85),
    clean_answers(intoxicated_now=True, cns_depressant_use=True, systolic_bp=181, diastolic_bp=95),
    clean_answers(pregnant=True, current_mania=True, age_years=17, systolic_bp=200, diastolic_bp=120),
]


def cli_screen(tmp_path: Path, answers: dict) -> dict:
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"answers": answers}), encoding="utf-8")
    out = StringIO()
    call_command("screen", str(path), "--json", stdout=out)
    return json.loads(out.getvalue())


def codes(reasons: list[dict]) -> list[str]:
    return [reason["code"] for reason in reasons]


@pytest.mark.parametrize(
    "answers", ANSWER_SETS, ids=lambda a: "-".join(k for k, v in a.items() if v is True) or "clean"
)
def test_web_api_and_cli_agree(tmp_path, as_user, nina, patient_a, answers):
    cli = cli_screen(tmp_path, answers)

    api = Api(nina).post(f"/patients/{patient_a.pk}/screenings", {"answers": answers})
    assert api.status_code == 201, api.content
    api_body = api.json()

    web = as_user(nina).post(reverse("screening:new", args=[patient_a.pk]), form_data(**answers))
    assert web.status_code == 302
    web_screening = Screening.objects.filter(patient=patient_a).order_by("-entered_at", "-id").first()
    assert web_screening.pk != api_body["id"]

    assert api_body["decision"] == cli["decision"] == web_screening.decision
    assert codes(api_body["reasons"]) == codes(cli["reasons"]) == codes(web_screening.reasons)
    assert api_body["reasons"] == cli["reasons"] == web_screening.reasons  # messages and sources too


def test_the_cli_refuses_what_the_api_refuses(tmp_path, nina, patient_a):
    answers = clean_answers(systolic_bp=100, diastolic_bp=100)
    path = tmp_path / "answers.json"
    path.write_text(json.dumps({"answers": answers}), encoding="utf-8")
    out = StringIO()
    with pytest.raises(CommandError) as cli_refusal:
        call_command("screen", str(path), "--json", stdout=out)
    assert cli_refusal.value.returncode == 2
    cli_error = json.loads(out.getvalue())["error"]
    api = Api(nina).post(f"/patients/{patient_a.pk}/screenings", {"answers": answers})
    assert api.status_code == 422
    assert api.json()["error"] == cli_error
    assert Screening.objects.count() == 0
