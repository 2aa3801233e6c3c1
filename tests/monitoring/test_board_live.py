"""The live board's change check (a vitals POST shows within a second) and the board notices of
higher apps (a serious adverse event notifies the prescriber on the board)."""

from __future__ import annotations

import re
from datetime import timedelta
from unittest import mock

import pytest
from django.urls import reverse
from django.utils import timezone

from kapstone.accounts.access import DOSING_CLINICIANS
from kapstone.monitoring import notices as board_notices
from kapstone.monitoring.models import Alert
from kapstone.monitoring.selectors import board_token
from kapstone.monitoring.services import alert_acknowledge, observation_void, scale_record, vitals_record
from kapstone.safety.services import adverse_event_close, adverse_event_report, adverse_event_review
from tests.conftest import audit_count
from tests.safety.conftest import report_fields, serious_fields

pytestmark = pytest.mark.django_db

POLL = reverse("monitoring:board_poll")


@pytest.fixture
def frozen_clock():
    """The clock held still, so that the minute in the token cannot turn between two requests."""
    with mock.patch("django.utils.timezone.now", return_value=timezone.now()):
        yield


def token_in(html: bytes) -> str:
    match = re.search(rb"since=([0-9a-f]+)", html)
    assert match, "the board carries its poller with the token"
    return match.group(1).decode()


def poll(client, token: str):
    return client.get(POLL, {"since": token}, HTTP_HX_REQUEST="true")


def spo2(nina, session, value):
    return vitals_record(
        actor=nina,
        session=session,
        observations=[{"code": "spo2", "value": value, "observed_at": timezone.now() - timedelta(seconds=2)}],
    )


class TestChangeCheck:
    def test_unchanged_board_answers_204_without_a_render_or_an_audit_row(
        self, as_user, nina, running, frozen_clock
    ):
        client = as_user(nina)
        token = token_in(client.get(reverse("monitoring:board")).content)
        reads = audit_count(action="read", object_type="monitoring_board", actor=nina)
        response = poll(client, token)
        assert response.status_code == 204 and response.content == b""
        assert audit_count(action="read", object_type="monitoring_board", actor=nina) == reads

    def test_a_vitals_batch_redraws_the_board_with_the_alert_and_a_new_token(
        self, as_user, nina, running, frozen_clock
    ):
        client = as_user(nina)
        token = token_in(client.get(reverse("monitoring:board")).content)
        spo2(nina, running, 88)
        response = poll(client, token)
        assert response.status_code == 200 and b"<html" not in response.content
        assert b"hypoxemia" in response.content and b"Critical</span>" in response.content
        new = token_in(response.content)
        assert new != token
        assert audit_count(action="read", object_type="monitoring_board", actor=nina) == 2
        assert poll(client, new).status_code == 204

    def test_a_stale_or_missing_token_gets_the_board(self, as_user, nina, running):
        response = as_user(nina).get(POLL, HTTP_HX_REQUEST="true")
        assert response.status_code == 200 and b"Zzyzxfield" in response.content

    def test_every_change_the_board_shows_changes_the_token(self, alice, nina, running, administration):
        now = timezone.now()

        def token():
            return board_token(user=nina, roles=DOSING_CLINICIANS, now=now)

        seen = [token()]
        assert token() == seen[0], "stable while nothing changes"
        spo2(nina, running, 97)  # a normal reading: no alert, but new latest values
        seen.append(token())
        spo2(nina, running, 88)  # an alert opens
        seen.append(token())
        alert = Alert.objects.get(session=running, code="hypoxemia")
        alert_acknowledge(actor=nina, alert=alert, action="infusion_paused")
        seen.append(token())
        scale_record(actor=nina, session=running, scale="cadss", answers=[1] * 23)
        seen.append(token())
        observation_void(actor=nina, observation=running.observations.order_by("-id").first(), reason="typo")
        seen.append(token())
        running.room = "Room 9"
        running.save(update_fields=["room"])
        seen.append(token())
        assert len(set(seen)) == len(seen)

    def test_the_clock_changes_the_token_each_minute(self, nina, running):
        start = timezone.now().replace(second=0, microsecond=0)

        def token(seconds):
            return board_token(user=nina, roles=DOSING_CLINICIANS, now=start + timedelta(seconds=seconds))

        assert token(10) == token(50)
        assert token(50) != token(70)  # minutes since dosing, due and overdue checks move on

    def test_another_clinics_changes_never_change_the_token(self, carol, nina, running):
        now = timezone.now()
        before = board_token(user=carol, roles=DOSING_CLINICIANS, now=now)
        spo2(nina, running, 88)
        assert board_token(user=carol, roles=DOSING_CLINICIANS, now=now) == before
        assert board_token(user=nina, roles=DOSING_CLINICIANS, now=now) != board_token(
            user=carol, roles=DOSING_CLINICIANS, now=now
        )

    def test_access(self, client, as_user, carol, terry, nina, running):
        signed_out = poll(client, "x")  # htmx is told to go to the sign-in page
        assert signed_out.status_code == 204 and signed_out["HX-Redirect"].startswith("/accounts/login/")
        assert client.get(POLL).status_code == 302
        token = token_in(as_user(nina).get(reverse("monitoring:board")).content)
        other = poll(as_user(carol), token)
        assert other.status_code == 200 and b"Zzyzxfield" not in other.content
        assert poll(as_user(terry), token).status_code == 403


