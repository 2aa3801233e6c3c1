"""FHIR import: ``POST /fhir/r4`` with a transaction Bundle of Patient, Condition and Observation
(docs/interop.md, "Import").

Every write goes through the patient services (``patient_create``, ``diagnosis_add``,
``measurement_record``, ``liver_test_record``), with their checks and their audit rows: there is
no second path to the data. The whole Bundle is one transaction: each entry is tried in a
savepoint so that every bad entry is found and reported, and if any was refused the transaction
is rolled back and nothing is written (no audit row either). The answer is a
``transaction-response`` Bundle, or one OperationOutcome listing every issue, each naming the entry
(``Bundle.entry[3].resource.valueQuantity.code``) with our stable code in ``details.coding``.

What is imported, and how (the inverse of the exporter's mappings, resources/*.py):

- ``Patient``: matched in the chosen clinic by its MRN, an ``identifier`` whose ``system`` is the
  clinic's MRN system (``refs.mrn_system``). A match answers ``200 OK`` and the patient is not
  changed (its birth date must agree, else ``patient_mismatch``); otherwise the patient is
  registered (``201 Created``). An MRN of any other system is refused (``mrn_system_unknown``):
  another clinic's or another organisation's number says nothing about ours, and guessing would
  file results in the wrong chart. The recorded sex at birth comes from the US Core Birth Sex
  extension (F, M, UNK) alone, never from ``gender`` (administrative gender, which says nothing
  of it): without the extension it is ``unknown``, so the pregnancy check before a dose is asked.
- ``Condition``: an ICD-10-CM code of our catalogue, confirmed and active (or status absent),
  recorded as a secondary diagnosis (the primary one is a clinician's choice on the chart).
- ``Observation`` (status final, amended or corrected): body weight 29463-7 in kg and body height
  8302-2 in cm with an ``effectiveDateTime`` that has a time; liver tests ALT 1742-6, AST 1920-8,
  total bilirubin 1975-2 / 14631-6 with the laboratory's upper limit as ``referenceRange.high``
  in the same unit, on the day of ``effectiveDateTime``.

A Condition or Observation names its patient by ``subject``: the ``fullUrl`` of a Patient entry
(``urn:uuid:…``), ``Patient/{id}`` of the clinic, or an MRN ``identifier``. Anything else, and a
patient of another clinic, is ``patient_not_found`` with the same words.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db import transaction
from django.http import Http404, HttpRequest
from fhir.resources.R4B.condition import Condition as Condition_R4B
from fhir.resources.R4B.observation import Observation as Observation_R4B
from fhir.resources.R4B.patient import Patient as Patient_R4B
from pydantic import ValidationError

from kapstone.accounts.access import PATIENT_WRITE
from kapstone.accounts.models import Clinic
from kapstone.accounts.selectors import clinics_of
from kapstone.audit.services import audit_record
from kapstone.domain.errors import DomainError
from kapstone.interop.fhir import refs
from kapstone.patients.models import Patient
from kapstone.patients.services import (
    diagnosis_add,
    liver_test_record,
    measurement_record,
    patient_create,
)

#: The most entries one Bundle may hold (a clinic's import of one chart holds tens to hundreds);
#: the body itself is bounded by Django's ``DATA_UPLOAD_MAX_MEMORY_SIZE`` (2 MiB, settings).
MAX_ENTRIES = 1000
MEDIA_TYPES = frozenset({"application/fhir+json", "application/json"})
TYPES = ("Patient", "Condition", "Observation")

#: LOINC code → (what it is, the liver test key or None for a body measurement). The codes the
#: exporter writes (resources/observation.py, kapstone.domain.liver).
BODY = {"29463-7": ("weight", "kg"), "8302-2": ("height", "cm")}
LIVER = {"1742-6": "alt", "1920-8": "ast", "1975-2": "bilirubin", "14631-6": "bilirubin"}
FINAL = frozenset({"final", "amended", "corrected"})
#: FHIR administrative gender, checked but never read as sex at birth: a man's administrative
#: gender says nothing of whether he can be pregnant, and sex at birth decides the pregnancy
#: check before a dose (domain/sessions.py) and the AUDIT-C bands.
GENDERS = frozenset({"female", "male", "other", "unknown"})
#: US Core Birth Sex code → recorded sex at birth (``refs.BIRTH_SEX``); ASKU (asked, declined) too.
SEX_FROM_BIRTH_SEX = {"F": "female", "M": "male", "UNK": "unknown", "ASKU": "unknown"}
ACTIVE = frozenset({"active", "recurrence", "relapse"})

_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$")


@dataclass
class Issue:
    status: int
    issue_code: str  # FHIR issue type (invalid, required, not-found, value, not-supported…)
    code: str  # ours, stable
    message: str
    expression: str = ""


class Refused(Exception):
    """The whole request refused: its HTTP status and every issue found."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__(issues[0].message)
        self.issues = issues
        self.status = issues[0].status  # one request-level issue, or entry issues (all 422)


