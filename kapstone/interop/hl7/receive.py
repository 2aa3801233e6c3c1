"""Receiving one HL7 v2 ORU^R01 message from a bedside monitor, and the ACK it is answered with.

The observations go through the vitals ingest of the API (``monitoring.services.vitals_record``:
plausibility, all-or-nothing, alert evaluation, audit with the device as the source) into the
patient's dosing session in progress or recovering, in the clinic the feed belongs to. Every
outcome is an ACK (HL7 v2.6 §2.14.1, original acknowledgement mode):

- ``MSA|AA`` the batch is stored (an ``ERR`` with severity ``W`` for each OBX skipped and
  reported: ``unknown_code``, ``unknown_unit``, ``invalid_value``, ``invalid_time``);
- ``MSA|AE`` understood but refused, ``ERR`` carrying our code: ``unknown_patient``,
  ``no_active_session``, ``implausible_value``, or any other refusal of the ingest
  (``session_not_monitored``, ``clinician_required``…), ``multiple_patients``,
  ``internal_error``; nothing is written;
- ``MSA|AR`` it cannot be read: ``unparseable_message``, ``unsupported_message_type``,
  ``unsupported_version``, ``message_too_large``.

A message whose control id (MSH-10) was already accepted from the same sender (MSH-3 and MSH-4)
in the clinic is answered with the ACK it was given, and nothing is stored again
(``interop.Hl7Message``, written in the batch's transaction). Logs name codes, counts and the
control id, never a patient.
"""

from __future__ import annotations

import logging
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import hl7
from django.db import IntegrityError, transaction
from django.utils import timezone

from kapstone.accounts.access import VITALS_SOURCES, has_role
from kapstone.accounts.models import Clinic, Role, User
from kapstone.accounts.selectors import members_with_role
from kapstone.domain.errors import DomainError, DomainErrors
from kapstone.interop import selectors
from kapstone.interop.hl7.mapping import Coded, Mapped, Skipped, map_observation, parse_hl7_time
from kapstone.interop.models import AckCode, Hl7Message
from kapstone.monitoring.services import vitals_record

logger = logging.getLogger("kapstone.interop.hl7")

#: The longest message read (characters). A monitor's ORU^R01 is a few kilobytes.
MAX_MESSAGE_CHARS = 1_000_000
#: Our application in MSH-3 of every ACK.
APPLICATION = "KAPSTONE"
#: The coding system of our codes in ERR-5 (a local table: HL7's "99zzz" convention).
OUR_CODES = "99KAP"

# HL7 v2.6 Table 0357 (message error condition codes), by our code; 207 "application internal
# error" for every refusal of our own rules.
_HL7_ERROR = {
    "unparseable_message": ("100", "Segment sequence error"),
    "unsupported_message_type": ("200", "Unsupported message type"),
    "unsupported_version": ("203", "Unsupported version id"),
    "message_too_large": ("207", "Application internal error"),
    "unknown_patient": ("204", "Unknown key identifier"),
    "unknown_code": ("103", "Table value not found"),
    "unknown_unit": ("103", "Table value not found"),
    "invalid_value": ("102", "Data type error"),
    "invalid_time": ("102", "Data type error"),
}
_APPLICATION_ERROR = ("207", "Application internal error")


@dataclass(frozen=True)
class Problem:
    """One ERR segment: our code, a message without PHI, severity E or W, and where (OBX n)."""

    code: str
    message: str
    severity: str = "E"
    location: str = ""


@dataclass
class _Header:
    control_id: str = ""
    sending_application: str = ""
    sending_facility: str = ""
    processing_id: str = "P"
    version: str = "2.6"

    @property
    def sender(self) -> str:
        return f"{self.sending_application}|{self.sending_facility}"[:200]


@dataclass
class _Reading:
    observations: list[dict] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    dropped: int = 0
    device: str = ""


class _Refused(Exception):
    def __init__(self, ack_code: str, problem: Problem) -> None:
        super().__init__(problem.code)
        self.ack_code, self.problem = ack_code, problem


# --- Reading the message ----------------------------------------------------------------------


