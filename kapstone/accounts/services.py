"""Writes on accounts: tokens, logins, clinics and memberships (each audited)."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from kapstone.accounts.models import ApiToken, Clinic, Membership, User
from kapstone.accounts.tokens import hash_token, new_token
from kapstone.audit.services import audit_record
from kapstone.domain.errors import DomainError
from kapstone.domain.text import clean_text


def api_token_create(*, actor: User | None, user: User, name: str = "") -> tuple[ApiToken, str]:
    """Create a token for ``user``; return the row and the plain token (shown once, never stored)."""
    if not user.is_active:
        raise DomainError("user_inactive", f"User {user.username} is inactive.", field="username")
    name = clean_text(name, field="name", max_chars=80, label="The token's name")
    token = new_token()
    with transaction.atomic():
        row = ApiToken.objects.create(user=user, name=name, prefix=token[:12], token_hash=hash_token(token))
        audit_record(
            actor=actor,
            actor_label=actor.get_username() if actor else "cli",
            action="create",
            object_type="api_token",
            object_id=row.pk,
            detail={"for_user": user.pk},
        )
    return row, token


def api_token_revoke(*, actor: User | None, token: ApiToken) -> ApiToken:
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is None:
            token.revoked_at = timezone.now()
            token.save(update_fields=["revoked_at"])
            audit_record(
                actor=actor,
                actor_label=actor.get_username() if actor else "cli",
                action="void",
                object_type="api_token",
                object_id=token.pk,
                detail={"for_user": token.user_id},
            )
    return token


def api_token_authenticate(*, token: str) -> User | None:
    """The active user owning an unrevoked ``token``, or None."""
    if not token or len(token) > 200:
        return None
    row = (
        ApiToken.objects.select_related("user")
        .filter(token_hash=hash_token(token), revoked_at__isnull=True, user__is_active=True)
        .first()
    )
    if row is None:
        return None
    now = timezone.now()
    # Touch at most once a minute: a device posting vitals every few seconds should not turn
    # every request into a write on this row.
    if row.last_used_at is None or (now - row.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=row.pk).update(last_used_at=now)
    return row.user


def login_record(*, user: User) -> None:
    audit_record(actor=user, action="login", object_type="user", object_id=user.pk)


def login_failed_record(*, username: str, locked_out: bool) -> None:
    audit_record(
        actor=None,
        actor_label=username[:150],
        action="login_failed",
        object_type="user",
        outcome="denied" if locked_out else "failure",
        detail={"locked_out": locked_out},
    )


def logout_record(*, user: User) -> None:
    audit_record(actor=user, action="logout", object_type="user", object_id=user.pk)


def clinic_get_or_create(*, actor: User | None, name: str, slug: str, timezone_name: str = "UTC") -> Clinic:
    with transaction.atomic():
        clinic, created = Clinic.objects.get_or_create(
            slug=slug, defaults={"name": name, "timezone": timezone_name}
        )
        if created:
            audit_record(
                actor=actor,
                actor_label="seed" if actor is None else None,
                action="create",
                object_type="clinic",
                object_id=clinic.pk,
                clinic_id=clinic.pk,
            )
    return clinic


def membership_set(
    *, actor: User | None, user: User, clinic: Clinic, role: str, actor_label: str | None = None, **extra: Any
) -> Membership:
    """Give ``user`` exactly one role in ``clinic`` (creating or changing the membership).
    ``actor_label`` names who did it when no user did (a command); without either, "seed"."""
    with transaction.atomic():
        membership, created = Membership.objects.get_or_create(
            user=user, clinic=clinic, defaults={"role": role, "is_active": True}
        )
        if not created and (membership.role != role or not membership.is_active):
            membership.role = role
            membership.is_active = True
            membership.save(update_fields=["role", "is_active"])
        elif not created:
            return membership
        audit_record(
            actor=actor,
            actor_label=(actor_label or "seed") if actor is None else None,
            action="create" if created else "update",
            object_type="membership",
            object_id=membership.pk,
            clinic_id=clinic.pk,
            detail={"user": user.pk, "role": role},
        )
    return membership


def password_changed_record(*, user: User) -> None:
    audit_record(
        actor=user, action="update", object_type="user", object_id=user.pk, detail={"field": "password"}
    )
