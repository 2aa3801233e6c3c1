"""Writes of the controlled-substance register. Each runs in one transaction with its audit row.

Public API for the dosing app, which calls these inside its own transaction (``atomic`` here
joins it, so the clinical record and the register commit or fail together):
``register_receive``, ``register_dispense``, ``register_administer``, ``register_waste``,
``register_return``, ``register_transfer``, ``register_adjust``, ``lot_receive``,
``session_in_hand_mg`` and ``register_session_correction`` (amendments of a finished
administration).

Order. A lot's register runs in one order: when each entry happened, then the order in which
it was posted (``RegisterEntry.sequence``, numbered under the lot's lock). An entry dated before
one already posted (a late entry, e.g. a dispense recorded with the administration's start
time) is placed at its time and refused if the lot's stock or the session's hand would go
below zero at any moment from then on (``kapstone.domain.register.place_posting``).

Concurrency. Every write locks the lot row (``SELECT … FOR UPDATE``) before it reads the
balance and the entries dated after its own, so two dispenses of the last vial queue and the
second sees the first's result, and two late entries cannot together overdraw a later
balance; the database's ``lot_balance_not_negative`` constraint and the unique posting number
per lot back this up. Lock order, to stay free of
deadlocks: the care session first (if any), then lots in id order, then the audit chain's
lock (taken by ``audit_record``). A caller that has already written an audit row in its
transaction holds the chain lock; it should call these functions before its own audit write.
On SQLite, transactions are IMMEDIATE (settings): the writer holds the database lock from
``BEGIN``, so the same reads are just as safe.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q, QuerySet, Sum
from django.db.models.functions import Round
from django.utils import timezone

from kapstone.accounts.access import ADMINS, DOSING_CLINICIANS, has_role
from kapstone.accounts.models import Clinic, User
from kapstone.accounts.selectors import witness_is_eligible
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession
from kapstone.domain import register as rules
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.text import clean_text
from kapstone.inventory.models import CountLine, CountSession, Lot, Product, RegisterEntry, StorageLocation
from kapstone.patients.services import clinic_today

ZERO = Decimal("0")
#: Who records the bedside kinds (dispense, administer, waste, return) and counts.
#: admins do not handle the drug, so they are not asked to vouch for it.
COUNT_FORM_MAX_AGE = timedelta(hours=12)


def roles_for_kind(kind: str) -> frozenset[str]:
    """The roles that may record ``kind``: clinic admins for receive/transfer/adjust, nurses and
    prescribers for the bedside kinds."""
    return ADMINS if rules.kind_rule(kind).admin_only else DOSING_CLINICIANS


def _require(actor: User, roles: frozenset[str], clinic_id: int) -> None:
    # Views and the API check roles first (403) and scope lookups (404); this is the backstop
    # for other callers, such as the dosing app, which pass their own actor.
    if actor is None or not has_role(actor, roles, clinic_id):
        raise PermissionDenied("role")


def _check_witness(*, kind: str, actor: User, witness: User | None, clinic_id: int) -> None:
    rules.check_witness(
        kind=kind,
        actor_id=actor.pk,
        witness_id=witness.pk if witness is not None else None,
        witness_eligible=witness is not None and witness_is_eligible(witness, clinic_id),
    )


def _in_hand(session_id: int, lot_id: int | None = None) -> Decimal:
    entries = RegisterEntry.objects.filter(session_id=session_id)
    if lot_id is not None:
        entries = entries.filter(lot_id=lot_id)
    return entries.aggregate(total=Sum("in_hand_effect_mg"))["total"] or ZERO


def session_in_hand_mg(session: CareSession, lot: Lot | None = None) -> Decimal:
    """What a dosing session holds now (dispensed − administered − wasted − returned), in mg;
    from one lot if ``lot`` is given, else from all lots."""
    return _in_hand(session.pk, lot.pk if lot is not None else None)


def lot_available_mg(*, lot: Lot, at: datetime) -> Decimal:
    """The most an entry dated ``at`` could take from the lot now (domain ``available_at``): its
    balance then, or less if a later balance would otherwise go below zero. For choosing a lot
    for drug drawn at a past time; unlocked, so the posting checks again under the lot's lock."""
    return rules.available_at(register_lines(RegisterEntry.objects.filter(lot=lot)), at=at)


#: The columns of an entry that its place in the register and its balances depend on.
LINE_FIELDS = ("pk", "kind", "occurred_at", "sequence", "stock_effect_mg", "session_id", "in_hand_effect_mg")


