"""FHIR R4 ``QuestionnaireResponse``: each completed questionnaire (``outcomes.QuestionnaireResponse``),
logical id = its id.

- questionnaire: a Kapstone canonical, ``{refs.KAPSTONE_QUESTIONNAIRE}/<instrument>``. LOINC
  has panel codes (PHQ-9 44249-1, GAD-7 69737-5, AUDIT-C 72109-2…; clinical.md §4.8) but we
  cite no canonical URL of a LOINC Questionnaire, and our item wording follows our own form
  version, so the canonical is ours; the LOINC total score is on the Observation
  ``score-<id>`` (derivedFrom this response). No Questionnaire resource is served.
- items: one per question, ``linkId`` = the item number, ``text`` = our item text (the neutral
  label for instruments whose wording the clinic licenses), answer ``valueCoding`` = the stored
  answer value in ``refs.KAPSTONE_CODES`` with the option label as display.
- status ``completed``; authored = when it was entered; source = the patient when they filled it
  in themselves in the portal, else the staff member who entered it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from kapstone.domain.errors import DomainError
from kapstone.domain.instruments import get_instrument
from kapstone.interop.fhir import refs
from kapstone.interop.fhir import search as sp
from kapstone.outcomes.models import QuestionnaireResponse

RESOURCE_TYPE = "QuestionnaireResponse"
SEARCH_PARAMS = {"patient": "reference", "_id": "token"}


def questionnaire_url(instrument: str) -> str:
    return f"{refs.KAPSTONE_QUESTIONNAIRE}/{instrument}"


def _items(row: QuestionnaireResponse) -> list[dict[str, Any]]:
    try:
        definition = get_instrument(row.instrument)
    except DomainError:
        definition = None
    items = []
    answers = row.answers if isinstance(row.answers, list) else []
    for index, value in enumerate(answers):
        item = definition.items[index] if definition and index < len(definition.items) else None
        entry: dict[str, Any] = {"linkId": str(item.number if item else index + 1)}
        if item is not None:
            entry["text"] = item.text
        label = ""
        if item is not None:
            label = next((o.label for o in item.options if o.value == value), "")
        if isinstance(value, bool) or not isinstance(value, int):
            entry["answer"] = [{"valueString": str(value)}]
        else:
            entry["answer"] = [
                {"valueCoding": refs.coding(refs.KAPSTONE_CODES, f"{row.instrument}-answer-{value}", label)}
                if label
                else {"valueInteger": value}
            ]
        items.append(entry)
    return items


def to_fhir(row: QuestionnaireResponse) -> dict[str, Any]:
    out: dict[str, Any] = {
        "resourceType": RESOURCE_TYPE,
        "id": str(row.pk),
        "meta": {"lastUpdated": refs.instant(row.entered_at)},
        "questionnaire": questionnaire_url(row.instrument),
        "status": "completed",
        "subject": refs.patient_ref(row.patient_id),
        "authored": refs.instant(row.entered_at),
        "author": refs.patient_ref(row.patient_id)
        if row.source == "patient"
        else refs.practitioner_ref(row.entered_by_id),
        "source": refs.patient_ref(row.patient_id)
        if row.source == "patient"
        else refs.practitioner_ref(row.entered_by_id),
    }
    items = _items(row)
    if items:
        out["item"] = items
    return out


def read(logical_id: str, *, clinic_ids: set[int]) -> dict | None:
    pk = sp.pk_of(logical_id)
    if pk is None or not clinic_ids:
        return None
    row = QuestionnaireResponse.objects.filter(pk=pk, patient__clinic_id__in=clinic_ids).first()
    return to_fhir(row) if row else None


def search(*, clinic_ids: set[int], params: dict[str, list[str]]) -> list[dict]:
    sp.check_params(params, SEARCH_PARAMS)
    rows = sp.scoped(
        QuestionnaireResponse.objects.all(), params, clinic_ids=clinic_ids, clinic_field="patient__clinic_id"
    )
    return [to_fhir(r) for r in rows.order_by("entered_at", "id")]


def for_patient(patient, *, since: datetime | None = None) -> list[dict]:
    rows = QuestionnaireResponse.objects.filter(patient_id=patient.pk, patient__clinic_id=patient.clinic_id)
    if since is not None:
        rows = rows.filter(entered_at__gte=since)
    return [to_fhir(r) for r in rows.order_by("entered_at", "id")]
