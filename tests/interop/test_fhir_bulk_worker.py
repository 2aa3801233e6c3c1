"""A FHIR bulk export carried out by the real ``kapstone worker``, as a process of its own: the
kick-off queues its first step in the database, the worker runs the steps (three here, two
patients each) and completes the export with its files and its one disclosure."""

from __future__ import annotations

import pytest

from kapstone.accounts.models import Role
from kapstone.interop.fhir import bulk
from tests.conftest import make_user, new_patient
from tests.operations.test_worker_process import WorkerDatabase, start_worker, stop, wait_for

pytestmark = pytest.mark.django_db(transaction=True)


def test_the_worker_carries_an_export_through_its_steps_to_the_end(alice, clinic_a, tmp_path):
    adam = make_user("adam", clinic_a, Role.ADMIN)
    for n in range(5):
        new_patient(alice, clinic_a, mrn=f"A-{n + 1}")
    export = bulk.export_kickoff(
        user=adam, level="group", clinic_ids=[clinic_a.pk], types=["Patient"], since=None, request_url="x"
    )
    database = WorkerDatabase(tmp_path)
    assert database.value("SELECT COUNT(*) FROM django_q_ormq") == 1
    key = export.pk.hex if database.file is not None else str(export.pk)

    def status() -> str:
        return database.value("SELECT status FROM interop_bulkexport WHERE id = %s", (key,))

    worker = start_worker(database, tmp_path, "worker", KAPSTONE_FHIR_EXPORT_STEP_PATIENTS="2")
    try:
        wait_for(lambda: status() == "completed", "the export's completion", worker, tmp_path, "worker")
    finally:
        code = stop(worker, tmp_path, "worker")
    assert code == 0, (tmp_path / "worker.log").read_text()[-3000:]
    assert database.value("SELECT steps FROM interop_bulkexport WHERE id = %s", (key,)) == 3
    assert database.value("SELECT COUNT(*) FROM interop_bulkexportfile") == 3
    assert database.value("SELECT SUM(count) FROM interop_bulkexportfile") == 5
    assert database.value("SELECT COUNT(*) FROM audit_disclosure WHERE kind = 'fhir_bulk_export'") == 1
    assert database.value("SELECT patient_count FROM audit_disclosure") == 5
