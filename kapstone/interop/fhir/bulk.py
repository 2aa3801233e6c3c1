"""FHIR bulk export (the FHIR Bulk Data Access IG, v2: "kick-off", "status", "complete"): a
clinic admin's copy of whole clinics as NDJSON files, built in the background.

The life of an export (``BulkExport.status``)::

    accepted ──► running ──► completed ──► expired      (files deleted after the keep time)
        │           │  ▲
        │           ▼  │ failed step: again, up to STEP_ATTEMPTS
        │         failed
        └───────────┴──► cancelled                        (DELETE on the status URL)

- :func:`export_kickoff` (``GET /fhir/r4/$export``) writes the row and queues the first step.
- :func:`export_step` is the worker's task: it takes the export for ``FHIR_EXPORT_STEP_PATIENTS`` (250)
  patients, writes one NDJSON file per resource type for them, moves the cursor and queues the
  next step, all in one transaction; so a worker that dies leaves nothing half-written, and an
  export of any size is made of steps far shorter than the job timeout. The last step writes
  the export's audit event and its disclosure (one, with every patient it included) in the same
  transaction as the status ``completed``.
- :func:`exports_sweep` (the ``fhir_bulk_exports`` job, every minute) queues again an export
  whose step was lost, and deletes the files of expired exports.

The resources are those of ``$everything``: each type's ``for_patient`` (registry.py), so the
files hold exactly what a clinician's read would, no second path to the data.
"""

from __future__ import annotations

import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from kapstone.accounts.access import BULK_EXPORT
from kapstone.accounts.selectors import memberships_of
from kapstone.audit.disclosures import disclosure_record
from kapstone.audit.services import audit_record
from kapstone.interop.fhir import registry
from kapstone.interop.models import BulkExport, BulkExportFile, ExportStatus
from kapstone.patients.models import Patient

logger = logging.getLogger("kapstone.interop.fhir")

#: Attempts of one step before the export is given up as failed.
STEP_ATTEMPTS = 3
#: Exports not yet finished that one user may have at once (more: 429).
OPEN_PER_USER = 2
#: An export with no step started or ended for this long is queued again by the sweep.
IDLE_S = 120
TASK = "kapstone.interop.fhir.bulk.export_step"
OPEN = (ExportStatus.ACCEPTED, ExportStatus.RUNNING)
KIND = "fhir_bulk_export"


class ExportRefused(Exception):
    """A kick-off the rules refuse (answered as an OperationOutcome by the API)."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


def export_kickoff(
    *,
    user: Any,
    level: str,
    clinic_ids: list[int],
    types: list[str],
    since: datetime | None,
    request_url: str,
    now: datetime | None = None,
) -> BulkExport:
    """Record the export of ``types`` of every patient of ``clinic_ids`` asked for by ``user``
    and queue its first step once committed. The caller has checked the user's rights to each
    clinic (:data:`BULK_EXPORT`); :data:`OPEN_PER_USER` unfinished exports refuse a third (429)."""
    now = now or timezone.now()
    with transaction.atomic():
        # Serialises one user's kick-offs on PostgreSQL, so two at once cannot both pass the limit.
        type(user).objects.select_for_update().filter(pk=user.pk).first()
        if BulkExport.objects.filter(requested_by=user, status__in=OPEN).count() >= OPEN_PER_USER:
            raise ExportRefused(
                429,
                "too_many_exports",
                f"You already have {OPEN_PER_USER} exports in progress; wait for one to finish "
                "or cancel it (DELETE on its status URL).",
            )
        export = BulkExport.objects.create(
            id=uuid.uuid4(),
            requested_by=user,
            level=level,
            clinic_ids=sorted(clinic_ids),
            types=[t for t in registry.resource_types() if t in set(types)],
            since=since,
            request_url=request_url[:2000],
            requested_at=now,
            touched_at=now,
        )
        audit_record(
            actor=user,
            action="create",
            object_type="fhir_bulk_export",
            object_id=str(export.pk),
            clinic_id=clinic_ids[0] if len(clinic_ids) == 1 else None,
            detail={"interface": "fhir", "level": level, "clinics": export.clinic_ids, "types": export.types},
        )
        transaction.on_commit(lambda: export_enqueue(export.pk))
    return export


def export_enqueue(export_id: uuid.UUID | str) -> None:
    """Queue one step of the export for the worker (django-q2's database queue)."""
    from django_q.tasks import async_task

    async_task(TASK, str(export_id), task_name=f"fhir-export-{export_id}", group="fhir_bulk_export")


def _claim(export_id: str, now: datetime) -> bool:
    """Take the export for one step: it must be open and not held by a live step."""
    lease = now + timedelta(seconds=settings.JOB_TIMEOUT_S)
    taken = (
        BulkExport.objects.filter(pk=export_id, status__in=OPEN)
        .filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now))
        .update(status=ExportStatus.RUNNING, lease_until=lease, touched_at=now)
    )
    if taken:
        BulkExport.objects.filter(pk=export_id, started_at__isnull=True).update(started_at=now)
    return bool(taken)


