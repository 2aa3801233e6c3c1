"""Corrections of an ended administration: amendments with reason, and the register with them."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.domain.errors import DomainError
from kapstone.dosing.models import Administration, AdministrationAmendment
from kapstone.dosing.services import administration_amend, administration_complete, administration_start
from kapstone.inventory.models import Lot, RegisterEntry
from kapstone.inventory.services import session_in_hand_mg
from tests.api.test_patients_api import Api, error_of
from tests.conftest import audit_count
from tests.dosing.helpers import two_lot_administration, verified_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def ended(alice, nina, cleared_session, lot_50, lot_50b):
    """Stopped early after 20 min: lot A 38 mg (29 given, 9 wasted), lot B 20 mg (all wasted)."""
    return two_lot_administration(alice, nina, cleared_session, lot_50, lot_50b)


def line_of(administration, lot):
    return administration.lots.get(lot=lot)


def balance(lot) -> Decimal:
    return Lot.objects.get(pk=lot.pk).balance_mg


def counts():
    return (
        AdministrationAmendment.objects.count(),
        RegisterEntry.objects.count(),
        audit_count(action="amend"),
    )


def refused(call, code: str, *, words: str = ""):
    before = counts()
    with pytest.raises(DomainError) as error:
        call()
    assert error.value.code == code, error.value
    assert words in error.value.message
    assert counts() == before
    return error.value


class TestQuantities:
    def test_more_given_dispenses_and_administers_the_difference(
        self, alice, nina, cleared_session, ended, lot_50
    ):
        amendment = administration_amend(
            actor=nina,
            administration=ended,
            field="given_mg",
            new_value="30",
            reason="Pump history shows 30 mg delivered before the stop.",
            witness=alice,
            lot_line=line_of(ended, lot_50),
        )
        assert (amendment.field, amendment.old_value, amendment.new_value) == ("given_mg", "29.0", "30.0")
        assert amendment.witness == alice and amendment.amended_by == nina
        assert amendment.lot_line.lot_id == lot_50.pk
        line = line_of(ended, lot_50)
        assert (line.dispensed_mg, line.given_mg, line.wasted_mg) == (
            Decimal("39.0"),
            Decimal("30.0"),
            Decimal("9.0"),
        )
        record = Administration.objects.get(pk=ended.pk)
        assert (record.dispensed_mg, record.given_mg, record.wasted_mg) == (
            Decimal("59.0"),
            Decimal("30.0"),
            Decimal("29.0"),
        )
        corrections = list(
            RegisterEntry.objects.filter(lot=lot_50, session=cleared_session).order_by("-id")[:2]
        )
        assert sorted((e.kind, e.amount_mg) for e in corrections) == [
            ("administer", Decimal("1.0")),
            ("dispense", Decimal("1.0")),
        ]
        assert balance(lot_50) == Decimal("961.0") == corrections[0].balance_after_mg
        assert session_in_hand_mg(cleared_session, lot_50) == 0
        assert (
            audit_count(action="amend", object_type="administration", actor=nina, detail__field="given_mg")
            == 1
        )

    def test_less_wasted_puts_the_stock_back_with_a_witnessed_adjustment(
        self, alice, nina, cleared_session, ended, lot_50b
    ):
        administration_amend(
            actor=nina,
            administration=ended,
            field="wasted_mg",
            new_value="15",
            reason="Only 15 mg was drawn from the second vial.",
            witness=alice,
            lot_line=line_of(ended, lot_50b),
        )
        adjust = RegisterEntry.objects.filter(lot=lot_50b).latest("id")
        assert (adjust.kind, adjust.amount_mg, adjust.stock_effect_mg) == (
            "adjust",
            Decimal("5.0"),
            Decimal("5.0"),
        )
        assert adjust.witness == alice and adjust.actor == nina
        assert (
            f"dosing session {cleared_session.pk}" in adjust.reason
            and "wasted_mg 20.0 → 15.0" in adjust.reason
        )
        assert balance(lot_50b) == Decimal("85.0") == adjust.balance_after_mg
        line = line_of(ended, lot_50b)
        assert (line.dispensed_mg, line.wasted_mg) == (Decimal("15.0"), Decimal("15.0"))
        assert Administration.objects.get(pk=ended.pk).wasted_mg == Decimal("24.0")

    def test_more_wasted_dispenses_and_wastes_the_difference_in_front_of_the_witness(
        self, alice, nina, cleared_session, ended, lot_50
    ):
        administration_amend(
            actor=nina,
            administration=ended,
            field="wasted_mg",
            new_value="10",
            reason="A 1 mg flush was drawn and discarded.",
            witness=alice,
            lot_line=line_of(ended, lot_50),
        )
        dispense, waste = RegisterEntry.objects.filter(lot=lot_50).order_by("-id")[:2][::-1]
        assert (dispense.kind, dispense.amount_mg, waste.kind, waste.amount_mg) == (
            "dispense",
            Decimal("1.0"),
            "waste",
            Decimal("1.0"),
        )
        assert waste.witness == alice and dispense.session_id == waste.session_id == cleared_session.pk
        assert balance(lot_50) == Decimal("961.0")
        assert session_in_hand_mg(cleared_session, lot_50) == 0

    def test_the_register_correction_takes_only_administer_or_waste(
        self, alice, nina, cleared_session, lot_50
    ):
        from kapstone.inventory.services import register_session_correction

        before = RegisterEntry.objects.count()
        for kind, delta, code in (("return", "1", "invalid_kind"), ("waste", "0", "amount_out_of_range")):
            with pytest.raises(DomainError) as error:
                register_session_correction(
                    actor=nina,
                    witness=alice,
                    lot=lot_50,
                    session=cleared_session,
                    kind=kind,
                    delta_mg=delta,
                    reason="r",
                )
            assert error.value.code == code
        assert RegisterEntry.objects.count() == before

    def test_a_correction_beyond_the_lot_stock_is_refused(self, alice, nina, ended, lot_50b):
        refused(
            lambda: administration_amend(
                actor=nina,
                administration=ended,
                field="wasted_mg",
                new_value="120",
                reason="keying test",
                witness=alice,
                lot_line=line_of(ended, lot_50b),
            ),
            "insufficient_stock",
            words="80.0 mg",
        )
        assert balance(lot_50b) == Decimal("80.0")
        assert line_of(ended, lot_50b).wasted_mg == Decimal("20.0")

    def test_more_given_than_ordered_is_refused(self, alice, nina, ended, lot_50):
        refused(
            lambda: administration_amend(
                actor=nina,
                administration=ended,
                field="given_mg",
                new_value="58.1",
                reason="slip",
                witness=alice,
                lot_line=line_of(ended, lot_50),
            ),
            "given_above_order",
            words="58 mg ordered",
        )

    @pytest.mark.parametrize(
        ("witness", "code", "words"),
        [
            (None, "witness_required", "second clinician"),
            ("nina", "witness_same_as_actor", "someone else"),
            ("terry", "witness_not_in_clinic", "nurse or prescriber"),
            ("carol", "witness_not_in_clinic", "of this clinic"),
        ],
    )
    def test_amounts_need_another_clinician_as_witness(
        self, request, nina, ended, lot_50, witness, code, words
    ):
        who = request.getfixturevalue(witness) if witness else None
        refused(
            lambda: administration_amend(
                actor=nina,
                administration=ended,
                field="given_mg",
                new_value="28",
                reason="pump history",
                witness=who,
                lot_line=line_of(ended, lot_50),
            ),
            code,
            words=words,
        )

    def test_with_two_lots_the_lot_must_be_named(self, alice, nina, ended):
        refused(
            lambda: administration_amend(
                actor=nina, administration=ended, field="wasted_mg", new_value="1", reason="r", witness=alice
            ),
            "lot_required",
            words="several lots",
        )


class TestOtherFields:
    def test_end_time_is_corrected_and_the_old_one_kept(self, nina, ended, cleared_session):
        old = ended.ended_at
        new = old - timedelta(minutes=1)
        entries = RegisterEntry.objects.count()
        amendment = administration_amend(
            actor=nina, administration=ended, field="ended_at", new_value=new, reason="pump log"
        )
        tz = ZoneInfo(cleared_session.clinic.timezone)
        assert amendment.old_value == old.astimezone(tz).isoformat(timespec="seconds")
        assert amendment.new_value == new.astimezone(tz).isoformat(timespec="seconds")
        assert amendment.witness is None
        assert Administration.objects.get(pk=ended.pk).ended_at == new
        assert RegisterEntry.objects.count() == entries

    def test_end_time_as_text_in_the_clinic_zone(self, nina, ended, cleared_session):
        tz = ZoneInfo(cleared_session.clinic.timezone)
        new = (ended.ended_at - timedelta(minutes=2)).astimezone(tz).replace(second=0, microsecond=0)
        administration_amend(
            actor=nina,
            administration=ended,
            field="ended_at",
            new_value=new.strftime("%Y-%m-%dT%H:%M"),
            reason="pump log",
        )
        assert Administration.objects.get(pk=ended.pk).ended_at == new

    def test_stop_reason(self, nina, ended):
        amendment = administration_amend(
            actor=nina,
            administration=ended,
            field="stop_reason",
            new_value="emergence reaction with vomiting",
            reason="incomplete first entry",
        )
        assert (amendment.old_value, amendment.new_value) == (
            "emergence reaction",
            "emergence reaction with vomiting",
        )
        assert Administration.objects.get(pk=ended.pk).stop_reason == "emergence reaction with vomiting"

    @pytest.mark.parametrize(
        ("field", "value", "reason", "code", "words"),
        [
            ("ended_at", "shift", "   ", "reason_required", "why the record is corrected"),
            ("stop_reason", "emergence reaction", "typo", "amendment_unchanged", "already"),
            ("ended_at", "same", "typo", "amendment_unchanged", "already"),
            ("ended_at", "future", "typo", "time_in_future", "is in the future"),
            ("ended_at", "before", "typo", "time_out_of_order", "before the administration started"),
            ("ended_at", "yesterday at noon", "typo", "invalid_datetime", "YYYY-MM-DD"),
            ("colour", "red", "typo", "invalid_field", "Amend one of"),
        ],
    )
    def test_refusals(self, nina, ended, field, value, reason, code, words):
        at = {
            "shift": ended.ended_at - timedelta(minutes=1),
            "same": ended.ended_at,
            "future": timezone.now() + timedelta(hours=1),
            "before": ended.started_at - timedelta(minutes=1),
        }.get(value, value)
        refused(
            lambda: administration_amend(
                actor=nina, administration=ended, field=field, new_value=at, reason=reason
            ),
            code,
            words=words,
        )
        assert Administration.objects.get(pk=ended.pk).ended_at == ended.ended_at

    def test_stop_reason_of_a_full_dose_is_refused(self, alice, nina, cleared_session, lot_50, lot_50b):
        full = two_lot_administration(alice, nina, cleared_session, lot_50, lot_50b, stop_after_min=None)
        refused(
            lambda: administration_amend(
                actor=nina, administration=full, field="stop_reason", new_value="x", reason="y"
            ),
            "not_stopped_early",
            words="given in full",
        )

    def test_a_running_administration_is_not_amended(self, alice, nina, cleared_session, lot_50):
        order = verified_order(alice, nina, cleared_session)
        running = administration_start(
            actor=nina, order=order, lot=lot_50, started_at=timezone.now() - timedelta(minutes=5)
        )
        refused(
            lambda: administration_amend(
                actor=nina,
                administration=running,
                field="ended_at",
                new_value=timezone.now(),
                reason="early entry",
            ),
            "administration_running",
            words="still running",
        )
        refused(
            lambda: administration_amend(
                actor=nina, administration=running, field="given_mg", new_value="1", reason="x", witness=alice
            ),
            "administration_running",
            words="still running",
        )

    def test_only_a_clinician_of_the_clinic(self, carol, terry, ended):
        for who in (carol, terry):
            refused(
                lambda who=who: administration_amend(
                    actor=who, administration=ended, field="stop_reason", new_value="x", reason="y"
                ),
                "clinician_required",
                words="nurse or prescriber",
            )

    def test_an_amendment_is_append_only(self, nina, ended):
        amendment = administration_amend(
            actor=nina, administration=ended, field="stop_reason", new_value="vomiting", reason="fuller"
        )
        amendment.reason = "changed"
        with pytest.raises(ValueError, match="append-only"):
            amendment.save()
        assert AdministrationAmendment.objects.get().reason == "fuller"

    def test_the_single_lot_is_implied(self, alice, nina, cleared_session, lot_50):
        start = timezone.now() - timedelta(minutes=50)
        order = verified_order(alice, nina, cleared_session, before=start)
        administration = administration_start(actor=nina, order=order, lot=lot_50, started_at=start)
        done = administration_complete(
            actor=nina,
            administration=administration,
            ended_at=start + timedelta(minutes=20),
            witness=alice,
            stopped_early=True,
            stop_reason="nausea",
        )
        administration_amend(
            actor=alice, administration=done, field="wasted_mg", new_value="28", reason="r", witness=nina
        )
        assert Administration.objects.get(pk=done.pk).wasted_mg == Decimal("28.0")
        assert balance(lot_50) == Decimal("943.0")  # 58 dispensed, 1 mg put back


class TestWeb:
    def url(self, administration):
        return reverse("dosing:amend", args=[administration.order_id])

    def test_nurse_amends_on_the_page_and_sees_the_history(self, as_user, alice, nina, ended, lot_50):
        client = as_user(nina)
        page = client.get(reverse("dosing:order", args=[ended.order_id])).content.decode()
        assert "Correct the record" in page and f'value="given_mg:{line_of(ended, lot_50).pk}"' in page
        response = client.post(
            self.url(ended),
            {
                "target": f"given_mg:{line_of(ended, lot_50).pk}",
                "new_value": "30",
                "reason": "Pump history shows 30 mg.",
                "witness": alice.pk,
            },
        )
        assert response.status_code == 302
        page = client.get(reverse("dosing:order", args=[ended.order_id])).content.decode()
        assert "30.0 mg given" in page and "amended" in page
        assert "Pump history shows 30 mg." in page and "witnessed by Alice" in page
        assert "was <del>29.0</del>, now <strong>30.0</strong>" in page  # the old value stays visible

    def test_refusal_keeps_input_and_writes_nothing(self, as_user, alice, nina, ended, lot_50):
        before = counts()
        response = as_user(nina).post(
            self.url(ended),
            {
                "target": f"given_mg:{line_of(ended, lot_50).pk}",
                "new_value": "30",
                "reason": "",
                "witness": alice.pk,
            },
        )
        assert response.status_code == 400
        body = response.content.decode()
        assert "reason_required" in body and 'value="30"' in body
        assert counts() == before

    def test_another_clinic_gets_a_404(self, as_user, carol, ended):
        before = counts()
        response = as_user(carol).post(
            self.url(ended), {"target": "stop_reason", "new_value": "x", "reason": "y"}
        )
        assert response.status_code == 404
        assert counts() == before

    def test_a_therapist_is_forbidden(self, as_user, terry, ended):
        response = as_user(terry).post(
            self.url(ended), {"target": "stop_reason", "new_value": "x", "reason": "y"}
        )
        assert response.status_code == 403


class TestApi:
    def path(self, administration):
        return f"/administrations/{administration.pk}/amendments"

    def test_amendment_through_the_api(self, alice, nina, ended, lot_50b):
        response = Api(nina).post(
            self.path(ended),
            {
                "field": "wasted_mg",
                "lot_id": lot_50b.pk,
                "value": "15",
                "reason": "Only 15 mg was drawn from the second vial.",
                "witness": "alice",
            },
        )
        assert response.status_code == 201, response.content
        body = response.json()
        assert (body["field"], body["old_value"], body["new_value"], body["witness"]) == (
            "wasted_mg",
            "20.0",
            "15.0",
            "alice",
        )
        assert body["administration"]["wasted_mg"] == 24.0
        assert body["administration"]["lots"][1]["dispensed_mg"] == 15.0
        assert balance(lot_50b) == Decimal("85.0")

    @pytest.mark.parametrize(
        ("body", "status", "code"),
        [
            ({"field": "given_mg", "value": "30", "reason": "r"}, 422, "lot_required"),
            ({"field": "given_mg", "value": "30", "reason": "r", "lot_id": 987654}, 422, "lot_line_invalid"),
            # No record has the id 0: the shared record id type refuses it (tests/api/test_record_ids.py).
            ({"field": "given_mg", "value": "30", "reason": "r", "lot_id": 0}, 422, "invalid_value"),
            ({"field": "stop_reason", "value": "x", "reason": ""}, 422, "reason_required"),
            (
                {"field": "stop_reason", "value": "x", "reason": "r", "witness": "nobody"},
                422,
                "witness_not_in_clinic",
            ),
        ],
    )
    def test_refusals_have_the_error_shape_and_write_nothing(self, nina, ended, body, status, code):
        before = counts()
        response = Api(nina).post(self.path(ended), body)
        assert response.status_code == status and error_of(response)["code"] == code
        assert counts() == before

    def test_witness_missing_for_an_amount(self, nina, ended, lot_50):
        before = counts()
        response = Api(nina).post(
            self.path(ended), {"field": "given_mg", "lot_id": lot_50.pk, "value": "30", "reason": "r"}
        )
        assert response.status_code == 422 and error_of(response)["code"] == "witness_required"
        assert counts() == before

    def test_running_is_409(self, alice, nina, cleared_session, lot_50):
        order = verified_order(alice, nina, cleared_session)
        running = administration_start(
            actor=nina, order=order, lot=lot_50, started_at=timezone.now() - timedelta(minutes=5)
        )
        response = Api(nina).post(self.path(running), {"field": "stop_reason", "value": "x", "reason": "r"})
        assert response.status_code == 409 and error_of(response)["code"] == "administration_running"

    def test_another_clinic_is_404_and_a_therapist_403(self, carol, terry, ended):
        before = counts()
        response = Api(carol).post(self.path(ended), {"field": "stop_reason", "value": "x", "reason": "r"})
        assert response.status_code == 404
        assert (
            Api(terry)
            .post(self.path(ended), {"field": "stop_reason", "value": "x", "reason": "r"})
            .status_code
            == 403
        )
        assert counts() == before