def outcome(issues: list[Issue]) -> dict[str, Any]:
    out = []
    for item in issues:
        issue: dict[str, Any] = {
            "severity": "error",
            "code": item.issue_code,
            "details": {"coding": [refs.coding(refs.KAPSTONE_ERRORS, item.code)], "text": item.message},
        }
        if item.expression:
            issue["expression"] = [item.expression]
        out.append(issue)
    return {"resourceType": "OperationOutcome", "issue": out}


# --- one entry's reading -----------------------------------------------------------------------


@dataclass
class Entry:
    """One entry: where it is (for expressions), what it asks, and what came of it."""

    index: int
    resource_type: str = ""
    resource: dict[str, Any] = field(default_factory=dict)
    full_url: str = ""
    issues: list[Issue] = field(default_factory=list)
    values: dict[str, Any] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)  # service field → expression
    subject: tuple[str, Any] | None = None  # ("entry", index) | ("patient", pk)
    patient: Patient | None = None
    response: dict[str, Any] | None = None

    def path(self, rest: str = "") -> str:
        base = f"Bundle.entry[{self.index}]"
        return f"{base}.{rest}" if rest else base

    def at(self, rest: str) -> str:
        return self.path(f"resource.{rest}" if rest else "resource")

    def refuse(
        self, code: str, message: str, rest: str, *, issue_code: str = "invalid", whole: bool = False
    ) -> None:
        self.issues.append(Issue(422, issue_code, code, message, self.path(rest) if whole else self.at(rest)))


