"""``kapstone prescreen FILE.json``: the public pre-screen from the command line."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kapstone.domain.prescreen import assess_prescreen
from tests.cli.runner import run_kapstone, run_kapstone_process


def answers(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "age_years": 35,
        "substances": ["alcohol", "cocaine"],
        "pregnant_or_breastfeeding": False,
        "psychosis_history": False,
        "ketamine_allergy": False,
        "heart_or_bp_problem": False,
        "ketamine_misuse_history": False,
        "withdrawal_risk": False,
        "self_harm": "no",
        "region": "NY",
        "language": "es",
    }
    base.update(overrides)
    return base


def write(tmp_path: Path, payload: Any) -> str:
    path = tmp_path / "answers.json"
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload), encoding="utf-8")
    return str(path)


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_kapstone("prescreen", *args)


def error_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 2, (result.stdout, result.stderr)
    return json.loads(result.stdout)["error"]


def test_runs_as_a_real_process():
    result = run_kapstone_process("prescreen", "--help")
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout


def test_json_output_has_the_pinned_keys_and_matches_the_domain(tmp_path):
    given = answers(withdrawal_risk=True, self_harm="past")
    result = run(write(tmp_path, {"answers": given}), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert set(payload) == {"result", "crisis", "reasons"}
    assert payload == assess_prescreen(given).as_dict()
    assert payload["result"] == "needs_review" and payload["crisis"] is False
    assert [r["code"] for r in payload["reasons"]] == ["withdrawal_risk", "self_harm_past"]
    assert all(set(r) == {"code", "severity", "message"} for r in payload["reasons"])


def test_crisis_is_flagged(tmp_path):
    payload = json.loads(run(write(tmp_path, {"answers": answers(self_harm="now")}), "--json").stdout)
    assert (payload["result"], payload["crisis"]) == ("urgent_help", True)


def test_text_output(tmp_path):
    result = run(write(tmp_path, {"answers": answers(ketamine_allergy=True)}))
    assert result.returncode == 0
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "result: not_suitable"
    assert lines[1].startswith("- ketamine_allergy (exclusion):")
    clean = run(write(tmp_path, {"answers": answers()}))
    assert clean.stdout.strip().splitlines() == ["result: may_be_suitable", "no reason found in the answers"]


@pytest.mark.parametrize(
    ("payload", "code", "field"),
    [
        (
            {"answers": {k: v for k, v in answers().items() if k != "self_harm"}},
            "missing_answer",
            "self_harm",
        ),
        ({"answers": answers(age_years=200)}, "invalid_answer", "age_years"),
        ({"answers": answers(substances=["tea"])}, "invalid_answer", "substances"),
        ({"answers": answers(shoe_size=9)}, "unknown_answer", "shoe_size"),
        ("{broken", "invalid_json", "file"),
        ({"nothing": 1}, "missing_answers", "answers"),
    ],
)
def test_bad_input_exits_2_with_the_error_object(tmp_path, payload, code, field):
    error = error_of(run(write(tmp_path, payload), "--json"))
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]


def test_unreadable_file_and_missing_argument(tmp_path):
    assert error_of(run(str(tmp_path / "nope.json"), "--json"))["code"] == "file_unreadable"
    assert error_of(run("--json"))["code"] == "invalid_arguments"
