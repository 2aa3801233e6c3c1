"""Liver test results on the patient record (web form, API, void) and the dose-order gate that
reads them (dosing/liver_gate.py)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from kapstone.domain.errors import WorkflowConflict
from kapstone.patients.models import LiverTest
from kapstone.patients.services import clinic_today, liver_test_void
from tests.api.test_patients_api import Api, error_of
from tests.conftest import audit_count, record_liver_panel

pytestmark = pytest.mark.django_db

FORM = {"test": "alt", "value": "31", "unit": "U/L", "upper_limit": "40"}


class TestWeb:
    def test_a_nurse_records_a_result_and_the_chart_shows_it(self, as_user, nina, patient_a):
        client = as_user(nina)
        url = reverse("patients:liver_test_add", args=[patient_a.pk])
        assert client.get(url).status_code == 200
        day = clinic_today(patient_a.clinic)
        response = client.post(url, FORM | {"taken_on": day.isoformat()})
        assert response.status_code == 302
        row = LiverTest.objects.get()
        assert (row.test, str(row.value), row.taken_on, row.clinic_id) == (
            "alt",
            "31.00",
            day,
            patient_a.clinic_id,
        )
        assert audit_count(action="create", object_type="liver_test", object_id=row.pk, actor=nina) == 1
        body = client.get(reverse("patients:chart", args=[patient_a.pk])).content.decode()
        assert "Liver tests" in body and "31.00 U/L" in body and "0.8 × upper limit" in body

    def test_bad_input_keeps_it_and_writes_nothing(self, as_user, nina, patient_a):
        future = (clinic_today(patient_a.clinic) + timedelta(days=1)).isoformat()
        response = as_user(nina).post(
            reverse("patients:liver_test_add", args=[patient_a.pk]), FORM | {"taken_on": future}
        )
        assert response.status_code == 400
        body = response.content.decode()
        assert "date_in_future" in body and 'value="31"' in body
        response = as_user(nina).post(
            reverse("patients:liver_test_add", args=[patient_a.pk]),
            FORM | {"unit": "mg/dL", "taken_on": clinic_today(patient_a.clinic).isoformat()},
        )
        assert response.status_code == 400 and "unit_not_for_test" in response.content.decode()
        assert LiverTest.objects.count() == 0

    def test_another_clinic_gets_404_and_a_denied_row(self, as_user, carol, patient_a, nina):
        row = record_liver_panel(nina, patient_a)[0]
        client = as_user(carol)
        assert client.get(reverse("patients:liver_test_add", args=[patient_a.pk])).status_code == 404
        response = client.post(
            reverse("patients:liver_test_void", args=[patient_a.pk, row.pk]), {"reason": "wrong"}
        )
        assert response.status_code == 404 and "Zzyzxfield" not in response.content.decode()
        assert audit_count(action="denied", object_type="liver_test", object_id=row.pk, actor=carol) == 1
        assert LiverTest.objects.filter(voided_at__isnull=False).count() == 0

    def test_void_keeps_the_row_struck_through(self, as_user, nina, patient_a):
        row = record_liver_panel(nina, patient_a)[0]
        client = as_user(nina)
        url = reverse("patients:liver_test_void", args=[patient_a.pk, row.pk])
        assert client.post(url, {"reason": ""}).status_code == 400
        assert client.post(url, {"reason": "Another patient's report."}).status_code == 302
        row.refresh_from_db()
        assert row.voided_by == nina and row.void_reason == "Another patient's report."
        assert audit_count(action="void", object_type="liver_test", object_id=row.pk) == 1
        with pytest.raises(WorkflowConflict) as error:
            liver_test_void(actor=nina, liver_test=row, reason="again")
        assert error.value.code == "already_voided"

    def test_the_read_only_role_may_not_record(self, as_user, bob, patient_a):
        response = as_user(bob).post(reverse("patients:liver_test_add", args=[patient_a.pk]), FORM)
        assert response.status_code in (403, 404) and LiverTest.objects.count() == 0


class TestApi:
    def test_record_and_list_in_pages(self, nina, patient_a):
        api = Api(nina)
        day = clinic_today(patient_a.clinic).isoformat()
        response = api.post(f"/patients/{patient_a.pk}/liver-tests", FORM | {"taken_on": day})
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["test"] == "alt" and body["value"] == 31.0 and body["upper_limit"] == 40.0
        record_liver_panel(nina, patient_a)
        page = api.get(f"/patients/{patient_a.pk}/liver-tests", limit=2)
        assert page.status_code == 200
        assert page.json()["count"] == 4 and len(page.json()["items"]) == 2
        assert audit_count(action="read", object_type="liver_test_list", patient_id=patient_a.pk) == 1

    def test_refusal_is_422_with_the_code_and_writes_nothing(self, nina, patient_a):
        day = clinic_today(patient_a.clinic).isoformat()
        response = Api(nina).post(
            f"/patients/{patient_a.pk}/liver-tests", FORM | {"value": "-3", "taken_on": day}
        )
        assert response.status_code == 422
        assert error_of(response)["code"] == "value_out_of_range"
        assert LiverTest.objects.count() == 0

    def test_another_clinic_is_404_with_a_denied_row(self, carol, patient_a):
        response = Api(carol).get(f"/patients/{patient_a.pk}/liver-tests")
        assert response.status_code == 404
        assert "Zzyzxfield" not in response.content.decode()
        assert audit_count(action="denied", object_type="patient", patient_id=patient_a.pk, actor=carol) == 1

    def test_void(self, nina, patient_a):
        row = record_liver_panel(nina, patient_a)[0]
        response = Api(nina).post(f"/patients/{patient_a.pk}/liver-tests/{row.pk}/void", {"reason": "Typo."})
        assert response.status_code == 200 and response.json()["void_reason"] == "Typo."
