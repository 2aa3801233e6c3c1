"""The controlled-substance register: its arithmetic and its rules, without a database.

Ketamine is Schedule III. Kapstone keeps a perpetual register per clinic and storage location:
every movement of drug is one append-only entry carrying the amount, the signed effect on the
lot's stock, the running balance after it, who did it, who witnessed it and why. This module
decides, for plain values the app passes in,

* what each transaction kind does to the lot's stock and to the "in hand" amount of a dosing
  session (dispensed − administered − wasted − returned), and refuses any entry that would
  make either negative (:func:`calculate_posting`);
* which kinds need a dosing session, a witness, a reason or clinic-admin rights
  (:data:`KIND_RULES`), and whether a witness is acceptable (:func:`check_witness`);
* whether a lot may still be dispensed (:func:`check_lot_expiry`, :func:`expiry_status`);
* the conversions between mg, mL and vials (:func:`measure_stock`);
* the register's one order — when an entry happened, then the order of posting — and the
  running balances in it (:func:`run_register`), and where a late entry (dated before one
  already posted) goes and whether it may (:func:`place_posting`, :func:`available_at`);
* the discrepancy of a physical count (:func:`calculate_count_discrepancy`);
* CSV cells that a spreadsheet cannot execute (:func:`csv_safe_cell`).

Amounts are ``Decimal`` mg with at most 0.1 mg resolution (the resolution of the dosing
arithmetic in :mod:`kapstone.domain.dosing`); volumes are rounded ``ROUND_HALF_UP`` to
0.01 mL and vial counts to 0.01 vial. Nothing here reads a clock: callers pass ``today``.

Sources: DEA record-keeping practice as summarised in the project reference (software.md
§1.6 item 7 and §5.1): perpetual register with running balance, receipts with lot, NDC and
expiry, witnessed waste, counts and a discrepancy log, the biennial inventory (21 CFR 1304.11)
with date and opening/close of business, records of Schedule III–V kept at least two years and
readily retrievable (21 CFR 1304.04). The regulation's own text was not read for this module;
docs/clinical-rules.md (register) lists what is Kapstone's choice and what is unverified.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal

from kapstone.domain.dosing import CONCENTRATION_MAX_MG_PER_ML, CONCENTRATION_MIN_MG_PER_ML
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.numbers import to_decimal
from kapstone.domain.text import REASON_MAX_CHARS, clean_text

# --- Transaction kinds ----------------------------------------------------------------------------

RECEIVE = "receive"
DISPENSE = "dispense"
ADMINISTER = "administer"
WASTE = "waste"
RETURN = "return"
TRANSFER = "transfer"
ADJUST = "adjust"

KINDS: tuple[str, ...] = (RECEIVE, DISPENSE, ADMINISTER, WASTE, RETURN, TRANSFER, ADJUST)


@dataclass(frozen=True)
class KindRule:
    """What one transaction kind does and what it needs.

    ``stock_direction``: +1 adds to the lot's stock, -1 takes from it, 0 leaves it alone, and
    ``None`` means the caller gives the direction (a transfer leaves one lot and enters
    another; an adjustment corrects up or down). ``hand_direction``: +1 puts drug into a dosing
    session's hands, -1 takes it out of them, 0 has nothing to do with a session.
    """

    kind: str
    label: str
    stock_direction: int | None
    hand_direction: int
    needs_session: bool
    needs_witness: bool
    needs_reason: bool
    admin_only: bool


#: Source: issue 4 ("receive, dispense (to a dosing session), administer, waste (needs a second
#: person as witness), return, transfer, adjust (admin only, with reason)"); witnessed waste
#: and a reason for every correction follow the register practice in software.md §5.1.
#: Kapstone's choices: receipts and transfers are clinic-admin work (DESIGN.md: the admin does
#: "inventory receipts"); a transfer needs a reason, like every stock movement that is not care.
KIND_RULES: dict[str, KindRule] = {
    RECEIVE: KindRule(RECEIVE, "Receive", +1, 0, False, False, False, True),
    DISPENSE: KindRule(DISPENSE, "Dispense", -1, +1, True, False, False, False),
    ADMINISTER: KindRule(ADMINISTER, "Administer", 0, -1, True, False, False, False),
    WASTE: KindRule(WASTE, "Waste", 0, -1, True, True, False, False),
    RETURN: KindRule(RETURN, "Return", +1, -1, True, False, False, False),
    TRANSFER: KindRule(TRANSFER, "Transfer", None, 0, False, False, True, True),
    ADJUST: KindRule(ADJUST, "Adjust", None, 0, False, False, True, True),
}

#: Kinds recorded by the nurses and prescribers at the bedside; the others are clinic-admin work.
CLINICAL_KINDS: tuple[str, ...] = tuple(k for k in KINDS if not KIND_RULES[k].admin_only)
ADMIN_KINDS: tuple[str, ...] = tuple(k for k in KINDS if KIND_RULES[k].admin_only)
SESSION_KINDS: tuple[str, ...] = tuple(k for k in KINDS if KIND_RULES[k].needs_session)

# --- Parameters -----------------------------------------------------------------------------------

AMOUNT_QUANTUM_MG = Decimal("0.1")
VOLUME_QUANTUM_ML = Decimal("0.01")
VIAL_QUANTUM = Decimal("0.01")

#: Largest single entry (mg). Chosen: 100 g is 200 vials of 500 mg, far beyond a clinic's
#: order; anything larger is a keying slip (mL or µg typed as mg).
AMOUNT_MAX_MG = Decimal("100000")

#: Inclusive vial volume range (mL). Chosen: ketamine HCl vials are sold from 2 mL to 20 mL
#: (and 50 mL multi-dose); outside 0.5–100 mL is a slip.
VIAL_VOLUME_MIN_ML = Decimal("0.5")
VIAL_VOLUME_MAX_ML = Decimal("100")

#: A lot is flagged on the stock report when it expires within this many days. Source: issue 4
#: brief ("expiry highlighted when past or within 30 days"); a clinic-practice choice.
EXPIRY_WARNING_DAYS = 30

#: Session states into which drug may be dispensed: the patient is here and being dosed.
#: Source: issue 4 brief (checked_in, cleared, in_progress).
DISPENSE_SESSION_STATES: tuple[str, ...] = ("checked_in", "cleared", "in_progress")
#: Session states in which an administration may be recorded. Kapstone's choice: not before
#: the session is cleared (the day-of checks gate dosing), and after dosing for late entries
#: and for a session stopped early (what was given before the stop is still given).
ADMINISTER_SESSION_STATES: tuple[str, ...] = ("cleared", "in_progress", "recovering", "stopped", "discharged")
#: Waste and return are gated only by what the session holds: drug dispensed to a session
#: that was then cancelled must still be returned or wasted.

REASON_MAX_LENGTH = REASON_MAX_CHARS
LOT_NUMBER_MAX_LENGTH = 40

STOCK_OK = "ok"
STOCK_EXPIRING = "expiring"
STOCK_EXPIRED = "expired"


# --- Input checks ---------------------------------------------------------------------------------


def _fmt(value: Decimal) -> str:
    """A Decimal for a message: fixed point, no exponent (absurd magnitudes left as they are)."""
    if abs(value.adjusted()) > 12:
        return str(value)
    return format(value, "f")


def _mg(value: Decimal) -> str:
    return f"{_fmt(value.quantize(AMOUNT_QUANTUM_MG, rounding=ROUND_HALF_UP))} mg"


def kind_rule(kind: object) -> KindRule:
    """The rule of a transaction kind, or DomainError ``invalid_kind`` on ``kind``."""
    if not isinstance(kind, str) or kind not in KIND_RULES:
        raise DomainError(
            "invalid_kind",
            f"Unknown register transaction {kind!r}; use one of {', '.join(KINDS)}.",
            field="kind",
        )
    return KIND_RULES[kind]


def validate_amount_mg(value: object, *, field: str = "amount_mg", signed: bool = False) -> Decimal:
    """An amount of drug in mg: finite, at most 0.1 mg resolution, non-zero and at most 100 g.

    Positive unless ``signed`` (an adjustment may go either way, but never by zero). Refusals:
    ``invalid_number``, ``amount_out_of_range``, ``amount_precision`` — all on ``field``. The
    register never rounds an amount silently: a value finer than 0.1 mg is refused.
    """
    amount = to_decimal(value, field=field)
    magnitude = abs(amount) if signed else amount
    if magnitude <= 0 or magnitude > AMOUNT_MAX_MG:
        what = "non-zero" if signed else "above 0"
        raise DomainError(
            "amount_out_of_range",
            f"The amount must be {what} and at most {_fmt(AMOUNT_MAX_MG)} mg; got {_fmt(amount)} mg.",
            field=field,
        )
    if amount != amount.quantize(AMOUNT_QUANTUM_MG, rounding=ROUND_DOWN):
        raise DomainError(
            "amount_precision",
            f"Record amounts to 0.1 mg; {_fmt(amount)} mg has more decimal places.",
            field=field,
        )
    return amount.quantize(AMOUNT_QUANTUM_MG)


def validate_reason(value: object, *, required: bool, what: str, field: str = "reason") -> str:
    """Free text (stripped) of at most 500 characters; required where the kind says
    (:func:`kapstone.domain.text.clean_text`).

    Refusals on ``field``: ``<field>_required`` (``reason_required``, ``explanation_required``),
    ``text_too_long``, ``invalid_text``.
    """
    return clean_text(
        value,
        field=field,
        max_chars=REASON_MAX_LENGTH,
        required=required,
        label=f"The {field.replace('_', ' ')}",
        missing_message=f"Give a reason to {what}.",
    )


def validate_lot_number(value: object) -> str:
    """The manufacturer's lot number: 1–40 printable characters (stripped), else, on
    ``lot_number``, the free-text refusals (``lot_number_required``, ``text_too_long``,
    ``invalid_text``) or ``invalid_lot_number`` (a line break or other unprintable character)."""
    text = clean_text(
        value,
        field="lot_number",
        max_chars=LOT_NUMBER_MAX_LENGTH,
        required=True,
        label="The lot number",
        missing_message="Enter the lot number printed on the vial.",
    )
    if not text.isprintable():
        raise DomainError(
            "invalid_lot_number",
            f"A lot number has at most {LOT_NUMBER_MAX_LENGTH} printable characters.",
            field="lot_number",
        )
    return text


#: The three 10-digit NDC layouts (labeler-product-package) and the 11-digit 5-4-2 billing form.
NDC_LAYOUTS: tuple[tuple[int, int, int], ...] = ((4, 4, 2), (5, 3, 2), (5, 4, 1), (5, 4, 2))


def validate_ndc(value: object) -> str:
    """A National Drug Code written with hyphens in one of the layouts 4-4-2, 5-3-2, 5-4-1
    (10 digits) or 5-4-2 (11 digits); else ``invalid_ndc`` on ``ndc``.

    Only the shape is checked: whether a code is assigned is for the FDA NDC directory.
    Source: FDA NDC format (software.md §8.1 cites openFDA NDC records; layouts from memory).
    """
    text = value.strip() if isinstance(value, str) else ""
    parts = text.split("-")
    layout = tuple(len(p) for p in parts)
    if layout not in NDC_LAYOUTS or not all(p.isascii() and p.isdigit() for p in parts):
        raise DomainError(
            "invalid_ndc",
            f"Write the NDC with hyphens as 4-4-2, 5-3-2, 5-4-1 or 5-4-2 digits; got {value!r}.",
            field="ndc",
        )
    return text


def validate_product(*, strength_mg_per_ml: object, vial_volume_ml: object) -> tuple[Decimal, Decimal]:
    """A vial's concentration (1–100 mg/mL, the dosing module's range) and volume (0.5–100 mL).

    Refusals: ``concentration_out_of_range`` on ``strength_mg_per_ml``,
    ``vial_volume_out_of_range`` on ``vial_volume_ml``, ``invalid_number``.
    Source: ketamine HCl is sold as 10, 50 and 100 mg/mL (clinical.md §5; dosing module).
    """
    strength = to_decimal(strength_mg_per_ml, field="strength_mg_per_ml")
    if not CONCENTRATION_MIN_MG_PER_ML <= strength <= CONCENTRATION_MAX_MG_PER_ML:
        raise DomainError(
            "concentration_out_of_range",
            f"The strength must be {CONCENTRATION_MIN_MG_PER_ML}–{CONCENTRATION_MAX_MG_PER_ML} mg/mL; "
            f"got {_fmt(strength)} mg/mL.",
            field="strength_mg_per_ml",
        )
    volume = to_decimal(vial_volume_ml, field="vial_volume_ml")
    if not VIAL_VOLUME_MIN_ML <= volume <= VIAL_VOLUME_MAX_ML:
        raise DomainError(
            "vial_volume_out_of_range",
            f"The vial volume must be {VIAL_VOLUME_MIN_ML}–{VIAL_VOLUME_MAX_ML} mL; got {_fmt(volume)} mL.",
            field="vial_volume_ml",
        )
    return strength, volume


# --- Units ----------------------------------------------------------------------------------------


def mg_per_vial(*, strength_mg_per_ml: Decimal, vial_volume_ml: Decimal) -> Decimal:
    """The drug in one full vial (mg), exact."""
    return strength_mg_per_ml * vial_volume_ml


def ml_from_mg(amount_mg: Decimal, *, strength_mg_per_ml: Decimal) -> Decimal:
    """The volume holding ``amount_mg`` at the vial's concentration, to 0.01 mL (half up)."""
    return (amount_mg / strength_mg_per_ml).quantize(VOLUME_QUANTUM_ML, rounding=ROUND_HALF_UP)


