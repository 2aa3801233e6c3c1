"""Patient list, search, chart, registration and amendment through the web UI."""

from __future__ import annotations

from decimal import Decimal

import pytest
from django.urls import reverse

from kapstone.patients.models import BodyMeasurement, Consent, Diagnosis, Patient, PatientVersion
from tests.conftest import audit_count, new_patient, without_csrf

pytestmark = pytest.mark.django_db

VALID_FORM = {
    "mrn": "A-3001",
    "given_name": "Harper",
    "family_name": "Quillfeatherby",
    "birth_date": "1975-03-09",
    "sex_at_birth": "male",
    "weight_kg": "81.4",
    "height_cm": "180",
    "phone": "555-0100",
}


def counts() -> tuple[int, int, int]:
    return Patient.objects.count(), PatientVersion.objects.count(), BodyMeasurement.objects.count()


class TestList:
    def test_it_lists_own_clinic_patients_only(self, as_user, alice, patient_a, patient_b):
        response = as_user(alice).get(reverse("patients:list"))
        assert response.status_code == 200
        assert b"Zzyzxfield" in response.content
        assert b"Qorvanhollow" not in response.content
        assert b"B-2001" not in response.content
        # The count shown is the clinic's own count, not a global one (no count oracle).
        assert b"1 patient" in response.content

    def test_search_by_name_and_mrn(self, as_user, alice, clinic_a, patient_a):
        new_patient(alice, clinic_a, mrn="A-1002", given_name="Blake", family_name="Otherly")
        client = as_user(alice)
        by_name = client.get(reverse("patients:list"), {"q": "zzyzx"})
        assert b"Zzyzxfield" in by_name.content and b"Otherly" not in by_name.content
        by_mrn = client.get(reverse("patients:list"), {"q": "A-1002"})
        assert b"Otherly" in by_mrn.content and b"Zzyzxfield" not in by_mrn.content

    def test_search_for_other_clinic_value_looks_like_nothing(self, as_user, alice, patient_a, patient_b):
        client = as_user(alice)
        other = client.get(reverse("patients:list"), {"q": "B-2001"})
        missing = client.get(reverse("patients:list"), {"q": "B-9999"})
        assert b"Qorvanhollow" not in other.content
        assert without_csrf(other.content).replace(b"B-2001", b"") == without_csrf(missing.content).replace(
            b"B-9999", b""
        )

    def test_htmx_search_returns_rows_fragment(self, as_user, alice, patient_a):
        response = as_user(alice).get(reverse("patients:list"), {"q": "zzy"}, HTTP_HX_REQUEST="true")
        assert response.status_code == 200
        assert b"<html" not in response.content
        assert b"Zzyzxfield" in response.content

    def test_list_read_is_audited_without_the_search_text(self, as_user, alice, patient_a):
        before = audit_count(action="read", object_type="patient_list")
        as_user(alice).get(reverse("patients:list"), {"q": "Zzyzx"})
        assert audit_count(action="read", object_type="patient_list") == before + 1
        from kapstone.audit.models import AuditEvent

        event = AuditEvent.objects.filter(object_type="patient_list").last()
        assert "Zzyzx" not in str(event.detail)
        assert event.actor == alice

    def test_requires_login(self, client, patient_a):
        response = client.get(reverse("patients:list"))
        assert response.status_code == 302
        assert reverse("accounts:login") in response["Location"]

    def test_researcher_gets_403(self, as_user, bob, patient_a):
        response = as_user(bob).get(reverse("patients:list"))
        assert response.status_code == 403
        assert b"Zzyzxfield" not in response.content
        assert audit_count(action="denied", actor=bob) == 1

    def test_pages_are_not_cached(self, as_user, alice):
        response = as_user(alice).get(reverse("patients:list"))
        assert response["Cache-Control"] == "no-store"


