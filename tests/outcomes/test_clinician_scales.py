"""CIWA-Ar, COWS and the C-SSRS screener entered by staff (web form and API), refused in the
portal (tests/portal/test_outcome_services.py); their alerts; refusals leave every row count unchanged."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kapstone.outcomes.models import ClinicalFlag, QuestionnaireResponse
from tests.conftest import audit_count
from tests.outcomes.conftest import Api, error_of, row_counts
from tests.outcomes.test_questionnaires import form_data

pytestmark = pytest.mark.django_db

COWS_MODERATE = [2, 1, 1, 1, 2, 1, 1, 2, 1, 1, 0]  # total 13: moderate
CIWA_MODERATE = [1, 1, 1, 1, 1, 1, 1, 1, 2, 0]  # total 10: moderate
CSSRS_HIGH = [1, 1, 0, 0, 0, 2]  # behaviour within 3 months: high


def api_path(patient) -> str:
    return f"/patients/{patient.pk}/questionnaires"


def new_url(patient, instrument) -> str:
    return reverse("outcomes:questionnaire_new", args=[patient.pk, instrument])


class TestApi:
    @pytest.mark.parametrize(
        ("instrument", "answers", "total", "band", "flags"),
        [
            ("cows", COWS_MODERATE, 13, "moderate", []),
            ("ciwa-ar", CIWA_MODERATE, 10, "moderate", []),
            ("c-ssrs", [1, 0, 0, 0, 0, 0], 1, "low", ["self-harm-risk"]),
            ("c-ssrs", CSSRS_HIGH, 3, "high", ["self-harm-risk", "suicide-risk-high"]),
            ("c-ssrs", [0] * 6, 0, "none", []),
        ],
    )
    def test_staff_record_with_total_band_and_flags(
        self, nina, patient_a, instrument, answers, total, band, flags
    ):
        response = Api(nina).post(api_path(patient_a), {"instrument": instrument, "answers": answers})
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["instrument"], body["total"], body["band"], body["flags"]) == (
            instrument,
            total,
            band,
            flags,
        )
        assert sorted(ClinicalFlag.objects.values_list("code", flat=True)) == sorted(flags)
        assert (
            audit_count(action="create", object_type="questionnaire_response", object_id=str(body["id"])) == 1
        )
        assert audit_count(action="create", object_type="clinical_flag") == len(flags)

    @pytest.mark.parametrize(
        ("instrument", "answers", "field"),
        [
            ("cows", [0] * 10 + [1], "answers[10]"),  # gooseflesh is 0, 3 or 5
            ("cows", [3] + [0] * 10, "answers[0]"),  # pulse is 0, 1, 2 or 4
            ("ciwa-ar", [0] * 9 + [5], "answers[9]"),  # orientation is 0–4
            ("ciwa-ar", [8] + [0] * 9, "answers[0]"),
            ("c-ssrs", [0] * 5 + [3], "answers[5]"),
            ("c-ssrs", [2] + [0] * 5, "answers[0]"),  # items 1–5 are no/yes
        ],
    )
    def test_a_value_the_item_does_not_offer_is_422_and_writes_nothing(
        self, nina, patient_a, instrument, answers, field
    ):
        api = Api(nina)  # its token's audit row comes before the counts
        before, events = row_counts(), audit_count(action="create")
        response = api.post(api_path(patient_a), {"instrument": instrument, "answers": answers})
        assert response.status_code == 422, response.content
        error = error_of(response)
        assert (error["code"], error["field"]) == ("answer_out_of_range", field)
        assert row_counts() == before and audit_count(action="create") == events

    @pytest.mark.parametrize(("instrument", "count"), [("cows", 10), ("ciwa-ar", 11), ("c-ssrs", 5)])
    def test_wrong_answer_count_is_422_and_writes_nothing(self, nina, patient_a, instrument, count):
        api = Api(nina)
        before, events = row_counts(), audit_count(action="create")
        response = api.post(api_path(patient_a), {"instrument": instrument, "answers": [0] * count})
        assert response.status_code == 422 and error_of(response)["code"] == "wrong_answer_count"
        assert row_counts() == before and audit_count(action="create") == events


class TestWeb:
    def test_list_offers_the_scales_by_their_clinical_names(self, as_user, nina, patient_a):
        body = as_user(nina).get(reverse("outcomes:questionnaires", args=[patient_a.pk])).content.decode()
        for name in ("CIWA-Ar (alcohol withdrawal)", "COWS (opioid withdrawal)", "C-SSRS screener"):
            assert name in body
        assert new_url(patient_a, "c-ssrs") in body

    def test_cows_form_offers_each_items_own_values(self, as_user, nina, patient_a):
        body = as_user(nina).get(new_url(patient_a, "cows")).content.decode()
        assert "Gooseflesh skin" in body and "Prominent piloerection (5)" in body
        assert 'name="item_11" value="1"' not in body and 'name="item_11" value="3"' in body
        assert "licensed-copy" not in body  # published wording, no licensed copy needed

    def test_cssrs_and_dast_forms_say_the_clinic_supplies_the_wording(self, as_user, nina, patient_a):
        for code, name in (("c-ssrs", "C-SSRS screener"), ("dast-10", "DAST-10")):
            body = as_user(nina).get(new_url(patient_a, code)).content.decode()
            assert 'id="licensed-copy"' in body and f"licensed copy of the {name}" in body

    def test_saving_cows_shows_the_band_in_words(self, as_user, nina, patient_a):
        response = as_user(nina).post(new_url(patient_a, "cows"), form_data(COWS_MODERATE), follow=True)
        body = response.content.decode()
        assert "COWS (opioid withdrawal) saved: total 13, Moderate withdrawal." in body
        saved = QuestionnaireResponse.objects.get()
        assert (saved.instrument, saved.total, saved.band, saved.entered_by) == ("cows", 13, "moderate", nina)

    def test_saving_a_high_cssrs_raises_both_alerts_in_words(self, as_user, nina, patient_a):
        response = as_user(nina).post(new_url(patient_a, "c-ssrs"), form_data(CSSRS_HIGH), follow=True)
        body = response.content.decode()
        assert "C-SSRS screener saved: total 3, High risk." in body
        assert "High suicide risk" in body and "Self-harm risk" in body
        assert "suicide-risk-high" not in body  # codes stay off the screen
        assert set(ClinicalFlag.objects.values_list("code", flat=True)) == {
            "self-harm-risk",
            "suicide-risk-high",
        }

    @pytest.mark.parametrize(
        ("instrument", "answers", "item", "allowed"),
        [
            ("cows", [0] * 10 + [4], 11, "0, 3, 5"),
            ("ciwa-ar", [0] * 9 + [7], 10, "0, 1, 2, 3, 4"),
            ("c-ssrs", [0] * 5 + [5], 6, "0, 1, 2"),
        ],
    )
    def test_a_value_the_item_does_not_offer_is_refused_keeps_input_and_writes_nothing(
        self, as_user, nina, patient_a, instrument, answers, item, allowed
    ):
        before, events = row_counts(), audit_count(action="create")
        response = as_user(nina).post(new_url(patient_a, instrument), form_data(answers))
        assert response.status_code == 400
        body = response.content.decode()
        assert f"Choose one of this item&#x27;s answers ({allowed})." in body
        # Every valid answer given is still chosen; the refused one has no radio to check.
        assert body.count(" checked") == len(answers) - 1
        assert row_counts() == before and audit_count(action="create") == events