def _line(pk, kind, occurred_at, sequence, effect, session_id, hand) -> rules.RegisterLine:
    return rules.RegisterLine(
        key=pk,
        kind=kind,
        occurred_at=occurred_at,
        sequence=sequence,
        stock_effect_mg=effect,
        session=session_id,
        in_hand_effect_mg=hand,
    )


def register_lines(entries: QuerySet[RegisterEntry] | Iterable[RegisterEntry]) -> list[rules.RegisterLine]:
    """Entries as the domain's register lines (keyed by entry id), for ordering and balances.

    A queryset is read as plain values (one query, no model instances); entries already
    fetched are converted as they are."""
    if isinstance(entries, QuerySet):
        return [_line(*row) for row in entries.values_list(*LINE_FIELDS)]
    return [
        _line(e.pk, e.kind, e.occurred_at, e.sequence, e.stock_effect_mg, e.session_id, e.in_hand_effect_mg)
        for e in entries
    ]


def register_lines_by_lot(*, lot_ids: Iterable[int]) -> dict[int, list[rules.RegisterLine]]:
    """The whole register of each lot, as domain lines, in one query."""
    lines: dict[int, list[rules.RegisterLine]] = {}
    rows = RegisterEntry.objects.filter(lot_id__in=list(lot_ids)).values_list("lot_id", *LINE_FIELDS)
    for lot_id, *row in rows:
        lines.setdefault(lot_id, []).append(_line(*row))
    return lines


@dataclass(frozen=True)
class _Place:
    posting: rules.Posting
    sequence: int
    late: bool


def _place(
    *,
    lot: Lot,
    kind: str,
    amount_mg: object,
    at: datetime,
    session: CareSession | None = None,
    direction: int | None = None,
) -> _Place:
    """Where an entry dated ``at`` goes in the lot's register, and whether it may go there.

    Called with the lot's row locked (so the entries read here cannot change before the write):
    the next posting number, and the entries dated after ``at``. With none, this is a plain
    posting on the balances now; with some, the entry is late and the domain checks every
    balance from its time on (``insufficient_stock``, ``insufficient_in_hand``,
    ``late_entry_overdraws``).
    """
    entries = RegisterEntry.objects.filter(lot_id=lot.pk)
    last = entries.aggregate(last=Max("sequence"))["last"] or 0
    later = register_lines(entries.filter(occurred_at__gt=at))
    posting = rules.place_posting(
        kind=kind,
        amount_mg=amount_mg,
        at=at,
        stock_now_mg=lot.balance_mg,
        later=later,
        in_hand_now_mg=_in_hand(session.pk, lot.pk) if session is not None else None,
        session=session.pk if session is not None else None,
        direction=direction,
        zone=ZoneInfo(lot.clinic.timezone),
    )
    return _Place(posting=posting, sequence=last + 1, late=bool(later))


def _write_entry(
    *,
    actor: User,
    lot: Lot,
    place: _Place,
    session: CareSession | None,
    witness: User | None,
    reason: str,
    counterpart_location: StorageLocation | None,
    paired_entry: RegisterEntry | None,
    at: datetime,
    posted_at: datetime,
) -> RegisterEntry:
    """Apply a placed posting to a lot locked by the caller: its new balance, the entry (with
    its posting number and time, and the balances after it at its place in the register), the
    audit row."""
    posting = place.posting
    product = lot.product
    measure = rules.measure_stock(
        posting.stock_after_mg,
        strength_mg_per_ml=product.strength_mg_per_ml,
        vial_volume_ml=product.vial_volume_ml,
    )
    if posting.stock_effect_mg:
        # Relative update: under the row lock it equals the absolute value; should a caller ever
        # skip the lock, two writers still cannot both spend the same stock without the
        # database's lot_balance_not_negative constraint refusing the second.
        # Rounded to the register's 0.1 mg: SQLite keeps decimals as binary floats, so without it
        # 1000 − 500 − 114.6 − 140 − 245.4 comes out a hair below zero and the constraint refuses an
        # exact emptying of the lot (PostgreSQL's numeric is exact either way).
        Lot.objects.filter(pk=lot.pk).update(
            balance_mg=Round(F("balance_mg") + posting.stock_effect_mg, precision=1)
        )
        # The lot's balance now; for a late entry, ``stock_after_mg`` is the one at its time.
        lot.balance_mg = lot.balance_mg + posting.stock_effect_mg
    entry = RegisterEntry.objects.create(
        clinic_id=lot.clinic_id,
        lot=lot,
        kind=posting.kind,
        amount_mg=posting.amount_mg,
        stock_effect_mg=posting.stock_effect_mg,
        balance_after_mg=measure.mg,
        balance_after_ml=measure.ml,
        balance_after_vials=measure.vials,
        session=session,
        in_hand_effect_mg=posting.in_hand_effect_mg,
        in_hand_after_mg=posting.in_hand_after_mg,
        counterpart_location=counterpart_location,
        paired_entry=paired_entry,
        actor=actor,
        witness=witness,
        reason=reason,
        occurred_at=at,
        sequence=place.sequence,
        posted_at=posted_at,
    )
    audit_record(
        actor=actor,
        action="create",
        object_type="register_entry",
        object_id=entry.pk,
        patient_id=session.patient_id if session is not None else None,
        clinic_id=lot.clinic_id,
        detail={
            "kind": posting.kind,
            "lot_id": lot.pk,
            "amount_mg": str(posting.amount_mg),
            "stock_effect_mg": str(posting.stock_effect_mg),
            "balance_mg": str(measure.mg),
            "lot_balance_mg": str(lot.balance_mg),
            "sequence": place.sequence,
            "late": place.late,
            "session_id": session.pk if session is not None else None,
            "witness_id": witness.pk if witness is not None else None,
        },
    )
    return entry