def mg_from_ml(volume_ml: Decimal, *, strength_mg_per_ml: Decimal) -> Decimal:
    """The drug in ``volume_ml`` at the vial's concentration, to 0.1 mg (half up)."""
    return (volume_ml * strength_mg_per_ml).quantize(AMOUNT_QUANTUM_MG, rounding=ROUND_HALF_UP)


def vials_from_mg(amount_mg: Decimal, *, strength_mg_per_ml: Decimal, vial_volume_ml: Decimal) -> Decimal:
    """``amount_mg`` as a number of full vials, to 0.01 vial (half up)."""
    per_vial = mg_per_vial(strength_mg_per_ml=strength_mg_per_ml, vial_volume_ml=vial_volume_ml)
    return (amount_mg / per_vial).quantize(VIAL_QUANTUM, rounding=ROUND_HALF_UP)


def mg_from_vials(vials: Decimal, *, strength_mg_per_ml: Decimal, vial_volume_ml: Decimal) -> Decimal:
    """The drug in ``vials`` vials (mg), to 0.1 mg (half up)."""
    per_vial = mg_per_vial(strength_mg_per_ml=strength_mg_per_ml, vial_volume_ml=vial_volume_ml)
    return (vials * per_vial).quantize(AMOUNT_QUANTUM_MG, rounding=ROUND_HALF_UP)


