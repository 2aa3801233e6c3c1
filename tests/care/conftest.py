from __future__ import annotations

from datetime import date, timedelta

import pytest

from kapstone.care.services import course_enrol
from kapstone.patients.services import clinic_today, consent_record
from kapstone.screening.services import screening_record, screening_sign_off

ELIGIBLE = {
    "ketamine_hypersensitivity": False,
    "pregnant": False,
    "breastfeeding": False,
    "intoxicated_now": False,
    "psychotic_disorder": False,
    "aneurysmal_vascular_disease": False,
    "intracerebral_hemorrhage_history": False,
    "uncontrolled_cardiovascular_disease": False,
    "severe_hepatic_impairment": False,
    "raised_intracranial_or_intraocular_pressure": False,
    "active_ketamine_misuse": False,
    "current_mania": False,
    "maoi_use": False,
    "cns_depressant_use": False,
    "stimulant_use": False,
    "seizure_history": False,
    "uncontrolled_hyperthyroidism": False,
    "pre_eclampsia": False,
    "systolic_bp": 124,
    "diastolic_bp": 78,
    "age_years": 46,
    # KARE's own criteria (Grabski 2022), met.
    "psychosis_family_history": False,
    "suicidal_ideation_current": False,
    "antidepressant_use": False,
    "detoxifications_count": 2,
    "bdi_ii_total": 22,
    "bmi_kg_m2": "26.4",
    "liver_tests_within_3x_uln": "yes",
    "urine_drug_screen": "negative",
}

PASSING_CHECKS = {
    "breath_alcohol_g_per_210l": "0.000",
    "urine_drug_screen_result": "negative",
    "childbearing_potential": "",
    "pregnancy_test_result": "negative",
    "systolic_bp": "128",
    "diastolic_bp": "80",
    "fasting_hours": "8",
    "escort_confirmed": "on",
    "ciwa_ar_total": "3",
    "benzodiazepine_use": "no",
    "sedative_or_opioid_use": "no",
    "stimulant_use": "no",
    "maoi_use": "no",
    "theophylline_use": "no",
    "airway_clinician_present": "on",
    "resuscitation_equipment_checked": "on",
    "vital_signs_monitoring_available": "on",
    "prescriber_on_site": "on",
}


def screen(actor, patient, **changes):
    return screening_record(actor=actor, patient=patient, answers=ELIGIBLE | changes)


@pytest.fixture
def eligible_a(alice, patient_a):
    consent_record(
        actor=alice,
        patient=patient_a,
        kind="treatment",
        status="granted",
        effective_on=date(2026, 1, 5),
        document_version="2026-01",
    )
    return screen(alice, patient_a)


@pytest.fixture
def course_a(alice, patient_a, eligible_a):
    return course_enrol(
        actor=alice,
        patient=patient_a,
        protocol_slug="kare-alcohol-grabski-2022",
        start_date=clinic_today(patient_a.clinic),
    )


@pytest.fixture
def needs_review_a(alice, patient_a):
    # A relative contraindication that KARE's own criteria do not also refuse (a BP above 140/90 would).
    return screen(alice, patient_a, stimulant_use=True)


@pytest.fixture
def approve():
    def _approve(actor, screening, reason="BP controlled on repeat; benefit outweighs risk"):
        return screening_sign_off(actor=actor, screening=screening, approve=True, reason=reason)

    return _approve


def first_dosing(course):
    return course.sessions.filter(kind="dosing").order_by("order").first()


def days(n: int) -> timedelta:
    return timedelta(days=n)


def move_dosing_session(actor, session, to: str):
    """Test helper: put a dosing session where the dosing app's administration would
    (``in_progress``, ``recovering``) without a dose record — for tests about something else
    (the register). Product code moves these states only through the administration."""
    from django.db import transaction

    from kapstone.care.models import CareSession
    from kapstone.care.services import session_move_record

    with transaction.atomic():
        current = CareSession.objects.select_for_update().get(pk=session.pk)
        session_move_record(actor=actor, session=current, to=to, reason="test set-up")
    return current
