"""Fixtures of other apps that the API-wide tests use (a course, a dosing session, lots, clinics
open to referrals)."""

from tests.care.conftest import course_a, eligible_a  # noqa: F401 - fixtures, requested by name
from tests.dosing.conftest import cleared_session, lot_50, lot_50b  # noqa: F401 - fixtures
from tests.portal.conftest import admin_b, profiles  # noqa: F401 - fixtures
