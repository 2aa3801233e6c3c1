"""Writes of patient accounts: invitations from the chart, accepting one, disabling an account.

An invitation is a single-use link, e-mailed to the patient, that expires after
:data:`INVITATION_HOURS`; only the SHA-256 of its token is kept. A re-sent invitation replaces the
earlier ones. Accepting sets the password (Django's validators and Argon2, as for staff) and opens
the account. Every step is audited; the patient's own steps with the patient as actor.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.http import Http404
from django.utils import timezone

from kapstone.accounts.access import PATIENT_WRITE, clinic_ids_for
from kapstone.accounts.models import ApiToken, User
from kapstone.audit.services import audit_record
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.text import clean_text
from kapstone.domain.words import gettext_noop
from kapstone.patients.models import Patient
from kapstone.portal.models import PatientAccount, PortalInvitation

INVITATION_HOURS = 72
PENDING, ACCEPTED, EXPIRED, DISABLED = "pending", "accepted", "expired", "disabled"
STATUS_WORDS = {
    PENDING: "Invitation sent, not yet accepted",
    ACCEPTED: "Active",
    EXPIRED: "Invitation expired",
    DISABLED: "Disabled",
}


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def account_status(account: PatientAccount, *, now: datetime | None = None) -> str:
    """``disabled``, ``accepted`` (active), ``pending`` (a live invitation) or ``expired``."""
    if account.disabled_at is not None:
        return DISABLED
    if account.accepted_at is not None:
        return ACCEPTED
    now = now or timezone.now()
    live = account.invitations.filter(used_at__isnull=True, superseded_at__isnull=True, expires_at__gt=now)
    return PENDING if live.exists() else EXPIRED


def _check_staff(actor: User, patient: Patient) -> None:
    if patient.clinic_id not in clinic_ids_for(actor, PATIENT_WRITE):
        raise Http404("patient")


def portal_invite(
    *, actor: User, patient: Patient, email: str, link_base: str, username: str | None = None
) -> tuple[PortalInvitation, str]:
    """Invite (or invite again) a patient to the portal; returns the invitation and its token.

    The patient signs in with the e-mail address, or with ``username`` when one is given (the
    demo's ``patient.north``). The e-mail with the link ``{link_base}{token}/`` goes out after the
    commit. Refusals: ``invalid_email``, ``email_in_use`` (another account signs in with it),
    ``portal_account_active`` and ``portal_account_disabled`` (409).
    """
    _check_staff(actor, patient)
    address = clean_text(
        email, field="email", max_chars=254, required=True, label="The e-mail address"
    ).lower()
    try:
        validate_email(address)
    except ValidationError:
        raise DomainError(
            "invalid_email", "That e-mail address does not look right.", field="email"
        ) from None
    login = (
        address if username is None else clean_text(username, field="username", max_chars=150, required=True)
    )
    now = timezone.now()
    token = secrets.token_urlsafe(32)
    with transaction.atomic():
        Patient.objects.select_for_update().get(pk=patient.pk)
        account = PatientAccount.objects.select_related("user").filter(patient=patient).first()
        if account is not None and account.disabled_at is not None:
            raise WorkflowConflict(
                "portal_account_disabled", "This patient's portal account was disabled.", field="email"
            )
        if account is not None and account.accepted_at is not None:
            raise WorkflowConflict(
                "portal_account_active", "This patient already uses the portal.", field="email"
            )
        taken = User.objects.filter(username=login)
        if account is not None:
            taken = taken.exclude(pk=account.user_id)
        if taken.exists():
            raise DomainError("email_in_use", "Another account already signs in with that e-mail address.",
                              field="email")  # fmt: skip
        if account is None:
            user = User.objects.create(
                username=login, email=address, first_name=patient.given_name, last_name=patient.family_name,
                is_patient=True, is_active=False,
            )  # fmt: skip
            user.set_unusable_password()
            user.save(update_fields=["password"])
            account = PatientAccount.objects.create(
                user=user, patient=patient, email=address, created_by=actor, created_at=now
            )
        else:
            User.objects.filter(pk=account.user_id).update(username=login, email=address)
            account.email = address
            account.save(update_fields=["email"])
            account.invitations.filter(used_at__isnull=True, superseded_at__isnull=True).update(
                superseded_at=now
            )
        invitation = PortalInvitation.objects.create(
            account=account,
            token_hash=_hash(token),
            sent_to=address,
            created_by=actor,
            created_at=now,
            expires_at=now + timedelta(hours=INVITATION_HOURS),
        )
        audit_record(
            actor=actor,
            action="create",
            object_type="portal_invitation",
            object_id=invitation.pk,
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={"resent": account.invitations.count() > 1},
        )
        clinic = patient.clinic.name
        link = f"{link_base}{token}/"
        transaction.on_commit(lambda: _send_invitation(address, clinic, link))
    return invitation, token


def _send_invitation(address: str, clinic: str, link: str) -> None:
    send_mail(
        subject=f"{clinic} invites you to its patient portal",
        message=(
            f"{clinic} invites you to its patient portal, where you can see your next session, answer "
            "your questionnaires and keep your calendar from home.\n\n"
            f"Set your password within {INVITATION_HOURS} hours with this link (it works once):\n{link}\n\n"
            "If you did not expect this message, you can ignore it.\n"
        ),
        from_email=None,
        recipient_list=[address],
        fail_silently=False,
    )


def invitation_for_token(token: str) -> PortalInvitation:
    """The live invitation a link carries, or a refusal: ``invitation_invalid`` (unknown, used
    or replaced by a newer one) or ``invitation_expired`` (409)."""
    invitation = (
        PortalInvitation.objects.select_related("account__patient__clinic", "account__user")
        .filter(token_hash=_hash(token or ""))
        .first()
    )
    if invitation is None or invitation.used_at is not None or invitation.superseded_at is not None:
        raise WorkflowConflict(
            "invitation_invalid",
            "This link does not work any more. Ask your clinic to send a new invitation.",
        )
    if invitation.account.disabled_at is not None:
        raise WorkflowConflict("invitation_invalid", "This link does not work any more.")
    if invitation.expires_at <= timezone.now():
        raise WorkflowConflict(
            "invitation_expired", "This invitation has expired. Ask your clinic to send a new one."
        )
    return invitation


def invitation_accept(*, token: str, password: str, password_again: str) -> PatientAccount:
    """Open the account: set the password from a live invitation (single use).

    Refusals: :func:`invitation_for_token`'s, ``password_mismatch``, ``password_invalid``
    (Django's validators, their messages joined).
    """
    invitation = invitation_for_token(token)
    if password != password_again:
        raise DomainError("password_mismatch", "The two passwords are not the same.", field="password_again")
    user = invitation.account.user
    try:
        validate_password(password, user)
    except ValidationError as error:
        raise DomainError("password_invalid", " ".join(error.messages), field="password") from None
    now = timezone.now()
    with transaction.atomic():
        current = PortalInvitation.objects.select_for_update().get(pk=invitation.pk)
        if current.used_at is not None or current.superseded_at is not None:
            raise WorkflowConflict("invitation_invalid", "This link does not work any more.")
        current.used_at = now
        current.save(update_fields=["used_at"])
        user = User.objects.select_for_update().get(pk=user.pk)
        user.set_password(password)
        user.is_active = True
        user.save(update_fields=["password", "is_active"])
        account = PatientAccount.objects.select_for_update().get(pk=current.account_id)
        account.accepted_at = now
        account.save(update_fields=["accepted_at"])
        audit_record(
            actor=user,
            action="update",
            object_type="portal_account",
            object_id=account.pk,
            patient_id=account.patient_id,
            clinic_id=account.patient.clinic_id,
            detail={"accepted": True},
        )
    return account


def portal_account_disable(*, actor: User, account: PatientAccount, reason: str) -> PatientAccount:
    """Close a patient's portal account: no more sign-in, API tokens revoked. Refusals:
    ``reason_required``; ``portal_account_disabled`` (409) when already closed."""
    _check_staff(actor, account.patient)
    why = clean_text(
        reason,
        field="reason",
        max_chars=500,
        required=True,
        label="The reason",
        missing_message="Say why the account is disabled.",
    )
    now = timezone.now()
    with transaction.atomic():
        current = PatientAccount.objects.select_for_update().get(pk=account.pk)
        if current.disabled_at is not None:
            raise WorkflowConflict("portal_account_disabled", "This portal account is already disabled.")
        current.disabled_at, current.disabled_by, current.disabled_reason = now, actor, why
        current.save(update_fields=["disabled_at", "disabled_by", "disabled_reason"])
        User.objects.filter(pk=current.user_id).update(is_active=False)
        ApiToken.objects.filter(user_id=current.user_id, revoked_at__isnull=True).update(revoked_at=now)
        current.invitations.filter(used_at__isnull=True, superseded_at__isnull=True).update(superseded_at=now)
        audit_record(
            actor=actor,
            action="update",
            object_type="portal_account",
            object_id=current.pk,
            patient_id=current.patient_id,
            clinic_id=current.patient.clinic_id,
            detail={"disabled": True},
        )
    return current


def portal_reminders_set(*, actor: User, enabled: bool) -> PatientAccount:
    """A patient turns the portal's e-mail reminders on or off."""
    account = PatientAccount.objects.select_related("patient").get(user=actor)
    with transaction.atomic():
        PatientAccount.objects.filter(pk=account.pk).update(reminders_enabled=bool(enabled))
        audit_record(
            actor=actor,
            action="update",
            object_type="portal_account",
            object_id=account.pk,
            patient_id=account.patient_id,
            clinic_id=account.patient.clinic_id,
            detail={"reminders_enabled": bool(enabled)},
        )
    account.reminders_enabled = bool(enabled)
    return account


def portal_language_set(*, actor: User, language: str) -> PatientAccount:
    """A patient chooses the language of their portal pages and reminder e-mails. Refusal:
    ``language_invalid`` (not one of the site's languages)."""
    if language not in dict(settings.LANGUAGES):
        raise DomainError("language_invalid", gettext_noop("Choose English or Spanish."), field="language")
    account = PatientAccount.objects.select_related("patient").get(user=actor)
    with transaction.atomic():
        PatientAccount.objects.filter(pk=account.pk).update(language=language)
        audit_record(
            actor=actor,
            action="update",
            object_type="portal_account",
            object_id=account.pk,
            patient_id=account.patient_id,
            clinic_id=account.patient.clinic_id,
            detail={"language": language},
        )
    account.language = language
    return account
