"""Vial lots of one administration and amendments of its amounts (kapstone.domain.dosing)."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kapstone.domain.dosing import (
    MAX_LOTS_PER_ADMINISTRATION,
    amend_lot_quantity,
    check_amendment_reason,
    check_lot_split,
    split_given_by_lot,
)
from kapstone.domain.errors import DomainError

D = Decimal


def code_of(call) -> str:
    with pytest.raises(DomainError) as error:
        call()
    return error.value.code


class TestLotSplit:
    def test_two_lots_adding_up_to_the_dose(self):
        assert check_lot_split([(1, "38"), (2, D("20.0"))], dose_mg="58.0") == [
            (1, D("38.0")),
            (2, D("20.0")),
        ]

    def test_one_lot_with_the_whole_dose(self):
        assert check_lot_split([(7, "58")], dose_mg="58") == [(7, D("58.0"))]

    @pytest.mark.parametrize(
        ("lines", "code", "field"),
        [
            ([], "lots_required", "lots"),
            ([(1, "38"), (1, "20")], "lot_repeated", "lots"),
            ([(1, "38"), (2, "19.9")], "lots_total_mismatch", "lots"),
            ([(1, "38"), (2, "20.1")], "lots_total_mismatch", "lots"),
            ([(1, "58"), (2, "0")], "amount_out_of_range", "lots.1.mg"),
            ([(1, "59"), (2, "-1")], "amount_out_of_range", "lots.1.mg"),
            ([(1, "57.95"), (2, "0.05")], "amount_precision", "lots.0.mg"),
            ([(1, "abc")], "invalid_number", "lots.0.mg"),
        ],
    )
    def test_refusals(self, lines, code, field):
        with pytest.raises(DomainError) as error:
            check_lot_split(lines, dose_mg="58")
        assert (error.value.code, error.value.field) == (code, field)

    def test_at_most_five_lots(self):
        five = [(i, "10") for i in range(MAX_LOTS_PER_ADMINISTRATION)]
        assert len(check_lot_split(five, dose_mg="50")) == 5
        six = [(i, "10") for i in range(MAX_LOTS_PER_ADMINISTRATION + 1)]
        assert code_of(lambda: check_lot_split(six, dose_mg="60")) == "too_many_lots"

    def test_message_names_both_totals(self):
        with pytest.raises(DomainError) as error:
            check_lot_split([(1, "30"), (2, "20")], dose_mg="58")
        assert "50 mg" in error.value.message and "58 mg" in error.value.message


class TestSplitGiven:
    def test_first_lot_is_given_first_and_the_rest_wasted_from_the_last(self):
        assert split_given_by_lot([D("38"), D("20")], D("45")) == [(D("38"), D("0")), (D("7"), D("13"))]

    def test_all_given_and_nothing_given(self):
        assert split_given_by_lot([D("38"), D("20")], D("58")) == [(D("38"), D("0")), (D("20"), D("0"))]
        assert split_given_by_lot([D("38"), D("20")], D("0")) == [(D("0"), D("38")), (D("0"), D("20"))]

    def test_more_given_than_dispensed_is_refused(self):
        assert code_of(lambda: split_given_by_lot([D("38"), D("20")], D("58.1"))) == "given_exceeds_dispensed"
        assert code_of(lambda: split_given_by_lot([D("38")], D("-0.1"))) == "amount_out_of_range"

    @given(
        st.lists(st.integers(min_value=1, max_value=2000), min_size=1, max_size=5),
        st.integers(min_value=0, max_value=10_000),
    )
    def test_each_lot_balances_and_the_parts_add_up(self, tenths, given_tenths):
        dispensed = [D(t) / 10 for t in tenths]
        given_mg = min(D(given_tenths) / 10, sum(dispensed))
        shares = split_given_by_lot(dispensed, given_mg)
        assert all(g + w == d and g >= 0 and w >= 0 for (g, w), d in zip(shares, dispensed, strict=True))
        assert sum(g for g, _ in shares) == given_mg


class TestAmendQuantity:
    def test_more_given_moves_dispensed_by_the_same_delta(self):
        result = amend_lot_quantity(
            field="given_mg", new_value="30", given_mg=D("29"), wasted_mg=D("29"), ordered_dose_mg=D("58")
        )
        assert (result.given_mg, result.wasted_mg, result.dispensed_mg, result.delta_mg) == (
            D("30.0"),
            D("29"),
            D("59.0"),
            D("1.0"),
        )

    def test_less_wasted(self):
        result = amend_lot_quantity(
            field="wasted_mg", new_value="0", given_mg=D("29"), wasted_mg=D("29"), ordered_dose_mg=D("58")
        )
        assert (result.dispensed_mg, result.delta_mg) == (D("29.0"), D("-29.0"))

    def test_unchanged_is_refused(self):
        assert (
            code_of(
                lambda: amend_lot_quantity(
                    field="given_mg",
                    new_value="29.0",
                    given_mg=D("29"),
                    wasted_mg=D("0"),
                    ordered_dose_mg=D("58"),
                )
            )
            == "amendment_unchanged"
        )

    def test_total_given_up_to_the_order_exactly(self):
        ok = amend_lot_quantity(
            field="given_mg",
            new_value="20",
            given_mg=D("10"),
            wasted_mg=D("10"),
            other_lots_given_mg=D("38"),
            ordered_dose_mg=D("58"),
        )
        assert ok.given_mg == D("20.0")
        with pytest.raises(DomainError) as error:
            amend_lot_quantity(
                field="given_mg",
                new_value="20.1",
                given_mg=D("10"),
                wasted_mg=D("10"),
                other_lots_given_mg=D("38"),
                ordered_dose_mg=D("58"),
            )
        assert error.value.code == "given_above_order" and error.value.field == "new_value"

    @pytest.mark.parametrize(
        ("value", "code"),
        [("-0.1", "amount_out_of_range"), ("1.25", "amount_precision"), ("x", "invalid_number")],
    )
    def test_bad_amounts(self, value, code):
        assert (
            code_of(
                lambda: amend_lot_quantity(
                    field="wasted_mg",
                    new_value=value,
                    given_mg=D("29"),
                    wasted_mg=D("29"),
                    ordered_dose_mg=D("58"),
                )
            )
            == code
        )

    def test_only_amounts(self):
        assert (
            code_of(
                lambda: amend_lot_quantity(
                    field="ended_at",
                    new_value="1",
                    given_mg=D("1"),
                    wasted_mg=D("0"),
                    ordered_dose_mg=D("58"),
                )
            )
            == "invalid_field"
        )


class TestReason:
    @pytest.mark.parametrize("reason", ["", "   ", None])
    def test_required(self, reason):
        assert code_of(lambda: check_amendment_reason(reason)) == "reason_required"

    def test_limits(self):
        assert check_amendment_reason("  pump log  ") == "pump log"
        assert check_amendment_reason("x" * 500) == "x" * 500
        assert code_of(lambda: check_amendment_reason("x" * 501)) == "text_too_long"
        assert code_of(lambda: check_amendment_reason("a\x00b")) == "invalid_text"
