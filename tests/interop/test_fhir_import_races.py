"""Two imports of the same new patient at once, on PostgreSQL: the MRN's unique constraint
decides; exactly one Bundle is written, the other is refused whole."""

from __future__ import annotations

import threading

import pytest
from django.db import connection

from kapstone.audit.models import AuditEvent
from kapstone.interop.fhir.importer import Refused, import_bundle
from kapstone.patients.models import BodyMeasurement, Diagnosis, Patient
from tests.interop.fhir_import import PATIENT_URL, condition, entry, patient, transaction, weight

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(connection.vendor != "postgresql", reason="concurrent transactions: PostgreSQL only"),
    pytest.mark.django_db(transaction=True),
]


def test_two_imports_of_one_new_patient_at_once_write_one(alice, nina, clinic_a):
    bundle = transaction(entry(patient(clinic_a, "A-5001"), PATIENT_URL), entry(condition()), entry(weight()))
    barrier = threading.Barrier(2)
    results: list[object] = []

    def send(user):
        try:
            barrier.wait(timeout=10)
            results.append(import_bundle(user=user, clinic=clinic_a, data=bundle))
        except Refused as refused:
            results.append(refused)
        finally:
            connection.close()

    threads = [threading.Thread(target=send, args=(user,)) for user in (alice, nina)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(results) == 2
    written = [r for r in results if isinstance(r, dict)]
    refused = [r for r in results if isinstance(r, Refused)]
    assert len(written) == 1 and len(refused) == 1, results
    # Refused by the service: the MRN taken under it, or (had it started after the first
    # committed) the diagnosis already on the matched chart.
    assert {i.code for i in refused[0].issues} <= {"mrn_taken", "diagnosis_duplicate"}
    created = Patient.objects.get(clinic=clinic_a, mrn="A-5001")
    assert Diagnosis.objects.filter(patient=created).count() == 1
    assert BodyMeasurement.objects.filter(patient=created).count() == 1
    assert AuditEvent.objects.filter(object_type="fhir_import").count() == 1
