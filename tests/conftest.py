"""Shared fixtures: two clinics and healthchecks-style actors.

alice   prescriber, clinic A          bob     researcher, clinic A (no access to records)
nina    nurse, clinic A               adam    admin, clinic A
terry   therapist, clinic A           carol   prescriber, clinic B (a stranger to A)
"""

from __future__ import annotations

import hashlib
from datetime import date

import pytest
from django.test import Client
from django_otp import DEVICE_ID_SESSION_KEY
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.accounts.models import Clinic, Role, User
from kapstone.accounts.services import membership_set
from kapstone.audit import disclosure_triggers, triggers
from kapstone.audit.models import AuditEvent
from kapstone.patients.services import patient_create
from tests.factories import TEST_PASSWORD, ClinicFactory, UserFactory

PASSWORD = TEST_PASSWORD


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Argon2 is deliberately slow (about 0.1 s and 100 MB a hash); thousands of test users would
    spend minutes on it. Tests hash with MD5; test_passwords_are_hashed_with_argon2 checks the
    production setting itself."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(scope="session")
def _audit_checkpoint_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("audit-checkpoints")


@pytest.fixture(autouse=True)
def _audit_checkpoints_of_this_test_only(settings, _audit_checkpoint_dir, request):
    """Each test writes audit checkpoints (kapstone/audit/checkpoints.py) to a file of its own.
    Every test starts with an empty audit table, so another test's checkpoints (or a developer's
    under var/) would make ``audit verify`` report events missing."""
    name = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:24]
    settings.AUDIT_CHECKPOINT_FILE = _audit_checkpoint_dir / f"{name}.log"


@pytest.fixture(autouse=True, scope="session")
def _sqlite_flush_keeps_audit_triggers():
    """Transactional tests (live server, races) empty the database between tests with
    ``DELETE FROM``, which the append-only trigger refuses on SQLite. Wrap the test-only flush in
    drop/recreate of the triggers. Production never flushes; PostgreSQL flushes with TRUNCATE."""
    from django.db.backends.sqlite3.base import DatabaseOperations as SqliteOperations

    original = SqliteOperations.sql_flush

    def sql_flush(self, style, tables, *, reset_sequences=False, allow_cascade=False):
        statements = original(
            self, style, tables, reset_sequences=reset_sequences, allow_cascade=allow_cascade
        )
        if triggers.TABLE not in tables:
            return statements
        return [
            *triggers.SQLITE_DROP,
            *disclosure_triggers.statements("sqlite", create=False),
            *statements,
            *(s.replace("IF NOT EXISTS ", "") for s in triggers.SQLITE_CREATE),
            *disclosure_triggers.statements("sqlite", create=True),
        ]

    SqliteOperations.sql_flush = sql_flush
    yield
    SqliteOperations.sql_flush = original


@pytest.fixture
def clinic_a(db) -> Clinic:
    return ClinicFactory(name="Clinic A", slug="a", timezone="America/New_York")


@pytest.fixture
def clinic_b(db) -> Clinic:
    return ClinicFactory(name="Clinic B", slug="b", timezone="America/Chicago")


def make_user(username: str, clinic: Clinic | None, role: str | None) -> User:
    user = UserFactory(username=username)
    if clinic is not None and role is not None:
        membership_set(actor=None, user=user, clinic=clinic, role=role)
    return user


@pytest.fixture
def alice(clinic_a) -> User:
    return make_user("alice", clinic_a, Role.PRESCRIBER)


@pytest.fixture
def bob(clinic_a) -> User:
    return make_user("bob", clinic_a, Role.RESEARCHER)


@pytest.fixture
def nina(clinic_a) -> User:
    return make_user("nina", clinic_a, Role.NURSE)


@pytest.fixture
def adam(clinic_a) -> User:
    return make_user("adam", clinic_a, Role.ADMIN)


@pytest.fixture
def terry(clinic_a) -> User:
    return make_user("terry", clinic_a, Role.THERAPIST)


@pytest.fixture
def carol(clinic_b) -> User:
    return make_user("carol", clinic_b, Role.PRESCRIBER)


def verified_client(user: User) -> Client:
    """A client signed in as ``user`` with the second factor already verified."""
    client = Client()
    client.force_login(user)
    device, _ = TOTPDevice.objects.get_or_create(user=user, name="test", defaults={"confirmed": True})
    session = client.session
    session[DEVICE_ID_SESSION_KEY] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def as_user():
    return verified_client


def new_patient(actor: User, clinic: Clinic, mrn: str = "A-1", **overrides) -> object:
    fields = {
        "mrn": mrn,
        "given_name": "Avery",
        "family_name": "Zzyzxfield",
        "birth_date": date(1980, 5, 17),
        "sex_at_birth": "female",
        "weight_kg": "72.5",
        "height_cm": "168",
    }
    fields.update(overrides)
    return patient_create(actor=actor, clinic_id=clinic.pk, **fields)


#: A normal liver panel: (test, value, unit, upper limit of normal).
NORMAL_LIVER_PANEL = (
    ("alt", "25", "U/L", "40"),
    ("ast", "22", "U/L", "40"),
    ("bilirubin", "0.6", "mg/dL", "1.2"),
)


def record_liver_panel(actor: User, patient, taken_on=None, **values) -> list:
    """ALT, AST and total bilirubin taken on ``taken_on`` (default the clinic's today), normal
    unless a test's value is given by name (``alt="130"``): what a dose order needs."""
    from kapstone.patients.services import clinic_today, liver_test_record

    day = taken_on or clinic_today(patient.clinic)
    return [
        liver_test_record(
            actor=actor,
            patient=patient,
            test=test,
            value=values.get(test, value),
            unit=unit,
            upper_limit=limit,
            taken_on=day,
        )
        for test, value, unit, limit in NORMAL_LIVER_PANEL
    ]


@pytest.fixture
def patient_a(alice, clinic_a):
    return new_patient(alice, clinic_a, mrn="A-1001", given_name="Avery", family_name="Zzyzxfield")


@pytest.fixture
def patient_b(carol, clinic_b):
    return new_patient(carol, clinic_b, mrn="B-2001", given_name="Quentin", family_name="Qorvanhollow")


def audit_count(**filters) -> int:
    return AuditEvent.objects.filter(**filters).count()


def without_csrf(body: bytes) -> bytes:
    """A page body with its per-request CSRF tokens blanked, for comparing two responses."""
    import re

    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]+"', b'name="csrfmiddlewaretoken" value=""', body)
