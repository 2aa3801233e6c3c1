"""The bedside-monitor role: records vital signs and nothing else; never signs in; the feed's
account of a clinic (``clinic_feed_actor``)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from kapstone.accounts.access import (
    ALL_STAFF,
    CARE_TEAM,
    DOSING_CLINICIANS,
    VITALS_SOURCES,
    is_device_account,
)
from kapstone.accounts.models import Role
from kapstone.accounts.services import api_token_create, membership_set
from kapstone.domain.errors import WorkflowConflict
from kapstone.interop.hl7.receive import clinic_feed_actor
from kapstone.monitoring.models import Alert
from kapstone.monitoring.services import alert_acknowledge, vitals_record
from tests.conftest import PASSWORD, audit_count, make_user, verified_client

pytestmark = pytest.mark.django_db


def test_the_role_is_in_no_role_set_but_the_vitals_sources():
    assert Role.MONITOR not in ALL_STAFF and Role.MONITOR not in CARE_TEAM
    assert Role.MONITOR not in DOSING_CLINICIANS
    assert DOSING_CLINICIANS | {Role.MONITOR} == VITALS_SOURCES


def test_a_monitor_records_vitals_but_acknowledges_nothing(monitor_a, running):
    alerts = vitals_record(
        actor=monitor_a,
        session=running,
        observations=[{"code": "spo2", "value": 88, "observed_at": timezone.now() - timedelta(seconds=5)}],
        source="chair-3",
    )
    assert [a.code for a in alerts] == ["hypoxemia"]
    alert = Alert.objects.get(code="hypoxemia")
    with pytest.raises(WorkflowConflict) as refused:
        alert_acknowledge(actor=monitor_a, alert=alert, action="observed")
    assert refused.value.code == "clinician_required"


def test_a_monitor_cannot_sign_in_even_with_a_password(client, monitor_a):
    monitor_a.set_password(PASSWORD)
    monitor_a.save()
    assert is_device_account(monitor_a)
    response = client.post(reverse("accounts:login"), {"username": monitor_a.username, "password": PASSWORD})
    assert response.status_code == 400
    assert b"do not match an active account" in response.content
    assert "_auth_user_id" not in client.session
    assert audit_count(action="login", actor=monitor_a) == 0
    assert audit_count(action="login_failed", actor_label=monitor_a.username) == 1


def test_the_monitor_fixture_has_no_usable_password(monitor_a):
    assert not monitor_a.has_usable_password()


@pytest.mark.parametrize("path", ["/patients", "/audit", "/protocols", "/inventory/lots"])
def test_a_monitor_token_is_refused_by_other_operations(monitor_a, path):
    token = api_token_create(actor=None, user=monitor_a)[1]
    response = Client().get("/api/v1" + path, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code in (403, 404), response.content
    if response.status_code == 403:
        assert response.json()["error"]["code"] == "forbidden"


def test_a_monitor_cannot_post_json_vitals(monitor_a, running):
    token = api_token_create(actor=None, user=monitor_a)[1]
    body = {"observations": [{"code": "spo2", "value": 97, "observed_at": timezone.now().isoformat()}]}
    response = Client().post(
        f"/api/v1/sessions/{running.pk}/vitals",
        body,
        content_type="application/json",
        HTTP_AUTHORIZATION=f"Bearer {token}",
    )
    assert response.status_code == 403


@pytest.mark.parametrize("name", ["home", "patients:list", "monitoring:board"])
def test_a_monitor_session_sees_no_page(monitor_a, name):
    # Even signed in by force (it cannot sign in), no page admits the role.
    response = verified_client(monitor_a).get(reverse(name))
    assert response.status_code in (302, 403)
    if response.status_code == 302:
        assert not response["Location"].startswith(reverse("patients:list"))


class TestClinicFeedActor:
    def test_the_clinics_one_monitor_account(self, clinic_a, monitor_a, nina):
        assert clinic_feed_actor("a") == (clinic_a, monitor_a)

    def test_an_unknown_clinic(self, monitor_a):
        with pytest.raises(LookupError, match="no clinic with the slug 'nowhere'"):
            clinic_feed_actor("nowhere")

    def test_a_clinic_without_a_monitor_account(self, clinic_a, nina):
        with pytest.raises(LookupError, match="no active monitor account"):
            clinic_feed_actor("a")

    def test_an_inactive_account_does_not_count(self, clinic_a, monitor_a):
        monitor_a.is_active = False
        monitor_a.save()
        with pytest.raises(LookupError):
            clinic_feed_actor("a")

    def test_several_accounts_need_a_username(self, clinic_a, monitor_a):
        second = make_user("monitor.a2", clinic_a, Role.MONITOR)
        with pytest.raises(LookupError, match="several monitor accounts"):
            clinic_feed_actor("a")
        assert clinic_feed_actor("a", username="monitor.a2") == (clinic_a, second)
        with pytest.raises(LookupError):
            clinic_feed_actor("a", username="nina")

    def test_another_clinics_monitor_is_not_this_clinics(self, clinic_a, clinic_b, monitor_a):
        with pytest.raises(LookupError):
            clinic_feed_actor("b", username="monitor.a")
        membership_set(
            actor=None, user=make_user("monitor.b", None, None), clinic=clinic_b, role=Role.MONITOR
        )
        assert clinic_feed_actor("b")[1].username == "monitor.b"


def test_the_demo_staff_include_a_monitor_account_without_a_password(clinic_a):
    from kapstone.demo.seed import _staff

    people = _staff(clinic_a, "north")
    monitor = people["monitor"]
    assert monitor.username == "monitor.north"
    assert not monitor.has_usable_password()
    assert is_device_account(monitor)
    assert clinic_feed_actor("a") == (clinic_a, monitor)
    assert people["nurse"].has_usable_password()


def test_a_running_listener_refuses_a_monitor_account_from_the_message_after_it_is_deactivated(
    monitor_a, running, clinic_a
):
    """The listener's handler reads the account for every message: switching the account off
    (the user, or its monitor role) stops the feed at once, not at the listener's restart."""
    from kapstone.accounts.models import Membership
    from kapstone.interop.hl7.receive import feed_handler
    from tests.interop.conftest import HR, SPO2, msa, obx, oru

    handle = feed_handler(*clinic_feed_actor("a"))
    assert msa(handle(oru(obx(SPO2, 97), obx(HR, 70), control_id="ON-1"), "chair"))[1] == "AA"
    Membership.objects.filter(user=monitor_a, role=Role.MONITOR).update(is_active=False)
    refused = handle(oru(obx(SPO2, 96), control_id="OFF-1"), "chair")
    assert msa(refused)[1] == "AE" and "clinician_required" in refused
    Membership.objects.filter(user=monitor_a, role=Role.MONITOR).update(is_active=True)
    assert msa(handle(oru(obx(SPO2, 96), control_id="ON-2"), "chair"))[1] == "AA"
    type(monitor_a).objects.filter(pk=monitor_a.pk).update(is_active=False)
    assert msa(handle(oru(obx(SPO2, 95), control_id="OFF-2"), "chair"))[1] == "AE"
