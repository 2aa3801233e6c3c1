"""The FHIR R4 REST API at /fhir/r4 (docs/interop.md, "FHIR R4"): plain Django views, thin.

- ``GET metadata``: the CapabilityStatement, public, built from the registry.
- ``GET {type}/{id}`` (read), ``GET {type}?…`` (search: a searchset Bundle, ``_count`` pages
  with a ``next`` link), ``GET Patient/{id}/$everything`` (``_since``).
- ``POST`` on the base: a transaction Bundle, imported all or nothing (``importer``), for the
  roles that write patients (``PATIENT_WRITE``).

Bearer tokens as /api/v1 (``kapstone.accounts.api_kit.BearerToken``); the roles that read
patients (``PATIENT_READ``), scoped to the clinics where the user holds one. Every answer is
``application/fhir+json``; every error an OperationOutcome with the FHIR issue code and our
stable code in ``details.coding``. Every read leaves an audit row; ``$everything`` is a
disclosure (``kapstone.audit.disclosures``). Anything unforeseen is caught here: an
OperationOutcome ``exception`` without internals, never a Django error page.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime, time
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import SuspiciousOperation
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from kapstone.accounts.access import BULK_EXPORT, PATIENT_READ, PATIENT_WRITE, PUBLIC, clinic_ids_for
from kapstone.accounts.api_kit import BearerToken, api_denied
from kapstone.accounts.models import Clinic
from kapstone.accounts.selectors import memberships_of
from kapstone.audit.disclosures import disclosure_record
from kapstone.audit.services import audit_record
from kapstone.interop.fhir import bulk, importer, refs, registry
from kapstone.interop.fhir import search as sp
from kapstone.interop.fhir.errors import SearchError
from kapstone.interop.models import ExportStatus
from kapstone.patients.models import Patient
from kapstone.patients.selectors import patient_get_for_user

logger = logging.getLogger("kapstone.interop.fhir")

FHIR_JSON = "application/fhir+json"
#: The version we declare: FHIR R4 (4.0.1), as the path says. Resources are validated in the
#: tests with fhir.resources' R4B models, whose JSON is the same as R4's for every type served.
FHIR_VERSION = "4.0.1"
#: ``_format`` values answered (all JSON); "+" in a query string arrives as a space.
FORMATS = frozenset({"json", "application/json", "application/fhir+json", "fhir+json"})
#: Search paging: entries per page when ``_count`` is not given, and the most a page holds.
COUNT_DEFAULT = 50
COUNT_MAX = 200
OFFSET_MAX = 1_000_000
#: Parameters the API reads itself on a search, never passed to the resource module.
RESULT_PARAMS = ("_count", "_offset", "_format")
EVERYTHING = "http://hl7.org/fhir/OperationDefinition/Patient-everything"
SYSTEM_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"
GROUP_EXPORT = "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/group-export"


class FhirError(Exception):
    """A refusal answered as an OperationOutcome: HTTP status, FHIR issue code, our code."""

    def __init__(
        self, status: int, issue_code: str, code: str, message: str, *, allow: tuple[str, ...] = ("GET",)
    ) -> None:
        super().__init__(message)
        self.status, self.issue_code, self.code, self.message = status, issue_code, code, message
        self.allow = allow


def not_found() -> FhirError:
    # The same words for "no such type", "no such record" and "another clinic's record".
    return FhirError(404, "not-found", "not_found", "Not found.")


def operation_outcome(issue_code: str, code: str, message: str, *, severity: str = "error") -> dict[str, Any]:
    return {
        "resourceType": "OperationOutcome",
        "issue": [
            {
                "severity": severity,
                "code": issue_code,
                "details": {"coding": [refs.coding(refs.KAPSTONE_ERRORS, code)], "text": message},
            }
        ],
    }


def fhir_response(body: dict[str, Any], status: int = 200) -> HttpResponse:
    return HttpResponse(
        json.dumps(body, ensure_ascii=False, separators=(",", ":")),
        status=status,
        content_type=f"{FHIR_JSON}; charset=utf-8",
    )


def error_response(error: FhirError) -> HttpResponse:
    response = fhir_response(operation_outcome(error.issue_code, error.code, error.message), error.status)
    if error.status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="fhir"'
    if error.status == 405:
        response["Allow"] = ", ".join(error.allow)
    return response


def _check_format(request: HttpRequest) -> None:
    for value in request.GET.getlist("_format"):
        if value.strip().replace(" ", "+").lower() not in FORMATS:
            raise FhirError(
                406, "not-supported", "unsupported_format", "This server answers JSON only (_format=json)."
            )


def _authenticate(request: HttpRequest, operation: str, roles: Any = PATIENT_READ) -> tuple[Any, set[int]]:
    """The token's user and the clinics where they hold one of ``roles`` (read patients by
    default); 401 without a valid token, 403 (audited as the API does) for a user without such a
    role in any clinic."""
    user = BearerToken()(request)
    if user is None:
        raise FhirError(
            401, "login", "unauthorized", "A valid API token is required (Authorization: Bearer …)."
        )
    clinic_ids = set(clinic_ids_for(user, roles))
    if not clinic_ids:
        api_denied(actor=user, operation=f"fhir_{operation}", reason="role")
        raise FhirError(403, "forbidden", "forbidden", "Your role does not allow this.")
    return user, clinic_ids


def fhir_endpoint(access: Any, *, methods: tuple[str, ...] = ("GET",)) -> Callable:
    """Wrap a FHIR view: ``methods`` only (GET by default; else 405), ``_format``, the token and
    role (unless public), and every failure as an OperationOutcome. Declares ``kapstone_access``
    and ``kapstone_methods`` for the URL-access test."""

    def decorate(func: Callable) -> Callable:
        @csrf_exempt  # bearer tokens only, never the session cookie: nothing to forge
        @wraps(func)
        def view(request: HttpRequest, **kwargs: Any) -> HttpResponse:
            try:
                if request.method not in methods:
                    raise FhirError(
                        405,
                        "not-supported",
                        "method_not_allowed",
                        f"{request.method[:20]} is not allowed here; use {' or '.join(methods)}.",
                        allow=methods,
                    )
                _check_format(request)
                if access == PUBLIC:
                    return func(request, **kwargs)
                user, clinic_ids = _authenticate(request, func.__name__, access)
                return func(request, user=user, clinic_ids=clinic_ids, **kwargs)
            except FhirError as error:
                return error_response(error)
            except SearchError as error:
                issue = "not-supported" if error.code == "unknown_search_parameter" else "invalid"
                return error_response(FhirError(400, issue, error.code, error.message))
            except Http404:
                return error_response(not_found())
            except SuspiciousOperation:  # too many query parameters, a malformed request
                return error_response(
                    FhirError(
                        400, "invalid", "bad_request", "The request was refused (too large or malformed)."
                    )
                )
            except Exception:
                logger.exception("unhandled FHIR error")
                return error_response(
                    FhirError(
                        500,
                        "exception",
                        "internal_error",
                        "Something went wrong on our side; nothing was changed.",
                    )
                )

        view.kapstone_access = access  # type: ignore[attr-defined]
        view.kapstone_methods = methods  # type: ignore[attr-defined]
        return view

    return decorate


def _params(request: HttpRequest) -> dict[str, list[str]]:
    """The query's parameters for the resource module: all but the result parameters."""
    return {name: values for name, values in request.GET.lists() if name not in RESULT_PARAMS}


