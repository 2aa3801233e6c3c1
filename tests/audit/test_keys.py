"""The audit key: from configuration, never in the database; generated for development; required
in production (deploy check, and no audit event without it)."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from kapstone import env
from kapstone.audit.checks import audit_key_configured
from kapstone.audit.keys import AuditKeyMissing, audit_key_current, audit_key_from_text
from kapstone.audit.models import AuditEvent
from kapstone.audit.services import audit_record
from tests.audit.kit import run_audit

ROOT = Path(__file__).resolve().parents[2]
KEY = "a-test-audit-key-" + "k" * 32


@pytest.fixture
def rows_written(db):
    """Audit rows, written while a key was configured."""
    audit_record(actor=None, action="read", object_type="x", object_id=1)


@pytest.fixture
def production_without_a_key(settings):
    settings.DEV = False
    settings.AUDIT_KEY = None


class TestDevelopmentKey:
    def test_is_generated_on_first_use_private_and_kept(self, settings, tmp_path):
        settings.AUDIT_KEY = None
        settings.AUDIT_DEV_KEY_FILE = tmp_path / "var" / "audit-dev.key"
        first = audit_key_current()
        mode = stat.S_IMODE(settings.AUDIT_DEV_KEY_FILE.stat().st_mode)
        assert mode == 0o600
        assert len(settings.AUDIT_DEV_KEY_FILE.read_text().strip()) == 64
        assert audit_key_current() == first
        assert [path.name for path in settings.AUDIT_DEV_KEY_FILE.parent.iterdir()] == ["audit-dev.key"]

    def test_a_configured_key_wins(self, settings, tmp_path):
        settings.AUDIT_KEY = KEY
        settings.AUDIT_DEV_KEY_FILE = tmp_path / "audit-dev.key"
        assert audit_key_current() == audit_key_from_text(KEY)
        assert not settings.AUDIT_DEV_KEY_FILE.exists()


@pytest.mark.django_db
def test_rows_name_their_key_by_an_id_and_never_hold_the_key(settings):
    settings.AUDIT_KEY = KEY
    event = audit_record(actor=None, action="read", object_type="x", object_id=1)
    key_id = audit_key_from_text(KEY).key_id
    assert event.key_id == key_id and len(key_id) == 16
    row = AuditEvent.objects.filter(pk=event.pk).values().get()
    assert not any(KEY in str(value) for value in row.values())


@pytest.mark.django_db
class TestProductionWithoutAKey:
    def test_verify_refuses_naming_the_variable(self, rows_written, production_without_a_key):
        code, out, err = run_audit("verify")
        assert code == 2
        assert out == ""
        assert err.strip() == (
            "No audit key: set KAPSTONE_AUDIT_KEY or KAPSTONE_AUDIT_KEY_FILE "
            "(at least 32 random characters, e.g. `openssl rand -hex 32`)."
        )

    def test_verify_json_refuses_in_the_error_shape(self, production_without_a_key):
        code, out, _err = run_audit("verify", "--json")
        assert code == 2
        answer = json.loads(out)
        assert answer["error"]["code"] == "audit_key_missing"
        assert "KAPSTONE_AUDIT_KEY" in answer["error"]["message"]

    @pytest.mark.parametrize("subcommand", ["checkpoint", "rotate"])
    def test_the_other_commands_refuse_too(self, production_without_a_key, settings, subcommand):
        code, _out, err = run_audit(subcommand)
        assert code == 2 and "KAPSTONE_AUDIT_KEY" in err
        assert not settings.AUDIT_CHECKPOINT_FILE.exists()

    def test_no_audit_event_is_written(self, production_without_a_key):
        before = AuditEvent.objects.count()
        with pytest.raises(AuditKeyMissing, match="KAPSTONE_AUDIT_KEY"):
            audit_record(actor=None, action="read", object_type="x", object_id=1)
        assert AuditEvent.objects.count() == before


class TestDeployCheck:
    def test_production_without_a_key_is_an_error(self, production_without_a_key):
        (error,) = audit_key_configured(None)
        assert error.id == "kapstone.E001"
        assert "KAPSTONE_AUDIT_KEY" in error.msg

    def test_a_key_or_development_passes(self, settings):
        settings.DEV, settings.AUDIT_KEY = False, KEY
        assert audit_key_configured(None) == []
        settings.DEV, settings.AUDIT_KEY = True, None
        assert audit_key_configured(None) == []

    @pytest.mark.cli
    def test_check_deploy_fails_without_a_key_and_passes_with_one_from_a_file(self, tmp_path):
        """The deploy-check stage of `make test`, with and without KAPSTONE_AUDIT_KEY_FILE."""
        environment = {
            "PATH": os.environ["PATH"],
            "PYTHONPATH": str(ROOT),
            "KAPSTONE_SECRET_KEY": "s" * 60 + "-deploy-check-only",
            "KAPSTONE_ALLOWED_HOSTS": "kapstone.example.org",
            "KAPSTONE_DATABASE_URL": f"sqlite:///{tmp_path}/deploy-check.sqlite3",
        }
        command = [sys.executable, "-m", "kapstone", "check", "--deploy", "--fail-level", "WARNING"]
        without = subprocess.run(
            command, env=environment, capture_output=True, text=True, check=False, cwd=ROOT
        )
        assert without.returncode != 0
        assert "kapstone.E001" in without.stderr and "KAPSTONE_AUDIT_KEY" in without.stderr
        key_file = tmp_path / "audit.key"
        key_file.write_text(KEY + "\n")
        with_key = subprocess.run(
            command,
            env={**environment, "KAPSTONE_AUDIT_KEY_FILE": str(key_file)},
            capture_output=True,
            text=True,
            check=False,
            cwd=ROOT,
        )
        assert with_key.returncode == 0, with_key.stderr


class TestKeyParsing:
    def test_keys_one_a_line_or_space_separated_with_comments(self):
        raw = "# retired 2026-01\n" + "a" * 32 + "\n\n" + "b" * 40 + " " + "c" * 32 + "\n"
        assert env.parse_keys("AUDIT_OLD_KEYS", raw, min_length=32) == ["a" * 32, "b" * 40, "c" * 32]
        assert env.parse_keys("AUDIT_OLD_KEYS", None, min_length=32) == []

    def test_a_short_key_is_refused_without_showing_it(self):
        with pytest.raises(ImproperlyConfigured) as refused:
            env.parse_keys("AUDIT_KEY", "short-secret-value", min_length=32)
        message = str(refused.value)
        assert "KAPSTONE_AUDIT_KEY" in message and "at least 32" in message
        assert "short-secret-value" not in message

    @pytest.mark.parametrize(
        ("raw", "expected"),
        [(None, None), ("", None), ("/dev/log", "/dev/log"), ("logs.internal:514", ("logs.internal", 514))],
    )
    def test_syslog_addresses(self, raw, expected):
        assert env.parse_syslog_address("AUDIT_CHECKPOINT_SYSLOG", raw) == expected

    @pytest.mark.parametrize("raw", ["logs.internal", "logs.internal:syslog", ":514", "host:70000"])
    def test_malformed_syslog_addresses_are_refused(self, raw):
        with pytest.raises(ImproperlyConfigured, match="KAPSTONE_AUDIT_CHECKPOINT_SYSLOG"):
            env.parse_syslog_address("AUDIT_CHECKPOINT_SYSLOG", raw)

    def test_a_relative_checkpoint_path_is_under_the_project(self):
        assert env.parse_path("var/x.log", Path("/d"), base_dir=Path("/srv/k")) == Path("/srv/k/var/x.log")
        assert env.parse_path(None, Path("/d/y.log"), base_dir=Path("/srv/k")) == Path("/d/y.log")