def _post(
    *,
    actor: User,
    kind: str,
    lot: Lot,
    amount_mg: object,
    session: CareSession | None = None,
    witness: User | None = None,
    reason: str = "",
    direction: int | None = None,
    at: datetime | None = None,
    today: date | None = None,
    check_session_state: bool = True,
    roles: frozenset[str] | None = None,
) -> RegisterEntry:
    """One register entry on one lot: validate, lock (session, then lot), post, audit.

    ``at``/``today``/``check_session_state`` exist for the demo's history and for corrections of
    a finished administration (:func:`register_session_correction`); ``roles`` overrides who may
    post, for the same corrections. Every other caller leaves them alone.
    """
    rule = rules.kind_rule(kind)
    amount = rules.validate_amount_mg(amount_mg)
    reason = rules.validate_reason(reason, required=rule.needs_reason, what=f"record a {kind}")
    _require(actor, roles if roles is not None else roles_for_kind(kind), lot.clinic_id)
    if rule.needs_session and session is None:
        raise DomainError("session_required", f"A {kind} names the dosing session.", field="session")
    if not rule.needs_session and session is not None:
        raise DomainError("session_not_allowed", f"A {kind} is not linked to a session.", field="session")
    _check_witness(kind=kind, actor=actor, witness=witness, clinic_id=lot.clinic_id)
    with transaction.atomic():
        current_session = None
        if session is not None:
            current_session = CareSession.objects.select_for_update().get(pk=session.pk)
            rules.check_session_for(
                kind=kind,
                session_kind=current_session.kind,
                session_status=current_session.status if check_session_state else "in_progress",
                same_clinic=current_session.clinic_id == lot.clinic_id,
            )
        current = Lot.objects.select_for_update().select_related("product", "clinic").get(pk=lot.pk)
        # Expiry is judged on the day the drug moved (a late entry of yesterday's dose was drawn
        # from a lot in date yesterday), not on the day it is recorded.
        rules.check_lot_expiry(
            kind=kind,
            lot_number=current.lot_number,
            expiry=current.expiry,
            today=today or _day_of(at, current.clinic),
        )
        # The clock is read after the lock: an entry that waited for another writer is not
        # dated before it (which would make it a late entry by a few milliseconds).
        now = timezone.now()
        moment = at if at is not None else now
        place = _place(
            lot=current, kind=kind, amount_mg=amount, at=moment, session=current_session, direction=direction
        )
        entry = _write_entry(
            actor=actor,
            lot=current,
            place=place,
            session=current_session,
            witness=witness,
            reason=reason,
            counterpart_location=None,
            paired_entry=None,
            at=moment,
            posted_at=now,
        )
    lot.balance_mg = current.balance_mg
    return entry


# --- Public register API --------------------------------------------------------------------------


def register_receive(
    *, actor: User, lot: Lot, amount_mg: object, reason: str = "", at: datetime | None = None
) -> RegisterEntry:
    """Add received stock to an existing lot (clinic admin). An expired lot cannot be received
    (WorkflowConflict ``lot_expired``). ``at``: when the delivery arrived, if that was before
    now (never in the future: ``time_in_future``); a receipt dated before entries already
    posted is a late entry, placed at its time."""
    return _post(
        actor=actor, kind=rules.RECEIVE, lot=lot, amount_mg=amount_mg, reason=reason, at=_occurred(at)
    )


