"""``kapstone hl7 account --clinic SLUG --username NAME``: the clinic's monitor-feed account, with
the monitor role in that clinic only, no usable password, audited; refusals exit 2 with one line
and write nothing."""

from __future__ import annotations

import pytest

from kapstone.accounts.access import VITALS_SOURCES, has_role
from kapstone.accounts.models import Membership, Role, User
from kapstone.accounts.services import api_token_authenticate
from kapstone.audit.models import AuditEvent
from kapstone.interop.hl7.accounts import CLI_LABEL
from kapstone.interop.hl7.receive import clinic_feed_actor
from tests.cli.runner import run_kapstone_in_transaction

pytestmark = pytest.mark.django_db


def written():
    return User.objects.count(), Membership.objects.count(), AuditEvent.objects.count()


def test_creates_a_monitor_account_of_the_clinic_alone_and_audits_it(clinic_a, clinic_b):
    before = AuditEvent.objects.count()
    result = run_kapstone_in_transaction("hl7", "account", "--clinic", "a", "--username", "monitor.north")
    assert result.returncode == 0, result.stderr
    assert "kapstone token create monitor.north" in result.stdout
    user = User.objects.get(username="monitor.north")
    assert not user.has_usable_password()
    assert list(Membership.objects.filter(user=user).values_list("clinic__slug", "role", "is_active")) == [
        ("a", Role.MONITOR, True)
    ]
    assert has_role(user, VITALS_SOURCES, clinic_a.pk)
    assert not has_role(user, VITALS_SOURCES, clinic_b.pk)
    # The listener finds it as the clinic's feed account.
    assert clinic_feed_actor("a") == (clinic_a, user)
    rows = list(AuditEvent.objects.filter(pk__gt=0).order_by("pk"))[before:]
    assert [(r.action, r.object_type, r.actor_label, r.clinic_id) for r in rows] == [
        ("create", "user", CLI_LABEL, clinic_a.pk),
        ("create", "membership", CLI_LABEL, clinic_a.pk),
    ]
    assert rows[0].object_id == str(user.pk) and rows[0].detail["role"] == Role.MONITOR


def test_the_printed_token_command_gives_it_a_working_token(clinic_a):
    assert (
        run_kapstone_in_transaction("hl7", "account", "--clinic", "a", "--username", "feed").returncode == 0
    )
    token = run_kapstone_in_transaction("token", "create", "feed")
    assert token.returncode == 0, token.stderr
    assert api_token_authenticate(token=token.stdout.strip()) == User.objects.get(username="feed")


@pytest.mark.parametrize(
    ("clinic", "username", "code"),
    [
        ("nowhere", "feed", "unknown_clinic"),
        ("a", "nina", "username_taken"),
        ("a", "NINA", "username_taken"),
        ("a", "bad name!", "invalid_username"),
        ("a", "x" * 151, "invalid_username"),
        ("a", "", "invalid_username"),
    ],
)
def test_refusals_exit_2_with_one_line_and_write_nothing(clinic_a, nina, clinic, username, code):
    before = written()
    result = run_kapstone_in_transaction("hl7", "account", "--clinic", clinic, "--username", username)
    assert result.returncode == 2
    assert result.stderr.strip().startswith(code)
    assert len(result.stderr.strip().splitlines()) == 1
    assert written() == before


def test_an_existing_user_of_another_clinic_is_not_given_the_role(clinic_a, clinic_b, nina):
    result = run_kapstone_in_transaction("hl7", "account", "--clinic", "b", "--username", "nina")
    assert result.returncode == 2
    assert not Membership.objects.filter(user=nina, clinic=clinic_b).exists()


def test_both_options_are_required(clinic_a):
    # Through call_command an argument error is exit 1 (the console script's argparse exits 2).
    before = written()
    for args, missing in ((("--clinic", "a"), "--username"), (("--username", "feed"), "--clinic")):
        result = run_kapstone_in_transaction("hl7", "account", *args)
        assert result.returncode != 0
        assert f"required: {missing}" in result.stderr
    assert written() == before
