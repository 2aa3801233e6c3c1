"""Who may do what: roles, clinic scope and the view decorators that declare both.

Default deny. Every view carries ``kapstone_access``: ``"public"``, ``"authenticated"`` (any
signed-in staff member, e.g. for changing one's own password) or a frozenset of roles. A test
walks every URL pattern and fails for a view that declares nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, TypeVar

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.db.models import Model, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, resolve_url
from django.template.response import TemplateResponse

from kapstone.accounts.models import Membership, Role
from kapstone.forms import RECORD_ID_MAX

# The role sets, each defined once, here; an app names its own rule after one of them (e.g.
# ``SAFETY_RECORD = CLINICAL`` in safety/access.py) rather than spelling the roles out again.
#: Every role held by a person. The bedside-monitor feed (``Role.MONITOR``) is a device account:
#: it is in no role set but ``VITALS_SOURCES``, so it sees no page and no other API operation.
ALL_STAFF = frozenset(Role.values) - {Role.MONITOR}
#: Prescribers, nurses and therapists: who records clinical care.
CLINICAL = frozenset({Role.PRESCRIBER, Role.NURSE, Role.THERAPIST})
#: Nurses and prescribers: who orders, prepares, gives and monitors a dose, handles the
#: controlled-substance register and witnesses a waste or a count.
DOSING_CLINICIANS = frozenset({Role.NURSE, Role.PRESCRIBER})
#: Who may record vital signs: the dosing clinicians and a bedside monitor's feed (recording only;
#: every other monitoring write stays with ``DOSING_CLINICIANS``).
VITALS_SOURCES = DOSING_CLINICIANS | {Role.MONITOR}
#: Therapists and prescribers: who writes therapy notes and runs groups.
THERAPY_CLINICIANS = frozenset({Role.THERAPIST, Role.PRESCRIBER})
#: Prescribers alone: orders, sign-offs, overrides, decisions.
PRESCRIBERS = frozenset({Role.PRESCRIBER})
#: Clinic admins alone: configuration, stock receipts, audit review.
ADMINS = frozenset({Role.ADMIN})
#: The clinicians and the clinic admins (never the researcher): the people of a patient's care.
CARE_TEAM = CLINICAL | ADMINS
#: Who reads the research cohort report (de-identified for the researcher).
REPORT_READERS = frozenset({Role.RESEARCHER}) | PRESCRIBERS | ADMINS
# Who may see and register patient records: clinicians, and clinic admins for intake.
PATIENT_READ = CARE_TEAM
PATIENT_WRITE = CARE_TEAM
AUDIT_REVIEW = ADMINS
#: A whole clinic's records at once (FHIR bulk export): the clinic admin only; clinicians read
#: one patient at a time.
BULK_EXPORT = ADMINS
#: Who reads the background jobs' page (kapstone/operations): the clinic admins.
OPERATIONS_REVIEW = ADMINS

PUBLIC = "public"
AUTHENTICATED = "authenticated"
#: Views and API operations of the patient portal: a signed-in patient account, never staff.
PATIENT = "patient"


def clinic_ids_for(user: Any, roles: Iterable[str]) -> list[int]:
    """The clinics in which ``user`` holds one of ``roles`` through an active membership."""
    if user is None or not user.is_authenticated or not user.is_active:
        return []
    roles = frozenset(roles)
    cache = user.__dict__.setdefault("_kapstone_memberships", None)
    if cache is None:
        cache = list(Membership.objects.filter(user=user, is_active=True).values_list("clinic_id", "role"))
        user.__dict__["_kapstone_memberships"] = cache
    return sorted({clinic_id for clinic_id, role in cache if role in roles})


R = TypeVar("R", bound=Model)

#: The one message of every "no such record here" (missing and not-yours alike).
NOT_FOUND = "Not found."


def _follow(record: Model, path: str | None) -> Any:
    """The value at ``path`` ("clinic_id", "patient__clinic_id") of a fetched record."""
    if path is None:
        return None
    value: Any = record
    for part in path.split("__"):
        value = getattr(value, part) if value is not None else None
    return value


def scoped_get(
    queryset: QuerySet[R],
    pk: Any,
    *,
    user: Any,
    roles: Iterable[str],
    object_type: str,
    clinic: str = "clinic_id",
    patient: str | None = "patient_id",
    audit: bool = True,
) -> R:
    """The one way to get one record the user may see: the row of ``queryset`` with primary key
    ``pk`` in a clinic where ``user`` holds one of ``roles``, or ``Http404``.

    - ``queryset`` carries the caller's ``select_related`` and any nesting (``patient_id=…`` for
      a record under a patient in the URL); ``clinic`` and ``patient`` are the paths from the
      record to its clinic id and patient id (``"patient__clinic_id"``; ``patient=None`` for
      records of no one patient).
    - Missing and not-yours raise the same ``Http404`` with the same message, so ids cannot be
      probed. A record that exists in a clinic outside the user's scope (another clinic, or one
      where the user lacks these roles) is recorded as ``denied`` (type, id, its patient and
      clinic; no PHI) for the privacy officer; the response does not differ. A missing record,
      or one of the user's clinics under the wrong parent, writes nothing.
    - With ``audit`` (the default) a found record's read is audited (``read``, ``object_type``);
      callers that audit the read themselves, or whose page's own read covers it, pass False.
    """
    if isinstance(pk, bool) or not isinstance(pk, int) or not 1 <= pk <= RECORD_ID_MAX:
        raise Http404(NOT_FOUND)
    clinic_ids = clinic_ids_for(user, roles)
    record = queryset.filter(pk=pk, **{f"{clinic}__in": clinic_ids}).first()
    from kapstone.audit.services import audit_record

    if record is None:
        fields = [clinic, patient] if patient else [clinic]
        found = queryset.model._default_manager.filter(pk=pk).values_list(*fields).first()
        if found is not None and found[0] not in clinic_ids:
            audit_record(
                actor=user,
                action="denied",
                object_type=object_type,
                object_id=pk,
                patient_id=found[1] if patient else None,
                clinic_id=found[0],
                outcome="denied",
            )
        raise Http404(NOT_FOUND)
    if audit:
        audit_record(
            actor=user,
            action="read",
            object_type=object_type,
            object_id=record.pk,
            patient_id=_follow(record, patient),
            clinic_id=_follow(record, clinic),
        )
    return record


def staff_emails(*, clinic_id: int, roles: Iterable[str]) -> list[str]:
    """The e-mail addresses of the clinic's active staff holding one of ``roles`` (sorted, once
    each): who a message about the clinic's work goes to."""
    return sorted(
        set(
            Membership.objects.filter(
                clinic_id=clinic_id, role__in=list(roles), is_active=True, user__is_active=True
            )
            .exclude(user__email="")
            .values_list("user__email", flat=True)
        )
    )