def _occurred(at: datetime | None) -> datetime | None:
    """When a clinical event happened, for entries recorded after the fact (never in the future)."""
    if at is None:
        return None
    if at.tzinfo is None:
        raise DomainError("naive_datetime", "The time of the entry must carry a time zone.", field="at")
    if at > timezone.now() + timedelta(minutes=1):
        raise DomainError("time_in_future", "A register entry cannot be dated in the future.", field="at")
    return at


def register_dispense(
    *, actor: User, lot: Lot, session: CareSession, amount_mg: object, at: datetime | None = None
) -> RegisterEntry:
    """Move stock into a dosing session's hands (nurse or prescriber).

    Only to a dosing session of the lot's clinic that is checked in, cleared or in progress
    (``session_other_clinic``, ``session_not_dosing``, ``session_not_ready``); never from an
    expired lot (``lot_expired``) nor beyond the stock (``insufficient_stock``, with the balance).
    ``at`` is when it happened, when that is earlier than now (the administration's start).
    """
    return _post(
        actor=actor, kind=rules.DISPENSE, lot=lot, amount_mg=amount_mg, session=session, at=_occurred(at)
    )


def register_administer(
    *, actor: User, lot: Lot, session: CareSession, amount_mg: object, at: datetime | None = None
) -> RegisterEntry:
    """Record drug given to the patient from what the session holds from this lot
    (``insufficient_in_hand`` beyond it). The dosing app calls this in the transaction of its
    administration record, with ``at`` the end of the administration."""
    return _post(
        actor=actor, kind=rules.ADMINISTER, lot=lot, amount_mg=amount_mg, session=session, at=_occurred(at)
    )


def register_waste(
    *,
    actor: User,
    witness: User | None,
    lot: Lot,
    session: CareSession,
    amount_mg: object,
    reason: str = "",
    at: datetime | None = None,
) -> RegisterEntry:
    """Destroy drug from the session's hands, witnessed by another active nurse or prescriber of
    the clinic (``witness_required``, ``witness_same_as_actor``, ``witness_not_in_clinic``)."""
    return _post(
        actor=actor,
        kind=rules.WASTE,
        lot=lot,
        amount_mg=amount_mg,
        session=session,
        witness=witness,
        reason=reason,
        at=_occurred(at),
    )


def register_return(*, actor: User, lot: Lot, session: CareSession, amount_mg: object) -> RegisterEntry:
    """Put unused drug from the session's hands back into the lot's stock."""
    return _post(actor=actor, kind=rules.RETURN, lot=lot, amount_mg=amount_mg, session=session)


def register_session_correction(
    *,
    actor: User,
    witness: User | None,
    lot: Lot,
    session: CareSession,
    kind: str,
    delta_mg: object,
    reason: str,
    at: datetime | None = None,
) -> list[RegisterEntry]:
    """Correct the register of one lot of a finished dosing session after an amendment of the
    administration record (the dosing app calls this inside the amendment's transaction).

    ``kind`` is what the corrected quantity was (``administer`` or ``waste``); ``delta_mg`` is
    new − old (non-zero, 0.1 mg resolution). The register stays append-only:

    * more drug left the lot than was recorded (delta > 0): a ``dispense`` of the delta to the
      session, then an ``administer`` or witnessed ``waste`` of it, so the session's hand is empty
      again and the lot's stock falls by the delta (``insufficient_stock`` when the lot does not
      hold it: a balance never goes negative);
    * less drug left the lot than was recorded (delta < 0): the register has no negative
      administer or waste, so the stock is put back with a witnessed ``adjust`` of +|delta| whose
      reason names the session.

    Always by a nurse or prescriber with another clinician as witness (``witness_required``,
    ``witness_same_as_actor``, ``witness_not_in_clinic``). Kapstone's choice: an adjustment is
    otherwise clinic-admin work, but this one is the bedside correction of a dosing record,
    witnessed like a waste, and is posted with the clinical record that explains it.
    """
    if kind not in (rules.ADMINISTER, rules.WASTE):
        raise DomainError("invalid_kind", "A correction is of an administer or a waste.", field="kind")
    delta = rules.validate_amount_mg(delta_mg, field="delta_mg", signed=True)
    text = rules.validate_reason(reason, required=True, what="correct the register")
    _check_witness(kind=rules.WASTE, actor=actor, witness=witness, clinic_id=lot.clinic_id)
    common = {"actor": actor, "lot": lot, "roles": DOSING_CLINICIANS, "at": _occurred(at)}
    with transaction.atomic():
        if delta > 0:
            dispensed = _post(
                kind=rules.DISPENSE, amount_mg=delta, session=session, check_session_state=False, **common
            )
            used = _post(
                kind=kind,
                amount_mg=delta,
                session=session,
                witness=witness if kind == rules.WASTE else None,
                reason=text,
                check_session_state=False,
                **common,
            )
            return [dispensed, used]
        label = f"Correction for dosing session {session.pk}: {text}"[: rules.REASON_MAX_LENGTH]
        return [
            _post(kind=rules.ADJUST, amount_mg=-delta, direction=1, witness=witness, reason=label, **common)
        ]


