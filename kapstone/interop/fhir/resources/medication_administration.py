"""FHIR R4 ``MedicationAdministration``: one giving of a dose order (``dosing.Administration``),
logical id = its id.

- status (http://hl7.org/fhir/R4/valueset-medication-admin-status.html): running →
  ``in-progress``; paused (the latest rate event is a pause) → ``on-hold``; ended early →
  ``stopped`` with the stop reason as ``statusReason``; ended → ``completed``.
- dosage.dose: the amount actually given (``given_mg``, after any witnessed amendment), once the
  administration has ended; dosage.rateQuantity: the rate of the latest start, change or resume
  (the rate in force now, or the last rate it ran at); route in SNOMED CT.
- Rate changes: FHIR R4 has no element for a rate history, and an extension would need a
  published StructureDefinition that no receiver knows. Each rate event is therefore a
  ``note`` (an Annotation with its ``time``): start, change, pause, resume, stop, the rate and
  the reason — readable by any receiver and lossless for a person. Amendments of the ended
  record are notes too (field, old and new value, reason).
- request → MedicationRequest/<order id>; context → Encounter/<session id>; performer: who
  started it and who ended it (staff logical references).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Prefetch, Q

from kapstone.dosing.models import Administration, AdministrationLot
from kapstone.interop.fhir import ketamine as med
from kapstone.interop.fhir import refs
from kapstone.interop.fhir import search as sp

RESOURCE_TYPE = "MedicationAdministration"
SEARCH_PARAMS = {"patient": "reference", "status": "token", "_id": "token"}
#: The code system of MedicationAdministration.status (R4 valueset-medication-admin-status).
STATUS_SYSTEM = "http://terminology.hl7.org/CodeSystem/medication-admin-status"
FHIR_STATUSES = ("in-progress", "not-done", "on-hold", "completed", "entered-in-error", "stopped", "unknown")
RUNNING_KINDS = ("start", "change", "resume")


def _administrations():
    lots = AdministrationLot.objects.select_related("lot__product").order_by("position", "id")
    return Administration.objects.select_related("order").prefetch_related(
        "rate_events", "amendments", Prefetch("lots", queryset=lots)
    )


def status_of(administration: Administration) -> str:
    if administration.ended_at is None:
        return "on-hold" if administration.paused_since is not None else "in-progress"
    return "stopped" if administration.stopped_early else "completed"


def _events(administration: Administration) -> list:
    return sorted(administration.rate_events.all(), key=lambda e: (e.at, e.pk))


def to_fhir(administration: Administration) -> dict[str, Any]:
    order = administration.order
    events = _events(administration)
    amendments = sorted(administration.amendments.all(), key=lambda a: (a.amended_at, a.pk))
    changed = [administration.started_at, administration.ended_at]
    changed += [e.recorded_at for e in events] + [a.amended_at for a in amendments]
    status = status_of(administration)
    out: dict[str, Any] = {
        "resourceType": RESOURCE_TYPE,
        "id": str(administration.pk),
        "meta": {"lastUpdated": refs.instant(max(t for t in changed if t is not None))},
        "status": status,
    }
    if status == "stopped" and administration.stop_reason:
        out["statusReason"] = [refs.concept(text=administration.stop_reason)]
    out |= {
        "medicationCodeableConcept": med.ketamine(line.lot.product.ndc for line in administration.lots.all()),
        "subject": refs.patient_ref(order.patient_id),
        "context": refs.encounter_ref(order.session_id),
        "effectivePeriod": {"start": refs.instant(administration.started_at)},
        "performer": [{"actor": refs.practitioner_ref(administration.started_by_id)}],
        "request": refs.reference("MedicationRequest", order.pk),
    }
    if administration.ended_at is not None:
        out["effectivePeriod"]["end"] = refs.instant(administration.ended_at)
    if administration.ended_by_id and administration.ended_by_id != administration.started_by_id:
        out["performer"].append({"actor": refs.practitioner_ref(administration.ended_by_id)})
    notes = []
    for event in events:
        _ucum, shown = med.RATE_UNITS.get(event.unit, (event.unit, event.unit))
        text = f"Rate {event.kind}: {refs.number(event.rate)} {shown}"
        if event.reason:
            text += f" ({event.reason})"
        notes.append({"time": refs.instant(event.at), "text": text})
    for amendment in amendments:
        notes.append(
            {
                "time": refs.instant(amendment.amended_at),
                "text": f"Corrected {amendment.get_field_display().lower()}: {amendment.old_value or '—'} → "
                f"{amendment.new_value or '—'} ({amendment.reason})",
            }
        )
    if notes:
        out["note"] = notes
    dosage: dict[str, Any] = {"route": med.route(order.route)}
    if administration.given_mg is not None:
        dosage["dose"] = refs.ucum_quantity(administration.given_mg, "mg", "mg")
        dosage["text"] = f"{administration.given_mg} mg given"
    running = [e for e in events if e.kind in RUNNING_KINDS]
    if running:
        dosage["rateQuantity"] = med.rate_quantity(running[-1].rate, running[-1].unit)
    out["dosage"] = dosage
    return out


def read(logical_id: str, *, clinic_ids: set[int]) -> dict | None:
    pk = sp.pk_of(logical_id)
    if pk is None or not clinic_ids:
        return None
    found = _administrations().filter(pk=pk, order__clinic_id__in=clinic_ids).first()
    return to_fhir(found) if found else None


def _statuses(params: dict[str, list[str]]) -> list[set[str]] | None:
    if "status" not in params:
        return None
    out = []
    for value in params["status"]:
        out.append(sp.codes_of("status", value, FHIR_STATUSES, STATUS_SYSTEM))
    return out


def search(*, clinic_ids: set[int], params: dict[str, list[str]]) -> list[dict]:
    sp.check_params(params, SEARCH_PARAMS)
    statuses = _statuses(params)
    rows = sp.scoped(
        _administrations(),
        params,
        clinic_ids=clinic_ids,
        clinic_field="order__clinic_id",
        patient_field="order__patient_id",
    )
    out = []
    for administration in rows.order_by("started_at", "id"):
        if statuses is not None and not all(status_of(administration) in s for s in statuses):
            continue
        out.append(to_fhir(administration))
    return out


def changed_since(since: datetime):
    """The ids of the administrations started, ended, with a rate event recorded or amended at
    or after ``since`` (a subquery; the end is recorded as the stop event)."""
    changed = (
        Q(started_at__gte=since)
        | Q(ended_at__gte=since)
        | Q(rate_events__recorded_at__gte=since)
        | Q(amendments__amended_at__gte=since)
    )
    return Administration.objects.filter(changed).values("pk")


def for_patient(patient, *, since: datetime | None = None) -> list[dict]:
    rows = _administrations().filter(order__patient_id=patient.pk, order__clinic_id=patient.clinic_id)
    if since is not None:
        rows = rows.filter(pk__in=changed_since(since))
    return [to_fhir(a) for a in rows.order_by("started_at", "id")]