class TestChart:
    def test_it_shows_the_chart_and_audits_the_read(self, as_user, nina, patient_a):
        before = audit_count(action="read", object_type="patient", patient_id=patient_a.pk)
        response = as_user(nina).get(reverse("patients:chart", args=[patient_a.pk]))
        assert response.status_code == 200
        assert b"Zzyzxfield, Avery" in response.content
        assert b"72.5 kg" in response.content
        assert (
            audit_count(action="read", object_type="patient", patient_id=patient_a.pk, actor=nina)
            == before + 1
        )

    def test_other_clinic_gets_404_that_reveals_nothing(self, as_user, carol, patient_a):
        client = as_user(carol)
        theirs = client.get(reverse("patients:chart", args=[patient_a.pk]))
        missing = client.get(reverse("patients:chart", args=[999_999]))
        assert theirs.status_code == missing.status_code == 404
        for body in (theirs.content, missing.content):
            assert b"Zzyzxfield" not in body and b"A-1001" not in body and b"1980-05-17" not in body
        assert without_csrf(theirs.content) == without_csrf(missing.content)
        # The attempt is recorded for the privacy officer, though the response does not differ.
        assert audit_count(action="denied", object_type="patient", patient_id=patient_a.pk, actor=carol) == 1

    def test_every_sibling_path_is_scoped(self, as_user, carol, patient_a):
        client = as_user(carol)
        for name in ("chart", "amend", "versions", "measurement_add", "diagnosis_add", "consent_add"):
            response = client.get(reverse(f"patients:{name}", args=[patient_a.pk]))
            assert response.status_code == 404, name
            assert b"Zzyzxfield" not in response.content

    def test_researcher_gets_403(self, as_user, bob, patient_a):
        response = as_user(bob).get(reverse("patients:chart", args=[patient_a.pk]))
        assert response.status_code == 403
        assert b"Zzyzxfield" not in response.content


class TestCreate:
    def test_it_registers_a_patient_with_measurement_and_audit(self, as_user, nina, clinic_a):
        response = as_user(nina).post(reverse("patients:create"), VALID_FORM)
        patient = Patient.objects.get(mrn="A-3001")
        assert response.status_code == 302
        assert response["Location"] == reverse("patients:chart", args=[patient.pk])
        assert patient.clinic == clinic_a and patient.created_by == nina
        assert BodyMeasurement.objects.get(patient=patient).weight_kg == Decimal("81.4")
        assert PatientVersion.objects.filter(patient=patient, version=1).exists()
        assert audit_count(action="create", object_type="patient", patient_id=patient.pk, actor=nina) == 1

    def test_refuses_birth_date_in_future_keeps_input_writes_nothing(self, as_user, nina, clinic_a):
        before = counts()
        events_before = audit_count(action="create")
        response = as_user(nina).post(reverse("patients:create"), VALID_FORM | {"birth_date": "2999-01-01"})
        assert response.status_code == 400
        assert b"is in the future" in response.content
        assert b"birth_date_in_future" in response.content
        assert b'value="Quillfeatherby"' in response.content  # the user's input is kept
        assert counts() == before
        assert audit_count(action="create") == events_before

    def test_refuses_implausible_weight(self, as_user, nina, clinic_a):
        before = counts()
        response = as_user(nina).post(reverse("patients:create"), VALID_FORM | {"weight_kg": "720"})
        assert response.status_code == 400
        assert b"weight_out_of_range" in response.content
        assert b"720" in response.content
        assert counts() == before

    def test_refuses_duplicate_mrn_in_same_clinic(self, as_user, nina, patient_a):
        before = counts()
        response = as_user(nina).post(reverse("patients:create"), VALID_FORM | {"mrn": "A-1001"})
        assert response.status_code == 400
        assert b"already in use" in response.content
        assert counts() == before

    def test_same_mrn_in_another_clinic_is_allowed(self, as_user, carol, patient_a):
        response = as_user(carol).post(reverse("patients:create"), VALID_FORM | {"mrn": "A-1001"})
        assert response.status_code == 302
        assert Patient.objects.filter(mrn="A-1001").count() == 2

    def test_missing_required_field_is_refused(self, as_user, nina, clinic_a):
        before = counts()
        data = dict(VALID_FORM)
        del data["family_name"]
        response = as_user(nina).post(reverse("patients:create"), data)
        assert response.status_code == 400
        assert b"Family name is required." in response.content
        assert b'value="Harper"' in response.content
        assert counts() == before

    def test_posted_clinic_is_ignored_for_single_clinic_users(self, as_user, nina, clinic_a, clinic_b):
        # Mass assignment: a clinic id in the body cannot move the record to another clinic.
        response = as_user(nina).post(
            reverse("patients:create"), VALID_FORM | {"clinic_id": clinic_b.pk, "clinic": clinic_b.pk}
        )
        assert response.status_code == 302
        assert Patient.objects.get(mrn="A-3001").clinic == clinic_a

    def test_researcher_cannot_register(self, as_user, bob, clinic_a):
        response = as_user(bob).post(reverse("patients:create"), VALID_FORM)
        assert response.status_code == 403
        assert Patient.objects.count() == 0

    def test_csrf_is_enforced(self, nina, clinic_a):
        from tests.conftest import verified_client

        client = verified_client(nina)
        client.handler.enforce_csrf_checks = True
        response = client.post(reverse("patients:create"), VALID_FORM)
        assert response.status_code == 403
        assert Patient.objects.count() == 0


