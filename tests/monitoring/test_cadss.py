"""The CADSS page: 23 items from the instrument definition, scored by the domain, version kept."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from kapstone.monitoring.models import ScaleScore
from tests.conftest import audit_count
from tests.monitoring.pages import codes_shown, visible_text
from tests.monitoring.test_views import local_now

pytestmark = pytest.mark.django_db


def answers(session, value: int = 1) -> dict[str, str]:
    data = {f"item_{n}": str(value) for n in range(1, 24)}
    data["observed_at"] = local_now(session)
    return data


def test_nurse_records_a_cadss_with_its_version(as_user, nina, running):
    client = as_user(nina)
    page = client.get(reverse("monitoring:cadss", args=[running.pk]))
    assert page.status_code == 200
    assert page.content.count(b'name="item_') == 23 * 5  # 23 items, answers 0–4
    response = client.post(reverse("monitoring:cadss", args=[running.pk]), answers(running, 2))
    assert response.status_code == 302
    score = ScaleScore.objects.get(session=running, scale="cadss")
    assert score.total == 46 and score.scoring_version.startswith("cadss")
    assert audit_count(actor=nina, patient_id=running.patient_id, action="create") >= 1
    again = client.get(reverse("monitoring:cadss", args=[running.pk]))
    assert b"<strong>46</strong>" in again.content  # the earlier total is listed


def test_incomplete_answers_keep_the_input_and_write_nothing(as_user, nina, running):
    data = answers(running, 3)
    del data["item_17"]
    response = as_user(nina).post(reverse("monitoring:cadss", args=[running.pk]), data)
    assert response.status_code == 400
    assert b"Choose an answer." in response.content
    assert b'value="3" checked' in response.content or b"checked" in response.content
    assert ScaleScore.objects.filter(scale="cadss").count() == 0


def test_out_of_range_answer_is_refused(as_user, nina, running):
    data = answers(running)
    data["item_1"] = "7"
    response = as_user(nina).post(reverse("monitoring:cadss", args=[running.pk]), data)
    assert response.status_code == 400
    assert ScaleScore.objects.filter(scale="cadss").count() == 0


def test_access(client, as_user, carol, terry, running):
    url = reverse("monitoring:cadss", args=[running.pk])
    assert client.get(url).status_code == 302
    other = as_user(carol).get(url)
    assert other.status_code == 404 and b"Zzyzxfield" not in other.content
    assert as_user(terry).get(url).status_code == 403
    assert as_user(carol).post(url, answers(running)).status_code == 404
    assert ScaleScore.objects.count() == 0


def test_no_answer_is_chosen_for_the_nurse_and_each_missing_item_is_named(as_user, nina, running):
    client = as_user(nina)
    page = client.get(reverse("monitoring:cadss", args=[running.pk])).content
    assert b"checked" not in page
    data = answers(running, 1)
    del data["item_3"], data["item_17"]
    before = (ScaleScore.objects.count(), audit_count(object_type="scale_score"))
    response = client.post(reverse("monitoring:cadss", args=[running.pk]), data)
    assert response.status_code == 400
    assert "Choose an answer for items 3 and 17. Nothing was saved." in visible_text(response.content)
    kept = re.findall(rb'<input type="radio" name="item_\d+" value="1"[^>]* checked>', response.content)
    assert len(kept) == 21  # the answers given are kept
    assert (ScaleScore.objects.count(), audit_count(object_type="scale_score")) == before


def test_the_page_speaks_words_and_cites_what_a_clinician_can_look_up(as_user, nina, running):
    page = as_user(nina).get(reverse("monitoring:cadss", args=[running.pk])).content
    text = visible_text(page)
    assert "Bremner" in text and "clinical.md" not in text and "§" not in text
    assert codes_shown(page) == []
