"""Service profiles, the public pre-screen and referrals, the queue, notifications and the purge."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core import mail
from django.http import Http404
from django.test import override_settings
from django.utils import timezone

from kapstone.audit.models import AuditEvent
from kapstone.domain.errors import DomainError
from kapstone.portal.models import RateCounter, Referral, ReferralEvent, ServiceProfile
from kapstone.portal.ratelimit import RateLimited
from kapstone.portal.selectors import (
    clinic_offers,
    referral_get_for_user,
    referral_overdue_count_for_user,
    referral_queue_for_user,
)
from kapstone.portal.services import (
    prescreen_run,
    referral_notifications_send,
    referral_status_change,
    referral_submit,
    referrals_purge,
    service_profile_update,
)
from tests.portal.conftest import ALL_PROTOCOLS, CONTACT, answers

pytestmark = pytest.mark.django_db


def submit(clinic, **overrides):
    fields = {
        "clinic_id": clinic.pk,
        "answers": answers(region="NY"),
        "contact": CONTACT,
        "consent_to_contact": True,
        "address": "198.51.100.7",
    }
    fields.update(overrides)
    return referral_submit(**fields)


# --- Service profiles ------------------------------------------------------------------------------


def test_a_profile_is_versioned_and_a_change_needs_a_reason(profiles, adam, clinic_a):
    first, _ = profiles
    assert (first.version, first.regions, first.languages) == (1, ["NY"], ["en", "es"])
    with pytest.raises(DomainError) as caught:
        service_profile_update(
            actor=adam, clinic=clinic_a, display_name="Clinic A", regions="NY, NJ", languages=["en"],
            modalities=["in_person"], protocol_slugs=ALL_PROTOCOLS, accepting_referrals=False, wait_weeks=6,
        )  # fmt: skip
    assert caught.value.code == "reason_required"
    assert ServiceProfile.objects.filter(clinic=clinic_a).count() == 1
    second = service_profile_update(
        actor=adam, clinic=clinic_a, display_name="Clinic A", regions="ny, nj", languages=["EN"],
        modalities=["in_person"], protocol_slugs=ALL_PROTOCOLS, accepting_referrals=False, wait_weeks=6,
        reason="Paused while the new room is fitted",
    )  # fmt: skip
    assert (second.version, second.regions, second.languages) == (2, ["NY", "NJ"], ["en"])
    assert AuditEvent.objects.filter(object_type="service_profile", action="amend").count() == 1
    assert {o.clinic_id for o in clinic_offers()} == {profiles[1].clinic_id}  # A paused


@pytest.mark.parametrize(
    ("field", "value", "code"),
    [
        ("regions", ["New York"], "invalid_value"),
        ("languages", ["spanish"], "invalid_value"),
        ("languages", [], "invalid_value"),
        ("modalities", ["online"], "invalid_value"),
        ("protocol_slugs", ["made-up"], "unknown_protocol"),
        ("wait_weeks", 200, "invalid_value"),
        ("retention_days", 5, "invalid_value"),
        ("display_name", "  ", "display_name_required"),
    ],
)
def test_profile_refusals_write_nothing(adam, clinic_a, field, value, code):
    fields = {
        "display_name": "Clinic A", "regions": ["NY"], "languages": ["en"], "modalities": ["in_person"],
        "protocol_slugs": ALL_PROTOCOLS, "accepting_referrals": True, "wait_weeks": 3,
    }  # fmt: skip
    fields[field] = value
    with pytest.raises(DomainError) as caught:
        service_profile_update(actor=adam, clinic=clinic_a, **fields)
    assert (caught.value.code, caught.value.field) == (code, field)
    assert ServiceProfile.objects.count() == 0


def test_only_the_clinics_admin_edits_its_profile(alice, admin_b, clinic_a):
    for actor in (alice, admin_b):
        with pytest.raises(Http404):
            service_profile_update(
                actor=actor, clinic=clinic_a, display_name="X", regions=[], languages=["en"],
                modalities=["in_person"], protocol_slugs=[], accepting_referrals=True, wait_weeks=1,
            )  # fmt: skip
    assert ServiceProfile.objects.count() == 0


# --- Pre-screen --------------------------------------------------------------------------------------


def test_prescreen_matches_and_stores_nothing(profiles):
    before = AuditEvent.objects.count()
    outcome = prescreen_run(answers=answers(region="NY", language="es"), address="203.0.113.9")
    payload = outcome.as_dict()
    assert payload["result"] == "may_be_suitable" and payload["crisis"] is False
    assert [m["clinic_name"] for m in payload["matches"]] == ["Clinic A"]
    assert "speaks Spanish" in payload["matches"][0]["why"]
    assert Referral.objects.count() == 0 and AuditEvent.objects.count() == before
    # Only the request count, under a keyed hash of the address.
    (counter,) = RateCounter.objects.all()
    assert counter.count == 1 and "203.0.113.9" not in counter.source


def test_not_suitable_runs_no_matching_but_crisis_still_matches(profiles):
    assert prescreen_run(answers=answers(psychosis_history=True), address="a").matches == ()
    urgent = prescreen_run(answers=answers(self_harm="now", region="NJ"), address="a")
    assert urgent.assessment.crisis and [m.clinic_name for m in urgent.matches] == ["Clinic B"]


@override_settings(PRESCREEN_RATE_PER_MINUTE=3)
def test_prescreen_is_rate_limited_per_address(profiles):
    for _ in range(3):
        prescreen_run(answers=answers(), address="192.0.2.1")
    with pytest.raises(RateLimited) as caught:
        prescreen_run(answers=answers(), address="192.0.2.1")
    assert caught.value.code == "rate_limited"
    prescreen_run(answers=answers(), address="192.0.2.2")  # another address is not affected


# --- Referral submission -------------------------------------------------------------------------------


def test_a_referral_is_stored_for_its_clinic_with_a_public_reference(profiles, clinic_a):
    referral = submit(clinic_a, answers=answers(region="NY", withdrawal_risk=True), language="es")
    assert referral.reference.startswith("R-") and len(referral.reference) == 8
    assert (referral.status, referral.result, referral.clinic_id) == ("new", "needs_review", clinic_a.pk)
    assert referral.answers["withdrawal_risk"] is True and referral.language == "es"
    assert [r["code"] for r in referral.reasons] == ["withdrawal_risk"]
    event = AuditEvent.objects.get(object_type="referral", action="create")
    assert (event.actor_id, event.actor_label, event.clinic_id) == (None, "public", clinic_a.pk)
    assert "Robin" not in str(event.detail) and "robin@" not in str(event.detail)
    assert ReferralEvent.objects.filter(referral=referral, to_status="new").count() == 1


@pytest.mark.parametrize(
    ("overrides", "code"),
    [
        ({"consent_to_contact": False}, "consent_required"),
        ({"consent_to_contact": "yes"}, "consent_required"),
        ({"contact": {"name": "Robin"}}, "contact_required"),
        ({"contact": {"name": "", "email": "r@example.org"}}, "name_required"),
        ({"contact": {"name": "Robin", "email": "not-an-email"}}, "invalid_email"),
        ({"contact": {"name": "Robin", "phone": "call me"}}, "invalid_phone"),
        ({"answers": answers(ketamine_allergy=True)}, "not_suitable"),
        ({"answers": answers(age_years=None)}, "missing_answer"),
        ({"answers": answers(colour="red")}, "unknown_answer"),
        ({"answers": answers(self_harm="maybe")}, "invalid_answer"),
        ({"clinic_id": 999999}, "clinic_not_accepting"),
        ({"clinic_id": "1"}, "clinic_not_accepting"),
        ({"answers": answers(region="NJ")}, "clinic_not_matched"),
        ({"answers": answers(substances=["cannabis"])}, "clinic_not_matched"),
    ],
)
def test_refused_referrals_write_nothing(profiles, clinic_a, overrides, code):
    audit_before = AuditEvent.objects.count()
    with pytest.raises(DomainError) as caught:
        submit(clinic_a, **overrides)
    assert caught.value.code == code and caught.value.message
    assert Referral.objects.count() == 0 and ReferralEvent.objects.count() == 0
    assert AuditEvent.objects.count() == audit_before


def test_a_not_suitable_refusal_says_why(profiles, clinic_a):
    with pytest.raises(DomainError) as caught:
        submit(clinic_a, answers=answers(pregnant_or_breastfeeding=True))
    assert "pregnancy or breastfeeding" in caught.value.message


def test_a_clinic_not_accepting_is_refused(profiles, adam, clinic_a):
    service_profile_update(
        actor=adam, clinic=clinic_a, display_name="Clinic A", regions=["NY"], languages=["en"],
        modalities=["in_person"], protocol_slugs=ALL_PROTOCOLS, accepting_referrals=False, wait_weeks=4,
        reason="Full until spring",
    )  # fmt: skip
    with pytest.raises(DomainError) as caught:
        submit(clinic_a)
    assert caught.value.code == "clinic_not_accepting"


@override_settings(REFERRAL_RATE_PER_HOUR=10)
def test_the_eleventh_referral_from_one_address_in_an_hour_is_refused(profiles, clinic_a):
    for _ in range(10):
        submit(clinic_a, address="198.51.100.20")
    with pytest.raises(RateLimited):
        submit(clinic_a, address="198.51.100.20")
    assert Referral.objects.count() == 10
    later = timezone.now() + timedelta(hours=1, minutes=1)
    submit(clinic_a, address="198.51.100.20", now=later)  # a new window
    assert Referral.objects.count() == 11


def test_staff_are_told_a_count_without_personal_details(
    profiles, clinic_a, adam, nina, django_capture_on_commit_callbacks
):
    adam.email, nina.email = "adam@example.org", "nina@example.org"
    adam.save(update_fields=["email"])
    nina.save(update_fields=["email"])
    mail.outbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        submit(clinic_a)
    # The count is taken when sending: a second referral waiting unsent is counted with a third.
    Referral.objects.update(notified_at=None)
    with django_capture_on_commit_callbacks(execute=True):
        submit(clinic_a)
    assert referral_notifications_send() == {}  # nothing left to tell
    subjects = sorted({m.subject for m in mail.outbox})
    assert subjects == ["Kapstone: 1 new referral at Clinic A", "Kapstone: 2 new referrals at Clinic A"]
    assert sorted(m.to[0] for m in mail.outbox) == sorted(["adam@example.org", "nina@example.org"] * 2)
    assert all("Robin" not in m.body and "robin@" not in m.body for m in mail.outbox)
    assert Referral.objects.filter(notified_at__isnull=True).count() == 0


# --- Queue -------------------------------------------------------------------------------------------


def test_queue_is_scoped_audited_and_shows_overdue(profiles, clinic_a, clinic_b, nina, carol):
    old = submit(clinic_a, now=timezone.now() - timedelta(days=10))
    fresh = submit(clinic_a)
    other = submit(clinic_b, answers=answers(region="NJ"))
    rows = referral_queue_for_user(user=nina)
    assert [r.referral.pk for r in rows] == [fresh.pk, old.pk]
    assert [r.overdue for r in rows] == [False, True]
    assert referral_overdue_count_for_user(user=nina) == 1
    assert AuditEvent.objects.filter(actor=nina, object_type="referral_list", action="read").count() == 1
    assert [r.referral.pk for r in referral_queue_for_user(user=carol)] == [other.pk]
    with pytest.raises(Http404):
        referral_get_for_user(user=carol, referral_id=old.pk)
    assert referral_get_for_user(user=nina, referral_id=old.pk) == old
    assert AuditEvent.objects.filter(actor=nina, object_type="referral", object_id=str(old.pk)).count() == 1


def test_researcher_sees_no_referral(profiles, clinic_a, bob):
    submit(clinic_a)
    assert referral_queue_for_user(user=bob) == []
    assert referral_overdue_count_for_user(user=bob) == 0


def test_status_moves_are_recorded_and_a_decline_needs_a_reason(profiles, clinic_a, nina, carol):
    referral = submit(clinic_a)
    moved = referral_status_change(actor=nina, referral=referral, to="contacted")
    assert (moved.status, moved.contacted_at is not None) == ("contacted", True)
    with pytest.raises(DomainError) as caught:
        referral_status_change(actor=nina, referral=referral, to="declined", reason=" ")
    assert caught.value.code == "reason_required"
    with pytest.raises(DomainError) as caught:
        referral_status_change(actor=nina, referral=referral, to="converted")
    assert caught.value.code == "invalid_transition"
    with pytest.raises(Http404):
        referral_status_change(actor=carol, referral=referral, to="declined", reason="x")
    referral_status_change(actor=nina, referral=referral, to="declined", reason="Chose a service nearer home")
    assert list(ReferralEvent.objects.filter(referral=referral).values_list("to_status", flat=True)) == [
        "new",
        "contacted",
        "declined",
    ]
    assert AuditEvent.objects.filter(object_type="referral", action="update").count() == 2


# --- Purge -------------------------------------------------------------------------------------------


def test_purge_anonymises_old_referrals_that_never_became_patients(profiles, clinic_a):
    now = timezone.now()
    old = submit(clinic_a, now=now - timedelta(days=181))
    recent = submit(clinic_a, now=now - timedelta(days=179))
    assert referrals_purge(now=now, dry_run=True) == {"anonymised": 1, "rate_counters": 0}
    assert Referral.objects.get(pk=old.pk).contact_name == "Robin Zzyzxfield"
    result = referrals_purge(now=now)
    assert result["anonymised"] == 1
    old.refresh_from_db()
    assert (old.contact_name, old.contact_email, old.answers, old.reasons) == ("", "", {}, [])
    assert old.anonymised_at == now and old.reference and old.result
    assert Referral.objects.get(pk=recent.pk).contact_name == "Robin Zzyzxfield"
    event = AuditEvent.objects.get(object_type="referral", action="void")
    assert (event.object_id, event.actor_label) == (str(old.pk), "referrals_purge")
    assert referrals_purge(now=now)["anonymised"] == 0  # idempotent


# --- Conversion --------------------------------------------------------------------------------------


def test_converting_opens_the_record_and_a_pre_filled_screening_draft(profiles, clinic_a, nina):
    from kapstone.patients.models import Patient
    from kapstone.portal.services import referral_convert
    from kapstone.screening.models import ScreeningDraft

    referral = submit(clinic_a, answers=answers(region="NY", age_years=41, heart_or_bp_problem=True))
    patient, draft = referral_convert(actor=nina, referral=referral, mrn="A-7001")
    assert (patient.mrn, patient.given_name, patient.family_name) == ("A-7001", "Robin", "Zzyzxfield")
    assert (patient.email, patient.sex_at_birth, patient.birth_date_estimated) == (
        "robin@example.org",
        "unknown",
        True,
    )
    from kapstone.domain.patients import age_in_years
    from kapstone.patients.services import clinic_today

    assert age_in_years(patient.birth_date, on=clinic_today(clinic_a)) == 41
    # Only what the person said: a "yes" to the heart question settles none of its three questions.
    assert draft.answers == {
        "age_years": 41, "psychotic_disorder": False, "ketamine_hypersensitivity": False, "pregnant": False,
        "breastfeeding": False, "active_ketamine_misuse": False,
    }  # fmt: skip
    assert (draft.source, draft.source_reference, draft.patient_id) == (
        "referral",
        referral.reference,
        patient.pk,
    )
    referral.refresh_from_db()
    assert (referral.status, referral.patient_id) == ("converted", patient.pk)
    assert (
        AuditEvent.objects.filter(object_type="referral", action="update", patient_id=patient.pk).count() == 1
    )
    assert AuditEvent.objects.filter(object_type="screening_draft", patient_id=patient.pk).count() == 1
    assert Patient.objects.count() == 1 and ScreeningDraft.objects.count() == 1


def test_conversion_refusals_write_nothing(profiles, clinic_a, nina, carol, patient_a):
    from kapstone.patients.models import Patient
    from kapstone.portal.services import referral_convert
    from kapstone.screening.models import ScreeningDraft

    referral = submit(clinic_a)
    with pytest.raises(DomainError) as caught:
        referral_convert(actor=nina, referral=referral, mrn=patient_a.mrn)
    assert caught.value.code == "mrn_taken"
    with pytest.raises(Http404):
        referral_convert(actor=carol, referral=referral, mrn="A-9")
    one_word = submit(clinic_a, contact={"name": "Robin", "phone": "555-010-9999"})
    with pytest.raises(DomainError) as caught:
        referral_convert(actor=nina, referral=one_word, mrn="A-9")
    assert (caught.value.code, caught.value.field) == ("name_incomplete", "given_name")
    referral_status_change(actor=nina, referral=referral, to="declined", reason="Moved away")
    with pytest.raises(DomainError) as caught:
        referral_convert(actor=nina, referral=referral, mrn="A-9")
    assert caught.value.code == "referral_not_convertible"
    assert Patient.objects.count() == 1 and ScreeningDraft.objects.count() == 0
    assert Referral.objects.filter(status="converted").count() == 0
    patient, _ = referral_convert(
        actor=nina, referral=one_word, mrn="A-9", given_name="Robin", family_name="Quell"
    )
    assert (patient.given_name, patient.family_name) == ("Robin", "Quell")
