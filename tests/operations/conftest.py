from __future__ import annotations

from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.dosing.conftest import cleared_session, lot_50  # noqa: F401 - shared fixtures
