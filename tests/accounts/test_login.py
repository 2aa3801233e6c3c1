"""Sign-in with password then TOTP, lockout, sign-out, session lifetime, password change."""

from __future__ import annotations

import time

import pytest
from django.contrib.sessions.models import Session
from django.test import Client, override_settings
from django.urls import reverse
from django_otp.oath import totp
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.accounts.middleware import SESSION_LOGIN_AT
from tests.conftest import PASSWORD, audit_count, verified_client

pytestmark = pytest.mark.django_db


def sign_in(client: Client, username: str, password: str = PASSWORD):
    return client.post(reverse("accounts:login"), {"username": username, "password": password})


def current_code(device: TOTPDevice) -> str:
    return f"{totp(device.bin_key, device.step, device.t0, device.digits, device.drift):06d}"


class TestPassword:
    def test_login_page_is_public(self, client):
        response = client.get(reverse("accounts:login"))
        assert response.status_code == 200
        assert b'name="username"' in response.content

    def test_right_password_leads_to_second_factor_setup_and_is_audited(self, client, nina):
        response = sign_in(client, "nina")
        assert response.status_code == 302
        assert response["Location"] == reverse("accounts:mfa_setup")
        assert audit_count(action="login", actor=nina) == 1

    def test_session_key_rotates_on_login(self, client, nina):
        client.get(reverse("accounts:login"))
        client.cookies["sessionid"] = "attacker-chosen"
        sign_in(client, "nina")
        assert client.cookies["sessionid"].value != "attacker-chosen"

    def test_wrong_password_is_refused_and_audited(self, client, nina):
        response = sign_in(client, "nina", "wrong-password-here")
        assert response.status_code == 400
        assert b"do not match an active account" in response.content
        assert b'value="nina"' in response.content  # the username is kept
        assert audit_count(action="login_failed", actor_label="nina") == 1
        assert "_auth_user_id" not in client.session

    def test_lockout_after_repeated_failures(self, client, nina, settings):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            sign_in(client, "nina", "wrong-password-here")
        response = sign_in(client, "nina")  # even the right password is refused while locked
        assert response.status_code == 429
        assert b"Too many failed sign-ins" in response.content
        assert "_auth_user_id" not in client.session
        assert audit_count(action="login_failed", actor_label="nina", outcome="denied") >= 1

    def test_inactive_user_cannot_sign_in(self, client, nina):
        nina.is_active = False
        nina.save()
        response = sign_in(client, "nina")
        assert response.status_code == 400

    def test_open_redirect_is_refused(self, client, nina):
        with override_settings(MFA_REQUIRED=False):
            response = client.post(
                reverse("accounts:login") + "?next=https://evil.example/",
                {"username": "nina", "password": PASSWORD, "next": "https://evil.example/"},
            )
        assert response.status_code == 302
        assert "evil.example" not in response["Location"]


