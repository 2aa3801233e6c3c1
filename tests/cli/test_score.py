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


# --- CIWA-Ar, COWS and the C-SSRS screener (issue 14) ---------------------------------------------


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["c-ssrs", "--answers", "1,1,0,0,0,2"],
            {
                "instrument": "c-ssrs",
                "total": 3,
                "band": "high",
                "flags": ["self-harm-risk", "suicide-risk-high"],
            },
        ),
        (
            ["c-ssrs", "--answers", "1,0,0,0,0,1"],
            {"instrument": "c-ssrs", "total": 2, "band": "moderate", "flags": ["self-harm-risk"]},
        ),
        (
            ["c-ssrs", "--answers", "0,0,0,0,0,0"],
            {"instrument": "c-ssrs", "total": 0, "band": "none", "flags": []},
        ),
        (
            ["cows", "--answers", "4,4,5,5,4,4,5,4,4,4,5"],
            {"instrument": "cows", "total": 48, "band": "severe", "flags": []},
        ),
        (
            ["cows", "--answers", "4,4,5,0,0,0,0,0,0,0,0"],
            {"instrument": "cows", "total": 13, "band": "moderate", "flags": []},
        ),
        (
            ["cows", "--answers", "4,0,0,0,0,0,0,0,0,0,0"],
            {"instrument": "cows", "total": 4, "band": "none", "flags": []},
        ),
        (
            ["ciwa-ar", "--answers", "7,3,0,0,0,0,0,0,0,0"],
            {"instrument": "ciwa-ar", "total": 10, "band": "moderate", "flags": []},
        ),
        (
            ["ciwa-ar", "--answers", "7,7,7,7,7,7,7,7,7,4"],
            {"instrument": "ciwa-ar", "total": 67, "band": "severe", "flags": []},
        ),
    ],
)
def test_withdrawal_and_suicide_scales_print_the_same_keys(args, expected):
    result = run(*args, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert list(payload) == ["instrument", "total", "band", "flags"]
    assert payload == expected


@pytest.mark.parametrize(
    ("args", "code", "field"),
    [
        (["cows", "--answers", "0,0,0,0,0,0,0,0,0,0,1"], "answer_out_of_range", "answers[10]"),
        (["cows", "--answers", "3,0,0,0,0,0,0,0,0,0,0"], "answer_out_of_range", "answers[0]"),
        (["cows", "--answers", "0,0,0,0,0,0,0,0,0,0"], "wrong_answer_count", "answers"),
        (["ciwa-ar", "--answers", "0,0,0,0,0,0,0,0,0,5"], "answer_out_of_range", "answers[9]"),
        (["ciwa-ar", "--answers", "0,0,0,0,0,0,0,0,0,0,0"], "wrong_answer_count", "answers"),
        (["c-ssrs", "--answers", "0,0,0,0,0,3"], "answer_out_of_range", "answers[5]"),
        (["c-ssrs", "--answers", "2,0,0,0,0,0"], "answer_out_of_range", "answers[0]"),
        (["c-ssrs", "--answers", "0,0,0,0,0"], "wrong_answer_count", "answers"),
        (["c-ssrs", "--answers", "0,0,yes,0,0,0"], "invalid_answer", "answers[2]"),
        (["cssrs", "--answers", "0,0,0,0,0,0"], "unknown_instrument", "instrument"),
    ],
)
def test_withdrawal_and_suicide_scales_refuse_bad_answers_with_exit_2(args, code, field):
    result = run(*args, "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]


def test_cows_refusal_names_the_item_and_its_values():
    error = json.loads(run("cows", "--answers", "0,0,0,0,0,0,0,0,0,0,4", "--json").stdout)["error"]
    assert "item 11" in error["message"] and "0, 3, 5" in error["message"]


def test_cssrs_text_output():
    result = run("c-ssrs", "--answers", "1,0,0,0,0,0")
    assert result.returncode == 0
    assert "c-ssrs: total 1 (low); flags: self-harm-risk" in result.stdout
