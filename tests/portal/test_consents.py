"""Consent documents (published by a clinic admin) and consent signed in the portal."""

from __future__ import annotations

import hashlib

import pytest
from django.http import Http404

from kapstone.audit.models import AuditEvent
from kapstone.domain.errors import DomainError
from kapstone.patients.models import Consent, ConsentDocument
from kapstone.patients.services import clinic_today, consent_document_publish
from kapstone.portal.consent import consent_sign, consent_withdraw
from tests.portal.patient_fixtures import *  # noqa: F403 - fixtures
from tests.portal.patient_fixtures import portal_client

pytestmark = pytest.mark.django_db

TITLE = "Research use of your data"
BODY = "DEMO TEXT.\n\nWe would like to use your answers, without your name, for research.\r\nYou may say no."


@pytest.fixture
def research_doc(adam, clinic_a):
    return consent_document_publish(actor=adam, clinic=clinic_a, kind="research", title=TITLE, body=BODY)


@pytest.fixture
def doc_b(admin_b, clinic_b):
    return consent_document_publish(actor=admin_b, clinic=clinic_b, kind="research", title="B", body="B text")


def sign_form(document, name="Avery Zzyzxfield", agreed=True, sha=None):
    form = {
        "action": "sign",
        "sign-document_id": str(document.pk),
        "sign-text_sha256": sha or document.text_sha256,
        "sign-typed_name": name,
    }
    if agreed:
        form["sign-agreed"] = "on"
    return form


# --- Publishing (staff) ------------------------------------------------------------------------


def test_an_admin_publishes_versions_and_an_old_one_never_changes(adam, clinic_a, as_user):
    client = as_user(adam)
    page = client.get("/consent-documents/new/research/")
    assert page.status_code == 200
    response = client.post(
        "/consent-documents/new/research/", {"title": TITLE, "body": BODY, "clinic": clinic_a.pk}
    )
    assert response.status_code == 302
    first = ConsentDocument.objects.get()
    assert (first.version, first.kind, first.published_by_id) == (1, "research", adam.pk)
    shown = f"{TITLE}\n\n" + BODY.replace("\r\n", "\n")
    assert first.text_sha256 == hashlib.sha256(shown.encode()).hexdigest()
    client.post("/consent-documents/new/research/", {"title": TITLE, "body": BODY + " Thank you."})
    second = ConsentDocument.objects.get(version=2)
    first.refresh_from_db()
    assert first.body == BODY.replace("\r\n", "\n") and second.text_sha256 != first.text_sha256
    listing = client.get("/consent-documents/").content.decode()
    assert "version 2" in listing and "Earlier versions" in listing
    detail = client.get(f"/consent-documents/{first.pk}/").content.decode()
    assert first.text_sha256 in detail and "We would like to use your answers" in detail
    assert AuditEvent.objects.filter(object_type="consent_document", action="create", actor=adam).count() == 2


def test_publishing_refuses_an_empty_text_keeps_the_input_and_writes_nothing(adam, as_user):
    response = as_user(adam).post("/consent-documents/new/treatment/", {"title": "Kept title", "body": "  "})
    assert response.status_code == 400
    assert b"Kept title" in response.content and b"Text is required." in response.content
    assert ConsentDocument.objects.count() == 0


def test_the_service_refuses_bad_input(adam, clinic_a, nina, clinic_b):
    for kwargs, code in (
        ({"kind": "horoscope", "title": "T", "body": "B"}, "consent_kind_invalid"),
        ({"kind": "research", "title": "", "body": "B"}, "title_required"),
        ({"kind": "research", "title": "T", "body": " "}, "body_required"),
        ({"kind": "research", "title": "T" * 201, "body": "B"}, "text_too_long"),
        ({"kind": "research", "title": "T", "body": "B" * 50_001}, "text_too_long"),
    ):
        with pytest.raises(DomainError) as caught:
            consent_document_publish(actor=adam, clinic=clinic_a, **kwargs)
        assert caught.value.code == code
    with pytest.raises(Http404):
        consent_document_publish(actor=nina, clinic=clinic_a, kind="research", title="T", body="B")
    with pytest.raises(Http404):
        consent_document_publish(actor=adam, clinic=clinic_b, kind="research", title="T", body="B")
    assert ConsentDocument.objects.count() == 0


