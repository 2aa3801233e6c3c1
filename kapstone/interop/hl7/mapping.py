"""From one HL7 v2 OBX segment of a bedside monitor to one observation of our vitals catalogue.

Pure: plain strings in, plain values out (no Django, no clock). The catalogue itself — our codes,
LOINC codes, UCUM units and plausible ranges — is :mod:`kapstone.domain.monitoring.observations`;
this module only says which codes and units of the wire name which of its entries, and which
values mean "no value". Plausibility is not judged here: the vitals ingest judges every value,
from the API and from a monitor alike.

Sources:

- IEEE 11073-10101 (nomenclature): the context-free MDC codes (partition × 2^16 + term code) of the
  metrics and units below, as bedside monitors send them in OBX-3 / OBX-6 with coding system
  ``MDC`` (IHE PCD Technical Framework vol. 2, PCD-01 "Communicate PCD Data"); the codes seen in
  public samples from Mindray, GE and Philips gateways are listed in
  /work/shared/reference/software.md §8.2.
- IEEE 11073-20601 §F.8 (FLOAT-Type): the reserved mantissa values NaN 0x007FFFFF (8388607),
  NRes 0x00800000 (8388608), +INF 0x007FFFFE (8388606), −INF 0x00800002 (8388610) and reserved
  0x00800001 (8388609), which gateways pass through as the number when a metric has no value.
- HL7 v2.6 Table 0085 (Observation result status codes interpretation) for OBX-11.
- LOINC codes and UCUM units: the FHIR R4 vital-signs value set (the catalogue's own source).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone, tzinfo
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from kapstone.domain.monitoring.observations import VITAL_SIGNS

MDC = "MDC"
LOINC = "LN"


@dataclass(frozen=True)
class MdcMetric:
    """One IEEE 11073-10101 metric we accept: its context-free code, reference id and our code."""

    code: str
    reference_id: str
    our_code: str


# Context-free code = partition × 65536 + term code (IEEE 11073-10101). Partition 2 (SCADA).
_MDC_LIST = (
    MdcMetric("150456", "MDC_PULS_OXIM_SAT_O2", "spo2"),  # 2::19384, SpO2
    MdcMetric("147842", "MDC_ECG_HEART_RATE", "heart_rate"),  # 2::16770, heart rate from the ECG
    MdcMetric("149530", "MDC_PULS_OXIM_PULS_RATE", "heart_rate"),  # 2::18458, pulse rate, oximeter
    MdcMetric("149546", "MDC_PULS_RATE_NON_INV", "heart_rate"),  # 2::18474, pulse rate, NIBP cuff
    MdcMetric("150021", "MDC_PRESS_BLD_NONINV_SYS", "systolic_bp"),  # 2::18949
    MdcMetric("150022", "MDC_PRESS_BLD_NONINV_DIA", "diastolic_bp"),  # 2::18950
    MdcMetric("150301", "MDC_PRESS_CUFF_SYS", "systolic_bp"),  # 2::19229, the cuff (NIBP) systolic
    MdcMetric("150302", "MDC_PRESS_CUFF_DIA", "diastolic_bp"),  # 2::19230, the cuff diastolic
    MdcMetric("151562", "MDC_RESP_RATE", "respiratory_rate"),  # 2::20490
    MdcMetric("150344", "MDC_TEMP", "temperature"),  # 2::19272
    MdcMetric("150364", "MDC_TEMP_BODY", "temperature"),  # 2::19292
)
MDC_METRICS: Mapping[str, MdcMetric] = {m.code: m for m in _MDC_LIST}
"""The MDC metrics we map, by context-free code. Deliberately absent: the mean pressures
(150023 MDC_PRESS_BLD_NONINV_MEAN, 150303 MDC_PRESS_CUFF_MEAN) — the catalogue has no mean
arterial pressure, so they are reported as unknown, not stored under another code."""

LOINC_CODES: Mapping[str, str] = {d.loinc: d.code for d in VITAL_SIGNS.values() if d.loinc}
"""LOINC code → our code, for the six vital signs (the catalogue's own LOINC codes)."""


@dataclass(frozen=True)
class UnitRule:
    """How a unit of the wire becomes the catalogue's UCUM unit: ``scale`` and ``offset`` such that
    ours = (value + offset) × scale (identity for the units that are ours already)."""

    ucum: str
    offset: Decimal = Decimal(0)
    scale: Decimal = Decimal(1)


_IDENTITY = {
    "%": UnitRule("%"),
    "/min": UnitRule("/min"),
    "mm[Hg]": UnitRule("mm[Hg]"),
    "Cel": UnitRule("Cel"),
}
#: °F → °C: (°F − 32) × 5/9 (UCUM defines [degF] so; NIST SP 811 B.8).
_FAHRENHEIT = UnitRule("Cel", offset=Decimal(-32), scale=Decimal(5) / Decimal(9))

# MDC unit codes (IEEE 11073-10101 partition 4, "dimensions") and UCUM spellings, by our UCUM unit.
MDC_UNITS: Mapping[str, UnitRule] = {
    "262688": _IDENTITY["%"],  # MDC_DIM_PERCENT
    "264864": _IDENTITY["/min"],  # MDC_DIM_BEAT_PER_MIN
    "264928": _IDENTITY["/min"],  # MDC_DIM_RESP_PER_MIN
    "266016": _IDENTITY["mm[Hg]"],  # MDC_DIM_MMHG
    "268192": _IDENTITY["Cel"],  # MDC_DIM_DEGC
    "266560": _FAHRENHEIT,  # MDC_DIM_FAHR
}
UCUM_UNITS: Mapping[str, UnitRule] = {
    "%": _IDENTITY["%"],
    "/min": _IDENTITY["/min"],
    "{beats}/min": _IDENTITY["/min"],
    "{beat}/min": _IDENTITY["/min"],
    "{breaths}/min": _IDENTITY["/min"],
    "{breath}/min": _IDENTITY["/min"],
    "mm[Hg]": _IDENTITY["mm[Hg]"],
    "Cel": _IDENTITY["Cel"],
    "[degF]": _FAHRENHEIT,
}
#: Common non-UCUM spellings monitors put in OBX-6 with no coding system.
_PLAIN_UNITS: Mapping[str, UnitRule] = {
    "bpm": _IDENTITY["/min"],
    "mmHg": _IDENTITY["mm[Hg]"],
    "°C": _IDENTITY["Cel"],
    "degC": _IDENTITY["Cel"],
    "°F": _FAHRENHEIT,
    "degF": _FAHRENHEIT,
}

#: Our codes whose value is read without a unit when OBX-6 is empty: each has one unit in use
#: (%, /min). Blood pressure (mmHg or kPa) and temperature (°C or °F) need their unit.
UNITLESS_OK = frozenset({"spo2", "heart_rate", "respiratory_rate"})

NO_VALUE_NUMBERS = frozenset({8388606, 8388607, 8388608, 8388609, 8388610, 8388611})
"""OBX-5 numbers that mean "no value" (IEEE 11073-20601 §F.8 FLOAT-Type reserved mantissas:
+INF 8388606, NaN 8388607, NRes 8388608, reserved 8388609, −INF 8388610; 8388611 is dropped
too, as gateways emit it beside them and no vital sign can take it)."""
NO_VALUE_TEXTS = frozenset({"", "-", "--", "---", "nan", "na", "n/a"})
"""OBX-5 texts that mean "no value" (compared without case)."""

ACCEPTED_STATUSES = frozenset({"", "F", "R", "C", "P", "S", "U"})
"""OBX-11 result statuses stored (HL7 v2.6 Table 0085): F final, R results entered – not
verified (what IHE PCD-01 monitors send), C corrected, P preliminary, S partial, U changed to
final. Every other status — D deleted, W wrong (post original as wrong), X results cannot be
obtained (probe off), I pending, N not asked, O order detail — is dropped, never stored."""


@dataclass(frozen=True)
class Coded:
    """An HL7 coded element (CE/CWE): identifier, text, coding system (components 1–3)."""

    identifier: str
    text: str = ""
    system: str = ""

    def __str__(self) -> str:
        # Said in words for an ACK's ERR-8, without HL7 separators to escape.
        if not self.identifier:
            return "(empty)"
        return f"{self.identifier} ({self.system})" if self.system else self.identifier


@dataclass(frozen=True)
class Mapped:
    """One OBX that becomes an observation: our code and the value in our unit."""

    code: str
    value: Decimal


@dataclass(frozen=True)
class Skipped:
    """One OBX not stored: ``reason`` is a stable code; ``reported`` says whether the ACK names it
    (an unknown code or unit, an unreadable value) or it is a normal "no value" (a sentinel, a
    status that is not a result), only counted."""

    reason: str
    detail: str
    reported: bool


def our_code_for(code: Coded) -> str | None:
    """Our catalogue code for an OBX-3 code, matched by code *and* coding system: ``MDC`` (IEEE
    11073-10101) or ``LN`` (LOINC); with no coding system, an all-digit code is read as MDC and a
    LOINC-shaped one (``8867-4``) as LOINC. Any other system (a vendor's, a local ``99…``) is
    unknown: None, never guessed."""
    identifier, system = code.identifier.strip(), code.system.strip().upper()
    if system in (MDC, "") and identifier in MDC_METRICS:
        return MDC_METRICS[identifier].our_code
    if system in (LOINC, "LOINC", "") and identifier in LOINC_CODES:
        return LOINC_CODES[identifier]
    return None


def unit_rule_for(unit: Coded) -> UnitRule | None:
    """The unit rule of an OBX-6 unit: an MDC unit code (system ``MDC``, or digits alone), a UCUM
    code (system ``UCUM``, or none) or one of the plain spellings monitors use (``bpm``,
    ``mmHg``…). None when we do not know it. An MDC unit's reference id in the text component
    alone (``^MDC_DIM_PERCENT^MDC``) is not enough: the code is what we match."""
    identifier, system = unit.identifier.strip(), unit.system.strip().upper()
    if system in (MDC, "") and identifier in MDC_UNITS:
        return MDC_UNITS[identifier]
    if system in ("UCUM", "") and identifier in UCUM_UNITS:
        return UCUM_UNITS[identifier]
    if system == "" and identifier in _PLAIN_UNITS:
        return _PLAIN_UNITS[identifier]
    return None


_NUMBER = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)$")