def _normalise(raw: object) -> str:
    if not isinstance(raw, str):
        raise _Refused("AR", Problem("unparseable_message", "The message is not text."))
    if len(raw) > MAX_MESSAGE_CHARS:
        raise _Refused(
            "AR", Problem("message_too_large", f"Messages are read up to {MAX_MESSAGE_CHARS} characters.")
        )
    # MLLP framing left in by a sender, and the line ends of files and terminals (\n, \r\n).
    text = raw.strip("\x0b\x1c\r\n \t").replace("\r\n", "\r").replace("\n", "\r")
    if "\x00" in text:
        raise _Refused("AR", Problem("unparseable_message", "The message contains a NUL character."))
    if not text.startswith("MSH") or len(text) < 8:
        raise _Refused(
            "AR", Problem("unparseable_message", "The message does not begin with an MSH segment.")
        )
    return text


def _unescape(text: str, separators: dict[str, str]) -> str:
    """HL7 escape sequences (HL7 v2.6 §2.7): \\F\\ \\S\\ \\T\\ \\R\\ \\E\\ and \\Xhh…\\; formatting
    ones (\\H\\, \\N\\, \\.br\\…) are dropped. Written here rather than hl7's ``unescape``, which
    logs the whole field (possibly a patient's identifier) on an escape it does not know."""
    esc = separators["esc"]
    if not esc or esc not in text:
        return text
    out: list[str] = []
    parts = text.split(esc)
    # Between two escape characters: a sequence; an unterminated one is kept as it came.
    out.append(parts[0])
    index = 1
    while index < len(parts):
        if index + 1 >= len(parts):
            out.append(esc + parts[index])
            break
        sequence, rest = parts[index], parts[index + 1]
        known = {
            "F": separators["field"],
            "S": separators["component"],
            "T": separators["sub"],
            "R": separators["repetition"],
            "E": esc,
        }
        if sequence in known:
            out.append(known[sequence])
        elif re.fullmatch(r"X([0-9A-Fa-f]{2})+", sequence):
            out.append(bytes.fromhex(sequence[1:]).decode("latin-1"))
        out.append(rest)
        index += 2
    return "".join(out)


class _Message:
    """A parsed message with typed access to what we read: fields by number, split into
    repetitions and components with the message's own separators, then unescaped."""

    def __init__(self, text: str) -> None:
        self.field_sep = text[3]
        encoding = text[4:].split(self.field_sep, 1)[0]
        if len(encoding) < 3 or self.field_sep.isalnum():
            raise _Refused("AR", Problem("unparseable_message", "MSH-1/MSH-2 do not hold the separators."))
        self.separators = {
            "field": self.field_sep,
            "component": encoding[0],
            "repetition": encoding[1],
            "esc": encoding[2] if len(encoding) > 2 else "",
            "sub": encoding[3] if len(encoding) > 3 else "&",
        }
        try:
            self.parsed = hl7.parse(text)
            self.segments = [(str(segment[0]), segment) for segment in self.parsed]
        except Exception as error:  # hl7 raises several kinds on malformed input
            raise _Refused(
                "AR", Problem("unparseable_message", "The message cannot be parsed as HL7 v2.")
            ) from error

    def raw(self, segment, number: int) -> str:
        try:
            return str(segment[number]) if number < len(segment) else ""
        except (IndexError, TypeError):
            return ""

    def repetitions(self, segment, number: int) -> list[list[str]]:
        """Field ``number`` as its repetitions, each a list of unescaped components (first
        subcomponent of each)."""
        raw = self.raw(segment, number)
        if not raw:
            return []
        sep = self.separators
        return [
            [
                _unescape(component.split(sep["sub"])[0], sep)
                for component in repetition.split(sep["component"])
            ]
            for repetition in raw.split(sep["repetition"])
        ]

    def component(self, segment, number: int, index: int = 1) -> str:
        reps = self.repetitions(segment, number)
        if not reps or len(reps[0]) < index:
            return ""
        return reps[0][index - 1].strip()

    def coded(self, segment, number: int) -> Coded:
        reps = self.repetitions(segment, number)
        parts = (reps[0] if reps else []) + ["", "", ""]
        return Coded(parts[0].strip(), parts[1].strip(), parts[2].strip())

    def all(self, name: str) -> list:
        return [segment for kind, segment in self.segments if kind == name]


