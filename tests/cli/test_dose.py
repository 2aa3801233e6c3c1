"""``kapstone dose`` run as a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.cli.runner import run_kapstone, run_kapstone_process

ENV = {**os.environ, "KAPSTONE_DEV": "1"}
KEYS = ["dose_mg", "bolus_mg", "infusion_mg", "volume_ml", "rate_mg_per_min", "rate_ml_per_h", "warnings"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_kapstone("dose", *args)


def test_runs_as_a_real_process():
    """The console entry point itself, once, in a separate interpreter."""
    result = run_kapstone_process("dose", "--help")
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout


def test_iv_bolus_and_infusion_with_bag_as_json():
    result = run(
        *("--weight-kg", "70", "--mg-per-kg", "0.71", "--bolus-mg-per-kg", "0.11", "--route", "iv"),
        *("--over-min", "50", "--concentration-mg-per-ml", "50", "--bag-ml", "100", "--json"),
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert list(payload) == KEYS
    assert payload == {
        "dose_mg": 49.7,
        "bolus_mg": 7.7,
        "infusion_mg": 42,
        "volume_ml": 0.99,
        "rate_mg_per_min": 0.84,
        "rate_ml_per_h": 120,
        "warnings": [],
    }


def test_im_dose_has_nulls_for_iv_only_values():
    result = run("--weight-kg", "72.4", "--mg-per-kg", "2", "--route", "im", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "dose_mg": 144.8,
        "bolus_mg": None,
        "infusion_mg": None,
        "volume_ml": None,
        "rate_mg_per_min": None,
        "rate_ml_per_h": None,
        "warnings": [],
    }


def test_warnings_are_listed():
    result = run(
        *("--weight-kg", "70", "--mg-per-kg", "2", "--route", "im", "--concentration-mg-per-ml", "25"),
        *("--bag-ml", "100", "--json"),
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["warnings"] == ["nonstandard_concentration", "bag_ignored_for_route"]
    assert payload["volume_ml"] == 5.6


def test_text_output_shows_the_arithmetic():
    result = run(
        "--weight-kg", "70", "--mg-per-kg", "0.5", "--route", "iv", "--over-min", "40", "--bag-ml", "100"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        "dose: 35.0 mg",
        "infusion: 35.0 mg at 0.88 mg/min",
        "pump: 150.00 mL/h",
    ]


@pytest.mark.parametrize(
    ("args", "code", "field"),
    [
        (["--weight-kg", "29.9", "--mg-per-kg", "0.5", "--route", "im"], "weight_out_of_range", "weight_kg"),
        (["--weight-kg", "300.1", "--mg-per-kg", "0.5", "--route", "im"], "weight_out_of_range", "weight_kg"),
        (["--weight-kg", "70", "--mg-per-kg", "0", "--route", "im"], "dose_out_of_range", "mg_per_kg"),
        (["--weight-kg", "70", "--mg-per-kg", "3.01", "--route", "im"], "dose_above_max", "mg_per_kg"),
        (
            ["--weight-kg", "70", "--mg-per-kg", "0.9", "--route", "im", "--max-mg-per-kg", "0.8"],
            "dose_above_max",
            "mg_per_kg",
        ),
        (["--weight-kg", "70", "--mg-per-kg", "0.5", "--route", "rectal"], "route_invalid", "route"),
        (
            ["--weight-kg", "70", "--mg-per-kg", "0.5", "--route", "iv"],
            "infusion_requires_duration",
            "over_min",
        ),
        (
            ["--weight-kg", "70", "--mg-per-kg", "0.5", "--route", "iv", "--over-min", "241"],
            "infusion_time_out_of_range",
            "over_min",
        ),
        (
            [
                "--weight-kg",
                "70",
                "--mg-per-kg",
                "0.5",
                "--route",
                "iv",
                "--over-min",
                "40",
                "--bolus-mg-per-kg",
                "0.6",
            ],
            "bolus_exceeds_dose",
            "bolus_mg_per_kg",
        ),
        (
            ["--weight-kg", "70", "--mg-per-kg", "0.5", "--route", "im", "--concentration-mg-per-ml", "101"],
            "concentration_out_of_range",
            "concentration_mg_per_ml",
        ),
        (
            ["--weight-kg", "70", "--mg-per-kg", "0.5", "--route", "iv", "--over-min", "40", "--bag-ml", "5"],
            "bag_volume_out_of_range",
            "bag_ml",
        ),
        (["--weight-kg", "NaN", "--mg-per-kg", "0.5", "--route", "im"], "invalid_number", "weight_kg"),
        (["--weight-kg", "seventy", "--mg-per-kg", "0.5", "--route", "im"], "invalid_number", "weight_kg"),
        (["--mg-per-kg", "0.5", "--route", "im"], "invalid_arguments", "weight_kg"),
        (["--weight-kg", "70", "--mg-per-kg", "0.5"], "invalid_arguments", "route"),
        (
            ["--weight-kg", "70", "--mg-per-kg", "0.5", "--route", "im", "--dose", "9"],
            "invalid_arguments",
            None,
        ),
    ],
)
def test_invalid_input_exits_2_with_the_error_object(args, code, field):
    result = run(*args, "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]


def test_invalid_input_without_json_reports_on_stderr():
    result = run("--weight-kg", "29.9", "--mg-per-kg", "0.5", "--route", "im")
    assert result.returncode == 2
    assert result.stdout == ""
    assert "weight_out_of_range" in result.stderr and "29.9" in result.stderr
