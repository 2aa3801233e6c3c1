"""Register pages: stock, a lot's register and its transactions, receipts, counts, the register by
date range, the discrepancy log and the biennial-inventory style report (page and CSV)."""

from __future__ import annotations

import csv
from datetime import UTC, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.contrib.auth import authenticate
from django.core import signing
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from kapstone.accounts.access import ADMINS, DOSING_CLINICIANS, forbidden, has_role, require_roles
from kapstone.accounts.models import Role
from kapstone.accounts.selectors import clinics_of, witnesses_for
from kapstone.audit.services import audit_record
from kapstone.care.selectors import session_get_for_user
from kapstone.domain import register as rules
from kapstone.domain.errors import DomainError
from kapstone.forms import add_domain_error
from kapstone.inventory import selectors, services
from kapstone.inventory.forms import (
    CountForm,
    InventoryReportForm,
    LocationForm,
    ProductForm,
    ReceiveForm,
    ReceiveMoreForm,
    RegisterFilterForm,
    ResolveForm,
    TransactionForm,
)
from kapstone.inventory.selectors import INVENTORY_READ
from kapstone.inventory.services import COUNT_FORM_MAX_AGE, roles_for_kind
from kapstone.patients.services import clinic_today

ADMIN = Role.ADMIN
COUNT_SALT = "kapstone.inventory.count"
RECORDABLE = (rules.DISPENSE, rules.ADMINISTER, rules.WASTE, rules.RETURN, rules.TRANSFER, rules.ADJUST)


def _render(request: HttpRequest, template: str, context: dict, status: int = 200) -> HttpResponse:
    """Render with the flags the register's sub-navigation needs."""
    context = {
        "inv_admin": has_role(request.user, ADMINS),
        "inv_recorder": has_role(request.user, DOSING_CLINICIANS),
        **context,
    }
    return render(request, template, context, status=status)


def _measure(lot, amount_mg: Decimal) -> rules.StockMeasure:
    return rules.measure_stock(
        amount_mg,
        strength_mg_per_ml=lot.product.strength_mg_per_ml,
        vial_volume_ml=lot.product.vial_volume_ml,
    )


def _annotate_stock(lots) -> None:
    """Attach each lot's measure and expiry status (in its clinic's today) for the templates."""
    today_by_clinic: dict[int, object] = {}
    for lot in lots:
        today = today_by_clinic.setdefault(lot.clinic_id, clinic_today(lot.clinic))
        lot.measure = _measure(lot, lot.balance_mg)
        lot.expiry_status = rules.expiry_status(expiry=lot.expiry, today=today)
        lot.days_to_expiry = (lot.expiry - today).days


# --- Stock and lots -------------------------------------------------------------------------------


@require_roles(*INVENTORY_READ)
@require_GET
def stock(request: HttpRequest) -> HttpResponse:
    show_empty = request.GET.get("empty") == "1"
    lots = selectors.lots_for_user(user=request.user, in_stock_only=not show_empty)
    _annotate_stock(lots)
    groups: dict[tuple[str, str], list] = {}
    for lot in lots:
        groups.setdefault((lot.clinic.name, lot.location.name), []).append(lot)
    return _render(
        request,
        "inventory/stock.html",
        {
            "groups": sorted(groups.items()),
            "show_empty": show_empty,
            "many_clinics": len({lot.clinic_id for lot in lots}) > 1,
            "is_admin": has_role(request.user, ADMINS),
            "can_count": has_role(request.user, DOSING_CLINICIANS),
            "warning_days": rules.EXPIRY_WARNING_DAYS,
        },
    )


@require_roles(*INVENTORY_READ)
@require_GET
def lot_detail(request: HttpRequest, lot_id: int) -> HttpResponse:
    lot = selectors.lot_get_for_user(user=request.user, lot_id=lot_id)
    _annotate_stock([lot])
    rows = selectors.lot_register(lot=lot)
    actions = [
        (kind, rules.KIND_RULES[kind].label)
        for kind in RECORDABLE
        if has_role(request.user, roles_for_kind(kind), lot.clinic_id)
    ]
    return _render(
        request,
        "inventory/lot.html",
        {
            "lot": lot,
            "rows": rows,
            "actions": actions,
            "can_receive": has_role(request.user, ADMINS, lot.clinic_id),
        },
    )