def test_only_admins_publish_and_other_clinics_documents_are_not_found(
    nina, bob, carol, as_user, research_doc
):
    assert as_user(nina).get("/consent-documents/new/research/").status_code == 403
    assert (
        as_user(nina).post("/consent-documents/new/research/", {"title": "x", "body": "y"}).status_code == 403
    )
    assert as_user(nina).get(f"/consent-documents/{research_doc.pk}/").status_code == 200
    assert as_user(bob).get("/consent-documents/").status_code == 403  # researcher
    response = as_user(carol).get(f"/consent-documents/{research_doc.pk}/")
    assert response.status_code == 404 and TITLE.encode() not in response.content
    assert ConsentDocument.objects.count() == 1


# --- Signing (the patient) ---------------------------------------------------------------------


def test_the_patient_signs_with_their_name_and_the_texts_fingerprint_is_kept(
    pat, research_doc, as_user, alice
):
    client = portal_client(pat)
    page = client.get("/portal/consents/research/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "We would like to use your answers" in text and "Not signed yet" in text
    assert research_doc.text_sha256 in text  # the fingerprint of what is shown goes back with the form
    response = client.post(
        "/portal/consents/research/", sign_form(research_doc, name="  avery   ZZYZXFIELD ")
    )
    assert response.status_code == 302 and response["Location"] == "/portal/consents/"
    row = Consent.objects.get(source="patient")
    patient = pat.patient_account.patient
    assert (row.patient_id, row.kind, row.status, row.document_id, row.document_version) == (
        patient.pk, "research", "granted", research_doc.pk, "1",
    )  # fmt: skip
    assert row.typed_name == "avery ZZYZXFIELD" and row.recorded_by_id == pat.pk
    assert (
        row.text_sha256
        == hashlib.sha256(f"{TITLE}\n\n{BODY.replace(chr(13) + chr(10), chr(10))}".encode()).hexdigest()
    )
    assert row.effective_on == clinic_today(patient.clinic)
    event = AuditEvent.objects.get(object_type="consent", object_id=str(row.pk))
    assert (event.actor_id, event.patient_id, event.detail["source"]) == (pat.pk, patient.pk, "patient")
    listing = client.get("/portal/consents/").content.decode()
    assert "Signed" in listing and "you signed on" in listing
    # Staff see how it was given on the chart.
    chart = as_user(alice).get(f"/patients/{patient.pk}/").content.decode()
    assert "Signed in the portal by the patient" in chart and research_doc.text_sha256[:8] in chart
    assert "Research use of your data, version 1" in chart


@pytest.mark.parametrize(
    ("name", "agreed", "code", "message"),
    [
        ("Avery Someone", True, "signature_mismatch", "is not the name on your record"),
        ("", True, "signature_required", "Type your full name to sign."),
        ("Avery Zzyzxfield", False, "agreement_required", "Tick the box"),
    ],
)
def test_a_refused_signature_keeps_the_input_and_writes_nothing(
    pat, research_doc, name, agreed, code, message
):
    before = (Consent.objects.count(), AuditEvent.objects.filter(object_type="consent").count())
    response = portal_client(pat).post(
        "/portal/consents/research/", sign_form(research_doc, name=name, agreed=agreed)
    )
    assert response.status_code == 400
    text = response.content.decode()
    assert message in text and f'data-code="{code}"' in text
    assert f'value="{name}"' in text
    assert ("checked" in text.split('name="sign-agreed"')[1][:40]) is agreed
    assert (Consent.objects.count(), AuditEvent.objects.filter(object_type="consent").count()) == before


def test_a_new_version_published_while_reading_is_not_signed_blind(pat, research_doc, adam, clinic_a):
    form = sign_form(research_doc)
    consent_document_publish(actor=adam, clinic=clinic_a, kind="research", title=TITLE, body=BODY + " More.")
    response = portal_client(pat).post("/portal/consents/research/", form)
    assert response.status_code == 400
    assert b"published a new version" in response.content and b"More." in response.content
    assert Consent.objects.filter(source="patient").count() == 0
    tampered = sign_form(research_doc, sha="0" * 64)
    assert portal_client(pat).post("/portal/consents/research/", tampered).status_code == 400
    assert Consent.objects.filter(source="patient").count() == 0


def test_signing_twice_is_refused(pat, research_doc):
    consent_sign(actor=pat, document_id=research_doc.pk, text_sha256=research_doc.text_sha256,
                 typed_name="Avery Zzyzxfield", agreed=True)  # fmt: skip
    with pytest.raises(DomainError) as caught:
        consent_sign(actor=pat, document_id=research_doc.pk, text_sha256=research_doc.text_sha256,
                     typed_name="Avery Zzyzxfield", agreed=True)  # fmt: skip
    assert caught.value.code == "consent_already_signed"
    assert Consent.objects.filter(source="patient").count() == 1


def test_another_clinics_document_is_not_found_and_nothing_is_written(pat, doc_b, bea):
    before = Consent.objects.count()
    response = portal_client(pat).post(
        "/portal/consents/research/", sign_form(doc_b, name="Avery Zzyzxfield")
    )
    assert response.status_code == 404 and b"B text" not in response.content
    for bad in ("999999", "x", "9" * 40, ""):
        form = sign_form(doc_b) | {"sign-document_id": bad}
        assert portal_client(pat).post("/portal/consents/research/", form).status_code == 404
    assert Consent.objects.count() == before
    # Bea (clinic B) signs her own clinic's; pat's page never shows it.
    assert b"B text" not in portal_client(pat).get("/portal/consents/research/").content


def test_an_unknown_kind_or_action_is_not_found(pat):
    assert portal_client(pat).get("/portal/consents/horoscope/").status_code == 404
    assert portal_client(pat).post("/portal/consents/research/", {"action": "delete"}).status_code == 404


def test_staff_may_not_sign_for_a_patient(as_user, alice, research_doc):
    response = as_user(alice).post("/portal/consents/research/", sign_form(research_doc))
    assert response.status_code == 403
    assert Consent.objects.filter(source="patient").count() == 0


# --- Withdrawing ---------------------------------------------------------------------------------


def test_the_patient_withdraws_research_consent_as_a_new_row(pat, research_doc):
    consent_sign(actor=pat, document_id=research_doc.pk, text_sha256=research_doc.text_sha256,
                 typed_name="Avery Zzyzxfield", agreed=True)  # fmt: skip
    client = portal_client(pat)
    refused = client.post("/portal/consents/research/", {"action": "withdraw"})
    assert refused.status_code == 400 and b"withdrawal_confirmation_required" in refused.content
    assert Consent.objects.filter(status="withdrawn").count() == 0
    response = client.post("/portal/consents/research/", {"action": "withdraw", "withdraw-confirmed": "on"})
    assert response.status_code == 302
    rows = list(Consent.objects.filter(kind="research", source="patient").order_by("id"))
    assert [r.status for r in rows] == ["granted", "withdrawn"] and rows[1].recorded_by_id == pat.pk
    assert (
        AuditEvent.objects.filter(object_type="consent", actor=pat, detail__status="withdrawn").count() == 1
    )
    page = client.get("/portal/consents/research/").content.decode()
    assert "Withdrawn" in page and "Sign this document" in page  # the patient may sign again
    with pytest.raises(DomainError) as caught:
        consent_withdraw(actor=pat, kind="research", confirmed=True)
    assert caught.value.code == "consent_not_in_force"


def test_consent_to_treatment_is_withdrawn_by_speaking_to_the_clinic(pat):
    before = Consent.objects.count()
    page = portal_client(pat).get("/portal/consents/treatment/").content.decode()
    assert "please speak to the clinic" in page and "555-0100" in page and "Withdraw my consent" not in page
    response = portal_client(pat).post(
        "/portal/consents/treatment/", {"action": "withdraw", "withdraw-confirmed": "on"}
    )
    assert response.status_code == 400 and b"treatment_withdrawal_by_clinic" in response.content
    assert Consent.objects.count() == before


def test_home_asks_for_a_signature_until_given(pat, research_doc):
    assert b"Read and sign" in portal_client(pat).get("/portal/").content
    consent_sign(actor=pat, document_id=research_doc.pk, text_sha256=research_doc.text_sha256,
                 typed_name="Avery Zzyzxfield", agreed=True)  # fmt: skip
    assert b"Read and sign" not in portal_client(pat).get("/portal/").content


def test_a_staff_recorded_consent_shows_and_the_new_document_can_be_signed(pat, adam, clinic_a):
    document = consent_document_publish(
        actor=adam, clinic=clinic_a, kind="treatment", title="Treatment", body="Text"
    )
    page = portal_client(pat).get("/portal/consents/").content.decode()
    assert "Given earlier: a newer version is ready to read" in page and "recorded by the clinic on" in page
    consent_sign(actor=pat, document_id=document.pk, text_sha256=document.text_sha256,
                 typed_name="Avery Zzyzxfield", agreed=True)  # fmt: skip
    assert Consent.objects.filter(kind="treatment", source="patient", status="granted").count() == 1


def test_the_database_refuses_a_patient_signature_without_its_proof(pat, research_doc):
    from django.db import IntegrityError, transaction
    from django.utils import timezone

    with pytest.raises(IntegrityError), transaction.atomic():
        Consent.objects.create(
            patient=pat.patient_account.patient, kind="research", status="granted", effective_on=timezone.now().date(),
            document_version="1", recorded_at=timezone.now(), recorded_by=pat, source="patient", document=research_doc,
        )  # fmt: skip
