"""``kapstone score`` run as a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.cli.runner import run_kapstone, run_kapstone_process

ENV = {**os.environ, "KAPSTONE_DEV": "1"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_kapstone("score", *args)


def test_runs_as_a_real_process():
    """The console entry point itself, once, in a separate interpreter."""
    result = run_kapstone_process("score", "--help")
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout


def test_phq9_with_item_9_above_0_is_flagged():
    result = run("phq-9", "--answers", "1,2,1,2,1,2,1,0,1", "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert list(payload) == ["instrument", "total", "band", "flags"]
    assert payload == {"instrument": "phq-9", "total": 11, "band": "moderate", "flags": ["self-harm-risk"]}


def test_audit_c_uses_the_sex_specific_cut_off():
    women = json.loads(run("audit-c", "--answers", "1,1,1", "--sex", "female", "--json").stdout)
    men = json.loads(run("audit-c", "--answers", "1,1,1", "--sex", "male", "--json").stdout)
    assert (women["band"], men["band"]) == ("positive", "negative")


def test_pacs_has_null_band_and_spaces_are_tolerated():
    payload = json.loads(run("pacs", "--answers", "6, 6, 6, 6, 6", "--json").stdout)
    assert payload == {"instrument": "pacs", "total": 30, "band": None, "flags": []}


def test_text_output_names_total_band_and_flags():
    result = run("dast-10", "--answers", "0,0,0,0,0,0,0,0,0,0")
    assert result.returncode == 0
    assert "dast-10: total 1 (low); flags: none" in result.stdout


@pytest.mark.parametrize(
    ("args", "code", "field"),
    [
        (["phq9", "--answers", "0"], "unknown_instrument", "instrument"),
        (["gad-7", "--answers", "0,0,0"], "wrong_answer_count", "answers"),
        (["audit", "--answers", "0,0,0,0,0,0,0,0,3,0"], "answer_out_of_range", "answers[8]"),
        (["gad-7", "--answers=-1,0,0,0,0,0,0"], "answer_out_of_range", "answers[0]"),
        (["gad-7", "--answers", "0,x,0,0,0,0,0"], "invalid_answer", "answers[1]"),
        (["gad-7", "--answers", "0,,0,0,0,0,0"], "invalid_answer", "answers[1]"),
        (["audit-c", "--answers", "1,1,1"], "sex_required", "sex"),
    ],
)
def test_invalid_input_exits_2_with_the_error_object(args, code, field):
    result = run(*args, "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]


def test_out_of_range_message_names_the_item_number():
    error = json.loads(run("phq-9", "--answers", "0,0,0,0,0,0,0,0,4", "--json").stdout)["error"]
    assert "item 9" in error["message"]


def test_missing_answers_and_bad_sex_are_argument_errors():
    for args in (["phq-9"], ["audit-c", "--answers", "1,1,1", "--sex", "other"]):
        result = run(*args, "--json")
        assert result.returncode == 2
        assert json.loads(result.stdout)["error"]["code"] == "invalid_arguments"


def test_text_mode_error_goes_to_stderr():
    result = run("audit-c", "--answers", "1,1,1")
    assert result.returncode == 2 and "sex_required" in result.stderr