@dataclass(frozen=True)
class StockMeasure:
    """One amount of a product in the three units a count uses.

    ``full_vials`` + ``partial_ml`` is how the stock looks in the safe: so many unopened vials
    and one opened vial holding ``partial_ml`` (exact, not rounded, when the amount is exact).
    """

    mg: Decimal
    ml: Decimal
    vials: Decimal
    full_vials: int
    partial_ml: Decimal


def measure_stock(
    amount_mg: Decimal, *, strength_mg_per_ml: Decimal, vial_volume_ml: Decimal
) -> StockMeasure:
    """``amount_mg`` (≥ 0) in mg, mL (0.01), vials (0.01) and as full vials plus an opened vial.

    Guarantees ``mg_from_ml(ml)`` and ``mg_from_vials(vials)`` are within half a rounding step
    of ``amount_mg`` (0.005 mL × strength; 0.005 vial × mg per vial).
    """
    if amount_mg < 0:
        raise DomainError("negative_balance", f"A stock amount cannot be negative; got {_fmt(amount_mg)} mg.")
    per_vial = mg_per_vial(strength_mg_per_ml=strength_mg_per_ml, vial_volume_ml=vial_volume_ml)
    full, rest_mg = divmod(amount_mg, per_vial)
    return StockMeasure(
        mg=amount_mg,
        ml=ml_from_mg(amount_mg, strength_mg_per_ml=strength_mg_per_ml),
        vials=vials_from_mg(amount_mg, strength_mg_per_ml=strength_mg_per_ml, vial_volume_ml=vial_volume_ml),
        full_vials=int(full),
        partial_ml=ml_from_mg(rest_mg, strength_mg_per_ml=strength_mg_per_ml),
    )