def _read_header(message: _Message, header: _Header) -> None:
    """Fill ``header`` from MSH (in place, so that a refusal's ACK still echoes what was read)."""
    msh = message.segments[0][1]
    # python-hl7 numbers MSH fields as the standard does (MSH-1 is the field separator).
    header.control_id = message.component(msh, 10)[:199]
    header.sending_application = message.component(msh, 3)
    header.sending_facility = message.component(msh, 4)
    header.processing_id = message.component(msh, 11) or "P"
    header.version = message.component(msh, 12) or "2.6"
    kind, event = message.component(msh, 9, 1).upper(), message.component(msh, 9, 2).upper()
    if not header.control_id:
        raise _Refused("AR", Problem("unparseable_message", "MSH-10 (the message control id) is empty."))
    if (kind, event) != ("ORU", "R01"):
        raise _Refused(
            "AR", Problem("unsupported_message_type", "Only ORU^R01 observation results are accepted.")
        )
    if not re.fullmatch(r"2\.[3-9](\.\d+)?", header.version):
        raise _Refused("AR", Problem("unsupported_version", "HL7 v2.3 to v2.9 messages are accepted."))


def _identifiers(message: _Message) -> list[str]:
    """PID-3's identifiers (every repetition); several PID segments must name one patient."""
    pids = message.all("PID")
    if not pids:
        raise _Refused("AE", Problem("unknown_patient", "The message names no patient (no PID segment)."))
    ids = [{rep[0].strip() for rep in message.repetitions(pid, 3) if rep and rep[0].strip()} for pid in pids]
    if any(group != ids[0] for group in ids[1:]):
        raise _Refused("AE", Problem("multiple_patients", "A message may carry one patient's observations."))
    if not ids[0]:
        raise _Refused("AE", Problem("unknown_patient", "PID-3 (the patient identifier) is empty."))
    return sorted(ids[0])


_DEVICE = re.compile(r"[^A-Za-z0-9._:-]+")


def _device(text: str) -> str:
    return _DEVICE.sub("", text)[:60]


def _read_observations(message: _Message, header: _Header, zone: ZoneInfo) -> _Reading:
    """The OBX segments as observations (with their times), skipping what the mapping skips."""
    reading = _Reading()
    msh = message.segments[0][1]
    message_time = message.component(msh, 7)
    group_time = ""
    for position, (kind, segment) in enumerate(message.segments):
        if kind == "OBR":
            group_time = message.component(segment, 7)
            continue
        if kind != "OBX":
            continue
        where = f"OBX^{message.component(segment, 1) or position}"
        # OBX-2 SN (structured numeric, "<comparator>^<number>"): the number when exact.
        value_type = message.component(segment, 2).upper()
        values = message.repetitions(segment, 5)
        if value_type == "SN":
            parts = (values[0] if values else []) + ["", "", ""]
            value = parts[1] if not parts[0].strip() and not parts[2].strip() else "?"
        elif len(values) > 1:
            value = "?"  # a series (a waveform): not one reading
        else:
            value = values[0][0] if values and values[0] else ""
        result = map_observation(
            code=message.coded(segment, 3),
            value=value,
            unit=message.coded(segment, 6),
            status=message.component(segment, 11),
        )
        if isinstance(result, Skipped):
            if result.reported:
                reading.problems.append(Problem(result.reason, result.detail, "W", where))
            else:
                reading.dropped += 1
            continue
        assert isinstance(result, Mapped)
        stamp = message.component(segment, 14) or group_time or message_time
        observed_at = parse_hl7_time(stamp, zone=zone)
        if observed_at is None:
            reading.problems.append(
                Problem("invalid_time", f"{result.code}: no readable observation time", "W", where)
            )
            continue
        reading.observations.append({"code": result.code, "value": result.value, "observed_at": observed_at})
        if not reading.device:
            reading.device = _device(message.component(segment, 18))
    reading.device = reading.device or _device(header.sending_application) or "hl7"
    return reading


# --- The ACK ----------------------------------------------------------------------------------


