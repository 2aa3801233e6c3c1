"""Issue 14's day-of checks through the service, the API and the pages: readiness (the Ketalar
label), concomitant medicines and withdrawal; soft stops a clinician passes with a reason, hard
stops only a prescriber overrides; refusals write nothing."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from kapstone.audit.models import AuditEvent
from kapstone.care.models import DayOfCheck, SessionEvent
from kapstone.care.services import day_of_checks_record, session_transition
from kapstone.domain.errors import WorkflowConflict
from tests.api.test_patients_api import Api, error_of
from tests.care.conftest import PASSING_CHECKS, first_dosing
from tests.care.test_sessions import SERVICE_INPUTS
from tests.conftest import audit_count

pytestmark = pytest.mark.django_db


def checked_in(nurse, course):
    return session_transition(actor=nurse, session=first_dosing(course), to="checked_in")


def counts() -> tuple[int, int, int]:
    return (
        DayOfCheck.objects.count(),
        audit_count(object_type="day_of_check"),
        SessionEvent.objects.filter(to_state="cleared").count(),
    )


class TestService:
    def test_a_nurse_passes_a_soft_stop_with_a_reason(self, nina, course_a):
        session = checked_in(nina, course_a)
        row = day_of_checks_record(
            actor=nina,
            session=session,
            inputs=SERVICE_INPUTS | {"benzodiazepine_use": True, "ciwa_ar_total": 11},
            overrides={
                "benzodiazepines": "Clonazepam 0.5 mg nightly, unchanged",
                "alcohol_withdrawal": "Tremor only",
            },
        )
        assert row.cleared
        by_check = {c["check"]: c for c in row.outcomes["checks"]}
        benzodiazepines = by_check["benzodiazepines"]
        assert (benzodiazepines["code"], benzodiazepines["soft"], benzodiazepines["overridden"]) == (
            "benzodiazepine_taken",
            True,
            True,
        )
        assert by_check["alcohol_withdrawal"]["value"] == 11
        assert row.overrides == {
            "benzodiazepines": "Clonazepam 0.5 mg nightly, unchanged",
            "alcohol_withdrawal": "Tremor only",
        }
        event = AuditEvent.objects.get(object_type="day_of_check", object_id=str(row.pk))
        assert event.detail["overridden"] == ["alcohol_withdrawal", "benzodiazepines"]
        assert event.detail["failed"] == ["alcohol_withdrawal_score_high", "benzodiazepine_taken"]

    def test_a_nurse_cannot_override_a_hard_stop_and_nothing_is_written(self, nina, course_a):
        session = checked_in(nina, course_a)
        before = counts()
        with pytest.raises(WorkflowConflict) as caught:
            day_of_checks_record(
                actor=nina,
                session=session,
                inputs=SERVICE_INPUTS | {"theophylline_use": True},
                overrides={"theophylline": "Asthma is stable"},
            )
        assert caught.value.code == "override_requires_prescriber"
        assert (
            caught.value.message == "Only a prescriber may override the theophylline or aminophylline check."
        )
        assert counts() == before
        session.refresh_from_db()
        assert session.status == "checked_in"

    def test_a_prescriber_overrides_a_readiness_check(self, nina, alice, course_a):
        session = checked_in(nina, course_a)
        without = day_of_checks_record(
            actor=nina, session=session, inputs=SERVICE_INPUTS | {"prescriber_on_site": False}
        )
        assert not without.cleared
        assert [c["code"] for c in without.outcomes["checks"] if not c["met"]] == ["prescriber_not_on_site"]
        row = day_of_checks_record(
            actor=alice,
            session=session,
            inputs=SERVICE_INPUTS | {"prescriber_on_site": False},
            overrides={"prescriber_on_site": "On call by video, 5 min away"},
            actor_is_prescriber=True,
        )
        assert row.cleared
        session.refresh_from_db()
        assert session.status == "cleared"


class TestApi:
    def url(self, session) -> str:
        return f"/sessions/{session.pk}/day-of-checks"

    def body(self, **changes):
        checks = {k: (float(v) if k == "breath_alcohol_g_per_210l" else v) for k, v in SERVICE_INPUTS.items()}
        return {"checks": checks | changes}

    def test_records_and_clears_and_lists(self, nina, course_a):
        session = checked_in(nina, course_a)
        response = Api(nina).post(self.url(session), self.body())
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["cleared"], body["session_status"], body["recorded_by"]) == (True, "cleared", "nina")
        checks = {c["check"]: c for c in body["checks"]}
        assert set(checks["theophylline"]) == {
            "check", "label", "met", "applicable", "value", "code", "message", "source",
            "overridable", "soft", "overridden", "override_reason",
        }  # fmt: skip
        assert checks["alcohol_withdrawal"]["label"] == "Alcohol withdrawal (CIWA-Ar)"
        assert checks["airway_clinician"]["source"].startswith("Ketalar")
        assert audit_count(object_type="day_of_check", action="create") == 1
        reads = audit_count(object_type="session", action="read", object_id=str(session.pk))
        listed = Api(nina).get(self.url(session))
        assert audit_count(object_type="session", action="read", object_id=str(session.pk)) == reads + 1
        assert listed.status_code == 200
        assert [item["id"] for item in listed.json()["items"]] == [body["id"]]

    def test_a_failed_check_is_recorded_not_cleared(self, nina, course_a):
        session = checked_in(nina, course_a)
        response = Api(nina).post(self.url(session), self.body(cows_total=20, maoi_use=True))
        assert response.status_code == 201
        assert response.json()["cleared"] is False and response.json()["session_status"] == "checked_in"
        failed = [c["code"] for c in response.json()["checks"] if not c["met"]]
        assert failed == ["maoi_taken"]  # the KARE course does not ask the COWS

    @pytest.mark.parametrize(
        ("changes", "overrides", "status", "code", "field"),
        [
            ({"ciwa_ar_total": 68}, {}, 422, "implausible_value", "ciwa_ar_total"),
            ({"stimulant_use": "yes"}, {}, 422, "invalid_check_value", "stimulant_use"),
            ({"airway_clinician_present": None}, {}, 422, "missing_check", "airway_clinician_present"),
            ({"pulse": 80}, {}, 422, "unknown_check", "pulse"),
            ({"maoi_use": True}, {"maoi": "Stopped yesterday"}, 409, "override_requires_prescriber", "overrides.maoi"),
            ({"stimulant_use": True}, {"stimulants": " "}, 201, None, None),
            ({"stimulant_use": True}, {"stimulants": 5}, 422, "invalid_text", "overrides.stimulants"),
            ({}, {"escort": "A taxi"}, 422, "override_not_allowed", "overrides.escort"),
        ],
    )  # fmt: skip
    def test_refusals_write_nothing(self, nina, course_a, changes, overrides, status, code, field):
        session = checked_in(nina, course_a)
        before = counts()
        response = Api(nina).post(self.url(session), self.body(**changes) | {"overrides": overrides})
        assert response.status_code == status, response.content
        if code is None:  # a blank reason is no reason: recorded, not cleared
            assert response.json()["cleared"] is False
            assert counts() == (before[0] + 1, before[1] + 1, before[2])
            return
        assert (error_of(response)["code"], error_of(response)["field"]) == (code, field)
        assert counts() == before

    def test_prescriber_override_by_api(self, nina, alice, course_a):
        session = checked_in(nina, course_a)
        response = Api(alice).post(
            self.url(session),
            self.body(vital_signs_monitoring_available=False)
            | {"overrides": {"vital_signs_monitoring": "Portable monitor from recovery bay"}},
        )
        assert response.status_code == 201
        assert response.json()["cleared"] is True

    def test_other_clinic_404_therapist_403(self, nina, carol, terry, course_a):
        session = checked_in(nina, course_a)
        before = counts()
        assert Api(carol).post(self.url(session), self.body()).status_code == 404
        assert Api(carol).get(self.url(session)).status_code == 404
        assert audit_count(object_type="session", action="denied", object_id=str(session.pk)) == 2
        assert Api(terry).post(self.url(session), self.body()).status_code == 403
        assert counts() == before


class TestWeb:
    def page(self, session):
        return reverse("care:day_of_checks", args=[session.pk])

    def test_the_form_asks_in_words_and_offers_the_reasons_each_role_may_give(
        self, as_user, nina, alice, course_a
    ):
        session = checked_in(nina, course_a)
        page = as_user(nina).get(self.page(session)).content.decode()
        assert "A clinician trained in airway management is present" in page
        assert "Taking theophylline or aminophylline?" in page
        assert 'type="radio" name="maoi_use" value="yes"' in page
        assert "Alcohol withdrawal: CIWA-Ar total (0–67)" in page and "10 or more stops" in page
        assert "COWS" not in page  # an alcohol course
        assert "Proceed despite “Benzodiazepines” — your reason" in page
        assert "Override “Theophylline or aminophylline”" not in page  # a nurse: soft stops only
        prescriber = as_user(alice).get(self.page(session)).content.decode()
        assert "Override “Theophylline or aminophylline” — prescriber’s reason" in prescriber

    def test_an_unanswered_medicine_question_is_refused_with_nothing_written(self, as_user, nina, course_a):
        session = checked_in(nina, course_a)
        before = counts()
        data = {k: v for k, v in PASSING_CHECKS.items() if k != "maoi_use"}
        response = as_user(nina).post(self.page(session), data)
        assert response.status_code == 400
        assert "Answer yes or no." in response.content.decode()
        assert counts() == before

    def test_a_soft_stop_passed_from_the_page(self, as_user, nina, course_a):
        session = checked_in(nina, course_a)
        response = as_user(nina).post(
            self.page(session),
            PASSING_CHECKS | {"stimulant_use": "yes", "override_stimulants": "Methylphenidate for ADHD"},
        )
        assert response.status_code == 302
        session.refresh_from_db()
        assert session.status == "cleared"
        chart = as_user(nina).get(reverse("care:session", args=[session.pk])).content.decode()
        assert "Stimulants</strong>: yes" in chart
        assert "proceeded with reason: Methylphenidate for ADHD" in chart

    def test_a_hard_stop_keeps_the_session_and_the_typed_reasons(self, as_user, nina, course_a):
        session = checked_in(nina, course_a)
        response = as_user(nina).post(
            self.page(session),
            PASSING_CHECKS
            | {
                "theophylline_use": "yes",
                "benzodiazepine_use": "yes",
                "override_benzodiazepines": "Diazepam 2 mg",
            },
        )
        assert response.status_code == 400
        page = response.content.decode()
        assert 'data-code="theophylline_taken"' in page
        assert "a prescriber may override with a written reason" in page
        assert 'value="Diazepam 2 mg"' in page  # the reason typed is kept
        assert re.search(r'name="theophylline_use" value="yes"[^>]*checked', page)
        assert DayOfCheck.objects.filter(session=session, cleared=False).count() == 1
        session.refresh_from_db()
        assert session.status == "checked_in"

    def test_a_nurse_forging_a_prescriber_override_is_refused(self, as_user, nina, course_a):
        session = checked_in(nina, course_a)
        before = counts()
        response = as_user(nina).post(
            self.page(session),
            PASSING_CHECKS | {"airway_clinician_present": "", "override_airway_clinician": "Trust me"},
        )
        # The field is not on a nurse's form: the reason is ignored and the check fails.
        assert response.status_code == 400
        assert 'data-code="airway_clinician_absent"' in response.content.decode()
        assert counts() == (before[0] + 1, before[1] + 1, before[2])


class TestProtocolPages:
    def form(self, protocol) -> dict[str, str]:
        data = {
            "note": "Our CIWA-Ar cut-off",
            "title": protocol.title,
            "min_observation_min": str(protocol.monitoring.min_observation_min),
            "vitals_interval_min": str(protocol.monitoring.vitals_interval_min),
            "min_days_between_dosing": str(protocol.limits.min_days_between_dosing),
            "fasting_min_hours": str(protocol.day_of.fasting_min_hours),
        }
        for index, template in enumerate(protocol.sessions):
            if template.dose is not None:
                data[f"dose_{index}"] = str(template.dose.mg_per_kg)
        return data

    def test_the_protocol_page_lists_the_checks_and_the_clone_form_sets_the_threshold(
        self, as_user, adam, clinic_a
    ):
        from kapstone.care.models import ProtocolClone
        from kapstone.care.protocols import protocol_resolve
        from kapstone.domain.protocols import get_protocol

        kare = get_protocol("kare-alcohol-grabski-2022")
        detail = as_user(adam).get(reverse("care:protocol_detail", args=[kare.slug, 1])).content.decode()
        assert "Alcohol withdrawal (CIWA-Ar): 10 or more stops the dose" in detail
        assert "Theophylline or aminophylline</td><td>Hard stop unless a prescriber overrides" in detail
        assert "Benzodiazepines</td><td>Soft stop: the clinician may proceed with a written reason" in detail
        url = reverse("care:protocol_clone", args=[kare.slug, 1])
        page = as_user(adam).get(url).content.decode()
        assert "Alcohol withdrawal: CIWA-Ar total that stops the day&#x27;s dose" in page
        assert "COWS" not in page
        refused = as_user(adam).post(url, self.form(kare) | {"ciwa_ar_stop_at": "68"})
        assert (
            refused.status_code == 400
            and 'data-code="invalid_withdrawal_threshold"' in refused.content.decode()
        )
        assert ProtocolClone.objects.count() == 0
        saved = as_user(adam).post(url, self.form(kare) | {"ciwa_ar_stop_at": "12"})
        assert saved.status_code == 302
        assert protocol_resolve(clinic_id=clinic_a.pk, slug=kare.slug).day_of.ciwa_ar_stop_at == 12