_PAST = {ADMINISTER: "administered", WASTE: "wasted", RETURN: "returned", DISPENSE: "dispensed"}

# --- Postings -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Posting:
    """The effect of one register entry: on the lot's stock and on the session's hand.

    ``in_hand_effect_mg`` and ``in_hand_after_mg`` are ``None`` for kinds without a session.
    """

    kind: str
    amount_mg: Decimal
    stock_effect_mg: Decimal
    stock_after_mg: Decimal
    in_hand_effect_mg: Decimal | None
    in_hand_after_mg: Decimal | None


def calculate_posting(
    *,
    kind: str,
    amount_mg: object,
    stock_mg: Decimal,
    in_hand_mg: Decimal | None = None,
    direction: int | None = None,
) -> Posting:
    """Apply one entry to a lot's stock (and to a session's hand), refusing anything negative.

    ``stock_mg`` is the lot's balance read under its row lock; ``in_hand_mg`` what the session
    holds from this lot (required for dispense, administer, waste and return). ``direction``
    (+1 or -1) is required for transfer and adjust, whose amount moves either way, and refused
    for the other kinds. Guarantees: ``stock_after_mg ≥ 0`` and ``in_hand_after_mg ≥ 0``, or
    WorkflowConflict ``insufficient_stock`` (the message gives the balance) /
    ``insufficient_in_hand`` (the message gives what the session holds).
    """
    rule = kind_rule(kind)
    amount = validate_amount_mg(amount_mg)
    if stock_mg < 0:
        raise DomainError("negative_balance", f"A stock balance cannot be negative; got {_fmt(stock_mg)} mg.")
    if rule.stock_direction is None:
        if direction not in (1, -1):
            raise DomainError(
                "invalid_direction", f"A {kind} needs a direction of +1 or -1.", field="direction"
            )
        sign = direction
    else:
        if direction is not None and direction != rule.stock_direction:
            raise DomainError("invalid_direction", f"A {kind} has a fixed direction.", field="direction")
        sign = rule.stock_direction
    stock_effect = amount * sign
    stock_after = stock_mg + stock_effect
    if stock_after < 0:
        raise WorkflowConflict(
            "insufficient_stock",
            f"Not enough stock: the lot holds {_mg(stock_mg)}, so {_mg(amount)} cannot be taken from it.",
            field="amount_mg",
        )
    hand_effect = hand_after = None
    if rule.needs_session:
        if in_hand_mg is None or in_hand_mg < 0:
            raise DomainError("in_hand_required", f"A {kind} needs the session's in-hand amount.")
        hand_effect = amount * rule.hand_direction
        hand_after = in_hand_mg + hand_effect
        if hand_after < 0:
            raise WorkflowConflict(
                "insufficient_in_hand",
                f"The session holds {_mg(in_hand_mg)} from this lot; {_mg(amount)} cannot be {_PAST[kind]}.",
                field="amount_mg",
            )
    return Posting(kind, amount, stock_effect, stock_after, hand_effect, hand_after)


