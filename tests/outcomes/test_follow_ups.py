"""The follow-up schedule computed from each course's protocol snapshot and last dosing session,
the worklist with its boundaries, follow-up records, and the reminder emails without PHI."""

from __future__ import annotations

import json
from datetime import date, timedelta

import pytest
from django.core import mail
from django.core.management import call_command
from django.http import Http404
from django.urls import reverse

from kapstone.care.models import CareSession, TreatmentCourse
from kapstone.care.services import course_change_status
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.outcomes import selectors, services
from kapstone.outcomes.models import FollowUp
from kapstone.patients.services import clinic_today
from tests.conftest import audit_count
from tests.outcomes.conftest import row_counts, set_last_dosing

pytestmark = pytest.mark.django_db

LAST = date(2026, 1, 15)  # follow-ups on Feb 15, Apr 15, Jul 15 2026, Jan 15 2027, Jan 15 2028


def schedule(course, today, within_days=14):
    return {f.months: f for f in selectors.follow_up_schedule([course], today=today, within_days=within_days)}


class TestSchedule:
    def test_dates_come_from_the_protocol_snapshot_after_the_last_discharged_dosing(self, course_a):
        set_last_dosing(course_a, LAST)
        rows = schedule(course_a, date(2026, 1, 20))
        assert {m: f.due_on for m, f in rows.items()} == {
            1: date(2026, 2, 15),
            3: date(2026, 4, 15),
            6: date(2026, 7, 15),
            12: date(2027, 1, 15),
            24: date(2028, 1, 15),
        }

    def test_snapshot_not_the_library(self, course_a):
        set_last_dosing(course_a, LAST)
        data = dict(course_a.protocol_data)
        data["follow_up_months"] = [2]
        TreatmentCourse.objects.filter(pk=course_a.pk).update(protocol_data=data)
        course_a.refresh_from_db()
        assert list(schedule(course_a, LAST)) == [2]

    @pytest.mark.parametrize(
        ("today", "within", "status"),
        [
            (date(2026, 1, 31), 14, "upcoming"),  # due 15 days ahead: outside a 14-day window
            (date(2026, 2, 1), 14, "due"),  # exactly 14 days ahead: inside
            (date(2026, 2, 15), 0, "due"),  # due today
            (date(2026, 2, 16), 14, "overdue"),  # the day after
        ],
    )
    def test_due_and_overdue_boundaries(self, course_a, today, within, status):
        set_last_dosing(course_a, LAST)
        assert schedule(course_a, today, within)[1].status == status

    def test_a_record_makes_it_done(self, nina, course_a):
        set_last_dosing(course_a, LAST)
        services.follow_up_record(actor=nina, course=course_a, months=1, done_on=date(2026, 2, 20))
        assert schedule(course_a, date(2026, 3, 1))[1].status == "done"

    def test_falls_back_to_the_last_scheduled_dosing_when_none_was_discharged(self, course_a):
        set_last_dosing(course_a, LAST, discharged=False)
        assert schedule(course_a, LAST)[1].due_on == date(2026, 2, 15)

    def test_discharged_wins_over_a_later_scheduled_one(self, course_a):
        set_last_dosing(course_a, LAST, discharged=False)
        first = CareSession.objects.filter(course=course_a, kind="dosing").order_by("order").first()
        CareSession.objects.filter(pk=first.pk).update(status="discharged")
        assert schedule(course_a, LAST)[1].due_on == date(2026, 2, 1)  # first dose on Jan 1

    def test_a_course_withdrawn_before_any_dose_has_no_follow_ups(self, alice, course_a):
        set_last_dosing(course_a, LAST, discharged=False)
        course_change_status(actor=alice, course=course_a, action="withdraw", reason="Moved away.")
        course_a.refresh_from_db()
        assert schedule(course_a, LAST) == {}


class TestRecord:
    def test_records_once_with_audit(self, nina, alice, course_a):
        set_last_dosing(course_a, LAST)
        follow_up = services.follow_up_record(
            actor=nina, course=course_a, months=6, done_on=date(2026, 7, 20)
        )
        assert (follow_up.patient, follow_up.recorded_by) == (course_a.patient, nina)
        assert audit_count(action="create", object_type="follow_up", object_id=str(follow_up.pk)) == 1
        with pytest.raises(WorkflowConflict) as refused:
            services.follow_up_record(actor=alice, course=course_a, months=6, done_on=date(2026, 7, 21))
        assert refused.value.code == "follow_up_already_recorded"
        assert FollowUp.objects.count() == 1

    @pytest.mark.parametrize(("months", "code"), [(4, "invalid_time_point"), (0, "invalid_time_point")])
    def test_refuses_a_month_not_in_the_protocol(self, nina, course_a, months, code):
        with pytest.raises(DomainError) as refused:
            services.follow_up_record(actor=nina, course=course_a, months=months, done_on=LAST)
        assert refused.value.code == code and not FollowUp.objects.exists()

    def test_refuses_a_future_date(self, nina, course_a):
        tomorrow = clinic_today(course_a.clinic) + timedelta(days=1)
        with pytest.raises(DomainError) as refused:
            services.follow_up_record(actor=nina, course=course_a, months=1, done_on=tomorrow)
        assert refused.value.code == "date_in_future" and not FollowUp.objects.exists()

    def test_other_clinic_cannot_record(self, carol, course_a):
        with pytest.raises(Http404):
            services.follow_up_record(actor=carol, course=course_a, months=1, done_on=LAST)


