"""Issue 11: "The demo's clinical stories are consistent: a sign-off reason matches the patient's
diagnosis, screenings come before treatment." Checked on the seeded demo (few patients)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.utils import timezone

from kapstone.care.models import CourseEvent, TreatmentCourse
from kapstone.demo.seed import seed_demo
from kapstone.screening.models import Screening, ScreeningSignOff
from kapstone.screening.selectors import screening_is_approved

pytestmark = [pytest.mark.django_db, pytest.mark.full_demo]

#: Words by which a prescriber's reason speaks to the rule a screening triggered.
RULE_WORDS = {
    "stimulant_use": ("cocaine", "methamphetamine", "methylphenidate", "amphetamine", "stimulant"),
    "cns_depressant_use": (
        "chlordiazepoxide",
        "diazepam",
        "benzodiazepine",
        "zopiclone",
        "opioid",
        "sedative",
    ),
    "blood_pressure_elevated": ("hypertension", "blood pressure", "diastolic", "systolic"),
    "maoi_use": ("maoi",),
    "active_ketamine_misuse": ("ketamine use", "ketamine misuse"),
    "current_mania": ("mania", "manic"),
    "raised_intracranial_or_intraocular_pressure": ("glaucoma", "intracranial", "eye"),
    "psychotic_disorder": ("psychosis", "psychotic", "schizophrenia"),
    "uncontrolled_cardiovascular_disease": ("heart", "cardiac", "cardiology"),
    "aneurysmal_vascular_disease": ("aneurysm", "malformation"),
}
#: A reason naming the substance treated must be about the patient's primary diagnosis.
SUBSTANCE_DIAGNOSIS = {
    "alcohol": "F10",
    "heroin": "F11",
    "opioid": "F11",
    "cannabis": "F12",
    "sedative dependence": "F13",
    "cocaine": "F14",
    "methamphetamine": "F15",
}


def primary_code(patient) -> str:
    primary = patient.diagnoses.filter(is_primary=True, voided_at__isnull=True).first()
    return primary.code if primary else ""


def test_the_demo_stories_hold_together():
    # One seed (a minute through the services) for both checks.
    seed_demo(patients_per_clinic=12, follow_up_per_protocol=1)
    check_every_sign_off_reason_speaks_to_the_screening_and_the_patients_diagnosis()
    check_every_course_starts_after_the_screening_and_sign_off_that_cleared_the_patient()


def check_every_sign_off_reason_speaks_to_the_screening_and_the_patients_diagnosis():
    sign_offs = list(ScreeningSignOff.objects.select_related("screening", "screening__patient"))
    assert any(s.approve for s in sign_offs) and any(not s.approve for s in sign_offs)
    for sign_off in sign_offs:
        screening, reason = sign_off.screening, sign_off.reason.lower()
        patient = screening.patient
        where = f"{patient.mrn}: {sign_off.reason!r}"
        fired = [r["code"] for r in screening.reasons]
        # The reason addresses a rule this screening triggered (not another patient's story).
        assert any(word in reason for code in fired for word in RULE_WORDS.get(code, ())), (where, fired)
        # A substance named is the one this patient is treated for.
        code = primary_code(patient)
        for words, family in SUBSTANCE_DIAGNOSIS.items():
            if words in reason:
                assert code.startswith(family), (where, code)
        if sign_off.approve:
            assert screening.decision == "needs_review", where


def check_every_course_starts_after_the_screening_and_sign_off_that_cleared_the_patient():
    now = timezone.now()
    courses = list(TreatmentCourse.objects.select_related("patient", "clinic", "screening"))
    assert len(courses) >= 5
    for course in courses:
        zone = ZoneInfo(course.clinic.timezone)
        screening = Screening.objects.select_related("sign_off").get(pk=course.screening_id)
        where = f"{course.patient.mrn} {course.protocol_slug}"
        assert screening_is_approved(screening), where
        assert screening.entered_at < course.enrolled_at <= now, where
        sign_off = getattr(screening, "sign_off", None)
        if sign_off is not None:
            assert screening.entered_at < sign_off.signed_at < course.enrolled_at, where
        # It was the current screening when the patient was enrolled.
        assert not Screening.objects.filter(
            patient=course.patient, entered_at__gt=screening.entered_at, entered_at__lt=course.enrolled_at
        ).exists(), where
        (enrolled,) = CourseEvent.objects.filter(course=course, kind="enrolled")
        assert enrolled.at == course.enrolled_at, where
        first = course.sessions.order_by("scheduled_date", "order").first()
        first_at = datetime.combine(first.scheduled_date, first.start_time or time.min, tzinfo=zone)
        assert course.enrolled_at < first_at, (where, course.enrolled_at, first_at)
        # On the clinic's clock, in working hours.
        for moment in (screening.entered_at, course.enrolled_at, *([sign_off.signed_at] if sign_off else [])):
            assert 9 <= moment.astimezone(zone).hour < 17, (where, moment)
    # Nobody's screening or sign-off is dated in the future.
    assert not Screening.objects.filter(entered_at__gt=now).exists()
    assert not ScreeningSignOff.objects.filter(signed_at__gt=now).exists()
