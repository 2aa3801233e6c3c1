"""Patient-entered outcomes: the same services as staff entry, with ``source="patient"``, the
patient's own account as the only actor allowed, and the patient's calendar window."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.http import Http404

from kapstone.audit.models import AuditEvent
from kapstone.domain.errors import DomainError
from kapstone.outcomes.models import CalendarVersion, ClinicalFlag, QuestionnaireResponse, UseDay
from kapstone.outcomes.selectors import flag_list_for_user
from kapstone.outcomes.services import questionnaire_record, use_days_record
from kapstone.patients.access import is_own_record
from kapstone.patients.services import clinic_today
from kapstone.portal.patient_services import portal_account_disable, portal_invite
from tests.portal.outcome_fixtures import LINK, PHQ9_CALM, PHQ9_ITEM9, row_counts

pytestmark = pytest.mark.django_db


def test_is_own_record_only_for_the_patients_own_active_account(
    pat, quinn, rhea, patient_a, patient_b, quinn_patient, alice, nina
):
    assert is_own_record(pat, patient_a)
    assert not is_own_record(pat, quinn_patient)  # another patient of the same clinic
    assert not is_own_record(pat, patient_b)  # a patient of another clinic
    assert not is_own_record(rhea, patient_a)
    assert not is_own_record(alice, patient_a)  # staff are never "the patient"
    assert not is_own_record(None, patient_a)
    portal_account_disable(actor=nina, account=pat.patient_account, reason="Moved away")
    pat.refresh_from_db()
    assert not is_own_record(pat, patient_a)


def test_a_pending_account_is_not_the_patient(nina, quinn_patient):
    invitation, _ = portal_invite(actor=nina, patient=quinn_patient, email="q@example.org", link_base=LINK)
    assert not is_own_record(invitation.account.user, quinn_patient)


def test_a_patient_answers_scored_and_flagged_as_staff_entry(pat, patient_a, nina):
    response = questionnaire_record(
        actor=pat, patient=patient_a, instrument="phq-9", answers=PHQ9_ITEM9, source="patient"
    )
    staff = questionnaire_record(actor=nina, patient=patient_a, instrument="phq-9", answers=PHQ9_ITEM9)
    assert (response.total, response.band, response.flags) == (staff.total, staff.band, staff.flags)
    assert response.flags == ["self-harm-risk"] and response.source == "patient" and staff.source == "staff"
    assert response.administered_on == clinic_today(patient_a.clinic) and response.entered_by == pat
    flag = ClinicalFlag.objects.get(response=response)
    assert flag.clinic_id == patient_a.clinic_id
    assert flag in flag_list_for_user(user=nina)  # open on the clinic's worklist
    event = AuditEvent.objects.get(object_type="questionnaire_response", object_id=str(response.pk))
    assert event.actor_id == pat.pk and event.detail["source"] == "patient"
    assert (
        AuditEvent.objects.filter(object_type="clinical_flag", actor=pat, patient_id=patient_a.pk).count()
        == 1
    )


@pytest.mark.parametrize(
    ("instrument", "answers", "code"),
    [
        ("dast-10", [0] * 10, "not_a_patient_instrument"),
        ("cadss", [0] * 23, "not_a_patient_instrument"),
        # Clinician-administered scales (issue 14): staff entry only.
        ("ciwa-ar", [0] * 10, "not_a_patient_instrument"),
        ("cows", [0] * 11, "not_a_patient_instrument"),
        ("c-ssrs", [0] * 6, "not_a_patient_instrument"),
        ("bdi", [0] * 21, "unknown_instrument"),
        ("phq-9", [0] * 8, "wrong_answer_count"),
        ("phq-9", [0] * 8 + [4], "answer_out_of_range"),
    ],
)
def test_refusals_of_a_patients_answers_write_nothing(pat, patient_a, instrument, answers, code):
    before = row_counts()
    with pytest.raises(DomainError) as caught:
        questionnaire_record(
            actor=pat, patient=patient_a, instrument=instrument, answers=answers, source="patient"
        )
    assert caught.value.code == code
    assert row_counts() == before


def test_audit_c_needs_the_sex_on_record(nina, alice, clinic_a):
    from tests.conftest import new_patient
    from tests.portal.outcome_fixtures import open_account

    patient = new_patient(alice, clinic_a, mrn="A-3", sex_at_birth="unknown")
    user = open_account(nina, patient, "u@example.org")
    with pytest.raises(DomainError) as caught:
        questionnaire_record(
            actor=user, patient=patient, instrument="audit-c", answers=[1, 1, 1], source="patient"
        )
    assert caught.value.code == "sex_required"
    with pytest.raises(DomainError) as caught:
        questionnaire_record(
            actor=user, patient=patient, instrument="audit-c", answers=[1, 1, 1], sex="male", source="patient"
        )
    assert caught.value.code == "not_allowed_for_patient"
    assert QuestionnaireResponse.objects.count() == 0


def test_only_the_patients_own_account_writes_as_the_patient(pat, quinn, rhea, patient_a, alice, nina):
    before = row_counts()
    for actor in (quinn, rhea, alice):
        with pytest.raises(Http404):
            questionnaire_record(
                actor=actor, patient=patient_a, instrument="phq-9", answers=PHQ9_CALM, source="patient"
            )
        with pytest.raises(Http404):
            use_days_record(
                actor=actor,
                patient=patient_a,
                substance="alcohol",
                days=[{"day": clinic_today(patient_a.clinic), "standard_drinks": 0}],
                source="patient",
            )
    # A patient cannot pass as staff either.
    with pytest.raises(Http404):
        questionnaire_record(actor=pat, patient=patient_a, instrument="phq-9", answers=PHQ9_CALM)
    with pytest.raises(DomainError) as caught:
        questionnaire_record(
            actor=nina, patient=patient_a, instrument="phq-9", answers=PHQ9_CALM, source="robot"
        )
    assert caught.value.code == "invalid_source"
    assert row_counts() == before


def test_a_patient_fills_their_calendar_and_the_summaries_go_stale(pat, patient_a, pat_course):
    today = clinic_today(patient_a.clinic)
    rows = use_days_record(
        actor=pat,
        patient=patient_a,
        substance="alcohol",
        days=[
            {"day": today - timedelta(days=1), "standard_drinks": Decimal("2")},
            {"day": today, "standard_drinks": 0},
        ],
        source="patient",
    )
    assert [(r.source, r.used, r.entered_by_id) for r in rows] == [
        ("patient", True, pat.pk),
        ("patient", False, pat.pk),
    ]
    version = CalendarVersion.objects.get(patient=patient_a).version
    assert version >= 1  # the database trigger ran (the research summaries are now stale)
    # The patient corrects their own day: a new row, the old one kept as history.
    use_days_record(
        actor=pat,
        patient=patient_a,
        substance="alcohol",
        days=[{"day": today, "standard_drinks": 1}],
        source="patient",
    )
    assert UseDay.objects.filter(patient=patient_a, day=today).count() == 2
    assert CalendarVersion.objects.get(patient=patient_a).version > version
    event = AuditEvent.objects.filter(object_type="use_calendar", actor=pat).latest("id")
    assert event.detail["source"] == "patient" and event.patient_id == patient_a.pk


@pytest.mark.parametrize(
    ("offset", "code"),
    [(1, "day_out_of_range"), (-30, "day_out_of_range"), (-11, "day_out_of_range")],
    ids=["tomorrow", "31_days_back", "before_the_course"],
)
def test_a_patient_cannot_report_days_outside_their_window(pat, patient_a, alice, offset, code):
    from tests.portal.outcome_fixtures import enrol

    today = clinic_today(patient_a.clinic)
    # The course started 10 days ago, except for the 30-day test (started 60 days ago).
    enrol(alice, patient_a, start=today - timedelta(days=60 if offset == -30 else 10))
    before = row_counts()
    with pytest.raises(DomainError) as caught:
        use_days_record(
            actor=pat,
            patient=patient_a,
            substance="alcohol",
            days=[
                {"day": today, "standard_drinks": 0},
                {"day": today + timedelta(days=offset), "standard_drinks": 0},
            ],
            source="patient",
        )
    assert (caught.value.code, caught.value.field) == (code, "days[1].day")
    assert row_counts() == before


def test_the_window_edges_are_allowed(pat, patient_a, alice):
    from tests.portal.outcome_fixtures import enrol

    today = clinic_today(patient_a.clinic)
    enrol(alice, patient_a, start=today - timedelta(days=60))
    rows = use_days_record(
        actor=pat,
        patient=patient_a,
        substance="cocaine",
        days=[{"day": today - timedelta(days=29), "used": False}, {"day": today, "used": True}],
        source="patient",
    )
    assert len(rows) == 2


def test_a_patient_without_a_course_has_no_calendar(pat, patient_a):
    with pytest.raises(DomainError) as caught:
        use_days_record(
            actor=pat,
            patient=patient_a,
            substance="alcohol",
            days=[{"day": clinic_today(patient_a.clinic), "standard_drinks": 0}],
            source="patient",
        )
    assert caught.value.code == "day_out_of_range"
    assert UseDay.objects.count() == 0


def test_a_patient_does_not_overwrite_a_day_the_clinic_recorded(pat, patient_a, pat_course, nina):
    day = clinic_today(patient_a.clinic) - timedelta(days=2)
    use_days_record(
        actor=nina, patient=patient_a, substance="alcohol", days=[{"day": day, "standard_drinks": 6}]
    )
    before = row_counts()
    with pytest.raises(DomainError) as caught:
        use_days_record(
            actor=pat,
            patient=patient_a,
            substance="alcohol",
            days=[{"day": day, "standard_drinks": 0}],
            source="patient",
        )
    assert (caught.value.code, caught.value.field) == ("day_recorded_by_clinic", "days[0].day")
    assert row_counts() == before
    # Staff may correct the patient's days, as any earlier entry.
    use_days_record(
        actor=pat,
        patient=patient_a,
        substance="alcohol",
        days=[{"day": day + timedelta(days=1), "standard_drinks": 3}],
        source="patient",
    )
    rows = use_days_record(
        actor=nina,
        patient=patient_a,
        substance="alcohol",
        days=[{"day": day + timedelta(days=1), "standard_drinks": 4}],
    )
    assert rows[0].source == "staff"


def test_existing_rows_are_staff_entries(nina, patient_a):
    response = questionnaire_record(actor=nina, patient=patient_a, instrument="gad-7", answers=[0] * 7)
    assert QuestionnaireResponse.objects.get(pk=response.pk).source == "staff"


@pytest.mark.parametrize(
    ("entry", "code", "field"),
    [
        (
            {"standard_drinks": "123456"},
            "drinks_out_of_range",
            "days[0].standard_drinks",
        ),  # PostgreSQL: a 500
        ({"standard_drinks": "100"}, "drinks_out_of_range", "days[0].standard_drinks"),
        ({"standard_drinks": "1.25"}, "invalid_amount", "days[0].standard_drinks"),  # PostgreSQL: rounded
    ],
)
def test_the_staff_api_refuses_drinks_the_calendar_cannot_hold(nina, patient_a, entry, code, field):
    from tests.api.test_patients_api import Api, error_of

    day = clinic_today(patient_a.clinic).isoformat()
    response = Api(nina).post(
        f"/patients/{patient_a.pk}/use-days", {"substance": "alcohol", "days": [{"day": day, **entry}]}
    )
    assert response.status_code == 422
    assert (error_of(response)["code"], error_of(response)["field"]) == (code, field)
    assert UseDay.objects.count() == 0


def test_amounts_the_calendar_cannot_hold_are_refused(nina, patient_a):
    day = clinic_today(patient_a.clinic)
    for amount, code in ((Decimal("1000000"), "amount_out_of_range"), (Decimal("0.125"), "invalid_amount")):
        with pytest.raises(DomainError) as caught:
            use_days_record(
                actor=nina,
                patient=patient_a,
                substance="cocaine",
                days=[{"day": day, "used": True, "amount": amount}],
            )
        assert (caught.value.code, caught.value.field) == (code, "days[0].amount")
    rows = use_days_record(
        actor=nina,
        patient=patient_a,
        substance="alcohol",
        days=[{"day": day, "standard_drinks": Decimal("99.0")}],
    )
    assert rows[0].standard_drinks == 99 and UseDay.objects.count() == 1