def _witness_confirmed(request: HttpRequest, form, witness) -> bool:
    """The witness signs with their own password. A wrong one is refused and audited."""
    password = form.cleaned_data.get("witness_password") or ""
    if witness is None:
        return True
    user = authenticate(request, username=witness.get_username(), password=password) if password else None
    if user is not None and user.pk == witness.pk:
        return True
    audit_record(
        actor=request.user,
        action="denied",
        object_type="witness_confirmation",
        object_id=witness.pk,
        outcome="denied",
        detail={"reason": "password" if password else "no_password"},
    )
    add_domain_error(
        form,
        DomainError(
            "witness_not_confirmed",
            "The witness must confirm with their own password.",
            field="witness_password",
        ),
    )
    return False


@require_roles(*INVENTORY_READ)
@require_http_methods(["GET", "POST"])
def lot_transaction(request: HttpRequest, lot_id: int, kind: str) -> HttpResponse:
    if kind not in RECORDABLE:
        raise Http404("kind")
    lot = selectors.lot_get_for_user(user=request.user, lot_id=lot_id)
    if not has_role(request.user, roles_for_kind(kind), lot.clinic_id):
        return forbidden(request, reason="role")
    rule = rules.KIND_RULES[kind]
    sessions = _session_choices(request, lot, kind) if rule.needs_session else []
    witnesses = witnesses_for(clinic_id=lot.clinic_id, exclude=request.user) if rule.needs_witness else []
    locations = (
        [
            (loc.pk, loc.name)
            for loc in selectors.locations_for_user(user=request.user, roles=ADMINS)
            if loc.clinic_id == lot.clinic_id and loc.pk != lot.location_id
        ]
        if kind == rules.TRANSFER
        else []
    )
    form = TransactionForm(
        request.POST or None, kind=kind, sessions=sessions, witnesses=witnesses, locations=locations
    )
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        witness = next((u for u in witnesses if u.pk == data.get("witness")), None)
        if not rule.needs_witness or _witness_confirmed(request, form, witness):
            try:
                entry = _record(request, lot, kind, data, witness)
            except DomainError as error:
                add_domain_error(form, _on_form_field(error))
            else:
                messages.success(
                    request,
                    f"{rule.label} of {entry.amount_mg} mg recorded; lot {lot.lot_number} "
                    f"now holds {lot.balance_mg} mg.",
                )
                return redirect("inventory:lot", lot_id=lot.pk)
    _annotate_stock([lot])
    return _render(
        request,
        "inventory/transaction.html",
        {"form": form, "lot": lot, "kind": kind, "rule": rule},
        status=400 if request.method == "POST" else 200,
    )


def _on_form_field(error: DomainError) -> DomainError:
    """Domain fields named differently on the form (``session``, ``witness``, ``lot``)."""
    mapping = {"to_location": "to_location", "lot": None}
    if error.field in mapping:
        return DomainError(error.code, error.message, field=mapping[error.field])
    return error


def _on_receive_field(error: DomainError) -> DomainError:
    """A receipt's time is the form's ``received_at``."""
    if error.field == "at":
        return DomainError(error.code, error.message, field="received_at")
    return _on_form_field(error)


def _clinic_time(value: datetime | None, clinic) -> datetime | None:
    """A time typed on a form, read on the wall clock of the clinic it concerns. The form read it
    in the page's zone (the user's first clinic); the typed wall time is kept and given the
    clinic's own zone."""
    if value is None:
        return None
    return timezone.make_aware(timezone.make_naive(value), ZoneInfo(clinic.timezone))


def _session_choices(request: HttpRequest, lot, kind: str) -> list[tuple[int, str]]:
    if kind == rules.DISPENSE:
        return [
            (s.pk, _session_label(s))
            for s in selectors.sessions_for_dispense(user=request.user, clinic_id=lot.clinic_id)
        ]
    return [
        (s.pk, f"{_session_label(s)} — holds {amount} mg")
        for s, amount in selectors.sessions_holding(user=request.user, lot=lot)
    ]


def _session_label(session) -> str:
    patient = session.patient
    return f"{session.scheduled_date:%Y-%m-%d} · {patient.family_name}, {patient.given_name} ({patient.mrn}) · {session.title}"


