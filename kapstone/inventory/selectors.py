"""Scoped, audited reads of the controlled-substance register.

Everything is limited to the user's clinics; another clinic's lot, entry, count or location is
"not found", exactly like one that does not exist. Register entries point at dosing sessions,
so reading them is reading about patients: each read writes an audit row (counts and ids, no
names). Lookups that only fill a form's choices (locations, products) are scoped, not audited.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.db.models import Q, QuerySet, Sum

from kapstone.accounts.access import ADMINS, DOSING_CLINICIANS, clinic_ids_for, scoped_get
from kapstone.accounts.models import Clinic, User
from kapstone.accounts.selectors import clinic_of, clinics_of
from kapstone.audit.services import audit_record
from kapstone.care.models import CareSession
from kapstone.domain import register as rules
from kapstone.inventory.models import (
    REGISTER_ORDER,
    CountLine,
    CountSession,
    Lot,
    Product,
    RegisterEntry,
    StorageLocation,
)
from kapstone.inventory.services import (
    lot_balances_at,
    register_lines,
    register_lines_by_lot,
)

#: Who may see stock and the register: the people who record into it and the clinic admins.
INVENTORY_READ = DOSING_CLINICIANS | ADMINS
REGISTER_LIMIT = 2000


def locations_for_user(*, user: User, roles: Iterable[str] = INVENTORY_READ) -> list[StorageLocation]:
    return list(
        StorageLocation.objects.filter(clinic_id__in=clinic_ids_for(user, roles))
        .select_related("clinic")
        .order_by("clinic__name", "name")
    )


def location_get_for_user(
    *, user: User, location_id: int, roles: Iterable[str] = INVENTORY_READ
) -> StorageLocation:
    """One storage location of the user's clinics, or 404 (no PHI: its read is not audited)."""
    return scoped_get(
        StorageLocation.objects.select_related("clinic"),
        location_id,
        user=user,
        roles=roles,
        object_type="storage_location",
        patient=None,
        audit=False,
    )


def products() -> list[Product]:
    """The shared product catalogue (no PHI, no clinic data)."""
    return list(Product.objects.order_by("name", "strength_mg_per_ml", "vial_volume_ml"))


def _all_lots() -> QuerySet[Lot]:
    return Lot.objects.select_related("product", "location", "clinic")


def _lots(user: User, roles: Iterable[str]) -> QuerySet[Lot]:
    return _all_lots().filter(clinic_id__in=clinic_ids_for(user, roles))


def lots_for_user(
    *,
    user: User,
    roles: Iterable[str] = INVENTORY_READ,
    location_id: int | None = None,
    in_stock_only: bool = False,
) -> list[Lot]:
    """Lots of the user's clinics by location, then expiry; audited as a stock read."""
    qs = _lots(user, roles)
    if location_id is not None:
        qs = qs.filter(location_id=location_id)
    if in_stock_only:
        qs = qs.filter(balance_mg__gt=0)
    rows = list(qs.order_by("clinic__name", "location__name", "expiry", "lot_number", "id"))
    audit_record(
        actor=user,
        action="read",
        object_type="stock_list",
        detail={"location_id": location_id, "returned": len(rows)},
    )
    return rows


def lot_get_for_user(*, user: User, lot_id: int, roles: Iterable[str] = INVENTORY_READ) -> Lot:
    """One lot of the user's clinics (404 alike for missing and not-yours), audited."""
    return scoped_get(
        _all_lots(),
        lot_id,
        user=user,
        roles=roles,
        object_type="lot",
        patient=None,
    )


def _entries(user: User, roles: Iterable[str]) -> QuerySet[RegisterEntry]:
    return _all_entries().filter(clinic_id__in=clinic_ids_for(user, roles))


def _all_entries() -> QuerySet[RegisterEntry]:
    return RegisterEntry.objects.select_related(
        "clinic",
        "lot",
        "lot__product",
        "lot__location",
        "actor",
        "witness",
        "session",
        "session__patient",
        "counterpart_location",
    )


