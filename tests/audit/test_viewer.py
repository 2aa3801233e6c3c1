"""The audit viewer (issue 11, defect 10): times on the clinic's clock with the zone named, UTC in
the exports, patients found by MRN or name, and no filter value that answers 500."""

from __future__ import annotations

import csv
import io
import json
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import dateformat, timezone

from kapstone.accounts.models import Role
from kapstone.accounts.services import membership_set
from kapstone.audit.models import AuditEvent
from kapstone.audit.services import audit_record
from tests.api.test_patients_api import Api, error_of
from tests.conftest import new_patient

pytestmark = pytest.mark.django_db

URL = reverse("audit:list")
EXPORT = "/audit/export.csv"
NEW_YORK = ZoneInfo("America/New_York")
CHICAGO = ZoneInfo("America/Chicago")

#: Every kind of junk a person or a script may type into a filter.
HOSTILE = {
    "huge": "99999999999999999999",
    "huge_negative": "-99999999999999999999",
    "negative": "-1",
    "not_a_number": "abc",
    "impossible_date": "2026-02-30",
    "first_day_ever": "0001-01-01",
    "last_day_ever": "9999-12-31",
    "far_year": "99999-01-01",
    "unknown_action": "no_such_action",
    "very_long": "9" * 5000,
    "nul": "N-1\x00001",
}
FIELDS = ("patient", "actor", "action", "date_from", "date_to")


def local(event: AuditEvent, zone: ZoneInfo) -> str:
    """As the page writes it: "6 Dec 14:03 EST", the year only when it is not this year's."""
    at, now = event.at.astimezone(zone), timezone.now().astimezone(zone)
    return dateformat.format(at, "j M H:i T" if at.year == now.year else "j M Y H:i T")


def review_events(admin) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(actor=admin, object_type="audit_log").order_by("id"))


class TestTimes:
    def test_each_event_shows_on_its_clinics_clock_with_the_zone_named(
        self, as_user, adam, alice, patient_a, clinic_b, carol, patient_b
    ):
        membership_set(actor=None, user=adam, clinic=clinic_b, role=Role.ADMIN)
        as_user(alice).get(reverse("patients:chart", args=[patient_a.pk]))
        as_user(carol).get(reverse("patients:chart", args=[patient_b.pk]))
        in_a = AuditEvent.objects.filter(actor=alice, patient_id=patient_a.pk, action="read").last()
        in_b = AuditEvent.objects.filter(actor=carol, patient_id=patient_b.pk, action="read").last()
        body = as_user(adam).get(URL).content.decode()
        assert "When (UTC)" not in body
        assert local(in_a, NEW_YORK) in body and local(in_a, NEW_YORK)[-3:] in ("EST", "EDT")
        assert local(in_b, CHICAGO) in body and local(in_b, CHICAGO)[-3:] in ("CST", "CDT")
        # The stored (UTC) clock is not what the page shows.
        assert dateformat.format(in_a.at, "Y-m-d H:i:s") not in body

    def test_the_csv_export_is_in_utc_and_says_so(self, as_user, adam, alice, patient_a):
        as_user(alice).get(reverse("patients:chart", args=[patient_a.pk]))
        response = as_user(adam).get(EXPORT, {"patient": "A-1001"})
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert rows and "at_utc" in rows[0]
        event = AuditEvent.objects.get(pk=int(rows[0]["event"]))
        assert rows[0]["at_utc"].endswith("Z")
        assert rows[0]["at_utc"] == event.at.isoformat().replace("+00:00", "Z")
        assert {r["patient_id"] for r in rows} == {str(patient_a.pk)}
        (exported,) = AuditEvent.objects.filter(actor=adam, action="export", object_type="audit_log")
        assert exported.detail["returned"] == len(rows) and exported.patient_id == patient_a.pk

    def test_the_api_names_its_clock(self, adam, alice, patient_a):
        stored = AuditEvent.objects.filter(patient_id=patient_a.pk).order_by("-id").first()
        events = Api(adam).get("/audit/events", patient_id=patient_a.pk).json()["items"]
        assert events and all(set(e) >= {"at_utc"} and "at" not in e for e in events)
        assert events[0]["at_utc"] == stored.at.isoformat().replace("+00:00", "Z")


