"""The controlled-substance register's arithmetic and rules (no database)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kapstone.domain import register as r
from kapstone.domain.errors import DomainError, WorkflowConflict

D = Decimal
TODAY = date(2026, 3, 15)


def refused(code: str, field: str | None, func, **kwargs) -> DomainError:
    with pytest.raises(DomainError) as info:
        func(**kwargs)
    assert info.value.code == code, info.value
    assert info.value.field == field, info.value
    return info.value


# --- Kind rules -------------------------------------------------------------------------------------


def test_only_waste_needs_a_witness():
    assert [k for k, rule in r.KIND_RULES.items() if rule.needs_witness] == [r.WASTE]


def test_receipts_transfers_and_adjustments_are_admin_work():
    assert set(r.ADMIN_KINDS) == {r.RECEIVE, r.TRANSFER, r.ADJUST}
    assert set(r.CLINICAL_KINDS) == {r.DISPENSE, r.ADMINISTER, r.WASTE, r.RETURN}


def test_session_kinds_and_reason_kinds():
    assert set(r.SESSION_KINDS) == {r.DISPENSE, r.ADMINISTER, r.WASTE, r.RETURN}
    assert {k for k, rule in r.KIND_RULES.items() if rule.needs_reason} == {r.TRANSFER, r.ADJUST}


def test_refuses_unknown_kind():
    refused("invalid_kind", "kind", r.kind_rule, kind="steal")
    refused("invalid_kind", "kind", r.kind_rule, kind=None)


# --- Amounts ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0.1", "1", "500", "100000", 12, 12.5, D("0.10")])
def test_accepts_amounts_in_range(value):
    assert r.validate_amount_mg(value) == D(str(value)).quantize(D("0.1"))


@pytest.mark.parametrize("value", ["0", "-0.1", "100000.1", "-500", "1e9"])
def test_refuses_amount_out_of_range(value):
    refused("amount_out_of_range", "amount_mg", r.validate_amount_mg, value=value)


@pytest.mark.parametrize("value", ["0.05", "12.34", "0.01"])
def test_refuses_amount_finer_than_a_tenth_of_a_mg(value):
    error = refused("amount_precision", "amount_mg", r.validate_amount_mg, value=value)
    assert value in error.message


@pytest.mark.parametrize("value", ["abc", "", True, None, "NaN", "inf", [1]])
def test_refuses_non_numbers(value):
    refused("invalid_number", "amount_mg", r.validate_amount_mg, value=value)


def test_signed_amounts_go_either_way_but_not_zero():
    assert r.validate_amount_mg("-12.5", signed=True) == D("-12.5")
    assert r.validate_amount_mg("12.5", signed=True) == D("12.5")
    refused("amount_out_of_range", "amount_mg", r.validate_amount_mg, value="0", signed=True)
    refused("amount_out_of_range", "amount_mg", r.validate_amount_mg, value="-100000.1", signed=True)


def test_reason_rules():
    assert r.validate_reason("  broken vial  ", required=True, what="adjust") == "broken vial"
    assert r.validate_reason(None, required=False, what="x") == ""
    refused("reason_required", "reason", r.validate_reason, value="   ", required=True, what="adjust")
    refused("text_too_long", "reason", r.validate_reason, value="x" * 501, required=False, what="x")
    assert len(r.validate_reason("x" * 500, required=False, what="x")) == 500
    refused("invalid_text", "reason", r.validate_reason, value="a\x00b", required=False, what="x")
    refused("invalid_text", "reason", r.validate_reason, value=12, required=False, what="x")


def test_lot_number_rules():
    assert r.validate_lot_number(" KX-2231 ") == "KX-2231"
    refused("lot_number_required", "lot_number", r.validate_lot_number, value="  ")
    refused("text_too_long", "lot_number", r.validate_lot_number, value="x" * 41)
    refused("invalid_lot_number", "lot_number", r.validate_lot_number, value="A\nB")
    refused("invalid_text", "lot_number", r.validate_lot_number, value=12)
    refused("invalid_text", "lot_number", r.validate_lot_number, value="A\x00B")


@pytest.mark.parametrize("ndc", ["1234-5678-90", "12345-678-90", "12345-6789-0", "12345-6789-01"])
def test_accepts_ndc_layouts(ndc):
    assert r.validate_ndc(ndc) == ndc


@pytest.mark.parametrize(
    "ndc", ["1234567890", "123-4567-890", "12345-6789-012", "1234-56a8-90", "", None, "١٢٣٤-5678-90"]
)
def test_refuses_malformed_ndc(ndc):
    refused("invalid_ndc", "ndc", r.validate_ndc, value=ndc)


def test_product_boundaries():
    assert r.validate_product(strength_mg_per_ml="1", vial_volume_ml="0.5") == (D("1"), D("0.5"))
    assert r.validate_product(strength_mg_per_ml="100", vial_volume_ml="100") == (D("100"), D("100"))
    refused(
        "concentration_out_of_range",
        "strength_mg_per_ml",
        r.validate_product,
        strength_mg_per_ml="0.99",
        vial_volume_ml="10",
    )
    refused(
        "concentration_out_of_range",
        "strength_mg_per_ml",
        r.validate_product,
        strength_mg_per_ml="101",
        vial_volume_ml="10",
    )
    refused(
        "vial_volume_out_of_range",
        "vial_volume_ml",
        r.validate_product,
        strength_mg_per_ml="50",
        vial_volume_ml="0.49",
    )
    refused(
        "vial_volume_out_of_range",
        "vial_volume_ml",
        r.validate_product,
        strength_mg_per_ml="50",
        vial_volume_ml="100.01",
    )


# --- Units ------------------------------------------------------------------------------------------

PRODUCTS = [(D("50"), D("10")), (D("100"), D("5")), (D("10"), D("20")), (D("12.5"), D("2"))]


def test_measure_of_known_stock():
    measure = r.measure_stock(D("1250"), strength_mg_per_ml=D("50"), vial_volume_ml=D("10"))
    assert (measure.mg, measure.ml, measure.vials, measure.full_vials, measure.partial_ml) == (
        D("1250"),
        D("25.00"),
        D("2.50"),
        2,
        D("5.00"),
    )
    empty = r.measure_stock(D("0"), strength_mg_per_ml=D("100"), vial_volume_ml=D("5"))
    assert (empty.ml, empty.vials, empty.full_vials, empty.partial_ml) == (D("0.00"), D("0.00"), 0, D("0.00"))


def test_measure_refuses_negative_stock():
    with pytest.raises(DomainError) as info:
        r.measure_stock(D("-0.1"), strength_mg_per_ml=D("50"), vial_volume_ml=D("10"))
    assert info.value.code == "negative_balance"


def test_conversions_round_half_up():
    assert r.ml_from_mg(D("0.5"), strength_mg_per_ml=D("100")) == D("0.01")  # 0.005 mL → 0.01
    assert r.ml_from_mg(D("0.4"), strength_mg_per_ml=D("100")) == D("0.00")
    assert r.mg_from_ml(D("0.01"), strength_mg_per_ml=D("12.5")) == D("0.1")  # 0.125 → 0.1
    assert r.vials_from_mg(D("2.5"), strength_mg_per_ml=D("50"), vial_volume_ml=D("10")) == D("0.01")  # 0.005
    assert r.mg_from_vials(D("3"), strength_mg_per_ml=D("100"), vial_volume_ml=D("5")) == D("1500.0")


amounts = st.integers(min_value=0, max_value=1_000_000).map(lambda n: D(n) / 10)


@settings(max_examples=200, deadline=None)
@given(amount=amounts, product=st.sampled_from(PRODUCTS))
def test_mg_ml_vials_round_trip_within_rounding(amount, product):
    strength, volume = product
    measure = r.measure_stock(amount, strength_mg_per_ml=strength, vial_volume_ml=volume)
    # Half a rounding step of the intermediate unit, plus half a step of the 0.1 mg result.
    assert abs(r.mg_from_ml(measure.ml, strength_mg_per_ml=strength) - amount) <= D("0.005") * strength + D(
        "0.05"
    )
    per_vial = strength * volume
    assert abs(
        r.mg_from_vials(measure.vials, strength_mg_per_ml=strength, vial_volume_ml=volume) - amount
    ) <= (D("0.005") * per_vial + D("0.05"))
    # Full vials and the opened vial add up to the amount (to the 0.01 mL rounding).
    assert (
        abs(measure.full_vials * per_vial + measure.partial_ml * strength - amount) <= D("0.005") * strength
    )
    assert D(0) <= measure.partial_ml <= volume


# --- Postings ---------------------------------------------------------------------------------------


def test_dispense_takes_stock_into_the_sessions_hands():
    p = r.calculate_posting(kind=r.DISPENSE, amount_mg="500", stock_mg=D("1000"), in_hand_mg=D("0"))
    assert (p.stock_effect_mg, p.stock_after_mg, p.in_hand_effect_mg, p.in_hand_after_mg) == (
        D("-500"),
        D("500"),
        D("500"),
        D("500"),
    )


def test_dispense_of_exactly_the_stock_leaves_zero():
    assert (
        r.calculate_posting(
            kind=r.DISPENSE, amount_mg="500", stock_mg=D("500"), in_hand_mg=D("0")
        ).stock_after_mg
        == 0
    )


def test_refuses_dispense_beyond_stock_naming_the_balance():
    with pytest.raises(WorkflowConflict) as info:
        r.calculate_posting(kind=r.DISPENSE, amount_mg="500.1", stock_mg=D("500"), in_hand_mg=D("0"))
    assert info.value.code == "insufficient_stock"
    assert "500.0 mg" in info.value.message and info.value.field == "amount_mg"


def test_administer_and_waste_leave_the_stock_alone():
    for kind in (r.ADMINISTER, r.WASTE):
        p = r.calculate_posting(kind=kind, amount_mg="40", stock_mg=D("460"), in_hand_mg=D("40"))
        assert (p.stock_effect_mg, p.stock_after_mg, p.in_hand_after_mg) == (D("0"), D("460"), D("0"))


def test_return_puts_drug_back():
    p = r.calculate_posting(kind=r.RETURN, amount_mg="10", stock_mg=D("0"), in_hand_mg=D("10"))
    assert (p.stock_after_mg, p.in_hand_after_mg) == (D("10"), D("0"))


@pytest.mark.parametrize("kind", [r.ADMINISTER, r.WASTE, r.RETURN])
def test_refuses_taking_more_than_the_session_holds(kind):
    with pytest.raises(WorkflowConflict) as info:
        r.calculate_posting(kind=kind, amount_mg="40.1", stock_mg=D("1000"), in_hand_mg=D("40"))
    assert info.value.code == "insufficient_in_hand"
    assert "40.0 mg" in info.value.message


def test_session_kinds_need_the_in_hand_amount():
    with pytest.raises(DomainError) as info:
        r.calculate_posting(kind=r.ADMINISTER, amount_mg="1", stock_mg=D("10"))
    assert info.value.code == "in_hand_required"


def test_transfer_and_adjust_need_a_direction():
    for kind in (r.TRANSFER, r.ADJUST):
        with pytest.raises(DomainError) as info:
            r.calculate_posting(kind=kind, amount_mg="1", stock_mg=D("10"))
        assert info.value.code == "invalid_direction"
        assert (
            r.calculate_posting(kind=kind, amount_mg="1", stock_mg=D("10"), direction=-1).stock_after_mg == 9
        )
        assert (
            r.calculate_posting(kind=kind, amount_mg="1", stock_mg=D("10"), direction=1).stock_after_mg == 11
        )
    with pytest.raises(DomainError):
        r.calculate_posting(kind=r.RECEIVE, amount_mg="1", stock_mg=D("10"), direction=-1)


def test_refuses_adjusting_below_zero():
    with pytest.raises(WorkflowConflict) as info:
        r.calculate_posting(kind=r.ADJUST, amount_mg="10.1", stock_mg=D("10"), direction=-1)
    assert info.value.code == "insufficient_stock"


operations = st.lists(
    st.tuples(
        st.sampled_from(r.KINDS),
        st.integers(min_value=1, max_value=20_000).map(lambda n: D(n) / 10),
        st.sampled_from([1, -1]),
    ),
    max_size=40,
)


@settings(max_examples=150, deadline=None)
@given(ops=operations, opening=amounts)
def test_balances_never_go_negative(ops, opening):
    """Any sequence of requests: each is posted or refused, and neither balance is ever negative."""
    stock, hand = opening, D(0)
    effects = []
    for kind, amount, direction in ops:
        rule = r.KIND_RULES[kind]
        try:
            p = r.calculate_posting(
                kind=kind,
                amount_mg=amount,
                stock_mg=stock,
                in_hand_mg=hand if rule.needs_session else None,
                direction=direction if rule.stock_direction is None else None,
            )
        except WorkflowConflict as error:
            assert error.code in ("insufficient_stock", "insufficient_in_hand")
            continue
        assert p.stock_after_mg >= 0 and p.stock_after_mg == stock + p.stock_effect_mg
        assert abs(p.stock_effect_mg) in (0, amount)
        stock = p.stock_after_mg
        effects.append(p.stock_effect_mg)
        if rule.needs_session:
            assert p.in_hand_after_mg >= 0
            hand = p.in_hand_after_mg
    assert opening + sum(effects, D("0")) == stock


# --- Register order and late entries -----------------------------------------------------------------

BASE = datetime(2026, 3, 1, 14, 0, tzinfo=UTC)
EASTERN = ZoneInfo("America/New_York")


def line(seq, minutes, effect, kind=r.DISPENSE, session=None, hand=None):
    return r.RegisterLine(
        key=seq,
        kind=kind,
        occurred_at=BASE + timedelta(minutes=minutes),
        sequence=seq,
        stock_effect_mg=D(effect),
        session=session,
        in_hand_effect_mg=None if hand is None else D(hand),
    )


def test_the_register_runs_in_date_order_then_posting_order():
    # Posted: receipt, a dispense dated +60, a late dispense dated +30, one at +60 again.
    lines = [line(1, 0, "100000", r.RECEIVE), line(2, 60, "-200"), line(3, 30, "-132"), line(4, 60, "-1")]
    running = r.run_register(lines)
    assert [x.line.sequence for x in running] == [1, 3, 2, 4]
    assert [x.balance_after_mg for x in running] == [D("100000"), D("99868"), D("99668"), D("99667")]
    assert [x.late for x in running] == [False, True, False, False]
    assert r.run_register(reversed(lines)) == running


def test_an_entry_at_the_same_time_as_a_posted_one_is_not_late_and_comes_after_it():
    running = r.run_register([line(1, 0, "10", r.RECEIVE), line(2, 0, "-4")])
    assert [(x.line.sequence, x.balance_after_mg, x.late) for x in running] == [
        (1, D(10), False),
        (2, D(6), False),
    ]


def test_in_hand_runs_per_session_in_register_order():
    lines = [
        line(1, 0, "500", r.RECEIVE),
        line(2, 10, "-100", session="s1", hand="100"),
        line(3, 40, "0", r.ADMINISTER, session="s1", hand="-90"),
        line(4, 20, "-50", session="s2", hand="50"),
        line(5, 15, "-10", session="s1", hand="10"),
    ]
    running = {x.line.sequence: x for x in r.run_register(lines)}
    assert running[5].in_hand_after_mg == D(110) and running[5].late
    assert running[3].in_hand_after_mg == D(20) and running[4].in_hand_after_mg == D(50)
    assert running[1].in_hand_after_mg is None


def test_run_register_refuses_two_entries_with_one_posting_number_or_a_naive_time():
    with pytest.raises(DomainError) as info:
        r.run_register([line(1, 0, "1", r.RECEIVE), line(1, 5, "-1")])
    assert info.value.code == "invalid_register"
    naive = r.RegisterLine(
        key=1, kind=r.RECEIVE, occurred_at=datetime(2026, 3, 1), sequence=1, stock_effect_mg=D(1)
    )
    with pytest.raises(DomainError) as info:
        r.run_register([naive])
    assert info.value.code == "naive_datetime"


def test_a_posting_now_is_the_plain_posting():
    p = r.place_posting(
        kind=r.DISPENSE, amount_mg="40", at=BASE, stock_now_mg=D(100), in_hand_now_mg=D(0), session="s"
    )
    assert (p.stock_after_mg, p.in_hand_after_mg) == (D(60), D(40))


def test_a_late_entry_is_placed_at_its_time():
    later = [line(2, 60, "-200", session="s", hand="200")]
    p = r.place_posting(
        kind=r.DISPENSE,
        amount_mg="132",
        at=BASE + timedelta(minutes=30),
        stock_now_mg=D("99800"),
        later=later,
        in_hand_now_mg=D(200),
        session="s",
    )
    assert (p.stock_effect_mg, p.stock_after_mg, p.in_hand_after_mg) == (D(-132), D("99868"), D(132))


def test_a_late_entry_beyond_the_stock_at_its_time_is_refused_naming_the_time():
    # 500 received at +60; a dispense dated +30 finds nothing in the lot then.
    later = [line(1, 60, "500", r.RECEIVE)]
    with pytest.raises(WorkflowConflict) as info:
        r.place_posting(
            kind=r.DISPENSE,
            amount_mg="10",
            at=BASE + timedelta(minutes=30),
            stock_now_mg=D(500),
            later=later,
            in_hand_now_mg=D(0),
            session="s",
            zone=EASTERN,
        )
    assert info.value.code == "insufficient_stock" and info.value.field == "amount_mg"
    assert "1 Mar 2026 09:30 EST" in info.value.message and "0.0 mg" in info.value.message


def test_a_late_entry_that_would_make_a_later_balance_negative_is_refused():
    # 100 received, 80 dispensed at +60 (20 left). A dispense of 30 dated +30 fits then (100 → 70)
    # but would leave −10 after the later dispense.
    later = [line(2, 60, "-80", session="a", hand="80")]
    with pytest.raises(WorkflowConflict) as info:
        r.place_posting(
            kind=r.DISPENSE,
            amount_mg="30",
            at=BASE + timedelta(minutes=30),
            stock_now_mg=D(20),
            later=later,
            in_hand_now_mg=D(0),
            session="b",
            zone=EASTERN,
        )
    assert info.value.code == "late_entry_overdraws" and info.value.field == "at"
    assert "-10.0 mg" in info.value.message and "dispense of 1 Mar 2026 10:00 EST" in info.value.message
    # 20 fits: the later dispense leaves exactly zero.
    ok = r.place_posting(
        kind=r.DISPENSE,
        amount_mg="20",
        at=BASE + timedelta(minutes=30),
        stock_now_mg=D(20),
        later=later,
        in_hand_now_mg=D(0),
        session="b",
    )
    assert ok.stock_after_mg == D(80)


def test_a_late_waste_that_would_overdraw_the_sessions_hand_later_is_refused():
    # Dispensed 100 at +0, administered 100 at +60: a waste of 10 dated +30 fits then, not later.
    later = [line(3, 60, "0", r.ADMINISTER, session="s", hand="-100")]
    with pytest.raises(WorkflowConflict) as info:
        r.place_posting(
            kind=r.WASTE,
            amount_mg="10",
            at=BASE + timedelta(minutes=30),
            stock_now_mg=D(400),
            later=later,
            in_hand_now_mg=D(0),
            session="s",
        )
    assert info.value.code == "late_entry_overdraws" and "session holding -10.0 mg" in info.value.message
    with pytest.raises(WorkflowConflict) as info:
        r.place_posting(
            kind=r.ADMINISTER,
            amount_mg="1",
            at=BASE - timedelta(minutes=30),
            stock_now_mg=D(400),
            later=[line(2, 0, "-100", session="s", hand="100"), *later],
            in_hand_now_mg=D(0),
            session="s",
            zone=EASTERN,
        )
    assert (
        info.value.code == "insufficient_in_hand"
        and "08:30 EST the session held 0.0 mg" in info.value.message
    )


def test_place_posting_refuses_later_lines_that_are_not_later():
    with pytest.raises(DomainError) as info:
        r.place_posting(
            kind=r.RECEIVE, amount_mg="1", at=BASE, stock_now_mg=D(1), later=[line(1, 0, "1", r.RECEIVE)]
        )
    assert info.value.code == "invalid_register"


def test_available_at_a_time_is_the_smallest_balance_from_then_on():
    lines = [line(1, 0, "500", r.RECEIVE), line(2, 60, "-400"), line(3, 120, "300", r.RECEIVE)]
    assert r.available_at(lines, at=BASE + timedelta(minutes=30)) == D(100)
    assert r.available_at(lines, at=BASE + timedelta(minutes=90)) == D(100)
    assert r.available_at(lines, at=BASE + timedelta(minutes=150)) == D(400)
    assert r.available_at(lines, at=BASE - timedelta(minutes=1)) == D(0)
    assert r.available_at([], at=BASE) == D(0)


@settings(max_examples=200, deadline=None)
@given(
    effects=st.lists(
        st.tuples(st.integers(0, 100), st.integers(1, 3000).map(lambda n: D(n) / 10), st.booleans()),
        max_size=15,
    ),
    minutes=st.integers(-10, 110),
)
def test_exactly_what_is_available_can_be_taken_at_that_time(effects, minutes):
    lines, stock = [], D(0)
    for seq, (offset, amount, inbound) in enumerate(effects, start=1):
        if not inbound and amount > stock:
            continue  # keep the register never negative in posting order (not necessarily in time)
        lines.append(line(seq, offset, amount if inbound else -amount, r.RECEIVE if inbound else r.DISPENSE))
        stock += amount if inbound else -amount
    if not all(x.balance_after_mg >= 0 for x in r.run_register(lines)):
        return  # only a register that never goes negative is a register posting can make
    at = BASE + timedelta(minutes=minutes)
    available = r.available_at(lines, at=at)
    later = [x for x in lines if x.occurred_at > at]
    take = {"kind": r.ADJUST, "at": at, "stock_now_mg": stock, "later": later, "direction": -1}
    if available >= D("0.1"):
        assert r.place_posting(amount_mg=available, **take).stock_effect_mg == -available
    with pytest.raises(WorkflowConflict):
        r.place_posting(amount_mg=available + D("0.1"), **take)


postings = st.lists(
    st.tuples(
        st.integers(min_value=0, max_value=240),  # minutes: dates in any order, ties included
        st.sampled_from([r.RECEIVE, r.DISPENSE, r.ADMINISTER, r.WASTE, r.RETURN, r.ADJUST, r.TRANSFER]),
        st.integers(min_value=1, max_value=5_000).map(lambda n: D(n) / 10),
        st.sampled_from([1, -1]),
        st.sampled_from(["s1", "s2"]),
    ),
    max_size=40,
)


def _candidate(seq, at, kind, amount, direction, session):
    rule = r.KIND_RULES[kind]
    sign = rule.stock_direction if rule.stock_direction is not None else direction
    return r.RegisterLine(
        key=seq,
        kind=kind,
        occurred_at=at,
        sequence=seq,
        stock_effect_mg=amount * sign,
        session=session if rule.needs_session else None,
        in_hand_effect_mg=amount * rule.hand_direction if rule.needs_session else None,
    )


def _never_negative(running) -> bool:
    return all(
        x.balance_after_mg >= 0 and (x.in_hand_after_mg is None or x.in_hand_after_mg >= 0) for x in running
    )


@settings(max_examples=300, deadline=None)
@given(requests=postings, shuffle=st.randoms(use_true_random=False))
def test_every_shown_balance_is_the_running_sum_in_shown_order(requests, shuffle):
    """Any postings, dated in any order: a posting is accepted exactly when the register it
    makes never goes below zero at any time (stock or a session's hand); each shown balance is
    the running sum in the shown order; the last is the lot's balance; late entries are those
    dated before an entry posted earlier; the stored balance of an entry is its shown one at
    posting."""
    lines: list[r.RegisterLine] = []
    stock, hands = D(0), {"s1": D(0), "s2": D(0)}
    for minutes, kind, amount, direction, session in requests:
        at = BASE + timedelta(minutes=minutes)
        rule = r.KIND_RULES[kind]
        seq = len(lines) + 1
        candidate = _candidate(seq, at, kind, amount, direction, session)
        acceptable = _never_negative(r.run_register([*lines, candidate]))
        try:
            p = r.place_posting(
                kind=kind,
                amount_mg=amount,
                at=at,
                stock_now_mg=stock,
                later=[x for x in lines if x.occurred_at > at],
                in_hand_now_mg=hands[session] if rule.needs_session else None,
                session=session if rule.needs_session else None,
                direction=direction if rule.stock_direction is None else None,
            )
        except WorkflowConflict as error:
            assert error.code in ("insufficient_stock", "insufficient_in_hand", "late_entry_overdraws")
            assert not acceptable
            continue
        assert acceptable
        assert (p.stock_effect_mg, p.in_hand_effect_mg) == (
            candidate.stock_effect_mg,
            candidate.in_hand_effect_mg,
        )
        lines.append(candidate)
        placed = next(x for x in r.run_register(lines) if x.line.sequence == seq)
        assert (p.stock_after_mg, p.in_hand_after_mg) == (placed.balance_after_mg, placed.in_hand_after_mg)
        stock += p.stock_effect_mg
        if rule.needs_session:
            hands[session] += p.in_hand_effect_mg
    shuffled = list(lines)
    shuffle.shuffle(shuffled)
    running = r.run_register(shuffled)
    shown = [x.line for x in running]
    assert shown == sorted(lines, key=lambda x: (x.occurred_at, x.sequence))
    total, by_session = D(0), {"s1": D(0), "s2": D(0)}
    for x in running:
        total += x.line.stock_effect_mg
        assert x.balance_after_mg == total >= 0
        if x.line.session is not None:
            by_session[x.line.session] += x.line.in_hand_effect_mg
            assert x.in_hand_after_mg == by_session[x.line.session] >= 0
        earlier_posted = [y for y in lines if y.sequence < x.line.sequence]
        assert x.late == any(y.occurred_at > x.line.occurred_at for y in earlier_posted)
    assert (running[-1].balance_after_mg if running else D(0)) == stock
    assert by_session == hands


# --- Witness, expiry, session ------------------------------------------------------------------------


def test_waste_needs_a_witness():
    refused(
        "witness_required",
        "witness",
        r.check_witness,
        kind=r.WASTE,
        actor_id=1,
        witness_id=None,
        witness_eligible=False,
    )


def test_witness_cannot_be_the_actor():
    refused(
        "witness_same_as_actor",
        "witness",
        r.check_witness,
        kind=r.WASTE,
        actor_id=1,
        witness_id=1,
        witness_eligible=True,
    )


def test_witness_must_be_an_eligible_colleague():
    refused(
        "witness_not_in_clinic",
        "witness",
        r.check_witness,
        kind=r.WASTE,
        actor_id=1,
        witness_id=2,
        witness_eligible=False,
    )
    r.check_witness(kind=r.WASTE, actor_id=1, witness_id=2, witness_eligible=True)


def test_witness_is_optional_for_counts_but_checked_when_given():
    r.check_witness(kind="count", actor_id=1, witness_id=None, witness_eligible=False)
    refused(
        "witness_same_as_actor",
        "witness",
        r.check_witness,
        kind="count",
        actor_id=1,
        witness_id=1,
        witness_eligible=True,
    )


def test_a_lot_is_usable_through_its_expiry_day():
    assert not r.is_expired(expiry=TODAY, today=TODAY)
    assert r.is_expired(expiry=TODAY - timedelta(days=1), today=TODAY)


@pytest.mark.parametrize(("days", "status"), [(-1, "expired"), (0, "expiring"), (30, "expiring"), (31, "ok")])
def test_expiry_status_boundaries(days, status):
    assert r.expiry_status(expiry=TODAY + timedelta(days=days), today=TODAY) == status


def test_refuses_dispensing_or_receiving_an_expired_lot():
    yesterday = TODAY - timedelta(days=1)
    for kind in (r.DISPENSE, r.RECEIVE):
        with pytest.raises(WorkflowConflict) as info:
            r.check_lot_expiry(kind=kind, lot_number="KX1", expiry=yesterday, today=TODAY)
        assert (
            info.value.code == "lot_expired"
            and "KX1" in info.value.message
            and yesterday.isoformat() in info.value.message
        )
    for kind in (r.ADMINISTER, r.WASTE, r.RETURN, r.TRANSFER, r.ADJUST):
        r.check_lot_expiry(kind=kind, lot_number="KX1", expiry=yesterday, today=TODAY)
    r.check_lot_expiry(kind=r.DISPENSE, lot_number="KX1", expiry=TODAY, today=TODAY)


@pytest.mark.parametrize("status", ["checked_in", "cleared", "in_progress"])
def test_dispense_to_a_session_being_dosed(status):
    r.check_session_for(kind=r.DISPENSE, session_kind="dosing", session_status=status, same_clinic=True)


@pytest.mark.parametrize(
    "status", ["scheduled", "recovering", "discharged", "cancelled", "no_show", "stopped"]
)
def test_refuses_dispense_outside_the_session(status):
    with pytest.raises(WorkflowConflict) as info:
        r.check_session_for(kind=r.DISPENSE, session_kind="dosing", session_status=status, same_clinic=True)
    assert info.value.code == "session_not_ready" and status.replace("_", " ") in info.value.message


def test_refuses_administering_before_clearance():
    with pytest.raises(WorkflowConflict) as info:
        r.check_session_for(
            kind=r.ADMINISTER, session_kind="dosing", session_status="checked_in", same_clinic=True
        )
    assert info.value.code == "session_not_ready"
    r.check_session_for(
        kind=r.ADMINISTER, session_kind="dosing", session_status="recovering", same_clinic=True
    )


def test_waste_and_return_are_gated_by_the_hand_only():
    for kind in (r.WASTE, r.RETURN):
        r.check_session_for(kind=kind, session_kind="dosing", session_status="cancelled", same_clinic=True)


def test_refuses_a_therapy_session_or_another_clinics_session():
    with pytest.raises(WorkflowConflict) as info:
        r.check_session_for(
            kind=r.DISPENSE, session_kind="preparation", session_status="checked_in", same_clinic=True
        )
    assert info.value.code == "session_not_dosing"
    refused(
        "session_other_clinic",
        "session",
        r.check_session_for,
        kind=r.DISPENSE,
        session_kind="dosing",
        session_status="checked_in",
        same_clinic=False,
    )
    refused(
        "session_not_allowed",
        "session",
        r.check_session_for,
        kind=r.ADJUST,
        session_kind="dosing",
        session_status="checked_in",
        same_clinic=True,
    )


# --- Counts and export --------------------------------------------------------------------------------


def test_count_discrepancy_is_counted_minus_expected():
    assert r.calculate_count_discrepancy(expected_mg=D("1000"), counted_mg="990") == D("-10")
    assert r.calculate_count_discrepancy(expected_mg=D("0"), counted_mg="0") == 0
    assert r.calculate_count_discrepancy(expected_mg=D("10"), counted_mg=D("12.5")) == D("2.5")
    refused(
        "amount_out_of_range",
        "counted_mg",
        r.calculate_count_discrepancy,
        expected_mg=D("1"),
        counted_mg="-0.1",
    )
    refused(
        "amount_precision", "counted_mg", r.calculate_count_discrepancy, expected_mg=D("1"), counted_mg="0.05"
    )


@pytest.mark.parametrize(
    ("cell", "safe"),
    [
        ('=HYPERLINK("x")', '\'=HYPERLINK("x")'),
        ("+1", "'+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
        ("KX-12", "KX-12"),
        ("", ""),
        (D("-12.5"), D("-12.5")),
        (3, 3),
    ],
)
def test_csv_cells_cannot_run_as_formulas(cell, safe):
    assert r.csv_safe_cell(cell) == safe


@given(st.text(max_size=30))
def test_csv_safe_text_never_starts_a_formula(text):
    safe = r.csv_safe_cell(text)
    assert not safe.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert safe in (text, "'" + text)