@dataclass(frozen=True)
class RegisterRow:
    """One entry as the register shows it.

    The balances are those after the entry in the register's order (when it happened, then
    the order of posting) as the register stands now — late entries included, whatever rows a
    filter shows: the lot's stock (mg, mL, vials) and, for a bedside entry, what its session
    holds from the lot. ``late``: the entry is dated before an entry posted earlier for the lot.
    ``zone``: the clinic's time zone, in which its times are shown.
    """

    entry: RegisterEntry
    balance_mg: Decimal
    balance_ml: Decimal
    balance_vials: Decimal
    in_hand_after_mg: Decimal | None
    late: bool
    zone: str


def _register_rows(entries: list[RegisterEntry], *, whole_lot: bool = False) -> list[RegisterRow]:
    """Rows for ``entries`` with each lot's running balances computed over the lot's whole
    register (``whole_lot``: the entries are already all of one lot's)."""
    if whole_lot:
        lines = {0: register_lines(entries)}
    else:
        lines = register_lines_by_lot(lot_ids={entry.lot_id for entry in entries})
    running = {item.line.key: item for lot_lines in lines.values() for item in rules.run_register(lot_lines)}
    rows = []
    for entry in entries:
        item = running[entry.pk]
        product = entry.lot.product
        rows.append(
            RegisterRow(
                entry=entry,
                balance_mg=item.balance_after_mg,
                # Not measure_stock: a register stored before late entries were checked could
                # show a negative balance, and it must be shown as it is.
                balance_ml=rules.ml_from_mg(
                    item.balance_after_mg, strength_mg_per_ml=product.strength_mg_per_ml
                ),
                balance_vials=rules.vials_from_mg(
                    item.balance_after_mg,
                    strength_mg_per_ml=product.strength_mg_per_ml,
                    vial_volume_ml=product.vial_volume_ml,
                ),
                in_hand_after_mg=item.in_hand_after_mg,
                late=item.late,
                zone=entry.clinic.timezone,
            )
        )
    return rows


def lot_register(*, lot: Lot) -> list[RegisterRow]:
    """The register of one lot already fetched through a scoped selector, in register order."""
    entries = list(
        RegisterEntry.objects.filter(lot=lot)
        .select_related(
            "clinic",
            "lot",
            "lot__product",
            "actor",
            "witness",
            "session",
            "session__patient",
            "counterpart_location",
        )
        .order_by(*REGISTER_ORDER)
    )
    return _register_rows(entries, whole_lot=True)


def register_row(*, entry: RegisterEntry) -> RegisterRow:
    """One entry fetched through a scoped selector, with its balances in its lot's register."""
    return _register_rows([entry])[0]


def _day_bounds(clinic: Clinic, day: date) -> datetime:
    return datetime.combine(day, time.min, tzinfo=ZoneInfo(clinic.timezone))


@dataclass(frozen=True)
class RegisterFilter:
    date_from: date | None = None
    date_to: date | None = None
    lot_id: int | None = None
    kind: str | None = None
    session_id: int | None = None


def entries_for_user(
    *,
    user: User,
    filters: RegisterFilter,
    roles: Iterable[str] = INVENTORY_READ,
    limit: int = REGISTER_LIMIT,
    export: bool = False,
) -> tuple[list[RegisterRow], int]:
    """Register entries of the user's clinics in a date range (each clinic's own days), by lot,
    kind and dosing session, in register order. A filter chooses rows, never balances: each
    row carries its lot's running balance after it over the lot's whole register. Returns
    (rows, total); audited with counts only (as an export when ``export``)."""
    qs = _entries(user, roles)
    if filters.date_from or filters.date_to:
        # "From 1 March" means from midnight of 1 March where the clinic is.
        by_clinic = Q(pk__in=[])
        for clinic in clinics_of(user, roles):
            span = Q(clinic_id=clinic.pk)
            if filters.date_from:
                span &= Q(occurred_at__gte=_day_bounds(clinic, filters.date_from))
            if filters.date_to:
                span &= Q(occurred_at__lt=_day_bounds(clinic, filters.date_to + timedelta(days=1)))
            by_clinic |= span
        qs = qs.filter(by_clinic)
    if filters.lot_id is not None:
        qs = qs.filter(lot_id=filters.lot_id)
    if filters.kind:
        qs = qs.filter(kind=filters.kind)
    if filters.session_id is not None:
        qs = qs.filter(session_id=filters.session_id)
    total = qs.count()
    rows = _register_rows(list(qs.order_by(*REGISTER_ORDER)[:limit]))
    audit_record(
        actor=user,
        action="export" if export else "read",
        object_type="register_list",
        detail={
            "returned": len(rows),
            "total": total,
            "kind": filters.kind,
            "lot_id": filters.lot_id,
            "session_id": filters.session_id,
            "sessions": len({r.entry.session_id for r in rows if r.entry.session_id}),
        },
    )
    return rows, total