class TestPatientFilter:
    @pytest.fixture
    def patients(self, alice, clinic_a):
        return {
            "avery": new_patient(alice, clinic_a, mrn="A-1001", given_name="Avery", family_name="Ashgrove"),
            "blake": new_patient(alice, clinic_a, mrn="A-2002", given_name="Blake", family_name="Bellwether"),
        }

    @pytest.mark.parametrize("typed", ["A-1001", "a-1001", "1001", "ashgrove", "AVERY", "avery ash"])
    def test_finds_a_patient_by_mrn_or_name_partly_and_in_any_case(self, as_user, adam, patients, typed):
        response = as_user(adam).get(URL, {"patient": typed})
        assert response.status_code == 200
        page = response.context["page"]
        assert page.patients_matched == 1
        assert page.rows and {r.event.patient_id for r in page.rows} == {patients["avery"].pk}
        body = response.content.decode()
        assert "Ashgrove, Avery (A-1001)" in body and "Bellwether" not in body

    def test_the_patient_column_names_the_patient_not_an_id(self, as_user, adam, patients):
        body = as_user(adam).get(URL).content.decode()
        assert "Patient id" not in body
        assert "Ashgrove, Avery (A-1001)" in body and "?patient=A-1001" in body

    def test_a_text_matching_nobody_is_an_empty_result_not_an_error(self, as_user, adam, patients):
        response = as_user(adam).get(URL, {"patient": "Nobody-at-all"})
        assert response.status_code == 200
        assert response.context["page"].rows == []
        assert "No patient of your clinics has an MRN or name matching" in response.content.decode()

    def test_another_clinics_patient_is_not_found_and_not_named(
        self, as_user, adam, carol, patient_b, patients
    ):
        as_user(carol).get(reverse("patients:chart", args=[patient_b.pk]))
        for typed in (patient_b.mrn, patient_b.family_name):
            response = as_user(adam).get(URL, {"patient": typed})
            assert response.status_code == 200
            assert response.context["page"].rows == []
            assert patient_b.given_name not in response.content.decode()

    def test_the_review_is_audited_without_the_text_typed(self, as_user, adam, patients):
        as_user(adam).get(URL, {"patient": "Ashgrove"})
        (event,) = review_events(adam)
        assert event.action == "read" and event.patient_id == patients["avery"].pk
        assert event.detail["patients_matched"] == 1 and event.detail["filtered_by_patient"] is True
        assert "Ashgrove" not in json.dumps(event.detail)

    def test_the_api_filters_by_mrn_or_name_too(self, adam, patients):
        events = Api(adam).get("/audit/events", patient="ashgrove").json()["items"]
        assert events and {e["patient_id"] for e in events} == {patients["avery"].pk}
        assert Api(adam).get("/audit/events", patient="Nobody-at-all").json() == {"items": [], "count": 0}


