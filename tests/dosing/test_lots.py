"""A dose drawn from more than one vial lot: each lot dispensed, given and wasted on its own."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.care.models import CareSession
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.dosing.models import Administration, AdministrationLot, DoseOrder
from kapstone.dosing.services import administration_start
from kapstone.inventory.models import Lot, RegisterEntry
from kapstone.inventory.services import lot_receive, session_in_hand_mg
from kapstone.patients.services import clinic_today
from tests.api.test_patients_api import Api, error_of
from tests.conftest import audit_count
from tests.dosing.helpers import two_lot_administration, verified_order

pytestmark = pytest.mark.django_db


def local_minutes_ago(session, minutes: int) -> str:
    """A datetime-local value in the clinic's time zone, as the nurse's browser sends it."""
    at = timezone.now().astimezone(ZoneInfo(session.clinic.timezone)) - timedelta(minutes=minutes)
    return at.strftime("%Y-%m-%dT%H:%M")


def balance(lot) -> Decimal:
    return Lot.objects.get(pk=lot.pk).balance_mg


def nothing_started(order, session, *lots_and_balances):
    assert Administration.objects.count() == 0 and AdministrationLot.objects.count() == 0
    assert RegisterEntry.objects.filter(kind="dispense").count() == 0
    assert DoseOrder.objects.get(pk=order.pk).status == "verified"
    assert CareSession.objects.get(pk=session.pk).status == "cleared"
    for lot, expected in lots_and_balances:
        assert balance(lot) == expected


class TestService:
    def test_two_lots_are_dispensed_given_and_wasted_each_on_its_own(
        self, alice, nina, cleared_session, lot_50, lot_50b
    ):
        done = two_lot_administration(alice, nina, cleared_session, lot_50, lot_50b)
        lines = list(done.lots.order_by("position"))
        assert [(line.lot_id, line.dispensed_mg, line.given_mg, line.wasted_mg) for line in lines] == [
            (lot_50.pk, Decimal("38.0"), Decimal("29.0"), Decimal("9.0")),
            (lot_50b.pk, Decimal("20.0"), Decimal("0.0"), Decimal("20.0")),
        ]
        assert (done.dispensed_mg, done.given_mg, done.wasted_mg) == (
            Decimal("58.0"),
            Decimal("29.0"),
            Decimal("29.0"),
        )
        assert balance(lot_50) == Decimal("962.0") and balance(lot_50b) == Decimal("80.0")

        def register(lot):
            return sorted(
                RegisterEntry.objects.filter(session=cleared_session, lot=lot).values_list(
                    "kind", "amount_mg"
                )
            )

        assert register(lot_50) == [
            ("administer", Decimal("29.0")),
            ("dispense", Decimal("38.0")),
            ("waste", Decimal("9.0")),
        ]
        assert register(lot_50b) == [("dispense", Decimal("20.0")), ("waste", Decimal("20.0"))]
        assert RegisterEntry.objects.get(lot=lot_50b, kind="waste").witness == alice
        # Every lot's register balances: the session holds nothing of either.
        assert session_in_hand_mg(cleared_session, lot_50) == 0
        assert session_in_hand_mg(cleared_session, lot_50b) == 0
        assert audit_count(action="create", object_type="administration", detail__lots=2) == 1

    def test_given_in_full_from_two_lots_wastes_nothing(self, alice, nina, cleared_session, lot_50, lot_50b):
        done = two_lot_administration(alice, nina, cleared_session, lot_50, lot_50b, stop_after_min=None)
        assert done.given_mg == Decimal("58.0") and done.wasted_mg == Decimal("0.0")
        assert not RegisterEntry.objects.filter(kind="waste").exists()
        assert RegisterEntry.objects.get(lot=lot_50b, kind="administer").amount_mg == Decimal("20.0")

    def test_an_expired_lot_refuses_the_whole_start(self, alice, nina, cleared_session, lot_50, lot_50b):
        order = verified_order(alice, nina, cleared_session)
        Lot.objects.filter(pk=lot_50b.pk).update(expiry=clinic_today(lot_50b.clinic) - timedelta(days=1))
        with pytest.raises(WorkflowConflict) as error:
            administration_start(
                actor=nina, order=order, lots=[(lot_50, "38"), (lot_50b, "20")], started_at=timezone.now()
            )
        assert error.value.code == "lot_expired" and "K50-B" in error.value.message
        nothing_started(order, cleared_session, (lot_50, Decimal("1000.0")), (lot_50b, Decimal("100.0")))

    def test_a_lot_without_the_stock_refuses_the_whole_start(
        self, adam, alice, nina, clinic_a, cleared_session, lot_50
    ):
        low = lot_receive(
            actor=adam,
            clinic=clinic_a,
            location=lot_50.location,
            product=lot_50.product,
            lot_number="K50-LOW",
            expiry=clinic_today(clinic_a) + timedelta(days=30),
            amount_mg=Decimal("10"),
        )
        order = verified_order(alice, nina, cleared_session)
        with pytest.raises(WorkflowConflict) as error:
            administration_start(
                actor=nina, order=order, lots=[(lot_50, "38"), (low, "20")], started_at=timezone.now()
            )
        assert error.value.code == "insufficient_stock" and "10.0 mg" in error.value.message
        nothing_started(order, cleared_session, (lot_50, Decimal("1000.0")), (low, Decimal("10.0")))

    @pytest.mark.parametrize(
        ("amounts", "code"),
        [(("38", "19"), "lots_total_mismatch"), (("58", "0"), "amount_out_of_range")],
    )
    def test_amounts_must_make_up_the_dose(
        self, alice, nina, cleared_session, lot_50, lot_50b, amounts, code
    ):
        order = verified_order(alice, nina, cleared_session)
        with pytest.raises(DomainError) as error:
            administration_start(
                actor=nina,
                order=order,
                lots=[(lot_50, amounts[0]), (lot_50b, amounts[1])],
                started_at=timezone.now(),
            )
        assert error.value.code == code
        nothing_started(order, cleared_session, (lot_50, Decimal("1000.0")), (lot_50b, Decimal("100.0")))

    def test_the_same_lot_twice_is_refused(self, alice, nina, cleared_session, lot_50):
        order = verified_order(alice, nina, cleared_session)
        with pytest.raises(DomainError) as error:
            administration_start(
                actor=nina, order=order, lots=[(lot_50, "38"), (lot_50, "20")], started_at=timezone.now()
            )
        assert error.value.code == "lot_repeated"
        nothing_started(order, cleared_session, (lot_50, Decimal("1000.0")))

    def test_lot_or_lots_not_both(self, alice, nina, cleared_session, lot_50):
        order = verified_order(alice, nina, cleared_session)
        with pytest.raises(DomainError) as error:
            administration_start(
                actor=nina, order=order, lot=lot_50, lots=[(lot_50, "58")], started_at=timezone.now()
            )
        assert error.value.code == "lots_required"
        nothing_started(order, cleared_session, (lot_50, Decimal("1000.0")))


class TestWebForm:
    def start_url(self, order):
        return reverse("dosing:start", args=[order.pk])

    def test_two_lot_rows_and_an_add_lot_button_without_javascript(
        self, as_user, alice, nina, cleared_session, lot_50, lot_50b
    ):
        order = verified_order(alice, nina, cleared_session)
        client = as_user(nina)
        page = client.get(reverse("dosing:order", args=[order.pk])).content.decode()
        assert 'name="lot_1"' in page and 'name="lot_2"' in page and 'name="lot_3"' not in page
        assert "K50-B" in page  # a lot holding less than the dose can still finish it
        more = client.post(
            self.start_url(order),
            {"rows": "2", "lot_1": lot_50.pk, "mg_1": "38", "started_at": "2020-01-01T08:00", "add_lot": "1"},
        )
        assert more.status_code == 200
        body = more.content.decode()
        assert 'name="lot_3"' in body and 'name="mg_3"' in body and 'value="38"' in body  # input kept
        assert Administration.objects.count() == 0

    def test_a_nurse_starts_from_two_lots(self, as_user, alice, nina, cleared_session, lot_50, lot_50b):
        order = verified_order(alice, nina, cleared_session)
        started = local_minutes_ago(cleared_session, 5)
        response = as_user(nina).post(
            self.start_url(order),
            {
                "rows": "2",
                "lot_1": lot_50.pk,
                "mg_1": "38",
                "lot_2": lot_50b.pk,
                "mg_2": "20",
                "started_at": started,
            },
        )
        assert response.status_code == 302, response.content.decode()[:3000]
        administration = Administration.objects.get(order=order)
        assert [(line.lot_id, line.dispensed_mg) for line in administration.lots.order_by("position")] == [
            (lot_50.pk, Decimal("38.0")),
            (lot_50b.pk, Decimal("20.0")),
        ]
        page = as_user(nina).get(reverse("dosing:order", args=[order.pk])).content.decode()
        assert "K50-A" in page and "K50-B" in page and "20.0 mg" in page

    def test_one_lot_without_mg_is_the_whole_dose(self, as_user, alice, nina, cleared_session, lot_50):
        order = verified_order(alice, nina, cleared_session)
        started = local_minutes_ago(cleared_session, 5)
        response = as_user(nina).post(self.start_url(order), {"lot_1": lot_50.pk, "started_at": started})
        assert response.status_code == 302
        assert AdministrationLot.objects.get().dispensed_mg == Decimal("58.0")

    @pytest.mark.parametrize(
        ("data", "code"),
        [
            ({"mg_1": "38", "lot_2": "B", "mg_2": ""}, "lot_amount_required"),
            ({"mg_1": "38", "lot_2": "B", "mg_2": "19"}, "lots_total_mismatch"),
        ],
    )
    def test_refusals_keep_the_input_and_write_nothing(
        self, as_user, alice, nina, cleared_session, lot_50, lot_50b, data, code
    ):
        order = verified_order(alice, nina, cleared_session)
        started = local_minutes_ago(cleared_session, 5)
        post = {"rows": "2", "lot_1": lot_50.pk, "started_at": started, **data}
        post["lot_2"] = lot_50b.pk
        response = as_user(nina).post(self.start_url(order), post)
        assert response.status_code == 400
        body = response.content.decode()
        assert code in body and 'value="38"' in body
        nothing_started(order, cleared_session, (lot_50, Decimal("1000.0")), (lot_50b, Decimal("100.0")))


class TestApi:
    def test_lots_body(self, alice, nina, cleared_session, lot_50, lot_50b):
        start = timezone.now() - timedelta(minutes=45)
        order = verified_order(alice, nina, cleared_session, before=start)
        response = Api(nina).post(
            f"/dose-orders/{order.pk}/administrations",
            {
                "lots": [{"lot_id": lot_50.pk, "mg": 38}, {"lot_id": lot_50b.pk, "mg": 20}],
                "started_at": start.isoformat(),
                "ended_at": (start + timedelta(minutes=20)).isoformat(),
                "stopped_early": True,
                "stop_reason": "emergence reaction",
                "witness": "alice",
            },
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert body["lot_id"] == lot_50.pk
        assert body["lots"] == [
            {
                "lot_id": lot_50.pk,
                "lot_number": "K50-A",
                "dispensed_mg": 38.0,
                "given_mg": 29.0,
                "wasted_mg": 9.0,
            },
            {
                "lot_id": lot_50b.pk,
                "lot_number": "K50-B",
                "dispensed_mg": 20.0,
                "given_mg": 0.0,
                "wasted_mg": 20.0,
            },
        ]
        assert balance(lot_50b) == Decimal("80.0")

    def test_single_lot_body_still_answers_with_one_line(self, alice, nina, cleared_session, lot_50):
        order = verified_order(alice, nina, cleared_session)
        response = Api(nina).post(
            f"/dose-orders/{order.pk}/administrations",
            {"lot_id": lot_50.pk, "started_at": timezone.now().isoformat()},
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert (
            body["lot_id"] == lot_50.pk and len(body["lots"]) == 1 and body["lots"][0]["dispensed_mg"] == 58.0
        )

    def test_lot_id_and_lots_together_or_neither_are_refused(self, alice, nina, cleared_session, lot_50):
        order = verified_order(alice, nina, cleared_session)
        for body in (
            {"lot_id": lot_50.pk, "lots": [{"lot_id": lot_50.pk, "mg": 58}]},
            {},
        ):
            response = Api(nina).post(
                f"/dose-orders/{order.pk}/administrations", {**body, "started_at": timezone.now().isoformat()}
            )
            assert response.status_code == 422 and error_of(response)["code"] == "lots_required"
        assert Administration.objects.count() == 0

    def test_expired_lot_is_409_and_nothing_written(self, alice, nina, cleared_session, lot_50, lot_50b):
        order = verified_order(alice, nina, cleared_session)
        Lot.objects.filter(pk=lot_50b.pk).update(expiry=clinic_today(lot_50b.clinic) - timedelta(days=1))
        response = Api(nina).post(
            f"/dose-orders/{order.pk}/administrations",
            {
                "lots": [{"lot_id": lot_50.pk, "mg": 38}, {"lot_id": lot_50b.pk, "mg": 20}],
                "started_at": timezone.now().isoformat(),
            },
        )
        assert response.status_code == 409 and error_of(response)["code"] == "lot_expired"
        nothing_started(order, cleared_session, (lot_50, Decimal("1000.0")), (lot_50b, Decimal("100.0")))

    def test_a_lot_of_another_clinic_is_404(self, alice, nina, carol, clinic_b, cleared_session, lot_50):
        from kapstone.inventory.models import Product, StorageLocation

        location = StorageLocation.objects.create(
            clinic=clinic_b, name="B safe", created_by=carol, created_at=timezone.now()
        )
        other = Lot.objects.create(
            product=Product.objects.get(),
            clinic=clinic_b,
            location=location,
            lot_number="B-1",
            expiry=clinic_today(clinic_b) + timedelta(days=50),
            balance_mg=500,
            created_by=carol,
            created_at=timezone.now(),
        )
        order = verified_order(alice, nina, cleared_session)
        response = Api(nina).post(
            f"/dose-orders/{order.pk}/administrations",
            {
                "lots": [{"lot_id": lot_50.pk, "mg": 38}, {"lot_id": other.pk, "mg": 20}],
                "started_at": timezone.now().isoformat(),
            },
        )
        assert response.status_code == 404
        assert Administration.objects.count() == 0 and balance(other) == Decimal("500")
