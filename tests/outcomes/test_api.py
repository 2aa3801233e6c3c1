"""The outcomes API: 201 shapes, the domain's refusals as 422 with their codes, scoping, roles."""

from __future__ import annotations

import pytest

from kapstone.outcomes.models import ClinicalFlag, QuestionnaireResponse, ToxicologyTest, UseDay
from tests.conftest import audit_count
from tests.outcomes.conftest import PHQ9_CALM, PHQ9_ITEM9, Api, error_of, row_counts

pytestmark = pytest.mark.django_db


def path(patient, what="questionnaires") -> str:
    return f"/patients/{patient.pk}/{what}"


def get(user, url):
    api = Api(user)
    return api.client.get("/api/v1" + url, **api.headers)


class TestQuestionnaires:
    def test_201_shape_and_flag(self, terry, patient_a):
        response = Api(terry).post(path(patient_a), {"instrument": "phq-9", "answers": PHQ9_ITEM9})
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) == {"id", "instrument", "total", "band", "flags"}
        assert (body["instrument"], body["total"], body["band"], body["flags"]) == (
            "phq-9",
            10,
            "moderate",
            ["self-harm-risk"],
        )
        assert ClinicalFlag.objects.get().response_id == body["id"]
        assert (
            audit_count(action="create", object_type="questionnaire_response", object_id=str(body["id"])) == 1
        )

    def test_band_is_null_where_there_is_none(self, nina, patient_a):
        body = Api(nina).post(path(patient_a), {"instrument": "pacs", "answers": [1, 2, 3, 4, 5]}).json()
        assert body["band"] is None and body["total"] == 15

    def test_audit_c_sex_for_an_intersex_patient(self, nina, intersex_patient):
        refused = Api(nina).post(path(intersex_patient), {"instrument": "audit-c", "answers": [1, 1, 1]})
        assert refused.status_code == 422 and error_of(refused)["code"] == "sex_required"
        ok = Api(nina).post(
            path(intersex_patient), {"instrument": "audit-c", "answers": [1, 1, 1], "sex": "female"}
        )
        assert ok.status_code == 201 and ok.json()["band"] == "positive"

    @pytest.mark.parametrize(
        ("body", "code", "field"),
        [
            ({"instrument": "phq-99", "answers": PHQ9_CALM}, "unknown_instrument", "instrument"),
            ({"instrument": "phq-9", "answers": [0, 0]}, "wrong_answer_count", "answers"),
            ({"instrument": "phq-9", "answers": [0] * 8 + [9]}, "answer_out_of_range", "answers[8]"),
            ({"instrument": "phq-9", "answers": [0] * 8 + [1.5]}, "invalid_answer", "answers[8]"),
            ({"instrument": "audit-c", "answers": [1, 1, 1], "sex": "other"}, "invalid_sex", "sex"),
            (
                {"instrument": "phq-9", "answers": PHQ9_CALM, "time_point_months": 6},
                "course_required",
                "time_point",
            ),
            ({"instrument": "phq-9", "answers": PHQ9_CALM, "total": 0}, "unknown_field", "total"),
            ({"answers": PHQ9_CALM}, "missing_field", "instrument"),
        ],
    )
    def test_refusals_are_422_with_the_code_and_write_nothing(self, terry, patient_a, body, code, field):
        before = row_counts()
        response = Api(terry).post(path(patient_a), body)
        assert response.status_code == 422, response.content
        error = error_of(response)
        assert (error["code"], error["field"]) == (code, field) and error["message"]
        assert row_counts() == before

    def test_time_point_of_the_latest_course(self, terry, patient_a, course_a):
        response = Api(terry).post(
            path(patient_a), {"instrument": "phq-9", "answers": PHQ9_CALM, "time_point_months": 0}
        )
        assert response.status_code == 201
        assert QuestionnaireResponse.objects.get().course == course_a

    def test_get_lists_newest_first(self, terry, patient_a):
        Api(terry).post(path(patient_a), {"instrument": "phq-9", "answers": PHQ9_CALM})
        response = get(terry, path(patient_a))
        assert response.status_code == 200
        assert response.json()["count"] == 1
        [row] = response.json()["items"]
        assert set(row) == {
            "id",
            "instrument",
            "total",
            "band",
            "flags",
            "answers",
            "scoring_version",
            "administered_on",
            "time_point_months",
            "source",
        }
        assert row["answers"] == PHQ9_CALM and row["source"] == "staff"

    def test_other_clinic_404_without_phi(self, carol, patient_a):
        for response in (
            Api(carol).post(path(patient_a), {"instrument": "phq-9", "answers": PHQ9_CALM}),
            get(carol, path(patient_a)),
        ):
            assert response.status_code == 404 and error_of(response)["code"] == "not_found"
            assert patient_a.family_name.encode() not in response.content
        assert not QuestionnaireResponse.objects.exists()

    def test_researcher_403(self, bob, patient_a):
        for response in (
            Api(bob).post(path(patient_a), {"instrument": "phq-9", "answers": PHQ9_CALM}),
            get(bob, path(patient_a)),
        ):
            assert response.status_code == 403 and error_of(response)["code"] == "forbidden"
        assert not QuestionnaireResponse.objects.exists()

    def test_admin_reads_but_cannot_record(self, adam, patient_a):
        assert get(adam, path(patient_a)).status_code == 200
        assert (
            Api(adam).post(path(patient_a), {"instrument": "phq-9", "answers": PHQ9_CALM}).status_code == 403
        )