def entry_get_for_user(*, user: User, entry_id: int, roles: Iterable[str] = INVENTORY_READ) -> RegisterEntry:
    """One register entry of the user's clinics (404 alike for missing and not-yours), audited."""
    return scoped_get(
        _all_entries().select_related("paired_entry", "pair_of"),
        entry_id,
        user=user,
        roles=roles,
        object_type="register_entry",
        patient="session__patient_id",
    )


def sessions_for_dispense(*, user: User, clinic_id: int) -> list[CareSession]:
    """Dosing sessions of one of the user's clinics that may receive drug now (for a form's
    choices); audited as a session list, since the choices show patients."""
    if clinic_id not in clinic_ids_for(user, DOSING_CLINICIANS):
        return []
    rows = list(
        CareSession.objects.filter(
            clinic_id=clinic_id, kind="dosing", status__in=rules.DISPENSE_SESSION_STATES
        )
        .select_related("patient")
        .order_by("scheduled_date", "start_time", "id")[:200]
    )
    audit_record(
        actor=user,
        action="read",
        object_type="session_list",
        clinic_id=clinic_id,
        detail={"purpose": "dispense", "returned": len(rows)},
    )
    return rows


def sessions_holding(*, user: User, lot: Lot) -> list[tuple[CareSession, Decimal]]:
    """Sessions that hold drug from this lot now, with the amount (for administer, waste and
    return); audited as a session list."""
    if lot.clinic_id not in clinic_ids_for(user, DOSING_CLINICIANS):
        return []
    held = (
        RegisterEntry.objects.filter(lot=lot, session__isnull=False)
        .values("session_id")
        .annotate(in_hand=Sum("in_hand_effect_mg"))
        .filter(in_hand__gt=0)
    )
    amounts = {row["session_id"]: row["in_hand"] for row in held}
    sessions = (
        CareSession.objects.filter(pk__in=amounts).select_related("patient").order_by("scheduled_date", "id")
    )
    rows = [(s, amounts[s.pk]) for s in sessions]
    audit_record(
        actor=user,
        action="read",
        object_type="session_list",
        clinic_id=lot.clinic_id,
        detail={"purpose": "in_hand", "lot_id": lot.pk, "returned": len(rows)},
    )
    return rows


# --- Counts ---------------------------------------------------------------------------------------


def counts_for_user(*, user: User, limit: int = 200) -> list[CountSession]:
    rows = list(
        CountSession.objects.filter(clinic_id__in=clinic_ids_for(user, INVENTORY_READ))
        .select_related("clinic", "location", "actor", "witness")
        .order_by("-started_at", "-id")[:limit]
    )
    audit_record(actor=user, action="read", object_type="count_list", detail={"returned": len(rows)})
    return rows


def count_get_for_user(*, user: User, count_id: int) -> CountSession:
    return scoped_get(
        CountSession.objects.select_related("location", "actor", "witness", "clinic"),
        count_id,
        user=user,
        roles=INVENTORY_READ,
        object_type="count",
        patient=None,
    )


