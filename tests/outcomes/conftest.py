"""Shortcuts for the outcomes tests: row counts, a course whose last dosing date is set, and
questionnaire answer sets."""

from __future__ import annotations

from datetime import date

import pytest

from kapstone.care.models import CareSession
from kapstone.outcomes.models import (
    ClinicalFlag,
    FlagAcknowledgement,
    FollowUp,
    QuestionnaireResponse,
    ToxicologyTest,
    UseDay,
)
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.screening.conftest import Api, error_of  # noqa: F401 - shared helpers

PHQ9_CALM = [0, 1, 0, 1, 0, 0, 1, 0, 0]  # total 3, minimal, no flag
PHQ9_ITEM9 = [1, 1, 1, 1, 1, 1, 1, 1, 2]  # total 10, moderate, item 9 above 0


def row_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            QuestionnaireResponse,
            ClinicalFlag,
            FlagAcknowledgement,
            UseDay,
            ToxicologyTest,
            FollowUp,
        )
    }


def set_last_dosing(course, last: date, *, discharged: bool = True) -> None:
    """Put the course's dosing sessions on or before ``last`` (the last one exactly on it), all
    discharged or all still scheduled — test set-up, not a clinical workflow."""
    dosing = list(CareSession.objects.filter(course=course, kind="dosing").order_by("-order"))
    for offset, session in enumerate(dosing):
        session.scheduled_date = date.fromordinal(last.toordinal() - 7 * offset)
        session.status = "discharged" if discharged else "scheduled"
        session.save(update_fields=["scheduled_date", "status"])


@pytest.fixture
def male_patient(alice, clinic_a):
    from tests.conftest import new_patient

    return new_patient(
        alice, clinic_a, mrn="A-1002", given_name="Morgan", family_name="Qxbrandt", sex_at_birth="male"
    )


@pytest.fixture
def intersex_patient(alice, clinic_a):
    from tests.conftest import new_patient

    return new_patient(
        alice, clinic_a, mrn="A-1003", given_name="Rowan", family_name="Vyxtrel", sex_at_birth="intersex"
    )
