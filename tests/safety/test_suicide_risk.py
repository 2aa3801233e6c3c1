"""Suicide risk (issue 14): a PHQ-9 item 9 above 0 opens a C-SSRS task (outcomes); a C-SSRS at
high risk holds dosing (``suicide_risk_high``) until a prescriber documents a safety plan (safety)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.dosing import gates
from kapstone.dosing.models import DoseOrder
from kapstone.dosing.services import dose_order_create
from kapstone.outcomes.models import CSSRS_DUE_HOURS_DEFAULT, CssrsTask
from kapstone.outcomes.services import cssrs_due_hours_set, questionnaire_record
from kapstone.safety.models import SafetyPlan
from kapstone.safety.services import safety_plan_record
from kapstone.safety.suicide_gate import GATE_KEY, suicide_risk_order_gate
from tests.api.test_patients_api import Api, error_of
from tests.conftest import audit_count
from tests.portal.outcome_fixtures import open_account

pytestmark = pytest.mark.django_db

PHQ9_ITEM9_ZERO = [1, 1, 1, 1, 1, 1, 1, 1, 0]
PHQ9_ITEM9_ONE = [1, 1, 1, 1, 1, 1, 1, 1, 1]
CSSRS_HIGH = [1, 1, 1, 1, 0, 0]  # item 4 (intent): high
CSSRS_LOW = [1, 0, 0, 0, 0, 0]
CSSRS_BEHAVIOUR_LONG_AGO = [0, 0, 0, 0, 0, 1]  # moderate
PLAN = "Warning signs: sleeplessness. Coping: walk. Call sister; 988. Medicines locked away."


def phq9(actor, patient, answers, **kwargs):
    return questionnaire_record(actor=actor, patient=patient, instrument="phq-9", answers=answers, **kwargs)


def cssrs(actor, patient, answers):
    return questionnaire_record(actor=actor, patient=patient, instrument="c-ssrs", answers=answers)


class TestTask:
    def test_item_9_of_zero_opens_no_task(self, nina, patient_a):
        phq9(nina, patient_a, PHQ9_ITEM9_ZERO)
        assert CssrsTask.objects.count() == 0

    def test_item_9_of_one_opens_a_task_due_in_the_clinics_time(self, nina, patient_a):
        response = phq9(nina, patient_a, PHQ9_ITEM9_ONE)
        task = CssrsTask.objects.get()
        assert task.opened_by == response and task.clinic_id == patient_a.clinic_id and task.is_open
        assert task.due_at - task.opened_at == timedelta(hours=CSSRS_DUE_HOURS_DEFAULT) == timedelta(hours=24)
        assert audit_count(action="create", object_type="cssrs_task", object_id=task.pk) == 1

    def test_a_patients_own_entry_opens_one_too(self, nina, patient_a):
        pat = open_account(nina, patient_a, "pat@example.org")
        phq9(pat, patient_a, PHQ9_ITEM9_ONE, source="patient")
        assert CssrsTask.objects.get().opened_by.source == "patient"

    def test_a_second_positive_phq9_keeps_the_one_open_task(self, nina, patient_a):
        phq9(nina, patient_a, PHQ9_ITEM9_ONE)
        phq9(nina, patient_a, PHQ9_ITEM9_ONE)
        assert CssrsTask.objects.count() == 1

    def test_a_cssrs_closes_it_and_the_next_positive_opens_a_new_one(self, nina, patient_a):
        phq9(nina, patient_a, PHQ9_ITEM9_ONE)
        screener = cssrs(nina, patient_a, CSSRS_LOW)
        task = CssrsTask.objects.get()
        assert task.closed_by == screener and not task.is_open
        assert audit_count(action="update", object_type="cssrs_task", object_id=task.pk) == 1
        phq9(nina, patient_a, PHQ9_ITEM9_ONE)
        assert CssrsTask.objects.filter(closed_at__isnull=True).count() == 1

    def test_the_clinics_setting_sets_the_due_time_and_only_an_admin_sets_it(
        self, adam, nina, patient_a, clinic_a
    ):
        cssrs_due_hours_set(actor=adam, clinic=clinic_a, due_hours=4)
        phq9(nina, patient_a, PHQ9_ITEM9_ONE)
        task = CssrsTask.objects.get()
        assert task.due_at - task.opened_at == timedelta(hours=4)
        with pytest.raises(DomainError) as error:
            cssrs_due_hours_set(actor=adam, clinic=clinic_a, due_hours=169)
        assert error.value.code == "invalid_due_hours"
        from django.http import Http404

        with pytest.raises(Http404):
            cssrs_due_hours_set(actor=nina, clinic=clinic_a, due_hours=8)

    def test_the_care_team_sees_it_on_the_alerts_and_follow_up_lists(self, as_user, nina, terry, patient_a):
        phq9(nina, patient_a, PHQ9_ITEM9_ONE)
        for url in (reverse("outcomes:flags"), reverse("outcomes:follow_ups")):
            body = as_user(terry).get(url).content.decode()
            assert "Suicide risk screening to complete (1)" in body and "Record the C-SSRS" in body
            assert patient_a.display_name in body
        cssrs(nina, patient_a, CSSRS_LOW)
        assert (
            "Suicide risk screening to complete"
            not in as_user(terry).get(reverse("outcomes:flags")).content.decode()
        )

    def test_another_clinic_does_not_see_it(self, as_user, nina, carol, patient_a):
        phq9(nina, patient_a, PHQ9_ITEM9_ONE)
        body = as_user(carol).get(reverse("outcomes:flags")).content.decode()
        assert "Suicide risk screening" not in body and patient_a.family_name not in body


def order(alice, session):
    return dose_order_create(
        actor=alice, session=session, mg_per_kg="0.8", concentration_mg_per_ml="50", bag_ml="100"
    )


def refused(alice, session):
    before = (DoseOrder.objects.count(), audit_count(action="create", object_type="dose_order"))
    with pytest.raises(WorkflowConflict) as error:
        order(alice, session)
    assert error.value.code == "suicide_risk_high"
    assert (DoseOrder.objects.count(), audit_count(action="create", object_type="dose_order")) == before
    return error.value


class TestHold:
    def test_registered_at_startup(self):
        assert gates._GATES[GATE_KEY] is suicide_risk_order_gate

    @pytest.mark.parametrize("answers", [CSSRS_LOW, CSSRS_BEHAVIOUR_LONG_AGO])
    def test_below_high_does_not_hold(self, alice, nina, cleared_session, answers):
        cssrs(nina, cleared_session.patient, answers)
        assert order(alice, cleared_session).status == "ordered"

    def test_high_holds_until_a_prescriber_documents_a_plan(self, alice, nina, cleared_session):
        patient = cleared_session.patient
        cssrs(nina, patient, CSSRS_HIGH)
        assert "high risk" in refused(alice, cleared_session).message
        with pytest.raises(WorkflowConflict) as error:
            safety_plan_record(actor=nina, patient=patient, plan=PLAN)
        assert error.value.code == "prescriber_required"
        with pytest.raises(DomainError) as error:
            safety_plan_record(actor=alice, patient=patient, plan="  ")
        assert error.value.code == "plan_required"
        assert SafetyPlan.objects.count() == 0
        refused(alice, cleared_session)
        plan = safety_plan_record(actor=alice, patient=patient, plan=PLAN)
        assert audit_count(action="create", object_type="safety_plan", object_id=plan.pk, actor=alice) == 1
        assert order(alice, cleared_session).status == "ordered"

    def test_a_plan_before_a_new_high_screener_does_not_count(self, alice, nina, cleared_session):
        patient = cleared_session.patient
        safety_plan_record(actor=alice, patient=patient, plan=PLAN)
        cssrs(nina, patient, CSSRS_HIGH)
        refused(alice, cleared_session)
        # A later screener below high lifts it as well.
        cssrs(nina, patient, CSSRS_LOW)
        assert order(alice, cleared_session).status == "ordered"

    def test_the_api_answers_409_and_a_nurses_plan_is_403(self, alice, nina, cleared_session):
        patient = cleared_session.patient
        cssrs(nina, patient, CSSRS_HIGH)
        response = Api(alice).post(
            f"/sessions/{cleared_session.pk}/dose-orders", {"concentration_mg_per_ml": 50, "bag_ml": 100}
        )
        assert response.status_code == 409 and error_of(response)["code"] == "suicide_risk_high"
        assert DoseOrder.objects.count() == 0
        response = Api(nina).post(f"/patients/{patient.pk}/safety-plans", {"plan": PLAN})
        assert response.status_code == 403 and SafetyPlan.objects.count() == 0
        response = Api(alice).post(f"/patients/{patient.pk}/safety-plans", {"plan": PLAN})
        assert response.status_code == 201 and response.json()["prescriber"] == "alice"
        listed = Api(nina).get(f"/patients/{patient.pk}/safety-plans").json()
        assert listed["count"] == 1 and listed["items"][0]["plan"] == PLAN

    def test_web_page_a_nurse_is_refused_a_prescriber_clears_the_hold(
        self, as_user, alice, nina, cleared_session
    ):
        patient = cleared_session.patient
        cssrs(nina, patient, CSSRS_HIGH)
        url = reverse("safety:safety_plans", args=[patient.pk])
        page = as_user(nina).get(url)
        assert page.status_code == 200 and "Dosing on hold" in page.content.decode()
        assert "Save safety plan" not in page.content.decode()
        assert as_user(nina).post(url, {"plan": PLAN}).status_code == 403
        assert SafetyPlan.objects.count() == 0
        bad = as_user(alice).post(url, {"plan": ""})
        assert bad.status_code == 400 and SafetyPlan.objects.count() == 0
        assert as_user(alice).post(url, {"plan": PLAN}).status_code == 302
        assert "Dosing on hold" not in as_user(alice).get(url).content.decode()
        chart = as_user(alice).get(reverse("patients:chart", args=[patient.pk])).content.decode()
        assert "Suicide risk and safety plan" in chart and "Dosing on hold: high suicide risk" not in chart

    def test_another_clinic_is_404_with_a_denied_row(self, as_user, carol, patient_a):
        response = as_user(carol).post(reverse("safety:safety_plans", args=[patient_a.pk]), {"plan": PLAN})
        assert response.status_code == 404 and patient_a.family_name not in response.content.decode()
        assert audit_count(action="denied", object_type="patient", patient_id=patient_a.pk, actor=carol) == 1
        response = Api(carol).post(f"/patients/{patient_a.pk}/safety-plans", {"plan": PLAN})
        assert response.status_code == 404 and SafetyPlan.objects.count() == 0


def test_the_order_page_names_every_hold_at_once(as_user, alice, nina, cleared_session):
    """A raised bilirubin and a high C-SSRS: both are on the order page before anyone signs, so
    clearing the first does not reveal the second only at the next try."""
    from tests.conftest import record_liver_panel

    patient = cleared_session.patient
    record_liver_panel(nina, patient, bilirubin="9")
    cssrs(nina, patient, CSSRS_HIGH)
    refusals = gates.order_refusals(cleared_session)
    assert {r.code for r in refusals} == {"liver_tests_above_limit", "suicide_risk_high"}
    assert gates.order_refusal(cleared_session).code == refusals[0].code
    body = as_user(alice).get(reverse("dosing:order_create", args=[cleared_session.pk])).content.decode()
    assert "This dose cannot be signed yet,</strong> for 2 reasons" in body
    for refusal in refusals:
        assert f'<li data-code="{refusal.code}">' in body
    assert DoseOrder.objects.count() == 0


class TestDueHoursPage:
    """The clinic admin's page for the time to complete the C-SSRS (outcomes:cssrs_due_hours)."""

    url = "/flags/cssrs-time/"

    def settings_rows(self):
        from kapstone.outcomes.models import CssrsTaskSetting

        return list(CssrsTaskSetting.objects.values_list("clinic_id", "due_hours"))

    def test_an_admin_sets_it_and_the_next_task_follows(self, as_user, adam, nina, clinic_a, patient_a):
        page = as_user(adam).get(self.url)
        assert page.status_code == 200 and b"24 hours" in page.content
        response = as_user(adam).post(self.url, {"clinic": clinic_a.pk, "due_hours": "6"})
        assert response.status_code == 302
        assert self.settings_rows() == [(clinic_a.pk, 6)]
        assert audit_count(action="update", object_type="cssrs_task_setting") == 1
        phq9(nina, patient_a, PHQ9_ITEM9_ONE)
        task = CssrsTask.objects.get()
        assert task.due_at - task.opened_at == timedelta(hours=6)
        flags = as_user(adam).get(reverse("outcomes:flags")).content.decode()
        assert "Time to complete the C-SSRS" in flags

    @pytest.mark.parametrize(
        ("hours", "words"),
        [
            ("0", "At least 1 hour."),
            ("169", "At most 168 hours (a week)."),
            ("abc", "Give a whole number of hours."),
        ],
    )
    def test_out_of_range_is_refused_beside_the_field_and_kept(self, as_user, adam, clinic_a, hours, words):
        response = as_user(adam).post(self.url, {"clinic": clinic_a.pk, "due_hours": hours})
        assert response.status_code == 400
        body = response.content.decode()
        assert words in body and f'value="{hours}"' in body
        assert self.settings_rows() == []
        assert audit_count(action="update", object_type="cssrs_task_setting") == 0

    def test_only_admins_and_only_their_clinic(self, as_user, adam, nina, carol, clinic_a, clinic_b):
        assert as_user(nina).get(self.url).status_code == 403
        assert as_user(nina).post(self.url, {"clinic": clinic_a.pk, "due_hours": "6"}).status_code == 403
        # An admin of clinic A cannot choose clinic B: it is not among the choices.
        response = as_user(adam).post(self.url, {"clinic": clinic_b.pk, "due_hours": "6"})
        assert response.status_code == 400 and self.settings_rows() == []
        assert (
            "Time to complete the C-SSRS" not in as_user(nina).get(reverse("outcomes:flags")).content.decode()
        )