class TestHostileFilters:
    @pytest.mark.parametrize("field", FIELDS)
    @pytest.mark.parametrize("label", list(HOSTILE))
    def test_any_junk_in_any_filter_is_a_message_or_an_empty_result(
        self, as_user, adam, alice, patient_a, field, label
    ):
        client = as_user(adam)
        before = review_events(adam)
        response = client.get(URL, {field: HOSTILE[label]})
        assert response.status_code == 200
        form, page = response.context["form"], response.context["page"]
        if form.errors:
            # Refused: the message is beside the field, the input is kept, no events are shown
            # (the whole trail would look like the answer), and nothing was read.
            assert field in form.errors and page is None
            assert "Correct the filter above to see events." in response.content.decode()
            assert review_events(adam) == before
        else:
            # Accepted as part of an MRN or a name: only that patient's events, or none.
            assert field == "patient"
            typed = HOSTILE[label].lower()
            assert all(typed in f"{r.patient.mrn} {r.patient.display_name}".lower() for r in page.rows)

    @pytest.mark.parametrize(
        ("field", "value", "message"),
        [
            ("date_from", "2026-02-30", "Enter a real date (year-month-day)."),
            ("date_to", "0001-01-01", "Enter a date between 1 Jan 1900 and 31 Dec 2999."),
            ("date_to", "9999-12-31", "Enter a date between 1 Jan 1900 and 31 Dec 2999."),
            ("action", "no_such_action", "Choose an action from the list."),
            ("actor", "99999999999999999999", "Choose a user from the list."),
            ("patient", "x" * 101, "Type at most 100 characters."),
            ("patient", "a\x00b", "Null characters are not allowed."),
        ],
    )
    def test_each_refusal_says_what_to_type(self, as_user, adam, field, value, message):
        response = as_user(adam).get(URL, {field: value})
        assert response.status_code == 200
        assert response.context["form"].errors[field] == [message]

    def test_dates_in_the_wrong_order_are_refused(self, as_user, adam):
        response = as_user(adam).get(URL, {"date_from": "2026-03-02", "date_to": "2026-03-01"})
        assert response.context["form"].errors["date_to"] == ["The end of the range is before its start."]

    def test_the_input_is_kept(self, as_user, adam):
        body = as_user(adam).get(URL, {"date_from": "2026-02-30", "patient": "Ashgrove"}).content.decode()
        assert 'value="2026-02-30"' in body and 'value="Ashgrove"' in body

    def test_the_old_patient_id_link_with_a_huge_number_is_not_a_500(self, as_user, adam):
        assert as_user(adam).get(URL, {"patient_id": "99999999999999999999"}).status_code == 200

    @pytest.mark.parametrize("label", list(HOSTILE))
    def test_the_export_refuses_junk_with_the_page(self, as_user, adam, label):
        before = AuditEvent.objects.filter(action="export").count()
        response = as_user(adam).get(EXPORT, dict.fromkeys(FIELDS, HOSTILE[label]))
        assert response.status_code == 200
        assert AuditEvent.objects.filter(action="export").count() == before
        if response["Content-Type"].startswith("text/csv"):
            assert len(response.content.decode().splitlines()) == 1  # the header only

    @pytest.mark.parametrize(
        ("params", "field"),
        [
            ({"patient_id": "99999999999999999999"}, "patient_id"),
            ({"patient_id": "-1"}, "patient_id"),
            ({"patient_id": "abc"}, "patient_id"),
            ({"action": "no_such_action"}, "action"),
            ({"date_from": "2026-02-30"}, "date_from"),
            ({"date_to": "9999-12-31"}, "date_to"),
            ({"patient": "x" * 101}, "patient"),
            ({"patient": "a\x00b"}, "patient"),
            ({"date_from": "2026-03-02", "date_to": "2026-03-01"}, "date_to"),
        ],
    )
    def test_the_api_answers_422_naming_the_parameter(self, adam, params, field):
        response = Api(adam).get("/audit/events", **params)
        assert response.status_code == 422, response.content
        assert error_of(response)["field"] == field
        assert not AuditEvent.objects.filter(actor=adam, object_type="audit_log").exists()


def test_a_nurse_cannot_export_the_trail(as_user, nina):
    assert as_user(nina).get(EXPORT).status_code == 403


def test_a_review_event_records_the_count_of_what_was_shown(as_user, adam, alice, patient_a):
    audit_record(actor=alice, action="read", object_type="x", clinic_id=patient_a.clinic_id)
    as_user(adam).get(URL)
    (event,) = review_events(adam)
    assert event.detail["returned"] >= 1 and event.detail["filtered_by_patient"] is False