def _whole(request: HttpRequest, name: str, default: int, maximum: int) -> int:
    values = request.GET.getlist(name)
    if not values:
        return default
    value = values[-1].strip()
    if len(values) > 1 or not value.isascii() or not value.isdigit() or int(value) > maximum:
        raise SearchError(
            f"invalid{name}", f"{name} takes a whole number from 0 to {maximum}.", parameter=name
        )
    return int(value)


def _clinics_of(patient_ids: set[int]) -> dict[int, int]:
    return dict(Patient.objects.filter(pk__in=sorted(patient_ids)).values_list("id", "clinic_id"))


# --- metadata -----------------------------------------------------------------------------------


def capability_statement() -> dict[str, Any]:
    """What this server implements, from the registry: types, interactions, search parameters,
    the ``$everything`` operation on Patient, and the system-level ``transaction`` (import)."""
    resources = []
    for resource_type, module in registry.RESOURCES.items():
        entry: dict[str, Any] = {
            "type": resource_type,
            "interaction": [{"code": "read"}, {"code": "search-type"}],
            "searchParam": [{"name": name, "type": kind} for name, kind in module.SEARCH_PARAMS.items()],
        }
        if resource_type == "Patient":
            entry["operation"] = [{"name": "everything", "definition": EVERYTHING}]
        resources.append(entry)
    # A Group per clinic, for its bulk export only (the Group resource itself is not served).
    resources.append({"type": "Group", "operation": [{"name": "export", "definition": GROUP_EXPORT}]})
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": timezone.now().date().isoformat(),
        "publisher": "Kapstone",
        "kind": "instance",
        "software": {"name": "Kapstone"},
        "implementation": {"description": "Kapstone FHIR R4 API", "url": refs.base_url()},
        "instantiates": ["http://hl7.org/fhir/uv/bulkdata/CapabilityStatement/bulk-data"],
        "fhirVersion": FHIR_VERSION,
        "format": ["json", FHIR_JSON],
        "rest": [
            {
                "mode": "server",
                "security": {
                    "cors": False,
                    "description": "Authorization: Bearer <token> (kapstone token create USERNAME); "
                    "clinicians and clinic admins, scoped to their clinics.",
                },
                "resource": resources,
                "operation": [{"name": "export", "definition": SYSTEM_EXPORT}],
                # POST /fhir/r4: a transaction Bundle of Patient, Condition, Observation (importer).
                "interaction": [
                    {
                        "code": "transaction",
                        "documentation": "Patient, Condition and Observation (body weight and "
                        "height, liver tests), all or nothing; docs/interop.md, Import.",
                    }
                ],
            }
        ],
    }