def register_adjust(
    *, actor: User, lot: Lot, amount_mg_signed: object, reason: str, at: datetime | None = None
) -> RegisterEntry:
    """Correct a lot's stock up (positive) or down (negative), with a reason (clinic admin).
    A correction below zero is refused (``insufficient_stock``). ``at``: when it was done, if
    before now (never in the future)."""
    signed = rules.validate_amount_mg(amount_mg_signed, field="amount_mg", signed=True)
    return _post(
        actor=actor,
        kind=rules.ADJUST,
        lot=lot,
        amount_mg=abs(signed),
        direction=1 if signed > 0 else -1,
        reason=reason,
        at=_occurred(at),
    )


def register_history(
    *,
    actor: User,
    kind: str,
    lot: Lot,
    session: CareSession,
    amount_mg: object,
    at: datetime,
    witness: User | None = None,
    reason: str = "",
) -> RegisterEntry:
    """A bedside entry (dispense, administer, waste, return) of a dosing session's past, for a
    record written long after the session moved on (the demo's history, an import): dated
    ``at`` (required, never in the future), with every rule of the register applied as of then
    (stock, expiry on that day, witness, reason) except the session's state, which has moved on
    since. The live bedside uses :func:`register_dispense` and the others, which check it."""
    if at is None:
        raise DomainError("time_required", "Give the time of the entry.", field="at")
    return _post(
        actor=actor,
        kind=kind,
        lot=lot,
        amount_mg=amount_mg,
        session=session,
        witness=witness,
        reason=reason,
        at=_occurred(at),
        check_session_state=False,
    )


def register_transfer(
    *, actor: User, lot: Lot, to_location: StorageLocation, amount_mg: object, reason: str
) -> tuple[RegisterEntry, RegisterEntry]:
    """Move stock to another storage location of the same clinic (clinic admin, with a reason).

    The stock arrives in the lot row of the same product and lot number at the target location,
    created on first use with the same expiry. Returns (outgoing entry, incoming entry); the
    incoming one names the outgoing one as its pair, and each names the other location.
    Refusals: ``location_other_clinic``, ``transfer_same_location``, ``lot_expiry_mismatch``,
    ``insufficient_stock``.
    """
    return _transfer(actor=actor, lot=lot, to_location=to_location, amount_mg=amount_mg, reason=reason)


def _transfer(
    *,
    actor: User,
    lot: Lot,
    to_location: StorageLocation,
    amount_mg: object,
    reason: str,
    at: datetime | None = None,
) -> tuple[RegisterEntry, RegisterEntry]:
    amount = rules.validate_amount_mg(amount_mg)
    reason = rules.validate_reason(reason, required=True, what="transfer stock")
    _require(actor, ADMINS, lot.clinic_id)
    if to_location.clinic_id != lot.clinic_id:
        raise DomainError(
            "location_other_clinic",
            "Stock moves only between locations of the same clinic.",
            field="to_location",
        )
    if to_location.pk == lot.location_id:
        raise DomainError(
            "transfer_same_location", "The stock is already at that location.", field="to_location"
        )
    with transaction.atomic():
        # Both lot rows are locked in one statement, in id order: two opposite transfers of the
        # same lot number queue instead of deadlocking.
        locked = list(
            Lot.objects.select_for_update()
            .select_related("product", "clinic", "location")
            .filter(
                Q(pk=lot.pk)
                | Q(product_id=lot.product_id, location_id=to_location.pk, lot_number=lot.lot_number)
            )
            .order_by("pk")
        )
        source = next(row for row in locked if row.pk == lot.pk)
        target = next((row for row in locked if row.pk != lot.pk), None)
        if target is not None and target.expiry != source.expiry:
            raise DomainError(
                "lot_expiry_mismatch",
                f"Lot {source.lot_number} at {to_location.name} has another expiry date "
                f"({target.expiry.isoformat()}); check the labels before moving stock.",
                field="to_location",
            )
        now = timezone.now()  # after the locks, as in _post
        moment = at if at is not None else now
        out_place = _place(lot=source, kind=rules.TRANSFER, amount_mg=amount, at=moment, direction=-1)
        outgoing = _write_entry(
            actor=actor,
            lot=source,
            place=out_place,
            session=None,
            witness=None,
            reason=reason,
            counterpart_location=to_location,
            paired_entry=None,
            at=moment,
            posted_at=now,
        )
        if target is None:
            target = _lot_create(
                actor=actor,
                clinic=source.clinic,
                location=to_location,
                product=source.product,
                lot_number=source.lot_number,
                expiry=source.expiry,
                at=moment,
            )
        in_place = _place(lot=target, kind=rules.TRANSFER, amount_mg=amount, at=moment, direction=1)
        incoming = _write_entry(
            actor=actor,
            lot=target,
            place=in_place,
            session=None,
            witness=None,
            reason=reason,
            counterpart_location=source.location,
            paired_entry=outgoing,
            at=moment,
            posted_at=now,
        )
    lot.balance_mg = source.balance_mg
    return outgoing, incoming