def overdue_course(course):
    """The 1-month follow-up overdue by ten days, on the clinic's real today."""
    set_last_dosing(course, clinic_today(course.clinic) - timedelta(days=41))


class TestWorklist:
    def test_lists_overdue_and_due_with_a_record_link(self, as_user, nina, course_a, patient_a):
        overdue_course(course_a)
        response = as_user(nina).get(reverse("outcomes:follow_ups") + "?days=14")
        assert response.status_code == 200
        body = response.content.decode()
        assert "Overdue (1)" in body and patient_a.mrn in body
        assert reverse("outcomes:follow_up_record", args=[course_a.pk, 1]) in body
        assert audit_count(action="read", object_type="follow_up_list", actor=nina) == 1

    def test_record_page_moves_it_to_done(self, as_user, nina, course_a):
        overdue_course(course_a)
        url = reverse("outcomes:follow_up_record", args=[course_a.pk, 1])
        assert as_user(nina).get(url).status_code == 200
        today = clinic_today(course_a.clinic)
        assert as_user(nina).post(url, {"done_on": today.isoformat()}).status_code == 302
        body = as_user(nina).get(reverse("outcomes:follow_ups")).content.decode()
        assert "Overdue (0)" in body and "Done in the last 90 days (1)" in body

    def test_bad_date_keeps_the_input(self, as_user, nina, course_a):
        url = reverse("outcomes:follow_up_record", args=[course_a.pk, 1])
        response = as_user(nina).post(url, {"done_on": "2999-01-01"})
        assert response.status_code == 400
        body = response.content.decode()
        assert "date_in_future" in body and 'value="2999-01-01"' in body
        assert not FollowUp.objects.exists()

    def test_other_clinic_sees_nothing_and_gets_404_on_the_record(self, as_user, carol, course_a, patient_a):
        overdue_course(course_a)
        body = as_user(carol).get(reverse("outcomes:follow_ups")).content
        assert patient_a.mrn.encode() not in body and b"Overdue (0)" in body
        response = as_user(carol).post(
            reverse("outcomes:follow_up_record", args=[course_a.pk, 1]), {"done_on": "2026-01-01"}
        )
        assert response.status_code == 404 and patient_a.family_name.encode() not in response.content
        assert row_counts()["FollowUp"] == 0

    def test_researcher_gets_403_on_the_record(self, as_user, bob, course_a):
        response = as_user(bob).post(
            reverse("outcomes:follow_up_record", args=[course_a.pk, 1]), {"done_on": "2026-01-01"}
        )
        assert response.status_code == 403 and not FollowUp.objects.exists()


class TestReminders:
    @pytest.fixture
    def staff_with_email(self, nina, terry, alice, bob):
        for user, email in (
            (nina, "nina@example.org"),
            (terry, "terry@example.org"),
            (alice, "alice@example.org"),
            (bob, "bob@example.org"),
        ):
            user.email = email
            user.save(update_fields=["email"])

    def test_emails_nurses_and_therapists_counts_and_a_link_without_phi(
        self, staff_with_email, course_a, patient_a, clinic_b, django_capture_on_commit_callbacks, capsys
    ):
        overdue_course(course_a)
        with django_capture_on_commit_callbacks(execute=True):
            call_command("send_reminders", "--days", "14", "--json", "--base-url", "https://kap.example.org/")
        result = json.loads(capsys.readouterr().out)
        clinic_a = next(c for c in result["clinics"] if c["clinic"] == "a")
        assert clinic_a == {"clinic": "a", "due": 0, "overdue": 1, "recipients": 2, "sent": True}
        assert sorted(m.to[0] for m in mail.outbox) == ["nina@example.org", "terry@example.org"]
        message = mail.outbox[0]
        assert "Overdue: 1" in message.body and "https://kap.example.org/follow-ups/?days=14" in message.body
        for text in (patient_a.given_name, patient_a.family_name, patient_a.mrn, str(patient_a.birth_date)):
            assert text not in message.body and text not in message.subject
        assert audit_count(object_type="follow_up_reminder", clinic_id=course_a.clinic_id) == 1

    def test_dry_run_sends_nothing(
        self, staff_with_email, course_a, django_capture_on_commit_callbacks, capsys
    ):
        overdue_course(course_a)
        with django_capture_on_commit_callbacks(execute=True):
            call_command("send_reminders", "--dry-run")
        assert mail.outbox == [] and "dry run" in capsys.readouterr().out
        assert audit_count(object_type="follow_up_reminder") == 0

    def test_nothing_due_sends_nothing(self, staff_with_email, course_a, django_capture_on_commit_callbacks):
        set_last_dosing(course_a, clinic_today(course_a.clinic))
        with django_capture_on_commit_callbacks(execute=True):
            call_command("send_reminders", "--days", "7")
        assert mail.outbox == []

    @pytest.mark.parametrize("days", ["x", "²", "٣", "-1", "366", "99999999999999999999", "9" * 5000])
    def test_bad_days_exits_2(self, capsys, days):
        with pytest.raises(SystemExit) as exit_:
            from django.core.management import ManagementUtility

            ManagementUtility(["kapstone", "send_reminders", "--days", days, "--json"]).execute()
        assert exit_.value.code == 2
        assert json.loads(capsys.readouterr().out)["error"]["code"] == "invalid_days"
