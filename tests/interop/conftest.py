"""Fixtures of the interop tests. FHIR: a client with a bearer token, and validation with
fhir.resources (R4B). HL7 v2: a clinic's monitor account, a dosing session in progress, and
messages shaped as bedside monitors send them."""

from __future__ import annotations

import importlib
from datetime import UTC, datetime, timedelta

import pytest
from django.test import Client
from django.utils import timezone

from kapstone.accounts.models import Role
from kapstone.accounts.services import api_token_create
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.conftest import make_user
from tests.dosing.conftest import cleared_session, lot_50  # noqa: F401 - shared fixtures
from tests.monitoring.conftest import start_dosing

FHIR = "/fhir/r4"


class FhirClient:
    """GETs under /fhir/r4 as one user (a bearer token, as a FHIR client sends it)."""

    def __init__(self, user=None) -> None:
        self.client = Client()
        self.headers = {}
        if user is not None:
            self.headers["HTTP_AUTHORIZATION"] = f"Bearer {api_token_create(actor=None, user=user)[1]}"

    def get(self, path: str, params=None, **extra):
        return self.client.get(FHIR + path, params or {}, **self.headers, **extra)

    def request(self, method: str, path: str, **extra):
        return self.client.generic(method, FHIR + path, **self.headers, **extra)


@pytest.fixture
def fhir_as():
    return FhirClient


def validate(resource: dict):
    """The R4B model of the resource's type, validating it (raises on any invalid element)."""
    kind = resource["resourceType"]
    module = importlib.import_module(f"fhir.resources.R4B.{kind.lower()}")
    return getattr(module, kind).model_validate(resource)


def outcome_of(response, status: int, issue_code: str, code: str | None = None) -> dict:
    """The OperationOutcome of an error answer: its status, content type, codes; validated."""
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/fhir+json")
    body = response.json()
    validate(body)
    issue = body["issue"][0]
    assert issue["code"] == issue_code
    assert issue["details"]["text"]
    if code is not None:
        assert issue["details"]["coding"][0]["code"] == code
    return body


# --- HL7 v2 ----------------------------------------------------------------------------------


@pytest.fixture
def monitor_a(clinic_a):
    """Clinic A's bedside-monitor feed: a device account with no usable password."""
    user = make_user("monitor.a", clinic_a, Role.MONITOR)
    user.set_unusable_password()
    user.save(update_fields=["password"])
    return user


@pytest.fixture
def running(alice, nina, cleared_session, lot_50):  # noqa: F811 - the imported fixtures, by name
    """Patient A-1001's dosing session in progress (a baseline set, an infusion begun 8 min ago)."""
    start_dosing(prescriber=alice, nurse=nina, session=cleared_session, lot=lot_50, minutes_ago=8)
    cleared_session.refresh_from_db()
    assert cleared_session.status == "in_progress"
    return cleared_session


def hl7_time(moment: datetime) -> str:
    """A moment as an HL7 TS with a UTC offset."""
    return moment.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")


def oru(
    *obx: str,
    control_id: str = "MSG0001",
    mrn: str = "A-1001",
    at: datetime | None = None,
    sender: str = "PHILIPS_IX^0012ABCD^EUI-64|ICU",
    pid: str | None = None,
    version: str = "2.6",
    kind: str = "ORU^R01^ORU_R01",
) -> str:
    """An IHE PCD-01 style ORU^R01 (segments joined with \\r). ``obx``: the OBX segments' text
    after ``OBX|n|``; ``{t}`` in them is replaced by the observation time."""
    at = at or timezone.now() - timedelta(minutes=1)
    stamp = hl7_time(at)
    application, facility = sender.split("|")
    segments = [
        f"MSH|^~\\&|{application}|{facility}|||{stamp}||{kind}|{control_id}|P|{version}|||AL|NE||UNICODE UTF-8",
        pid if pid is not None else f"PID|||{mrn}^^^Northside^MR||Zzyzxfield^Avery||19800101|F",
        "PV1||I|ICU^^3",
        f"OBR|1|{control_id}^PHILIPS|{control_id}^PHILIPS|182777000^monitoring of patient^SCT|||{stamp}",
    ]
    for index, text in enumerate(obx, start=1):
        segments.append(f"OBX|{index}|{text.replace('{t}', stamp)}")
    return "\r".join(segments) + "\r"


SPO2 = "NM|150456^MDC_PULS_OXIM_SAT_O2^MDC|1.3.1.150456|{v}|262688^MDC_DIM_PERCENT^MDC|||||R|||{t}||||0012ABCD^EUI-64"
HR = "NM|147842^MDC_ECG_HEART_RATE^MDC|1.2.1.147842|{v}|264864^MDC_DIM_BEAT_PER_MIN^MDC|||||R|||{t}"
SYS = "NM|150021^MDC_PRESS_BLD_NONINV_SYS^MDC|1.4.1.150021|{v}|266016^MDC_DIM_MMHG^MDC|||||R|||{t}"
DIA = "NM|150022^MDC_PRESS_BLD_NONINV_DIA^MDC|1.4.1.150022|{v}|266016^MDC_DIM_MMHG^MDC|||||R|||{t}"
MEAN = "NM|150023^MDC_PRESS_BLD_NONINV_MEAN^MDC|1.4.1.150023|{v}|266016^MDC_DIM_MMHG^MDC|||||R|||{t}"
RESP = "NM|151562^MDC_RESP_RATE^MDC|1.1.1.151562|{v}|264928^MDC_DIM_RESP_PER_MIN^MDC|||||R|||{t}"
TEMP = "NM|150344^MDC_TEMP^MDC|1.5.1.150344|{v}|268192^MDC_DIM_DEGC^MDC|||||R|||{t}"


def obx(template: str, value: object) -> str:
    return template.replace("{v}", str(value))


def segments_of(ack: str) -> list[list[str]]:
    """An ACK's segments, each split into fields (ACKs end segments with \\r)."""
    assert "\n" not in ack
    return [segment.split("|") for segment in ack.split("\r") if segment]


def msa(ack: str) -> list[str]:
    return next(s for s in segments_of(ack) if s[0] == "MSA")


def errors(ack: str) -> list[tuple[str, str]]:
    """(our code, severity) of each ERR segment."""
    return [(s[5].split("^")[0], s[4]) for s in segments_of(ack) if s[0] == "ERR"]