def _lot_create(
    *,
    actor: User,
    clinic: Clinic,
    location: StorageLocation,
    product: Product,
    lot_number: str,
    expiry: date,
    at: datetime,
) -> Lot:
    try:
        with transaction.atomic():
            lot = Lot.objects.create(
                product=product,
                clinic=clinic,
                location=location,
                lot_number=lot_number,
                expiry=expiry,
                balance_mg=ZERO,
                created_by=actor,
                created_at=at,
            )
    except IntegrityError:
        raise DomainError(
            "lot_exists",
            f"Lot {lot_number} of this product is already at {location.name}; record a receipt on it instead.",
            field="lot_number",
        ) from None
    audit_record(
        actor=actor,
        action="create",
        object_type="lot",
        object_id=lot.pk,
        clinic_id=clinic.pk,
        detail={"product_id": product.pk, "location_id": location.pk},
    )
    return lot


def _day_of(at: datetime | None, clinic: Clinic) -> date:
    """The clinic's calendar day of ``at`` (today when None)."""
    if at is None:
        return clinic_today(clinic)
    return at.astimezone(ZoneInfo(clinic.timezone)).date()


def lot_receive(
    *,
    actor: User,
    clinic: Clinic,
    location: StorageLocation,
    product: Product,
    lot_number: str,
    expiry: date,
    amount_mg: object,
    received_at: datetime | None = None,
) -> Lot:
    """Receive a new lot into a storage location: the lot row and its first ``receive`` entry,
    in one transaction (clinic admin). ``received_at``: when the delivery arrived, if before now
    (so that drug drawn from it since can be recorded at its own time). Refusals: ``lot_exists``
    (receive on that lot instead), ``location_other_clinic``, ``lot_expired``,
    ``time_in_future``, ``naive_datetime``, the amount and lot-number checks."""
    return _lot_receive(
        actor=actor,
        clinic=clinic,
        location=location,
        product=product,
        lot_number=lot_number,
        expiry=expiry,
        amount_mg=amount_mg,
        at=_occurred(received_at),
    )


def _lot_receive(
    *,
    actor: User,
    clinic: Clinic,
    location: StorageLocation,
    product: Product,
    lot_number: str,
    expiry: date,
    amount_mg: object,
    at: datetime | None = None,
    today: date | None = None,
) -> Lot:
    lot_number = rules.validate_lot_number(lot_number)
    if not isinstance(expiry, date) or isinstance(expiry, datetime):
        raise DomainError("invalid_date", "The expiry must be a date.", field="expiry")
    amount = rules.validate_amount_mg(amount_mg)
    _require(actor, ADMINS, clinic.pk)
    if location.clinic_id != clinic.pk:
        raise DomainError(
            "location_other_clinic", "The storage location belongs to another clinic.", field="location"
        )
    today = today or _day_of(at, clinic)
    rules.check_lot_expiry(kind=rules.RECEIVE, lot_number=lot_number, expiry=expiry, today=today)
    at = at or timezone.now()
    with transaction.atomic():
        if Lot.objects.filter(product=product, location=location, lot_number=lot_number).exists():
            raise DomainError(
                "lot_exists",
                f"Lot {lot_number} of this product is already at {location.name}; record a receipt on it instead.",
                field="lot_number",
            )
        lot = _lot_create(
            actor=actor,
            clinic=clinic,
            location=location,
            product=product,
            lot_number=lot_number,
            expiry=expiry,
            at=at,
        )
        _post(actor=actor, kind=rules.RECEIVE, lot=lot, amount_mg=amount, at=at, today=today)
    return lot


# --- Catalogue --------------------------------------------------------------------------------------


def _name(value: object, *, max_length: int, field: str, what: str) -> str:
    return clean_text(
        value,
        field=field,
        max_chars=max_length,
        required=True,
        label=f"The {field.replace('_', ' ')}",
        missing_message=f"Enter a name to {what}.",
    )


