"""Reads of the staff side, each with one home: the clinics a user works in (for a form's
choices, a page's clinic, a date in the clinic's zone) and the colleagues who may witness.

Who holds which role is ``accounts/access.py`` (``clinic_ids_for`` and the role sets); these
turn it into rows. Views, API operations and services of every app ask here rather than filter
``Clinic`` or ``Membership`` themselves.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.http import Http404

from kapstone.accounts.access import DOSING_CLINICIANS, clinic_ids_for
from kapstone.accounts.models import Clinic, Membership, User
from kapstone.domain.errors import DomainError
from kapstone.forms import parse_record_id


def clinics_of(user: Any, roles: Iterable[str]) -> list[Clinic]:
    """The clinics where ``user`` holds one of ``roles`` (active memberships), by name."""
    return list(Clinic.objects.filter(pk__in=clinic_ids_for(user, roles)).order_by("name", "pk"))


def memberships_of(user: Any) -> list[Membership]:
    """The user's active memberships (clinic and role), by clinic name then role."""
    return list(
        Membership.objects.filter(user=user, is_active=True)
        .select_related("clinic")
        .order_by("clinic__name", "role")
    )


def members_with_role(*, clinic: Clinic, role: str, username: str | None = None) -> list[User]:
    """The active users holding ``role`` through an active membership of ``clinic`` (by
    username), only ``username`` when given: e.g. the account a clinic's monitor feed acts as."""
    users = User.objects.filter(
        memberships__clinic=clinic, memberships__role=role, memberships__is_active=True, is_active=True
    ).order_by("username")
    if username is not None:
        users = users.filter(username=username)
    return list(users)


def clinic_chosen(user: Any, roles: Iterable[str], wanted: object = None) -> Clinic:
    """The clinic a page is about: ``wanted`` (a ``?clinic=`` value) when it is one of the user's
    for ``roles``, else their first (by name); Http404 when they have none."""
    clinics = clinics_of(user, roles)
    if not clinics:
        raise Http404("clinic")
    pk = parse_record_id(wanted)
    return next((c for c in clinics if c.pk == pk), clinics[0])


def clinic_of(user: Any, roles: Iterable[str], clinic_id: object) -> Clinic:
    """Clinic ``clinic_id`` when ``user`` holds one of ``roles`` in it; else Http404 (a clinic
    that is not theirs and one that does not exist look the same)."""
    pk = parse_record_id(clinic_id)
    if pk is None or pk not in clinic_ids_for(user, roles):
        raise Http404("clinic")
    return Clinic.objects.get(pk=pk)


# --- Witnesses ---------------------------------------------------------------------------------
#
# A second clinician confirms a controlled-substance waste, a register correction or a count:
# an active nurse or prescriber of the clinic (DOSING_CLINICIANS), never the person recording.


def witness_is_eligible(witness: User, clinic_id: int) -> bool:
    """An active user with an active nurse or prescriber membership in the clinic."""
    return bool(
        witness.is_active
        and Membership.objects.filter(
            user=witness, clinic_id=clinic_id, role__in=DOSING_CLINICIANS, is_active=True
        ).exists()
    )


def witnesses_for(*, clinic_id: int, exclude: User | None = None) -> list[User]:
    """The clinic's eligible witnesses other than ``exclude`` (a form's choices), by username."""
    qs = User.objects.filter(
        is_active=True,
        memberships__clinic_id=clinic_id,
        memberships__is_active=True,
        memberships__role__in=DOSING_CLINICIANS,
    )
    if exclude is not None:
        qs = qs.exclude(pk=exclude.pk)
    return list(qs.distinct().order_by("username"))


def witness_chosen(*, clinic_id: int, user_id: object) -> User | None:
    """The witness picked in a form (by id) when they are eligible in the clinic, else None."""
    pk = parse_record_id(user_id)
    if pk is None:
        return None
    return next((u for u in witnesses_for(clinic_id=clinic_id) if u.pk == pk), None)


def witness_named(*, username: str | None, clinic_id: int) -> User | None:
    """The witness named in an API body (by username), None when none is named. A name that is
    not an eligible witness of the clinic is ``witness_not_in_clinic``, whether or not such a
    user exists, so the API does not tell which usernames exist."""
    if not username:
        return None
    witness = next((u for u in witnesses_for(clinic_id=clinic_id) if u.get_username() == username), None)
    if witness is None:
        raise DomainError(
            "witness_not_in_clinic",
            "The witness must be an active nurse or prescriber of this clinic.",
            field="witness",
        )
    return witness