def _text(entry: Entry, value: Any, rest: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        entry.refuse("invalid_type", "This element must be a string.", rest)
        return ""
    return value


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _codings(concept: Any) -> list[tuple[int, str, str]]:
    """(index, system, code) of each coding of a CodeableConcept whose system and code are text."""
    out = []
    for k, coding in enumerate(_list(_dict(concept).get("coding"))):
        coding = _dict(coding)
        system, code = coding.get("system"), coding.get("code")
        if isinstance(system, str) and isinstance(code, str):
            out.append((k, system, code))
    return out


def _status_codes(concept: Any) -> set[str]:
    return {
        c.get("code")
        for c in _list(_dict(concept).get("coding"))
        if isinstance(c, dict) and isinstance(c.get("code"), str)
    }


def _read_date(entry: Entry, value: Any, rest: str, *, required_code: str, words: str) -> date | None:
    if value is None:
        entry.refuse(required_code, f"Give the {words} (YYYY-MM-DD).", rest, issue_code="required")
        return None
    if isinstance(value, str) and _DATE.match(value):
        try:
            return date.fromisoformat(value)
        except ValueError:
            pass
    entry.refuse("invalid_date", f"The {words} must be a whole date, YYYY-MM-DD.", rest, issue_code="value")
    return None


def _read_instant(value: Any) -> datetime | None:
    if isinstance(value, str) and _DATETIME.match(value):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            moment.astimezone(UTC)  # year 1 or 9999 pushed over the edge by its offset
        except (ValueError, OverflowError):
            return None
        return moment
    return None


def _read_patient(entry: Entry, clinic: Clinic) -> None:
    resource = entry.resource
    system = refs.mrn_system(clinic)
    identifiers = _list(resource.get("identifier"))
    mrn_at = next(
        (
            k
            for k, ident in enumerate(identifiers)
            if isinstance(ident, dict) and ident.get("system") == system
        ),
        None,
    )
    if mrn_at is None:
        if identifiers:
            entry.refuse(
                "mrn_system_unknown",
                f"Only medical record numbers of {clinic.name} are imported: give an identifier with "
                f"system {system}.",
                "identifier",
            )
        else:
            entry.refuse(
                "mrn_required",
                f"Give the patient's medical record number: an identifier with system {system}.",
                "identifier",
                issue_code="required",
            )
    else:
        entry.values["mrn"] = _text(entry, identifiers[mrn_at].get("value"), f"identifier[{mrn_at}].value")
        entry.paths["mrn"] = entry.at(f"identifier[{mrn_at}].value")
    names = [n for n in _list(resource.get("name")) if isinstance(n, dict)]
    name_at = next((k for k, n in enumerate(names) if n.get("use") == "official"), 0)
    name = names[name_at] if names else {}
    given = [g for g in _list(name.get("given")) if isinstance(g, str)]
    entry.values["given_name"] = " ".join(given)
    entry.values["family_name"] = _text(entry, name.get("family"), f"name[{name_at}].family")
    entry.paths |= {
        "given_name": entry.at(f"name[{name_at}].given"),
        "family_name": entry.at(f"name[{name_at}].family"),
    }
    entry.values["birth_date"] = _read_date(
        entry, resource.get("birthDate"), "birthDate", required_code="birth_date_required", words="birth date"
    )
    entry.paths["birth_date"] = entry.at("birthDate")
    gender = resource.get("gender")
    if gender is not None and gender not in GENDERS:
        entry.refuse(
            "gender_invalid", "gender must be female, male, other or unknown.", "gender", issue_code="value"
        )
    entry.values["sex_at_birth"] = "unknown"
    entry.paths["sex_at_birth"] = entry.paths["sex"] = entry.at("extension")
    for k, extension in enumerate(_list(resource.get("extension"))):
        if isinstance(extension, dict) and extension.get("url") == refs.BIRTH_SEX:
            code = extension.get("valueCode")
            if code not in SEX_FROM_BIRTH_SEX:
                entry.refuse(
                    "birth_sex_invalid",
                    "The birth-sex extension takes F, M or UNK.",
                    f"extension[{k}].valueCode",
                    issue_code="value",
                )
            else:
                entry.values["sex_at_birth"] = SEX_FROM_BIRTH_SEX[code]
            entry.paths["sex_at_birth"] = entry.paths["sex"] = entry.at(f"extension[{k}].valueCode")
            break
    for k, telecom in enumerate(_list(resource.get("telecom"))):
        telecom = _dict(telecom)
        kind = telecom.get("system") if telecom.get("system") in ("phone", "email") else None
        if kind and kind not in entry.values and telecom.get("value") is not None:
            entry.values[kind] = _text(entry, telecom.get("value"), f"telecom[{k}].value")
            entry.paths[kind] = entry.at(f"telecom[{k}].value")
    addresses = _list(resource.get("address"))
    if addresses and isinstance(addresses[0], dict):
        first = addresses[0]
        text = first.get("text")
        if not isinstance(text, str):
            parts = [
                *_list(first.get("line")),
                first.get("city"),
                first.get("state"),
                first.get("postalCode"),
            ]
            text = ", ".join(p for p in parts if isinstance(p, str) and p)
        entry.values["address"] = text
        entry.paths["address"] = entry.at("address[0]")


def _read_condition(entry: Entry) -> None:
    resource = entry.resource
    icd = [(k, code) for k, system, code in _codings(resource.get("code")) if system == refs.ICD10CM]
    if not icd:
        entry.refuse(
            "condition_code_not_importable",
            f"A condition is imported by its ICD-10-CM code (system {refs.ICD10CM}).",
            "code",
            issue_code="not-supported",
        )
    else:
        k, code = icd[0]
        entry.values["code"] = code
        entry.paths["code"] = entry.at(f"code.coding[{k}].code")
    verification = _status_codes(resource.get("verificationStatus"))
    if verification and "confirmed" not in verification:
        entry.refuse(
            "condition_not_confirmed",
            "Only confirmed conditions are imported (verificationStatus confirmed).",
            "verificationStatus",
            issue_code="business-rule",
        )
    clinical = _status_codes(resource.get("clinicalStatus"))
    if clinical and not clinical & ACTIVE:
        entry.refuse(
            "condition_not_active",
            "Only active conditions are imported (clinicalStatus active).",
            "clinicalStatus",
            issue_code="business-rule",
        )


def _quantity(entry: Entry, quantity: Any, rest: str) -> tuple[Any, str, str]:
    """(value, unit, expression of the unit) of a Quantity: the UCUM ``code``, else ``unit``."""
    quantity = _dict(quantity)
    value = quantity.get("value")
    if value is None:
        entry.refuse(
            "value_required", "Give the value (valueQuantity.value).", f"{rest}.value", issue_code="required"
        )
    elif isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        entry.refuse("invalid_number", "The value must be a number.", f"{rest}.value", issue_code="value")
        value = None
    system = quantity.get("system")
    if isinstance(quantity.get("code"), str) and system in (None, refs.UCUM):
        return value, quantity["code"], f"{rest}.code"
    unit = quantity.get("unit")
    return value, unit if isinstance(unit, str) else "", f"{rest}.unit"


def _read_observation(entry: Entry, clinic: Clinic) -> None:
    resource = entry.resource
    status = resource.get("status")
    if not isinstance(status, str) or status not in FINAL:
        entry.refuse(
            "observation_not_final",
            "Only final results are imported (status final, amended or corrected).",
            "status",
            issue_code="business-rule",
        )
    loinc = [(k, code) for k, system, code in _codings(resource.get("code")) if system == refs.LOINC]
    known = next(((k, code) for k, code in loinc if code in BODY or code in LIVER), None)
    if known is None:
        entry.refuse(
            "observation_code_not_importable",
            "Imported observations are body weight (LOINC 29463-7), body height (8302-2) and liver "
            "tests: ALT (1742-6), AST (1920-8), total bilirubin (1975-2, 14631-6).",
            "code",
            issue_code="not-supported",
        )
        return
    k, code = known
    value, unit, unit_at = _quantity(entry, resource.get("valueQuantity"), "valueQuantity")
    effective = resource.get("effectiveDateTime")
    if code in BODY:
        kind, expected = BODY[code]
        entry.values["kind"] = kind
        if unit != expected:
            entry.refuse(
                "unit_not_supported",
                f"Body {kind} is imported in {expected} (UCUM code {expected}).",
                unit_at,
                issue_code="value",
            )
        entry.values[f"{kind}_{expected}"] = value
        entry.paths[f"{kind}_{expected}"] = entry.at("valueQuantity.value")
        moment = _read_instant(effective)
        if effective is None:
            entry.refuse(
                "effective_required",
                "Give when it was measured (effectiveDateTime).",
                "effectiveDateTime",
                issue_code="required",
            )
        elif moment is None:
            entry.refuse(
                "effective_time_required",
                "Give when it was measured as a date and time with its offset "
                "(e.g. 2026-12-01T09:30:00-05:00): the weight in force for a dose is chosen by time.",
                "effectiveDateTime",
                issue_code="value",
            )
        entry.values["measured_at"] = moment
        entry.paths["measured_at"] = entry.at("effectiveDateTime")
        return
    entry.values |= {"kind": "liver", "test": LIVER[code], "value": value, "unit": unit}
    entry.paths |= {
        "test": entry.at(f"code.coding[{k}].code"),
        "value": entry.at("valueQuantity.value"),
        "unit": entry.at(unit_at),
    }
    ranges = _list(resource.get("referenceRange"))
    high = _dict(_dict(ranges[0]).get("high")) if ranges else {}
    limit, limit_unit, limit_unit_at = (
        _quantity(entry, high, "referenceRange[0].high") if high else (None, "", "")
    )
    if high and limit_unit != unit:
        entry.refuse(
            "reference_range_unit_mismatch",
            "The upper limit of normal must be in the result's unit.",
            limit_unit_at,
            issue_code="value",
        )
    entry.values["upper_limit"] = limit
    entry.paths["upper_limit"] = entry.at("referenceRange[0].high.value")
    taken: date | None = None
    if isinstance(effective, str) and _DATE.match(effective):
        taken = _read_date(
            entry, effective, "effectiveDateTime", required_code="effective_required", words="day"
        )
    elif (moment := _read_instant(effective)) is not None:
        try:
            taken = moment.astimezone(ZoneInfo(clinic.timezone)).date()  # the clinic's day
        except OverflowError:  # year 1 or 9999 pushed over the edge by the offset
            entry.refuse(
                "invalid_date", "effectiveDateTime is out of range.", "effectiveDateTime", issue_code="value"
            )
    elif effective is None:
        entry.refuse(
            "effective_required",
            "Give the day the blood was taken (effectiveDateTime).",
            "effectiveDateTime",
            issue_code="required",
        )
    else:
        entry.refuse(
            "invalid_date",
            "effectiveDateTime must be a date or a date and time with offset.",
            "effectiveDateTime",
            issue_code="value",
        )
    entry.values["taken_on"] = taken
    entry.paths["taken_on"] = entry.at("effectiveDateTime")


# --- the Bundle ----------------------------------------------------------------------------------


def parse_body(request: HttpRequest) -> dict[str, Any]:
    """The request's JSON object, or Refused (413 too large, 415 not JSON, 400 malformed)."""
    try:
        body = request.body
    except RequestDataTooBig:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        raise Refused(
            [
                Issue(
                    413,
                    "too-costly",
                    "bundle_too_large",
                    f"The Bundle is larger than {limit} bytes: send it in parts.",
                )
            ]
        ) from None
    if not body:
        raise Refused(
            [Issue(400, "structure", "invalid_json", "The body is empty: POST a transaction Bundle.")]
        )
    if (request.content_type or "").lower() not in MEDIA_TYPES:
        raise Refused(
            [
                Issue(
                    415,
                    "not-supported",
                    "unsupported_media_type",
                    "Send the Bundle as application/fhir+json.",
                )
            ]
        )

    def no_constant(name: str) -> Any:
        raise ValueError(name)

    try:
        data = json.loads(body.decode("utf-8"), parse_float=Decimal, parse_constant=no_constant)
    except (ValueError, RecursionError):
        raise Refused(
            [Issue(400, "structure", "invalid_json", "The body is not valid JSON (UTF-8).")]
        ) from None
    if (
        not isinstance(data, dict)
        or data.get("resourceType") != "Bundle"
        or data.get("type") != "transaction"
    ):
        raise Refused(
            [
                Issue(
                    400, "structure", "not_a_transaction", "POST a Bundle of type transaction.", "Bundle.type"
                )
            ]
        )
    entries = data.get("entry")
    if not isinstance(entries, list) or not entries:
        raise Refused([Issue(400, "structure", "bundle_empty", "The Bundle has no entries.", "Bundle.entry")])
    if len(entries) > MAX_ENTRIES:
        raise Refused(
            [
                Issue(
                    413,
                    "too-costly",
                    "too_many_entries",
                    f"A Bundle holds at most {MAX_ENTRIES} entries; this one has {len(entries)}: send it in parts.",
                    "Bundle.entry",
                )
            ]
        )
    return data


def choose_clinic(user: Any, slug: str | None) -> Clinic:
    """The clinic to import into: where the user may write patients; ``?clinic=slug`` chooses
    when there are several (``clinic_required``). A clinic that is not theirs is not found."""
    clinics = sorted(clinics_of(user, PATIENT_WRITE), key=lambda c: c.slug)
    if slug:
        clinic = next((c for c in clinics if c.slug == slug), None)
        if clinic is None:
            raise Refused([Issue(404, "not-found", "not_found", "Not found.")])
        return clinic
    if len(clinics) != 1:
        raise Refused(
            [
                Issue(
                    400,
                    "required",
                    "clinic_required",
                    "You work in several clinics: choose one with ?clinic= ("
                    + ", ".join(c.slug for c in clinics)
                    + ").",
                )
            ]
        )
    return clinics[0]


def _read_entries(data: dict[str, Any], clinic: Clinic) -> list[Entry]:
    entries = []
    full_urls: Counter[str] = Counter(
        e["fullUrl"] for e in data["entry"] if isinstance(e, dict) and isinstance(e.get("fullUrl"), str)
    )
    for index, raw in enumerate(data["entry"]):
        entry = Entry(index)
        entries.append(entry)
        if not isinstance(raw, dict) or not isinstance(raw.get("resource"), dict):
            entry.refuse(
                "resource_required",
                "Each entry holds a resource.",
                "resource",
                issue_code="required",
                whole=True,
            )
            continue
        entry.resource = raw["resource"]
        kind = entry.resource.get("resourceType")
        if kind not in TYPES:
            entry.refuse(
                "resource_type_not_supported",
                "Only Patient, Condition and Observation are imported.",
                "resourceType",
                issue_code="not-supported",
            )
            continue
        entry.resource_type = kind
        request = _dict(raw.get("request"))
        if request.get("method") != "POST":
            entry.refuse(
                "method_not_supported",
                "Each entry is created: request.method POST.",
                "request.method",
                issue_code="not-supported",
                whole=True,
            )
        url = request.get("url")
        if not isinstance(url, str) or url.split("?")[0] != kind:
            entry.refuse("request_url_invalid", f"request.url must be {kind}.", "request.url", whole=True)
        full_url = raw.get("fullUrl")
        if full_url is not None:
            if not isinstance(full_url, str) or not full_url:
                entry.refuse("invalid_type", "fullUrl must be a string.", "fullUrl", whole=True)
            elif full_urls[full_url] > 1:
                entry.refuse("duplicate_full_url", "Two entries have this fullUrl.", "fullUrl", whole=True)
            else:
                entry.full_url = full_url
        if kind == "Patient":
            _read_patient(entry, clinic)
        elif kind == "Condition":
            _read_condition(entry)
        else:
            _read_observation(entry, clinic)
        if not entry.issues:
            _check_structure(entry)
    mrns = Counter(
        e.values.get("mrn") for e in entries if e.resource_type == "Patient" and e.values.get("mrn")
    )
    for entry in entries:
        if entry.resource_type == "Patient" and mrns[entry.values.get("mrn")] > 1:
            entry.refuse("duplicate_patient_entry", "Two Patient entries have this MRN.", "identifier")
    return entries


#: FHIR's own definition of each imported type (fhir.resources; the R4B models, whose JSON is
#: R4's for these three types).
_MODELS = {"Patient": Patient_R4B, "Condition": Condition_R4B, "Observation": Observation_R4B}
#: Words for pydantic's error types, never quoting the value (which may be a patient's data).
_STRUCTURE_WORDS = {
    "missing": "is required by FHIR",
    "extra_forbidden": "is not an element of {kind} in FHIR R4",
}
#: At most this many structural issues are reported per entry.
STRUCTURE_ISSUES_MAX = 10


def _fhir_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)[:60]
    return out