def location_create(*, actor: User, clinic: Clinic, name: str) -> StorageLocation:
    """A new storage location of a clinic (clinic admin); names are unique within the clinic."""
    text = _name(name, max_length=80, field="name", what="create the location")
    _require(actor, ADMINS, clinic.pk)
    with transaction.atomic():
        if StorageLocation.objects.filter(clinic=clinic, name__iexact=text).exists():
            raise DomainError(
                "location_exists", f"{clinic.name} already has a location called {text}.", field="name"
            )
        location = StorageLocation.objects.create(
            clinic=clinic, name=text, created_by=actor, created_at=timezone.now()
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="storage_location",
            object_id=location.pk,
            clinic_id=clinic.pk,
        )
    return location


def product_create(
    *,
    actor: User,
    name: str,
    ndc: str,
    strength_mg_per_ml: object,
    vial_volume_ml: object,
    dosage_form: str = "Injection, solution",
) -> Product:
    """A product in the shared catalogue (a clinic admin of any clinic). One row per NDC."""
    name = _name(name, max_length=120, field="name", what="create the product")
    dosage_form = _name(dosage_form, max_length=60, field="dosage_form", what="describe the dosage form")
    ndc = rules.validate_ndc(ndc)
    strength, volume = rules.validate_product(
        strength_mg_per_ml=strength_mg_per_ml, vial_volume_ml=vial_volume_ml
    )
    if actor is None or not has_role(actor, ADMINS):
        raise PermissionDenied("role")
    with transaction.atomic():
        if Product.objects.filter(ndc=ndc).exists():
            raise DomainError("ndc_exists", f"NDC {ndc} is already in the catalogue.", field="ndc")
        product = Product.objects.create(
            name=name,
            ndc=ndc,
            dosage_form=dosage_form,
            strength_mg_per_ml=strength,
            vial_volume_ml=volume,
            created_by=actor,
            created_at=timezone.now(),
        )
        audit_record(
            actor=actor, action="create", object_type="product", object_id=product.pk, detail={"ndc": ndc}
        )
    return product


# --- Counts ---------------------------------------------------------------------------------------


def count_record(
    *,
    actor: User,
    location: StorageLocation,
    counted_mg_by_lot: Mapping[int, object],
    witness: User | None = None,
    started_at: datetime | None = None,
    at: datetime | None = None,
) -> CountSession:
    """Record a physical count of a storage location (nurse or prescriber; witness optional).

    ``counted_mg_by_lot`` maps lot id → the amount found. Every lot of the location that the
    register says holds stock must be counted (``count_incomplete``); lots with no stock may be
    counted too (drug found where none should be is a discrepancy). The expected amounts are
    the register's balances at the moment of the count, read under the lots' locks, so no entry
    slips between the count and its comparison. ``at``: when the count was finished, if before
    now (never in the future).
    """
    return _count_record(
        actor=actor,
        location=location,
        counted_mg_by_lot=counted_mg_by_lot,
        witness=witness,
        started_at=started_at,
        at=_occurred(at),
    )


def lot_balances_at(*, lots: Iterable[Lot], moment: datetime) -> dict[int, Decimal]:
    """Each lot's balance at ``moment`` in register order: its balance now without the entries
    dated after ``moment`` (entries may be dated up to a minute ahead, and a past-dated count
    comes before the entries that followed it)."""
    lots = list(lots)
    after = dict(
        RegisterEntry.objects.filter(lot__in=lots, occurred_at__gt=moment)
        .values("lot_id")
        .annotate(total=Sum("stock_effect_mg"))
        .values_list("lot_id", "total")
    )
    # SQLite sums decimals without their scale; the register's amounts are in 0.1 mg.
    return {
        lot.pk: lot.balance_mg - Decimal(after.get(lot.pk) or 0).quantize(rules.AMOUNT_QUANTUM_MG)
        for lot in lots
    }


