"""A bedside monitor's HL7 v2 feed, simulated: ORU^R01 v2.6 messages for one patient (by MRN), for
tests, demonstrations and the benchmark (``kapstone hl7 simulate``, docs/interop.md).

Each message is what a patient monitor's gateway sends in the IHE PCD-01 "Communicate PCD Data"
shape (IHE PCD Technical Framework vol. 2): ``MSH`` (sending application ``KAPSTONE-SIM``, the
chair as sending facility, a control id unique to the message), ``PID`` with the MRN in PID-3,
``PV1``, one ``OBR`` and an ``OBX`` per parameter, coded with IEEE 11073-10101 (MDC) terms and MDC
units, result status ``F`` and the observation time in OBX-14 (the local clock with its UTC offset,
to the millisecond, later in each message than in the one before).

Parameters (IEEE 11073-10101 nomenclature, context-free codes = partition × 2^16 + term code; the
same codes in the Rosetta Terminology Mapping, RTMMS, used by IHE PCD):

====================  ============================  ====================================
parameter             OBX-3                         OBX-6
====================  ============================  ====================================
SpO2                  150456 MDC_PULS_OXIM_SAT_O2   262688 MDC_DIM_PERCENT (%)
heart rate            147842 MDC_ECG_HEART_RATE     264864 MDC_DIM_BEAT_PER_MIN (/min)
systolic (NIBP)       150021 MDC_PRESS_BLD_NONINV_SYS  266016 MDC_DIM_MMHG (mmHg)
diastolic (NIBP)      150022 MDC_PRESS_BLD_NONINV_DIA  266016 MDC_DIM_MMHG (mmHg)
respiratory rate      151562 MDC_RESP_RATE          264928 MDC_DIM_RESP_PER_MIN (/min)
temperature           150344 MDC_TEMP               268192 MDC_DIM_DEGC (°C)
====================  ============================  ====================================

Values drift as a resting adult's do (a seeded random walk pulled back to a baseline, kept well
inside the alert limits of kapstone/domain/monitoring/alerts.py: HR 55–100, SBP 105–150, DBP
60–95, RR 11–20, temperature 36.3–37.4). With ``desaturate`` the second half of the messages
(at least the last one) shows SpO2 falling steadily to 86 %, with the heart rate rising a little:
below the hypoxemia alert's warning limit (< 94 %) and then its critical one (< 90 %), so the
alert is raised as the values call for.

The seed fixes the values, never the control ids: these are new in every run (a random prefix
and the message's number), because a control id seen before from the same sender is a replay,
acknowledged without being stored again.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

APPLICATION = "KAPSTONE-SIM"
#: SpO2 (%) at the end of a desaturation: under the critical hypoxemia limit (< 90 %).
DESATURATION_TARGET_PCT = 86.0
#: The observation time moves on by at least this much between messages sent at once.
MIN_STEP = timedelta(milliseconds=1)


@dataclass(frozen=True)
class Parameter:
    name: str  # our catalogue code (kapstone/domain/monitoring/observations.py)
    mdc_code: str
    mdc_refid: str
    unit_code: str
    unit_refid: str
    baseline: float
    low: float
    high: float
    step: float
    decimals: int = 0


PARAMETERS = (
    Parameter("spo2", "150456", "MDC_PULS_OXIM_SAT_O2", "262688", "MDC_DIM_PERCENT", 98, 95, 100, 0.6),
    Parameter(
        "heart_rate", "147842", "MDC_ECG_HEART_RATE", "264864", "MDC_DIM_BEAT_PER_MIN", 74, 55, 100, 2.0
    ),
    Parameter(
        "systolic_bp", "150021", "MDC_PRESS_BLD_NONINV_SYS", "266016", "MDC_DIM_MMHG", 124, 105, 150, 2.5
    ),
    Parameter(
        "diastolic_bp", "150022", "MDC_PRESS_BLD_NONINV_DIA", "266016", "MDC_DIM_MMHG", 78, 60, 95, 1.5
    ),
    Parameter(
        "respiratory_rate", "151562", "MDC_RESP_RATE", "264928", "MDC_DIM_RESP_PER_MIN", 14, 11, 20, 0.8
    ),
    Parameter("temperature", "150344", "MDC_TEMP", "268192", "MDC_DIM_DEGC", 36.8, 36.3, 37.4, 0.05, 1),
)


def hl7_time(at: datetime) -> str:
    """An aware datetime as an HL7 v2 DTM to the millisecond with its offset (v2.6 §2.A.22)."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError("an aware datetime is required")
    offset = at.strftime("%z")
    return at.strftime("%Y%m%d%H%M%S.") + f"{at.microsecond // 1000:03d}" + offset


def _escape(text: str) -> str:
    """Text in a field: the escape character first, then the separators (HL7 v2.6 §2.7)."""
    text = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    return text.replace("&", "\\T\\").replace("~", "\\R\\")