@fhir_endpoint(PUBLIC)
def metadata(request: HttpRequest) -> HttpResponse:
    return fhir_response(capability_statement())


# --- read ---------------------------------------------------------------------------------------


@fhir_endpoint(PATIENT_READ)
def read(
    request: HttpRequest, *, user: Any, clinic_ids: set[int], resource_type: str, logical_id: str
) -> HttpResponse:
    module = registry.resource_module(resource_type)
    if module is None:
        raise not_found()
    sp.check_params(_params(request), ())
    resource = module.read(logical_id, clinic_ids=clinic_ids)
    object_type = f"fhir_{resource_type.lower()}"[:50]
    if resource is None:
        owner = registry.owner_of(resource_type, logical_id)
        if owner is not None and owner[0] not in clinic_ids:
            # Recorded for the privacy officer as scoped_get does; the answer does not differ.
            audit_record(
                actor=user,
                action="denied",
                object_type=object_type,
                object_id=logical_id[:64],
                patient_id=owner[1],
                clinic_id=owner[0],
                outcome="denied",
            )
        raise not_found()
    patient_id = refs.patient_id_of(resource)
    audit_record(
        actor=user,
        action="read",
        object_type=object_type,
        object_id=str(resource["id"])[:64],
        patient_id=patient_id,
        clinic_id=_clinics_of({patient_id}).get(patient_id) if patient_id else None,
        detail={"interface": "fhir"},
    )
    return fhir_response(resource)


# --- search -------------------------------------------------------------------------------------


def _link(resource_type: str, params: dict[str, list[str]], count: int, offset: int) -> str:
    query = [(name, value) for name, values in sorted(params.items()) for value in values]
    query += [("_count", str(count)), ("_offset", str(offset))]
    return f"{refs.base_url()}/{resource_type}?{urlencode(query)}"


