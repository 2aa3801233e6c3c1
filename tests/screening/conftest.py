"""Answer sets and shortcuts for the screening tests."""

from __future__ import annotations

import json
from typing import Any

from django.test import Client

from kapstone.accounts.services import api_token_create
from kapstone.domain.screening import BOOLEAN_ANSWERS
from kapstone.screening import services
from kapstone.screening.models import Screening, ScreeningSignOff

#: Overrides that lead to each decision from a clean answer set.
DECIDING = {
    "eligible": {},
    "needs_review": {"cns_depressant_use": True},
    "deferred": {"systolic_bp": 185, "diastolic_bp": 100},
    "ineligible": {"psychotic_disorder": True},
}


def clean_answers(**overrides: Any) -> dict[str, Any]:
    """A complete answer set that the rules find eligible, with ``overrides`` applied."""
    answers: dict[str, Any] = dict.fromkeys(BOOLEAN_ANSWERS, False)
    answers.update(systolic_bp=122, diastolic_bp=78, age_years=45)
    answers.update(overrides)
    return answers


def form_data(**overrides) -> dict[str, str]:
    """The answers as the browser posts them: yes/no and digits."""
    data = {}
    for name, value in clean_answers(**overrides).items():
        data[name] = ("yes" if value else "no") if isinstance(value, bool) else str(value)
    return data


def screen(actor, patient, decision: str = "eligible", **overrides: Any) -> Screening:
    """Record a screening through the service that decides ``decision``."""
    screening = services.screening_record(
        actor=actor, patient=patient, answers=clean_answers(**DECIDING[decision], **overrides)
    )
    assert screening.decision == decision
    return screening


def row_counts() -> tuple[int, int]:
    return Screening.objects.count(), ScreeningSignOff.objects.count()


class Api:
    """A JSON client for /api/v1 acting through a bearer token of ``user``."""

    def __init__(self, user=None) -> None:
        self.client = Client()
        self.headers = {}
        if user is not None:
            _, token = api_token_create(actor=None, user=user)
            self.headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"}

    def post(self, path: str, body: Any, raw: bool = False):
        data = body if raw else json.dumps(body)
        return self.client.post("/api/v1" + path, data=data, content_type="application/json", **self.headers)


def error_of(response) -> dict[str, Any]:
    """The one error shape: {"error": {"code", "message", "field"}}."""
    body = response.json()
    assert set(body) == {"error"}, body
    assert set(body["error"]) == {"code", "message", "field"}, body
    return body["error"]
