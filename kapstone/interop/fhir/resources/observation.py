"""FHIR R4 ``Observation``: vital signs and bedside scores, weights and heights, questionnaire
totals, urine drug tests and the use calendar (docs/interop.md, "Resource mappings", has the tables).

Logical ids say where a resource comes from, so ids never collide across kinds:

- ``vital-<id>``: one row of ``monitoring.Observation`` (heart rate, SpO2, respiratory rate,
  temperature, MOAA/S, Aldrete; a systolic or diastolic value without its partner);
- ``bp-<id>``: a blood-pressure panel (LOINC 85354-9) made of the systolic row ``<id>`` and the
  diastolic row recorded in the same session at the same time with the same void state;
- ``weight-<id>`` / ``height-<id>``: a ``patients.BodyMeasurement`` (29463-7 / 8302-2);
- ``score-<id>``: the total of a ``outcomes.QuestionnaireResponse`` (category ``survey``);
- ``scale-<id>``: a bedside scale kept only as a ``monitoring.ScaleScore`` (CADSS; MOAA/S and
  Aldrete are also observations, exported as ``vital-<id>``), category ``survey``;
- ``liver-<id>``: a ``patients.LiverTest`` result (ALT 1742-6, AST 1920-8, total bilirubin
  1975-2 in mg/dL or 14631-6 in µmol/L; ``kapstone.domain.liver``), category ``laboratory``,
  with the laboratory's upper limit as ``referenceRange.high``;
- ``urine-<id>``: one ``outcomes.ToxicologyTest`` result (category ``laboratory``);
- ``use-<id>``: the current row of one day of the use calendar (``outcomes.UseDay``; category
  ``social-history``). An older row of the same day is history, not an observation: its id reads
  as not found.

A value marked entered in error is exported with status ``entered-in-error`` (and the reason as a
note) rather than left out: a receiver that already holds it learns it is wrong, which silence
would not tell it (FHIR R4 Observation.status, http://hl7.org/fhir/R4/observation.html#status).

Sources: LOINC codes and UCUM units of the vital signs from the FHIR R4 vital-signs profile and
value set (http://hl7.org/fhir/R4/observation-vitalsigns.html; clinical.md §4.8); 59408-5 with
2708-6 for SpO2 as the US Core pulse-oximetry profile requires (clinical.md §4.8); questionnaire
total codes from ``kapstone.domain.instruments`` (clinical.md §4.8); 8302-2 body height from the
same vital-signs value set. Local codes (MOAA/S, Aldrete, TLFB, urine tests) use
``refs.KAPSTONE_CODES`` (clinical.md §6.6: no LOINC code found).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from datetime import UTC, date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q

from kapstone.domain.errors import DomainError
from kapstone.domain.instruments import band_label, get_instrument
from kapstone.domain.liver import analyte
from kapstone.domain.monitoring.observations import OBSERVATION_DEFINITIONS
from kapstone.interop.fhir import refs
from kapstone.interop.fhir import search as sp
from kapstone.monitoring.models import Observation as VitalRow
from kapstone.monitoring.models import ScaleScore
from kapstone.outcomes.models import QuestionnaireResponse, ToxicologyTest, UseDay
from kapstone.patients.models import BodyMeasurement, LiverTest, Patient

RESOURCE_TYPE = "Observation"
SEARCH_PARAMS = {
    "patient": "reference",
    "category": "token",
    "code": "token",
    "date": "date",
    "_id": "token",
}

VITAL_SIGNS_PROFILE = "http://hl7.org/fhir/StructureDefinition/vitalsigns"
BP_PANEL = ("85354-9", "Blood pressure panel with all children optional")
SPO2_ARTERIAL = ("2708-6", "Oxygen saturation in Arterial blood")
BODY_WEIGHT = ("29463-7", "Body weight")
BODY_HEIGHT = ("8302-2", "Body height")

#: Positive / negative / inconclusive: SNOMED CT qualifier values (10828004, 260385009,
#: 419984006) as in HL7's laboratory result examples, with the v3 ObservationInterpretation
#: codes POS / NEG / IND (http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation).
TOX_RESULTS = {
    "positive": ("10828004", "Positive", "POS"),
    "negative": ("260385009", "Negative", "NEG"),
    "inconclusive": ("419984006", "Inconclusive", "IND"),
}
INTERPRETATION = "http://terminology.hl7.org/CodeSystem/v3-ObservationInterpretation"
TOX_METHODS = {
    "urine_drug_screen": ("urine-drug-screen", "Urine drug screen"),
    "etg": ("urine-etg", "Urine ethyl glucuronide (EtG)"),
}

_CATEGORY_DISPLAY = {
    "vital-signs": "Vital Signs",
    "exam": "Exam",
    "survey": "Survey",
    "laboratory": "Laboratory",
    "social-history": "Social History",
}
#: Which categories each kind of id can carry (to skip the tables a category search excludes).
_KIND_CATEGORIES = {
    "vital": {"vital-signs", "exam"},
    "bp": {"vital-signs"},
    "weight": {"vital-signs"},
    "height": {"vital-signs"},
    "score": {"survey"},
    "scale": {"survey"},
    "urine": {"laboratory"},
    "liver": {"laboratory"},
    "use": {"social-history"},
}
KINDS = tuple(_KIND_CATEGORIES)


def _category(code: str) -> list[dict[str, Any]]:
    return [refs.concept(refs.coding(refs.OBSERVATION_CATEGORY, code, _CATEGORY_DISPLAY[code]))]


def _meta(last_updated: datetime | None, *, vital_signs: bool = False) -> dict[str, Any]:
    meta: dict[str, Any] = {}
    if vital_signs:
        meta["profile"] = [VITAL_SIGNS_PROFILE]
    if last_updated is not None:
        meta["lastUpdated"] = refs.instant(last_updated)
    return meta


def _base(logical_id: str, patient_id: int, status: str, category: str, code: dict, meta: dict) -> dict:
    out: dict[str, Any] = {"resourceType": RESOURCE_TYPE, "id": logical_id}
    if meta:
        out["meta"] = meta
    out |= {
        "status": status,
        "category": _category(category),
        "code": code,
        "subject": refs.patient_ref(patient_id),
    }
    return out


def _performer(source: str, patient_id: int, user_id: int) -> list[dict[str, Any]]:
    return [refs.patient_ref(patient_id) if source == "patient" else refs.practitioner_ref(user_id)]


# --- vital signs and bedside scores (monitoring.Observation) ----------------------------------


def _vital_code(row: VitalRow) -> dict[str, Any]:
    definition = OBSERVATION_DEFINITIONS.get(row.code)
    display = definition.display if definition else row.code
    loinc = (definition.loinc if definition else None) or row.loinc
    if loinc:
        codings = [refs.coding(refs.LOINC, loinc, display)]
        if row.code == "spo2":
            codings.append(refs.coding(refs.LOINC, *SPO2_ARTERIAL))
    else:
        codings = [refs.coding(refs.KAPSTONE_CODES, row.code, display)]
    return refs.concept(*codings, text=display)


def _vital_common(row: VitalRow) -> dict[str, Any]:
    out: dict[str, Any] = {
        "encounter": refs.encounter_ref(row.session_id),
        "effectiveDateTime": refs.instant(row.observed_at),
        "issued": refs.instant(row.entered_at),
        "performer": [refs.practitioner_ref(row.entered_by_id)],
    }
    if row.source != "manual":
        out["device"] = {"type": "Device", "identifier": {"value": row.source}, "display": row.source}
    if row.voided_at is not None:
        out["note"] = [{"time": refs.instant(row.voided_at), "text": f"Entered in error: {row.void_reason}"}]
    return out


def _last_changed(row: Any, *fields: str) -> datetime:
    return max(getattr(row, f) for f in fields if getattr(row, f) is not None)


def _vital_resource(row: VitalRow) -> dict[str, Any]:
    definition = OBSERVATION_DEFINITIONS.get(row.code)
    category = definition.category if definition else "exam"
    unit_display = definition.unit_display if definition and definition.unit_display else row.unit
    out = _base(
        f"vital-{row.pk}",
        row.patient_id,
        "entered-in-error" if row.voided_at else "final",
        category,
        _vital_code(row),
        _meta(_last_changed(row, "entered_at", "voided_at"), vital_signs=category == "vital-signs"),
    )
    out |= _vital_common(row)
    out["valueQuantity"] = refs.ucum_quantity(row.value, row.unit, unit_display)
    return _ordered(out)


def _bp_resource(systolic: VitalRow, diastolic: VitalRow) -> dict[str, Any]:
    out = _base(
        f"bp-{systolic.pk}",
        systolic.patient_id,
        "entered-in-error" if systolic.voided_at else "final",
        "vital-signs",
        refs.concept(refs.coding(refs.LOINC, *BP_PANEL), text="Blood pressure"),
        _meta(
            max(
                _last_changed(systolic, "entered_at", "voided_at"),
                _last_changed(diastolic, "entered_at", "voided_at"),
            ),
            vital_signs=True,
        ),
    )
    out |= _vital_common(systolic)
    if systolic.voided_at is not None:
        out["note"] = [
            {"time": refs.instant(r.voided_at), "text": f"Entered in error: {r.void_reason}"}
            for r in (systolic, diastolic)
        ]
    out["component"] = [
        {"code": _vital_code(r), "valueQuantity": refs.ucum_quantity(r.value, r.unit, "mmHg")}
        for r in (systolic, diastolic)
    ]
    return _ordered(out)


def _pair_blood_pressures(rows: Iterable[VitalRow]) -> list[tuple[str, Any]]:
    """``("bp", (systolic, diastolic))`` for each pair recorded together, ``("vital", row)`` for
    every other row. A pair shares session, time and void state (a voided systolic re-entered
    pairs with the diastolic still standing); within such a group the n-th systolic by entry
    order pairs with the n-th diastolic."""
    out: list[tuple[str, Any]] = []
    groups: dict[tuple, dict[str, list[VitalRow]]] = defaultdict(
        lambda: {"systolic_bp": [], "diastolic_bp": []}
    )
    for row in rows:
        if row.code in ("systolic_bp", "diastolic_bp"):
            groups[(row.session_id, row.observed_at, row.voided_at is None)][row.code].append(row)
        else:
            out.append(("vital", row))
    for group in groups.values():
        systolics = sorted(group["systolic_bp"], key=lambda r: r.pk)
        diastolics = sorted(group["diastolic_bp"], key=lambda r: r.pk)
        for systolic, diastolic in zip(systolics, diastolics, strict=False):
            out.append(("bp", (systolic, diastolic)))
        pairs = min(len(systolics), len(diastolics))
        out.extend(("vital", r) for r in systolics[pairs:] + diastolics[pairs:])
    return out


def _vitals(q: _Query) -> list[dict[str, Any]]:
    rows = VitalRow.objects.filter(clinic_id__in=q.clinic_ids)
    if q.patient_ids is not None:
        rows = rows.filter(patient_id__in=q.patient_ids)
    wanted = q.pks("vital") | q.pks("bp") if q.id_filter is not None else None
    if wanted is not None:
        rows = rows.filter(pk__in=wanted)
    if q.since is not None:
        rows = rows.filter(Q(entered_at__gte=q.since) | Q(voided_at__gte=q.since))
    low, high = q.window
    if low is not None:
        rows = rows.filter(observed_at__gte=low)
    if high is not None:
        rows = rows.filter(observed_at__lt=high)
    found = list(rows.order_by("observed_at", "id"))
    # A filtered read (by id or since) may hold one half of a blood pressure: load its partner
    # (one more query) so that the pairing is the same as over the whole record.
    if (wanted is not None or q.since is not None) and any(
        r.code in ("systolic_bp", "diastolic_bp") for r in found
    ):
        have = {r.pk for r in found}
        halves = [r for r in found if r.code in ("systolic_bp", "diastolic_bp")]
        partners = VitalRow.objects.filter(
            clinic_id__in=q.clinic_ids,
            session_id__in={r.session_id for r in halves},
            observed_at__in={r.observed_at for r in halves},
            code__in=("systolic_bp", "diastolic_bp"),
        ).exclude(pk__in=have)
        found.extend(partners)
    out = []
    for kind, item in _pair_blood_pressures(found):
        if kind == "bp":
            out.append(_bp_resource(*item))
        else:
            out.append(_vital_resource(item))
    return out


# --- weights and heights (patients.BodyMeasurement) ------------------------------------------


def _measurements(q: _Query) -> list[dict[str, Any]]:
    rows = BodyMeasurement.objects.filter(patient__clinic_id__in=q.clinic_ids)
    if q.patient_ids is not None:
        rows = rows.filter(patient_id__in=q.patient_ids)
    if q.id_filter is not None:
        rows = rows.filter(pk__in=q.pks("weight") | q.pks("height"))
    if q.since is not None:
        rows = rows.filter(Q(recorded_at__gte=q.since) | Q(voided_at__gte=q.since))
    out = []
    for row in rows.order_by("measured_at", "id"):
        for kind, value, unit, unit_display, (code, display) in (
            ("weight", row.weight_kg, "kg", "kg", BODY_WEIGHT),
            ("height", row.height_cm, "cm", "cm", BODY_HEIGHT),
        ):
            if value is None:
                continue
            resource = _base(
                f"{kind}-{row.pk}",
                row.patient_id,
                "entered-in-error" if row.voided_at else "final",
                "vital-signs",
                refs.concept(refs.coding(refs.LOINC, code, display), text=display),
                _meta(_last_changed(row, "recorded_at", "voided_at"), vital_signs=True),
            )
            resource |= {
                "effectiveDateTime": refs.instant(row.measured_at),
                "issued": refs.instant(row.recorded_at),
                "performer": [refs.practitioner_ref(row.recorded_by_id)],
                "valueQuantity": refs.ucum_quantity(value, unit, unit_display),
            }
            if row.voided_at is not None:
                resource["note"] = [
                    {"time": refs.instant(row.voided_at), "text": f"Entered in error: {row.void_reason}"}
                ]
            out.append(_ordered(resource))
    return out


# --- questionnaire totals (outcomes.QuestionnaireResponse) -----------------------------------


def score_code(instrument: str) -> dict[str, Any]:
    """The total-score code of an instrument: its LOINC total where the domain cites one
    (PHQ-9 44261-6, GAD-7 70274-6, AUDIT-C 75626-2, AUDIT 75624-7, DAST-10 82667-7), else the
    local code ``<instrument>-total``."""
    try:
        definition = get_instrument(instrument)
    except DomainError:
        return refs.concept(
            refs.coding(refs.KAPSTONE_CODES, f"{instrument}-total"), text=f"{instrument} total"
        )
    display = f"{definition.display_name} total score"
    if definition.loinc_total:
        return refs.concept(refs.coding(refs.LOINC, definition.loinc_total, display), text=display)
    return refs.concept(refs.coding(refs.KAPSTONE_CODES, f"{definition.code}-total", display), text=display)


def _scores(q: _Query) -> list[dict[str, Any]]:
    rows = QuestionnaireResponse.objects.filter(patient__clinic_id__in=q.clinic_ids)
    if q.patient_ids is not None:
        rows = rows.filter(patient_id__in=q.patient_ids)
    if q.id_filter is not None:
        rows = rows.filter(pk__in=q.pks("score"))
    if q.since is not None:
        rows = rows.filter(entered_at__gte=q.since)
    out = []
    for row in rows.order_by("administered_on", "id"):
        resource = _base(
            f"score-{row.pk}",
            row.patient_id,
            "final",
            "survey",
            score_code(row.instrument),
            _meta(row.entered_at),
        )
        resource |= {
            "effectiveDateTime": refs.fhir_date(row.administered_on),
            "issued": refs.instant(row.entered_at),
            "performer": _performer(row.source, row.patient_id, row.entered_by_id),
            "valueInteger": row.total,
        }
        try:
            band = band_label(row.instrument, row.band)
        except DomainError:
            band = row.band or None
        if band:
            resource["interpretation"] = [{"text": band}]
        resource["derivedFrom"] = [refs.reference("QuestionnaireResponse", row.pk)]
        out.append(_ordered(resource))
    return out


def _scales(q: _Query) -> list[dict[str, Any]]:
    # MOAA/S and Aldrete totals are observations too (exported as vital-<id>): only the others.
    rows = ScaleScore.objects.filter(clinic_id__in=q.clinic_ids, observation__isnull=True)
    if q.patient_ids is not None:
        rows = rows.filter(patient_id__in=q.patient_ids)
    if q.id_filter is not None:
        rows = rows.filter(pk__in=q.pks("scale"))
    if q.since is not None:
        rows = rows.filter(entered_at__gte=q.since)
    out = []
    for row in rows.order_by("observed_at", "id"):
        resource = _base(
            f"scale-{row.pk}", row.patient_id, "final", "survey", score_code(row.scale), _meta(row.entered_at)
        )
        resource |= {
            "encounter": refs.encounter_ref(row.session_id),
            "effectiveDateTime": refs.instant(row.observed_at),
            "issued": refs.instant(row.entered_at),
            "performer": [refs.practitioner_ref(row.entered_by_id)],
            "valueInteger": row.total,
        }
        out.append(_ordered(resource))
    return out


# --- liver tests (patients.LiverTest) ---------------------------------------------------------

#: Total bilirubin in µmol/L has its own LOINC code (moles/volume; kapstone.domain.liver).
BILIRUBIN_MOLAR = ("14631-6", "Total bilirubin (moles/volume)")


def _liver(q: _Query) -> list[dict[str, Any]]:
    rows = LiverTest.objects.filter(clinic_id__in=q.clinic_ids, patient__clinic_id__in=q.clinic_ids)
    if q.patient_ids is not None:
        rows = rows.filter(patient_id__in=q.patient_ids)
    if q.id_filter is not None:
        rows = rows.filter(pk__in=q.pks("liver"))
    if q.since is not None:
        rows = rows.filter(Q(recorded_at__gte=q.since) | Q(voided_at__gte=q.since))
    out = []
    for row in rows.order_by("taken_on", "id"):
        test = analyte(row.test)
        loinc, display = (test.loinc, test.words)
        if row.test == "bilirubin" and row.unit == "umol/L":
            loinc, display = BILIRUBIN_MOLAR
        resource = _base(
            f"liver-{row.pk}",
            row.patient_id,
            "entered-in-error" if row.voided_at else "final",
            "laboratory",
            refs.concept(refs.coding(refs.LOINC, loinc, display), text=test.words),
            _meta(_last_changed(row, "recorded_at", "voided_at")),
        )
        shown = "µmol/L" if row.unit == "umol/L" else row.unit
        resource |= {
            "effectiveDateTime": refs.fhir_date(row.taken_on),
            "issued": refs.instant(row.recorded_at),
            "performer": [refs.practitioner_ref(row.recorded_by_id)],
            "valueQuantity": refs.ucum_quantity(row.value, row.unit, shown),
            "referenceRange": [{"high": refs.ucum_quantity(row.upper_limit, row.unit, shown)}],
        }
        if row.voided_at is not None:
            resource["note"] = [
                {"time": refs.instant(row.voided_at), "text": f"Entered in error: {row.void_reason}"}
            ]
        out.append(_ordered(resource))
    return out


# --- urine drug tests (outcomes.ToxicologyTest) ----------------------------------------------


def _urine(q: _Query) -> list[dict[str, Any]]:
    rows = ToxicologyTest.objects.filter(patient__clinic_id__in=q.clinic_ids)
    if q.patient_ids is not None:
        rows = rows.filter(patient_id__in=q.patient_ids)
    if q.id_filter is not None:
        rows = rows.filter(pk__in=q.pks("urine"))
    if q.since is not None:
        rows = rows.filter(entered_at__gte=q.since)
    out = []
    for row in rows.order_by("collected_on", "id"):
        method_code, method_name = TOX_METHODS.get(row.method, (row.method, row.method))
        display = f"{method_name}: {row.substance}"
        code = refs.concept(
            refs.coding(refs.KAPSTONE_CODES, f"{method_code}-{row.substance}", display), text=display
        )
        resource = _base(
            f"urine-{row.pk}", row.patient_id, "final", "laboratory", code, _meta(row.entered_at)
        )
        snomed, words, v3 = TOX_RESULTS[row.result]
        resource |= {
            "effectiveDateTime": refs.fhir_date(row.collected_on),
            "issued": refs.instant(row.entered_at),
            "performer": [refs.practitioner_ref(row.entered_by_id)],
            "valueCodeableConcept": refs.concept(refs.coding(refs.SNOMED, snomed, words), text=words),
            "interpretation": [refs.concept(refs.coding(INTERPRETATION, v3, words))],
            "method": refs.concept(
                text="Confirmed by a laboratory" if row.confirmed else "Presumptive point-of-care screen"
            ),
            "specimen": {"display": "Urine"},
        }
        out.append(_ordered(resource))
    return out


# --- the use calendar (outcomes.UseDay) ------------------------------------------------------


def _use_days(q: _Query) -> list[dict[str, Any]]:
    rows = UseDay.objects.filter(patient__clinic_id__in=q.clinic_ids)
    if q.patient_ids is not None:
        rows = rows.filter(patient_id__in=q.patient_ids)
    if q.id_filter is not None:
        # The current row of a day is only known beside the day's other rows: read those days.
        asked = UseDay.objects.filter(pk__in=q.pks("use"), patient__clinic_id__in=q.clinic_ids)
        days = list(asked.values_list("patient_id", "substance", "day"))
        if not days:
            return []
        match = Q()
        for patient_id, substance, day in days:
            match |= Q(patient_id=patient_id, substance=substance, day=day)
        rows = rows.filter(match)
    current: dict[tuple, UseDay] = {}
    # Model ordering: patient, substance, day, newest entry first: the first row of a day wins.
    for row in rows.order_by("patient_id", "substance", "day", "-entered_at", "-id"):
        current.setdefault((row.patient_id, row.substance, row.day), row)
    out = []
    for row in sorted(current.values(), key=lambda r: (r.day, r.substance, r.pk)):
        if q.since is not None and row.entered_at < q.since:
            continue
        display = f"{row.substance} use on the day (Timeline Followback)"
        code = refs.concept(refs.coding(refs.KAPSTONE_CODES, f"tlfb-{row.substance}", display), text=display)
        resource = _base(
            f"use-{row.pk}", row.patient_id, "final", "social-history", code, _meta(row.entered_at)
        )
        resource |= {
            "effectiveDateTime": refs.fhir_date(row.day),
            "issued": refs.instant(row.entered_at),
            "performer": _performer(row.source, row.patient_id, row.entered_by_id),
            "valueBoolean": row.used,
        }
        components = []
        if row.standard_drinks is not None:
            components.append(
                {
                    "code": refs.concept(
                        refs.coding(refs.KAPSTONE_CODES, "tlfb-standard-drinks", "Standard drinks (US, 14 g)")
                    ),
                    "valueQuantity": refs.ucum_quantity(
                        row.standard_drinks, "{standard_drink}", "standard drinks"
                    ),
                }
            )
        if row.amount is not None:
            quantity: dict[str, Any] = {"value": refs.number(row.amount)}
            if row.amount_unit:
                quantity["unit"] = row.amount_unit
            components.append(
                {
                    "code": refs.concept(refs.coding(refs.KAPSTONE_CODES, "tlfb-amount", "Amount used")),
                    "valueQuantity": quantity,
                }
            )
        if components:
            resource["component"] = components
        if row.marker:
            resource["note"] = [{"text": row.marker}]
        out.append(_ordered(resource))
    return out


# --- the interface ---------------------------------------------------------------------------

_ORDER = (
    "resourceType", "id", "meta", "status", "category", "code", "subject", "encounter",
    "effectiveDateTime", "issued", "performer", "valueQuantity", "valueInteger", "valueBoolean",
    "valueCodeableConcept", "interpretation", "note", "method", "specimen", "device",
    "referenceRange",
    "derivedFrom", "component",
)  # fmt: skip


def _ordered(resource: dict[str, Any]) -> dict[str, Any]:
    """The elements in the order of the FHIR R4 Observation definition (readable output)."""
    return {key: resource[key] for key in _ORDER if key in resource}


class _Query:
    def __init__(
        self,
        *,
        clinic_ids: set[int],
        patient_ids: set[int] | None = None,
        id_filter: dict[str, set[int]] | None = None,
        since: datetime | None = None,
        window: tuple[datetime | None, datetime | None] = (None, None),
    ) -> None:
        self.clinic_ids = set(clinic_ids)
        self.patient_ids = patient_ids
        self.id_filter = id_filter
        self.since = since
        self.window = window

    def pks(self, kind: str) -> set[int]:
        return (self.id_filter or {}).get(kind, set())


_SOURCES = (
    ({"vital", "bp"}, _vitals),
    ({"weight", "height"}, _measurements),
    ({"score"}, _scores),
    ({"scale"}, _scales),
    ({"liver"}, _liver),
    ({"urine"}, _urine),
    ({"use"}, _use_days),
)


def _collect(q: _Query, kinds: set[str]) -> list[dict[str, Any]]:
    if not q.clinic_ids:
        return []
    out: list[dict[str, Any]] = []
    for source_kinds, build in _SOURCES:
        if not source_kinds & kinds:
            continue
        if q.id_filter is not None and not any(q.pks(k) for k in source_kinds):
            continue
        out.extend(build(q))
    return out


def _effective(resource: dict[str, Any]) -> datetime | date | None:
    value = resource.get("effectiveDateTime")
    if value is None:
        return None
    return datetime.fromisoformat(value) if "T" in value else date.fromisoformat(value)


def read(logical_id: str, *, clinic_ids: set[int]) -> dict | None:
    parsed = sp.prefixed_pk(logical_id, KINDS)
    if parsed is None:
        return None
    kind, pk = parsed
    found = _collect(_Query(clinic_ids=clinic_ids, id_filter={kind: {pk}}), {kind})
    return next((r for r in found if r["id"] == logical_id), None)


def _zones(resources: list[dict[str, Any]]) -> dict[int | None, ZoneInfo]:
    """The time zone of each resource's patient's clinic: a date search value, and a date-valued
    effective time, are days in that zone (as for every other resource)."""
    patient_ids = {refs.patient_id_of(r) for r in resources} - {None}
    rows = Patient.objects.filter(pk__in=sorted(patient_ids)).values_list("pk", "clinic__timezone")
    return {pk: ZoneInfo(zone) for pk, zone in rows}


def search(*, clinic_ids: set[int], params: dict[str, list[str]]) -> list[dict]:
    sp.check_params(params, SEARCH_PARAMS)
    patient_ids = sp.reference_filter(params, "patient", "Patient")
    categories = [sp.tokens("category", value) for value in params.get("category", [])]
    codes = [sp.tokens("code", value) for value in params.get("code", [])]
    date_params = sp.date_params(params)
    wanted_ids = sp.prefixed_id_filter(params, KINDS)
    id_filter = None
    kinds = set(KINDS)
    if wanted_ids is not None:
        id_filter = defaultdict(set)
        for kind, pk in wanted_ids:
            id_filter[kind].add(pk)
        if not id_filter:
            return []
        kinds &= set(id_filter)
    for wanted in categories:
        kinds = {
            kind
            for kind in kinds
            if sp.codings_match(
                wanted, [refs.coding(refs.OBSERVATION_CATEGORY, c) for c in _KIND_CATEGORIES[kind]]
            )
        }
    query = _Query(
        clinic_ids=clinic_ids,
        patient_ids=patient_ids,
        id_filter=dict(id_filter) if id_filter is not None else None,
        window=sp.date_window(date_params),
    )
    out = []
    for resource in _collect(query, kinds):
        if wanted_ids is not None and sp.prefixed_pk(resource["id"], KINDS) not in wanted_ids:
            continue
        category_codings = [c for cat in resource["category"] for c in cat["coding"]]
        if not all(sp.codings_match(wanted, category_codings) for wanted in categories):
            continue
        if not all(sp.codings_match(wanted, resource["code"].get("coding", [])) for wanted in codes):
            continue
        out.append(resource)
    if date_params:
        zones = _zones(out)
        out = [
            r
            for r in out
            if sp.date_matches(date_params, _effective(r), zones.get(refs.patient_id_of(r), UTC))
        ]
    return out


def for_patient(patient, *, since: datetime | None = None) -> list[dict]:
    query = _Query(clinic_ids={patient.clinic_id}, patient_ids={patient.pk}, since=since)
    return _collect(query, set(KINDS))
