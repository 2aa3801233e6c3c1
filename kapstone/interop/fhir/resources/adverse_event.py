"""FHIR R4 ``AdverseEvent``: one adverse event of ``safety.AdverseEvent``, logical id = its id.

- actuality ``actual``; no category: the R4 category codes (adverse-event-category) describe
  incidents (product problem, wrong dose…), none of which fits a drug reaction, so it is
  left out.
- event: our term code in ``refs.KAPSTONE_CODES`` with its name; the free text of an ``other``
  event as ``text``. Our terms carry no MedDRA or SNOMED code (MedDRA is licensed;
  kapstone.domain.adverse_events), so none is invented here.
- seriousness: ``serious`` / ``non-serious`` (adverse-event-seriousness); the criteria (death,
  hospitalisation…) are further codings of that code system where FHIR has one
  (``SeriousResultsInDeath``…; domain ``SERIOUSNESS_CRITERIA.fhir_code``), named in the text.
- severity: the CTCAE grade (NCI CTCAE v5.0) mapped to adverse-event-severity ``mild`` (1),
  ``moderate`` (2), ``severe`` (3–5); the grade itself in the text.
- outcome: adverse-event-outcome (domain ``OUTCOMES.fhir_code``).
- date: onset; recordedDate: when it was reported; encounter: the session, when there is one.
- suspectEntity: ketamine, a contained ``Medication`` (RxNorm 6130), with the causality
  assessment (adverse-event-causality-assess, WHO-UMC) where ours has a FHIR code.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from django.db.models import Q

from kapstone.domain.adverse_events import GRADES, OUTCOMES, RELATEDNESS, SERIOUSNESS_CRITERIA
from kapstone.interop.fhir import ketamine as med
from kapstone.interop.fhir import refs
from kapstone.interop.fhir import search as sp
from kapstone.safety.models import AdverseEvent

RESOURCE_TYPE = "AdverseEvent"
SEARCH_PARAMS = {"patient": "reference", "date": "date", "_id": "token"}

SEVERITY = {
    1: ("mild", "Mild"),
    2: ("moderate", "Moderate"),
    3: ("severe", "Severe"),
    4: ("severe", "Severe"),
    5: ("severe", "Severe"),
}


def _changed(event: AdverseEvent) -> datetime:
    times = [event.reported_at, event.closed_at] + [u.updated_at for u in event.updates.all()]
    return max(t for t in times if t is not None)


def to_fhir(event: AdverseEvent) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": RESOURCE_TYPE,
        "id": str(event.pk),
        "meta": {"lastUpdated": refs.instant(_changed(event))},
        "contained": [
            {
                "resourceType": "Medication",
                "id": "ketamine",
                "code": med.ketamine(),
            }
        ],
        "actuality": "actual",
        "event": refs.concept(
            refs.coding(refs.KAPSTONE_CODES, f"ae-{event.term}", event.term_name), text=event.term_name
        ),
        "subject": refs.patient_ref(event.patient_id),
    }
    if event.session_id:
        out["encounter"] = refs.encounter_ref(event.session_id)
    out |= {
        "date": refs.instant(event.onset_at),
        "recordedDate": refs.instant(event.reported_at),
        "recorder": refs.practitioner_ref(event.reported_by_id),
    }
    codings = [
        refs.coding(
            refs.AE_SERIOUSNESS,
            *(("serious", "Serious") if event.serious else ("non-serious", "Non-serious")),
        )
    ]
    words = []
    for code in event.seriousness_criteria or []:
        choice = SERIOUSNESS_CRITERIA.get(code)
        if choice is None:
            continue
        words.append(choice.label)
        if choice.fhir_code:
            codings.append(refs.coding(refs.AE_SERIOUSNESS, choice.fhir_code))
    out["seriousness"] = refs.concept(
        *codings, text="; ".join(words) if words else ("Serious" if event.serious else "Non-serious")
    )
    severity, severity_words = SEVERITY[event.grade]
    grade = GRADES.get(event.grade)
    out["severity"] = refs.concept(
        refs.coding(refs.AE_SEVERITY, severity, severity_words),
        text=f"CTCAE grade {event.grade}" + (f" ({grade.name})" if grade else ""),
    )
    outcome = OUTCOMES.get(event.outcome)
    if outcome is not None and outcome.fhir_code:
        out["outcome"] = refs.concept(
            refs.coding(refs.AE_OUTCOME, outcome.fhir_code, outcome.label), text=outcome.label
        )
    suspect: dict[str, Any] = {"instance": {"reference": "#ketamine", "display": "ketamine"}}
    relatedness = RELATEDNESS.get(event.relatedness)
    if relatedness is not None:
        assessment = (
            refs.concept(refs.coding(refs.AE_CAUSALITY_ASSESS, relatedness.fhir_code), text=relatedness.label)
            if relatedness.fhir_code
            else refs.concept(text=relatedness.label)
        )
        suspect["causality"] = [{"assessment": assessment}]
    out["suspectEntity"] = [suspect]
    return out


def _events():
    return AdverseEvent.objects.prefetch_related("updates")


def read(logical_id: str, *, clinic_ids: set[int]) -> dict | None:
    pk = sp.pk_of(logical_id)
    if pk is None or not clinic_ids:
        return None
    event = _events().filter(pk=pk, clinic_id__in=clinic_ids).first()
    return to_fhir(event) if event else None


def search(*, clinic_ids: set[int], params: dict[str, list[str]]) -> list[dict]:
    sp.check_params(params, SEARCH_PARAMS)
    date_params = sp.date_params(params)
    rows = sp.scoped(_events(), params, clinic_ids=clinic_ids, clinic_field="clinic_id")
    low, high = sp.date_window(date_params)
    if low is not None:
        rows = rows.filter(onset_at__gte=low)
    if high is not None:
        rows = rows.filter(onset_at__lt=high)
    return [
        to_fhir(e)
        for e in rows.select_related("clinic").order_by("onset_at", "id")
        if sp.date_matches(date_params, e.onset_at, ZoneInfo(e.clinic.timezone))
    ]


def for_patient(patient, *, since: datetime | None = None) -> list[dict]:
    rows = _events().filter(patient_id=patient.pk, clinic_id=patient.clinic_id)
    if since is not None:
        rows = rows.filter(
            pk__in=AdverseEvent.objects.filter(
                Q(reported_at__gte=since) | Q(closed_at__gte=since) | Q(updates__updated_at__gte=since)
            ).values("pk")
        )
    return [to_fhir(e) for e in rows.order_by("onset_at", "id")]