def _check_structure(entry: Entry) -> None:
    """The last check of an entry our own reading accepted: the whole resource against FHIR's
    definition of its type (fhir.resources), so that an element we do not read is not let in
    malformed, nor an element FHIR does not define. Each problem is ``invalid_structure`` at its
    path, in words that never repeat the value."""
    try:
        _MODELS[entry.resource_type].model_validate(entry.resource)
    except ValidationError as error:
        for problem in error.errors()[:STRUCTURE_ISSUES_MAX]:
            where = _fhir_path(problem.get("loc", ()))
            words = _STRUCTURE_WORDS.get(problem.get("type", ""), "is not a valid FHIR value here")
            entry.refuse(
                "invalid_structure",
                f"{where or entry.resource_type} {words.format(kind=entry.resource_type)}.",
                where,
                issue_code="structure",
            )
    except Exception:  # any other failure of the model on hostile input: refused, never a 500
        entry.refuse(
            "invalid_structure",
            f"This is not a valid FHIR {entry.resource_type}.",
            "",
            issue_code="structure",
        )


def _resolve_subjects(entries: list[Entry], clinic: Clinic) -> None:
    by_url = {e.full_url: e for e in entries if e.full_url}
    system = refs.mrn_system(clinic)
    by_mrn = {e.values["mrn"]: e for e in entries if e.resource_type == "Patient" and e.values.get("mrn")}
    for entry in entries:
        if entry.resource_type not in ("Condition", "Observation"):
            continue
        subject = entry.resource.get("subject")
        reference = _dict(subject).get("reference")
        identifier = _dict(_dict(subject).get("identifier"))
        if isinstance(reference, str) and reference in by_url:
            target = by_url[reference]
            if target.resource_type != "Patient":
                entry.refuse(
                    "subject_not_a_patient", "subject must name a Patient entry.", "subject.reference"
                )
            else:
                entry.subject = ("entry", target.index)
            continue
        if isinstance(reference, str):
            logical_id = refs.referenced_id(reference, "Patient") or ""
            pk = (
                int(logical_id)
                if logical_id.isascii() and logical_id.isdigit() and len(logical_id) < 19
                else None
            )
            if pk is not None and Patient.objects.filter(pk=pk, clinic=clinic).exists():
                entry.subject = ("patient", pk)
            else:
                entry.refuse("patient_not_found", "Not found.", "subject.reference", issue_code="not-found")
            continue
        if identifier:
            value = identifier.get("value")
            if identifier.get("system") == system and isinstance(value, str) and value in by_mrn:
                entry.subject = ("entry", by_mrn[value].index)
                continue
            found = (
                Patient.objects.filter(clinic=clinic, mrn=value).values_list("pk", flat=True).first()
                if identifier.get("system") == system and isinstance(value, str)
                else None
            )
            if found is not None:
                entry.subject = ("patient", found)
            else:
                entry.refuse("patient_not_found", "Not found.", "subject.identifier", issue_code="not-found")
            continue
        entry.refuse(
            "subject_required",
            "subject names the patient: a Patient entry's fullUrl, Patient/{id} or an MRN identifier.",
            "subject",
            issue_code="required",
        )


