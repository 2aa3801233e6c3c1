"""The liver-test rule before a dose (domain/liver.py): boundaries of the limit, the baseline
window and the repeat interval; the result's own checks."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest

from kapstone.domain.errors import DomainError
from kapstone.domain.liver import LiverResult, evaluate_liver_tests, validate_liver_result
from kapstone.domain.protocols import LiverRules, get_protocol, protocol_from_dict, protocol_to_dict

DAY = date(2026, 12, 6)


def panel(taken_on=DAY, *, alt="25", ast="22", bilirubin="0.6", order=0):
    return [
        LiverResult("alt", Decimal(alt), "U/L", Decimal("40"), taken_on, order),
        LiverResult("ast", Decimal(ast), "U/L", Decimal("40"), taken_on, order),
        LiverResult("bilirubin", Decimal(bilirubin), "mg/dL", Decimal("1.2"), taken_on, order),
    ]


DEFAULT_RULES = LiverRules()


def evaluate(results, *, first=True, doses=(), day=DAY, rules=DEFAULT_RULES):
    return evaluate_liver_tests(
        results=results,
        session_date=day,
        first_dose_of_course=first,
        doses_since=list(doses),
        baseline_max_age_days=rules.baseline_max_age_days,
        repeat_after_sessions=rules.repeat_after_sessions,
        above_uln_multiple=rules.above_uln_multiple,
    )


def test_defaults_are_the_cited_ones_and_every_shipped_protocol_has_them():
    assert LiverRules() == LiverRules(30, 6, Decimal("3"))
    assert get_protocol("kare-alcohol-grabski-2022").liver.above_uln_multiple == Decimal("3")


def test_a_normal_recent_panel_passes():
    assert evaluate(panel()) is None


@pytest.mark.parametrize("missing", ["alt", "ast", "bilirubin"])
def test_each_test_is_needed(missing):
    error = evaluate([r for r in panel() if r.test != missing])
    assert error.code == "liver_tests_missing"
    assert {"alt": "ALT", "ast": "AST", "bilirubin": "Total bilirubin"}[missing] in error.message


def test_a_result_after_the_session_day_does_not_count():
    assert evaluate(panel(DAY + timedelta(days=1))).code == "liver_tests_missing"


@pytest.mark.parametrize(
    ("alt", "refused"), [("119.99", False), ("120", False), ("120.01", True), ("130", True)]
)
def test_alt_at_three_times_the_upper_limit_passes_and_just_above_is_refused(alt, refused):
    error = evaluate(panel(alt=alt))
    if not refused:
        assert error is None
        return
    assert error.code == "liver_tests_above_limit"
    # Names the test, the value and the limit.
    assert f"ALT {Decimal(alt)} U/L" in error.message and "above 3 ×" in error.message
    assert "(40 U/L)" in error.message and "above 120.00 U/L" in error.message


def test_bilirubin_has_the_same_multiple_in_its_own_unit():
    assert evaluate(panel(bilirubin="3.6")) is None
    assert evaluate(panel(bilirubin="3.61")).code == "liver_tests_above_limit"


def test_the_latest_result_decides_and_a_later_entry_wins_a_tie():
    raised = panel(DAY - timedelta(days=5), alt="300")
    assert evaluate(raised).code == "liver_tests_above_limit"
    assert evaluate(raised + panel(DAY - timedelta(days=1))) is None
    same_day = panel(DAY, alt="300", order=1) + panel(DAY, order=2)
    assert evaluate(same_day) is None
    assert evaluate(panel(DAY, order=2) + panel(DAY, alt="300", order=3)).code == "liver_tests_above_limit"


@pytest.mark.parametrize(("age_days", "refused"), [(0, False), (29, False), (30, False), (31, True)])
def test_the_baseline_before_the_first_dose_is_at_most_n_days_old(age_days, refused):
    error = evaluate(panel(DAY - timedelta(days=age_days)))
    assert (error is not None) == refused
    if refused:
        assert (
            error.code == "liver_tests_due"
            and "31 days old" in error.message
            and "within 30 days" in error.message
        )


def test_the_panel_is_as_old_as_its_oldest_test():
    mixed = panel(DAY)[:2] + panel(DAY - timedelta(days=31))[2:]
    assert evaluate(mixed).code == "liver_tests_due"


def test_an_old_panel_is_not_a_baseline_problem_after_the_first_dose():
    assert evaluate(panel(DAY - timedelta(days=60)), first=False, doses=[DAY - timedelta(days=7)]) is None


def test_the_window_is_the_protocols():
    rules = LiverRules(baseline_max_age_days=7)
    assert evaluate(panel(DAY - timedelta(days=7)), rules=rules) is None
    assert evaluate(panel(DAY - timedelta(days=8)), rules=rules).code == "liver_tests_due"


@pytest.mark.parametrize(("given", "refused"), [(5, False), (6, True), (7, True)])
def test_the_panel_is_repeated_after_every_m_doses(given, refused):
    taken = DAY - timedelta(days=60)
    doses = [taken + timedelta(days=7 * i) for i in range(given)]
    error = evaluate(panel(taken), first=False, doses=doses)
    assert (error is not None) == refused
    if refused:
        assert error.code == "liver_tests_due" and f"{given} doses" in error.message


def test_doses_before_the_panel_do_not_count_and_a_same_day_dose_does():
    taken = DAY - timedelta(days=30)
    before = [taken - timedelta(days=i + 1) for i in range(10)]
    assert evaluate(panel(taken), first=False, doses=before) is None
    rules = LiverRules(repeat_after_sessions=1)
    assert evaluate(panel(taken), first=False, doses=[taken], rules=rules).code == "liver_tests_due"


class TestResult:
    def check(self, **changes):
        values = {
            "test": "alt",
            "value": "25",
            "unit": "U/L",
            "upper_limit": "40",
            "taken_on": DAY,
            "today": DAY,
        }
        return validate_liver_result(**(values | changes))

    def test_valid(self):
        result = self.check(value="25.456")
        assert result.value == Decimal("25.46") and result.upper_limit == Decimal("40.00")

    @pytest.mark.parametrize(
        ("changes", "code", "field"),
        [
            ({"test": "ggt"}, "unknown_liver_test", "test"),
            ({"unit": "mg/dL"}, "unit_not_for_test", "unit"),
            ({"test": "bilirubin", "unit": "U/L"}, "unit_not_for_test", "unit"),
            ({"value": ""}, "value_required", "value"),
            ({"value": "abc"}, "invalid_number", "value"),
            ({"value": "NaN"}, "invalid_number", "value"),
            ({"value": "-1"}, "value_out_of_range", "value"),
            ({"value": "100000"}, "value_out_of_range", "value"),
            # Beyond what 0.01 can be quantised to in 28 digits: refused, never an InvalidOperation.
            ({"value": "1e30"}, "value_out_of_range", "value"),
            ({"value": 10**23}, "value_out_of_range", "value"),
            ({"upper_limit": "1e30"}, "upper_limit_out_of_range", "upper_limit"),
            ({"upper_limit": "0"}, "upper_limit_out_of_range", "upper_limit"),
            ({"taken_on": DAY + timedelta(days=1)}, "date_in_future", "taken_on"),
        ],
    )
    def test_refusals(self, changes, code, field):
        with pytest.raises(DomainError) as error:
            self.check(**changes)
        assert (error.value.code, error.value.field) == (code, field)

    def test_bilirubin_in_micromoles(self):
        assert self.check(test="bilirubin", unit="umol/L", value="12", upper_limit="21").unit == "umol/L"


class TestProtocolBlock:
    def data(self, **liver):
        data = protocol_to_dict(get_protocol("kare-alcohol-grabski-2022"))
        data["liver"] = {**data["liver"], **liver}
        return data

    def test_round_trip_and_an_older_snapshot_without_the_block_gets_the_defaults(self):
        data = self.data(repeat_after_sessions=3)
        assert protocol_from_dict(data).liver.repeat_after_sessions == 3
        del data["liver"]
        assert protocol_from_dict(data).liver == LiverRules()

    @pytest.mark.parametrize(
        ("liver", "code"),
        [
            ({"baseline_max_age_days": 0}, "invalid_liver_baseline_age"),
            ({"baseline_max_age_days": 366}, "invalid_liver_baseline_age"),
            ({"repeat_after_sessions": 0}, "invalid_liver_repeat"),
            ({"above_uln_multiple": "0.5"}, "invalid_liver_threshold"),
            ({"above_uln_multiple": "11"}, "invalid_liver_threshold"),
            ({"unknown": 1}, "unknown_protocol_field"),
        ],
    )
    def test_refusals(self, liver, code):
        with pytest.raises(DomainError) as error:
            protocol_from_dict(self.data(**liver))
        assert error.value.code == code
