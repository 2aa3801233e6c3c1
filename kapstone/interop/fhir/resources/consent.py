"""FHIR R4 ``Consent``: each consent decision of ``patients.Consent`` (treatment, research use of
data, data sharing under 42 CFR Part 2), logical id = its id.

- status (http://hl7.org/fhir/R4/valueset-consent-state-codes.html): the decision in force (the
  latest row of its kind) when granted → ``active``; a withdrawal → ``inactive`` (the consent is
  no longer in force; its provision is ``deny``); an earlier grant since replaced by a later row
  → ``inactive``.
- scope (consentscope): treatment → ``treatment``; research → ``research``; data sharing →
  ``patient-privacy``. category: LOINC 59284-0 "Patient Consent" (as in the R4 Consent
  examples) for every kind, plus consentcategorycodes ``research`` for research and v3-ActCode
  ``IDSCL`` (information disclosure) for the Part 2 consent.
- policyRule (v3-ActCode): ``42CFRPart2`` for the data-sharing consent; ``OPTIN`` / ``OPTOUT``
  for the others; the Part 2 consent also names its regulation in ``policy`` (42 CFR 2.31, the
  required elements of a written consent: recipients, purpose, amount and kind of information,
  expiry, signature).
- provision: ``permit`` for a grant, ``deny`` for a withdrawal, from ``effective_on``; action
  ``use`` (research) or ``disclose`` (Part 2; consentaction code system). The Part 2 provision
  names the recipients as we store them: in the wording of the signed consent document (the
  demo's: the patient's own doctor and pharmacy), so ``actor`` is an information recipient
  (v3-ParticipationType ``IRCP``) whose display points at that document — we hold no
  structured recipient, and do not invent one.
- sourceAttachment: the signed document's title and version (its SHA-256 fingerprint is ours;
  FHIR's ``hash`` is SHA-1, so it is not filled).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import OuterRef, Subquery

from kapstone.interop.fhir import refs
from kapstone.interop.fhir import search as sp
from kapstone.patients.models import Consent, ConsentKind, ConsentStatus

RESOURCE_TYPE = "Consent"
SEARCH_PARAMS = {"patient": "reference", "_id": "token"}

CONSENT_ACTION = "http://terminology.hl7.org/CodeSystem/consentaction"
PARTICIPATION_TYPE = "http://terminology.hl7.org/CodeSystem/v3-ParticipationType"
PART_2_URL = "https://www.ecfr.gov/current/title-42/chapter-I/subchapter-A/part-2"
PART_2_CONSENT_URL = f"{PART_2_URL}/subpart-C/section-2.31"

SCOPES = {
    ConsentKind.TREATMENT: ("treatment", "Treatment"),
    ConsentKind.RESEARCH: ("research", "Research"),
    ConsentKind.DATA_SHARING: ("patient-privacy", "Privacy Consent"),
}


def _consents():
    latest = Consent.objects.filter(patient_id=OuterRef("patient_id"), kind=OuterRef("kind")).order_by(
        "-recorded_at", "-id"
    )
    return Consent.objects.select_related("document").annotate(current_id=Subquery(latest.values("pk")[:1]))


def to_fhir(row: Consent) -> dict[str, Any]:
    granted = row.status == ConsentStatus.GRANTED
    in_force = granted and row.current_id == row.pk
    scope, scope_words = SCOPES[row.kind]
    categories = [refs.concept(refs.coding(refs.LOINC, "59284-0", "Patient Consent"))]
    if row.kind == ConsentKind.RESEARCH:
        categories.append(
            refs.concept(refs.coding(refs.CONSENT_CATEGORY, "research", "Research Information Access"))
        )
    if row.kind == ConsentKind.DATA_SHARING:
        categories.append(refs.concept(refs.coding(refs.ACT_CODE, "IDSCL", "information disclosure")))
    out: dict[str, Any] = {
        "resourceType": RESOURCE_TYPE,
        "id": str(row.pk),
        "meta": {"lastUpdated": refs.instant(row.recorded_at)},
        "status": "active" if in_force else "inactive",
        "scope": refs.concept(
            refs.coding(refs.CONSENT_SCOPE, scope, scope_words), text=row.get_kind_display()
        ),
        "category": categories,
        "patient": refs.patient_ref(row.patient_id),
        "dateTime": refs.instant(row.recorded_at),
        "performer": [refs.patient_ref(row.patient_id)],
    }
    document = row.document
    title = (
        f"{document.title} (version {document.version})"
        if document is not None
        else f"Consent document version {row.document_version}"
    )
    attachment: dict[str, Any] = {"title": title}
    if document is not None:
        attachment["contentType"] = "text/plain"
        attachment["creation"] = refs.instant(document.published_at)
    out["sourceAttachment"] = attachment
    if row.kind == ConsentKind.DATA_SHARING:
        out["policy"] = [{"authority": PART_2_URL, "uri": PART_2_CONSENT_URL}]
        out["policyRule"] = refs.concept(
            refs.coding(refs.ACT_CODE, "42CFRPart2", "42 CFR Part2"), text="42 CFR Part 2 (§ 2.31 consent)"
        )
    else:
        code = "OPTIN" if granted else "OPTOUT"
        out["policyRule"] = refs.concept(refs.coding(refs.ACT_CODE, code, "opt-in" if granted else "opt-out"))
    provision: dict[str, Any] = {
        "type": "permit" if granted else "deny",
        "period": {"start": refs.fhir_date(row.effective_on)},
    }
    if row.kind == ConsentKind.RESEARCH:
        provision["action"] = [refs.concept(refs.coding(CONSENT_ACTION, "use", "Use"))]
    if row.kind == ConsentKind.DATA_SHARING:
        provision["action"] = [refs.concept(refs.coding(CONSENT_ACTION, "disclose", "Disclose"))]
        provision["actor"] = [
            {
                "role": refs.concept(refs.coding(PARTICIPATION_TYPE, "IRCP", "information recipient")),
                "reference": {"display": f"The recipients named in the signed consent: {title}"},
            }
        ]
    out["provision"] = provision
    return out


def read(logical_id: str, *, clinic_ids: set[int]) -> dict | None:
    pk = sp.pk_of(logical_id)
    if pk is None or not clinic_ids:
        return None
    row = _consents().filter(pk=pk, patient__clinic_id__in=clinic_ids).first()
    return to_fhir(row) if row else None


def search(*, clinic_ids: set[int], params: dict[str, list[str]]) -> list[dict]:
    sp.check_params(params, SEARCH_PARAMS)
    rows = sp.scoped(_consents(), params, clinic_ids=clinic_ids, clinic_field="patient__clinic_id")
    return [to_fhir(r) for r in rows.order_by("recorded_at", "id")]


def for_patient(patient, *, since: datetime | None = None) -> list[dict]:
    rows = list(
        _consents()
        .filter(patient_id=patient.pk, patient__clinic_id=patient.clinic_id)
        .order_by("recorded_at", "id")
    )
    out = [to_fhir(r) for r in rows]
    if since is None:
        return out
    # A later row changes an earlier one's status (active → inactive): an earlier grant counts as
    # changed when any row of its kind was recorded since.
    changed_kinds = {r.kind for r in rows if r.recorded_at >= since}
    kinds = {str(r.pk): r.kind for r in rows}
    return [resource for resource in out if kinds[resource["id"]] in changed_kinds]
