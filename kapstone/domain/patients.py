"""Checks on patient identity and body measurements, and the substance-use diagnosis catalogue.

Plain shape checks (a name is not empty) live in forms and schemas; what lives here are the
rules a clinician would recognise: a birth date in the future, a weight no adult has.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from kapstone.domain.errors import DomainError

SEXES_AT_BIRTH = ("female", "male", "intersex", "unknown")
MRN_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_/.]{0,31}$")

# Plausibility bounds for recording, wider than the dosing bounds (30–300 kg, issue 4): a
# record must be able to hold any real measurement; dosing refuses the extremes separately.
WEIGHT_KG_MIN = Decimal("20")
WEIGHT_KG_MAX = Decimal("400")
HEIGHT_CM_MIN = Decimal("100")
HEIGHT_CM_MAX = Decimal("250")
MAX_AGE_YEARS = 120


@dataclass(frozen=True)
class DiagnosisCode:
    code: str
    name: str
    substance: str


# ICD-10-CM F10–F19 "mental and behavioural disorders due to psychoactive substance use": the
# codes a KAP addiction programme records most. Names as in ICD-10-CM (CDC/NCHS, FY2025 tabular).
DIAGNOSIS_CATALOGUE: tuple[DiagnosisCode, ...] = (
    DiagnosisCode("F10.10", "Alcohol abuse, uncomplicated", "alcohol"),
    DiagnosisCode("F10.11", "Alcohol abuse, in remission", "alcohol"),
    DiagnosisCode("F10.20", "Alcohol dependence, uncomplicated", "alcohol"),
    DiagnosisCode("F10.21", "Alcohol dependence, in remission", "alcohol"),
    DiagnosisCode("F10.230", "Alcohol dependence with withdrawal, uncomplicated", "alcohol"),
    DiagnosisCode("F11.10", "Opioid abuse, uncomplicated", "opioids"),
    DiagnosisCode("F11.20", "Opioid dependence, uncomplicated", "opioids"),
    DiagnosisCode("F11.21", "Opioid dependence, in remission", "opioids"),
    DiagnosisCode("F12.10", "Cannabis abuse, uncomplicated", "cannabis"),
    DiagnosisCode("F12.20", "Cannabis dependence, uncomplicated", "cannabis"),
    DiagnosisCode("F13.20", "Sedative, hypnotic or anxiolytic dependence, uncomplicated", "sedatives"),
    DiagnosisCode("F14.10", "Cocaine abuse, uncomplicated", "cocaine"),
    DiagnosisCode("F14.20", "Cocaine dependence, uncomplicated", "cocaine"),
    DiagnosisCode("F14.21", "Cocaine dependence, in remission", "cocaine"),
    DiagnosisCode("F15.10", "Other stimulant abuse, uncomplicated", "stimulants"),
    DiagnosisCode("F15.20", "Other stimulant dependence, uncomplicated", "stimulants"),
    DiagnosisCode("F16.20", "Hallucinogen dependence, uncomplicated", "hallucinogens"),
    DiagnosisCode("F17.210", "Nicotine dependence, cigarettes, uncomplicated", "nicotine"),
    DiagnosisCode("F18.20", "Inhalant dependence, uncomplicated", "inhalants"),
    DiagnosisCode("F19.20", "Other psychoactive substance dependence, uncomplicated", "other"),
)
_BY_CODE = {entry.code: entry for entry in DIAGNOSIS_CATALOGUE}


def lookup_diagnosis(code: str) -> DiagnosisCode:
    """The catalogue entry for an ICD-10-CM F10–F19 code; anything else is refused."""
    normalised = (code or "").strip().upper()
    entry = _BY_CODE.get(normalised)
    if entry is None:
        raise DomainError(
            "diagnosis_code_unknown",
            f"{code!r} is not a substance-use diagnosis code in Kapstone's ICD-10-CM F10–F19 list.",
            field="code",
        )
    return entry


def validate_mrn(mrn: str) -> str:
    value = (mrn or "").strip()
    if not MRN_PATTERN.match(value):
        raise DomainError(
            "mrn_invalid",
            "MRN must be 1–32 letters, digits or - _ / . and start with a letter or digit.",
            field="mrn",
        )
    return value


def validate_birth_date(birth_date: date, *, today: date) -> date:
    """A birth date is not in the future and gives an age of at most 120 years."""
    if birth_date > today:
        raise DomainError(
            "birth_date_in_future",
            f"Birth date {birth_date.isoformat()} is in the future.",
            field="birth_date",
        )
    age = age_in_years(birth_date, on=today)
    if age > MAX_AGE_YEARS:
        raise DomainError(
            "birth_date_implausible",
            f"Birth date {birth_date.isoformat()} gives an age of {age} years (more than {MAX_AGE_YEARS}).",
            field="birth_date",
        )
    return birth_date


def validate_sex_at_birth(value: str) -> str:
    if value not in SEXES_AT_BIRTH:
        raise DomainError(
            "sex_invalid", f"Sex at birth must be one of {', '.join(SEXES_AT_BIRTH)}.", field="sex"
        )
    return value


def age_in_years(birth_date: date, *, on: date) -> int:
    """Completed years of age on ``on`` (a birthday on 29 February counts on 1 March)."""
    years = on.year - birth_date.year
    if (on.month, on.day) < (birth_date.month, birth_date.day):
        years -= 1
    return years


def _decimal(value: object, field: str) -> Decimal:
    try:
        result = Decimal(str(value))
    except (InvalidOperation, ValueError):
        raise DomainError("invalid_number", f"{field} must be a number.", field=field) from None
    if not result.is_finite():
        raise DomainError("invalid_number", f"{field} must be a finite number.", field=field)
    return result


def validate_body_measurement(
    *, weight_kg: object | None, height_cm: object | None, measured_on: date, today: date
) -> tuple[Decimal | None, Decimal | None]:
    """Weight 20–400 kg and height 100–250 cm, measured on a past or present day; at least one."""
    if weight_kg is None and height_cm is None:
        raise DomainError("measurement_empty", "Enter a weight, a height or both.", field="weight_kg")
    if measured_on > today:
        raise DomainError(
            "measured_in_future",
            f"Measurement date {measured_on.isoformat()} is in the future.",
            field="measured_on",
        )
    weight = None if weight_kg is None else _decimal(weight_kg, "weight_kg")
    height = None if height_cm is None else _decimal(height_cm, "height_cm")
    if weight is not None and not WEIGHT_KG_MIN <= weight <= WEIGHT_KG_MAX:
        raise DomainError(
            "weight_out_of_range",
            f"Weight {weight} kg is outside the plausible range {WEIGHT_KG_MIN}–{WEIGHT_KG_MAX} kg.",
            field="weight_kg",
        )
    if height is not None and not HEIGHT_CM_MIN <= height <= HEIGHT_CM_MAX:
        raise DomainError(
            "height_out_of_range",
            f"Height {height} cm is outside the plausible range {HEIGHT_CM_MIN}–{HEIGHT_CM_MAX} cm.",
            field="height_cm",
        )
    return (
        None if weight is None else weight.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP),
        None if height is None else height.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP),
    )
