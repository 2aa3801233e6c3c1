"""The prescriber's worklist (issue 11): screenings awaiting sign-off on the home page, not only
on the chart. Prescribers only; other roles go on to the patient list as before."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import dateformat

from kapstone.accounts.models import Role
from kapstone.accounts.services import membership_set
from kapstone.audit.models import AuditEvent
from kapstone.screening import services
from kapstone.screening.selectors import screenings_awaiting_sign_off_for_user
from tests.conftest import new_patient
from tests.screening.conftest import screen

pytestmark = pytest.mark.django_db

HOME = reverse("home")


def waiting_ids(user) -> list[int]:
    return [s.pk for s in screenings_awaiting_sign_off_for_user(user=user).screenings]


class TestPage:
    def test_a_prescriber_sees_each_waiting_screening_in_words(self, as_user, alice, nina, patient_a):
        screening = screen(nina, patient_a, "needs_review", systolic_bp=152, diastolic_bp=92)
        response = as_user(alice).get(HOME)
        assert response.status_code == 200
        body = response.content.decode()
        assert "Screenings awaiting your sign-off (1)" in body
        assert "Zzyzxfield, Avery" in body and patient_a.mrn in body
        assert "provisional result: <strong>needs prescriber review</strong>" in body
        assert "Blood pressure 152/92 mmHg is above 140 systolic or 90 diastolic" in body
        assert "needs_review" not in body and "bp_elevated" not in body
        assert f"{reverse('screening:list', args=[patient_a.pk])}#sign-off-h" in body
        # Since when, on the clinic's clock with its zone named (the year only in another year).
        local = screening.entered_at.astimezone(ZoneInfo("America/New_York"))
        assert dateformat.format(local, "j M H:i T") in body
        assert local.strftime("%Z") in ("EST", "EDT")

    def test_the_oldest_waiting_comes_first(self, alice, nina, clinic_a, patient_a):
        first = screen(nina, patient_a, "needs_review")
        other = new_patient(nina, clinic_a, mrn="A-1002", family_name="Bellwether")
        second = screen(nina, other, "needs_review")
        assert waiting_ids(alice) == [first.pk, second.pk]

    def test_only_what_still_awaits_a_sign_off_is_listed(self, alice, nina, clinic_a, patient_a):
        def patient(mrn):
            return new_patient(nina, clinic_a, mrn=mrn, family_name=f"Family{mrn[-1]}")

        waiting = screen(nina, patient_a, "needs_review")
        approved = screen(nina, patient("A-2001"), "needs_review")
        services.screening_sign_off(actor=alice, screening=approved, approve=True, reason="Reviewed.")
        declined = screen(nina, patient("A-2002"), "needs_review")
        services.screening_sign_off(actor=alice, screening=declined, approve=False, reason="Not now.")
        rescreened = patient("A-2003")
        screen(nina, rescreened, "needs_review")
        screen(nina, rescreened, "eligible")  # superseded: no longer current
        for decision, mrn in (("eligible", "A-2004"), ("deferred", "A-2005"), ("ineligible", "A-2006")):
            screen(nina, patient(mrn), decision)
        assert waiting_ids(alice) == [waiting.pk]

    def test_the_empty_state_is_in_words(self, as_user, alice):
        body = as_user(alice).get(HOME).content.decode()
        assert "No screening is waiting for your sign-off." in body

    def test_the_read_is_audited_with_a_count_and_no_names(self, as_user, alice, nina, patient_a):
        screen(nina, patient_a, "needs_review")
        as_user(alice).get(HOME)
        (event,) = AuditEvent.objects.filter(actor=alice, object_type="screening_worklist")
        assert event.action == "read" and event.clinic_id == patient_a.clinic_id
        assert event.detail == {"returned": 1, "total": 1}
        assert patient_a.family_name not in str(event.detail)


class TestScope:
    def test_another_clinics_screening_is_invisible(self, as_user, alice, carol, patient_b):
        screen(carol, patient_b, "needs_review")
        body = as_user(alice).get(HOME).content.decode()
        assert patient_b.family_name not in body and patient_b.mrn not in body
        assert waiting_ids(alice) == []
        assert len(waiting_ids(carol)) == 1

    def test_a_clinic_where_the_user_is_not_a_prescriber_is_not_listed(
        self, as_user, alice, carol, clinic_b, patient_b
    ):
        membership_set(actor=None, user=alice, clinic=clinic_b, role=Role.NURSE)
        screen(carol, patient_b, "needs_review")
        assert waiting_ids(alice) == []

    def test_a_prescriber_of_two_clinics_sees_both_each_on_its_own_clock(
        self, as_user, alice, nina, carol, clinic_b, patient_a, patient_b
    ):
        membership_set(actor=None, user=alice, clinic=clinic_b, role=Role.PRESCRIBER)
        screen(nina, patient_a, "needs_review")
        in_b = screen(carol, patient_b, "needs_review")
        body = as_user(alice).get(HOME).content.decode()
        assert patient_b.mrn in body and "Clinic B" in body
        assert dateformat.format(in_b.entered_at.astimezone(ZoneInfo("America/Chicago")), "j M H:i T") in body

    @pytest.mark.parametrize("actor", ["nina", "terry", "adam"])
    def test_other_clinicians_and_admins_go_on_to_the_patient_list(
        self, request, as_user, nina, patient_a, actor
    ):
        screen(nina, patient_a, "needs_review")
        response = as_user(request.getfixturevalue(actor)).get(HOME)
        assert response.status_code == 302 and response["Location"] == reverse("patients:list")
        assert not AuditEvent.objects.filter(object_type="screening_worklist").exists()

    def test_a_researcher_sees_no_worklist_and_no_patient(self, as_user, bob, nina, patient_a):
        screen(nina, patient_a, "needs_review")
        body = as_user(bob).get(HOME).content.decode()
        assert "awaiting your sign-off" not in body and patient_a.family_name not in body

    def test_requires_login(self, client):
        response = client.get(HOME)
        assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