# --- writing -------------------------------------------------------------------------------------


def _service_issue(entry: Entry, error: DomainError) -> None:
    where = entry.paths.get(error.field or "", entry.at(""))
    entry.issues.append(Issue(422, "invalid", error.code, error.message, where))


def _write_patient(entry: Entry, *, user: Any, clinic: Clinic) -> None:
    mrn = entry.values["mrn"]
    # Stripped as the service stores it (validate_mrn), so " N-1004" matches N-1004.
    existing = (
        Patient.objects.filter(clinic=clinic, mrn=mrn.strip()).first() if isinstance(mrn, str) else None
    )
    if existing is not None:
        if entry.values["birth_date"] != existing.birth_date:
            entry.refuse(
                "patient_mismatch",
                f"MRN {mrn} belongs to a patient of {clinic.name} with another birth date: nothing is "
                "filed in that chart.",
                "birthDate",
                issue_code="conflict",
            )
            return
        entry.patient = existing
        entry.response = {"status": "200 OK", "location": f"Patient/{existing.pk}"}
        return
    fields = {k: v for k, v in entry.values.items() if k in ("phone", "email", "address")}
    entry.patient = patient_create(
        actor=user,
        clinic_id=clinic.pk,
        mrn=mrn,
        given_name=entry.values["given_name"],
        family_name=entry.values["family_name"],
        birth_date=entry.values["birth_date"],
        sex_at_birth=entry.values["sex_at_birth"],
        **fields,
    )
    entry.response = {"status": "201 Created", "location": f"Patient/{entry.patient.pk}"}