class TestAmend:
    def test_it_amends_and_keeps_previous_version(self, as_user, alice, patient_a):
        data = {
            "mrn": "A-1001",
            "given_name": "Avery",
            "family_name": "Zzyzxfield-Lane",
            "birth_date": "1980-05-17",
            "sex_at_birth": "female",
            "version": 1,
            "reason": "Married; new surname on ID.",
        }
        response = as_user(alice).post(reverse("patients:amend", args=[patient_a.pk]), data)
        assert response.status_code == 302
        patient_a.refresh_from_db()
        assert patient_a.family_name == "Zzyzxfield-Lane" and patient_a.version == 2
        versions = PatientVersion.objects.filter(patient=patient_a).order_by("version")
        assert [v.data["family_name"] for v in versions] == ["Zzyzxfield", "Zzyzxfield-Lane"]
        assert versions[1].reason == "Married; new surname on ID."
        assert audit_count(action="amend", patient_id=patient_a.pk, actor=alice) == 1
        history = as_user(alice).get(reverse("patients:versions", args=[patient_a.pk]))
        assert b"Zzyzxfield-Lane" in history.content and b"Married" in history.content

    def test_refuses_amendment_without_reason(self, as_user, alice, patient_a):
        data = {
            "mrn": "A-1001",
            "given_name": "Avery",
            "family_name": "Changed",
            "birth_date": "1980-05-17",
            "sex_at_birth": "female",
            "version": 1,
            "reason": "",
        }
        response = as_user(alice).post(reverse("patients:amend", args=[patient_a.pk]), data)
        assert response.status_code == 400
        assert b'value="Changed"' in response.content
        patient_a.refresh_from_db()
        assert patient_a.family_name == "Zzyzxfield" and patient_a.version == 1
        assert PatientVersion.objects.filter(patient=patient_a).count() == 1

    def test_refuses_stale_version(self, as_user, alice, nina, patient_a):
        base = {
            "mrn": "A-1001",
            "given_name": "Avery",
            "birth_date": "1980-05-17",
            "sex_at_birth": "female",
            "version": 1,
        }
        first = as_user(nina).post(
            reverse("patients:amend", args=[patient_a.pk]), base | {"family_name": "First", "reason": "typo"}
        )
        assert first.status_code == 302
        second = as_user(alice).post(
            reverse("patients:amend", args=[patient_a.pk]), base | {"family_name": "Second", "reason": "typo"}
        )
        assert second.status_code == 400
        assert b"stale_version" in second.content
        patient_a.refresh_from_db()
        assert patient_a.family_name == "First"