def _count_record(
    *,
    actor: User,
    location: StorageLocation,
    counted_mg_by_lot: Mapping[int, object],
    witness: User | None,
    started_at: datetime | None,
    at: datetime | None = None,
) -> CountSession:
    _require(actor, DOSING_CLINICIANS, location.clinic_id)
    _check_witness(kind="count", actor=actor, witness=witness, clinic_id=location.clinic_id)
    with transaction.atomic():
        lots = {
            lot.pk: lot for lot in Lot.objects.select_for_update().filter(location=location).order_by("pk")
        }
        now = at or timezone.now()  # after the locks, as in _post
        started = min(started_at, now) if started_at is not None else now
        expected_by_lot = lot_balances_at(lots=lots.values(), moment=now)
        unknown = sorted(set(counted_mg_by_lot) - set(lots))
        if unknown:
            raise DomainError(
                "count_unknown_lot", "A counted lot is not at this location.", field=f"lot_{unknown[0]}"
            )
        missing = sorted(pk for pk in lots if expected_by_lot[pk] > 0 and counted_mg_by_lot.get(pk) is None)
        if missing:
            raise DomainError(
                "count_incomplete",
                f"Count every lot in stock: lot {lots[missing[0]].lot_number} has no count.",
                field=f"lot_{missing[0]}",
            )
        lines = []
        for pk in sorted(counted_mg_by_lot):
            value = counted_mg_by_lot[pk]
            if value is None:
                continue
            expected = expected_by_lot[pk]
            discrepancy = rules.calculate_count_discrepancy(
                expected_mg=expected, counted_mg=value, field=f"lot_{pk}"
            )
            lines.append((lots[pk], expected, expected + discrepancy, discrepancy))
        if not lines:
            raise DomainError("count_empty", "There is nothing to count at this location.")
        count = CountSession.objects.create(
            clinic_id=location.clinic_id,
            location=location,
            actor=actor,
            witness=witness,
            started_at=started,
            finished_at=now,
        )
        CountLine.objects.bulk_create(
            [
                CountLine(
                    count=count, lot=lot, expected_mg=expected, counted_mg=counted, discrepancy_mg=discrepancy
                )
                for lot, expected, counted, discrepancy in lines
            ]
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="count",
            object_id=count.pk,
            clinic_id=location.clinic_id,
            detail={
                "lines": len(lines),
                "discrepancies": sum(1 for *_, d in lines if d),
                "witness_id": witness.pk if witness is not None else None,
            },
        )
    return count


def count_line_resolve(
    *,
    actor: User,
    line: CountLine,
    explanation: str,
    adjust_mg_signed: object | None = None,
    at: datetime | None = None,
) -> CountLine:
    """Close an open discrepancy with an explanation (clinic admin).

    Never edits the register. If stock must change, ``adjust_mg_signed`` posts an ``adjust``
    entry (reason: the explanation) in the same transaction, and the resolution references it.
    Refusals: ``explanation_required``, WorkflowConflict ``no_discrepancy``,
    ``discrepancy_already_resolved``, and those of :func:`register_adjust`.
    ``at``: when it was resolved, if before now (never in the future).
    """
    return _count_line_resolve(
        actor=actor, line=line, explanation=explanation, adjust_mg_signed=adjust_mg_signed, at=_occurred(at)
    )


def _count_line_resolve(
    *,
    actor: User,
    line: CountLine,
    explanation: str,
    adjust_mg_signed: object | None,
    at: datetime | None = None,
) -> CountLine:
    explanation = rules.validate_reason(
        explanation, required=True, what="resolve the discrepancy", field="explanation"
    )
    if adjust_mg_signed is not None:
        rules.validate_amount_mg(adjust_mg_signed, field="adjust_mg", signed=True)
    _require(actor, ADMINS, line.count.clinic_id)
    with transaction.atomic():
        current = CountLine.objects.select_for_update().select_related("count", "lot").get(pk=line.pk)
        if current.discrepancy_mg == 0:
            raise WorkflowConflict(
                "no_discrepancy", "This count line matched the register; there is nothing to resolve."
            )
        if current.resolved_at is not None:
            raise WorkflowConflict(
                "discrepancy_already_resolved",
                f"This discrepancy was resolved on {current.resolved_at:%Y-%m-%d %H:%M} UTC.",
            )
        adjustment = None
        if adjust_mg_signed is not None:
            signed = rules.validate_amount_mg(adjust_mg_signed, field="adjust_mg", signed=True)
            adjustment = _post(
                actor=actor,
                kind=rules.ADJUST,
                lot=current.lot,
                amount_mg=abs(signed),
                direction=1 if signed > 0 else -1,
                reason=f"Count {current.count_id}: {explanation}"[: rules.REASON_MAX_LENGTH],
                at=at,
            )
        current.resolved_by = actor
        current.resolved_at = at or timezone.now()
        current.explanation = explanation
        current.adjustment = adjustment
        current.save(update_fields=["resolved_by", "resolved_at", "explanation", "adjustment"])
        audit_record(
            actor=actor,
            action="update",
            object_type="count_line",
            object_id=current.pk,
            clinic_id=current.count.clinic_id,
            detail={"resolved": True, "adjustment_id": adjustment.pk if adjustment else None},
        )
    return current