@fhir_endpoint(PATIENT_READ)
def search_type(request: HttpRequest, *, user: Any, clinic_ids: set[int], resource_type: str) -> HttpResponse:
    module = registry.resource_module(resource_type)
    if module is None:
        raise not_found()
    count = _whole(request, "_count", COUNT_DEFAULT, COUNT_MAX)
    offset = _whole(request, "_offset", 0, OFFSET_MAX)
    params = _params(request)
    matches = module.search(clinic_ids=clinic_ids, params=params)
    page = matches[offset : offset + count]
    links = [{"relation": "self", "url": _link(resource_type, params, count, offset)}]
    if count and offset + count < len(matches):
        links.append({"relation": "next", "url": _link(resource_type, params, count, offset + count)})
    if count and offset:
        links.append(
            {"relation": "previous", "url": _link(resource_type, params, count, max(0, offset - count))}
        )
    patient_ids = {pid for pid in (refs.patient_id_of(r) for r in page) if pid is not None}
    only = next(iter(patient_ids)) if len(patient_ids) == 1 else None
    # The values searched may be names: the audit keeps which parameters, not what was typed.
    audit_record(
        actor=user,
        action="read",
        object_type="fhir_search",
        object_id=resource_type[:64],
        patient_id=only,
        clinic_id=_clinics_of({only}).get(only) if only else None,
        detail={
            "interface": "fhir",
            "parameters": sorted(params),
            "returned": len(page),
            "total": len(matches),
            "patients": sorted(patient_ids),
        },
    )
    return fhir_response(
        {
            "resourceType": "Bundle",
            "type": "searchset",
            "total": len(matches),
            "link": links,
            "entry": [
                {
                    "fullUrl": refs.full_url(resource_type, resource["id"]),
                    "resource": resource,
                    "search": {"mode": "match"},
                }
                for resource in page
            ],
        }
    )


# --- $everything --------------------------------------------------------------------------------


def _since(request: HttpRequest) -> datetime | None:
    values = request.GET.getlist("_since")
    if not values:
        return None
    if len(values) > 1 or values[0][:2].isalpha():
        raise SearchError(
            "invalid_date", "_since takes one instant (e.g. 2026-12-01T00:00:00Z).", parameter="_since"
        )
    param = sp.dates("_since", values[0])
    if param.has_time:
        return param.lower  # type: ignore[return-value]
    return datetime.combine(param.lower, time(), tzinfo=UTC)


def _recipient_role(user: Any, clinic_id: int) -> str:
    """The user's patient-reading role(s) in the patient's clinic, e.g. "prescriber"."""
    roles = {m.role for m in memberships_of(user) if m.clinic_id == clinic_id and m.role in PATIENT_READ}
    return ", ".join(sorted(roles)) or "none"


@fhir_endpoint(PATIENT_READ)
def everything(request: HttpRequest, *, user: Any, clinic_ids: set[int], logical_id: str) -> HttpResponse:
    sp.check_params(_params(request), ("_since",))
    since = _since(request)
    # Without _count the whole record in one Bundle; with it, pages as a search's (next links).
    count = _whole(request, "_count", COUNT_DEFAULT, COUNT_MAX) if "_count" in request.GET else None
    offset = _whole(request, "_offset", 0, OFFSET_MAX)
    pk = sp.pk_of(logical_id)
    if pk is None:
        raise not_found()
    # The one home of "one patient the user may see" (records a denied attempt; 404 alike).
    patient = patient_get_for_user(user=user, patient_id=pk, audit=False)
    entries = []
    counts: dict[str, int] = {}
    for resource_type, module in registry.RESOURCES.items():
        # The patient is always the first entry, changed or not: the Bundle says whose it is.
        resources = module.for_patient(patient, since=None if resource_type == "Patient" else since)
        counts[resource_type] = len(resources)
        for resource in resources:
            entries.append(
                {
                    "fullUrl": refs.full_url(resource_type, resource["id"]),
                    "resource": resource,
                    "search": {"mode": "match" if resource_type == "Patient" else "include"},
                }
            )
    bundle: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(entries)}
    page = entries[offset:] if count is None else entries[offset : offset + count]
    if count is not None:
        path, params = f"Patient/{patient.pk}/$everything", _params(request)
        bundle["link"] = [{"relation": "self", "url": _link(path, params, count, offset)}]
        if count and offset + count < len(entries):
            bundle["link"].append({"relation": "next", "url": _link(path, params, count, offset + count)})
        if count and offset:
            previous = _link(path, params, count, max(0, offset - count))
            bundle["link"].append({"relation": "previous", "url": previous})
    bundle["entry"] = page
    with transaction.atomic():
        event = audit_record(
            actor=user,
            action="export",
            object_type="fhir_everything",
            object_id=str(patient.pk),
            patient_id=patient.pk,
            clinic_id=patient.clinic_id,
            detail={
                "interface": "fhir",
                "since": since.isoformat() if since else None,
                "counts": counts,
                "offset": offset,
                "returned": len(page),
            },
        )
        # A page is a disclosure of what it holds.
        disclosure_record(
            actor=user,
            audit_event=event,
            recipient_role=_recipient_role(user, patient.clinic_id),
            purpose="treatment",
            kind="fhir_everything",
            row_count=len(page),
            patients=[(patient.pk, patient.clinic_id)],
            filter_summary={"operation": "$everything", "since": since.isoformat() if since else None},
        )
    return fhir_response(bundle)