def _write_record(entry: Entry, patient: Patient, *, user: Any) -> None:
    values = entry.values
    if entry.resource_type == "Condition":
        row = diagnosis_add(actor=user, patient=patient, code=values["code"], is_primary=False)
        location = f"Condition/{row.pk}"
    elif values["kind"] == "liver":
        row = liver_test_record(
            actor=user,
            patient=patient,
            test=values["test"],
            value=values["value"],
            unit=values["unit"],
            upper_limit=values["upper_limit"],
            taken_on=values["taken_on"],
        )
        location = f"Observation/liver-{row.pk}"
    else:
        row = measurement_record(
            actor=user,
            patient=patient,
            weight_kg=values.get("weight_kg"),
            height_cm=values.get("height_cm"),
            measured_at=values["measured_at"],
        )
        location = f"Observation/{values['kind']}-{row.pk}"
    entry.response = {"status": "201 Created", "location": location}


def _attempt(entry: Entry, write: Any) -> None:
    """One service call in its own savepoint: a refusal is the entry's issue, the rest goes on."""
    try:
        with transaction.atomic():
            write()
    except DomainError as error:
        _service_issue(entry, error)
    except Http404:
        entry.refuse("patient_not_found", "Not found.", "subject", issue_code="not-found")


def import_bundle(*, user: Any, clinic: Clinic, data: dict[str, Any]) -> dict[str, Any]:
    """Import a parsed transaction Bundle into ``clinic`` as ``user``, all or nothing: the
    ``transaction-response`` Bundle, or Refused with every issue (nothing written)."""
    entries = _read_entries(data, clinic)
    _resolve_subjects(entries, clinic)
    with transaction.atomic():
        # Patients first, so that every reference to a Patient entry can be followed.
        for entry in entries:
            if entry.resource_type == "Patient" and not entry.issues:
                _attempt(entry, lambda entry=entry: _write_patient(entry, user=user, clinic=clinic))
        for entry in entries:
            if (
                entry.resource_type not in ("Condition", "Observation")
                or entry.issues
                or entry.subject is None
            ):
                continue
            kind, target = entry.subject
            patient = entries[target].patient if kind == "entry" else Patient.objects.get(pk=target)
            if patient is None:
                continue  # its Patient entry was refused: that entry's issues say why
            _attempt(entry, lambda entry=entry, patient=patient: _write_record(entry, patient, user=user))
        issues = [issue for entry in entries for issue in entry.issues]
        if issues:
            raise Refused(issues)  # rolls back every write of this Bundle, audit rows included
        created = Counter(
            e.resource_type for e in entries if e.response and e.response["status"].startswith("201")
        )
        patient_ids = sorted(
            {e.patient.pk for e in entries if e.patient is not None}
            | {e.subject[1] for e in entries if e.subject and e.subject[0] == "patient"}
        )
        audit_record(
            actor=user,
            action="create",
            object_type="fhir_import",
            object_id=str(len(entries)),
            patient_id=patient_ids[0] if len(patient_ids) == 1 else None,
            clinic_id=clinic.pk,
            detail={
                "interface": "fhir",
                "entries": len(entries),
                "created": dict(sorted(created.items())),
                "patients_matched": sum(
                    1 for e in entries if e.response and e.response["status"] == "200 OK"
                ),
                "patients": len(patient_ids),
            },
        )
    return {
        "resourceType": "Bundle",
        "type": "transaction-response",
        "entry": [{"response": entry.response} for entry in entries],
    }


def import_request(request: HttpRequest, *, user: Any) -> tuple[dict[str, Any], int]:
    """``POST /fhir/r4``: (the answer's body, its HTTP status)."""
    try:
        data = parse_body(request)
        clinic = choose_clinic(user, request.GET.get("clinic"))
        return import_bundle(user=user, clinic=clinic, data=data), 200
    except Refused as refused:
        return outcome(refused.issues), refused.status
