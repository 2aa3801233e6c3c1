"""Issue 11, defect 4: a dose is never given before it was ordered, verified and cleared by the
day-of checks, and every later record follows the one before it (``time_out_of_order``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from kapstone.care.models import DayOfCheck, SessionEvent
from kapstone.care.services import day_of_checks_record, session_transition
from kapstone.domain.errors import DomainError
from kapstone.dosing.models import Administration, DoseOrder
from kapstone.dosing.services import (
    administration_amend,
    administration_complete,
    administration_start,
    dose_order_create,
    dose_order_verify,
)
from kapstone.inventory.models import RegisterEntry
from tests.care.conftest import first_dosing
from tests.care.test_sessions import SERVICE_INPUTS
from tests.conftest import audit_count
from tests.dosing.helpers import record_baseline

pytestmark = pytest.mark.django_db


def order(alice, session, **kw):
    return dose_order_create(
        actor=alice, session=session, mg_per_kg="0.8", concentration_mg_per_ml="50", bag_ml="100", **kw
    )


def writes() -> tuple:
    return (
        Administration.objects.count(),
        RegisterEntry.objects.filter(kind="dispense").count(),
        audit_count(action="create", object_type="administration"),
    )


def refused_start(nina, dose, lot, started_at) -> DomainError:
    before = writes()
    with pytest.raises(DomainError) as error:
        administration_start(actor=nina, order=dose, lot=lot, started_at=started_at)
    assert error.value.code == "time_out_of_order" and error.value.field == "started_at"
    assert writes() == before
    dose.refresh_from_db()
    assert dose.status == "verified"
    return error.value


class TestStartFollowsTheChecksTheOrderAndTheVerification:
    def test_refuses_a_start_before_the_order_was_verified(self, alice, nina, cleared_session, lot_50):
        dose = order(alice, cleared_session, at=timezone.now() - timedelta(minutes=40))
        dose = dose_order_verify(actor=nina, order=dose, weight_kg="72.5", concentration_mg_per_ml="50")
        error = refused_start(nina, dose, lot_50, timezone.now() - timedelta(minutes=30))
        assert "is before the order was verified" in error.message

    def test_refuses_a_start_before_the_order(self, alice, nina, cleared_session, lot_50):
        """The demo's defect: started 06:15, ordered 06:40."""
        dose = order(alice, cleared_session)
        dose = dose_order_verify(actor=nina, order=dose, weight_kg="72.5", concentration_mg_per_ml="50")
        error = refused_start(nina, dose, lot_50, timezone.now() - timedelta(minutes=25))
        assert "is before the dose was ordered" in error.message

    def test_refuses_a_start_before_the_day_of_checks(self, alice, nina, cleared_session, lot_50):
        checks = DayOfCheck.objects.get(session=cleared_session)
        dose = order(alice, cleared_session, at=checks.recorded_at + timedelta(minutes=5))
        dose = dose_order_verify(
            actor=nina,
            order=dose,
            weight_kg="72.5",
            concentration_mg_per_ml="50",
            at=checks.recorded_at + timedelta(minutes=6),
        )
        error = refused_start(nina, dose, lot_50, checks.recorded_at - timedelta(minutes=5))
        assert "before the day-of checks were completed" in error.message

    def test_a_start_in_the_minute_of_the_verification_is_given(self, alice, nina, cleared_session, lot_50):
        dose = order(alice, cleared_session)
        dose = dose_order_verify(actor=nina, order=dose, weight_kg="72.5", concentration_mg_per_ml="50")
        typed = dose.verified_at.replace(second=0, microsecond=0)  # "14:20" typed at 14:20:45
        record_baseline(nina, cleared_session, typed)
        administration = administration_start(actor=nina, order=dose, lot=lot_50, started_at=typed)
        assert administration.started_at == typed

    def test_the_session_moves_at_the_start_and_end_times(self, alice, nina, cleared_session, lot_50):
        checks = DayOfCheck.objects.get(session=cleared_session)
        dose = order(alice, cleared_session, at=checks.recorded_at + timedelta(minutes=5))
        dose = dose_order_verify(
            actor=nina,
            order=dose,
            weight_kg="72.5",
            concentration_mg_per_ml="50",
            at=checks.recorded_at + timedelta(minutes=6),
        )
        start = checks.recorded_at + timedelta(minutes=10)
        record_baseline(nina, cleared_session, start - timedelta(minutes=2))
        administration = administration_start(actor=nina, order=dose, lot=lot_50, started_at=start)
        administration_complete(
            actor=nina, administration=administration, ended_at=start + timedelta(minutes=40), witness=alice
        )
        moves = dict(
            SessionEvent.objects.filter(session=cleared_session, kind="transition").values_list(
                "to_state", "at"
            )
        )
        assert moves["in_progress"] == start
        assert moves["recovering"] == start + timedelta(minutes=40)


