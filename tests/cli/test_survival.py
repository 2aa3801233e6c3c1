"""``kapstone survival`` run as a subprocess on CSV files."""

from __future__ import annotations

import json
import math
import os
import subprocess

import pytest
from lifelines import KaplanMeierFitter
from lifelines.statistics import logrank_test

from tests.cli.runner import run_kapstone, run_kapstone_process

ENV = {**os.environ, "KAPSTONE_DEV": "1"}
CSV = "id,arm,days,relapse\n1,KPT,30,1\n2,KPT,365,0\n3,KPT,120,0\n4,KPT,365,0\n5,SOC,14,1\n6,SOC,60,1\n7,SOC,60,0\n8,SOC,200,1\n"


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_kapstone("survival", *args)


def test_runs_as_a_real_process():
    """The console entry point itself, once, in a separate interpreter."""
    result = run_kapstone_process("survival", "--help")
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout


def strict_loads(text: str):
    def refuse(constant):
        raise AssertionError(f"non-finite number {constant} in JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def csv_file(tmp_path):
    def write(text: str, name: str = "data.csv"):
        path = tmp_path / name
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def test_two_groups_with_km_tables_and_logrank(csv_file):
    result = run(csv_file(CSV), "--time", "days", "--event", "relapse", "--group", "arm", "--json")
    assert result.returncode == 0, result.stderr
    payload = strict_loads(result.stdout)
    assert list(payload) == ["groups", "logrank"]
    kpt, soc = payload["groups"]
    assert (kpt["group"], kpt["n"], kpt["events"], kpt["median"]) == ("KPT", 4, 1, None)
    assert (soc["group"], soc["n"], soc["events"], soc["median"]) == ("SOC", 4, 3, 60.0)
    assert list(kpt["table"][0]) == [
        "time",
        "at_risk",
        "events",
        "censored",
        "survival",
        "se",
        "ci_lower",
        "ci_upper",
    ]
    fitter = KaplanMeierFitter().fit([14, 60, 60, 200], [1, 1, 0, 1])
    for row in soc["table"]:
        assert math.isclose(
            row["survival"], fitter.survival_function_.iloc[:, 0].loc[row["time"]], abs_tol=1e-12
        )
    assert [(r["time"], r["at_risk"], r["events"], r["censored"]) for r in soc["table"]] == [
        (14.0, 4, 1, 0),
        (60.0, 3, 1, 1),
        (200.0, 1, 1, 0),
    ]
    reference = logrank_test([30, 365, 120, 365], [14, 60, 60, 200], [1, 0, 0, 0], [1, 1, 0, 1])
    assert payload["logrank"]["df"] == 1
    assert math.isclose(payload["logrank"]["chi2"], reference.test_statistic, rel_tol=1e-9)
    assert math.isclose(payload["logrank"]["p"], reference.p_value, rel_tol=1e-9)


def test_without_group_logrank_is_null(csv_file):
    payload = strict_loads(run(csv_file(CSV), "--time", "days", "--event", "relapse", "--json").stdout)
    assert payload["logrank"] is None
    assert len(payload["groups"]) == 1 and payload["groups"][0]["group"] is None
    assert payload["groups"][0]["n"] == 8


def test_all_censored_gives_null_median_and_finite_json(csv_file):
    path = csv_file("days,relapse\n5,0\n9,0\n")
    result = run(path, "--time", "days", "--event", "relapse", "--json")
    assert result.returncode == 0
    payload = strict_loads(result.stdout)
    assert payload["groups"][0]["median"] is None
    assert all(row["survival"] == 1.0 for row in payload["groups"][0]["table"])


def test_text_output(csv_file):
    result = run(csv_file(CSV), "--time", "days", "--event", "relapse", "--group", "arm")
    assert result.returncode == 0
    assert "group KPT: n=4, events=1, median=not reached" in result.stdout
    assert "log-rank: chi2=" in result.stdout


@pytest.mark.parametrize(
    ("text", "code", "field", "where"),
    [
        ("arm,days,event\nK,1,1\n", "missing_column", "relapse", "relapse"),
        ("arm,days,relapse\nK,1,1\nK,ten,0\n", "invalid_value", "days", "Row 2"),
        ("arm,days,relapse\nK,-3,1\n", "invalid_value", "days", "Row 1"),
        ("arm,days,relapse\nK,1,1\nK,2,1\nK,3,yes\n", "invalid_value", "relapse", "Row 3"),
        ("arm,days,relapse\nK,1,2\n", "invalid_value", "relapse", "Row 1"),
        ("", "empty_file", "file", "empty"),
        ("arm,days,relapse\n", "empty_file", "file", "no data rows"),
    ],
)
def test_malformed_file_exits_2_naming_row_and_column(csv_file, text, code, field, where):
    result = run(csv_file(text), "--time", "days", "--event", "relapse", "--group", "arm", "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert where in error["message"]


def test_unreadable_file_exits_2(tmp_path):
    result = run(str(tmp_path / "absent.csv"), "--time", "days", "--event", "relapse", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == "file_unreadable"
    binary = tmp_path / "binary.csv"
    binary.write_bytes(b"days,relapse\n\xff\xfe,1\n")
    result = run(str(binary), "--time", "days", "--event", "relapse", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == "file_unreadable"


def test_missing_flags_are_argument_errors(csv_file):
    result = run(csv_file(CSV), "--time", "days", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == "invalid_arguments"