def map_observation(*, code: Coded, value: str, unit: Coded, status: str) -> Mapped | Skipped:
    """One OBX (OBX-3 ``code``, OBX-5 ``value`` as text, OBX-6 ``unit``, OBX-11 ``status``) as
    an observation of our catalogue, or why it is skipped.

    Order of the checks: a status that is not a result (``not_final``), then a "no value"
    (``no_value``: empty, "-", an IEEE 11073 sentinel), both only counted; then an unknown code
    (``unknown_code``), a value that is not a number (``invalid_value``), an unknown unit for the
    code (``unknown_unit``), all reported. The value is converted to the catalogue's unit (°F to
    °C, two decimals), never judged: plausibility is the vitals ingest's.
    Source: see the module docstring (IEEE 11073-10101, -20601 §F.8; HL7 v2.6 Table 0085).
    """
    status = status.strip().upper()
    if status not in ACCEPTED_STATUSES:
        return Skipped("not_final", f"result status {status}", reported=False)
    text = value.strip()
    if text.lower() in NO_VALUE_TEXTS:
        return Skipped("no_value", "no value", reported=False)
    if _NUMBER.match(text) and Decimal(text) in NO_VALUE_NUMBERS:
        return Skipped("no_value", "IEEE 11073 no-value sentinel", reported=False)
    ours = our_code_for(code)
    if ours is None:
        return Skipped("unknown_code", f"code {code} is not in the vitals catalogue", reported=True)
    if not _NUMBER.match(text):
        return Skipped("invalid_value", f"{ours}: the value is not a number", reported=True)
    try:
        number = Decimal(text)
    except InvalidOperation:  # pragma: no cover - the pattern admits only decimals
        return Skipped("invalid_value", f"{ours}: the value is not a number", reported=True)
    if not unit.identifier.strip() and not unit.system.strip():
        if ours in UNITLESS_OK:
            return Mapped(ours, number)
        return Skipped("unknown_unit", f"{ours}: a unit is required", reported=True)
    rule = unit_rule_for(unit)
    if rule is None or rule.ucum != VITAL_SIGNS[ours].unit_ucum:
        return Skipped("unknown_unit", f"{ours}: unit {unit} is not one we read for it", reported=True)
    if rule.offset or rule.scale != 1:
        number = ((number + rule.offset) * rule.scale).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return Mapped(ours, number)