# --- Register order -------------------------------------------------------------------------------
#
# A lot's register has ONE order: the time each entry happened (``occurred_at``), then the order
# in which entries were posted to that lot (``sequence``: 1, 2, 3 … under the lot's row lock).
# Every running balance — stored at posting, shown on a page, written to a CSV — is the balance
# after the entry in that order. An entry dated before one already posted for the lot is a
# *late entry*: it is placed at its time, every balance after it changes by its effect, and it
# is refused if any of those balances (the lot's stock, or a session's hand) would go below zero.


@dataclass(frozen=True)
class RegisterLine:
    """One posted entry of one lot, as far as order and balances are concerned.

    ``key`` is the caller's identifier (the entry id); ``sequence`` the lot's posting order
    (unique within the lot); ``occurred_at`` when it happened (timezone-aware). ``session`` and
    ``in_hand_effect_mg`` are given for the bedside kinds (dispense, administer, waste, return).
    """

    key: object
    kind: str
    occurred_at: datetime
    sequence: int
    stock_effect_mg: Decimal
    session: object | None = None
    in_hand_effect_mg: Decimal | None = None


@dataclass(frozen=True)
class RunningLine:
    """An entry in register order with the balances after it.

    ``balance_after_mg``: the lot's stock after this entry; ``in_hand_after_mg``: what the
    entry's session holds from the lot after it (``None`` without a session); ``late``: an entry
    posted before this one happened after it.
    """

    line: RegisterLine
    balance_after_mg: Decimal
    in_hand_after_mg: Decimal | None
    late: bool


def register_order(line: RegisterLine) -> tuple[datetime, int]:
    """The sort key of a lot's register: when the entry happened, then the order of posting."""
    return (line.occurred_at, line.sequence)


