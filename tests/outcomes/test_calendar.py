"""The use calendar (TLFB) and urine/EtG results: one-screen entry, supersession with history,
the month's summary, and a confirmed positive test overriding reported abstinence."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
from django.http import Http404
from django.urls import reverse

from kapstone.domain.errors import DomainError
from kapstone.outcomes import selectors, services
from kapstone.outcomes.models import ToxicologyTest, UseDay
from kapstone.patients.services import clinic_today
from tests.conftest import audit_count
from tests.outcomes.conftest import row_counts

pytestmark = pytest.mark.django_db

JAN = [date(2026, 1, d) for d in range(1, 32)]
START, END = JAN[0], JAN[-1]


def hand_built_month() -> list[dict]:
    """30 of 31 days reported: 3, 4 and 6 drinks on the 11th–13th, none on the other days;
    the 31st not reported."""
    drinks = {11: 3, 12: 4, 13: 6}
    return [{"day": d, "standard_drinks": Decimal(drinks.get(d.day, 0))} for d in JAN[:30]]


def enter(actor, patient, days, substance="alcohol"):
    return services.use_days_record(actor=actor, patient=patient, substance=substance, days=days)


class TestUseDays:
    def test_a_womans_heavy_day_is_at_4_drinks_not_3(self, terry, patient_a):
        enter(terry, patient_a, hand_built_month())
        s = selectors.calendar_summary(patient_a, "alcohol", START, END).summary
        assert (s.days_in_window, s.days_reported, s.days_missing) == (31, 30, 1)
        assert (s.days_abstinent, s.days_used, s.heavy_drinking_days) == (27, 3, 2)
        assert s.percent_days_abstinent == Decimal("90.00")
        assert s.percent_heavy_drinking_days == Decimal("6.67")
        assert s.drinks_per_drinking_day == Decimal("4.33")

    def test_a_mans_heavy_day_is_at_5(self, terry, male_patient):
        enter(terry, male_patient, hand_built_month())
        s = selectors.calendar_summary(male_patient, "alcohol", START, END).summary
        assert s.heavy_drinking_days == 1 and s.percent_heavy_drinking_days == Decimal("3.33")

    def test_intersex_uses_the_lower_threshold_and_says_so(self, terry, intersex_patient):
        enter(terry, intersex_patient, hand_built_month())
        summary = selectors.calendar_summary(intersex_patient, "alcohol", START, END)
        assert summary.sex_assumed and summary.summary.heavy_drinking_days == 2

    def test_re_entry_supersedes_and_keeps_history(self, terry, nina, patient_a):
        enter(terry, patient_a, hand_built_month())
        written = enter(
            nina, patient_a, [{"day": JAN[11], "standard_drinks": 2}, {"day": JAN[0], "standard_drinks": 0}]
        )
        assert [row.day for row in written] == [JAN[11]]  # the unchanged day writes nothing
        history = UseDay.objects.filter(patient=patient_a, day=JAN[11]).order_by("entered_at", "id")
        assert [row.standard_drinks for row in history] == [Decimal(4), Decimal(2)]
        current = selectors.current_use_days(patient_a, "alcohol", START, END)
        assert current[JAN[11]].standard_drinks == Decimal(2) and current[JAN[11]].entered_by == nina
        assert selectors.calendar_summary(patient_a, "alcohol", START, END).summary.heavy_drinking_days == 1
        event = audit_count(action="create", object_type="use_calendar", object_id=str(patient_a.pk))
        assert event == 2

    def test_drug_days_with_amounts_and_markers(self, terry, patient_a):
        enter(
            terry,
            patient_a,
            [
                {
                    "day": JAN[0],
                    "used": True,
                    "amount": Decimal("0.5"),
                    "amount_unit": "g",
                    "marker": "New Year",
                },
                {"day": JAN[1], "used": False},
            ],
            substance="Cocaine",
        )
        rows = UseDay.objects.filter(substance="cocaine").order_by("day")
        assert [(r.used, r.amount, r.amount_unit, r.marker) for r in rows] == [
            (True, Decimal("0.50"), "g", "New Year"),
            (False, None, "", ""),
        ]
        s = selectors.calendar_summary(patient_a, "cocaine", JAN[0], JAN[1]).summary
        assert s.percent_days_abstinent == Decimal("50.00") and s.percent_heavy_drinking_days is None

    @pytest.mark.parametrize(
        ("days", "substance", "code", "field"),
        [
            (
                [{"day": JAN[0], "marker": "birthday"}],
                "alcohol",
                "drinks_required",
                "days[0].standard_drinks",
            ),
            (
                [{"day": JAN[0], "standard_drinks": -1}],
                "alcohol",
                "invalid_amount",
                "days[0].standard_drinks",
            ),
            (
                [{"day": JAN[0], "standard_drinks": 1}, {"day": JAN[0], "standard_drinks": 2}],
                "alcohol",
                "duplicate_day",
                "days[1].day",
            ),
            ([{"day": JAN[0], "used": False, "amount": 2}], "cocaine", "inconsistent_day", "days[0].amount"),
            ([{"day": JAN[0], "used": "yes"}], "cocaine", "invalid_value", "days[0].used"),
            ([{"day": "2026-01-01", "standard_drinks": 1}], "alcohol", "invalid_date", "days[0].day"),
            ([], "alcohol", "no_days", "days"),
            ([{"day": JAN[0], "standard_drinks": 1}], " ", "invalid_substance", "substance"),
        ],
    )
    def test_refusals_name_the_day_and_write_nothing(self, terry, patient_a, days, substance, code, field):
        before, events = row_counts(), audit_count(action="create")
        with pytest.raises(DomainError) as refused:
            enter(terry, patient_a, days, substance=substance)
        assert (refused.value.code, refused.value.field) == (code, field)
        assert row_counts() == before and audit_count(action="create") == events

    def test_refuses_a_future_day(self, terry, patient_a):
        tomorrow = clinic_today(patient_a.clinic) + timedelta(days=1)
        with pytest.raises(DomainError) as refused:
            enter(terry, patient_a, [{"day": tomorrow, "standard_drinks": 0}])
        assert refused.value.code == "date_in_future" and not UseDay.objects.exists()

    def test_other_clinic_and_admin_cannot_enter(self, carol, adam, patient_a):
        for actor in (carol, adam):
            with pytest.raises(Http404):
                enter(actor, patient_a, hand_built_month())
        assert not UseDay.objects.exists()


def etg(day, result="positive", confirmed=True):
    return {"substance": "alcohol", "result": result, "confirmed": confirmed}


class TestToxicology:
    def test_a_confirmed_positive_etg_overrides_reported_abstinence(self, terry, nina, patient_a):
        enter(terry, patient_a, hand_built_month())
        services.toxicology_record(
            actor=nina, patient=patient_a, collected_on=JAN[4], method="etg", results=[etg(JAN[4])]
        )
        summary = selectors.calendar_summary(patient_a, "alcohol", START, END)
        day = summary.days[JAN[4]]
        assert day.used and day.source == "test" and day.self_report_overridden
        s = summary.summary
        assert (s.days_used, s.days_abstinent, s.days_with_unknown_drinks) == (4, 26, 1)
        assert s.percent_days_abstinent == Decimal("86.67")
        assert s.drinks_per_drinking_day == Decimal("4.33")  # the unknown amount is left out
        assert s.heavy_drinking_days == 2
        # The patient's report stays as entered.
        assert selectors.current_use_days(patient_a, "alcohol", START, END)[JAN[4]].standard_drinks == 0

    def test_unconfirmed_or_negative_results_change_nothing(self, terry, nina, patient_a):
        enter(terry, patient_a, hand_built_month())
        services.toxicology_record(
            actor=nina,
            patient=patient_a,
            collected_on=JAN[5],
            method="etg",
            results=[etg(JAN[5], confirmed=False)],
        )
        services.toxicology_record(
            actor=nina,
            patient=patient_a,
            collected_on=JAN[30],
            method="urine_drug_screen",
            results=[
                etg(JAN[30], "negative"),
                {"substance": "cocaine", "result": "positive", "confirmed": True},
            ],
        )
        s = selectors.calendar_summary(patient_a, "alcohol", START, END).summary
        assert (s.days_used, s.days_reported) == (3, 30)  # a negative test does not fill the 31st

    def test_stores_one_row_per_substance_with_an_audit_event(self, nina, patient_a):
        rows = services.toxicology_record(
            actor=nina,
            patient=patient_a,
            collected_on=JAN[2],
            method="urine_drug_screen",
            results=[
                {"substance": "Cocaine", "result": "positive", "confirmed": False},
                {"substance": "opioids", "result": "negative", "confirmed": False},
            ],
        )
        assert [(r.substance, r.result) for r in rows] == [("cocaine", "positive"), ("opioids", "negative")]
        assert audit_count(action="create", object_type="toxicology_test", object_id=str(patient_a.pk)) == 1

    @pytest.mark.parametrize(
        ("method", "results", "code", "field"),
        [
            ("breath", [etg(None)], "invalid_method", "method"),
            ("etg", [], "no_results", "results"),
            (
                "etg",
                [{"substance": "alcohol", "result": "maybe", "confirmed": True}],
                "invalid_value",
                "results[0].result",
            ),
            (
                "etg",
                [{"substance": "alcohol", "result": "positive", "confirmed": "yes"}],
                "invalid_value",
                "results[0].confirmed",
            ),
            ("etg", [etg(None), etg(None)], "duplicate_substance", "results[1].substance"),
        ],
    )
    def test_refusals_write_nothing(self, nina, patient_a, method, results, code, field):
        before = row_counts()
        with pytest.raises(DomainError) as refused:
            services.toxicology_record(
                actor=nina, patient=patient_a, collected_on=JAN[0], method=method, results=results
            )
        assert (refused.value.code, refused.value.field) == (code, field)
        assert row_counts() == before


class TestCalendarPage:
    def url(self, patient, substance="alcohol", month="2026-01"):
        return reverse("outcomes:use_calendar", args=[patient.pk]) + f"?substance={substance}&month={month}"

    def grid_post(self, days, substance="alcohol"):
        data = {"substance": substance, "month": "2026-01"}
        for entry in days:
            data[f"drinks_{entry['day'].isoformat()}"] = str(entry["standard_drinks"])
        return data

    def test_one_screen_entry_of_a_month_and_its_summary(self, as_user, terry, patient_a):
        client = as_user(terry)
        page = client.get(self.url(patient_a))
        assert page.status_code == 200 and page.content.decode().count('name="drinks_2026-01-') == 31
        data = self.grid_post(hand_built_month()) | {"marker_2026-01-01": "New Year"}
        response = client.post(reverse("outcomes:use_calendar", args=[patient_a.pk]), data)
        assert response.status_code == 302 and "month=2026-01" in response["Location"]
        assert UseDay.objects.filter(patient=patient_a).count() == 30
        assert UseDay.objects.get(day=JAN[0]).marker == "New Year"
        body = client.get(self.url(patient_a)).content.decode()
        assert "90.00%" in body and "6.67%" in body and "4.33" in body
        assert 'value="New Year"' in body

    def test_bad_input_keeps_the_grid_and_writes_nothing(self, as_user, terry, patient_a):
        data = self.grid_post(hand_built_month()) | {
            "drinks_2026-01-05": "-2",
            "drinks_2026-01-31": "",
            "marker_2026-01-31": "trip",
        }
        response = as_user(terry).post(reverse("outcomes:use_calendar", args=[patient_a.pk]), data)
        assert response.status_code == 400
        body = response.content.decode()
        assert 'name="drinks_2026-01-05" value="-2"' in body and 'value="trip"' in body
        assert not UseDay.objects.exists()

    def test_a_domain_refusal_is_shown_beside_its_day(self, as_user, terry, patient_a):
        data = self.grid_post(hand_built_month()[:3]) | {"marker_2026-01-20": "wedding"}
        response = as_user(terry).post(reverse("outcomes:use_calendar", args=[patient_a.pk]), data)
        assert response.status_code == 400
        body = response.content.decode()
        assert "drinks_required" in body and 'value="wedding"' in body
        assert not UseDay.objects.exists()

    def test_admin_may_view_but_not_save(self, as_user, adam, patient_a):
        assert as_user(adam).get(self.url(patient_a)).status_code == 200
        response = as_user(adam).post(
            reverse("outcomes:use_calendar", args=[patient_a.pk]), self.grid_post(hand_built_month())
        )
        assert response.status_code == 403 and not UseDay.objects.exists()

    def test_other_clinic_post_is_404(self, as_user, carol, patient_a):
        response = as_user(carol).post(
            reverse("outcomes:use_calendar", args=[patient_a.pk]), self.grid_post(hand_built_month())
        )
        assert response.status_code == 404 and not UseDay.objects.exists()
        assert patient_a.family_name.encode() not in response.content


class TestTestsPage:
    def test_records_a_sample_and_lists_it(self, as_user, nina, patient_a):
        url = reverse("outcomes:tests", args=[patient_a.pk])
        data = {
            "collected_on": "2026-01-05",
            "method": "etg",
            "confirmed": "on",
            "result_alcohol": "positive",
        }
        assert as_user(nina).post(url, data).status_code == 302
        test = ToxicologyTest.objects.get()
        assert (test.substance, test.result, test.confirmed, test.collected_on) == (
            "alcohol",
            "positive",
            True,
            JAN[4],
        )
        assert "positive" in as_user(nina).get(url).content.decode()

    def test_nothing_tested_is_refused_and_keeps_the_input(self, as_user, nina, patient_a):
        url = reverse("outcomes:tests", args=[patient_a.pk])
        response = as_user(nina).post(url, {"collected_on": "2026-01-05", "method": "etg"})
        assert response.status_code == 400
        body = response.content.decode()
        assert "no_results" in body and 'value="2026-01-05"' in body
        assert not ToxicologyTest.objects.exists()
