"""FHIR R4 ``MedicationRequest``: the dose order (``dosing.DoseOrder``), logical id = its id.

- medication: ketamine, RxNorm 6130, with the NDC of each product the administration drew from
  (the order itself names no product; before the administration no NDC is known).
- dosageInstruction: two ``doseAndRate`` entries typed with the FHIR dose-rate-type codes
  (http://terminology.hl7.org/CodeSystem/dose-rate-type): ``ordered`` = mg/kg as prescribed,
  ``calculated`` = the mg dose and rate the domain computed from the weight; route in SNOMED CT;
  the infusion time as ``timing.repeat.duration`` (min).
- status (http://hl7.org/fhir/R4/valueset-medicationrequest-status.html): ``ordered`` (awaiting
  the independent check) → ``draft`` (not yet actionable); ``verified``/``administering`` →
  ``active``; ``completed`` → ``completed``; ``stopped`` → ``stopped``; ``voided`` →
  ``cancelled`` with the void reason (a voided order was never given: a correction voids it and
  a new order is written, so ``entered-in-error`` — "disregard, some actions may have occurred"
  — would say less than we know).
- No ``meta.lastUpdated``: the status follows the administration (its rate events), which the
  order row does not record; ``for_patient(since=…)`` looks at both.
- The blind double check (dosing.selectors.order_is_blind_for): while an order awaits its
  independent check, nobody but its author may see its numbers. FHIR reads carry no author, so
  a ``draft`` request leaves out the dose, rate and weight altogether.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Prefetch, Q

from kapstone.dosing.models import AdministrationLot, DoseOrder, OrderStatus
from kapstone.interop.fhir import ketamine as med
from kapstone.interop.fhir import refs
from kapstone.interop.fhir import search as sp
from kapstone.interop.fhir.resources.medication_administration import changed_since

RESOURCE_TYPE = "MedicationRequest"
SEARCH_PARAMS = {"patient": "reference", "status": "token", "_id": "token"}

STATUS = {
    OrderStatus.ORDERED: "draft",
    OrderStatus.VERIFIED: "active",
    OrderStatus.ADMINISTERING: "active",
    OrderStatus.COMPLETED: "completed",
    OrderStatus.STOPPED: "stopped",
    OrderStatus.VOIDED: "cancelled",
}
#: The code system of MedicationRequest.status (R4 valueset-medicationrequest-status).
STATUS_SYSTEM = "http://hl7.org/fhir/CodeSystem/medicationrequest-status"
FHIR_STATUSES = (
    "active",
    "on-hold",
    "cancelled",
    "completed",
    "entered-in-error",
    "stopped",
    "draft",
    "unknown",
)


def _orders():
    lots = AdministrationLot.objects.select_related("lot__product").order_by("position", "id")
    return DoseOrder.objects.select_related("administration").prefetch_related(
        Prefetch("administration__lots", queryset=lots)
    )


def ndcs_of(order: DoseOrder) -> list[str]:
    """The NDCs of the products an order's administration drew from (prefetched), in order."""
    administration = getattr(order, "administration", None)
    if administration is None:
        return []
    return [line.lot.product.ndc for line in administration.lots.all()]


def _dosage(order: DoseOrder) -> dict[str, Any]:
    dosage: dict[str, Any] = {"route": med.route(order.route)}
    if order.status == OrderStatus.ORDERED:
        dosage["text"] = f"Ketamine {order.route.upper()}: dose withheld until the independent check"
        return dosage
    words = f"Ketamine {order.dose_mg} mg {order.route.upper()} ({order.mg_per_kg} mg/kg)"
    if order.over_min:
        words += f" over {refs.number(order.over_min)} min"
        dosage["timing"] = {"repeat": {"duration": refs.number(order.over_min), "durationUnit": "min"}}
    dosage["text"] = words
    ordered = {
        "type": refs.concept(refs.coding(refs.DOSE_RATE_TYPE, "ordered", "Ordered")),
        "doseQuantity": refs.ucum_quantity(order.mg_per_kg, "mg/kg", "mg/kg"),
    }
    calculated: dict[str, Any] = {
        "type": refs.concept(refs.coding(refs.DOSE_RATE_TYPE, "calculated", "Calculated")),
        "doseQuantity": refs.ucum_quantity(order.dose_mg, "mg", "mg"),
    }
    if order.rate_mg_per_min is not None:
        calculated["rateQuantity"] = med.rate_quantity(order.rate_mg_per_min, "mg_per_min")
    dosage["doseAndRate"] = [ordered, calculated]
    dosage["maxDosePerAdministration"] = refs.ucum_quantity(order.max_mg_per_kg * order.weight_kg, "mg", "mg")
    return dosage


def to_fhir(order: DoseOrder) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": RESOURCE_TYPE,
        "id": str(order.pk),
        "status": STATUS.get(order.status, "unknown"),
    }
    if order.status == OrderStatus.VOIDED and order.void_reason:
        out["statusReason"] = refs.concept(text=order.void_reason)
    out |= {
        "intent": "order",
        "medicationCodeableConcept": med.ketamine(ndcs_of(order)),
        "subject": refs.patient_ref(order.patient_id),
        "encounter": refs.encounter_ref(order.session_id),
        "authoredOn": refs.instant(order.ordered_at),
        "requester": refs.practitioner_ref(order.ordered_by_id),
    }
    if order.status != OrderStatus.ORDERED:
        if order.verified_by_id:
            out["performer"] = refs.practitioner_ref(order.verified_by_id)
        out["supportingInformation"] = [
            {"display": f"Weight {order.weight_kg} kg measured {order.weight_measured_on}"}
        ]
    if order.adjustment_reason:
        out["note"] = [{"text": f"Dose adjusted from the protocol: {order.adjustment_reason}"}]
    out["dosageInstruction"] = [_dosage(order)]
    return out


def read(logical_id: str, *, clinic_ids: set[int]) -> dict | None:
    pk = sp.pk_of(logical_id)
    if pk is None or not clinic_ids:
        return None
    order = _orders().filter(pk=pk, clinic_id__in=clinic_ids).first()
    return to_fhir(order) if order else None


def _statuses(params: dict[str, list[str]]) -> set[str] | None:
    result: set[str] | None = None
    for value in params.get("status", []):
        codes = sp.codes_of("status", value, FHIR_STATUSES, STATUS_SYSTEM)
        result = codes if result is None else result & codes
    return result


def _own_statuses(fhir_statuses: set[str]) -> list[str]:
    return [ours for ours, theirs in STATUS.items() if theirs in fhir_statuses]


def search(*, clinic_ids: set[int], params: dict[str, list[str]]) -> list[dict]:
    sp.check_params(params, SEARCH_PARAMS)
    statuses = _statuses(params)
    orders = sp.scoped(_orders(), params, clinic_ids=clinic_ids, clinic_field="clinic_id")
    if statuses is not None:
        orders = orders.filter(status__in=_own_statuses(statuses))
    return [to_fhir(o) for o in orders.order_by("ordered_at", "id")]


def for_patient(patient, *, since: datetime | None = None) -> list[dict]:
    orders = _orders().filter(patient_id=patient.pk, clinic_id=patient.clinic_id)
    if since is not None:
        orders = orders.filter(
            Q(ordered_at__gte=since)
            | Q(verified_at__gte=since)
            | Q(voided_at__gte=since)
            | Q(administration__in=changed_since(since))
        )
    return [to_fhir(o) for o in orders.order_by("ordered_at", "id")]