def _check_lines(lines: list[RegisterLine]) -> None:
    sequences = [line.sequence for line in lines]
    if len(set(sequences)) != len(sequences):
        raise DomainError("invalid_register", "Two entries of one lot have the same posting number.")
    if any(line.occurred_at.tzinfo is None for line in lines):
        raise DomainError("naive_datetime", "The time of a register entry must carry a time zone.")


def run_register(lines: Iterable[RegisterLine], *, opening_mg: Decimal = Decimal("0")) -> list[RunningLine]:
    """One lot's register in its order (:func:`register_order`), each entry with its balances.

    Guarantees, whatever order ``lines`` come in: the result is sorted by when each entry
    happened, then by posting order; each ``balance_after_mg`` is ``opening_mg`` plus the stock
    effects of that entry and of every entry before it in that order, so the last one is the
    lot's balance; ``in_hand_after_mg`` is the same running sum over the entries of that
    entry's session; ``late`` is true exactly when an entry with a smaller ``sequence`` happened
    after it. A negative balance is reported as it is (posting refuses one, see
    :func:`place_posting`; a page shows the register as stored). Refusals: DomainError
    ``invalid_register`` (two entries with one posting number), ``naive_datetime``.
    """
    items = list(lines)
    _check_lines(items)
    latest: datetime | None = None
    late: set[int] = set()
    for line in sorted(items, key=lambda item: item.sequence):
        if latest is not None and line.occurred_at < latest:
            late.add(line.sequence)
        latest = line.occurred_at if latest is None else max(latest, line.occurred_at)
    balance = opening_mg
    hands: dict[object, Decimal] = {}
    result: list[RunningLine] = []
    for line in sorted(items, key=register_order):
        balance += line.stock_effect_mg
        hand = None
        if line.session is not None and line.in_hand_effect_mg is not None:
            hand = hands.get(line.session, Decimal("0")) + line.in_hand_effect_mg
            hands[line.session] = hand
        result.append(RunningLine(line, balance, hand, line.sequence in late))
    return result


def available_at(lines: Iterable[RegisterLine], *, at: datetime) -> Decimal:
    """The most that can be taken from a lot by an entry dated ``at`` (posted now): its balance
    at that time, or less if a balance after it would otherwise go below zero — the smallest of
    the running balances at and after ``at``. Never below zero."""
    running = run_register(lines)
    before = [item.balance_after_mg for item in running if item.line.occurred_at <= at]
    after = [item.balance_after_mg for item in running if item.line.occurred_at > at]
    return max(min([before[-1] if before else Decimal("0"), *after]), Decimal("0"))


def _same_session(line: RegisterLine, session: object | None) -> bool:
    return session is not None and line.session == session and line.in_hand_effect_mg is not None


def _when(moment: datetime, zone: tzinfo | None) -> str:
    """A time for a message, in the clinic's zone with the zone named ("4 Mar 2026 10:15 EST")."""
    local = moment.astimezone(zone) if zone is not None else moment
    return f"{local.day} {local:%b %Y %H:%M} {local.tzname() or ''}".strip()