def _escape(text: str) -> str:
    """Our text in an ACK field: the escape character first, then the separators (|^~\\&)."""
    text = text.replace("\\", "\\E\\").replace("|", "\\F\\").replace("^", "\\S\\")
    text = text.replace("&", "\\T\\").replace("~", "\\R\\")
    return " ".join(text.split())  # no segment or line break inside a field


def build_ack(*, header: _Header, ack_code: str, problems: list[Problem], clinic: Clinic | None) -> str:
    """The ACK message (HL7 v2.6 §2.14.1): MSH, MSA (MSA-2 echoes MSH-10), one ERR per problem
    (ERR-2 location, ERR-3 HL7 error code (Table 0357), ERR-4 severity, ERR-5 our code, ERR-8
    the message in words), segments separated by carriage returns."""
    now = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    facility = clinic.slug if clinic is not None else ""
    msh = "|".join(
        [
            "MSH",
            "^~\\&",
            APPLICATION,
            _escape(facility),
            _escape(header.sending_application),
            _escape(header.sending_facility),
            now,
            "",
            "ACK^R01^ACK",
            "K" + uuid.uuid4().hex[:19],
            _escape(header.processing_id)[:3] or "P",
            _escape(header.version)[:8] or "2.6",
        ]
    )
    segments = [msh, f"MSA|{ack_code}|{_escape(header.control_id)}"]
    for problem in problems:
        number, words = _HL7_ERROR.get(problem.code, _APPLICATION_ERROR)
        segments.append(
            "|".join(
                [
                    "ERR",
                    "",
                    problem.location,
                    f"{number}^{words}^HL70357",
                    problem.severity,
                    f"{problem.code}^{_escape(problem.code.replace('_', ' '))}^{OUR_CODES}",
                    "",
                    "",
                    _escape(problem.message)[:250],
                ]
            )
        )
    return "\r".join(segments) + "\r"


# --- Receiving --------------------------------------------------------------------------------


def receive_message(raw: str, *, clinic: Clinic, actor: User, sender: str = "") -> str:
    """Receive one ORU^R01 message for ``clinic`` as ``actor`` (the clinic's monitor account, or
    a nurse or prescriber of it) and return the ACK text; never raises.

    ``sender`` labels the transport for the replay record (an API user, a peer address); the
    replay key is the clinic, MSH-3/MSH-4 and MSH-10. Safe to call from worker threads: it opens
    and closes its own transactions on the thread's connection.
    """
    header = _Header()
    try:
        text = _normalise(raw)
        message = _Message(text)
        _read_header(message, header)
        return _receive(message, header=header, clinic=clinic, actor=actor, peer=sender)
    except _Refused as refused:
        logger.info(
            "hl7 message refused",
            extra={"ack": refused.ack_code, "code": refused.problem.code, "control_id": header.control_id},
        )
        return build_ack(header=header, ack_code=refused.ack_code, problems=[refused.problem], clinic=clinic)
    except Exception:
        # Logged with its class and traceback; the logging set-up drops exception texts, which
        # may quote patient data (kapstone/settings.py).
        logger.exception("hl7 message failed", extra={"control_id": header.control_id})
        ack_code = "AE" if header.control_id else "AR"
        code = "internal_error" if header.control_id else "unparseable_message"
        problem = Problem(code, "The message could not be processed; nothing was stored.")
        return build_ack(header=header, ack_code=ack_code, problems=[problem], clinic=clinic)


def ack_unreadable(*, clinic: Clinic | None, message: str) -> str:
    """The ``AR`` of a message that could not even be read as text (bytes that are not UTF-8):
    code ``unparseable_message``, MSA-2 empty (no control id could be read)."""
    return build_ack(
        header=_Header(), ack_code="AR", problems=[Problem("unparseable_message", message)], clinic=clinic
    )


def _refusal(error: DomainError) -> list[Problem]:
    errors = error.errors if isinstance(error, DomainErrors) else (error,)
    return [Problem(e.code, e.message) for e in errors]


