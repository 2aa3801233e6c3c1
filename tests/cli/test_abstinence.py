"""``kapstone abstinence`` run as a subprocess on CSV files."""

from __future__ import annotations

import json
import math
import os
import subprocess

import pytest
from scipy.stats import binomtest, chi2_contingency, fisher_exact

from tests.cli.runner import run_kapstone, run_kapstone_process

ENV = {**os.environ, "KAPSTONE_DEV": "1"}


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_kapstone("abstinence", *args)


def test_runs_as_a_real_process():
    """The console entry point itself, once, in a separate interpreter."""
    result = run_kapstone_process("abstinence", "--help")
    assert result.returncode == 0, result.stderr
    assert "--json" in result.stdout


def strict_loads(text: str):
    def refuse(constant):
        raise AssertionError(f"non-finite number {constant} in JSON")

    return json.loads(text, parse_constant=refuse)


@pytest.fixture
def csv_file(tmp_path):
    def write(text: str):
        path = tmp_path / "abstinence.csv"
        path.write_text(text, encoding="utf-8")
        return str(path)

    return write


def trial_csv() -> str:
    # Dakwar 2019-like counts (clinical.md §1.4): 13/27 vs 3/28, with two missing in the second arm.
    rows = ["ketamine,1"] * 13 + ["ketamine,0"] * 14 + ["midazolam,1"] * 3 + ["midazolam,0"] * 23
    rows += ["midazolam,"] * 2
    return "arm,abstinent\n" + "\n".join(rows) + "\n"


def test_two_groups_with_wilson_intervals_and_comparison(csv_file):
    result = run(csv_file(trial_csv()), "--group", "arm", "--abstinent", "abstinent", "--json")
    assert result.returncode == 0, result.stderr
    payload = strict_loads(result.stdout)
    assert list(payload) == ["groups", "comparison"]
    first, second = payload["groups"]
    assert list(first) == ["group", "n", "abstinent", "missing", "proportion", "ci_lower", "ci_upper"]
    assert (first["group"], first["n"], first["abstinent"], first["missing"]) == ("ketamine", 27, 13, 0)
    assert (second["group"], second["n"], second["abstinent"], second["missing"]) == ("midazolam", 28, 3, 2)
    interval = binomtest(13, 27).proportion_ci(method="wilson")
    assert math.isclose(first["ci_lower"], interval.low, rel_tol=1e-9)
    assert math.isclose(first["ci_upper"], interval.high, rel_tol=1e-9)
    comparison = payload["comparison"]
    assert list(comparison) == ["risk_difference", "odds_ratio", "fisher_p", "chi2_p"]
    table = [[13, 14], [3, 25]]
    assert math.isclose(comparison["risk_difference"], 13 / 27 - 3 / 28, rel_tol=1e-12)
    assert math.isclose(comparison["odds_ratio"], 13 * 25 / (14 * 3), rel_tol=1e-12)
    assert math.isclose(comparison["fisher_p"], fisher_exact(table).pvalue, rel_tol=1e-9)
    assert math.isclose(comparison["chi2_p"], chi2_contingency(table, correction=False).pvalue, rel_tol=1e-9)


def test_comparison_is_first_appearing_group_minus_second(csv_file):
    payload = strict_loads(
        run(csv_file("arm,a\nB,0\nA,1\nB,0\nA,1\n"), "--group", "arm", "--abstinent", "a", "--json").stdout
    )
    assert [g["group"] for g in payload["groups"]] == ["B", "A"]
    assert payload["comparison"]["risk_difference"] == -1.0


def test_zero_cell_gives_null_odds_ratio_not_infinity(csv_file):
    result = run(csv_file("arm,a\nA,1\nA,1\nB,1\nB,0\n"), "--group", "arm", "--abstinent", "a", "--json")
    assert result.returncode == 0
    assert strict_loads(result.stdout)["comparison"]["odds_ratio"] is None


@pytest.mark.parametrize("text", ["arm,a\nA,1\nA,0\n", "arm,a\nA,1\nB,0\nC,1\n"])
def test_comparison_is_null_unless_two_groups(csv_file, text):
    payload = strict_loads(run(csv_file(text), "--group", "arm", "--abstinent", "a", "--json").stdout)
    assert payload["comparison"] is None


def test_text_output_reports_missing(csv_file):
    result = run(csv_file(trial_csv()), "--group", "arm", "--abstinent", "abstinent")
    assert result.returncode == 0
    assert "group midazolam: 3/28 abstinent" in result.stdout
    assert "2 missing, counted as not abstinent" in result.stdout
    assert "ketamine vs midazolam: risk difference" in result.stdout


@pytest.mark.parametrize(
    ("text", "code", "field", "where"),
    [
        ("arm,outcome\nA,1\n", "missing_column", "abstinent", "abstinent"),
        ("arm,abstinent\nA,1\nA,2\n", "invalid_value", "abstinent", "Row 2"),
        ("arm,abstinent\nA,1\nA,yes\n", "invalid_value", "abstinent", "Row 2"),
        ("arm,abstinent\n,1\n", "invalid_value", "arm", "Row 1"),
        ("", "empty_file", "file", "empty"),
    ],
)
def test_malformed_file_exits_2_naming_row_and_column(csv_file, text, code, field, where):
    result = run(csv_file(text), "--group", "arm", "--abstinent", "abstinent", "--json")
    assert result.returncode == 2
    error = json.loads(result.stdout)["error"]
    assert (error["code"], error["field"]) == (code, field)
    assert where in error["message"]


def test_unreadable_file_exits_2(tmp_path):
    result = run(str(tmp_path), "--group", "arm", "--abstinent", "abstinent", "--json")
    assert result.returncode == 2
    assert json.loads(result.stdout)["error"]["code"] == "file_unreadable"