class TestOrderAndVerificationTimes:
    def test_an_order_is_not_written_before_the_day_of_checks(self, alice, cleared_session):
        checks = DayOfCheck.objects.get(session=cleared_session)
        with pytest.raises(DomainError) as error:
            order(alice, cleared_session, at=checks.recorded_at - timedelta(minutes=2))
        assert error.value.code == "time_out_of_order"
        assert "the day-of checks were completed" in error.value.message
        assert DoseOrder.objects.count() == 0

    def test_a_verification_is_not_before_the_order(self, alice, nina, cleared_session):
        dose = order(alice, cleared_session)
        before = audit_count(action="update", object_type="dose_order")
        with pytest.raises(DomainError) as error:
            dose_order_verify(
                actor=nina,
                order=dose,
                weight_kg="72.5",
                concentration_mg_per_ml="50",
                at=dose.ordered_at - timedelta(minutes=3),
            )
        assert error.value.code == "time_out_of_order" and "the dose was ordered" in error.value.message
        dose.refresh_from_db()
        assert dose.status == "ordered" and dose.verified_at is None
        assert audit_count(action="update", object_type="dose_order") == before

    def test_order_and_verification_are_never_in_the_future(self, alice, nina, cleared_session):
        with pytest.raises(DomainError) as error:
            order(alice, cleared_session, at=timezone.now() + timedelta(minutes=10))
        assert error.value.code == "time_in_future"
        dose = order(alice, cleared_session)
        with pytest.raises(DomainError) as error:
            dose_order_verify(
                actor=nina,
                order=dose,
                weight_kg="72.5",
                concentration_mg_per_ml="50",
                at=timezone.now() + timedelta(minutes=10),
            )
        assert error.value.code == "time_in_future"


class TestSessionSteps:
    def test_a_check_in_is_recorded_at_its_time_and_the_checks_after_it(self, nina, course_a):
        session = first_dosing(course_a)
        arrived = timezone.now() - timedelta(hours=2)
        session = session_transition(actor=nina, session=session, to="checked_in", at=arrived)
        assert SessionEvent.objects.get(session=session).at == arrived
        before = DayOfCheck.objects.count()
        with pytest.raises(DomainError) as error:
            day_of_checks_record(
                actor=nina, session=session, inputs=SERVICE_INPUTS, at=arrived - timedelta(minutes=10)
            )
        assert error.value.code == "time_out_of_order" and "checked in" in error.value.message
        assert DayOfCheck.objects.count() == before
        row = day_of_checks_record(
            actor=nina, session=session, inputs=SERVICE_INPUTS, at=arrived + timedelta(minutes=10)
        )
        assert row.recorded_at == arrived + timedelta(minutes=10)
        cleared = SessionEvent.objects.get(session=session, to_state="cleared")
        assert cleared.at == arrived + timedelta(minutes=10)

    def test_a_move_is_never_before_the_previous_one_nor_in_the_future(self, nina, course_a):
        session = first_dosing(course_a)
        with pytest.raises(DomainError) as error:
            session_transition(
                actor=nina, session=session, to="checked_in", at=timezone.now() + timedelta(hours=1)
            )
        assert error.value.code == "time_in_future"
        session = session_transition(actor=nina, session=session, to="checked_in")
        with pytest.raises(DomainError) as error:
            session_transition(
                actor=nina,
                session=session,
                to="cancelled",
                reason="unwell",
                at=timezone.now() - timedelta(hours=1),
            )
        assert error.value.code == "time_out_of_order"
        assert SessionEvent.objects.filter(session=session).count() == 1


def test_an_end_is_not_amended_to_after_the_discharge(alice, nina, cleared_session, lot_50):
    checks = DayOfCheck.objects.get(session=cleared_session)
    dose = order(alice, cleared_session, at=checks.recorded_at + timedelta(minutes=1))
    dose = dose_order_verify(
        actor=nina,
        order=dose,
        weight_kg="72.5",
        concentration_mg_per_ml="50",
        at=checks.recorded_at + timedelta(minutes=2),
    )
    start = checks.recorded_at + timedelta(minutes=5)
    record_baseline(nina, cleared_session, start - timedelta(minutes=1))
    administration = administration_start(actor=nina, order=dose, lot=lot_50, started_at=start)
    ended = administration_complete(
        actor=nina, administration=administration, ended_at=start + timedelta(minutes=40), witness=alice
    )
    discharged_at = start + timedelta(minutes=50)
    session_transition(
        actor=nina, session=cleared_session, to="discharged", discharge_evaluated=True, at=discharged_at
    )
    with pytest.raises(DomainError) as error:
        administration_amend(
            actor=nina,
            administration=ended,
            field="ended_at",
            new_value=discharged_at + timedelta(minutes=5),
            reason="pump log",
        )
    assert error.value.code == "time_out_of_order"
    assert "the patient was discharged" in error.value.message
    assert ended.amendments.count() == 0