def export_step(export_id: str, now: datetime | None = None) -> str:
    """The worker's task: one step of the export (see the module's docstring). Never raises;
    returns what it did, in counts."""
    now = now or timezone.now()
    try:
        uuid.UUID(str(export_id))
    except ValueError:
        return "not run: no such export"
    if not _claim(export_id, now):
        return "not run: finished, cancelled or taken by another step"
    try:
        with transaction.atomic():
            outcome, more = _step(export_id, now)
    except _Cancelled:
        return "stopped: cancelled meanwhile"
    except Exception as error:  # recorded and tried again; the log has the class, never the values
        logger.error("FHIR bulk export %s: step failed (%s)", export_id, type(error).__name__)
        return _step_failed(export_id, error, now)
    if more:
        try:
            export_enqueue(export_id)
        except Exception as error:  # the step is kept; the sweep queues the next one (IDLE_S)
            logger.error("FHIR bulk export %s: next step not queued (%s)", export_id, type(error).__name__)
    return outcome


class _Cancelled(Exception):
    pass


def _step(export_id: str, now: datetime) -> tuple[str, bool]:
    # The row lock makes a cancellation wait for the step in hand (PostgreSQL), and the step
    # give up when the export was cancelled before it got the lock.
    export = BulkExport.objects.select_for_update().filter(pk=export_id, status=ExportStatus.RUNNING).first()
    if export is None:
        raise _Cancelled
    if export.patient_ids is None:
        export.patient_ids = list(
            Patient.objects.filter(clinic_id__in=export.clinic_ids)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
    batch = export.patient_ids[export.cursor : export.cursor + settings.FHIR_EXPORT_STEP_PATIENTS]
    patients = list(Patient.objects.filter(pk__in=batch).select_related("clinic").order_by("pk"))
    files = []
    included = set(export.included_ids)
    for resource_type in export.types:
        module = registry.resource_module(resource_type)
        lines = []
        for patient in patients:
            resources = module.for_patient(patient, since=export.since)
            if resources:
                included.add(patient.pk)
            lines += [json.dumps(r, ensure_ascii=False, separators=(",", ":")) for r in resources]
        if lines:
            files.append(
                BulkExportFile(
                    id=uuid.uuid4(),
                    export=export,
                    resource_type=resource_type,
                    part=export.steps + 1,
                    count=len(lines),
                    content="\n".join(lines) + "\n",
                    created_at=now,
                )
            )
            export.counts[resource_type] = export.counts.get(resource_type, 0) + len(lines)
    BulkExportFile.objects.bulk_create(files)
    export.included_ids = sorted(included)
    export.cursor += len(batch)
    export.steps += 1
    export.lease_until = None
    export.touched_at = timezone.now()
    more = export.cursor < len(export.patient_ids)
    if not more:
        _complete(export)
    export.save()
    written = sum(f.count for f in files)
    return (
        f"{len(batch)} patient(s), {written} resource(s) written; {'more to do' if more else 'complete'}",
        more,
    )


def _complete(export: BulkExport) -> None:
    """The last step: the status, the keep time, the audit event and the disclosure, together."""
    finished = timezone.now()
    export.status = ExportStatus.COMPLETED
    export.finished_at = finished
    export.expires_at = finished + timedelta(hours=settings.FHIR_EXPORT_KEEP_HOURS)
    user = export.requested_by
    clinics = dict(Patient.objects.filter(pk__in=export.included_ids).values_list("pk", "clinic_id"))
    total = sum(export.counts.values())
    summary = {
        "operation": "$export",
        "level": export.level,
        "clinics": export.clinic_ids,
        "types": export.types,
        "since": export.since.isoformat() if export.since else None,
    }
    event = audit_record(
        actor=user,
        action="export",
        object_type="fhir_bulk_export",
        object_id=str(export.pk),
        clinic_id=export.clinic_ids[0] if len(export.clinic_ids) == 1 else None,
        detail={**summary, "interface": "fhir", "counts": export.counts, "patients": len(clinics)},
    )
    roles = [
        m.role for m in memberships_of(user) if m.clinic_id in export.clinic_ids and m.role in BULK_EXPORT
    ]
    disclosure_record(
        actor=user,
        audit_event=event,
        recipient_role=", ".join(sorted(set(roles))) or "none",
        purpose="operations",
        kind=KIND,
        row_count=total,
        patients=sorted(clinics.items()),
        filter_summary=summary,
    )


def _step_failed(export_id: str, error: BaseException, now: datetime) -> str:
    with transaction.atomic():
        export = (
            BulkExport.objects.select_for_update().filter(pk=export_id, status=ExportStatus.RUNNING).first()
        )
        if export is None:
            return "stopped: cancelled meanwhile"
        export.failures += 1
        export.lease_until = None
        export.touched_at = timezone.now()
        if export.failures >= STEP_ATTEMPTS:
            export.status = ExportStatus.FAILED
            export.finished_at = export.touched_at
            export.error_code = type(error).__name__[:50]
            BulkExportFile.objects.filter(export=export).delete()
            export.save()
            return f"failed: given up after {STEP_ATTEMPTS} attempts"
        export.save()
    # Not queued again at once: the sweep takes it after IDLE_S, a back-off for a passing fault.
    return f"step failed ({type(error).__name__}); to be tried again"


def export_cancel(*, export: BulkExport, user: Any) -> BulkExport:
    """DELETE on the status URL: stop an open export, or delete the files of a finished one,
    at once (the IG's "delete a bulk data request"). The row stays, as the account of it."""
    with transaction.atomic():
        export = BulkExport.objects.select_for_update().get(pk=export.pk)
        deleted, _ = BulkExportFile.objects.filter(export=export).delete()
        if export.status in OPEN:
            export.status = ExportStatus.CANCELLED
            export.finished_at = timezone.now()
            export.lease_until = None
        elif export.status == ExportStatus.COMPLETED:
            export.status = ExportStatus.EXPIRED
            export.expires_at = timezone.now()
        export.save()
        audit_record(
            actor=user,
            action="void",
            object_type="fhir_bulk_export",
            object_id=str(export.pk),
            detail={"interface": "fhir", "status": export.status, "files_deleted": deleted},
        )
    return export


def exports_sweep(now: datetime | None = None) -> dict[str, int]:
    """The ``fhir_bulk_exports`` job: delete the files of exports past their keep time, and
    queue again every open export that no step has touched for :data:`IDLE_S` seconds (its
    queued step lost, or its worker killed: the lease tells a live step from a dead one)."""
    now = now or timezone.now()
    expired = 0
    for export in BulkExport.objects.filter(status=ExportStatus.COMPLETED, expires_at__lte=now):
        BulkExportFile.objects.filter(export=export).delete()
        BulkExport.objects.filter(pk=export.pk, status=ExportStatus.COMPLETED).update(
            status=ExportStatus.EXPIRED
        )
        expired += 1
    idle = BulkExport.objects.filter(status__in=OPEN, touched_at__lt=now - timedelta(seconds=IDLE_S)).filter(
        Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    )
    requeued = 0
    for export_id in idle.values_list("pk", flat=True):
        BulkExport.objects.filter(pk=export_id).update(touched_at=now)
        transaction.on_commit(lambda export_id=export_id: export_enqueue(export_id))
        requeued += 1
    return {"expired": expired, "requeued": requeued}


def export_for_user(*, export_id: Any, user: Any) -> BulkExport | None:
    """The export ``export_id`` if ``user`` asked for it (anyone else: None, answered 404)."""
    try:
        pk = uuid.UUID(str(export_id))
    except ValueError:
        return None
    return BulkExport.objects.filter(pk=pk, requested_by=user).first()


def file_for_user(*, file_id: Any, user: Any) -> BulkExportFile | None:
    """A file of a completed, unexpired export of ``user``'s (anyone else: None)."""
    try:
        pk = uuid.UUID(str(file_id))
    except ValueError:
        return None
    return (
        BulkExportFile.objects.select_related("export")
        .filter(
            pk=pk,
            export__requested_by=user,
            export__status=ExportStatus.COMPLETED,
            export__expires_at__gt=timezone.now(),
        )
        .first()
    )


def progress(export: BulkExport) -> str:
    """The ``X-Progress`` words of an open export: counts, never names."""
    if export.patient_ids is None:
        return "queued"
    total = len(export.patient_ids)
    percent = 100 * export.cursor // total if total else 100
    return f"{percent}% ({export.cursor} of {total} patients)"


def manifest(export: BulkExport) -> dict[str, Any]:
    """The complete-status body (Bulk Data IG "Response - Complete Status")."""
    from kapstone.interop.fhir import refs

    files = export.files.order_by("part", "resource_type").only("id", "resource_type", "count", "part")
    order = {t: i for i, t in enumerate(registry.resource_types())}
    outputs = sorted(files, key=lambda f: (order.get(f.resource_type, 99), f.part))
    return {
        "transactionTime": export.requested_at.isoformat().replace("+00:00", "Z"),
        "request": export.request_url,
        "requiresAccessToken": True,
        "output": [
            {"type": f.resource_type, "url": f"{refs.base_url()}/$export-file/{f.pk}", "count": f.count}
            for f in outputs
        ],
        "error": [],
    }