def has_role(user: Any, roles: Iterable[str], clinic_id: int | None = None) -> bool:
    ids = clinic_ids_for(user, roles)
    return bool(ids) if clinic_id is None else clinic_id in ids


def is_device_account(user: Any) -> bool:
    """Whether ``user`` is a device's account (an active ``Role.MONITOR`` membership): it records
    vital signs through the API or the HL7 feed and never signs in to the web."""
    return bool(clinic_ids_for(user, {Role.MONITOR}))


def mfa_satisfied(request: HttpRequest) -> bool:
    """Whether the signed-in user has passed the second factor their account needs.

    Staff always need it (when ``MFA_REQUIRED``). A patient may add one: then it is needed, as
    for staff; without one, the password is enough (a patient account reaches only its own record).
    """
    if not settings.MFA_REQUIRED:
        return True
    if bool(getattr(request.user, "is_verified", lambda: False)()):
        return True
    if getattr(request.user, "is_patient", False):
        from django_otp import devices_for_user

        return not any(True for _ in devices_for_user(request.user, confirmed=True))
    return False


def login_redirect(request: HttpRequest) -> HttpResponse:
    if getattr(request, "htmx", False):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = resolve_url(settings.LOGIN_URL)
        return response
    return redirect_to_login(request.get_full_path())


def _mfa_redirect(request: HttpRequest) -> HttpResponse:
    from django_otp import devices_for_user

    has_device = any(True for _ in devices_for_user(request.user, confirmed=True))
    return redirect("accounts:mfa_verify" if has_device else "accounts:mfa_setup")


def forbidden(request: HttpRequest, *, reason: str = "") -> HttpResponse:
    from kapstone.audit.services import audit_record

    match = getattr(request, "resolver_match", None)
    audit_record(
        actor=request.user if request.user.is_authenticated else None,
        action="denied",
        object_type="view",
        object_id=(match.view_name if match else request.path)[:64],
        outcome="denied",
        detail={"reason": reason} if reason else {},
    )
    return TemplateResponse(request, "403.html", {}, status=403)


def require_roles(*roles: str) -> Callable:
    """Allow signed-in, second-factor-verified staff holding one of ``roles`` in some clinic.

    Which clinic's records they may touch is then the selectors' job (scoped reads, 404).
    """
    unknown = set(roles) - set(Role.values)
    if not roles or unknown:
        raise ValueError(f"require_roles needs known roles, got {roles!r}")
    allowed = frozenset(roles)

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return login_redirect(request)
            if not mfa_satisfied(request):
                return _mfa_redirect(request)
            if not clinic_ids_for(request.user, allowed):
                return forbidden(request, reason="role")
            return view(request, *args, **kwargs)

        wrapper.kapstone_access = allowed  # type: ignore[attr-defined]
        return wrapper

    return decorator


def require_login(*, mfa: bool = True) -> Callable:
    """Any signed-in staff member (own password, own second factor). ``mfa=False`` only for
    the screens that set up or check the second factor itself."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if not request.user.is_authenticated:
                return login_redirect(request)
            if is_device_account(request.user):
                # A monitor's account cannot sign in; should a session exist anyway, it reaches
                # no page (its memberships are already read and cached on the user).
                return forbidden(request, reason="device")
            if mfa and not mfa_satisfied(request):
                return _mfa_redirect(request)
            return view(request, *args, **kwargs)

        wrapper.kapstone_access = AUTHENTICATED  # type: ignore[attr-defined]
        return wrapper

    return decorator


def public(view: Callable) -> Callable:
    """Explicitly open to everyone (login, health). Keep this list short."""
    view.kapstone_access = PUBLIC  # type: ignore[attr-defined]
    return view
