"""Dosing API: order, verify, administration record."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kapstone.dosing.models import Administration, DoseOrder
from kapstone.inventory.models import RegisterEntry
from tests.api.test_patients_api import Api, error_of
from tests.dosing.helpers import as_if_earlier, record_baseline

pytestmark = pytest.mark.django_db


def test_order_verify_administer_through_the_api(alice, nina, cleared_session, lot_50):
    created = Api(alice).post(
        f"/sessions/{cleared_session.pk}/dose-orders", {"concentration_mg_per_ml": 50, "bag_ml": 100}
    )
    assert created.status_code == 201, created.content
    order = created.json()
    assert order["dose_mg"] == 58.0 and order["rate_ml_per_h"] == 150.0 and order["status"] == "ordered"
    verified = Api(nina).post(
        f"/dose-orders/{order['id']}/verify", {"weight_kg": 72.5, "concentration_mg_per_ml": 50}
    )
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
    as_if_earlier(order["id"], minutes=50)
    start = timezone.now() - timedelta(minutes=45)
    record_baseline(nina, cleared_session, start - timedelta(minutes=2))
    record = Api(nina).post(
        f"/dose-orders/{order['id']}/administrations",
        {
            "lot_id": lot_50.pk,
            "started_at": start.isoformat(),
            "events": [
                {
                    "kind": "change",
                    "at": (start + timedelta(minutes=10)).isoformat(),
                    "rate": 120,
                    "reason": "nausea",
                }
            ],
            "ended_at": (start + timedelta(minutes=40)).isoformat(),
            "witness": "alice",
        },
    )
    assert record.status_code == 201, record.content
    body = record.json()
    assert body["given_mg"] < 58.0 and body["given_mg"] + body["wasted_mg"] == 58.0
    assert RegisterEntry.objects.filter(session=cleared_session, kind="waste").count() == 1


def test_verification_mismatch_is_422_and_writes_nothing(alice, nina, cleared_session):
    order = (
        Api(alice).post(f"/sessions/{cleared_session.pk}/dose-orders", {"concentration_mg_per_ml": 50}).json()
    )
    response = Api(nina).post(
        f"/dose-orders/{order['id']}/verify", {"weight_kg": 7.25, "concentration_mg_per_ml": 50}
    )
    assert response.status_code == 422
    assert error_of(response)["code"] == "verification_mismatch"
    assert DoseOrder.objects.get(pk=order["id"]).status == "ordered"


def test_administration_of_unverified_order_is_409(alice, nina, cleared_session, lot_50):
    order = (
        Api(alice).post(f"/sessions/{cleared_session.pk}/dose-orders", {"concentration_mg_per_ml": 50}).json()
    )
    response = Api(nina).post(
        f"/dose-orders/{order['id']}/administrations",
        {"lot_id": lot_50.pk, "started_at": timezone.now().isoformat()},
    )
    assert response.status_code == 409 and error_of(response)["code"] == "order_not_verified"
    assert Administration.objects.count() == 0
    assert RegisterEntry.objects.filter(kind="dispense").count() == 0


def test_whole_record_is_all_or_nothing(alice, nina, cleared_session, lot_50):
    order = (
        Api(alice).post(f"/sessions/{cleared_session.pk}/dose-orders", {"concentration_mg_per_ml": 50}).json()
    )
    Api(nina).post(f"/dose-orders/{order['id']}/verify", {"weight_kg": 72.5, "concentration_mg_per_ml": 50})
    as_if_earlier(order["id"], minutes=35)
    start = timezone.now() - timedelta(minutes=30)
    record_baseline(nina, cleared_session, start - timedelta(minutes=2))
    response = Api(nina).post(
        f"/dose-orders/{order['id']}/administrations",
        {
            "lot_id": lot_50.pk,
            "started_at": start.isoformat(),
            "ended_at": (start + timedelta(minutes=10)).isoformat(),
            "stopped_early": True,
            "stop_reason": "anxiety",
        },
    )  # leftover drug but no witness
    assert response.status_code == 422 and error_of(response)["code"] == "witness_required"
    assert Administration.objects.count() == 0
    assert RegisterEntry.objects.filter(kind__in=["dispense", "administer", "waste"]).count() == 0
    assert DoseOrder.objects.get(pk=order["id"]).status == "verified"


def test_dose_order_bad_input_and_access(alice, nina, carol, cleared_session):
    assert (
        error_of(
            Api(alice).post(f"/sessions/{cleared_session.pk}/dose-orders", {"concentration_mg_per_ml": 500})
        )["code"]
        == "concentration_out_of_range"
    )
    assert (
        error_of(
            Api(alice).post(
                f"/sessions/{cleared_session.pk}/dose-orders", {"concentration_mg_per_ml": 50, "dose_mg": 5}
            )
        )["code"]
        == "unknown_field"
    )
    assert (
        Api(nina)
        .post(f"/sessions/{cleared_session.pk}/dose-orders", {"concentration_mg_per_ml": 50})
        .status_code
        == 403
    )
    assert (
        Api(carol)
        .post(f"/sessions/{cleared_session.pk}/dose-orders", {"concentration_mg_per_ml": 50})
        .status_code
        == 404
    )
    assert DoseOrder.objects.count() == 0