class TestUseDays:
    def test_201_batch(self, terry, patient_a):
        body = {
            "substance": "alcohol",
            "days": [
                {"day": "2026-01-01", "standard_drinks": 0, "marker": "New Year"},
                {"day": "2026-01-02", "standard_drinks": 4.5},
            ],
        }
        response = Api(terry).post(path(patient_a, "use-days"), body)
        assert response.status_code == 201, response.content
        assert response.json() == {"substance": "alcohol", "days_given": 2, "days_written": 2}
        assert sorted(str(d) for d in UseDay.objects.values_list("standard_drinks", flat=True)) == [
            "0.0",
            "4.5",
        ]

    @pytest.mark.parametrize(
        ("body", "code", "field"),
        [
            (
                {"substance": "alcohol", "days": [{"day": "2026-01-01"}]},
                "drinks_required",
                "days[0].standard_drinks",
            ),
            (
                {"substance": "cocaine", "days": [{"day": "2026-01-01", "used": False, "amount": 1}]},
                "inconsistent_day",
                "days[0].amount",
            ),
            ({"substance": "alcohol", "days": []}, "no_days", "days"),
            (
                {"substance": "alcohol", "days": [{"day": "2026-13-01", "standard_drinks": 1}]},
                "invalid_value",
                "days.0.day",
            ),
            (
                {"substance": "alcohol", "days": [{"day": "2026-01-01", "standard_drinks": 1, "who": 1}]},
                "unknown_field",
                "days.0.who",
            ),
        ],
    )
    def test_refusals(self, terry, patient_a, body, code, field):
        response = Api(terry).post(path(patient_a, "use-days"), body)
        assert response.status_code == 422, response.content
        assert (error_of(response)["code"], error_of(response)["field"]) == (code, field)
        assert not UseDay.objects.exists()

    def test_other_clinic_and_researcher(self, carol, bob, patient_a):
        body = {"substance": "alcohol", "days": [{"day": "2026-01-01", "standard_drinks": 0}]}
        assert Api(carol).post(path(patient_a, "use-days"), body).status_code == 404
        assert Api(bob).post(path(patient_a, "use-days"), body).status_code == 403
        assert not UseDay.objects.exists()


class TestUrineTests:
    def test_201_rows(self, nina, patient_a):
        body = {
            "collected_on": "2026-01-05",
            "method": "etg",
            "results": [{"substance": "alcohol", "result": "positive", "confirmed": True}],
        }
        response = Api(nina).post(path(patient_a, "urine-tests"), body)
        assert response.status_code == 201, response.content
        [row] = response.json()
        assert set(row) == {"id", "collected_on", "substance", "method", "result", "confirmed"}
        assert (row["substance"], row["result"], row["confirmed"]) == ("alcohol", "positive", True)

    @pytest.mark.parametrize(
        ("body", "code", "field"),
        [
            (
                {
                    "collected_on": "2026-01-05",
                    "method": "hair",
                    "results": [{"substance": "alcohol", "result": "positive", "confirmed": True}],
                },
                "invalid_method",
                "method",
            ),
            (
                {
                    "collected_on": "2026-01-05",
                    "method": "etg",
                    "results": [{"substance": "alcohol", "result": "pos", "confirmed": True}],
                },
                "invalid_value",
                "results[0].result",
            ),
            (
                {
                    "collected_on": "2999-01-05",
                    "method": "etg",
                    "results": [{"substance": "alcohol", "result": "negative", "confirmed": True}],
                },
                "date_in_future",
                "collected_on",
            ),
            (
                {
                    "collected_on": "2026-01-05",
                    "method": "etg",
                    "results": [{"substance": "alcohol", "result": "negative", "confirmed": "yes"}],
                },
                "invalid_value",
                "results.0.confirmed",
            ),
        ],
    )
    def test_refusals(self, nina, patient_a, body, code, field):
        response = Api(nina).post(path(patient_a, "urine-tests"), body)
        assert response.status_code == 422, response.content
        assert (error_of(response)["code"], error_of(response)["field"]) == (code, field)
        assert not ToxicologyTest.objects.exists()
