"""Each list or filter endpoint that parsed a typed value without bounds (issue 11, after defect 10):
what it answers now for a huge number, a date at the edge of the calendar, junk or a NUL byte.
test_hostile_input.py walks every route; these say what the answer is."""

from __future__ import annotations

import pytest
from django.urls import reverse

from kapstone.audit.models import AuditEvent
from kapstone.patients.services import clinic_today
from tests.api.test_patients_api import Api, error_of

pytestmark = pytest.mark.django_db

RANGE_MESSAGE = "Enter a date between 1 Jan 1900 and 31 Dec 2999."


class TestUseCalendarMonth:
    @pytest.mark.parametrize(
        "month", ["99999999999999999999-1", "0001-01", "9999-12", "2026-13", "abc", "2026-\x0003"]
    )
    def test_a_month_that_cannot_be_read_shows_this_month(self, as_user, nina, patient_a, month):
        response = as_user(nina).get(reverse("outcomes:use_calendar", args=[patient_a.pk]), {"month": month})
        assert response.status_code == 200
        assert response.context["month"] == clinic_today(patient_a.clinic).replace(day=1)

    def test_a_real_month_is_shown(self, as_user, nina, patient_a):
        this_month = clinic_today(patient_a.clinic).replace(day=1)
        earlier = this_month.replace(year=this_month.year - 1)
        response = as_user(nina).get(
            reverse("outcomes:use_calendar", args=[patient_a.pk]), {"month": f"{earlier:%Y-%m}"}
        )
        assert response.context["month"] == earlier


class TestFollowUpDays:
    @pytest.mark.parametrize(("typed", "days"), [("30", 30), ("0", 0), ("365", 365), ("366", 365), ("-1", 0)])
    def test_a_number_is_held_to_the_range(self, as_user, nina, typed, days):
        response = as_user(nina).get(reverse("outcomes:follow_ups"), {"days": typed})
        assert response.context["worklist"].within_days == days

    @pytest.mark.parametrize("typed", ["99999999999999999999", "9" * 5000, "1.5", "abc", "١٢٣", "a\x00"])
    def test_anything_else_falls_back_to_two_weeks(self, as_user, nina, typed):
        response = as_user(nina).get(reverse("outcomes:follow_ups"), {"days": typed})
        assert response.status_code == 200
        assert response.context["worklist"].within_days == 14


class TestRegisterDates:
    @pytest.mark.parametrize("typed", ["0001-01-01", "9999-12-31"])
    def test_a_date_beyond_the_calendar_is_refused_beside_the_field(self, as_user, nina, typed):
        response = as_user(nina).get(reverse("inventory:register"), {"date_to": typed})
        assert response.status_code == 400
        assert response.context["form"].errors["date_to"] == [RANGE_MESSAGE]
        assert f'value="{typed}"' in response.content.decode()


class TestBoardDate:
    def test_a_date_beyond_the_calendar_is_refused_and_today_is_shown(self, as_user, nina, clinic_a):
        response = as_user(nina).get(reverse("care:board"), {"date": "9999-12-31"})
        assert response.status_code == 200
        assert response.context["form"].errors["date"] == [RANGE_MESSAGE]
        assert response.context["day"] == clinic_today(clinic_a)


class TestCohortReportDates:
    def test_a_date_beyond_the_calendar_is_refused_beside_the_field(self, as_user, alice):
        response = as_user(alice).get(reverse("research:report"), {"enrolled_from": "0001-01-01"})
        assert response.status_code in (200, 400)
        assert response.context["form"].errors["enrolled_from"] == [RANGE_MESSAGE]


class TestPatientSearch:
    def test_a_nul_byte_in_the_search_is_dropped_not_a_500(self, as_user, nina, patient_a):
        response = as_user(nina).get(reverse("patients:list"), {"q": "Zzyz\x00xfield"})
        assert response.status_code == 200
        assert [p.pk for p in response.context["patients"]] == [patient_a.pk]

    def test_a_very_long_search_is_cut_not_a_500(self, as_user, nina, patient_a):
        response = as_user(nina).get(reverse("patients:list"), {"q": "Zzyzxfield " + "x" * 5000})
        assert response.status_code == 200
        assert len(response.context["q"]) == 100

    @pytest.mark.parametrize("search", ["a\x00b", "x" * 101])
    def test_the_api_refuses_a_nul_byte_or_a_long_search_with_422(self, nina, search):
        response = Api(nina).get("/patients", search=search)
        assert response.status_code == 422
        assert error_of(response)["field"] == "search"


class TestApiNumbersAndDates:
    @pytest.mark.parametrize("typed", ["99999999999999999999", "9223372036854775808", "0", "-1"])
    def test_lots_by_location_refuses_a_number_no_record_has(self, nina, typed):
        response = Api(nina).get("/inventory/lots", location_id=typed)
        assert response.status_code == 422
        assert error_of(response)["field"] == "location_id"

    @pytest.mark.parametrize("typed", ["0001-01-01", "9999-12-31", "2026-02-30"])
    def test_sessions_by_date_refuses_a_date_beyond_the_calendar(self, nina, typed):
        response = Api(nina).get("/sessions", date=typed)
        assert response.status_code == 422
        assert error_of(response)["field"] == "date"


class TestRecordIdsInWebFilters:
    """A web filter that takes a record id holds it to the ids the database has (issue 15): a
    larger number is refused with words, a smaller one no record has shows nothing, never a 500."""

    def test_the_register_takes_any_session_id_the_database_can_hold(self, as_user, nina):
        # 2**31 and more are real ids of a bigint column; the filter used to refuse them as invalid.
        for typed in (str(2**31), str(2**63 - 1)):
            response = as_user(nina).get(reverse("inventory:register"), {"session": typed})
            assert response.status_code == 200, typed
            assert response.context["total"] == 0

    def test_the_register_refuses_a_session_id_beyond_the_database(self, as_user, nina):
        response = as_user(nina).get(reverse("inventory:register"), {"session": str(2**63)})
        assert response.status_code == 400
        assert "The dosing session in this link is not valid" in response.content.decode()

    @pytest.mark.parametrize("typed", [str(2**63), str(10**23), "-1", "abc"])
    def test_the_audit_viewer_refuses_a_user_no_record_has(self, as_user, adam, typed):
        before = AuditEvent.objects.filter(object_type="audit_log").count()
        response = as_user(adam).get(reverse("audit:list"), {"actor": typed})
        assert response.status_code == 200
        assert response.context["form"].errors["actor"] == ["Choose a user from the list."]
        assert response.context["page"] is None  # no events shown for a filter that cannot be read
        assert AuditEvent.objects.filter(object_type="audit_log").count() == before
