"""Issue 11, defect 5: the independent double check is blind.

Until the second clinician's entries are accepted, nothing from which the order's weight, dose,
volume, rate or concentration can be worked out reaches them: not on the verification page, not
on the session page, not through the API. After acceptance the full order is shown."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from kapstone.dosing.services import dose_order_create, dose_order_verify, dose_order_void
from tests.api.test_patients_api import Api

pytestmark = pytest.mark.django_db

#: The fixture's order, 0.8 mg/kg × 72.5 kg IV over 40 min at 50 mg/mL in a 100 mL bag, written
#: every way a page could show it: weight, dose, volume, rates, concentrations.
ORDER_NUMBERS = ("72.5", "58", "58.0", "1.16", "1.45", "150", "150.00", "0.58", "0.580", "50", "50.00")
#: The order's mg/kg and infusion time (also the protocol's rule, shown on the session page).
ORDER_RULE_NUMBERS = ("0.8", "0.800", "40", "40.00")


def numbers_shown(html: str, numbers) -> list[str]:
    """Which of ``numbers`` appear as numbers in the page (not inside another number, a time, a
    date or a token)."""
    return [n for n in numbers if re.search(rf"(?<![\w.:/-]){re.escape(n)}(?![\w.]|:\d)", html)]


def order(alice, session, mg_per_kg="0.8", **kw):
    return dose_order_create(
        actor=alice, session=session, mg_per_kg=mg_per_kg, concentration_mg_per_ml="50", bag_ml="100", **kw
    )


class TestVerificationPage:
    def test_shows_what_finds_the_order_and_none_of_its_numbers(self, as_user, alice, nina, cleared_session):
        dose = order(alice, cleared_session)
        page = as_user(nina).get(reverse("dosing:order", args=[dose.pk]))
        assert page.status_code == 200
        html = page.content.decode()
        assert numbers_shown(html, ORDER_NUMBERS + ORDER_RULE_NUMBERS) == []
        assert "awaiting your independent check" in html
        # What the verifier needs to find the order: patient, session, protocol, route.
        assert "Zzyzxfield, Avery (A-1001)" in html
        assert cleared_session.title in html
        assert cleared_session.course.protocol_title in html
        assert "Ketamine IV" in html
        assert 'id="pk-figure"' not in html
        assert 'name="weight_kg"' in html and 'name="concentration_mg_per_ml"' in html

    def test_the_orderer_sees_the_full_order(self, as_user, alice, cleared_session):
        dose = order(alice, cleared_session)
        html = as_user(alice).get(reverse("dosing:order", args=[dose.pk])).content.decode()
        assert "58.0 mg ketamine IV" in html and "72.5 kg" in html and "1.16 mL" in html

    def test_an_adjusted_order_shows_neither_its_dose_nor_its_reason(
        self, as_user, alice, nina, cleared_session
    ):
        dose = order(
            alice, cleared_session, mg_per_kg="0.7", adjustment_reason="Strong dissociation last time"
        )
        html = as_user(nina).get(reverse("dosing:order", args=[dose.pk])).content.decode()
        assert str(dose.dose_mg) == "50.8"
        assert numbers_shown(html, ("0.7", "0.700", "50.8", "72.5", "1.02")) == []
        assert "Strong dissociation" not in html

    def test_a_refused_check_stays_blind(self, as_user, alice, nina, cleared_session):
        dose = order(alice, cleared_session)
        response = as_user(nina).post(
            reverse("dosing:verify", args=[dose.pk]), {"weight_kg": "27.5", "concentration_mg_per_ml": "10"}
        )
        assert response.status_code == 400
        html = response.content.decode()
        assert "does not match the order" in html
        assert numbers_shown(html, ("72.5", "58", "58.0", "1.16", "1.45", "150", "0.8", "0.800")) == []

    def test_after_acceptance_the_full_order_is_shown(self, as_user, alice, nina, cleared_session):
        dose = order(alice, cleared_session)
        client = as_user(nina)
        response = client.post(
            reverse("dosing:verify", args=[dose.pk]), {"weight_kg": "72.5", "concentration_mg_per_ml": "50"}
        )
        assert response.status_code == 302
        html = client.get(reverse("dosing:order", args=[dose.pk])).content.decode()
        assert "58.0 mg ketamine IV" in html and "72.5 kg" in html and 'id="pk-figure"' in html

    def test_a_voided_order_of_the_session_is_blind_too(self, as_user, alice, nina, cleared_session):
        first = order(alice, cleared_session)
        dose_order_void(actor=alice, order=first, reason="Wrong bag volume")
        order(alice, cleared_session)
        html = as_user(nina).get(reverse("dosing:order", args=[first.pk])).content.decode()
        assert numbers_shown(html, ORDER_NUMBERS + ORDER_RULE_NUMBERS) == []
        assert "hidden while the session's new order awaits its independent check" in html


class TestSessionPage:
    def test_a_nurse_sees_the_order_awaits_her_check_and_not_its_numbers(
        self, as_user, alice, nina, cleared_session
    ):
        order(alice, cleared_session)
        html = as_user(nina).get(reverse("care:session", args=[cleared_session.pk])).content.decode()
        assert "Order awaiting your independent check" in html
        assert numbers_shown(html, ORDER_NUMBERS) == []
        assert 'id="pk-figure"' not in html

    def test_the_orderer_sees_the_order(self, as_user, alice, cleared_session):
        order(alice, cleared_session)
        html = as_user(alice).get(reverse("care:session", args=[cleared_session.pk])).content.decode()
        assert "58.0 mg IV" in html and "Order awaiting" not in html

    def test_once_verified_everyone_sees_it(self, as_user, alice, nina, cleared_session):
        dose = order(alice, cleared_session)
        dose_order_verify(actor=nina, order=dose, weight_kg="72.5", concentration_mg_per_ml="50")
        html = as_user(nina).get(reverse("care:session", args=[cleared_session.pk])).content.decode()
        assert "58.0 mg IV" in html and "Order awaiting" not in html


class TestApi:
    def test_the_verifier_gets_no_numbers_before_the_check(self, alice, nina, cleared_session):
        dose = order(alice, cleared_session)
        body = Api(nina).get(f"/dose-orders/{dose.pk}").json()
        assert body["blind"] is True and body["route"] == "iv" and body["status"] == "ordered"
        numbers = {
            key: value
            for key, value in body.items()
            if isinstance(value, int | float) and not isinstance(value, bool) and key != "id"
        }
        assert numbers == {"session_id": cleared_session.pk}
        assert body["warnings"] == []

    def test_the_orderer_gets_the_order(self, alice, cleared_session):
        dose = order(alice, cleared_session)
        body = Api(alice).get(f"/dose-orders/{dose.pk}").json()
        assert body["blind"] is False and body["weight_kg"] == 72.5 and body["dose_mg"] == 58.0

    def test_the_accepted_check_answers_with_the_full_order(self, alice, nina, cleared_session):
        dose = order(alice, cleared_session)
        verified = Api(nina).post(
            f"/dose-orders/{dose.pk}/verify", {"weight_kg": 72.5, "concentration_mg_per_ml": 50}
        )
        assert verified.status_code == 200
        assert verified.json()["blind"] is False and verified.json()["dose_mg"] == 58.0
        assert Api(nina).get(f"/dose-orders/{dose.pk}").json()["volume_ml"] == 1.16
