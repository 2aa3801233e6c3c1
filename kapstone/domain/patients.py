"""Checks on patient identity and body measurements, and the substance-use diagnosis catalogue.

Plain shape checks (a name is not empty) live in forms and schemas; what lives here are the
rules a clinician would recognise: a birth date in the future, a weight no adult has, which of
several measurements is the one in force, a body-mass index that suggests a slip.

This module is the one home of the body-measurement plausibility rule: the chart, the API and
the dose calculation (:func:`kapstone.domain.dosing.check_weight_kg`) all apply it.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import TypeVar

from kapstone.domain.errors import DomainError
from kapstone.domain.numbers import format_number, to_decimal

SEXES_AT_BIRTH = ("female", "male", "intersex", "unknown")
MRN_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9\-_/.]{0,31}$")

#: Inclusive plausible adult weight (kg), one range for recording and for dosing. Chosen (no
#: published "plausible" range): Kapstone treats adults; outside 30–300 kg a value is far more
#: likely a slip (a missing digit, swapped digits, a wrong patient) than a real adult weight.
WEIGHT_KG_MIN = Decimal("30")
WEIGHT_KG_MAX = Decimal("300")
#: Inclusive plausible adult height (cm). Chosen, as for the weight.
HEIGHT_CM_MIN = Decimal("100")
HEIGHT_CM_MAX = Decimal("250")
MAX_AGE_YEARS = 120

#: The body-mass index range expected of an adult; outside it a non-blocking warning asks to
#: check the weight and height. No source defines a "plausible" BMI, so the bounds are a
#: parameter built on the WHO international classification of adult BMI (WHO Global Database
#: on Body Mass Index, "BMI classification", Table 1, adapted from WHO 1995 [TRS 854], WHO 2000
#: [TRS 894] and WHO 2004): below 16.00 is "severe thinness" (which WHO calls "a valid extreme
#: limit", markedly increased risk of ill health and death), 40.00 and above is "obese class
#: III", the extremes of the classification. The upper bound also catches the most dangerous
#: slip, pounds entered as kilograms (x 2.2): any adult of BMI 18.2 or more entered that way
#: shows a BMI of 40 or more. The BMI is compared as shown, rounded to 0.1.
BMI_EXPECTED_MIN = Decimal("16.0")
BMI_EXPECTED_MAX = Decimal("40.0")
WARNING_BMI_OUT_OF_RANGE = "bmi_out_of_expected_range"


#: A diagnosis is a substance use disorder (F10–F19, the disorder a course treats) or a comorbid
#: condition (depression, PTSD, anxiety), which protocols and safety rules depend on (KARE,
#: Grabski 2022, screened depressive symptoms with the BDI-II) but which is never the treated one.
SUBSTANCE_USE = "substance_use"
COMORBID = "comorbid"


@dataclass(frozen=True)
class DiagnosisCode:
    code: str
    name: str
    substance: str  # "" for a comorbid condition
    kind: str = SUBSTANCE_USE


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

# Comorbid conditions that can be coded beside the substance use disorder: depression
# (F32 single episode, F33 recurrent), post-traumatic stress disorder (F43.1) and anxiety (F41).
# Names as in ICD-10-CM (CDC/NCHS, FY2025 tabular). Major depression "with psychotic features"
# (F32.3, F33.3) is left out on purpose: a psychotic disorder is a screening contraindication and
# is recorded there, not here.
COMORBID_CATALOGUE: tuple[DiagnosisCode, ...] = (
    DiagnosisCode("F32.0", "Major depressive disorder, single episode, mild", "", COMORBID),
    DiagnosisCode("F32.1", "Major depressive disorder, single episode, moderate", "", COMORBID),
    DiagnosisCode(
        "F32.2", "Major depressive disorder, single episode, severe without psychotic features", "", COMORBID
    ),
    DiagnosisCode("F32.9", "Major depressive disorder, single episode, unspecified", "", COMORBID),
    DiagnosisCode("F32.A", "Depression, unspecified", "", COMORBID),
    DiagnosisCode("F33.0", "Major depressive disorder, recurrent, mild", "", COMORBID),
    DiagnosisCode("F33.1", "Major depressive disorder, recurrent, moderate", "", COMORBID),
    DiagnosisCode(
        "F33.2", "Major depressive disorder, recurrent severe without psychotic features", "", COMORBID
    ),
    DiagnosisCode("F33.9", "Major depressive disorder, recurrent, unspecified", "", COMORBID),
    DiagnosisCode("F41.0", "Panic disorder [episodic paroxysmal anxiety]", "", COMORBID),
    DiagnosisCode("F41.1", "Generalized anxiety disorder", "", COMORBID),
    DiagnosisCode("F41.9", "Anxiety disorder, unspecified", "", COMORBID),
    DiagnosisCode("F43.10", "Post-traumatic stress disorder, unspecified", "", COMORBID),
    DiagnosisCode("F43.11", "Post-traumatic stress disorder, acute", "", COMORBID),
    DiagnosisCode("F43.12", "Post-traumatic stress disorder, chronic", "", COMORBID),
)
_BY_CODE = {entry.code: entry for entry in DIAGNOSIS_CATALOGUE + COMORBID_CATALOGUE}


def lookup_diagnosis(code: str) -> DiagnosisCode:
    """The catalogue entry for an ICD-10-CM code of Kapstone's lists: the substance use disorders
    (F10–F19) and the comorbid conditions (F32, F33, F41, F43.1); anything else is refused
    (``diagnosis_code_unknown``)."""
    normalised = (code or "").strip().upper()
    entry = _BY_CODE.get(normalised)
    if entry is None:
        raise DomainError(
            "diagnosis_code_unknown",
            f"{code!r} is not in Kapstone's ICD-10-CM lists: substance use disorders (F10–F19) and "
            "comorbid depression (F32, F33), anxiety (F41) and post-traumatic stress disorder (F43.1).",
            field="code",
        )
    return entry


def check_primary_diagnosis(entry: DiagnosisCode, *, is_primary: bool) -> None:
    """The primary diagnosis is the substance use disorder a course treats: a comorbid condition
    is refused as primary (``comorbid_not_primary``, field ``is_primary``)."""
    if is_primary and entry.kind != SUBSTANCE_USE:
        raise DomainError(
            "comorbid_not_primary",
            f"{entry.code} {entry.name} is a comorbid condition; the primary diagnosis is the substance "
            "use disorder being treated (F10–F19). Record it as a secondary diagnosis.",
            field="is_primary",
        )


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


def check_weight_plausible(weight_kg: Decimal, *, field: str = "weight_kg") -> Decimal:
    """The one plausibility rule for a weight: 30–300 kg inclusive, else ``weight_out_of_range``.

    Used when a weight is recorded and again when a dose is calculated from it, so the chart
    and the dose form can never disagree about a weight. Source: Kapstone's choice (see
    ``WEIGHT_KG_MIN``), docs/clinical-rules.md.
    """
    if not WEIGHT_KG_MIN <= weight_kg <= WEIGHT_KG_MAX:
        raise DomainError(
            "weight_out_of_range",
            f"A weight of {format_number(weight_kg)} kg is not plausible for an adult "
            f"({format_number(WEIGHT_KG_MIN)}–{format_number(WEIGHT_KG_MAX)} kg). Check the scale and the unit.",
            field=field,
        )
    return weight_kg


def check_height_plausible(height_cm: Decimal, *, field: str = "height_cm") -> Decimal:
    """A height of 100–250 cm inclusive, else ``height_out_of_range``."""
    if not HEIGHT_CM_MIN <= height_cm <= HEIGHT_CM_MAX:
        raise DomainError(
            "height_out_of_range",
            f"A height of {format_number(height_cm)} cm is not plausible for an adult "
            f"({format_number(HEIGHT_CM_MIN)}–{format_number(HEIGHT_CM_MAX)} cm). Check the unit.",
            field=field,
        )
    return height_cm


def _check_aware(value: object, *, field: str) -> datetime:
    if not isinstance(value, datetime):
        raise DomainError("invalid_datetime", f"{field} must be a date and time.", field=field)
    if value.tzinfo is None or value.utcoffset() is None:
        raise DomainError("naive_datetime", f"{field} must carry a time zone.", field=field)
    return value


@dataclass(frozen=True)
class BodyMeasurementValues:
    """A measurement as it is recorded: values rounded to 0.1, the time to the minute."""

    weight_kg: Decimal | None
    height_cm: Decimal | None
    measured_at: datetime


def validate_body_measurement(
    *, weight_kg: object | None, height_cm: object | None, measured_at: datetime, now: datetime
) -> BodyMeasurementValues:
    """A weight (30–300 kg) and/or a height (100–250 cm) taken at ``measured_at``, not after ``now``.

    The time is kept to the minute (seconds dropped), as a clinician reads it off a clock; two
    measurements in the same minute then tie and the one entered later is in force
    (:func:`measurement_in_force`): a re-weigh entered a few seconds after a first entry, from a
    form that shows the minute, always wins. Values are rounded half-up to 0.1.

    Refusals: ``measurement_empty`` (neither value), ``invalid_number``, ``weight_out_of_range``,
    ``height_out_of_range``, ``naive_datetime`` / ``invalid_datetime`` (``measured_at`` must be
    an aware datetime), ``measured_in_future`` (its minute is after ``now``).
    """
    if weight_kg is None and height_cm is None:
        raise DomainError("measurement_empty", "Enter a weight, a height or both.", field="weight_kg")
    taken = _check_aware(measured_at, field="measured_at").replace(second=0, microsecond=0)
    current = _check_aware(now, field="now")
    if taken > current:
        raise DomainError(
            "measured_in_future",
            "The time of the measurement is in the future: give the time the patient was weighed or measured.",
            field="measured_at",
        )
    weight = None if weight_kg is None else check_weight_plausible(to_decimal(weight_kg, field="weight_kg"))
    height = None if height_cm is None else check_height_plausible(to_decimal(height_cm, field="height_cm"))
    return BodyMeasurementValues(
        weight_kg=None if weight is None else weight.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP),
        height_cm=None if height is None else height.quantize(Decimal("0.1"), rounding=ROUND_HALF_UP),
        measured_at=taken,
    )


# --- Which measurement is in force ---------------------------------------------------------------

Value = TypeVar("Value")


def measurement_in_force(
    entries: Sequence[tuple[datetime, int, Value]], *, at: datetime
) -> tuple[datetime, int, Value] | None:
    """The measurement in force at ``at``: the latest taken at or before it; None if there is none.

    ``entries`` are ``(measured_at, entry_order, value)``: when the patient was weighed or
    measured (an aware datetime) and the order in which the entries were made (a larger number
    was entered later). Entries taken after ``at`` are ignored; among entries taken at the same
    moment the one entered last wins (a re-weigh entered as a correction). The result does not
    depend on the order of ``entries``. Voided entries are the caller's to leave out.

    Refusals: ``invalid_measurement`` (not a list of triples), ``naive_datetime`` /
    ``invalid_datetime``, ``invalid_number`` (an entry order that is not a whole number).

    Source: issue 11, defect 1 ("the weight in force … is the latest taken at or before the
    session"); the tie-break by entry order is Kapstone's rule for same-time entries.
    """
    cutoff = _check_aware(at, field="at")
    if isinstance(entries, (str, bytes)) or not isinstance(entries, Sequence):
        raise DomainError(
            "invalid_measurement",
            "Measurements must be a list of (measured_at, entry order, value).",
            field="measurements",
        )
    best: tuple[datetime, int, Value] | None = None
    for index, entry in enumerate(entries):
        if not isinstance(entry, Sequence) or isinstance(entry, (str, bytes)) or len(entry) != 3:
            raise DomainError(
                "invalid_measurement",
                f"Measurement {index} must be a (measured_at, entry order, value) triple.",
                field="measurements",
            )
        taken = _check_aware(entry[0], field="measured_at")
        order = entry[1]
        if isinstance(order, bool) or not isinstance(order, int):
            raise DomainError(
                "invalid_number",
                f"The entry order of measurement {index} must be a whole number.",
                field="id",
            )
        if taken <= cutoff and (best is None or (taken, order) > (best[0], best[1])):
            best = (taken, order, entry[2])
    return best


# --- Body-mass index -----------------------------------------------------------------------------


@dataclass(frozen=True)
class BmiWarning:
    """A non-blocking warning: the BMI is outside the range expected of an adult."""

    code: str
    bmi: Decimal
    message: str


def body_mass_index(weight_kg: object, height_cm: object) -> Decimal:
    """Weight (kg) / height (m)², rounded half-up to 0.1 kg/m².

    Any positive values are accepted (``invalid_number`` otherwise), so that a weight recorded
    before the plausibility rule narrowed still shows its BMI, and its warning.
    Source: WHO Global Database on Body Mass Index, "BMI classification" (weight in kilograms
    divided by the square of the height in metres).
    """
    weight = to_decimal(weight_kg, field="weight_kg")
    height = to_decimal(height_cm, field="height_cm")
    for value, field in ((weight, "weight_kg"), (height, "height_cm")):
        if value <= 0 or abs(value.adjusted()) > 12:
            raise DomainError("invalid_number", f"{field} must be a positive number.", field=field)
    metres = height / 100
    return (weight / (metres * metres)).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)


def check_bmi(weight_kg: object, height_cm: object) -> BmiWarning | None:
    """A warning when the BMI is below 16.0 or 40.0 and above; None inside the expected range.

    Non-blocking: the measurement is kept and a dose may be ordered; the warning asks the
    clinician to check the weight and height (a slip of unit or digit, a wrong patient).
    Boundaries: 16.0 and 39.9 raise nothing; 15.9 and 40.0 warn.

    Source: WHO international classification of adult BMI (WHO Global Database on Body Mass
    Index, Table 1; WHO 1995, 2000, 2004): < 16.00 severe thinness, >= 40.00 obese class III.
    Using them as the bounds of an expected range is Kapstone's choice (docs/clinical-rules.md).
    """
    bmi = body_mass_index(weight_kg, height_cm)
    if bmi < BMI_EXPECTED_MIN:
        return BmiWarning(
            WARNING_BMI_OUT_OF_RANGE,
            bmi,
            f"BMI {bmi} is below {BMI_EXPECTED_MIN} (severe thinness). Check the weight and the height "
            "before relying on them.",
        )
    if bmi >= BMI_EXPECTED_MAX:
        return BmiWarning(
            WARNING_BMI_OUT_OF_RANGE,
            bmi,
            f"BMI {bmi} is {BMI_EXPECTED_MAX} or more (obesity class III). Check the weight is in "
            "kilograms and the height in centimetres before relying on them.",
        )
    return None