class TestSecondFactor:
    def test_password_alone_does_not_reach_patients(self, client, nina):
        sign_in(client, "nina")
        response = client.get(reverse("patients:list"))
        assert response.status_code == 302
        assert response["Location"] == reverse("accounts:mfa_setup")

    def test_setup_with_a_valid_code_confirms_the_device(self, client, nina):
        sign_in(client, "nina")
        page = client.get(reverse("accounts:mfa_setup"))
        assert page.status_code == 200
        assert b"data:image/svg+xml;base64," in page.content
        device = TOTPDevice.objects.get(user=nina)
        assert not device.confirmed
        response = client.post(reverse("accounts:mfa_setup"), {"token": current_code(device)})
        assert response.status_code == 302
        device.refresh_from_db()
        assert device.confirmed
        assert client.get(reverse("patients:list")).status_code == 200

    def test_setup_refuses_a_wrong_code(self, client, nina):
        sign_in(client, "nina")
        client.get(reverse("accounts:mfa_setup"))
        device = TOTPDevice.objects.get(user=nina)
        wrong = f"{(int(current_code(device)) + 1) % 1_000_000:06d}"
        response = client.post(reverse("accounts:mfa_setup"), {"token": wrong})
        assert response.status_code == 400
        assert b"did not match" in response.content
        device.refresh_from_db()
        assert not device.confirmed

    def test_verify_with_confirmed_device(self, client, nina):
        device = TOTPDevice.objects.create(user=nina, name="phone", confirmed=True)
        response = sign_in(client, "nina")
        assert response["Location"] == reverse("accounts:mfa_verify")
        bad = client.post(reverse("accounts:mfa_verify"), {"token": "12345"})
        assert bad.status_code == 400
        good = client.post(reverse("accounts:mfa_verify"), {"token": current_code(device)})
        assert good.status_code == 302
        assert client.get(reverse("patients:list")).status_code == 200

    def test_a_code_cannot_be_used_twice(self, client, nina):
        device = TOTPDevice.objects.create(user=nina, name="phone", confirmed=True)
        code = current_code(device)
        sign_in(client, "nina")
        assert client.post(reverse("accounts:mfa_verify"), {"token": code}).status_code == 302
        other = Client()
        sign_in(other, "nina")
        assert other.post(reverse("accounts:mfa_verify"), {"token": code}).status_code == 400


class TestSession:
    def test_logout_requires_post_and_ends_the_session(self, nina):
        client = verified_client(nina)
        assert client.get(reverse("accounts:logout")).status_code == 405
        response = client.post(reverse("accounts:logout"))
        assert response.status_code == 302
        assert audit_count(action="logout", actor=nina) == 1
        assert client.get(reverse("patients:list")).status_code == 302

    def test_idle_timeout_is_fifteen_minutes(self, settings):
        assert settings.SESSION_COOKIE_AGE == 15 * 60
        assert settings.SESSION_SAVE_EVERY_REQUEST is True

    def test_expired_session_is_refused_server_side(self, nina):
        client = verified_client(nina)
        Session.objects.update(expire_date="2000-01-01T00:00:00Z")
        response = client.get(reverse("patients:list"))
        assert response.status_code == 302
        assert reverse("accounts:login") in response["Location"]

    def test_absolute_lifetime_ends_the_session(self, nina, settings):
        client = verified_client(nina)
        session = client.session
        session[SESSION_LOGIN_AT] = time.time() - settings.SESSION_ABSOLUTE_TIMEOUT_S - 1
        session.save()
        response = client.get(reverse("patients:list"))
        assert response.status_code == 302
        assert reverse("accounts:login") in response["Location"]

    def test_password_change(self, nina):
        client = verified_client(nina)
        response = client.post(
            reverse("accounts:password_change"),
            {
                "old_password": PASSWORD,
                "new_password1": "a-much-longer-new-passphrase",
                "new_password2": "a-much-longer-new-passphrase",
            },
        )
        assert response.status_code == 302
        nina.refresh_from_db()
        assert nina.check_password("a-much-longer-new-passphrase")
        assert audit_count(action="update", object_type="user", actor=nina) == 1

    def test_password_change_refuses_short_password(self, nina):
        client = verified_client(nina)
        response = client.post(
            reverse("accounts:password_change"),
            {"old_password": PASSWORD, "new_password1": "short1", "new_password2": "short1"},
        )
        assert response.status_code == 400
        assert b"too short" in response.content
        nina.refresh_from_db()
        assert nina.check_password(PASSWORD)

    def test_passwords_are_hashed_with_argon2_in_production(self):
        # The test run swaps in a fast hasher (tests/conftest.py); the product's setting is Argon2 first.
        from django.contrib.auth.hashers import make_password

        from kapstone import settings as production

        assert production.PASSWORD_HASHERS[0] == "django.contrib.auth.hashers.Argon2PasswordHasher"
        with self._argon2():
            assert make_password("a-long-enough-passphrase").startswith("argon2$argon2id$")

    @staticmethod
    def _argon2():
        from django.test import override_settings

        return override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.Argon2PasswordHasher"])