class TestEscalationToTheSecond:
    def test_token_flips_when_escalation_becomes_due(self, nina, running):
        spo2(nina, running, 88)
        alert = Alert.objects.get(session=running, code="hypoxemia")
        # Put the limit in the middle of a minute, so only the escalation can change the token.
        escalation_from = alert.escalation_from.replace(second=10, microsecond=0)
        Alert.objects.filter(pk=alert.pk).update(escalation_from=escalation_from)
        due = escalation_from + timedelta(minutes=2)

        def token(at):
            return board_token(user=nina, roles=DOSING_CLINICIANS, now=at)

        assert token(due - timedelta(seconds=5)) != token(due + timedelta(seconds=5))
        assert token(due + timedelta(seconds=5)) == token(due + timedelta(seconds=40))


class TestSeriousAdverseEventNotice:
    def test_shown_to_the_prescriber_until_reviewed(self, as_user, alice, nina, patient_a, running):
        client = as_user(alice)
        event = adverse_event_report(actor=nina, patient=patient_a, session=running, **serious_fields())
        page = client.get(reverse("monitoring:board")).content.decode()
        review_url = reverse("safety:review", args=[event.pk])
        assert f'data-notice="safety:serious_unreviewed:top:{event.pk}"' in page
        assert f'data-notice="safety:serious_unreviewed:row:{event.pk}"' in page
        assert "Serious adverse event awaiting a prescriber&#x27;s review: Respiratory depression" in page
        assert f'href="{review_url}">Review</a>' in page
        token = token_in(page.encode())

        adverse_event_review(actor=alice, event=event, note="Seen; observe 4 h, no further dosing today.")
        response = poll(client, token)
        assert response.status_code == 200
        assert (
            b"serious_unreviewed" not in response.content
            and b"Respiratory depression" not in response.content
        )

    def test_a_nurse_sees_it_without_the_review_link(self, as_user, nina, patient_a, running):
        event = adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
        page = as_user(nina).get(reverse("monitoring:board")).content.decode()
        assert f'href="{reverse("safety:event", args=[event.pk])}">Open</a>' in page
        assert reverse("safety:review", args=[event.pk]) not in page

    def test_the_banner_lists_patients_not_on_the_board(self, as_user, alice, nina, patient_a):
        event = adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
        page = as_user(alice).get(reverse("monitoring:board")).content.decode()
        assert f"safety:serious_unreviewed:top:{event.pk}" in page
        assert f"safety:serious_unreviewed:row:{event.pk}" not in page
        assert "No session is in progress or recovering." in page

    def test_not_serious_or_closed_events_are_not_notices(self, as_user, alice, nina, patient_a):
        adverse_event_report(actor=nina, patient=patient_a, **report_fields())
        event = adverse_event_report(actor=nina, patient=patient_a, **serious_fields())
        adverse_event_review(actor=alice, event=event, note="Reviewed.")
        adverse_event_close(actor=alice, event=event)
        page = as_user(alice).get(reverse("monitoring:board")).content
        assert b"serious_unreviewed" not in page

    def test_another_clinics_event_never_shows(
        self, as_user, alice, carol, patient_a, patient_b, running, frozen_clock
    ):
        theirs = adverse_event_report(actor=carol, patient=patient_b, **serious_fields())
        ours = adverse_event_report(actor=alice, patient=patient_a, **serious_fields())
        page = as_user(alice).get(reverse("monitoring:board")).content.decode()
        assert f':{ours.pk}"' in page and f':{theirs.pk}"' not in page and "Qorvanhollow" not in page
        page = as_user(carol).get(reverse("monitoring:board")).content.decode()
        assert f':{theirs.pk}"' in page and f':{ours.pk}"' not in page and "Zzyzxfield" not in page
        token = token_in(page.encode())
        adverse_event_review(actor=alice, event=ours, note="Reviewed.")
        assert poll(as_user(carol), token).status_code == 204

    def test_a_provider_answering_for_another_clinic_is_filtered(self, as_user, nina, clinic_b, running):
        leak = board_notices.BoardNotice(
            key="test:leak",
            clinic_id=clinic_b.pk,
            patient_id=1,
            session_id=running.pk,
            severity="critical",
            text="Leaked notice",
        )
        board_notices.register_board_notice("test_leak", lambda user, clinics, sessions: [leak])
        try:
            page = as_user(nina).get(reverse("monitoring:board")).content
        finally:
            board_notices._PROVIDERS.pop("test_leak")
        assert b"Leaked notice" not in page


def test_board_notices_need_a_clinic(nina):
    assert board_notices.board_notices_for(user=nina, clinic_ids=[], session_ids=[]) == []
