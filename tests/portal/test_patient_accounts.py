"""Patient accounts: invitations from the chart, accepting, disabling, and who may go where."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.test import Client
from django.utils import timezone

from kapstone.accounts.models import ApiToken, User
from kapstone.accounts.services import api_token_create
from kapstone.audit.models import AuditEvent
from kapstone.domain.errors import DomainError
from kapstone.portal.models import PatientAccount, PortalInvitation
from kapstone.portal.patient_services import (
    account_status,
    invitation_accept,
    portal_account_disable,
    portal_invite,
)
from tests.api.test_patients_api import Api

pytestmark = pytest.mark.django_db

LINK = "http://testserver/portal/invitation/"
GOOD_PASSWORD = "a long enough passphrase 7"


def invite(actor, patient, email="avery@example.org"):
    return portal_invite(actor=actor, patient=patient, email=email, link_base=LINK)


def test_an_invitation_is_e_mailed_single_use_and_opens_the_account(
    nina, patient_a, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, token = invite(nina, patient_a)
    (message,) = mail.outbox
    assert message.to == ["avery@example.org"] and LINK + token + "/" in message.body
    assert "Zzyzxfield" not in message.body  # no record details in the e-mail
    account = invitation.account
    assert account_status(account) == "pending" and not account.user.is_active
    assert account.user.is_patient and not account.user.memberships.exists()
    assert PortalInvitation.objects.get().token_hash != token  # only the hash is kept
    accepted = invitation_accept(token=token, password=GOOD_PASSWORD, password_again=GOOD_PASSWORD)
    assert account_status(accepted) == "accepted"
    user = User.objects.get(pk=account.user_id)
    assert user.is_active and user.check_password(GOOD_PASSWORD)
    assert user.password.startswith("md5$") or user.password.startswith("argon2")
    event = AuditEvent.objects.get(object_type="portal_account", detail__accepted=True)
    assert event.actor_id == user.pk and event.patient_id == patient_a.pk
    with pytest.raises(DomainError) as caught:
        invitation_accept(token=token, password=GOOD_PASSWORD, password_again=GOOD_PASSWORD)
    assert caught.value.code == "invitation_invalid"


def test_an_expired_or_replaced_link_does_not_work(nina, patient_a):
    _, first = invite(nina, patient_a)
    _, second = invite(nina, patient_a)  # re-sent: the first link stops working
    with pytest.raises(DomainError) as caught:
        invitation_accept(token=first, password=GOOD_PASSWORD, password_again=GOOD_PASSWORD)
    assert caught.value.code == "invitation_invalid"
    PortalInvitation.objects.filter(used_at__isnull=True, superseded_at__isnull=True).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    with pytest.raises(DomainError) as caught:
        invitation_accept(token=second, password=GOOD_PASSWORD, password_again=GOOD_PASSWORD)
    assert caught.value.code == "invitation_expired"
    assert account_status(PatientAccount.objects.get()) == "expired"
    assert not User.objects.get(is_patient=True).is_active


@pytest.mark.parametrize(
    ("password", "again", "code"),
    [
        ("short", "short", "password_invalid"),
        (GOOD_PASSWORD, GOOD_PASSWORD + "x", "password_mismatch"),
        ("123456789012345", "123456789012345", "password_invalid"),
    ],
)
def test_a_weak_or_mismatched_password_is_refused_and_the_link_still_works(
    nina, patient_a, password, again, code
):
    _, token = invite(nina, patient_a)
    with pytest.raises(DomainError) as caught:
        invitation_accept(token=token, password=password, password_again=again)
    assert caught.value.code == code
    assert PortalInvitation.objects.get().used_at is None
    invitation_accept(token=token, password=GOOD_PASSWORD, password_again=GOOD_PASSWORD)


def test_invitation_refusals(nina, carol, patient_a, patient_b, adam):
    with pytest.raises(DomainError) as caught:
        invite(nina, patient_a, email="not an address")
    assert caught.value.code == "invalid_email"
    with pytest.raises(DomainError) as caught:
        invite(nina, patient_a, email=adam.username)
    assert caught.value.code in ("invalid_email", "email_in_use")
    User.objects.filter(pk=adam.pk).update(username="adam@example.org")
    with pytest.raises(DomainError) as caught:
        invite(nina, patient_a, email="ADAM@example.org")
    assert caught.value.code == "email_in_use"
    from django.http import Http404

    with pytest.raises(Http404):
        invite(carol, patient_a)
    assert PatientAccount.objects.count() == 0 and PortalInvitation.objects.count() == 0


def test_disabling_closes_sign_in_and_tokens(nina, patient_a):
    _, token = invite(nina, patient_a)
    account = invitation_accept(token=token, password=GOOD_PASSWORD, password_again=GOOD_PASSWORD)
    api_token_create(actor=None, user=account.user)
    with pytest.raises(DomainError) as caught:
        portal_account_disable(actor=nina, account=account, reason=" ")
    assert caught.value.code == "reason_required"
    portal_account_disable(actor=nina, account=account, reason="Left the programme")
    assert account_status(PatientAccount.objects.get()) == "disabled"
    assert not User.objects.get(pk=account.user_id).is_active
    assert ApiToken.objects.filter(user_id=account.user_id, revoked_at__isnull=True).count() == 0
    assert (
        AuditEvent.objects.filter(object_type="portal_account", detail__disabled=True, actor=nina).count()
        == 1
    )


# --- Pages --------------------------------------------------------------------------------------------


@pytest.fixture
def pat(nina, patient_a):
    """A patient of clinic A with an active portal account."""
    _, token = invite(nina, patient_a, email="pat@example.org")
    return invitation_accept(token=token, password=GOOD_PASSWORD, password_again=GOOD_PASSWORD).user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_the_invitation_page_sets_the_password_and_signs_in(nina, patient_a):
    _, token = invite(nina, patient_a)
    client = Client()
    page = client.get(f"/portal/invitation/{token}/")
    assert page.status_code == 200 and "avery@example.org" in page.content.decode()
    refused = client.post(f"/portal/invitation/{token}/", {"password": "short", "password_again": "short"})
    assert refused.status_code == 400 and "too short" in refused.content.decode()
    done = client.post(
        f"/portal/invitation/{token}/", {"password": GOOD_PASSWORD, "password_again": GOOD_PASSWORD}
    )
    assert done.status_code == 302 and done["Location"] == "/portal/"
    assert client.get("/portal/").status_code == 200
    again = Client().get(f"/portal/invitation/{token}/")
    assert again.status_code == 410 and "does not work" in again.content.decode()


def test_a_patient_signs_in_without_a_second_factor_and_lands_in_the_portal(pat, settings):
    settings.MFA_REQUIRED = True
    client = Client()
    response = client.post("/accounts/login/", {"username": "pat@example.org", "password": GOOD_PASSWORD})
    assert response.status_code == 302
    home = client.get("/", follow=True)
    assert home.redirect_chain[-1][0] == "/portal/" and home.status_code == 200
    assert client.session.get_expiry_age() == settings.PORTAL_SESSION_IDLE_S


def test_staff_pages_refuse_a_patient_and_the_portal_refuses_staff(pat, nina, patient_a, as_user):
    patient_client = signed_in(pat)
    for url in ("/patients/", f"/patients/{patient_a.pk}/", "/referrals/", "/monitoring/", "/audit/"):
        response = patient_client.get(url)
        assert response.status_code == 403, url
        assert b"A-1001" not in response.content  # no record shown (the page header names the user)
    assert as_user(nina).get("/portal/").status_code == 403
    token = api_token_create(actor=None, user=pat)[1]
    assert Api(token=token).get("/patients").status_code == 403


def test_the_chart_shows_the_account_and_lets_staff_invite_and_disable(nina, patient_a, as_user, bob):
    client = as_user(nina)
    chart = client.get(f"/patients/{patient_a.pk}/").content.decode()
    assert "No portal account" in chart and "Invite to the portal" in chart
    response = client.post(f"/patients/{patient_a.pk}/portal/invite/", {"email": "avery@example.org"})
    assert response.status_code == 302
    chart = client.get(f"/patients/{patient_a.pk}/").content.decode()
    assert "Invitation sent, not yet accepted" in chart and "Send a new invitation" in chart
    bad = client.post(f"/patients/{patient_a.pk}/portal/invite/", {"email": "nope"}, follow=True)
    assert "does not look right" in bad.content.decode() and PortalInvitation.objects.count() == 1
    assert (
        as_user(bob).post(f"/patients/{patient_a.pk}/portal/invite/", {"email": "x@example.org"}).status_code
        == 403
    )
    client.post(f"/patients/{patient_a.pk}/portal/disable/", {"reason": "Asked not to use it"})
    chart = client.get(f"/patients/{patient_a.pk}/").content.decode()
    assert "Disabled" in chart and "Asked not to use it" in chart


def test_another_clinic_cannot_invite(carol, patient_a, as_user):
    response = as_user(carol).post(f"/patients/{patient_a.pk}/portal/invite/", {"email": "x@example.org"})
    assert response.status_code == 404 and b"Zzyzxfield" not in response.content
    assert PatientAccount.objects.count() == 0


def test_the_invitation_link_of_an_unknown_token(db):
    response = Client().get("/portal/invitation/" + re.sub(r"\W", "", "nope" * 10) + "/")
    assert response.status_code == 410
