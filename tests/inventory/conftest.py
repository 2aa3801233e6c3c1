"""Register fixtures: a safe with a lot in clinic A, a checked-in dosing session, and clinic B's own.

The example NDCs below are made up (labeler 99999) and name no real product.
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest

from kapstone.accounts.models import Role
from kapstone.care.services import session_transition
from kapstone.inventory import services
from kapstone.patients.services import clinic_today
from tests.care.conftest import course_a, eligible_a, first_dosing  # noqa: F401 - fixtures used here
from tests.conftest import make_user

D = Decimal


@pytest.fixture
def wanda(clinic_a):
    """A second nurse of clinic A: the witness."""
    return make_user("wanda", clinic_a, Role.NURSE)


@pytest.fixture
def bella(clinic_b):
    """Clinic B's admin."""
    return make_user("bella", clinic_b, Role.ADMIN)


@pytest.fixture
def safe_a(adam, clinic_a):
    return services.location_create(actor=adam, clinic=clinic_a, name="Main safe")


@pytest.fixture
def cabinet_a(adam, clinic_a):
    return services.location_create(actor=adam, clinic=clinic_a, name="Dosing room cabinet")


@pytest.fixture
def ketamine_50(adam):
    return services.product_create(
        actor=adam,
        name="Ketamine HCl injection",
        ndc="99999-0501-10",
        strength_mg_per_ml="50",
        vial_volume_ml="10",
    )


@pytest.fixture
def lot_a(adam, clinic_a, safe_a, ketamine_50):
    """Two vials of 500 mg in clinic A's safe, expiring in 200 days."""
    return services.lot_receive(
        actor=adam,
        clinic=clinic_a,
        location=safe_a,
        product=ketamine_50,
        lot_number="KA-1001",
        expiry=clinic_today(clinic_a) + timedelta(days=200),
        amount_mg=D("1000"),
    )


@pytest.fixture
def lot_b(bella, clinic_b, ketamine_50):
    safe = services.location_create(actor=bella, clinic=clinic_b, name="Safe B")
    return services.lot_receive(
        actor=bella,
        clinic=clinic_b,
        location=safe,
        product=ketamine_50,
        lot_number="KB-2002",
        expiry=clinic_today(clinic_b) + timedelta(days=200),
        amount_mg=D("500"),
    )


@pytest.fixture
def session_a(nina, course_a):  # noqa: F811 - the imported fixture, requested by name
    """Clinic A's first dosing session, checked in: drug may be dispensed to it."""
    return session_transition(actor=nina, session=first_dosing(course_a), to="checked_in")
