from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from kapstone.care.services import day_of_checks_record, session_transition
from kapstone.inventory.services import location_create, lot_receive, product_create
from kapstone.patients.services import clinic_today
from tests.care.conftest import course_a, eligible_a, first_dosing  # noqa: F401 - shared fixtures
from tests.care.test_sessions import SERVICE_INPUTS
from tests.conftest import record_liver_panel

#: The cleared session's patient arrived this long ago, so that tests may order, verify and give
#: a dose in the past (each step after the one before it: defect 4 of issue 11).
ARRIVED_HOURS_AGO = 4


@pytest.fixture
def cleared_session(nina, course_a):  # noqa: F811 - the imported fixture, requested by name
    session = first_dosing(course_a)
    # The liver tests a dose order needs (dosing/liver_gate.py), taken today.
    record_liver_panel(nina, course_a.patient)
    # The KARE course's first infusion is a week after enrolment; dose it today for the tests.
    session.scheduled_date = clinic_today(course_a.clinic)
    session.save(update_fields=["scheduled_date"])
    arrived = timezone.now() - timedelta(hours=ARRIVED_HOURS_AGO)
    session = session_transition(actor=nina, session=session, to="checked_in", at=arrived)
    day_of_checks_record(
        actor=nina, session=session, inputs=SERVICE_INPUTS, at=arrived + timedelta(minutes=5)
    )
    session.refresh_from_db()
    assert session.status == "cleared"
    return session


@pytest.fixture
def lot_50(adam, clinic_a):
    location = location_create(actor=adam, clinic=clinic_a, name="Main safe")
    product = product_create(
        actor=adam, name="Ketamine HCl", ndc="00000-0050-10", strength_mg_per_ml="50", vial_volume_ml="10"
    )
    return lot_receive(
        actor=adam,
        clinic=clinic_a,
        location=location,
        product=product,
        lot_number="K50-A",
        expiry=clinic_today(clinic_a) + timedelta(days=200),
        amount_mg=Decimal("1000"),
        # In the safe before the doses the tests give (dated up to hours back): the register
        # refuses drug drawn from a lot before it arrived.
        received_at=timezone.now() - timedelta(days=1),
    )


@pytest.fixture
def lot_50b(adam, clinic_a, lot_50):
    """A second lot of the same product in the same safe, with little left in it."""
    return lot_receive(
        actor=adam,
        clinic=clinic_a,
        location=lot_50.location,
        product=lot_50.product,
        lot_number="K50-B",
        expiry=clinic_today(clinic_a) + timedelta(days=90),
        amount_mg=Decimal("100"),
        received_at=timezone.now() - timedelta(days=1),
    )