def _record(request: HttpRequest, lot, kind: str, data: dict, witness):
    actor = request.user
    amount = data["amount_mg"]
    reason = data.get("reason", "")
    if rules.KIND_RULES[kind].needs_session:
        session = session_get_for_user(user=actor, session_id=data["session"], roles=DOSING_CLINICIANS)
        if kind == rules.DISPENSE:
            return services.register_dispense(actor=actor, lot=lot, session=session, amount_mg=amount)
        if kind == rules.ADMINISTER:
            return services.register_administer(actor=actor, lot=lot, session=session, amount_mg=amount)
        if kind == rules.RETURN:
            return services.register_return(actor=actor, lot=lot, session=session, amount_mg=amount)
        return services.register_waste(
            actor=actor, witness=witness, lot=lot, session=session, amount_mg=amount, reason=reason
        )
    if kind == rules.TRANSFER:
        to_location = selectors.location_get_for_user(
            user=actor, location_id=data["to_location"], roles=ADMINS
        )
        outgoing, _ = services.register_transfer(
            actor=actor, lot=lot, to_location=to_location, amount_mg=amount, reason=reason
        )
        return outgoing
    return services.register_adjust(actor=actor, lot=lot, amount_mg_signed=amount, reason=reason)


@require_roles(ADMIN)
@require_http_methods(["GET", "POST"])
def lot_new(request: HttpRequest) -> HttpResponse:
    locations = selectors.locations_for_user(user=request.user, roles=ADMINS)
    products = selectors.products()
    form = ReceiveForm(request.POST or None, locations=locations, products=products)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        location = next(loc for loc in locations if loc.pk == data["location"])
        product = next(p for p in products if p.pk == data["product"])
        try:
            lot = services.lot_receive(
                actor=request.user,
                clinic=location.clinic,
                location=location,
                product=product,
                lot_number=data["lot_number"],
                expiry=data["expiry"],
                amount_mg=data["vials"] * product.mg_per_vial,
                received_at=_clinic_time(data["received_at"], location.clinic),
            )
        except DomainError as error:
            add_domain_error(form, _on_receive_field(error))
        else:
            messages.success(
                request, f"Received lot {lot.lot_number}: {lot.balance_mg} mg into {location.name}."
            )
            return redirect("inventory:lot", lot_id=lot.pk)
    return _render(
        request,
        "inventory/receive.html",
        {"form": form, "lot": None, "missing_setup": not locations or not products},
        status=400 if request.method == "POST" else 200,
    )


@require_roles(ADMIN)
@require_http_methods(["GET", "POST"])
def lot_receive_more(request: HttpRequest, lot_id: int) -> HttpResponse:
    lot = selectors.lot_get_for_user(user=request.user, lot_id=lot_id, roles=ADMINS)
    form = ReceiveMoreForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            entry = services.register_receive(
                actor=request.user,
                lot=lot,
                amount_mg=form.cleaned_data["vials"] * lot.product.mg_per_vial,
                reason=form.cleaned_data["reason"],
                at=_clinic_time(form.cleaned_data["received_at"], lot.clinic),
            )
        except DomainError as error:
            add_domain_error(form, _on_receive_field(error))
        else:
            messages.success(request, f"Received {entry.amount_mg} mg into lot {lot.lot_number}.")
            return redirect("inventory:lot", lot_id=lot.pk)
    return _render(
        request,
        "inventory/receive.html",
        {"form": form, "lot": lot},
        status=400 if request.method == "POST" else 200,
    )


# --- Catalogue ------------------------------------------------------------------------------------


@require_roles(ADMIN)
@require_http_methods(["GET", "POST"])
def location_new(request: HttpRequest) -> HttpResponse:
    clinics = clinics_of(request.user, ADMINS)
    form = LocationForm(request.POST or None, clinics=clinics)
    if request.method == "POST" and form.is_valid():
        clinic_id = form.cleaned_data.get("clinic_id") or clinics[0].pk
        clinic = next(c for c in clinics if c.pk == clinic_id)
        try:
            location = services.location_create(
                actor=request.user, clinic=clinic, name=form.cleaned_data["name"]
            )
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Added the storage location {location.name}.")
            return redirect("inventory:stock")
    return _render(
        request,
        "inventory/simple_form.html",
        {"form": form, "title": "New storage location"},
        status=400 if request.method == "POST" else 200,
    )


