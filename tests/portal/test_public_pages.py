"""The public pre-screen pages at /start/, as an anonymous visitor uses them."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client, override_settings

from kapstone.audit.models import AuditEvent
from kapstone.portal.models import Referral
from tests.portal.conftest import answers

pytestmark = pytest.mark.django_db

YES_NO = (
    "pregnant_or_breastfeeding",
    "psychosis_history",
    "ketamine_allergy",
    "heart_or_bp_problem",
    "ketamine_misuse_history",
    "withdrawal_risk",
)


def form_data(**overrides) -> dict:
    data = {
        "lang": "en",
        "age_years": "38",
        "substances": ["alcohol"],
        "self_harm": "no",
        "region": "NY",
        "language": "en",
        "modality": "any",
        **dict.fromkeys(YES_NO, "no"),
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def visitor() -> Client:
    return Client(enforce_csrf_checks=False)


def text_of(response) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", response.content.decode()))


def test_the_questions_need_no_sign_in_and_set_no_cookie_but_csrf(visitor):
    response = visitor.get("/start/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Is ketamine-assisted therapy right for me?" in body
    assert set(response.cookies) <= {"csrftoken"}
    assert "sessionid" not in response.cookies
    # No third-party script or font: every src and href is our own.
    for url in re.findall(r'(?:src|href)="([^"]+)"', body):
        assert url.startswith(("/", "?", "#")), url


def test_a_result_is_shown_and_nothing_is_stored(visitor, profiles):
    audit_before = AuditEvent.objects.count()
    response = visitor.post("/start/", form_data(language="es"))
    assert response.status_code == 200
    text = text_of(response)
    assert "Ketamine-assisted therapy may suit you" in text
    assert "Clinic A" in text and "speaks Spanish" in text and "Clinic B" not in text
    assert Referral.objects.count() == 0 and AuditEvent.objects.count() == audit_before
    assert "sessionid" not in response.cookies


def test_the_crisis_help_comes_before_anything_else(visitor, profiles):
    response = visitor.post("/start/", form_data(self_harm="now"))
    body = response.content.decode()
    main = body[body.index("<main") :]
    assert main.index("988") < main.index("About ketamine-assisted therapy")
    assert "911" in main and 'role="alert"' in main[: main.index("988")]
    assert "Clinic A" in main  # they may still ask to be contacted


def test_not_suitable_says_why_and_what_else_helps_without_clinics(visitor, profiles):
    response = visitor.post("/start/", form_data(psychosis_history="yes"))
    text = text_of(response)
    assert "not the right treatment for you" in text
    assert "psychosis" in text and "1-800-662-4357" in text
    assert "Clinic A" not in text and 'name="clinic_id"' not in response.content.decode()


def test_bad_answers_are_named_beside_their_questions_and_kept(visitor, profiles):
    response = visitor.post("/start/", form_data(age_years="two hundred", substances=None, self_harm=None))
    assert response.status_code == 400
    body = response.content.decode()
    assert 'data-focus="id_age_years"' in body
    assert "Enter your age as a whole number of years." in body
    assert "Choose at least one." in body and "Please choose an answer." in body
    assert 'value="two hundred"' in body  # kept
    assert re.search(r'value="NY"[^>]*selected', body)
    assert Referral.objects.count() == 0


def test_the_language_switch_keeps_the_answers(visitor, profiles):
    response = visitor.post("/start/", form_data(switch_lang="es", age_years="44"))
    assert response.status_code == 200
    body = response.content.decode()
    assert '<html lang="es">' in body
    assert 'value="44"' in body and "This field" not in body


def contact_data(visitor, **overrides) -> dict:
    page = visitor.post("/start/", form_data())
    hidden = re.search(r'name="answers" value="([^"]+)"', page.content.decode()).group(1)
    data = {
        "lang": "en",
        "answers": hidden.replace("&quot;", '"'),
        "clinic_id": str(re.search(r'name="clinic_id" value="(\d+)"', page.content.decode()).group(1)),
        "name": "Robin Zzyzxfield",
        "email": "robin@example.org",
        "phone": "",
        "preferred_time": "evenings",
        "consent_to_contact": "on",
        "website": "",
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def test_asking_to_be_contacted_stores_a_referral_and_shows_its_reference(visitor, profiles, clinic_a):
    response = visitor.post("/start/contact/", contact_data(visitor))
    assert response.status_code == 201
    referral = Referral.objects.get()
    assert referral.clinic_id == clinic_a.pk and referral.contact_name == "Robin Zzyzxfield"
    assert referral.reference in response.content.decode()
    assert "555-0100" in response.content.decode()  # the clinic's public contact line


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        ({"consent_to_contact": None}, "consent_to_contact", "Tick the box to agree"),
        ({"email": "", "phone": ""}, "email", "Give an e-mail address or a phone number"),
        ({"name": ""}, "name", "Tell us your name."),
        ({"phone": "call me maybe", "email": ""}, "phone", "That phone number does not look right."),
    ],
)
def test_a_refused_request_names_the_problem_keeps_the_input_and_stores_nothing(
    visitor, profiles, overrides, field, message
):
    data = contact_data(visitor, **overrides)
    response = visitor.post("/start/contact/", data)
    assert response.status_code == 400
    body = response.content.decode()
    assert message in body and f'data-focus="id_{field}"' in body
    assert 'value="evenings"' in body
    assert Referral.objects.count() == 0


def test_the_honeypot_stores_nothing(visitor, profiles):
    response = visitor.post("/start/contact/", contact_data(visitor, website="http://spam.example"))
    assert response.status_code == 200 and "Thank you" in response.content.decode()
    assert Referral.objects.count() == 0


def test_tampered_answers_start_again(visitor, profiles):
    response = visitor.post("/start/contact/", contact_data(visitor, answers="{not json"))
    assert response.status_code == 400 and "answer the questions again" in response.content.decode()
    response = visitor.post(
        "/start/contact/", contact_data(visitor, answers=json.dumps(answers(age_years=500)))
    )
    assert response.status_code == 400
    assert Referral.objects.count() == 0


@override_settings(PRESCREEN_RATE_PER_MINUTE=2)
def test_too_many_pre_screens_from_one_address_get_429(visitor, profiles):
    for _ in range(2):
        assert visitor.post("/start/", form_data()).status_code == 200
    response = visitor.post("/start/", form_data())
    assert response.status_code == 429 and "try again" in response.content.decode()


def test_get_with_junk_language_falls_back_to_english(visitor):
    response = visitor.get("/start/?lang=xx%00")
    assert response.status_code == 200 and '<html lang="en">' in response.content.decode()


def test_the_result_reads_in_spanish(visitor, profiles):
    response = visitor.post("/start/", form_data(lang="es", language="es", withdrawal_risk="yes"))
    text = text_of(response)
    assert "Puede convenirle, pero antes debe revisarlo un profesional de la salud" in text
    assert "Dejarlo de golpe puede ser peligroso" in text
    assert (
        "ofrece terapia asistida con ketamina para el consumo de alcohol; atiende en NY; habla español"
        in text
    )
    assert "Espera habitual: 4 semanas" in text