class MonitorFeed:
    """``count`` messages for the patient with ``mrn``: :meth:`values` gives the readings of
    message ``index`` (fixed by ``seed``), :meth:`message` the ORU^R01 text at a given time."""

    def __init__(
        self,
        mrn: str,
        *,
        count: int,
        seed: int | None = None,
        desaturate: bool = False,
        chair: str = "CHAIR-01",
    ) -> None:
        if count < 1:
            raise ValueError("count must be at least 1")
        if not mrn.strip():
            raise ValueError("an MRN is required")
        self.mrn, self.count, self.chair = mrn.strip(), count, chair
        self.run_id = uuid.uuid4().hex[:12].upper()
        self._rng = random.Random(seed)
        self._current = {p.name: p.baseline + self._rng.uniform(-p.step, p.step) for p in PARAMETERS}
        self._falling = (count + 1) // 2 if desaturate else 0
        self._readings: list[dict[str, float]] = []  # walked as far as asked (a long feed is cheap)
        self._last_at: datetime | None = None

    def _reading(self, index: int) -> dict[str, float]:
        if not 0 <= index < self.count:
            raise IndexError(f"message {index} of a feed of {self.count}")
        while len(self._readings) <= index:
            current = self._current
            for p in PARAMETERS:
                # A random step, pulled a quarter of the way back to the baseline, kept in bounds.
                value = (
                    current[p.name] + self._rng.uniform(-p.step, p.step) + (p.baseline - current[p.name]) / 4
                )
                current[p.name] = min(p.high, max(p.low, value))
            reading = dict(current)
            into = len(self._readings) - (self.count - self._falling)
            if into >= 0:
                start = current["spo2"]
                reading["spo2"] = start - (start - DESATURATION_TARGET_PCT) * (into + 1) / self._falling
                reading["heart_rate"] = min(100.0, current["heart_rate"] + 3 * (into + 1))
            self._readings.append(reading)
        return self._readings[index]

    def values(self, index: int) -> dict[str, str]:
        """The readings of message ``index`` (0-based) as they are sent (OBX-5 text)."""
        reading = self._reading(index)
        return {p.name: f"{reading[p.name]:.{p.decimals}f}" for p in PARAMETERS}

    def control_id(self, index: int) -> str:
        """MSH-10: unique to this run and message (at most 20 characters, as v2.3 allows)."""
        return f"{self.run_id}{index + 1:06d}"

    def message(self, index: int, *, at: datetime) -> str:
        """Message ``index`` observed at ``at`` (aware), segments ended by carriage returns. A time
        not later than the previous message's is moved just after it."""
        if self._last_at is not None and at <= self._last_at:
            at = self._last_at + MIN_STEP
        self._last_at = at
        stamp = hl7_time(at)
        control = self.control_id(index)
        segments = [
            f"MSH|^~\\&|{APPLICATION}|{_escape(self.chair)}|KAPSTONE||{stamp}||ORU^R01^ORU_R01|{control}|P|2.6"
            # MSH-15/16 empty: original acknowledgement mode, one ACK per message. MSH-18: UTF-8.
            "||||||UNICODE UTF-8",
            f"PID|||{_escape(self.mrn)}^^^^MR",
            f"PV1||O|^^{_escape(self.chair)}",
            # SNOMED CT 182777000 "Monitoring of patient", as IHE PCD-01's examples code OBR-4.
            f"OBR|1|{control}^{APPLICATION}|{control}^{APPLICATION}|182777000^monitoring of patient^SCT|||{stamp}",
        ]
        values = self.values(index)
        for number, p in enumerate(PARAMETERS, start=1):
            segments.append(
                f"OBX|{number}|NM|{p.mdc_code}^{p.mdc_refid}^MDC|1.0.0.{number}|{values[p.name]}"
                f"|{p.unit_code}^{p.unit_refid}^MDC|||||F|||{stamp}"
            )
        return "\r".join(segments) + "\r"

    def stream(self, clock: Callable[[], datetime] | None = None) -> Iterator[str]:
        """The messages in turn, each stamped when it is taken (``clock``: the local time)."""
        now = clock or (lambda: datetime.now().astimezone())
        for index in range(self.count):
            yield self.message(index, at=now())


def ack_summary(ack: str) -> tuple[str, str, list[str]]:
    """``(MSA-1 code, MSA-2 control id, [ERR codes])`` of an ACK. An ERR's code is its ERR-5
    (application error code: Kapstone's own, e.g. ``no_active_session``), else its ERR-3 (HL7
    table 0357), else the code in ERR-1 (v2.3's location and code)."""
    code, control, errors = "", "", []
    for segment in ack.replace("\n", "\r").split("\r"):
        fields = segment.split("|")
        if fields[0] == "MSA":
            code = fields[1] if len(fields) > 1 else ""
            control = fields[2] if len(fields) > 2 else ""
        elif fields[0] == "ERR":
            # ERR-1 (v2.3 ELD) is segment^sequence^field^code: its code is the 4th component.
            for position, component in ((5, 0), (3, 0), (1, 3)):
                parts = fields[position].split("^") if len(fields) > position else []
                value = parts[component] if len(parts) > component else ""
                if value:
                    errors.append(value)
                    break
    return code, control, errors