def place_posting(
    *,
    kind: str,
    amount_mg: object,
    at: datetime,
    stock_now_mg: Decimal,
    later: Sequence[RegisterLine] = (),
    in_hand_now_mg: Decimal | None = None,
    session: object | None = None,
    direction: int | None = None,
    zone: tzinfo | None = None,
) -> Posting:
    """Post one entry dated ``at`` into a lot's register, refusing anything negative at any time.

    ``stock_now_mg`` is the lot's balance and ``in_hand_now_mg`` what ``session`` holds from it
    now (both read under the lot's row lock); ``later`` are the lot's entries dated after
    ``at`` — a new entry comes after every entry dated at or before its time, in posting order.
    With no later entries this is :func:`calculate_posting` on the balances now.

    Otherwise the entry is a late entry, checked at its place: the balances just before it are
    those now minus the effects of ``later``; the entry itself must not take either below zero
    (``insufficient_stock`` / ``insufficient_in_hand``, naming the time and what was there
    then), and no balance after it may go below zero either — the lot's stock after each later
    entry, and the session's hand after each of its later entries (WorkflowConflict
    ``late_entry_overdraws``, naming the later entry that would go negative). The returned
    posting's ``stock_after_mg``/``in_hand_after_mg`` are the balances right after the entry at
    its place in the register (for an entry dated now: the balances now).

    Source: a register with a running balance (DEA record-keeping practice as summarised in
    software.md §5.1; 21 CFR 1304.22, records for dispensers, named from memory, text not read):
    the balance can never be negative, and the same must hold at every moment the register shows.
    Refusing rather than accepting a late entry that overdraws is Kapstone's choice.
    """
    if at.tzinfo is None:
        raise DomainError("naive_datetime", "The time of the entry must carry a time zone.", field="at")
    following = sorted(later, key=register_order)
    if any(line.occurred_at <= at for line in following):
        raise DomainError("invalid_register", "The later entries must be dated after the new entry.")
    if not following:
        return calculate_posting(
            kind=kind,
            amount_mg=amount_mg,
            stock_mg=stock_now_mg,
            in_hand_mg=in_hand_now_mg,
            direction=direction,
        )
    rule = kind_rule(kind)
    stock_before = stock_now_mg - sum((line.stock_effect_mg for line in following), Decimal("0"))
    ours = [line for line in following if _same_session(line, session)]
    hand_before = None
    if rule.needs_session and in_hand_now_mg is not None:
        hand_before = in_hand_now_mg - sum((line.in_hand_effect_mg for line in ours), Decimal("0"))
    when = _when(at, zone)
    try:
        posting = calculate_posting(
            kind=kind, amount_mg=amount_mg, stock_mg=stock_before, in_hand_mg=hand_before, direction=direction
        )
    except WorkflowConflict as error:
        amount = validate_amount_mg(amount_mg)
        if error.code == "insufficient_stock":
            raise WorkflowConflict(
                "insufficient_stock",
                f"Not enough stock on {when}: the lot held {_mg(stock_before)} then, so {_mg(amount)} "
                "cannot be taken from it at that time.",
                field="amount_mg",
            ) from None
        raise WorkflowConflict(
            error.code,
            f"On {when} the session held {_mg(hand_before or Decimal('0'))} from this lot; {_mg(amount)} "
            f"cannot be {_PAST[kind]} at that time.",
            field="amount_mg",
        ) from None
    stock = posting.stock_after_mg
    hand = posting.in_hand_after_mg
    for line in following:
        stock += line.stock_effect_mg
        if stock < 0:
            raise WorkflowConflict(
                "late_entry_overdraws",
                f"This {kind} dated {when} would leave the lot at {_mg(stock)} after the {line.kind} of "
                f"{_when(line.occurred_at, zone)}: the register can never go below zero at any time.",
                field="at",
            )
        if hand is not None and _same_session(line, session):
            hand += line.in_hand_effect_mg
            if hand < 0:
                raise WorkflowConflict(
                    "late_entry_overdraws",
                    f"This {kind} dated {when} would leave the session holding {_mg(hand)} from this lot "
                    f"after the {line.kind} of {_when(line.occurred_at, zone)}: what a session holds can "
                    "never go below zero at any time.",
                    field="at",
                )
    return posting


# --- Rules ----------------------------------------------------------------------------------------


def check_witness(*, kind: str, actor_id: int, witness_id: int | None, witness_eligible: bool) -> None:
    """A waste needs a witness: another person, who is an active nurse or prescriber of the
    lot's clinic (``witness_eligible``, established by the app). A witness given for another
    kind (a count) must meet the same conditions.

    Refusals (DomainError, field ``witness``): ``witness_required``, ``witness_same_as_actor``,
    ``witness_not_in_clinic``. Source: witnessed waste (software.md §5.1, issue 4).
    """
    rule = kind_rule(kind) if kind in KIND_RULES else None
    if witness_id is None:
        if rule is not None and rule.needs_witness:
            raise DomainError(
                "witness_required",
                "Wasting a controlled substance needs a second person as witness.",
                field="witness",
            )
        return
    if witness_id == actor_id:
        raise DomainError(
            "witness_same_as_actor",
            "The witness must be someone other than the person recording.",
            field="witness",
        )
    if not witness_eligible:
        raise DomainError(
            "witness_not_in_clinic",
            "The witness must be an active nurse or prescriber of this clinic.",
            field="witness",
        )


def is_expired(*, expiry: date, today: date) -> bool:
    """Whether a lot is past its expiry date. A lot is usable through its expiry date itself.

    Kapstone's reading (unverified against USP): a labelled day is the last day of use; a label
    that gives only a month is entered as the last day of that month.
    """
    return today > expiry


