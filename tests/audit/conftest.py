"""The research cohort fixtures, for the disclosure tests (exports disclose that cohort)."""

from tests.research.conftest import cohort_a, course_b  # noqa: F401 - pytest fixtures
