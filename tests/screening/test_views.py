"""The screening page, the one-screen form and the sign-off form through the web UI."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from kapstone.domain.screening import ALL_QUESTIONS, QUESTIONS
from kapstone.screening import services
from kapstone.screening.forms import GROUPS, ScreeningForm
from kapstone.screening.models import Screening, ScreeningSignOff
from tests.conftest import audit_count, without_csrf
from tests.screening.conftest import clean_answers, form_data, row_counts, screen

pytestmark = pytest.mark.django_db


def list_url(patient) -> str:
    return reverse("screening:list", args=[patient.pk])


def new_url(patient) -> str:
    return reverse("screening:new", args=[patient.pk])


def sign_off_url(screening) -> str:
    return reverse("screening:sign_off", args=[screening.pk])


class TestPage:
    def test_it_shows_the_current_decision_in_words_every_reason_and_the_history(
        self, as_user, nina, terry, patient_a
    ):
        screen(nina, patient_a, "deferred")
        screen(nina, patient_a, "needs_review", maoi_use=True)
        response = as_user(terry).get(list_url(patient_a))
        assert response.status_code == 200
        body = response.content.decode()
        current = body[body.index('class="panel decision-panel') : body.index('id="history-h"')]
        assert current.startswith('class="panel decision-panel needs_review"')  # colour…
        assert "Needs prescriber review" in current  # …and words
        assert "Awaiting prescriber sign-off" in current
        for code in ("maoi_use", "cns_depressant_use"):
            assert code in current
        assert "Takes an MAOI" in current and "Relative: prescriber review" in current
        assert "Spravato medication guide" in current  # the source
        history = body[body.index('id="history-h"') :]
        assert "Deferred" in history and "blood_pressure_severely_elevated" in history
        assert (
            audit_count(action="read", object_type="screening_list", actor=terry, patient_id=patient_a.pk)
            == 1
        )

    def test_unscreened_patient(self, as_user, nina, patient_a):
        response = as_user(nina).get(list_url(patient_a))
        assert response.status_code == 200
        assert b"Not screened yet" in response.content
        assert new_url(patient_a).encode() in response.content

    def test_sign_off_form_is_for_prescribers_only(self, as_user, alice, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        assert sign_off_url(screening).encode() in as_user(alice).get(list_url(patient_a)).content
        assert sign_off_url(screening).encode() not in as_user(nina).get(list_url(patient_a)).content

    def test_ineligible_offers_only_a_decline(self, as_user, alice, nina, patient_a):
        screen(nina, patient_a, "ineligible")
        body = as_user(alice).get(list_url(patient_a)).content
        assert b'value="decline"' in body and b'value="approve"' not in body

    def test_admin_reads_but_is_offered_no_screen_button(self, as_user, adam, nina, patient_a):
        screen(nina, patient_a)
        response = as_user(adam).get(list_url(patient_a))
        assert response.status_code == 200
        assert new_url(patient_a).encode() not in response.content

    def test_requires_login(self, client, patient_a):
        response = client.get(list_url(patient_a))
        assert response.status_code == 302
        assert reverse("accounts:login") in response["Location"]

    def test_other_clinic_gets_the_same_404_as_missing(self, as_user, carol, nina, patient_a):
        screen(nina, patient_a)
        client = as_user(carol)
        theirs = client.get(list_url(patient_a))
        missing = client.get(reverse("screening:list", args=[987_654]))
        assert theirs.status_code == missing.status_code == 404
        assert without_csrf(theirs.content) == without_csrf(missing.content)
        assert b"Zzyzxfield" not in theirs.content and b"A-1001" not in theirs.content

    def test_researcher_gets_403(self, as_user, bob, nina, patient_a):
        screen(nina, patient_a)
        response = as_user(bob).get(list_url(patient_a))
        assert response.status_code == 403
        assert b"Zzyzxfield" not in response.content
        assert audit_count(action="denied", actor=bob) == 1


class TestForm:
    def test_every_question_is_on_the_form_once_in_a_group(self):
        grouped = [name for _, _, names in GROUPS for name in names]
        assert sorted(grouped) == sorted(q.name for q in ALL_QUESTIONS)
        form = ScreeningForm()
        on_form = [field.name for group in form.question_groups() for field in group.fields]
        assert on_form == grouped

    def test_it_renders_labels_help_units_and_yes_no_pairs(self, as_user, nina, patient_a):
        response = as_user(nina).get(new_url(patient_a))
        assert response.status_code == 200
        body = response.content.decode()
        for question in QUESTIONS:
            assert question.label in body
            if question.kind == "boolean":
                assert f'name="{question.name}" value="yes"' in body
                assert f'name="{question.name}" value="no"' in body
            else:
                assert f'name="{question.name}"' in body and 'type="number"' in body
        assert "mmHg" in body and "Seated, at screening." in body
        for title in ("Contraindications", "Current state", "Medications", "Blood pressure and age"):
            assert title in body
        # Age is pre-filled from the record for the clinician to confirm.
        assert re.search(r'name="age_years" value="4\d"', body)
        assert audit_count(action="read", object_type="patient", patient_id=patient_a.pk, actor=nina) == 1

    def test_it_records_and_shows_the_decision(self, as_user, terry, patient_a):
        client = as_user(terry)
        response = client.post(new_url(patient_a), form_data(stimulant_use=True))
        assert response.status_code == 302
        assert response["Location"] == list_url(patient_a)
        screening = Screening.objects.get(patient=patient_a)
        assert screening.decision == "needs_review" and screening.entered_by == terry
        assert screening.answers == clean_answers(stimulant_use=True)
        assert audit_count(action="create", object_type="screening", actor=terry) == 1
        page = client.get(response["Location"])
        assert (
            b"stimulant_use" in page.content
            and b"Screening recorded: needs prescriber review" in page.content
        )

    def test_the_new_label_questions_and_the_protocol_inputs_are_on_the_form(self, as_user, nina, patient_a):
        body = as_user(nina).get(new_url(patient_a)).content.decode()
        for name in ("seizure_history", "uncontrolled_hyperthyroidism", "pre_eclampsia"):
            assert f'name="{name}" value="yes"' in body
        assert "Only for a protocol with its own criteria (e.g. KARE)" in body
        assert 'name="liver_tests_within_3x_uln" value="unknown"' in body and "Not known" in body
        assert 'name="bmi_kg_m2"' in body and "kg/m²" in body and "BDI-II total score" in body

    def test_protocol_inputs_are_kept_when_given_and_left_out_when_blank(self, as_user, nina, patient_a):
        client = as_user(nina)
        data = form_data(pre_eclampsia=True) | {
            "bdi_ii_total": "21",
            "bmi_kg_m2": "24.5",
            "liver_tests_within_3x_uln": "unknown",
            "psychosis_family_history": "no",
            "detoxifications_count": "",
        }
        response = client.post(new_url(patient_a), data)
        assert response.status_code == 302
        screening = Screening.objects.get(patient=patient_a)
        assert screening.decision == "ineligible" and screening.reasons[0]["code"] == "pre_eclampsia"
        assert screening.answers == clean_answers(pre_eclampsia=True) | {
            "bdi_ii_total": 21,
            "bmi_kg_m2": "24.5",
            "liver_tests_within_3x_uln": "unknown",
            "psychosis_family_history": False,
        }
        page = client.get(list_url(patient_a)).content.decode()
        assert "Not known" in page and "24.5 kg/m²" in page

    def test_a_bmi_with_two_decimals_is_refused_beside_its_field(self, as_user, nina, patient_a):
        before = row_counts()
        response = as_user(nina).post(new_url(patient_a), form_data() | {"bmi_kg_m2": "24.55"})
        assert response.status_code == 400
        body = response.content.decode()
        field = body[body.index('for="id_bmi_kg_m2"') : body.index('for="id_bmi_kg_m2"') + 1500]
        assert "invalid_answer" in field and "one decimal place" in field and 'value="24.55"' in field
        assert row_counts() == before

    def test_implausible_value_shows_the_message_beside_the_field_keeps_input_writes_nothing(
        self, as_user, nina, patient_a
    ):
        before, events = row_counts(), audit_count(object_type="screening")
        response = as_user(nina).post(new_url(patient_a), form_data(systolic_bp=400, pregnant=True))
        assert response.status_code == 400
        body = response.content.decode()
        field = body[body.index('for="id_systolic_bp"') : body.index('for="id_diastolic_bp"')]
        assert "is not plausible" in field and "implausible_value" in field
        assert 'value="400"' in field  # the input is kept…
        assert re.search(r'name="pregnant" value="yes"[^>]*checked', body)  # …answers included
        assert row_counts() == before
        assert audit_count(object_type="screening") == events

    def test_diastolic_not_below_systolic_is_refused_on_the_diastolic_field(self, as_user, nina, patient_a):
        response = as_user(nina).post(new_url(patient_a), form_data(systolic_bp=100, diastolic_bp=110))
        assert response.status_code == 400
        body = response.content.decode()
        field = body[body.index('for="id_diastolic_bp"') : body.index('for="id_age_years"')]
        assert "not below systolic" in field and "implausible_value" in field
        assert Screening.objects.count() == 0

    def test_unanswered_question_and_non_number_are_refused(self, as_user, nina, patient_a):
        data = form_data()
        del data["maoi_use"]
        data["age_years"] = "forty"
        response = as_user(nina).post(new_url(patient_a), data)
        assert response.status_code == 400
        assert b"Answer yes or no." in response.content
        assert b"Enter a whole number" in response.content
        assert b'value="forty"' in response.content
        assert Screening.objects.count() == 0

    def test_requires_login(self, client, patient_a):
        response = client.post(new_url(patient_a), form_data())
        assert response.status_code == 302
        assert Screening.objects.count() == 0

    def test_other_clinic_gets_404(self, as_user, carol, patient_a):
        get = as_user(carol).get(new_url(patient_a))
        post = as_user(carol).post(new_url(patient_a), form_data())
        assert get.status_code == post.status_code == 404
        assert b"Zzyzxfield" not in get.content + post.content
        assert Screening.objects.count() == 0

    @pytest.mark.parametrize("actor", ["adam", "bob"])
    def test_wrong_role_gets_403(self, request, as_user, patient_a, actor):
        user = request.getfixturevalue(actor)
        response = as_user(user).post(new_url(patient_a), form_data())
        assert response.status_code == 403
        assert Screening.objects.count() == 0
        assert audit_count(action="denied", actor=user) == 1


class TestSignOff:
    def test_prescriber_approves_needs_review_with_reason(self, as_user, alice, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        response = as_user(alice).post(
            sign_off_url(screening), {"outcome": "approve", "reason": "Sedation risk discussed; monitored."}
        )
        assert response.status_code == 302 and response["Location"] == list_url(patient_a)
        sign_off = ScreeningSignOff.objects.get(screening=screening)
        assert sign_off.approve and sign_off.signed_by == alice
        assert audit_count(action="create", object_type="screening_sign_off", actor=alice) == 1
        page = as_user(alice).get(list_url(patient_a)).content.decode()
        assert "Approved" in page and "Sedation risk discussed; monitored." in page
        assert sign_off_url(screening) not in page  # signed once: the form is gone

    def test_missing_reason_shows_the_error_beside_the_reason_and_writes_nothing(
        self, as_user, alice, nina, patient_a
    ):
        screening = screen(nina, patient_a, "needs_review")
        before = row_counts()
        response = as_user(alice).post(sign_off_url(screening), {"outcome": "approve", "reason": "  "})
        assert response.status_code == 400
        body = response.content.decode()
        field = body[body.index('for="id_reason"') :]
        assert "requires a written reason" in field and "reason_required" in field
        assert re.search(r'value="approve"[^>]*checked', body)
        assert row_counts() == before

    def test_decline_keeps_the_typed_reason_on_refusal(self, as_user, alice, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        response = as_user(alice).post(sign_off_url(screening), {"reason": "Too risky for now."})
        assert response.status_code == 400
        assert b"Choose approve or decline." in response.content
        assert b"Too risky for now." in response.content
        assert ScreeningSignOff.objects.count() == 0

    def test_approving_ineligible_is_refused(self, as_user, alice, nina, patient_a):
        screening = screen(nina, patient_a, "ineligible")
        response = as_user(alice).post(sign_off_url(screening), {"outcome": "approve", "reason": "Accept."})
        assert response.status_code == 400
        assert ScreeningSignOff.objects.count() == 0

    def test_superseded_screening_shows_the_conflict(self, as_user, alice, nina, patient_a):
        old = screen(nina, patient_a, "needs_review")
        screen(nina, patient_a, "needs_review")
        response = as_user(alice).post(sign_off_url(old), {"outcome": "approve", "reason": "Reviewed."})
        assert response.status_code == 400
        assert b"screening_superseded" in response.content and b"newer screening" in response.content
        assert ScreeningSignOff.objects.count() == 0

    def test_second_sign_off_shows_the_conflict(self, as_user, alice, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        services.screening_sign_off(actor=alice, screening=screening, approve=True, reason="Reviewed.")
        response = as_user(alice).post(sign_off_url(screening), {"outcome": "decline", "reason": "No."})
        assert response.status_code == 400
        assert b"already_signed_off" in response.content
        assert ScreeningSignOff.objects.count() == 1

    def test_requires_login(self, client, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        response = client.post(sign_off_url(screening), {"outcome": "approve", "reason": "x"})
        assert response.status_code == 302
        assert ScreeningSignOff.objects.count() == 0

    def test_get_is_not_allowed(self, as_user, alice, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        assert as_user(alice).get(sign_off_url(screening)).status_code == 405

    def test_nurse_gets_403_and_a_denied_audit_row(self, as_user, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        response = as_user(nina).post(sign_off_url(screening), {"outcome": "approve", "reason": "x"})
        assert response.status_code == 403
        assert b"Zzyzxfield" not in response.content
        assert audit_count(action="denied", actor=nina, object_type="view") == 1
        assert ScreeningSignOff.objects.count() == 0

    def test_other_clinic_prescriber_gets_the_same_404_as_missing(self, as_user, carol, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review")
        client = as_user(carol)
        theirs = client.post(sign_off_url(screening), {"outcome": "approve", "reason": "x"})
        missing = client.post(
            reverse("screening:sign_off", args=[987_654]), {"outcome": "approve", "reason": "x"}
        )
        assert theirs.status_code == missing.status_code == 404
        assert without_csrf(theirs.content) == without_csrf(missing.content)
        assert b"Zzyzxfield" not in theirs.content
        assert ScreeningSignOff.objects.count() == 0
        assert audit_count(action="denied", object_type="screening", actor=carol) == 1
