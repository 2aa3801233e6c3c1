"""The clinic's referral queue pages and the public profile page."""

from __future__ import annotations

import pytest

from kapstone.audit.models import AuditEvent
from kapstone.portal.models import Referral, ServiceProfile
from kapstone.portal.services import referral_submit
from tests.portal.conftest import ALL_PROTOCOLS, CONTACT, answers

pytestmark = pytest.mark.django_db


@pytest.fixture
def referral(profiles, clinic_a):
    return referral_submit(
        clinic_id=clinic_a.pk,
        answers=answers(region="NY", withdrawal_risk=True, language="es"),
        contact=CONTACT,
        consent_to_contact=True,
        address="192.0.2.50",
    )


def test_the_queue_lists_the_clinics_referrals(as_user, nina, referral):
    response = as_user(nina).get("/referrals/")
    assert response.status_code == 200
    body = response.content.decode()
    assert referral.reference in body and CONTACT["name"] in body
    assert "Needs a clinician&#x27;s review" in body or "Needs a clinician's review" in body
    assert AuditEvent.objects.filter(actor=nina, object_type="referral_list", action="read").count() == 1


def test_the_detail_shows_answers_in_words_and_is_audited(as_user, nina, referral):
    response = as_user(nina).get(f"/referrals/{referral.pk}/")
    body = response.content.decode()
    assert response.status_code == 200
    assert (
        "When you stop drinking or using, do you get shakes" in body
        and "withdrawal_risk" not in body.replace('data-code="withdrawal_risk"', "")
    )
    assert "Español" in body and "robin@example.org" in body
    assert (
        AuditEvent.objects.filter(actor=nina, object_type="referral", object_id=str(referral.pk)).count() == 1
    )


def test_other_clinic_gets_404_without_the_name_and_researcher_403(as_user, carol, bob, referral):
    for url in (f"/referrals/{referral.pk}/",):
        response = as_user(carol).get(url)
        assert response.status_code == 404 and CONTACT["name"].encode() not in response.content
    response = as_user(carol).post(f"/referrals/{referral.pk}/status/", {"to": "contacted"})
    assert response.status_code == 404
    assert as_user(bob).get("/referrals/").status_code == 403
    assert Referral.objects.get().status == "new"


def test_declining_without_a_reason_is_refused_and_kept(as_user, nina, referral):
    response = as_user(nina).post(f"/referrals/{referral.pk}/status/", {"to": "declined", "reason": ""})
    assert response.status_code == 400
    body = response.content.decode()
    assert "Say why the referral is declined." in body and 'data-code="reason_required"' in body
    assert Referral.objects.get().status == "new"
    response = as_user(nina).post(f"/referrals/{referral.pk}/status/", {"to": "contacted"})
    assert response.status_code == 302
    assert Referral.objects.get().status == "contacted"


def test_only_an_admin_edits_the_public_profile(as_user, adam, nina, clinic_a, profiles):
    assert as_user(nina).get("/referrals/profile/").status_code == 403
    page = as_user(adam).get("/referrals/profile/")
    assert page.status_code == 200 and "Clinic A" in page.content.decode()
    data = {
        "clinic": clinic_a.pk, "display_name": "Clinic A", "regions": "NY, NJ", "languages": "en, es",
        "modalities": ["in_person"], "protocol_slugs": ALL_PROTOCOLS, "accepting_referrals": "on",
        "wait_weeks": 3, "retention_days": 180, "contact_target_working_days": 2, "reason": "",
    }  # fmt: skip
    refused = as_user(adam).post("/referrals/profile/", data)
    assert refused.status_code == 400 and "Say why the profile changes." in refused.content.decode()
    assert 'value="NY, NJ"' in refused.content.decode()
    assert ServiceProfile.objects.filter(clinic=clinic_a).count() == 1
    data["reason"] = "Now serving New Jersey too"
    assert as_user(adam).post("/referrals/profile/", data).status_code == 302
    current = ServiceProfile.objects.filter(clinic=clinic_a).order_by("-version").first()
    assert (current.version, current.regions, current.wait_weeks) == (2, ["NY", "NJ"], 3)


def test_converting_from_the_page_opens_the_screening_with_the_answers(as_user, nina, referral, patient_a):
    from kapstone.patients.models import Patient

    client = as_user(nina)
    page = client.get(f"/referrals/{referral.pk}/").content.decode()
    assert 'value="Robin"' in page and 'value="Zzyzxfield"' in page  # the name, split
    taken = client.post(
        f"/referrals/{referral.pk}/convert/",
        {"mrn": patient_a.mrn, "given_name": "Robin", "family_name": "Zzyzxfield"},
    )
    assert taken.status_code == 400 and "already in use" in taken.content.decode()
    assert Patient.objects.count() == 1
    response = client.post(
        f"/referrals/{referral.pk}/convert/",
        {
            "mrn": "A-9100",
            "given_name": "Robin",
            "family_name": "Zzyzxfield",
            "birth_date": "1985-04-02",
            "sex_at_birth": "female",
        },
    )
    patient = Patient.objects.get(mrn="A-9100")
    assert response.status_code == 302 and response["Location"] == f"/patients/{patient.pk}/screenings/new/"
    assert patient.birth_date_estimated is False
    screening = client.get(response["Location"]).content.decode()
    assert f"referral {referral.reference}" in screening
    # The draft's answers start the form: "no" to psychosis, from the pre-screen.
    import re

    assert re.search(r'<input[^>]*name="psychotic_disorder" value="no"[^>]*checked', screening)
    assert not re.search(r'<input[^>]*name="maoi_use"[^>]*checked', screening)  # not asked: empty


def test_every_staff_page_counts_the_new_and_overdue_referrals(as_user, nina, alice, bob, profiles, clinic_a):
    from datetime import timedelta

    from django.utils import timezone

    for days in (0, 10):
        referral_submit(
            clinic_id=clinic_a.pk, answers=answers(region="NY"), contact=CONTACT, consent_to_contact=True,
            address=f"192.0.2.{days}", now=timezone.now() - timedelta(days=days),
        )  # fmt: skip
    page = as_user(nina).get("/patients/").content.decode()
    assert '<span class="badge bad" title="2 new, 1 overdue">2' in page
    home = as_user(alice).get("/").content.decode()
    assert "2 waiting to be contacted" in home and "1 overdue" in home
    # Counts only: not a read of any referral.
    assert AuditEvent.objects.filter(object_type__startswith="referral", action="read").count() == 0
    assert "badge" not in as_user(bob).get("/").content.decode().split("<main")[0]