def _receive(message: _Message, *, header: _Header, clinic: Clinic, actor: User, peer: str) -> str:
    if not has_role(actor, VITALS_SOURCES, clinic.pk):
        # Checked before the replay record is read: its ACKs are the clinic's feed's.
        raise _Refused(
            "AE",
            Problem(
                "clinician_required",
                "Only the clinic's monitor feed, nurses and prescribers may send vitals.",
            ),
        )
    sender = header.sender
    stored_ack = selectors.hl7_message_ack(clinic=clinic, sender=sender, control_id=header.control_id)
    if stored_ack is not None:
        return stored_ack  # a replay: the same answer, nothing stored again
    identifiers = _identifiers(message)
    patient = selectors.feed_patient(actor=actor, clinic=clinic, identifiers=identifiers)
    if isinstance(patient, list):
        raise _Refused("AE", Problem("multiple_patients", "PID-3 names more than one patient of the clinic."))
    if patient is None:
        raise _Refused("AE", Problem("unknown_patient", "No patient of this clinic has that identifier."))
    session = selectors.feed_session(patient=patient)
    if session is None:
        raise _Refused(
            "AE", Problem("no_active_session", "The patient has no dosing session in progress or recovering.")
        )
    reading = _read_observations(message, header, ZoneInfo(clinic.timezone))
    warnings = reading.problems
    ack = build_ack(header=header, ack_code=AckCode.ACCEPT, problems=warnings, clinic=clinic)
    try:
        with transaction.atomic():
            # The replay record first: a second copy arriving at once waits on the unique key,
            # then fails and is answered from the first copy's record (below).
            Hl7Message.objects.create(
                clinic=clinic,
                sender=sender,
                control_id=header.control_id,
                peer=_device(peer)[:100] if peer else "",
                received_at=timezone.now(),
                ack_code=AckCode.ACCEPT,
                ack_text=ack,
                stored=len(reading.observations),
                skipped=len(warnings),
                dropped=reading.dropped,
            )
            if reading.observations:
                vitals_record(
                    actor=actor, session=session, observations=reading.observations, source=reading.device
                )
    except DomainError as error:  # WorkflowConflict and DomainErrors are DomainErrors too
        return build_ack(header=header, ack_code="AE", problems=_refusal(error) + warnings, clinic=clinic)
    except IntegrityError:
        stored_ack = selectors.hl7_message_ack(clinic=clinic, sender=sender, control_id=header.control_id)
        if stored_ack is None:
            raise
        return stored_ack
    logger.info(
        "hl7 message stored",
        extra={
            "control_id": header.control_id,
            "stored": len(reading.observations),
            "skipped": len(warnings),
            "dropped": reading.dropped,
        },
    )
    return ack


def feed_handler(clinic: Clinic, actor: User) -> Callable[[str, str], str]:
    """The listener's handling of one message (raw text, peer) for ``clinic``'s feed account.

    The account is read afresh for every message, never kept: a monitor account deactivated or
    stripped of its role while a listener runs is refused (``clinician_required``) from its next
    message on, not at the listener's next restart; and the handler threads share no user object
    and its cached roles. Costs two small queries per message."""
    pk = actor.pk

    def handle(raw: str, peer: str) -> str:
        current = User.objects.filter(pk=pk).first()
        if current is None:
            current = User(pk=pk, username=actor.username, is_active=False)
        return receive_message(raw, clinic=clinic, actor=current, sender=peer)

    return handle


def clinic_feed_actor(slug: str, username: str | None = None) -> tuple[Clinic, User]:
    """The clinic with ``slug`` and the account its monitor feed acts as: its one active
    ``monitor`` account, or the active monitor account ``username`` of that clinic.

    Raises ``LookupError`` with a one-line message when the clinic or the account is missing, or
    when the clinic has several monitor accounts and no ``username`` chooses one.
    """
    clinic = Clinic.objects.filter(slug=slug).first()
    if clinic is None:
        raise LookupError(f"no clinic with the slug {slug!r}")
    found = members_with_role(clinic=clinic, role=Role.MONITOR, username=username)
    if not found:
        who = f"named {username!r} " if username else ""
        raise LookupError(f"no active monitor account {who}in the clinic {slug!r}")
    if len(found) > 1:
        raise LookupError(f"the clinic {slug!r} has several monitor accounts; choose one with its username")
    return clinic, found[0]
