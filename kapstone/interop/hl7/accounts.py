"""The account a clinic's bedside-monitor feed acts as (``kapstone hl7 account``).

A monitor account is a user with one membership, role ``monitor`` ("Bedside monitor feed") in one
clinic, and no usable password: it signs in with an API token only (``kapstone token create``),
and may record vital signs and nothing else (``accounts.access.VITALS_SOURCES``).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from kapstone.accounts.models import Clinic, Role, User
from kapstone.accounts.services import membership_set
from kapstone.audit.services import audit_record
from kapstone.domain.errors import DomainError

#: Who the audit rows name when the account is made from the command line.
CLI_LABEL = "kapstone hl7 account"


def monitor_account_create(*, clinic_slug: str, username: str, actor_label: str = CLI_LABEL) -> User:
    """Create ``username`` as the monitor account of the clinic ``clinic_slug``: the user (no usable
    password) and its one membership, role ``monitor``, each with its audit row, in one transaction.

    Refusals (``DomainError``, nothing written): ``unknown_clinic``; ``invalid_username`` (Django's
    username rule: letters, digits and @ . + - _, at most 150 characters); ``username_taken`` (a
    user of that name exists, in any letter case, whatever its clinic or role).
    """
    username = (username or "").strip()
    clinic = Clinic.objects.filter(slug=clinic_slug).first()
    if clinic is None:
        raise DomainError(
            "unknown_clinic", f"There is no clinic with the slug {clinic_slug!r}.", field="clinic"
        )
    field = User._meta.get_field("username")
    try:
        field.clean(username, None)
    except ValidationError as error:
        raise DomainError(
            "invalid_username",
            f"{username!r} is not a valid username: {' '.join(error.messages)}",
            field="username",
        ) from None
    if User.objects.filter(username__iexact=username).exists():
        raise DomainError("username_taken", f"A user named {username!r} already exists.", field="username")
    try:
        with transaction.atomic():
            user = User.objects.create_user(username=username, password=None)  # an unusable password
            audit_record(
                actor=None,
                actor_label=actor_label,
                action="create",
                object_type="user",
                object_id=user.pk,
                clinic_id=clinic.pk,
                detail={"role": Role.MONITOR, "password": "unusable"},
            )
            membership_set(actor=None, actor_label=actor_label, user=user, clinic=clinic, role=Role.MONITOR)
    except IntegrityError:  # the same name created at the same moment
        raise DomainError(
            "username_taken", f"A user named {username!r} already exists.", field="username"
        ) from None
    return user