@fhir_endpoint(PATIENT_WRITE, methods=("GET", "POST"))
def base(request: HttpRequest, *, user: Any, clinic_ids: set[int]) -> HttpResponse:
    """``POST /fhir/r4``: a transaction Bundle, imported all or nothing (``importer``; docs/
    interop.md, "Import"). GET (a system-level search) is not served: 404 as any unknown path."""
    if request.method != "POST":
        raise not_found()
    body, status = importer.import_request(request, user=user)
    return fhir_response(body, status)


@fhir_endpoint(PATIENT_READ)
def unknown(request: HttpRequest, *, user: Any, clinic_ids: set[int], rest: str = "") -> HttpResponse:
    """Any other path under /fhir/r4: the same 404 as a missing record."""
    raise not_found()


# --- bulk export (FHIR Bulk Data Access IG) -----------------------------------------------------

#: ``_outputFormat`` values answered: NDJSON, in the IG's three spellings.
OUTPUT_FORMATS = frozenset({"application/fhir+ndjson", "application/ndjson", "ndjson"})
NDJSON = "application/fhir+ndjson"
EXPORT_PARAMS = ("_outputFormat", "_type", "_since")
#: Seconds a client is asked to wait between two looks at an export in progress.
RETRY_AFTER_S = 5


def _export_types(request: HttpRequest) -> list[str]:
    served = registry.resource_types()
    wanted = [t.strip() for value in request.GET.getlist("_type") for t in value.split(",") if t.strip()]
    unknown = [t for t in wanted if t not in served]
    if unknown:
        raise FhirError(
            400,
            "not-supported",
            "unsupported_type",
            f"{unknown[0][:40]!r} is not a resource type this server exports; it exports "
            f"{', '.join(served)}.",
        )
    return wanted or served


def _kickoff(request: HttpRequest, user: Any, clinic_ids: list[int], level: str) -> HttpResponse:
    if "respond-async" not in request.headers.get("Prefer", "").lower():
        raise FhirError(
            400,
            "invalid",
            "respond_async_required",
            "A bulk export runs in the background: send the header Prefer: respond-async.",
        )
    sp.check_params(_params(request), EXPORT_PARAMS)
    for value in request.GET.getlist("_outputFormat"):
        if value.strip().replace(" ", "+").lower() not in OUTPUT_FORMATS:
            raise FhirError(
                400,
                "not-supported",
                "unsupported_output_format",
                "This server exports NDJSON only (_outputFormat=application/fhir+ndjson).",
            )
    types = _export_types(request)
    since = _since(request)
    try:
        export = bulk.export_kickoff(
            user=user,
            level=level,
            clinic_ids=clinic_ids,
            types=types,
            since=since,
            request_url=f"{refs.base_url()}{request.get_full_path()[len('/fhir/r4') :]}",
        )
    except bulk.ExportRefused as refused:
        raise FhirError(refused.status, "too-costly", refused.code, refused.message) from refused
    response = fhir_response(
        operation_outcome(
            "informational",
            "export_accepted",
            "The export was accepted and runs in the background; poll the Content-Location URL.",
            severity="information",
        ),
        202,
    )
    response["Content-Location"] = f"{refs.base_url()}/$export-status/{export.pk}"
    return response


def _bulk_clinics(user: Any) -> list[int]:
    return clinic_ids_for(user, BULK_EXPORT)