_TS = re.compile(
    r"^(?P<y>\d{4})(?P<mo>\d{2})(?P<d>\d{2})(?P<h>\d{2})(?P<mi>\d{2})"
    r"(?:(?P<s>\d{2})(?:\.(?P<f>\d{1,4}))?)?(?P<tz>[+-]\d{4})?$"
)


def parse_hl7_time(text: str, *, zone: tzinfo) -> datetime | None:
    """An HL7 v2 TS/DTM (``YYYYMMDDHHMM[SS[.S[S[S[S]]]]][+/-ZZZZ]``) as an aware datetime, or
    None if it is empty or not one. Precision below the minute (a date alone) is refused: a
    vital sign needs its time. Without an offset the time is the sending clinic's wall clock
    (``zone``), as a monitor's clock is set.
    Source: HL7 v2.6 §2.A.22 (DTM) and §2.A.75 (TS)."""
    match = _TS.match(text.strip())
    if match is None:
        return None
    parts = match.groupdict()
    fraction = (parts["f"] or "").ljust(6, "0")[:6]
    try:
        naive = datetime(  # noqa: DTZ001 - the zone is set below, from the offset or the clinic
            int(parts["y"]),
            int(parts["mo"]),
            int(parts["d"]),
            int(parts["h"]),
            int(parts["mi"]),
            int(parts["s"] or 0),
            int(fraction or 0),
        )
    except ValueError:
        return None
    offset = parts["tz"]
    if offset is None:
        return naive.replace(tzinfo=zone)  # the clinic's wall clock
    hours, minutes = int(offset[1:3]), int(offset[3:5])
    if hours > 14 or minutes > 59:
        return None
    delta = timedelta(hours=hours, minutes=minutes)
    return naive.replace(tzinfo=timezone(delta if offset[0] == "+" else -delta))
