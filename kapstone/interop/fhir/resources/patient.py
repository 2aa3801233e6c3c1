"""FHIR Patient from ``patients.Patient`` (http://hl7.org/fhir/R4/patient.html).

- ``identifier``: the MRN, type ``MR`` (HL7 v2 table 0203), system ``refs.mrn_system(clinic)``.
- ``name``: official, family and given; ``birthDate``; ``telecom``: phone and e-mail;
  ``address.text``: the address as entered (one line, not parsed).
- ``gender`` (administrative gender, http://hl7.org/fhir/R4/valueset-administrative-gender.html)
  from the recorded sex at birth, the only sex or gender field with a fixed vocabulary:
  female → female, male → male, intersex → other, unknown → unknown. The sex at birth itself is
  the US Core Birth Sex extension (``refs.BIRTH_SEX``: F, M, UNK; left out for intersex, which has
  no code there), the one element the import reads it from.
- ``managingOrganization``: the clinic, by name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from kapstone.accounts.models import Clinic
from kapstone.interop.fhir import refs
from kapstone.interop.fhir import search as sp
from kapstone.interop.fhir.errors import SearchError
from kapstone.patients.models import Patient

RESOURCE_TYPE = "Patient"
SEARCH_PARAMS = {"_id": "token", "identifier": "token", "name": "string", "birthdate": "date"}

#: Recorded sex at birth → FHIR administrative gender.
GENDER = {"female": "female", "male": "male", "intersex": "other", "unknown": "unknown"}


def to_fhir(patient: Patient) -> dict[str, Any]:
    clinic = patient.clinic
    resource: dict[str, Any] = {
        "resourceType": RESOURCE_TYPE,
        "id": str(patient.pk),
        "meta": {"versionId": str(patient.version), "lastUpdated": refs.instant(patient.updated_at)},
        "identifier": [
            {
                "use": "usual",
                "type": {"coding": [refs.coding(refs.IDENTIFIER_TYPE, "MR", "Medical record number")]},
                "system": refs.mrn_system(clinic),
                "value": patient.mrn,
            }
        ],
        "active": True,
        "name": [{"use": "official", "family": patient.family_name, "given": [patient.given_name]}],
        "gender": GENDER.get(patient.sex_at_birth, "unknown"),
        "birthDate": patient.birth_date.isoformat(),
        "managingOrganization": {"display": clinic.name},
    }
    birth_sex = refs.BIRTH_SEX_CODES.get(patient.sex_at_birth)
    if birth_sex:
        resource["extension"] = [{"url": refs.BIRTH_SEX, "valueCode": birth_sex}]
    telecom = []
    if patient.phone:
        telecom.append({"system": "phone", "value": patient.phone})
    if patient.email:
        telecom.append({"system": "email", "value": patient.email})
    if telecom:
        resource["telecom"] = telecom
    if patient.address:
        resource["address"] = [{"text": patient.address}]
    return resource


def _patients(clinic_ids: set[int]) -> QuerySet[Patient]:
    return Patient.objects.filter(clinic_id__in=sorted(clinic_ids)).select_related("clinic")


def read(logical_id: str, *, clinic_ids: set[int]) -> dict | None:
    pk = sp.pk_of(logical_id)
    if pk is None:
        return None
    patient = _patients(clinic_ids).filter(pk=pk).first()
    return to_fhir(patient) if patient is not None else None


def owner(logical_id: str) -> tuple[int, int] | None:
    """(clinic id, patient id) of the record, whoever may see it: for the ``denied`` audit row
    of a read outside the user's clinics (kapstone.accounts.access.scoped_get does the same)."""
    pk = sp.pk_of(logical_id)
    row = Patient.objects.filter(pk=pk).values_list("clinic_id", "id").first() if pk else None
    return (row[0], row[1]) if row else None


def _identifier_filter(value: str, clinic_ids: set[int]) -> Q:
    systems = {
        refs.mrn_system(clinic): clinic.pk for clinic in Clinic.objects.filter(pk__in=sorted(clinic_ids))
    }
    match = Q(pk__in=[])
    for token in sp.tokens("identifier", value):
        if token.system is None:
            clinic_scope = Q()
        elif token.system in systems:
            clinic_scope = Q(clinic_id=systems[token.system])
        else:
            continue  # another system (or none): no MRN of ours
        match |= clinic_scope & (Q(mrn=token.code) if token.code else Q())
    return match


def _birthdate_filter(value: str) -> Q:
    param = sp.dates("birthdate", value)
    if param.has_time:
        raise SearchError("invalid_date", "birthdate takes a date without a time.", parameter="birthdate")
    low, high = param.lower, param.upper
    # birthDate is one day, [birth_date, birth_date + 1): the rule of sp.range_matches, in SQL.
    return {
        "eq": Q(birth_date__gte=low, birth_date__lt=high),
        "ne": ~Q(birth_date__gte=low, birth_date__lt=high),
        "gt": Q(birth_date__gte=high),
        "sa": Q(birth_date__gte=high),
        "lt": Q(birth_date__lt=low),
        "eb": Q(birth_date__lt=low),
        "ge": Q(birth_date__gte=low),
        "le": Q(birth_date__lt=high),
    }[param.prefix]


def search_queryset(*, clinic_ids: set[int], params: dict[str, list[str]]) -> QuerySet[Patient]:
    sp.check_params(params, SEARCH_PARAMS)
    qs = _patients(clinic_ids)
    for value in params.get("_id", []):
        qs = qs.filter(pk__in=sorted(sp.ids("_id", value)))
    for value in params.get("identifier", []):
        qs = qs.filter(_identifier_filter(value, clinic_ids))
    for value in params.get("name", []):
        match = Q(pk__in=[])
        for term in sp.alternatives(value):
            match |= Q(given_name__icontains=term) | Q(family_name__icontains=term)
        qs = qs.filter(match)
    for value in params.get("birthdate", []):
        qs = qs.filter(_birthdate_filter(value))
    return qs.order_by("family_name", "given_name", "id")


def search(*, clinic_ids: set[int], params: dict[str, list[str]]) -> list[dict]:
    return [to_fhir(p) for p in search_queryset(clinic_ids=clinic_ids, params=params)]


def for_patient(patient: Patient, *, since: datetime | None = None) -> list[dict]:
    if since is not None and patient.updated_at < since:
        return []
    return [to_fhir(patient)]
