"""One way to read a typed number and one way to write it back (kapstone/domain/numbers.py)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from kapstone.domain.errors import DomainError
from kapstone.domain.numbers import format_number, to_decimal, to_number


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (0.1, Decimal("0.1")),
        ("  37.2 ", Decimal("37.2")),
        (185, Decimal(185)),
        (Decimal("2.50"), Decimal("2.50")),
        ("1e3", Decimal("1000")),
    ],
)
def test_reads_numbers_exactly(given, expected):
    assert to_number(given) == expected
    assert to_decimal(given, field="x") == expected


@pytest.mark.parametrize(
    "given", [True, False, None, "", "abc", "NaN", "inf", "-Infinity", float("nan"), [], {}]
)
def test_refuses_what_is_not_a_finite_number(given):
    assert to_number(given) is None
    with pytest.raises(DomainError) as caught:
        to_decimal(given, field="weight_kg")
    assert caught.value.code == "invalid_number"
    assert caught.value.field == "weight_kg"
    assert "weight_kg must be a finite number" in caught.value.message


def test_the_refusal_code_can_be_the_callers():
    with pytest.raises(DomainError) as caught:
        to_decimal("x", field="amount", code="invalid_amount")
    assert caught.value.code == "invalid_amount"


@pytest.mark.parametrize(
    ("given", "shown"),
    [
        (Decimal("185"), "185"),
        (Decimal("1.85E+2"), "185"),
        (Decimal("37.50"), "37.5"),
        (Decimal("0"), "0"),
        (Decimal("0.00"), "0"),
        (100, "100"),
        (Decimal("1e999999"), "1E+999999"),
    ],
)
def test_writes_numbers_as_a_clinician_does(given, shown):
    assert format_number(given) == shown


def test_no_other_module_reads_numbers_through_str():
    """The copies this module replaced stay gone: ``Decimal(str(`` is written here only."""
    from pathlib import Path

    import kapstone

    root = Path(kapstone.__file__).parent
    offenders = [
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if "migrations" not in path.parts
        and path.name != "numbers.py"
        and "Decimal(str(value))" in path.read_text()
    ]
    assert offenders == []
