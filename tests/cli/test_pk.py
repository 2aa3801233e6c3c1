"""``kapstone pk`` run as a subprocess, as a user would."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from kapstone.domain.pk import simulate_pk
from tests.cli.runner import run_kapstone, run_kapstone_process

ENV = {**os.environ, "KAPSTONE_DEV": "1"}
IV = ["--weight-kg", "70", "--mg-per-kg", "0.5", "--route", "iv", "--over-min", "40"]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_kapstone("pk", *args)


def test_runs_as_a_real_process():
    """The console entry point itself, once, in a separate interpreter."""
    result = run_kapstone_process("pk", "--help")
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout


def test_default_curve_as_json():
    result = run(*IV, "--json")
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert list(payload) == [
        "model",
        "route",
        "cmax_ng_per_ml",
        "tmax_min",
        "auc_ng_min_per_ml",
        "points",
        "source",
    ]
    assert (payload["model"], payload["route"], payload["tmax_min"]) == ("clements", "iv", 40)
    assert len(payload["points"]) == 241
    assert payload["points"][0] == {"t_min": 0, "c_ng_per_ml": 0.0}
    assert payload["points"][-1]["t_min"] == 240
    expected = simulate_pk(weight_kg=70, mg_per_kg="0.5", route="iv", over_min=40)
    assert payload["cmax_ng_per_ml"] == round(expected.cmax_ng_per_ml, 3) == 177.313
    assert payload["auc_ng_min_per_ml"] == round(expected.auc_ng_min_per_ml, 2)
    assert payload["source"].startswith("Model estimate.") and "Clements" in payload["source"]


def test_at_times_model_and_grid():
    result = run(
        *IV, "--model", "domino", "--until-min", "60", "--step-min", "15", "--at", "40,160", "--json"
    )
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["model"] == "domino"
    assert [p["t_min"] for p in payload["points"]] == [0, 15, 30, 45, 60]
    assert [p["t_min"] for p in payload["at"]] == [40, 160]
    assert payload["at"][0]["c_ng_per_ml"] == pytest.approx(240.331, abs=0.001)
    assert list(payload)[-2:] == ["at", "source"]


def test_fractional_step_gives_fractional_times():
    result = run(
        "--weight-kg",
        "70",
        "--mg-per-kg",
        "2",
        "--route",
        "in",
        "--until-min",
        "1",
        "--step-min",
        "0.5",
        "--json",
    )
    assert result.returncode == 0, result.stderr
    assert [p["t_min"] for p in json.loads(result.stdout)["points"]] == [0, 0.5, 1]


def test_extravascular_source_names_the_absorption_estimate():
    payload = json.loads(run("--weight-kg", "70", "--mg-per-kg", "2", "--route", "im", "--json").stdout)
    assert payload["tmax_min"] == 18
    assert "F 0.93" in payload["source"] and "estimate" in payload["source"]


def test_text_output_has_summary_and_table():
    result = run(*IV, "--at", "40")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "clements model, route iv (model estimate)"
    assert lines[1].startswith("Cmax 177.313 ng/mL at 40 min")
    assert lines[3].split() == ["40", "177.313"]
    assert lines[-1].startswith("source: Model estimate.")


@pytest.mark.parametrize(
    ("args", "code", "field"),
    [
        ([*IV, "--model", "marsh"], "model_unknown", "model"),
        (["--weight-kg", "70", "--mg-per-kg", "2", "--route", "po"], "route_invalid", "route"),
        ([*IV, "--until-min", "0"], "time_out_of_range", "until_min"),
        ([*IV, "--until-min", "2000"], "time_out_of_range", "until_min"),
        ([*IV, "--at", "40,-1"], "time_out_of_range", "at"),
        ([*IV, "--at", "40,,60"], "invalid_number", "at"),
        ([*IV, "--step-min", "0"], "step_out_of_range", "step_min"),
        ([*IV, "--step-min", "0.001"], "step_out_of_range", "step_min"),
        (["--weight-kg", "300.1", "--mg-per-kg", "0.5", "--route", "im"], "weight_out_of_range", "weight_kg"),
        (["--weight-kg", "70", "--mg-per-kg", "3.01", "--route", "im"], "dose_above_max", "mg_per_kg"),
        (
            ["--weight-kg", "70", "--mg-per-kg", "0.5", "--route", "iv"],
            "infusion_requires_duration",
            "over_min",
        ),
        ([*IV, "--bolus-mg-per-kg", "0.6"], "bolus_exceeds_dose", "bolus_mg_per_kg"),
        (
            ["--weight-kg", "70", "--mg-per-kg", "2", "--route", "im", "--over-min", "5"],
            "option_not_for_route",
            "over_min",
        ),
        (["--weight-kg", "inf", "--mg-per-kg", "0.5", "--route", "im"], "invalid_number", "weight_kg"),
        (["--weight-kg", "70", "--route", "im"], "invalid_arguments", "mg_per_kg"),
    ],
)
def test_invalid_input_exits_2_with_the_error_object(args, code, field):
    result = run(*args, "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert error["message"]