@require_roles(ADMIN)
@require_http_methods(["GET", "POST"])
def product_new(request: HttpRequest) -> HttpResponse:
    form = ProductForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            product = services.product_create(actor=request.user, **form.cleaned_data)
        except DomainError as error:
            add_domain_error(form, error)
        else:
            messages.success(request, f"Added {product} (NDC {product.ndc}) to the catalogue.")
            return redirect("inventory:stock")
    return _render(
        request,
        "inventory/simple_form.html",
        {
            "form": form,
            "title": "New product",
            "intro": "The catalogue is shared by all clinics. Check the NDC, strength and vial size against the label.",
        },
        status=400 if request.method == "POST" else 200,
    )


# --- Register and entries -------------------------------------------------------------------------


def _register_filters(request: HttpRequest):
    """The register's filter form and the filters it gives (``None`` when the form is invalid)."""
    lots = selectors.lots_for_user(user=request.user)
    form = RegisterFilterForm(request.GET or None, lots=lots)
    if not form.is_bound:
        return form, selectors.RegisterFilter()
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    return form, selectors.RegisterFilter(
        date_from=data["date_from"],
        date_to=data["date_to"],
        lot_id=data["lot"],
        kind=data["kind"] or None,
        session_id=data["session"],
    )


@require_roles(*INVENTORY_READ)
@require_GET
def register(request: HttpRequest) -> HttpResponse:
    form, filters = _register_filters(request)
    context = {
        "form": form,
        "rows": [],
        "total": 0,
        "can_export": has_role(request.user, ADMINS),
        "query": request.GET.urlencode(),
    }
    if filters is None:
        return _render(request, "inventory/register.html", context, status=400)
    rows, total = selectors.entries_for_user(user=request.user, filters=filters)
    context.update(
        rows=rows,
        total=total,
        session_filter=filters.session_id is not None,
        zones=sorted({row.zone for row in rows}),
    )
    return _render(request, "inventory/register.html", context)


#: The register CSV's columns. Times are UTC, ISO 8601 (the ``_utc`` columns); balances are the
#: lot's running balance after the entry in register order over the lot's whole register.
REGISTER_CSV_HEADER = (
    "entry_id",
    "occurred_at_utc",
    "posted_at_utc",
    "late_entry",
    "lot_posting_number",
    "clinic",
    "location",
    "product",
    "ndc",
    "lot_number",
    "kind",
    "amount_mg",
    "stock_change_mg",
    "balance_after_mg",
    "balance_after_ml",
    "balance_after_vials",
    "dosing_session",
    "session_in_hand_after_mg",
    "other_location",
    "recorded_by",
    "witness",
    "reason",
)


