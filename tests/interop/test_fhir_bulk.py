"""FHIR bulk export (Bulk Data Access IG): the kick-off and its refusals, the state machine
(accepted → running → completed → expired; cancelled; failed after three attempts), the status
answers, the files (NDJSON that validates, for the same user only), the one disclosure with its
patients, and the sweep that takes up a lost step and deletes expired files.

The worker is stood in for by :func:`run_queued`, which takes the tasks django-q2 queued in the
database and calls them as the worker would; tests/operations/test_worker_process.py-style, one
test runs a real ``kapstone worker`` over an export.
"""

from __future__ import annotations

import importlib
import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import OrmQ

from kapstone.accounts.models import Role
from kapstone.audit.models import AuditEvent, Disclosure
from kapstone.interop.fhir import bulk, registry
from kapstone.interop.models import BulkExport, BulkExportFile, ExportStatus
from kapstone.patients.services import diagnosis_add
from tests.conftest import make_user, new_patient
from tests.interop.conftest import FhirClient, outcome_of, validate

pytestmark = pytest.mark.django_db

ASYNC = {"HTTP_PREFER": "respond-async", "HTTP_ACCEPT": "application/fhir+json"}


def run_queued() -> list[str]:
    """Run every task waiting in django-q2's database queue, oldest first, as the worker does
    (tasks queued meanwhile included); what each returned."""
    done = []
    while (row := OrmQ.objects.order_by("id").first()) is not None:
        task = row.task
        row.delete()
        module, name = task["func"].rsplit(".", 1)
        done.append(getattr(importlib.import_module(module), name)(*task["args"], **task["kwargs"]))
    return done


def status_path(response) -> str:
    assert response.status_code == 202, response.content[:300]
    body = response.json()
    validate(body)
    assert body["issue"][0]["severity"] == "information"
    assert body["issue"][0]["details"]["coding"][0]["code"] == "export_accepted"
    location = response["Content-Location"]
    assert location.startswith("http") and "/fhir/r4/$export-status/" in location
    return location.split("/fhir/r4", 1)[1]


def file_path(url: str) -> str:
    return url.split("/fhir/r4", 1)[1]


@pytest.fixture
def records(alice, clinic_a, patient_a):
    """Clinic A: two patients (one with a diagnosis); clinic B's admin and patient elsewhere."""
    diagnosis_add(actor=alice, patient=patient_a, code="F10.20", is_primary=True)
    second = new_patient(alice, clinic_a, mrn="A-1002", given_name="Blake", family_name="Quillfeather")
    return patient_a, second


@pytest.fixture
def kickoff(adam, records, django_capture_on_commit_callbacks):
    """Adam (clinic A's admin) asks for clinic A's export; the first step is queued."""

    def start(path="/Group/a/$export", params=None, user=adam):
        with django_capture_on_commit_callbacks(execute=True):
            return FhirClient(user).get(path, params, **ASYNC)

    return start


