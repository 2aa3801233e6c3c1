"""Portal patients for the outcome tests: ``pat`` and ``quinn`` (two patients of clinic A) and
``rhea`` (a patient of clinic B), each with an active portal account, and a course for ``pat``
whose dosing dates the test sets. Import the fixtures you use into the test module."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from django.test import Client

from kapstone.care.models import CareSession
from kapstone.care.services import course_enrol
from kapstone.outcomes.models import (
    ClinicalFlag,
    FlagAcknowledgement,
    FollowUp,
    QuestionnaireResponse,
    ToxicologyTest,
    UseDay,
)
from kapstone.patients.services import clinic_today, consent_record
from kapstone.portal.patient_services import invitation_accept, portal_invite
from kapstone.screening.services import screening_record
from tests.care.conftest import ELIGIBLE
from tests.conftest import new_patient

PASSWORD = "a long enough passphrase 7"
LINK = "http://testserver/portal/invitation/"
PHQ9_CALM = [0, 1, 0, 1, 0, 0, 1, 0, 0]  # total 3, minimal
PHQ9_ITEM9 = [1, 1, 1, 1, 1, 1, 1, 1, 2]  # total 10, moderate, item 9 above 0


def open_account(actor, patient, email: str):
    """Invite ``patient`` and accept the invitation: the portal user."""
    _, token = portal_invite(actor=actor, patient=patient, email=email, link_base=LINK)
    return invitation_accept(token=token, password=PASSWORD, password_again=PASSWORD).user


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def enrol(actor, patient, *, start: date | None = None, slug: str = "kare-alcohol-grabski-2022"):
    consent_record(
        actor=actor,
        patient=patient,
        kind="treatment",
        status="granted",
        effective_on=date(2026, 1, 5),
        document_version="2026-01",
    )
    screening_record(actor=actor, patient=patient, answers=ELIGIBLE)
    return course_enrol(
        actor=actor,
        patient=patient,
        protocol_slug=slug,
        start_date=start or clinic_today(patient.clinic),
    )


def move_dosing(course, first: date, *, status: str = "scheduled") -> None:
    """Put the course's dosing sessions a week apart from ``first`` (test set-up)."""
    dosing = CareSession.objects.filter(course=course, kind="dosing").order_by("order")
    for offset, session in enumerate(dosing):
        session.scheduled_date = first + timedelta(days=7 * offset)
        session.status = status
        session.save(update_fields=["scheduled_date", "status"])


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


@pytest.fixture
def quinn_patient(alice, clinic_a):
    return new_patient(alice, clinic_a, mrn="A-1010", given_name="Quinn", family_name="Vortelmann")


@pytest.fixture
def pat(nina, patient_a):
    """The portal user of ``patient_a`` (clinic A)."""
    return open_account(nina, patient_a, "pat@example.org")


@pytest.fixture
def quinn(nina, quinn_patient):
    """The portal user of another patient of clinic A."""
    return open_account(nina, quinn_patient, "quinn@example.org")


@pytest.fixture
def rhea(carol, patient_b):
    """The portal user of ``patient_b`` (clinic B)."""
    return open_account(carol, patient_b, "rhea@example.org")


@pytest.fixture
def pat_course(alice, patient_a):
    """``patient_a`` enrolled today in KARE (alcohol); dosing sessions still ahead."""
    course = enrol(alice, patient_a, start=clinic_today(patient_a.clinic) - timedelta(days=10))
    move_dosing(course, clinic_today(patient_a.clinic) + timedelta(days=3))
    return course
