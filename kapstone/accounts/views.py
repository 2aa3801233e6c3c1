"""Sign-in (password, then TOTP), second-factor set-up, sign-out and password change."""

from __future__ import annotations

import base64
import time
from urllib.parse import urlencode

import segno
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import authenticate, login, logout, update_session_auth_hash
from django.contrib.auth.forms import PasswordChangeForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST
from django_otp import devices_for_user
from django_otp import login as otp_login
from django_otp.plugins.otp_totp.models import TOTPDevice

from kapstone.accounts import services
from kapstone.accounts.access import is_device_account, public, require_login
from kapstone.accounts.forms import LoginForm, TokenForm
from kapstone.accounts.middleware import SESSION_LOGIN_AT


def _next_url(request: HttpRequest) -> str:
    candidate = request.POST.get("next") or request.GET.get("next") or ""
    if candidate and url_has_allowed_host_and_scheme(
        candidate, {request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return settings.LOGIN_REDIRECT_URL


@public
@sensitive_post_parameters("password")
@never_cache
@require_http_methods(["GET", "POST"])
def login_view(request: HttpRequest) -> HttpResponse:
    form = LoginForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        username = form.cleaned_data["username"]
        user = authenticate(request, username=username, password=form.cleaned_data["password"])
        locked_out = bool(getattr(request, "axes_locked_out", False))
        if user is not None and is_device_account(user):
            # A bedside monitor's account records vitals with a token; it never signs in, even if
            # someone gave it a password. Answered as a wrong password: nothing to learn.
            user = None
        if user is None:
            services.login_failed_record(username=username, locked_out=locked_out)
            if locked_out:
                return render(request, "accounts/locked_out.html", status=429)
            error = "That username and password do not match an active account."
        else:
            login(request, user)  # rotates the session key (ASVS 7.2.4)
            request.session[SESSION_LOGIN_AT] = time.time()
            if user.is_patient:
                # A patient's idle timeout may be longer than staff's (filling a questionnaire at home).
                request.session.set_expiry(settings.PORTAL_SESSION_IDLE_S)
            services.login_record(user=user)
            confirmed = any(True for _ in devices_for_user(user, confirmed=True))
            # Staff always give a second factor; a patient only if they added one.
            if settings.MFA_REQUIRED and (confirmed or not user.is_patient):
                target = "accounts:mfa_verify" if confirmed else "accounts:mfa_setup"
                response = redirect(target)
                next_url = _next_url(request)
                if next_url != settings.LOGIN_REDIRECT_URL:
                    response["Location"] += "?" + urlencode({"next": next_url})
                return response
            return redirect(_next_url(request))
    status = 200 if error is None and not form.errors else 400
    return render(
        request,
        "accounts/login.html",
        {"form": form, "error": error, "next": request.GET.get("next", "")},
        status=status,
    )


@require_login(mfa=False)
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_verify(request: HttpRequest) -> HttpResponse:
    form = TokenForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        for device in devices_for_user(request.user, confirmed=True):
            if device.verify_is_allowed()[0] and device.verify_token(form.cleaned_data["token"]):
                otp_login(request, device)
                return redirect(_next_url(request))
        error = "That code is not valid. Codes change every 30 seconds; try the current one."
    return render(
        request,
        "accounts/mfa_verify.html",
        {"form": form, "error": error},
        status=400 if error or form.errors else 200,
    )


def _qr_data_uri(url: str) -> str:
    svg = segno.make(url, micro=False).svg_inline(scale=4)
    return "data:image/svg+xml;base64," + base64.b64encode(svg.encode("utf-8")).decode("ascii")


@require_login(mfa=False)
@never_cache
@require_http_methods(["GET", "POST"])
def mfa_setup(request: HttpRequest) -> HttpResponse:
    if any(True for _ in devices_for_user(request.user, confirmed=True)):
        return redirect("accounts:mfa_verify")
    device = TOTPDevice.objects.filter(user=request.user, confirmed=False).first()
    if device is None:
        device = TOTPDevice.objects.create(user=request.user, name="Authenticator app", confirmed=False)
    form = TokenForm(request.POST or None)
    error = None
    if request.method == "POST" and form.is_valid():
        if device.verify_token(form.cleaned_data["token"]):
            device.confirmed = True
            device.save(update_fields=["confirmed"])
            otp_login(request, device)
            messages.success(request, "Two-factor sign-in is set up.")
            return redirect(_next_url(request))
        error = "That code did not match. Check the time on your phone and try the current code."
    secret = base64.b32encode(device.bin_key).decode("ascii").rstrip("=")
    return render(
        request,
        "accounts/mfa_setup.html",
        {"form": form, "error": error, "qr": _qr_data_uri(device.config_url), "secret": secret},
        status=400 if error or form.errors else 200,
    )


@require_login(mfa=False)
@require_POST
def logout_view(request: HttpRequest) -> HttpResponse:
    services.logout_record(user=request.user)
    logout(request)
    messages.info(request, "You are signed out.")
    return redirect("accounts:login")


@require_login()
@sensitive_post_parameters()
@require_http_methods(["GET", "POST"])
def password_change(request: HttpRequest) -> HttpResponse:
    form = PasswordChangeForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        user = form.save()
        update_session_auth_hash(request, user)
        services.password_changed_record(user=user)
        messages.success(request, "Your password is changed.")
        return redirect("home")
    return render(
        request, "accounts/password_change.html", {"form": form}, status=400 if form.errors else 200
    )