class TestChartSections:
    def test_diagnosis_add_primary_then_void(self, as_user, nina, patient_a):
        client = as_user(nina)
        response = client.post(
            reverse("patients:diagnosis_add", args=[patient_a.pk]), {"code": "F10.20", "is_primary": "on"}
        )
        assert response.status_code == 302
        diagnosis = Diagnosis.objects.get(patient=patient_a)
        assert diagnosis.name == "Alcohol dependence, uncomplicated" and diagnosis.is_primary
        chart = client.get(reverse("patients:chart", args=[patient_a.pk]))
        assert b"F10.20" in chart.content
        void = client.post(
            reverse("patients:diagnosis_void", args=[patient_a.pk, diagnosis.pk]),
            {"reason": "entered in error"},
        )
        assert void.status_code == 302
        diagnosis.refresh_from_db()
        assert diagnosis.voided_at is not None and diagnosis.void_reason == "entered in error"
        assert Diagnosis.objects.filter(patient=patient_a).count() == 1  # voided, not deleted

    def test_new_primary_demotes_old_primary(self, as_user, nina, patient_a):
        client = as_user(nina)
        client.post(
            reverse("patients:diagnosis_add", args=[patient_a.pk]), {"code": "F10.20", "is_primary": "on"}
        )
        client.post(
            reverse("patients:diagnosis_add", args=[patient_a.pk]), {"code": "F14.20", "is_primary": "on"}
        )
        assert list(
            Diagnosis.objects.filter(patient=patient_a, is_primary=True).values_list("code", flat=True)
        ) == ["F14.20"]

    def test_comorbid_diagnosis_is_added_beside_the_primary(self, as_user, nina, patient_a):
        client = as_user(nina)
        client.post(
            reverse("patients:diagnosis_add", args=[patient_a.pk]), {"code": "F10.20", "is_primary": "on"}
        )
        response = client.post(reverse("patients:diagnosis_add", args=[patient_a.pk]), {"code": "F33.1"})
        assert response.status_code == 302
        comorbid = Diagnosis.objects.get(patient=patient_a, code="F33.1")
        assert comorbid.name == "Major depressive disorder, recurrent, moderate" and not comorbid.is_primary
        assert audit_count(action="create", object_type="diagnosis", actor=nina) == 2
        chart = client.get(reverse("patients:chart", args=[patient_a.pk]))
        assert b"F33.1" in chart.content

    def test_refuses_a_comorbid_diagnosis_as_primary(self, as_user, nina, patient_a):
        client = as_user(nina)
        before = audit_count(action="create", object_type="diagnosis")
        response = client.post(
            reverse("patients:diagnosis_add", args=[patient_a.pk]), {"code": "F43.10", "is_primary": "on"}
        )
        assert response.status_code == 400
        assert b"comorbid_not_primary" in response.content and b"substance use disorder" in response.content
        assert b'value="F43.10" selected' in response.content  # input kept
        assert Diagnosis.objects.filter(patient=patient_a).count() == 0
        assert audit_count(action="create", object_type="diagnosis") == before

    def test_refuses_duplicate_diagnosis(self, as_user, nina, patient_a):
        client = as_user(nina)
        client.post(reverse("patients:diagnosis_add", args=[patient_a.pk]), {"code": "F10.20"})
        response = client.post(reverse("patients:diagnosis_add", args=[patient_a.pk]), {"code": "F10.20"})
        assert response.status_code == 400
        assert b"diagnosis_duplicate" in response.content
        assert Diagnosis.objects.filter(patient=patient_a).count() == 1

    def test_void_of_another_patients_diagnosis_is_404(self, as_user, nina, alice, clinic_a, patient_a):
        other = new_patient(alice, clinic_a, mrn="A-1009", family_name="Elsewise")
        client = as_user(nina)
        client.post(reverse("patients:diagnosis_add", args=[other.pk]), {"code": "F11.20"})
        diagnosis = Diagnosis.objects.get(patient=other)
        response = client.post(
            reverse("patients:diagnosis_void", args=[patient_a.pk, diagnosis.pk]), {"reason": "x"}
        )
        assert response.status_code == 404
        diagnosis.refresh_from_db()
        assert diagnosis.voided_at is None

    def test_consent_withdrawal_is_a_new_row(self, as_user, nina, patient_a):
        client = as_user(nina)
        url = reverse("patients:consent_add", args=[patient_a.pk])
        client.post(
            url,
            {"kind": "research", "status": "granted", "effective_on": "2026-01-10", "document_version": "v3"},
        )
        client.post(
            url,
            {
                "kind": "research",
                "status": "withdrawn",
                "effective_on": "2026-02-01",
                "document_version": "v3",
            },
        )
        rows = list(Consent.objects.filter(patient=patient_a).order_by("id").values_list("status", flat=True))
        assert rows == ["granted", "withdrawn"]
        chart = client.get(reverse("patients:chart", args=[patient_a.pk]))
        assert b"Research:\n        \n          withdrawn" in chart.content or b"withdrawn" in chart.content
        assert audit_count(object_type="consent", patient_id=patient_a.pk) == 2

    def test_refuses_weight_out_of_range_writes_nothing(self, as_user, nina, patient_a):
        before = BodyMeasurement.objects.count()
        response = as_user(nina).post(
            reverse("patients:measurement_add", args=[patient_a.pk]),
            {"weight_kg": "29.9", "measured_at": "2026-01-01T08:30"},
        )
        assert response.status_code == 400
        assert b"A weight of 29.9 kg is not plausible for an adult (30\xe2\x80\x93300 kg)" in response.content
        assert b'value="29.9"' in response.content
        assert BodyMeasurement.objects.count() == before