def test_the_whole_export_of_a_clinic_validates_and_is_disclosed_once(adam, records, kickoff):
    patient_a, second = records
    fhir = FhirClient(adam)
    status = status_path(kickoff())
    export = BulkExport.objects.get()
    assert (export.status, export.level, export.requested_by) == (ExportStatus.ACCEPTED, "group", adam)
    assert OrmQ.objects.count() == 1 and OrmQ.objects.get().task["func"] == bulk.TASK
    waiting = fhir.get(status)
    assert waiting.status_code == 202 and waiting["X-Progress"] == "queued" and waiting["Retry-After"] == "5"

    # What a clinician's $everything gives of each patient is what the files must hold.
    expected: dict[str, list[dict]] = {}
    for patient in records:
        for entry in FhirClient(adam).get(f"/Patient/{patient.pk}/$everything").json()["entry"]:
            expected.setdefault(entry["resource"]["resourceType"], []).append(entry["resource"])
    total = sum(len(v) for v in expected.values())
    assert {"Patient", "Condition"} <= set(expected)

    assert run_queued() == [f"2 patient(s), {total} resource(s) written; complete"]
    response = fhir.get(status)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert response["Expires"]
    manifest = response.json()
    assert manifest["requiresAccessToken"] is True and manifest["error"] == []
    assert manifest["request"].endswith("/fhir/r4/Group/a/$export")
    assert {o["type"]: o["count"] for o in manifest["output"]} == {k: len(v) for k, v in expected.items()}
    lines: dict[str, list[dict]] = {}
    for output in manifest["output"]:
        got = fhir.get(file_path(output["url"]))
        assert got.status_code == 200 and got["Content-Type"].startswith("application/fhir+ndjson")
        text = got.content.decode()
        assert text.endswith("\n") and len(text.splitlines()) == output["count"]
        lines[output["type"]] = [json.loads(line) for line in text.splitlines()]
        for resource in lines[output["type"]]:
            assert resource["resourceType"] == output["type"]
            validate(resource)
    assert lines == expected

    # One disclosure, to adam for the clinic's operations, naming both patients.
    disclosure = Disclosure.objects.get(kind="fhir_bulk_export")
    assert (disclosure.kind, disclosure.purpose, disclosure.recipient) == (
        "fhir_bulk_export",
        "operations",
        "adam (admin)",
    )
    assert (disclosure.row_count, disclosure.patient_count) == (total, 2)
    assert sorted(disclosure.patients.values_list("patient_id", flat=True)) == sorted(
        [patient_a.pk, second.pk]
    )
    assert disclosure.audit_event.object_type == "fhir_bulk_export"
    assert disclosure.audit_event.detail["counts"] == {k: len(v) for k, v in expected.items()}
    # The kick-off and each file downloaded leave their own audit rows.
    assert AuditEvent.objects.filter(actor=adam, action="create", object_type="fhir_bulk_export").count() == 1
    assert AuditEvent.objects.filter(actor=adam, action="read", object_type="fhir_bulk_file").count() == len(
        manifest["output"]
    )


def test_steps_cut_a_large_export_and_report_progress(adam, records, kickoff, settings, clinic_a, alice):
    new_patient(alice, clinic_a, mrn="A-1003", given_name="Casey", family_name="Vantwerp")
    settings.FHIR_EXPORT_STEP_PATIENTS = 2
    status = status_path(kickoff("/$export", {"_type": "Patient"}))
    task = OrmQ.objects.get().task
    OrmQ.objects.all().delete()
    assert bulk.export_step(*task["args"]) == "2 patient(s), 2 resource(s) written; more to do"
    response = FhirClient(adam).get(status)
    assert response.status_code == 202 and response["X-Progress"] == "66% (2 of 3 patients)"
    assert OrmQ.objects.count() == 1  # the next step is queued by the one before
    assert run_queued() == ["1 patient(s), 1 resource(s) written; complete"]
    manifest = FhirClient(adam).get(status).json()
    assert [(o["type"], o["count"]) for o in manifest["output"]] == [("Patient", 2), ("Patient", 1)]
    assert Disclosure.objects.get().patient_count == 3


