"""The patient's outcome pages: questionnaires, the use calendar and progress.

Each page: works · requires sign-in · staff get 403 · another patient's data is never shown (there
is no id in the URLs) · bad input keeps the input and writes nothing · audited as the patient.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from kapstone.audit.models import AuditEvent
from kapstone.outcomes.models import ClinicalFlag, QuestionnaireResponse, UseDay
from kapstone.outcomes.services import questionnaire_record, use_days_record
from kapstone.patients.services import clinic_today
from tests.portal.outcome_fixtures import PHQ9_CALM, PHQ9_ITEM9, enrol, row_counts, signed_in

pytestmark = pytest.mark.django_db

PAGES = [
    "/portal/questionnaires/",
    "/portal/questionnaires/phq-9/",
    "/portal/calendar/",
    "/portal/progress/",
]


def answers_of(values: list[int]) -> dict[str, str]:
    return {f"item_{number}": str(value) for number, value in enumerate(values, start=1)}


def text_of(response) -> str:
    return response.content.decode()


def main_of(response) -> str:
    body = text_of(response)
    return body[body.index("<main") : body.index("</main>")]


# --- Access ------------------------------------------------------------------------------------


@pytest.mark.parametrize("url", [*PAGES, "/portal/questionnaires/phq-9/done/"])
def test_pages_require_sign_in(client, url):
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/")
    assert client.post(url, answers_of(PHQ9_CALM)).status_code in (302, 405)
    assert QuestionnaireResponse.objects.count() == 0


@pytest.mark.parametrize("url", [*PAGES, "/portal/questionnaires/phq-9/done/"])
def test_staff_are_refused(as_user, nina, url, patient_a):
    client = as_user(nina)
    response = client.get(url)
    assert response.status_code == 403
    assert b"Zzyzxfield" not in response.content
    assert client.post(url, answers_of(PHQ9_CALM)).status_code == 403
    assert QuestionnaireResponse.objects.count() == 0
    assert AuditEvent.objects.filter(actor=nina, outcome="denied").exists()


@pytest.mark.parametrize("url", PAGES)
def test_every_page_works_and_is_audited_as_the_patient(pat, pat_course, patient_a, url):
    response = signed_in(pat).get(url)
    assert response.status_code == 200
    events = AuditEvent.objects.filter(actor=pat, action="read", patient_id=patient_a.pk)
    assert events.filter(object_type__startswith="portal_").exists()


def test_a_staff_only_or_unknown_questionnaire_is_not_found(pat, pat_course):
    client = signed_in(pat)
    for code in ("dast-10", "cadss", "bdi"):
        assert client.get(f"/portal/questionnaires/{code}/").status_code == 404
        assert client.post(f"/portal/questionnaires/{code}/", {"item_1": "0"}).status_code == 404
    assert QuestionnaireResponse.objects.count() == 0


# --- Questionnaires ------------------------------------------------------------------------------


def test_the_list_shows_what_is_due_for_the_course(pat, pat_course):
    page = main_of(signed_in(pat).get("/portal/questionnaires/"))
    # KARE (alcohol) at baseline: AUDIT, PACS, PHQ-9, GAD-7, in the protocol's order.
    due = re.findall(r'href="/portal/questionnaires/([a-z0-9-]+)/"', page.split("Other questionnaires")[0])
    assert due == ["audit", "pacs", "phq-9", "gad-7"]
    assert "Before your treatment starts" in page
    assert "Mood (PHQ-9)" in page


def test_a_patient_fills_a_phq9_one_screen_one_fieldset_per_item(pat, pat_course, patient_a):
    client = signed_in(pat)
    page = text_of(client.get("/portal/questionnaires/phq-9/"))
    assert page.count("<fieldset") == 9 and page.count("<legend>") == 9
    assert "Little interest or pleasure in doing things" in page
    assert page.count('type="radio"') == 9 * 4
    response = client.post("/portal/questionnaires/phq-9/", answers_of(PHQ9_CALM))
    assert response.status_code == 302 and response["Location"] == "/portal/questionnaires/phq-9/done/"
    saved = QuestionnaireResponse.objects.get()
    assert (saved.source, saved.total, saved.band, saved.entered_by_id) == ("patient", 3, "minimal", pat.pk)
    assert (saved.course_id, saved.time_point_months) == (pat_course.pk, 0)  # the baseline asked for it
    done = main_of(client.get(response["Location"]))
    assert "add up to 3 out of 27" in done and "minimal" in done
    assert "get help now" not in done
    # Answered: no longer due; the next questionnaire is.
    listing = main_of(client.get("/portal/questionnaires/"))
    assert 'href="/portal/questionnaires/phq-9/"' not in listing.split("Other questionnaires")[0]


def test_a_missing_answer_keeps_the_others_and_writes_nothing(pat, pat_course):
    client = signed_in(pat)
    before = row_counts()
    partial = answers_of(PHQ9_CALM)
    del partial["item_4"], partial["item_9"]
    partial["item_2"] = "7"  # not one of the answers
    response = client.post("/portal/questionnaires/phq-9/", partial)
    assert response.status_code == 400
    page = text_of(response)
    assert row_counts() == before
    assert 'data-focus="q-2"' in page  # the first item in error takes the focus
    assert page.count('class="error"') == 3
    assert 'aria-describedby="q-4-error"' in page and 'aria-describedby="q-9-error"' in page
    # The answers given are kept.
    assert re.search(r'name="item_1" value="0" id="[^"]+" checked', page)
    assert re.search(r'name="item_3" value="0" id="[^"]+" checked', page)
    assert "Please answer the 3 questions marked below." in page


def test_phq9_item_9_shows_crisis_help_first_and_opens_the_clinics_alert(
    pat, pat_course, patient_a, as_user, nina, carol
):
    """End to end: the patient answers → crisis help shown first → the clinic's alert is open →
    the clinic's staff see it on the alerts list, marked as the patient's entry."""
    client = signed_in(pat)
    response = client.post("/portal/questionnaires/phq-9/", answers_of(PHQ9_ITEM9))
    done = main_of(client.get(response["Location"]))
    assert re.search(r"<h1[^>]*>([^<]*)</h1>", done).group(1) == "Please get help now"
    assert done.index("988") < done.index("Your answers are saved")
    assert 'href="tel:988"' in done and 'href="sms:988"' in done and 'href="tel:911"' in done
    flag = ClinicalFlag.objects.get()
    assert (
        flag.code == "self-harm-risk"
        and flag.patient_id == patient_a.pk
        and not hasattr(flag, "acknowledgement")
    )
    assert flag.response.source == "patient"
    worklist = text_of(as_user(nina).get("/flags/"))
    assert "Zzyzxfield" in worklist and "Self-harm risk" in worklist and "entered by the patient" in worklist
    assert "Zzyzxfield" not in text_of(as_user(carol).get("/flags/"))  # another clinic's staff
    assert AuditEvent.objects.filter(object_type="clinical_flag", action="create", actor=pat).count() == 1


def test_the_result_page_is_only_for_the_response_just_sent(pat, quinn, pat_course):
    client = signed_in(pat)
    client.post("/portal/questionnaires/phq-9/", answers_of(PHQ9_ITEM9))
    # Another patient of the clinic opening the same address sees nothing of it.
    other = signed_in(quinn).get("/portal/questionnaires/phq-9/done/")
    assert other.status_code == 302 and other["Location"] == "/portal/questionnaires/"
    # Nor does the patient for another questionnaire's address.
    assert client.get("/portal/questionnaires/gad-7/done/").status_code == 302


def test_the_spanish_page_shows_the_items_in_english_with_a_note(pat, pat_course):
    pat.patient_account.language = "es"
    pat.patient_account.save(update_fields=["language"])
    page = text_of(signed_in(pat).get("/portal/questionnaires/phq-9/"))
    assert '<html lang="es">' in page
    assert "Este cuestionario solo está disponible en inglés" in page
    assert '<div lang="en">' in page and "Little interest or pleasure in doing things" in page
    assert "Enviar mis respuestas" in page
    refused = text_of(signed_in(pat).post("/portal/questionnaires/phq-9/", {"item_1": "0"}))
    assert "Elija una respuesta." in refused


def test_another_patients_answers_are_never_shown(pat, quinn, rhea, patient_a, pat_course, nina):
    questionnaire_record(actor=pat, patient=patient_a, instrument="gad-7", answers=[3] * 7, source="patient")
    questionnaire_record(actor=nina, patient=patient_a, instrument="pacs", answers=[5] * 5)
    for other in (quinn, rhea):
        client = signed_in(other)
        for url in ("/portal/questionnaires/", "/portal/progress/"):
            page = text_of(client.get(url))
            assert "21 out of 21" not in page and "25 out of 30" not in page
            assert "Zzyzxfield" not in page
    mine = text_of(signed_in(pat).get("/portal/questionnaires/"))
    assert "21 out of 21" in mine and "with your clinic" in mine  # the PACS the clinic entered


# --- Use calendar --------------------------------------------------------------------------------


def calendar_post(client, start, days: dict[str, str], *, mode: str = "week", substance: str = "alcohol"):
    data = {"substance": substance, "mode": mode, "start": start.isoformat(), **days}
    return client.post("/portal/calendar/", data)


def test_the_calendar_offers_the_days_since_the_last_entry(pat, pat_course, patient_a, nina):
    today = clinic_today(patient_a.clinic)
    use_days_record(
        actor=nina,
        patient=patient_a,
        substance="alcohol",
        days=[{"day": today - timedelta(days=5), "standard_drinks": 2}],
    )
    page = main_of(signed_in(pat).get("/portal/calendar/"))
    days = re.findall(r'id="day-(\d{4}-\d\d-\d\d)"', page)
    assert days == [(today - timedelta(days=n)).isoformat() for n in (4, 3, 2, 1, 0)]
    assert "5 days to fill in." in page
    assert "One standard drink is:" in page and "<svg" in page and "14 grams" in page


def test_the_calendar_never_offers_days_before_the_course(pat, patient_a, alice):
    today = clinic_today(patient_a.clinic)
    enrol(alice, patient_a, start=today - timedelta(days=2))
    page = main_of(signed_in(pat).get(f"/portal/calendar/?start={(today - timedelta(days=20)).isoformat()}"))
    assert re.findall(r'id="day-(\d{4}-\d\d-\d\d)"', page) == [
        (today - timedelta(days=n)).isoformat() for n in (2, 1, 0)
    ]


def test_a_patient_fills_a_week_with_i_dont_remember(pat, pat_course, patient_a):
    client = signed_in(pat)
    today = clinic_today(patient_a.clinic)
    start = today - timedelta(days=10)
    days = {}
    for n in range(7):
        key = (start + timedelta(days=n)).isoformat()
        if n == 3:
            days[f"unsure_{key}"] = "on"
        else:
            days[f"drinks_{key}"] = "1.5" if n == 0 else "0"
    response = calendar_post(client, start, days)
    assert response.status_code == 302
    assert (
        response["Location"]
        == f"/portal/calendar/?substance=alcohol&mode=week&start={(start + timedelta(days=7)).isoformat()}"
    )
    rows = {row.day: row for row in UseDay.objects.filter(patient=patient_a)}
    assert len(rows) == 6 and start + timedelta(days=3) not in rows  # "I don't remember" stays missing
    assert rows[start].standard_drinks == 1.5 and rows[start].used and rows[start].source == "patient"
    assert not rows[start + timedelta(days=1)].used
    event = AuditEvent.objects.filter(object_type="use_calendar", actor=pat).latest("id")
    assert event.detail["days_written"] == 6 and event.detail["source"] == "patient"


def test_a_day_at_a_time(pat, pat_course, patient_a):
    client = signed_in(pat)
    today = clinic_today(patient_a.clinic)
    page = main_of(client.get("/portal/calendar/?mode=day"))
    assert len(re.findall(r'id="day-', page)) == 1
    first = today - timedelta(days=10)
    response = calendar_post(client, first, {f"drinks_{first.isoformat()}": "3"}, mode="day")
    assert response["Location"].endswith(f"mode=day&start={(first + timedelta(days=1)).isoformat()}")
    assert UseDay.objects.get().standard_drinks == 3


def test_a_calendar_with_errors_keeps_the_input_and_writes_nothing(pat, pat_course, patient_a):
    client = signed_in(pat)
    start = clinic_today(patient_a.clinic) - timedelta(days=10)
    keys = [(start + timedelta(days=n)).isoformat() for n in range(7)]
    days = {f"drinks_{key}": "2" for key in keys}
    days[f"drinks_{keys[1]}"] = ""  # neither a number nor "I don't remember"
    days[f"unsure_{keys[2]}"] = "on"  # both
    days[f"drinks_{keys[4]}"] = "-1"
    days[f"drinks_{keys[5]}"] = "1.25"
    before = row_counts()
    response = calendar_post(client, start, days)
    assert response.status_code == 400 and row_counts() == before
    page = text_of(response)
    assert f'data-focus="day-{keys[1]}"' in page
    for key in (keys[1], keys[2], keys[4], keys[5]):
        assert f'aria-describedby="day-{key}-error"' in page
    assert "or tick &quot;I don&#x27;t remember&quot;" in page or "I don't remember" in page
    assert f'name="drinks_{keys[0]}" id="id_drinks_{keys[0]}" value="2"' in page  # kept
    assert f'name="drinks_{keys[5]}" id="id_drinks_{keys[5]}" value="1.25"' in page


def test_other_substances_are_yes_no_or_dont_remember(pat, patient_a, alice):
    today = clinic_today(patient_a.clinic)
    enrol(alice, patient_a, start=today - timedelta(days=3), slug="ketamine-mbrp-cocaine-dakwar-2019")
    client = signed_in(pat)
    page = main_of(client.get("/portal/calendar/"))
    assert "Your calendar: Cocaine" in page and "One standard drink" not in page
    start = today - timedelta(days=3)
    keys = [(start + timedelta(days=n)).isoformat() for n in range(4)]
    missing = calendar_post(client, start, {f"used_{keys[0]}": "yes"}, substance="cocaine")
    assert missing.status_code == 400 and UseDay.objects.count() == 0
    assert "Choose an answer for this day." in text_of(missing)
    done = calendar_post(
        client,
        start,
        {
            f"used_{keys[0]}": "yes",
            f"used_{keys[1]}": "no",
            f"used_{keys[2]}": "unsure",
            f"used_{keys[3]}": "no",
        },
        substance="cocaine",
    )
    assert done.status_code == 302
    assert sorted((r.day.isoformat(), r.used) for r in UseDay.objects.all()) == [
        (keys[0], True),
        (keys[1], False),
        (keys[3], False),
    ]


def test_the_clinics_days_are_shown_not_asked(pat, pat_course, patient_a, nina):
    today = clinic_today(patient_a.clinic)
    use_days_record(
        actor=nina, patient=patient_a, substance="alcohol", days=[{"day": today, "standard_drinks": 4}]
    )
    start = today - timedelta(days=6)
    page = main_of(signed_in(pat).get(f"/portal/calendar/?start={start.isoformat()}"))
    assert f'id="day-{today.isoformat()}"' not in page
    assert "Days your clinic recorded with you" in page and "standard drinks: 4" in page
    # Posting that day anyway changes nothing: it is not a field of the form.
    calendar_post(signed_in(pat), start, {f"drinks_{today.isoformat()}": "0"})
    assert UseDay.objects.get(day=today).standard_drinks == 4


def test_a_patient_without_a_course_has_nothing_to_fill(pat):
    page = main_of(signed_in(pat).get("/portal/calendar/"))
    assert "has not started a calendar" in page
    assert signed_in(pat).post("/portal/calendar/", {"substance": "alcohol"}).status_code == 200
    assert UseDay.objects.count() == 0


def test_another_patients_calendar_is_never_shown(pat, quinn, patient_a, pat_course, alice, quinn_patient):
    today = clinic_today(patient_a.clinic)
    use_days_record(
        actor=pat,
        patient=patient_a,
        substance="alcohol",
        days=[{"day": today, "standard_drinks": 7}],
        source="patient",
    )
    enrol(alice, quinn_patient, start=today - timedelta(days=3))
    page = main_of(signed_in(quinn).get(f"/portal/calendar/?start={today.isoformat()}"))
    assert 'value="7"' not in page
    assert f'id="day-{today.isoformat()}"' in page  # quinn's own, empty day


# --- Progress ------------------------------------------------------------------------------------


def test_progress_charts_the_patients_own_scores_and_days(pat, pat_course, patient_a, nina):
    today = clinic_today(patient_a.clinic)
    questionnaire_record(actor=pat, patient=patient_a, instrument="phq-9", answers=[1] * 9, source="patient")
    use_days_record(
        actor=pat,
        patient=patient_a,
        substance="alcohol",
        days=[{"day": today, "standard_drinks": 0}, {"day": today - timedelta(days=1), "standard_drinks": 3}],
        source="patient",
    )
    page = text_of(signed_in(pat).get("/portal/progress/"))
    # Two charts, plotly.js once (the vendored basic bundle).
    assert page.count('<script src="/static/plotly/plotly-basic.min.js" defer></script>') == 1
    assert 'id="figure-phq-9" type="application/json"' in page
    assert "Mood (PHQ-9)" in page and "9 out of 27" in page and "Mild" in page
    assert re.search(r'id="figure-use-0-alcohol" type="application/json"', page)
    assert "Days without alcohol" in page
    assert "cdn" not in page.lower()
