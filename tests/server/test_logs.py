"""Structured logs and request ids: JSON lines with the request id and the user's numeric id, no
query string, no patient data, no username; hostile request ids replaced."""

from __future__ import annotations

import io
import json
import logging
import sys
from datetime import timedelta
from types import SimpleNamespace

import pytest

from kapstone.server.context import (
    ENVIRON_LOG_PATH,
    ENVIRON_REQUEST_ID,
    ENVIRON_USER_ID,
    REDACTED,
    valid_request_id,
)
from kapstone.server.logs import (
    WITHHELD,
    GunicornLogger,
    JsonFormatter,
    PlainFormatter,
    RequestContextFilter,
    access_record_fields,
)
from tests.conftest import new_patient, verified_client

PATIENT = {"given_name": "Quillon", "family_name": "Zzyzxfield", "email": "quillon.z@example.org"}
MRN = "MRN-PHI-4711"


@pytest.fixture
def captured():
    """Every log record of the process, at DEBUG, formatted as production does (JSON lines)."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestContextFilter())
    loggers = [logging.getLogger(), logging.getLogger("django.request"), logging.getLogger("axes")]
    saved = [(logger, logger.level) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.DEBUG)
    yield stream
    for logger, level in saved:
        logger.removeHandler(handler)
        logger.setLevel(level)


def lines(stream: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


# --- Request ids -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    ["0123456789abcdef0123456789abcdef", "3f2b8c1e-7a4d-4e2b-9c1f-0a1b2c3d4e5f", "trace.0001:span-02"],
)
def test_a_sane_request_id_is_valid(value):
    assert valid_request_id(value)


@pytest.mark.parametrize(
    "value",
    ["", "short", "x" * 129, "id with spaces 0000", "abc\ndef0123456789", '"quoted"0123456789', "ü" * 20],
)
def test_a_hostile_request_id_is_not(value):
    assert not valid_request_id(value)


@pytest.mark.django_db
def test_a_valid_incoming_request_id_is_kept_on_the_response(client):
    response = client.get("/health", HTTP_X_REQUEST_ID="0123456789abcdef0123456789abcdef")
    assert response["X-Request-ID"] == "0123456789abcdef0123456789abcdef"


@pytest.mark.django_db
@pytest.mark.parametrize("hostile", ["x" * 500, "evil\r\nX-Injected: 1 0000000", "<script>alert(1)</script>"])
def test_a_hostile_request_id_is_replaced_by_one_of_ours(client, hostile):
    response = client.get("/health", HTTP_X_REQUEST_ID=hostile)
    made = response["X-Request-ID"]
    assert made != hostile and len(made) == 32 and int(made, 16) >= 0


@pytest.mark.django_db
def test_every_response_gets_a_request_id_even_a_redirect(client):
    first = client.get("/patients/")
    second = client.get("/patients/")
    assert first.status_code == 302
    assert valid_request_id(first["X-Request-ID"]) and first["X-Request-ID"] != second["X-Request-ID"]


# --- Django's log lines ------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_log_line_in_a_request_has_the_request_id_and_the_users_numeric_id(captured, carol):
    client = verified_client(carol)
    response = client.get("/patients/987654321/", HTTP_X_REQUEST_ID="req-0123456789abcdef")
    assert response.status_code == 404
    [line] = [line for line in lines(captured) if line["logger"] == "django.request"]
    assert line["request_id"] == "req-0123456789abcdef"
    assert line["user_id"] == carol.pk
    assert line["level"] == "WARNING" and line["message"] == "Not Found: /patients/987654321/"
    assert line["status_code"] == 404
    assert line["timestamp"].endswith("+00:00")
    # Only the fixed fields and the allowed extras: not the request object Django attached.
    assert set(line) == {"timestamp", "level", "logger", "message", "request_id", "user_id", "status_code"}


@pytest.mark.django_db
def test_no_patient_data_or_username_reaches_the_logs(captured, alice, carol, clinic_a):
    patient = new_patient(alice, clinic_a, mrn=MRN, **PATIENT)
    own = verified_client(alice)
    assert own.get(f"/patients/{patient.pk}/").status_code == 200
    assert own.get(f"/patients/?q={PATIENT['family_name']}").status_code == 200
    assert own.get(f"/patients/?q={MRN}").status_code == 200
    other = verified_client(carol)
    assert other.get(f"/patients/{patient.pk}/").status_code == 404  # logged: "Not Found: <path>"
    assert other.get(f"/patients/?q={PATIENT['family_name']}").status_code in (200, 403)
    output = captured.getvalue()
    assert "Not Found" in output, "the test must see a log line of these requests"
    for secret in [*PATIENT.values(), MRN, "alice", "carol"]:
        assert secret not in output


@pytest.mark.parametrize("formatter", [JsonFormatter, PlainFormatter])
def test_a_logged_exception_keeps_its_traceback_and_class_but_not_its_text(formatter):
    def look_up():
        raise KeyError(f"no patient {MRN}")

    try:
        try:
            look_up()
        except KeyError as missing:
            raise ValueError(f"{PATIENT['family_name']} could not be merged") from missing
    except ValueError:
        record = logging.LogRecord("kapstone", logging.ERROR, __file__, 1, "merge failed", (), sys.exc_info())
    RequestContextFilter().filter(record)
    text = formatter().format(record)
    assert MRN not in text and PATIENT["family_name"] not in text
    for kept in ("look_up", "builtins.KeyError", "builtins.ValueError", WITHHELD, "merge failed"):
        assert kept in text.replace("\\n", "\n")


def test_a_database_error_quoting_a_value_reaches_the_log_without_it(captured, django_user_model):
    from django.db import IntegrityError, transaction

    django_user_model.objects.create_user(username=f"dup-{MRN}", password="x" * 20)
    with pytest.raises(IntegrityError):
        try:
            with transaction.atomic():
                django_user_model.objects.create_user(username=f"dup-{MRN}", password="x" * 20)
        except IntegrityError:
            logging.getLogger("kapstone.test").exception("could not add the user")
            raise
    [line] = [entry for entry in lines(captured) if entry["message"] == "could not add the user"]
    assert "IntegrityError" in line["exc_info"] and WITHHELD in line["exc_info"]
    assert MRN not in captured.getvalue()  # PostgreSQL's message says "Key (username)=(dup-MRN-…)"


def test_a_records_extra_attributes_are_left_out_unless_allowed():
    record = logging.LogRecord("django.request", logging.WARNING, __file__, 1, "Bad: %s", ("/x/",), None)
    record.request = SimpleNamespace(__repr__=lambda: "<WSGIRequest: GET '/patients/?q=Zzyzxfield'>")
    record.username = "alice"
    record.status_code = 400
    RequestContextFilter().filter(record)
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "Bad: /x/" and line["status_code"] == 400
    assert "request" not in line and "username" not in line and line["request_id"] is None


def test_the_plain_format_shows_a_line_break_in_a_message_escaped():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "Not Found: %s", ("/a\nFAKE LINE",), None)
    RequestContextFilter().filter(record)
    text = PlainFormatter().format(record)
    assert "\n" not in text and "/a\\x0aFAKE LINE" in text and "[req=- user=-]" in text


# --- Gunicorn's access log ---------------------------------------------------------------------


def response(status="302 Found", headers=()):
    return SimpleNamespace(status=status, headers=list(headers), sent=0)


def environ(**extra):
    base = {
        "REQUEST_METHOD": "GET",
        "PATH_INFO": "/patients/",
        "QUERY_STRING": "q=Smith",
        "RAW_URI": "/patients/?q=Smith",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "REMOTE_ADDR": "203.0.113.9",
        "HTTP_REFERER": "https://kapstone.example.org/patients/?q=Smith",
        "HTTP_USER_AGENT": "Mozilla/5.0",
    }
    return {**base, **extra}


def test_the_access_record_has_the_path_without_query_status_duration_and_ids():
    fields = access_record_fields(
        response(),
        environ(**{ENVIRON_REQUEST_ID: "0123456789abcdef0123456789abcdef", ENVIRON_USER_ID: 7}),
        timedelta(milliseconds=12.34),
    )
    assert fields == {
        "method": "GET",
        "path": "/patients/",
        "status": 302,
        "duration_ms": 12.3,
        "request_id": "0123456789abcdef0123456789abcdef",
        "user_id": 7,
    }


def test_the_access_record_prefers_the_applications_redacted_path():
    env = environ(
        PATH_INFO="/portal/invitation/s3cret-token/", **{ENVIRON_LOG_PATH: f"/portal/invitation/{REDACTED}/"}
    )
    assert (
        access_record_fields(response("200 OK"), env, timedelta(0))["path"]
        == f"/portal/invitation/{REDACTED}/"
    )


@pytest.mark.parametrize("log_format", ["json", "plain"])
def test_the_access_log_line_has_no_query_string_address_referrer_or_agent(monkeypatch, log_format):
    from gunicorn.config import Config

    monkeypatch.setenv("KAPSTONE_LOG_FORMAT", log_format)
    config = Config()
    config.set("accesslog", "-")
    logger = GunicornLogger(config)
    stream = io.StringIO()
    for handler in logger.access_log.handlers:
        handler.setStream(stream)
    env = environ(**{ENVIRON_REQUEST_ID: "0123456789abcdef0123456789abcdef", ENVIRON_USER_ID: 7})
    logger.access(response(), SimpleNamespace(headers=[]), env, timedelta(milliseconds=5))
    line = stream.getvalue()
    assert "GET /patients/ 302 5.0ms" in line and "0123456789abcdef0123456789abcdef" in line
    for absent in ("Smith", "?q", "203.0.113.9", "Mozilla", "example.org"):
        assert absent not in line
    if log_format == "json":
        assert json.loads(line)["user_id"] == 7 and json.loads(line)["logger"] == "gunicorn.access"
    else:
        assert "user=7" in line


@pytest.mark.django_db
def test_the_application_leaves_ids_and_a_redacted_path_for_the_access_log(client, alice):
    signed_in = verified_client(alice)
    request = signed_in.get("/patients/?q=Smith").wsgi_request
    assert request.META[ENVIRON_USER_ID] == alice.pk
    assert request.META[ENVIRON_LOG_PATH] == "/patients/"
    invitation = client.get("/portal/invitation/s3cret-invitation-token/").wsgi_request
    assert invitation.META[ENVIRON_LOG_PATH] == f"/portal/invitation/{REDACTED}/"
    assert ENVIRON_USER_ID not in invitation.META