def test_type_and_since_narrow_the_export_and_the_disclosure(adam, records, kickoff):
    status_path(kickoff(params={"_type": "Condition, Patient", "_outputFormat": "application/fhir+ndjson"}))
    run_queued()
    export = BulkExport.objects.get()
    assert export.types == ["Patient", "Condition"]  # the registry's order
    assert set(export.counts) == {"Patient", "Condition"}
    # Since a moment after every record: nothing changed, no patient disclosed.
    later = (timezone.now() + timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")
    status = status_path(kickoff(params={"_since": later}))
    run_queued()
    manifest = FhirClient(adam).get(status).json()
    assert manifest["output"] == []
    assert Disclosure.objects.order_by("-id").first().patient_count == 0


@pytest.mark.parametrize(
    "params, headers, code",
    [
        ({}, {}, "respond_async_required"),
        ({"_outputFormat": "text/csv"}, ASYNC, "unsupported_output_format"),
        ({"_type": "Patient,Spaceship"}, ASYNC, "unsupported_type"),
        ({"_typeFilter": "Patient?name=x"}, ASYNC, "unknown_search_parameter"),
        ({"patient": "Patient/1"}, ASYNC, "unknown_search_parameter"),
        ({"_since": "yesterday"}, ASYNC, "invalid_date"),
    ],
)
def test_a_malformed_kickoff_is_400_and_nothing_is_queued(adam, records, params, headers, code):
    response = FhirClient(adam).get("/Group/a/$export", params, **headers)
    body = outcome_of(response, 400, response.json()["issue"][0]["code"], code)
    assert body["issue"][0]["details"]["text"]
    assert BulkExport.objects.count() == 0 and OrmQ.objects.count() == 0
    assert not AuditEvent.objects.filter(object_type="fhir_bulk_export").exists()


def test_only_a_clinic_admin_may_export_and_only_their_clinic(
    alice, bob, nina, carol, clinic_b, records, client
):
    for user in (alice, nina):  # clinicians read one patient at a time
        for path in ("/$export", "/Group/a/$export"):
            outcome_of(FhirClient(user).get(path, **ASYNC), 403, "forbidden", "forbidden")
    outcome_of(FhirClient(bob).get("/$export", **ASYNC), 403, "forbidden")  # the researcher
    outcome_of(client.get("/fhir/r4/$export", **ASYNC), 401, "login")
    # Clinic B's admin: clinic A's group is as missing as a group that does not exist.
    bea = make_user("bea", clinic_b, Role.ADMIN)
    theirs = outcome_of(FhirClient(bea).get("/Group/a/$export", **ASYNC), 404, "not-found", "not_found")
    missing = outcome_of(FhirClient(bea).get("/Group/zz/$export", **ASYNC), 404, "not-found")
    assert theirs == missing
    assert BulkExport.objects.count() == 0
    assert AuditEvent.objects.filter(action="denied", object_type="api").count() == 5


def test_system_export_covers_every_clinic_where_the_user_is_admin(
    adam, clinic_b, patient_b, records, kickoff
):
    kickoff("/$export", {"_type": "Patient"})
    run_queued()
    assert BulkExport.objects.get().clinic_ids == [adam.memberships.get().clinic_id]
    assert Disclosure.objects.get().patient_count == 2  # clinic B's patient is not adam's
    from kapstone.accounts.services import membership_set

    membership_set(actor=None, user=adam, clinic=clinic_b, role=Role.ADMIN)
    kickoff("/$export", {"_type": "Patient"})
    run_queued()
    assert Disclosure.objects.order_by("-id").first().patient_count == 3


def test_status_and_files_are_the_requesting_users_alone(adam, alice, clinic_a, records, kickoff):
    status = status_path(kickoff())
    run_queued()
    urls = [file_path(o["url"]) for o in FhirClient(adam).get(status).json()["output"]]
    other_admin = make_user("ada", clinic_a, Role.ADMIN)
    for user in (alice, other_admin):
        outcome_of(FhirClient(user).get(status), 404, "not-found", "not_found")
        outcome_of(FhirClient(user).request("DELETE", status), 404, "not-found")
        for url in urls:
            outcome_of(FhirClient(user).get(url), 404, "not-found", "not_found")
    outcome_of(FhirClient(adam).get("/$export-status/not-a-uuid"), 404, "not-found")
    outcome_of(FhirClient(adam).get("/$export-file/00000000-0000-0000-0000-000000000000"), 404, "not-found")
    assert (
        BulkExportFile.objects.count() == len(urls)
        and BulkExport.objects.get().status == ExportStatus.COMPLETED
    )
    outcome_of(FhirClient(adam).request("POST", status), 405, "not-supported", "method_not_allowed")


def test_delete_cancels_an_open_export_and_nothing_is_written_or_disclosed(adam, records, kickoff):
    status = status_path(kickoff())
    response = FhirClient(adam).request("DELETE", status)
    assert response.status_code == 202
    assert response.json()["issue"][0]["details"]["text"] == "The export was cancelled."
    assert BulkExport.objects.get().status == ExportStatus.CANCELLED
    assert run_queued() == ["not run: finished, cancelled or taken by another step"]
    outcome_of(FhirClient(adam).get(status), 404, "not-found")
    assert BulkExportFile.objects.count() == 0 and Disclosure.objects.count() == 0
    assert AuditEvent.objects.filter(action="void", object_type="fhir_bulk_export").count() == 1


def test_delete_of_a_completed_export_deletes_its_files_at_once(adam, records, kickoff):
    status = status_path(kickoff())
    run_queued()
    urls = [file_path(o["url"]) for o in FhirClient(adam).get(status).json()["output"]]
    deleted = FhirClient(adam).request("DELETE", status)
    assert deleted.status_code == 202
    assert deleted.json()["issue"][0]["details"]["text"] == "The export was deleted with its files."
    assert BulkExportFile.objects.count() == 0
    outcome_of(FhirClient(adam).get(status), 404, "not-found", "export_expired")
    for url in urls:
        outcome_of(FhirClient(adam).get(url), 404, "not-found", "not_found")
    assert Disclosure.objects.count() == 1  # what was disclosed stays disclosed


def test_files_expire_after_the_keep_time_and_the_sweep_deletes_them(adam, records, kickoff, settings):
    status = status_path(kickoff())
    run_queued()
    export = BulkExport.objects.get()
    kept = export.expires_at - export.finished_at
    assert kept == timedelta(hours=settings.FHIR_EXPORT_KEEP_HOURS)
    url = file_path(FhirClient(adam).get(status).json()["output"][0]["url"])
    assert bulk.exports_sweep(now=export.expires_at - timedelta(seconds=1)) == {"expired": 0, "requeued": 0}
    assert BulkExportFile.objects.count() > 0
    assert bulk.exports_sweep(now=export.expires_at) == {"expired": 1, "requeued": 0}
    assert BulkExportFile.objects.count() == 0
    assert BulkExport.objects.get().status == ExportStatus.EXPIRED
    outcome_of(FhirClient(adam).get(status), 404, "not-found", "export_expired")
    outcome_of(FhirClient(adam).get(url), 404, "not-found")


def test_the_sweep_takes_up_an_export_whose_step_was_lost_but_not_one_in_hand(
    adam, records, kickoff, django_capture_on_commit_callbacks
):
    kickoff()
    OrmQ.objects.all().delete()  # the queued step is lost
    export = BulkExport.objects.get()
    soon = export.touched_at + timedelta(seconds=bulk.IDLE_S - 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert bulk.exports_sweep(now=soon)["requeued"] == 0
    later = export.touched_at + timedelta(seconds=bulk.IDLE_S + 1)
    # A step in hand (its lease running) is left alone however long it takes.
    BulkExport.objects.update(status=ExportStatus.RUNNING, lease_until=later + timedelta(minutes=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert bulk.exports_sweep(now=later)["requeued"] == 0
    # Its worker died: the lease ran out.
    BulkExport.objects.update(lease_until=timezone.now() - timedelta(seconds=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert bulk.exports_sweep(now=later)["requeued"] == 1
    assert run_queued()[0].endswith("written; complete")
    assert BulkExport.objects.get().status == ExportStatus.COMPLETED


def test_a_step_that_fails_is_tried_again_then_given_up_without_disclosure(
    adam, records, kickoff, monkeypatch
):
    status = status_path(kickoff())
    task = OrmQ.objects.get().task
    OrmQ.objects.all().delete()

    def broken(patient, *, since=None):
        raise RuntimeError("Zzyzxfield")  # a message that may quote a value: never stored

    monkeypatch.setattr(registry.resource_module("Condition"), "for_patient", broken)
    for attempt in range(1, bulk.STEP_ATTEMPTS):
        assert bulk.export_step(*task["args"]) == "step failed (RuntimeError); to be tried again"
        export = BulkExport.objects.get()
        assert (export.status, export.failures, export.lease_until) == (ExportStatus.RUNNING, attempt, None)
        assert export.cursor == 0 and BulkExportFile.objects.count() == 0  # the step rolled back
        assert FhirClient(adam).get(status).status_code == 202
    assert bulk.export_step(*task["args"]) == f"failed: given up after {bulk.STEP_ATTEMPTS} attempts"
    export = BulkExport.objects.get()
    assert (export.status, export.error_code) == (ExportStatus.FAILED, "RuntimeError")
    body = outcome_of(FhirClient(adam).get(status), 500, "exception", "export_failed")
    assert "Zzyzxfield" not in json.dumps(body)
    assert Disclosure.objects.count() == 0 and BulkExportFile.objects.count() == 0
    assert bulk.export_step(*task["args"]) == "not run: finished, cancelled or taken by another step"


def test_a_user_may_have_two_exports_in_progress_not_three(adam, records, kickoff):
    status_path(kickoff())
    status_path(kickoff())
    body = outcome_of(kickoff(), 429, "too-costly", "too_many_exports")
    assert "cancel" in body["issue"][0]["details"]["text"]
    assert BulkExport.objects.count() == 2
    run_queued()
    status_path(kickoff())  # finished ones do not count


def test_a_step_of_an_unknown_export_does_nothing(db):
    assert bulk.export_step("not-a-uuid") == "not run: no such export"
    assert bulk.export_step("00000000-0000-0000-0000-000000000000").startswith("not run")


def test_the_capability_statement_declares_the_exports(client):
    statement = client.get("/fhir/r4/metadata").json()
    validate(statement)
    rest = statement["rest"][0]
    assert rest["operation"] == [
        {"name": "export", "definition": "http://hl7.org/fhir/uv/bulkdata/OperationDefinition/export"}
    ]
    group = next(r for r in rest["resource"] if r["type"] == "Group")
    assert group["operation"][0]["name"] == "export"
    assert "interaction" not in group  # the Group resource itself is not served


def test_a_withdrawn_admin_role_withdraws_the_download(adam, records, kickoff, clinic_a):
    from kapstone.accounts.models import Membership

    status = status_path(kickoff())
    run_queued()
    url = file_path(FhirClient(adam).get(status).json()["output"][0]["url"])
    fhir = FhirClient(adam)
    Membership.objects.filter(user=adam, clinic=clinic_a).update(role=Role.NURSE)
    outcome_of(fhir.get(url), 403, "forbidden", "forbidden")
    assert not AuditEvent.objects.filter(actor=adam, object_type="fhir_bulk_file").exists()
    assert AuditEvent.objects.filter(actor=adam, action="denied", object_type="api").count() == 1


def test_a_next_step_that_cannot_be_queued_is_left_to_the_sweep(
    adam, records, kickoff, settings, monkeypatch, django_capture_on_commit_callbacks
):
    settings.FHIR_EXPORT_STEP_PATIENTS = 1
    kickoff()
    task = OrmQ.objects.get().task
    OrmQ.objects.all().delete()

    def queue_down(export_id):
        raise ConnectionError("queue unreachable")

    monkeypatch.setattr(bulk, "export_enqueue", queue_down)
    assert bulk.export_step(*task["args"]).endswith("written; more to do")  # no exception escapes
    export = BulkExport.objects.get()
    assert (export.cursor, export.status, export.lease_until) == (1, ExportStatus.RUNNING, None)
    monkeypatch.undo()
    later = export.touched_at + timedelta(seconds=bulk.IDLE_S + 1)
    with django_capture_on_commit_callbacks(execute=True):
        assert bulk.exports_sweep(now=later)["requeued"] == 1
    assert run_queued()[-1].endswith("complete")
