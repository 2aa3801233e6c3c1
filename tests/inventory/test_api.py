"""Inventory API: lot list shape, transactions (201), refused workflow steps (409), bad input
(422), another clinic's lot or session (404), the wrong role (403)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from kapstone.inventory import services
from kapstone.inventory.models import Lot, RegisterEntry
from kapstone.patients.services import clinic_today
from tests.api.test_patients_api import Api, error_of
from tests.care.conftest import move_dosing_session
from tests.conftest import audit_count

pytestmark = pytest.mark.django_db
D = Decimal


def post(user, **body):
    return Api(user).post("/inventory/transactions", body)


class TestLots:
    def test_lists_own_clinics_lots_with_numeric_balances(self, nina, lot_a, lot_b):
        response = Api(nina).get("/inventory/lots")
        assert response.status_code == 200
        assert response.json()["count"] == 1
        body = response.json()["items"]
        assert [row["lot_number"] for row in body] == ["KA-1001"]
        row = body[0]
        assert set(row) == {
            "id",
            "product",
            "ndc",
            "lot_number",
            "expiry",
            "location",
            "balance_mg",
            "balance_ml",
            "expired",
        }
        assert row["balance_mg"] == 1000.0 and row["balance_ml"] == 20.0 and row["expired"] is False
        assert row["ndc"] == "99999-0501-10" and row["location"] == "Main safe" and row["id"] == lot_a.pk
        assert isinstance(row["balance_mg"], float)

    def test_expired_flag(self, nina, lot_a):
        Lot.objects.filter(pk=lot_a.pk).update(expiry=clinic_today(lot_a.clinic) - timedelta(days=1))
        assert Api(nina).get("/inventory/lots").json()["items"][0]["expired"] is True

    def test_researcher_and_therapist_are_403(self, bob, terry, lot_a):
        for user in (bob, terry):
            response = Api(user).get("/inventory/lots")
            assert response.status_code == 403 and error_of(response)["code"] == "forbidden"


class TestTransactions:
    def test_dispense_returns_the_entry(self, nina, lot_a, session_a):
        response = post(nina, kind="dispense", lot_id=lot_a.pk, amount_mg=500, session_id=session_a.pk)
        assert response.status_code == 201, response.content
        body = response.json()
        assert set(body) == {
            "id",
            "kind",
            "lot_id",
            "amount_mg",
            "balance_mg",
            "lot_balance_mg",
            "occurred_at",
            "posted_at",
            "sequence",
            "late",
        }
        assert (
            body["kind"],
            body["lot_id"],
            body["amount_mg"],
            body["balance_mg"],
            body["lot_balance_mg"],
        ) == (
            "dispense",
            lot_a.pk,
            500.0,
            500.0,
            500.0,
        )
        assert (body["sequence"], body["late"]) == (2, False) and body["posted_at"] == body["occurred_at"]
        assert audit_count(object_type="register_entry", object_id=str(body["id"]), actor=nina) == 1

    def test_an_entry_before_one_already_posted_is_late_with_its_balance_at_its_place(
        self, nina, lot_a, session_a
    ):
        # The dosing app may date an entry up to a minute ahead; one posted now comes before it.
        ahead = timezone.now() + timedelta(seconds=50)
        services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg="100", at=ahead)
        body = post(nina, kind="dispense", lot_id=lot_a.pk, amount_mg=200, session_id=session_a.pk).json()
        assert (body["balance_mg"], body["lot_balance_mg"], body["late"], body["sequence"]) == (
            800.0,
            700.0,
            True,
            3,
        )

    def test_full_bedside_sequence(self, nina, wanda, alice, lot_a, session_a):
        from kapstone.care.services import day_of_checks_record
        from tests.care.test_sessions import SERVICE_INPUTS

        assert (
            post(nina, kind="dispense", lot_id=lot_a.pk, amount_mg="100", session_id=session_a.pk).status_code
            == 201
        )
        day_of_checks_record(actor=nina, session=session_a, inputs=SERVICE_INPUTS)
        move_dosing_session(nina, session_a, "in_progress")
        assert (
            post(
                alice, kind="administer", lot_id=lot_a.pk, amount_mg=56.5, session_id=session_a.pk
            ).status_code
            == 201
        )
        waste = post(
            nina,
            kind="waste",
            lot_id=lot_a.pk,
            amount_mg=3.5,
            session_id=session_a.pk,
            witness="wanda",
            reason="left in line",
        )
        assert waste.status_code == 201, waste.content
        back = post(nina, kind="return", lot_id=lot_a.pk, amount_mg=40, session_id=session_a.pk)
        assert back.status_code == 201 and back.json()["balance_mg"] == 940.0
        assert services.session_in_hand_mg(session_a) == 0

    def test_insufficient_stock_is_409_with_the_balance(self, nina, lot_a, session_a):
        response = post(nina, kind="dispense", lot_id=lot_a.pk, amount_mg=1000.1, session_id=session_a.pk)
        assert response.status_code == 409
        error = error_of(response)
        assert error["code"] == "insufficient_stock" and "1000.0 mg" in error["message"]
        assert RegisterEntry.objects.count() == 1

    def test_expired_lot_is_409_and_writes_nothing(self, nina, lot_a, session_a):
        Lot.objects.filter(pk=lot_a.pk).update(expiry=clinic_today(lot_a.clinic) - timedelta(days=1))
        response = post(nina, kind="dispense", lot_id=lot_a.pk, amount_mg=10, session_id=session_a.pk)
        assert response.status_code == 409 and error_of(response)["code"] == "lot_expired"
        assert RegisterEntry.objects.count() == 1 and Lot.objects.get(pk=lot_a.pk).balance_mg == D("1000")

    def test_waste_without_witness_is_422_and_writes_nothing(self, nina, lot_a, session_a):
        services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg="100")
        before = RegisterEntry.objects.count()
        response = post(nina, kind="waste", lot_id=lot_a.pk, amount_mg=10, session_id=session_a.pk)
        assert response.status_code == 422
        assert error_of(response) == {
            "code": "witness_required",
            "field": "witness",
            "message": "Wasting a controlled substance needs a second person as witness.",
        }
        unknown = post(
            nina, kind="waste", lot_id=lot_a.pk, amount_mg=10, session_id=session_a.pk, witness="nobody"
        )
        assert unknown.status_code == 422 and error_of(unknown)["code"] == "witness_not_in_clinic"
        myself = post(
            nina, kind="waste", lot_id=lot_a.pk, amount_mg=10, session_id=session_a.pk, witness="nina"
        )
        assert myself.status_code == 422 and error_of(myself)["code"] == "witness_same_as_actor"
        assert RegisterEntry.objects.count() == before

    @pytest.mark.parametrize(
        ("body", "code"),
        [
            ({"kind": "dispense", "amount_mg": 10}, "session_required"),
            ({"kind": "dispense", "amount_mg": 0}, "amount_out_of_range"),
            ({"kind": "dispense", "amount_mg": 1.25}, "amount_precision"),
            ({"kind": "dispense", "amount_mg": "ten"}, "invalid_value"),
            ({"kind": "steal", "amount_mg": 10}, "invalid_value"),
            ({"kind": "dispense"}, "missing_field"),
            ({"kind": "dispense", "amount_mg": 10, "clinic_id": 1}, "unknown_field"),
        ],
    )
    def test_bad_input_is_422(self, nina, lot_a, session_a, body, code):
        body = {
            "lot_id": lot_a.pk,
            **({"session_id": session_a.pk} if code != "session_required" else {}),
            **body,
        }
        response = post(nina, **body)
        assert response.status_code == 422, response.content
        assert error_of(response)["code"] == code
        assert RegisterEntry.objects.count() == 1

    def test_other_clinics_lot_or_session_is_404(self, nina, carol, lot_a, lot_b, session_a):
        response = post(nina, kind="dispense", lot_id=lot_b.pk, amount_mg=10, session_id=session_a.pk)
        assert response.status_code == 404 and error_of(response)["code"] == "not_found"
        carol_response = post(carol, kind="dispense", lot_id=lot_a.pk, amount_mg=10, session_id=session_a.pk)
        assert carol_response.status_code == 404 and b"Zzyzxfield" not in carol_response.content
        nurse_b = _nurse_b(carol)
        session_elsewhere = post(
            nurse_b, kind="dispense", lot_id=lot_b.pk, amount_mg=10, session_id=session_a.pk
        )
        assert session_elsewhere.status_code == 404
        assert RegisterEntry.objects.filter(kind="dispense").count() == 0

    def test_wrong_role_is_403(self, nina, adam, bob, lot_a, session_a):
        assert post(nina, kind="adjust", lot_id=lot_a.pk, amount_mg=-10, reason="x").status_code == 403
        assert (
            post(adam, kind="dispense", lot_id=lot_a.pk, amount_mg=10, session_id=session_a.pk).status_code
            == 403
        )
        assert (
            post(bob, kind="dispense", lot_id=lot_a.pk, amount_mg=10, session_id=session_a.pk).status_code
            == 403
        )
        assert RegisterEntry.objects.count() == 1

    def test_admin_adjusts_receives_and_transfers(self, adam, lot_a, cabinet_a):
        down = post(adam, kind="adjust", lot_id=lot_a.pk, amount_mg=-12.5, reason="vial cracked")
        assert (
            down.status_code == 201
            and down.json()["amount_mg"] == 12.5
            and down.json()["balance_mg"] == 987.5
        )
        assert post(adam, kind="adjust", lot_id=lot_a.pk, amount_mg=-1).status_code == 422
        assert post(adam, kind="receive", lot_id=lot_a.pk, amount_mg=500).json()["balance_mg"] == 1487.5
        moved = post(
            adam,
            kind="transfer",
            lot_id=lot_a.pk,
            amount_mg=487.5,
            to_location_id=cabinet_a.pk,
            reason="today's sessions",
        )
        assert (
            moved.status_code == 201
            and moved.json()["lot_id"] == lot_a.pk
            and moved.json()["balance_mg"] == 1000.0
        )
        missing = post(adam, kind="transfer", lot_id=lot_a.pk, amount_mg=1, reason="x")
        assert missing.status_code == 422 and error_of(missing)["code"] == "to_location_required"

    def test_adjust_below_zero_is_409(self, adam, lot_a):
        response = post(adam, kind="adjust", lot_id=lot_a.pk, amount_mg=-1000.1, reason="x")
        assert response.status_code == 409 and error_of(response)["code"] == "insufficient_stock"

    def test_transfer_to_another_clinics_location_is_404(self, adam, lot_a, lot_b):
        response = post(
            adam, kind="transfer", lot_id=lot_a.pk, amount_mg=1, to_location_id=lot_b.location_id, reason="x"
        )
        assert response.status_code == 404

    def test_fields_that_do_not_belong_to_the_kind_are_refused(self, nina, adam, lot_a, session_a, cabinet_a):
        response = post(
            adam, kind="adjust", lot_id=lot_a.pk, amount_mg=1, reason="x", session_id=session_a.pk
        )
        assert response.status_code == 422 and error_of(response)["code"] == "session_not_allowed"
        response = post(
            nina, kind="dispense", lot_id=lot_a.pk, amount_mg=1, session_id=session_a.pk, witness="wanda"
        )
        assert response.status_code == 422 and error_of(response)["code"] == "witness_not_allowed"


def _nurse_b(carol):
    from kapstone.accounts.models import Role
    from tests.conftest import make_user

    return make_user("nadia", carol.memberships.get().clinic, Role.NURSE)
