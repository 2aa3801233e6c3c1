"""``kapstone referrals purge`` and ``kapstone referrals notify``."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.core import mail
from django.utils import timezone

from kapstone.audit.models import AuditEvent
from kapstone.portal.models import Referral
from kapstone.portal.services import referral_submit
from tests.cli.runner import run_kapstone_in_transaction as run_kapstone
from tests.portal.conftest import CONTACT, answers

pytestmark = pytest.mark.django_db


def referral(clinic, *, days_ago: int):
    return referral_submit(
        clinic_id=clinic.pk, answers=answers(region="NY"), contact=CONTACT, consent_to_contact=True,
        address=f"192.0.2.{days_ago}", now=timezone.now() - timedelta(days=days_ago),
    )  # fmt: skip


def test_purge_dry_run_then_real_then_again(profiles, clinic_a):
    old = referral(clinic_a, days_ago=200)
    referral(clinic_a, days_ago=10)
    dry = run_kapstone("referrals", "purge", "--dry-run", "--json")
    assert dry.returncode == 0 and json.loads(dry.stdout)["anonymised"] == 1
    assert Referral.objects.get(pk=old.pk).anonymised_at is None
    real = run_kapstone("referrals", "purge", "--json")
    payload = json.loads(real.stdout)
    assert (payload["dry_run"], payload["anonymised"]) == (False, 1)
    assert Referral.objects.get(pk=old.pk).contact_name == ""
    assert AuditEvent.objects.filter(actor_label="referrals_purge", action="void").count() == 1
    again = run_kapstone("referrals", "purge")
    assert again.stdout.startswith("anonymised 0 referral(s)")


def test_notify_counts_without_names(profiles, clinic_a, nina):
    nina.email = "nina@example.org"
    nina.save(update_fields=["email"])
    referral(clinic_a, days_ago=1)  # its own notification did not run (no commit in this test)
    mail.outbox.clear()
    result = run_kapstone("referrals", "notify", "--json", "--base-url", "https://kapstone.example.org")
    assert json.loads(result.stdout) == {"clinics": {clinic_a.slug: 1}}
    assert json.loads(run_kapstone("referrals", "notify", "--json").stdout) == {"clinics": {}}


def test_an_unknown_action_exits_2():
    result = run_kapstone("referrals", "erase-everything", "--json")
    assert result.returncode == 2 and json.loads(result.stdout)["error"]["code"] == "invalid_arguments"