def count_lines(*, count: CountSession) -> list[CountLine]:
    """The lines of a count, each with ``register_at_count_mg``: the lot's balance at the moment
    of the count as the register stands now. It differs from ``expected_mg`` (what the register
    said when the count was recorded) when entries dated before the count were posted after it
    — which may explain a discrepancy."""
    lines = list(
        CountLine.objects.filter(count=count)
        .select_related("lot", "lot__product", "resolved_by", "adjustment")
        .order_by("lot__lot_number", "id")
    )
    moment = count.finished_at or count.started_at
    now = lot_balances_at(lots=[line.lot for line in lines], moment=moment)
    for line in lines:
        line.register_at_count_mg = now[line.lot_id]
    return lines


def count_line_get_for_user(*, user: User, line_id: int, roles: Iterable[str] = ADMINS) -> CountLine:
    return scoped_get(
        CountLine.objects.select_related(
            "count", "count__location", "lot", "lot__product", "resolved_by", "adjustment"
        ),
        line_id,
        user=user,
        roles=roles,
        object_type="count_line",
        clinic="count__clinic_id",
        patient=None,
    )


def discrepancies_for_user(*, user: User, open_only: bool = False, limit: int = 500) -> list[CountLine]:
    """Count lines that did not match the register, open ones first, newest first."""
    qs = CountLine.objects.filter(count__clinic_id__in=clinic_ids_for(user, ADMINS)).exclude(discrepancy_mg=0)
    if open_only:
        qs = qs.filter(resolved_at__isnull=True)
    rows = list(
        qs.select_related(
            "count",
            "count__clinic",
            "count__location",
            "count__actor",
            "lot",
            "lot__product",
            "resolved_by",
            "adjustment",
        ).order_by("-count__started_at", "-id")[:limit]
    )
    rows.sort(key=lambda line: line.resolved_at is not None)  # stable: open first, each part newest first
    audit_record(
        actor=user,
        action="read",
        object_type="discrepancy_list",
        detail={"open_only": open_only, "returned": len(rows)},
    )
    return rows


# --- Inventory as of a moment (biennial inventory) ------------------------------------------------


OPENING = "opening"
CLOSE = "close"


@dataclass(frozen=True)
class InventoryLine:
    lot: Lot
    measure: rules.StockMeasure


@dataclass(frozen=True)
class Inventory:
    clinic: Clinic
    day: date
    taken_at: str  # OPENING or CLOSE of business
    as_of: datetime
    lines: tuple[InventoryLine, ...]


def inventory_as_of(
    *, user: User, clinic_id: int, day: date, taken_at: str, export: bool = False
) -> Inventory:
    """Every lot of a clinic with stock at the opening or close of business on ``day`` (the
    clinic's day), from the register itself: the sum of the lot's entries before that moment.
    Clinic admins only; audited (as an export when ``export``)."""
    clinic = clinic_of(user, ADMINS, clinic_id)
    as_of = _day_bounds(clinic, day + timedelta(days=1) if taken_at == CLOSE else day)
    balances = dict(
        RegisterEntry.objects.filter(clinic=clinic, occurred_at__lt=as_of)
        .values("lot_id")
        .annotate(balance=Sum("stock_effect_mg"))
        .filter(balance__gt=0)
        .values_list("lot_id", "balance")
    )
    lots = (
        Lot.objects.filter(pk__in=balances)
        .select_related("product", "location")
        .order_by("product__name", "product__strength_mg_per_ml", "location__name", "lot_number")
    )
    lines = tuple(
        InventoryLine(
            lot=lot,
            measure=rules.measure_stock(
                # SQLite sums decimals without their scale; the register's amounts are in 0.1 mg.
                Decimal(balances[lot.pk]).quantize(rules.AMOUNT_QUANTUM_MG),
                strength_mg_per_ml=lot.product.strength_mg_per_ml,
                vial_volume_ml=lot.product.vial_volume_ml,
            ),
        )
        for lot in lots
    )
    audit_record(
        actor=user,
        action="export" if export else "read",
        object_type="inventory_report",
        clinic_id=clinic.pk,
        detail={"day": day.isoformat(), "taken_at": taken_at, "lines": len(lines)},
    )
    return Inventory(clinic=clinic, day=day, taken_at=taken_at, as_of=as_of, lines=lines)