def _still_admin(user: Any, export: Any) -> None:
    """The files of an export are given only while its user is still a clinic admin of every
    clinic it covers: a role withdrawn after the kick-off withdraws the download too."""
    if not set(export.clinic_ids) <= set(_bulk_clinics(user)):
        api_denied(actor=user, operation="fhir_export_file", reason="role")
        raise FhirError(403, "forbidden", "forbidden", "Only a clinic admin may export a whole clinic.")


@fhir_endpoint(PATIENT_READ)
def export_system(request: HttpRequest, *, user: Any, clinic_ids: set[int]) -> HttpResponse:
    """``GET $export``: every clinic where the user is a clinic admin."""
    allowed = _bulk_clinics(user)
    if not allowed:
        api_denied(actor=user, operation="fhir_export", reason="role")
        raise FhirError(403, "forbidden", "forbidden", "Only a clinic admin may export a whole clinic.")
    return _kickoff(request, user, allowed, "system")


@fhir_endpoint(PATIENT_READ)
def export_group(request: HttpRequest, *, user: Any, clinic_ids: set[int], group: str) -> HttpResponse:
    """``GET Group/{clinic slug}/$export``: one clinic (a Group per clinic)."""
    clinic_id = (
        Clinic.objects.filter(slug=group, pk__in=sorted(clinic_ids)).values_list("pk", flat=True).first()
        if len(group) <= 50
        else None
    )
    if clinic_id is None:
        raise not_found()  # no such clinic, or one where the user reads nothing: alike
    if clinic_id not in _bulk_clinics(user):
        api_denied(actor=user, operation="fhir_export", reason="role")
        raise FhirError(403, "forbidden", "forbidden", "Only a clinic admin may export a whole clinic.")
    return _kickoff(request, user, [clinic_id], "group")


@fhir_endpoint(PATIENT_READ, methods=("GET", "DELETE"))
def export_status(request: HttpRequest, *, user: Any, clinic_ids: set[int], export_id: str) -> HttpResponse:
    """The status URL: 202 with ``X-Progress`` while it runs, 200 with the manifest when done,
    the failure as an OperationOutcome; ``DELETE`` cancels it or deletes its files (202)."""
    export = bulk.export_for_user(export_id=export_id, user=user)
    if export is None or export.status == ExportStatus.CANCELLED:
        raise not_found()
    if request.method == "DELETE":
        cancelled = bulk.export_cancel(export=export, user=user)
        words = "cancelled" if cancelled.status == ExportStatus.CANCELLED else "deleted with its files"
        return fhir_response(
            operation_outcome(
                "informational", "export_deleted", f"The export was {words}.", severity="information"
            ),
            202,
        )
    if export.status in bulk.OPEN:
        response = HttpResponse(status=202)
        response["X-Progress"] = bulk.progress(export)
        response["Retry-After"] = str(RETRY_AFTER_S)
        return response
    if export.status == ExportStatus.EXPIRED or (export.expires_at and export.expires_at <= timezone.now()):
        raise FhirError(
            404, "not-found", "export_expired", "This export's files were deleted; ask for a new export."
        )
    if export.status == ExportStatus.FAILED:
        # The IG answers a failed export with an error status and an OperationOutcome.
        raise FhirError(
            500,
            "exception",
            "export_failed",
            "The export could not be completed and was given up; nothing was disclosed. Ask again.",
        )
    response = fhir_response(bulk.manifest(export))
    response["Content-Type"] = "application/json"
    response["Expires"] = export.expires_at.strftime("%a, %d %b %Y %H:%M:%S GMT")
    return response


@fhir_endpoint(PATIENT_READ)
def export_file(request: HttpRequest, *, user: Any, clinic_ids: set[int], file_id: str) -> HttpResponse:
    """One NDJSON file of the user's own completed export; anyone else's, or an expired one: 404."""
    found = bulk.file_for_user(file_id=file_id, user=user)
    if found is None:
        raise not_found()
    _still_admin(user, found.export)
    audit_record(
        actor=user,
        action="read",
        object_type="fhir_bulk_file",
        object_id=str(found.pk),
        detail={
            "interface": "fhir",
            "export": str(found.export_id),
            "type": found.resource_type,
            "count": found.count,
        },
    )
    response = HttpResponse(found.content.encode(), content_type=f"{NDJSON}; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{found.resource_type}-{found.part}.ndjson"'
    return response
