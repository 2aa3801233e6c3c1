"""The demo's portal patients: patient.north and patient.river, made through the services."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command
from django.test import Client

from kapstone.care.models import CareSession
from kapstone.demo.seed import DEMO_PASSWORD, seed_demo
from kapstone.patients.models import Consent, ConsentDocument
from kapstone.patients.services import clinic_today
from kapstone.portal.models import PatientAccount, PortalInvitation
from kapstone.portal.outcome_selectors import due_for_patient
from tests.api.test_patients_api import Api

pytestmark = [pytest.mark.django_db, pytest.mark.full_demo]


def test_the_demo_patients_use_the_portal_and_its_api(monkeypatch):
    seed_demo(patients_per_clinic=10, follow_up_per_protocol=0)
    seed_demo(patients_per_clinic=10, follow_up_per_protocol=0)  # idempotent
    assert ConsentDocument.objects.count() == 6
    assert ConsentDocument.objects.filter(body__startswith="DEMO TEXT.").count() == 6
    for slug in ("north", "river"):
        account = PatientAccount.objects.select_related("patient__clinic", "user").get(
            user__username=f"patient.{slug}"
        )
        patient = account.patient
        assert account.is_active and patient.clinic.slug == slug
        assert PortalInvitation.objects.get(account=account).used_at is not None  # invited and accepted
        today = clinic_today(patient.clinic)
        course = patient.courses.get(status="active")
        assert CareSession.objects.filter(
            course=course, status="scheduled", scheduled_date__gt=today
        ).exists()
        assert patient.questionnaire_responses.exists() and patient.use_days.exists()  # some history
        me_due = [d.instrument for d in due_for_patient(patient, today)]
        assert me_due, "the demo's patient has a questionnaire to fill in now"
        signed = Consent.objects.get(patient=patient, source="patient")
        assert signed.kind == "treatment" and signed.text_sha256 == signed.document.text_sha256
        client = Client()
        assert (
            client.post(
                "/accounts/login/", {"username": f"patient.{slug}", "password": DEMO_PASSWORD}
            ).status_code
            == 302
        )
        home = client.get("/portal/")
        assert home.status_code == 200 and b"Your next session" in home.content
        assert b"Read and sign" in home.content  # research and data sharing wait for a signature
        out = StringIO()
        call_command("token", "create", f"patient.{slug}", stdout=out)
        me = Api(token=out.getvalue().strip()).get("/portal/me")
        assert me.status_code == 200 and me.json()["patient"]["mrn"] == patient.mrn
        assert [d["instrument"] for d in me.json()["due"]] == me_due
    from kapstone.demo.management.commands import seed_demo as command

    # The command as `make run` calls it, without the cohort report's extra patients (minutes).
    monkeypatch.setattr(command, "seed_demo", lambda patients_per_clinic: seed_demo(
        patients_per_clinic=patients_per_clinic, follow_up_per_protocol=0))  # fmt: skip
    out = StringIO()
    call_command("seed_demo", "--patients-per-clinic", "10", stdout=out)
    assert "patient.north  patient.river" in out.getvalue()
