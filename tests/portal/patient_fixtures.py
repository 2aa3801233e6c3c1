"""Portal patients for the tests of the patient's pages: ``pat`` and ``quinn`` (clinic A) and
``bea`` (clinic B), each with an active portal account and a course whose first ketamine
session is ahead, in a room of their own (so a leak of another patient's data shows).

Import the fixtures into a test module: ``from tests.portal.patient_fixtures import *``.
"""

from __future__ import annotations

from datetime import date, time, timedelta

import pytest
from django.test import Client

from kapstone.care.models import CareSession
from kapstone.care.services import course_enrol, session_reschedule
from kapstone.patients.services import clinic_today, consent_record
from kapstone.portal.patient_services import invitation_accept, portal_invite
from kapstone.screening.services import screening_record
from tests.care.conftest import ELIGIBLE
from tests.conftest import new_patient
from tests.portal.conftest import admin_b, profiles  # noqa: F401 - fixtures used through these

GOOD_PASSWORD = "a long enough passphrase 7"
LINK = "http://testserver/portal/invitation/"
KARE = "kare-alcohol-grabski-2022"
ROOMS = {"pat": "Room Pat-2", "quinn": "Room Quinn-7", "bea": "Room Bee-5"}


def make_portal_patient(actor, patient, *, email: str, room: str, started_days_ago: int = 3):
    """An active portal account for ``patient`` (invited by ``actor``, accepted), enrolled in
    KARE ``started_days_ago`` days ago, its first ketamine session booked at 09:30 in ``room``."""
    consent_record(actor=actor, patient=patient, kind="treatment", status="granted",
                   effective_on=date(2026, 1, 5), document_version="2026-01")  # fmt: skip
    screening_record(actor=actor, patient=patient, answers=ELIGIBLE)
    today = clinic_today(patient.clinic)
    course = course_enrol(
        actor=actor, patient=patient, protocol_slug=KARE, start_date=today - timedelta(days=started_days_ago)
    )
    dosing = CareSession.objects.filter(course=course, kind="dosing").order_by("order").first()
    session_reschedule(actor=actor, session=dosing, scheduled_date=dosing.scheduled_date, start_time=time(9, 30),
                       room=room, reason="Booked")  # fmt: skip
    _, token = portal_invite(actor=actor, patient=patient, email=email, link_base=LINK)
    account = invitation_accept(token=token, password=GOOD_PASSWORD, password_again=GOOD_PASSWORD)
    return account.user


@pytest.fixture
def pat(alice, patient_a, profiles):  # noqa: F811
    return make_portal_patient(alice, patient_a, email="pat@example.org", room=ROOMS["pat"])


@pytest.fixture
def quinn(alice, clinic_a, profiles):  # noqa: F811
    patient = new_patient(alice, clinic_a, mrn="A-1077", given_name="Quinn", family_name="Ottervale")
    return make_portal_patient(alice, patient, email="quinn@example.org", room=ROOMS["quinn"])


@pytest.fixture
def bea(carol, patient_b, profiles):  # noqa: F811
    return make_portal_patient(carol, patient_b, email="bea@example.org", room=ROOMS["bea"])


def portal_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def leaks(content: bytes, *others) -> list[str]:
    """What of ``others`` (portal users) a page shows: their names, MRNs and rooms."""
    found = []
    text = content.decode()
    for user in others:
        patient = user.patient_account.patient
        for value in (patient.given_name, patient.family_name, patient.mrn, ROOMS[_key(user)]):
            if value in text:
                found.append(value)
    return found


def _key(user) -> str:
    return {"pat@example.org": "pat", "quinn@example.org": "quinn", "bea@example.org": "bea"}[user.username]