def expiry_status(*, expiry: date, today: date, warning_days: int = EXPIRY_WARNING_DAYS) -> str:
    """``expired`` after the expiry date, ``expiring`` within ``warning_days`` of it (inclusive),
    else ``ok``."""
    if is_expired(expiry=expiry, today=today):
        return STOCK_EXPIRED
    if expiry - today <= timedelta(days=warning_days):
        return STOCK_EXPIRING
    return STOCK_OK


def check_lot_expiry(*, kind: str, lot_number: str, expiry: date, today: date) -> None:
    """An expired lot cannot be dispensed, nor received into stock (WorkflowConflict
    ``lot_expired``). Administration, waste and return of drug already in a session's hands,
    transfers (to a quarantine shelf) and adjustments of expired stock stay possible, so that it
    can be accounted for until it leaves the clinic. Source: issue 4 ("Expired lots cannot be
    dispensed"); refusing expired receipts is Kapstone's choice."""
    kind_rule(kind)
    if kind in (DISPENSE, RECEIVE) and is_expired(expiry=expiry, today=today):
        verb = "dispensed" if kind == DISPENSE else "received"
        raise WorkflowConflict(
            "lot_expired",
            f"Lot {lot_number} expired on {expiry.isoformat()}; expired stock cannot be {verb}.",
            field="lot",
        )


def check_session_for(*, kind: str, session_kind: str, session_status: str, same_clinic: bool) -> None:
    """Whether an entry of ``kind`` may name this session.

    Refusals: DomainError ``session_other_clinic`` (the lot and the session belong to different
    clinics), WorkflowConflict ``session_not_dosing`` (not a dosing session),
    ``session_not_ready`` (a dispense outside checked_in/cleared/in_progress, an administration
    before clearance or in a session that never happened). Waste and return are gated only by
    what the session holds (:func:`calculate_posting`).
    """
    rule = kind_rule(kind)
    if not rule.needs_session:
        raise DomainError("session_not_allowed", f"A {kind} is not linked to a session.", field="session")
    if not same_clinic:
        raise DomainError(
            "session_other_clinic", "The session and the lot belong to different clinics.", field="session"
        )
    if session_kind != "dosing":
        raise WorkflowConflict(
            "session_not_dosing",
            f"Drug moves only with a dosing session; this is a {session_kind} session.",
            field="session",
        )
    allowed = {DISPENSE: DISPENSE_SESSION_STATES, ADMINISTER: ADMINISTER_SESSION_STATES}.get(kind)
    if allowed is not None and session_status not in allowed:
        readable = ", ".join(s.replace("_", " ") for s in allowed)
        raise WorkflowConflict(
            "session_not_ready",
            f"A {kind} needs a session that is {readable}; this one is {session_status.replace('_', ' ')}.",
            field="session",
        )


def calculate_count_discrepancy(
    *, expected_mg: Decimal, counted_mg: object, field: str = "counted_mg"
) -> Decimal:
    """The discrepancy of a physical count: counted − expected (negative = drug missing).

    ``counted_mg`` must be ≥ 0 with at most 0.1 mg resolution (``invalid_number``,
    ``amount_out_of_range``, ``amount_precision`` on ``field``); zero is a valid count.
    """
    counted = to_decimal(counted_mg, field=field)
    if counted < 0 or counted > AMOUNT_MAX_MG:
        raise DomainError(
            "amount_out_of_range",
            f"A count must be 0–{_fmt(AMOUNT_MAX_MG)} mg; got {_fmt(counted)} mg.",
            field=field,
        )
    if counted != counted.quantize(AMOUNT_QUANTUM_MG, rounding=ROUND_DOWN):
        raise DomainError("amount_precision", f"Count to 0.1 mg; got {_fmt(counted)} mg.", field=field)
    return counted.quantize(AMOUNT_QUANTUM_MG) - expected_mg


# --- Export ---------------------------------------------------------------------------------------

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_safe_cell(value: object) -> object:
    """A text cell a spreadsheet will not run as a formula: text beginning with ``= + - @``
    (or a tab or carriage return) gets a leading apostrophe. Numbers are left as numbers.

    Source: OWASP "CSV Injection" (from memory, unverified).
    """
    if isinstance(value, str) and value.startswith(_FORMULA_STARTS):
        return "'" + value
    return value
