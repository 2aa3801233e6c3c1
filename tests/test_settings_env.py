"""Strict environment parsing: a typo stops the server instead of weakening it."""

from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from kapstone import env


@pytest.fixture
def setenv(monkeypatch):
    def _set(name, value):
        monkeypatch.setenv("KAPSTONE_" + name, value)

    return _set


@pytest.mark.parametrize("value", ["yes", "on", "2", "TRUEE"])
def test_bool_refuses_anything_but_1_0_true_false(setenv, value):
    setenv("FLAG", value)
    with pytest.raises(ImproperlyConfigured, match="KAPSTONE_FLAG"):
        env.env_bool("FLAG", default=False)


@pytest.mark.parametrize(
    ("value", "expected"), [("1", True), ("0", False), ("True", True), ("false", False), ("", True)]
)
def test_bool_accepts(setenv, value, expected):
    setenv("FLAG", value)
    assert env.env_bool("FLAG", default=True) is expected


def test_int_range(setenv):
    setenv("N", "99")
    with pytest.raises(ImproperlyConfigured, match="between 1 and 60"):
        env.env_int("N", 15, minimum=1, maximum=60)
    setenv("N", "ten")
    with pytest.raises(ImproperlyConfigured, match="whole number"):
        env.env_int("N", 15, minimum=1, maximum=60)


def test_list_refuses_empty_items(setenv):
    setenv("HOSTS", "a.example,,b.example")
    with pytest.raises(ImproperlyConfigured):
        env.env_list("HOSTS", [])


def test_secret_file_wins(setenv, tmp_path):
    secret = tmp_path / "secret"
    secret.write_text("from-file\n")
    setenv("SECRET_KEY", "from-env")
    setenv("SECRET_KEY_FILE", str(secret))
    assert env.env_secret("SECRET_KEY") == "from-file"


def test_unreadable_secret_file_fails_loudly(setenv, tmp_path):
    setenv("SECRET_KEY_FILE", str(tmp_path / "missing"))
    with pytest.raises(ImproperlyConfigured, match="cannot read"):
        env.env_secret("SECRET_KEY")


def test_sqlite_url_relative_and_wal():
    parsed = env.parse_database_url("sqlite:///var/x.sqlite3", base_dir=Path("/srv/kapstone"))
    assert parsed.settings["NAME"] == "/srv/kapstone/var/x.sqlite3"
    assert "journal_mode=WAL" in parsed.settings["OPTIONS"]["init_command"]
    assert parsed.settings["OPTIONS"]["transaction_mode"] == "IMMEDIATE"


def test_postgres_url():
    parsed = env.parse_database_url(
        "postgres://kap:s%40cret@db.example:6543/kapstone?sslmode=verify-full", base_dir=Path("/")
    )
    s = parsed.settings
    assert (s["USER"], s["PASSWORD"], s["HOST"], s["PORT"], s["NAME"]) == (
        "kap",
        "s@cret",
        "db.example",
        "6543",
        "kapstone",
    )
    assert s["OPTIONS"] == {"sslmode": "verify-full", "connect_timeout": "5"}
    assert s["CONN_HEALTH_CHECKS"] is True


@pytest.mark.parametrize("url", ["mysql://x/y", "postgres://host/", "sqlite://", "nonsense"])
def test_bad_database_urls(url):
    with pytest.raises(ImproperlyConfigured):
        env.parse_database_url(url, base_dir=Path("/"))


def test_secret_key_is_required_outside_dev(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import kapstone.settings"],
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode != 0
    assert "KAPSTONE_SECRET_KEY" in result.stderr
