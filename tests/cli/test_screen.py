"""``kapstone screen FILE.json`` run as a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from kapstone.domain.screening import BOOLEAN_ANSWERS, check_eligibility
from tests.cli.runner import run_kapstone, run_kapstone_process

ENV = {**os.environ, "KAPSTONE_DEV": "1"}


def clean_answers(**overrides: Any) -> dict[str, Any]:
    answers: dict[str, Any] = dict.fromkeys(BOOLEAN_ANSWERS, False)
    answers.update(systolic_bp=120, diastolic_bp=80, age_years=40)
    answers.update(overrides)
    return answers


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_kapstone("screen", *args)


def test_runs_as_a_real_process():
    """The console entry point itself, once, in a separate interpreter."""
    result = run_kapstone_process("screen", "--help")
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout


def write(tmp_path: Path, payload: Any, name: str = "answers.json") -> str:
    path = tmp_path / name
    path.write_text(payload if isinstance(payload, str) else json.dumps(payload), encoding="utf-8")
    return str(path)


def test_json_output_matches_the_domain(tmp_path: Path) -> None:
    answers = clean_answers(maoi_use=True, systolic_bp=150)
    result = run(write(tmp_path, {"answers": answers}), "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload == check_eligibility(answers).as_dict()
    assert payload["decision"] == "needs_review"
    assert [r["code"] for r in payload["reasons"]] == ["maoi_use", "blood_pressure_elevated"]
    assert set(payload["reasons"][0]) == {"code", "severity", "message", "source"}


def test_protocol_applies_kares_own_criteria(tmp_path: Path) -> None:
    kare = {
        "psychosis_family_history": False, "suicidal_ideation_current": False, "antidepressant_use": False,
        "detoxifications_count": 11, "bdi_ii_total": 20, "bmi_kg_m2": "24.0",
        "liver_tests_within_3x_uln": "yes", "urine_drug_screen": "negative",
    }  # fmt: skip
    path = write(tmp_path, {"answers": clean_answers(**kare)})
    general = json.loads(run(path, "--json").stdout)
    assert general == {"decision": "eligible", "reasons": []}
    result = run(path, "--protocol", "kare-alcohol-grabski-2022", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["decision"] == "ineligible"
    assert [r["code"] for r in payload["reasons"]] == ["protocol_too_many_detoxifications"]
    missing = run(write(tmp_path, {"answers": clean_answers()}, "general.json"), "--protocol",
                  "kare-alcohol-grabski-2022", "--json")  # fmt: skip
    assert missing.returncode == 2
    assert json.loads(missing.stdout)["error"]["code"] == "missing_answer"
    unknown = run(path, "--protocol", "nope", "--json")
    assert unknown.returncode == 2 and json.loads(unknown.stdout)["error"]["code"] == "unknown_protocol"


def test_eligible_answers(tmp_path: Path) -> None:
    result = run(write(tmp_path, {"answers": clean_answers()}), "--json")
    assert result.returncode == 0
    assert json.loads(result.stdout) == {"decision": "eligible", "reasons": []}


def test_text_output_has_decision_and_one_line_per_reason(tmp_path: Path) -> None:
    result = run(write(tmp_path, {"answers": clean_answers(pregnant=True, intoxicated_now=True)}))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines[0] == "decision: ineligible"
    assert len(lines) == 3
    assert lines[1].startswith("- pregnancy (absolute):")
    assert lines[2].startswith("- intoxication (defer):")


def error_of(result: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert result.returncode == 2, (result.stdout, result.stderr)
    return json.loads(result.stdout)["error"]


@pytest.mark.parametrize(
    ("content", "code", "field"),
    [
        ("{not json", "invalid_json", "file"),
        ('{"answers": NaN}', "invalid_json", "file"),
        ("[]", "missing_answers", "answers"),
        ('{"other": {}}', "missing_answers", "answers"),
        ('{"answers": []}', "invalid_answer", "answers"),
    ],
)
def test_refuses_malformed_files(tmp_path: Path, content: str, code: str, field: str) -> None:
    error = error_of(run(write(tmp_path, content), "--json"))
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]


def test_refuses_unreadable_file(tmp_path: Path) -> None:
    error = error_of(run(str(tmp_path / "missing.json"), "--json"))
    assert (error["code"], error["field"]) == ("file_unreadable", "file")
    error = error_of(run(str(tmp_path), "--json"))
    assert error["code"] == "file_unreadable"
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"answers": "\xe9"}')
    assert error_of(run(str(path), "--json"))["code"] == "file_unreadable"


@pytest.mark.parametrize(
    ("answers", "code", "field"),
    [
        ({k: v for k, v in clean_answers().items() if k != "pregnant"}, "missing_answer", "pregnant"),
        (clean_answers(pregnant="no"), "invalid_answer", "pregnant"),
        (clean_answers(age_years=True), "invalid_answer", "age_years"),
        (clean_answers(shoe_size=42), "unknown_answer", "shoe_size"),
        (clean_answers(systolic_bp=400), "implausible_value", "systolic_bp"),
        (clean_answers(diastolic_bp=130, systolic_bp=120), "implausible_value", "diastolic_bp"),
    ],
)
def test_domain_errors_exit_2_with_the_error_object(
    tmp_path: Path, answers: dict[str, Any], code: str, field: str
) -> None:
    error = error_of(run(write(tmp_path, {"answers": answers}), "--json"))
    assert (error["code"], error["field"]) == (code, field)


def test_text_mode_error_goes_to_stderr_with_exit_2(tmp_path: Path) -> None:
    result = run(write(tmp_path, "{not json"))
    assert result.returncode == 2
    assert "invalid_json" in result.stderr
    assert result.stdout == ""


def test_missing_file_argument_is_refused_as_json() -> None:
    error = error_of(run("--json"))
    assert error["code"] == "invalid_arguments"