def _utc(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@require_roles(ADMIN)
@require_GET
def register_csv(request: HttpRequest) -> HttpResponse:
    """The register as filtered on the page, for an inspector or the clinic's own records (clinic
    admins; an ``export`` audit row). Sessions are named by number, not by patient."""
    form, filters = _register_filters(request)
    if filters is None:
        context = {"form": form, "rows": [], "total": 0, "can_export": True, "query": ""}
        return _render(request, "inventory/register.html", context, status=400)
    rows, _ = selectors.entries_for_user(user=request.user, filters=filters, roles=ADMINS, export=True)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    # The server names the file; nothing the user typed reaches the header.
    stamp = timezone.now().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    response["Content-Disposition"] = f'attachment; filename="kapstone-register-{stamp}.csv"'
    writer = csv.writer(response)
    writer.writerow(REGISTER_CSV_HEADER)
    for row in rows:
        e = row.entry
        writer.writerow(
            [
                rules.csv_safe_cell(cell)
                for cell in (
                    e.pk,
                    _utc(e.occurred_at),
                    _utc(e.posted_at),
                    "yes" if row.late else "no",
                    e.sequence,
                    e.clinic.name,
                    e.lot.location.name,
                    e.lot.product.name,
                    e.lot.product.ndc,
                    e.lot.lot_number,
                    e.kind,
                    e.amount_mg,
                    e.stock_effect_mg,
                    row.balance_mg,
                    row.balance_ml,
                    row.balance_vials,
                    e.session_id or "",
                    "" if row.in_hand_after_mg is None else row.in_hand_after_mg,
                    e.counterpart_location.name if e.counterpart_location_id else "",
                    str(e.actor),
                    str(e.witness) if e.witness_id else "",
                    e.reason,
                )
            ]
        )
    return response


@require_roles(*INVENTORY_READ)
@require_GET
def entry_detail(request: HttpRequest, entry_id: int) -> HttpResponse:
    entry = selectors.entry_get_for_user(user=request.user, entry_id=entry_id)
    row = selectors.register_row(entry=entry)
    return _render(request, "inventory/entry.html", {"entry": entry, "row": row, "lot": entry.lot})


# --- Counts ---------------------------------------------------------------------------------------


@require_roles(*INVENTORY_READ)
@require_GET
def counts(request: HttpRequest) -> HttpResponse:
    rows = selectors.counts_for_user(user=request.user)
    locations = selectors.locations_for_user(user=request.user, roles=DOSING_CLINICIANS)
    return _render(request, "inventory/counts.html", {"counts": rows, "locations": locations})


def _count_lots(request: HttpRequest, location) -> list:
    today = clinic_today(location.clinic)
    return [
        lot
        for lot in selectors.lots_for_user(
            user=request.user, roles=DOSING_CLINICIANS, location_id=location.pk
        )
        if lot.balance_mg > 0 or not rules.is_expired(expiry=lot.expiry, today=today)
    ]


@require_roles(*DOSING_CLINICIANS)
@require_http_methods(["GET", "POST"])
def count_new(request: HttpRequest, location_id: int) -> HttpResponse:
    location = selectors.location_get_for_user(
        user=request.user, location_id=location_id, roles=DOSING_CLINICIANS
    )
    lots = _count_lots(request, location)
    witnesses = witnesses_for(clinic_id=location.clinic_id, exclude=request.user)
    started = signing.dumps({"location": location.pk, "at": timezone.now().isoformat()}, salt=COUNT_SALT)
    form = CountForm(request.POST or None, lots=lots, witnesses=witnesses, initial={"started": started})
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        started_at = _started_at(data["started"], location.pk)
        witness = next((u for u in witnesses if u.pk == data.get("witness")), None)
        if started_at is None:
            add_domain_error(
                form,
                DomainError(
                    "count_form_expired", "This count form is too old or was altered; start the count again."
                ),
            )
        elif _witness_confirmed(request, form, witness):
            counted = {}
            for lot, vials, ml in form.lot_fields:
                if data.get(vials) is None and data.get(ml) is None:
                    continue
                counted[lot.pk] = rules.mg_from_vials(
                    Decimal(data.get(vials) or 0),
                    strength_mg_per_ml=lot.product.strength_mg_per_ml,
                    vial_volume_ml=lot.product.vial_volume_ml,
                ) + rules.mg_from_ml(
                    data.get(ml) or Decimal("0"), strength_mg_per_ml=lot.product.strength_mg_per_ml
                )
            try:
                count = services.count_record(
                    actor=request.user,
                    location=location,
                    counted_mg_by_lot=counted,
                    witness=witness,
                    started_at=started_at,
                )
            except DomainError as error:
                if error.field and error.field.startswith("lot_"):
                    error = DomainError(error.code, error.message, field=f"{error.field}_vials")
                add_domain_error(form, error)
            else:
                open_lines = sum(1 for line in selectors.count_lines(count=count) if line.discrepancy_mg)
                if open_lines:
                    messages.error(
                        request,
                        f"Count recorded with {open_lines} discrepanc{'y' if open_lines == 1 else 'ies'}: "
                        "a clinic admin must resolve each one.",
                    )
                else:
                    messages.success(request, "Count recorded: every lot matches the register.")
                return redirect("inventory:count", count_id=count.pk)
    return _render(
        request,
        "inventory/count_form.html",
        {"form": form, "location": location, "lots": lots},
        status=400 if request.method == "POST" else 200,
    )


def _started_at(token: str, location_id: int) -> datetime | None:
    try:
        value = signing.loads(token, salt=COUNT_SALT, max_age=COUNT_FORM_MAX_AGE)
    except signing.BadSignature:
        return None
    if not isinstance(value, dict) or value.get("location") != location_id:
        return None
    try:
        return datetime.fromisoformat(value["at"])
    except (KeyError, TypeError, ValueError):
        return None


@require_roles(*INVENTORY_READ)
@require_GET
def count_detail(request: HttpRequest, count_id: int) -> HttpResponse:
    count = selectors.count_get_for_user(user=request.user, count_id=count_id)
    lines = selectors.count_lines(count=count)
    for line in lines:
        line.counted = _measure(line.lot, line.counted_mg)
        line.expected = _measure(line.lot, line.expected_mg)
    return _render(
        request,
        "inventory/count.html",
        {
            "count": count,
            "lines": lines,
            "can_resolve": has_role(request.user, ADMINS, count.clinic_id),
        },
    )


@require_roles(ADMIN)
@require_http_methods(["GET", "POST"])
def resolve(request: HttpRequest, line_id: int) -> HttpResponse:
    line = selectors.count_line_get_for_user(user=request.user, line_id=line_id)
    form = ResolveForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.count_line_resolve(
                actor=request.user,
                line=line,
                explanation=form.cleaned_data["explanation"],
                adjust_mg_signed=form.cleaned_data["adjust_mg"],
            )
        except DomainError as error:
            if error.field == "amount_mg":
                error = DomainError(error.code, error.message, field="adjust_mg")
            add_domain_error(form, error)
        else:
            messages.success(request, f"Discrepancy on lot {line.lot.lot_number} resolved.")
            return redirect("inventory:count", count_id=line.count_id)
    return _render(
        request,
        "inventory/resolve.html",
        {"form": form, "line": line},
        status=400 if request.method == "POST" else 200,
    )


@require_roles(ADMIN)
@require_GET
def discrepancies(request: HttpRequest) -> HttpResponse:
    open_only = request.GET.get("open") == "1"
    lines = selectors.discrepancies_for_user(user=request.user, open_only=open_only)
    return _render(request, "inventory/discrepancies.html", {"lines": lines, "open_only": open_only})


# --- Biennial inventory ---------------------------------------------------------------------------


def _inventory(request: HttpRequest, *, export: bool):
    clinics = clinics_of(request.user, ADMINS)
    today = clinic_today(clinics[0])
    form = InventoryReportForm(
        request.GET or None, clinics=clinics, initial={"day": today, "taken_at": "close"}
    )
    if not form.is_bound:
        form = InventoryReportForm(
            {"day": today.isoformat(), "taken_at": "close", "clinic_id": clinics[0].pk}, clinics=clinics
        )
    if not form.is_valid():
        return form, None
    data = form.cleaned_data
    inventory = selectors.inventory_as_of(
        user=request.user,
        clinic_id=data.get("clinic_id") or clinics[0].pk,
        day=data["day"],
        taken_at=data["taken_at"],
        export=export,
    )
    return form, inventory


@require_roles(ADMIN)
@require_GET
def inventory_report(request: HttpRequest) -> HttpResponse:
    form, inventory = _inventory(request, export=False)
    return _render(
        request,
        "inventory/inventory_report.html",
        {
            "form": form,
            "inventory": inventory,
            "query": request.GET.urlencode(),
        },
        status=200 if inventory is not None else 400,
    )


CSV_HEADER = (
    "clinic",
    "inventory_date",
    "taken_at",
    "product",
    "ndc",
    "dosage_form",
    "strength_mg_per_ml",
    "vial_volume_ml",
    "location",
    "lot_number",
    "expiry",
    "unopened_vials",
    "opened_vial_ml",
    "balance_mg",
    "balance_ml",
    "balance_vials",
)


@require_roles(ADMIN)
@require_GET
def inventory_report_csv(request: HttpRequest) -> HttpResponse:
    form, inventory = _inventory(request, export=True)
    if inventory is None:
        return _render(
            request, "inventory/inventory_report.html", {"form": form, "inventory": None}, status=400
        )
    filename = f"kapstone-inventory-{inventory.clinic.slug}-{inventory.day:%Y-%m-%d}-{inventory.taken_at}.csv"
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    # The server names the file; nothing the user typed reaches the header.
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    writer = csv.writer(response)
    writer.writerow(CSV_HEADER)
    for line in inventory.lines:
        lot, product, measure = line.lot, line.lot.product, line.measure
        writer.writerow(
            [
                rules.csv_safe_cell(cell)
                for cell in (
                    inventory.clinic.name,
                    inventory.day.isoformat(),
                    inventory.taken_at,
                    product.name,
                    product.ndc,
                    product.dosage_form,
                    product.strength_mg_per_ml,
                    product.vial_volume_ml,
                    lot.location.name,
                    lot.lot_number,
                    lot.expiry.isoformat(),
                    measure.full_vials,
                    measure.partial_ml,
                    measure.mg,
                    measure.ml,
                    measure.vials,
                )
            ]
        )
    return response
