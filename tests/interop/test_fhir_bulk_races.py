"""FHIR bulk exports under concurrency, on PostgreSQL: copies of one step delivered at once do
the step once; a cancellation during a step leaves no file; kick-offs at once keep the limit."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from kapstone.accounts.models import Role
from kapstone.audit.models import Disclosure
from kapstone.interop.fhir import bulk
from kapstone.interop.models import BulkExport, BulkExportFile, ExportStatus
from tests.conftest import make_user, new_patient

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions: PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]


def at_once(count: int, work) -> list:
    barrier = threading.Barrier(count)
    results: list = []

    def run(index: int):
        try:
            barrier.wait(timeout=10)
            results.append(work(index))
        except Exception as error:  # reported by the assertions of each test
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == count
    return results


@pytest.fixture
def admin_and_patients(alice, clinic_a):
    for n in range(3):
        new_patient(alice, clinic_a, mrn=f"A-{n + 1}")
    return make_user("adam", clinic_a, Role.ADMIN)


def kick(adam, clinic_a):
    return bulk.export_kickoff(
        user=adam, level="group", clinic_ids=[clinic_a.pk], types=["Patient"], since=None, request_url="x"
    )


def test_copies_of_one_step_at_once_do_it_once(admin_and_patients, clinic_a):
    export = kick(admin_and_patients, clinic_a)
    results = at_once(4, lambda _: bulk.export_step(str(export.pk)))
    done = [r for r in results if isinstance(r, str) and r.endswith("complete")]
    assert len(done) == 1, results
    assert all(isinstance(r, str) for r in results), results
    assert BulkExportFile.objects.count() == 1 and BulkExportFile.objects.get().count == 3
    assert Disclosure.objects.count() == 1


def test_kickoffs_at_once_keep_the_limit_per_user(admin_and_patients, clinic_a):
    results = at_once(4, lambda _: kick(admin_and_patients, clinic_a))
    refused = [r for r in results if isinstance(r, bulk.ExportRefused)]
    assert len(refused) == 2 and {r.code for r in refused} == {"too_many_exports"}, results
    assert BulkExport.objects.count() == bulk.OPEN_PER_USER


def test_a_cancellation_during_a_step_leaves_no_file_and_no_disclosure(admin_and_patients, clinic_a):
    export = kick(admin_and_patients, clinic_a)
    results = at_once(
        2,
        lambda index: (
            bulk.export_step(str(export.pk))
            if index == 0
            else bulk.export_cancel(export=export, user=admin_and_patients)
        ),
    )
    export.refresh_from_db()
    # Whichever came first, the end is coherent: cancelled with nothing kept, or completed and
    # then its files deleted (expired) with its disclosure recorded.
    if export.status == ExportStatus.CANCELLED:
        assert BulkExportFile.objects.count() == 0 and Disclosure.objects.count() == 0
    else:
        assert export.status == ExportStatus.EXPIRED, results
        assert BulkExportFile.objects.count() == 0 and Disclosure.objects.count() == 1
    assert not [r for r in results if isinstance(r, Exception)], results
