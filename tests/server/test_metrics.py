"""/metrics: refused (the ordinary 404) without a good token or from outside the allowed
networks; the named metrics in Prometheus' text format; no patient, user or raw path in a label."""

from __future__ import annotations

import ipaddress
import re
from datetime import timedelta

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone

from kapstone.env import parse_networks
from kapstone.monitoring.models import Observation
from kapstone.monitoring.services import vitals_record
from kapstone.server.metrics import route_label
from tests.care.conftest import course_a, eligible_a  # noqa: F401 - shared fixtures
from tests.conftest import new_patient, verified_client
from tests.dosing.conftest import cleared_session, lot_50  # noqa: F401 - shared fixtures
from tests.monitoring.conftest import running  # noqa: F401 - shared fixture

pytestmark = pytest.mark.django_db

TOKEN = "metrics-token-0123456789abcdef0123456789"
ELSEWHERE = "198.51.100.7"


@pytest.fixture
def token(settings):
    settings.METRICS_TOKEN = TOKEN
    return TOKEN


def not_found_body(client) -> bytes:
    return client.get("/no-such-page-anywhere").content


def assert_refused(response, client):
    assert response.status_code == 404
    assert response.content == not_found_body(client)
    assert b"kapstone_" not in response.content


def test_loopback_without_a_token_reads_the_metrics_by_default(client):
    assert client.get("/health").status_code == 200
    response = client.get("/metrics")  # the test client's address is 127.0.0.1
    assert response.status_code == 200
    assert response["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"
    body = response.content.decode()
    assert "# TYPE kapstone_http_request_duration_seconds histogram" in body
    assert sample(body, "kapstone_http_request_duration_seconds_count", route="health", method="GET") >= 1
    assert "# TYPE kapstone_vitals_ingested_total counter" in body
    assert "# TYPE kapstone_alerts_open gauge" in body


def test_another_address_without_a_token_gets_the_ordinary_404(client, token):
    assert_refused(client.get("/metrics", REMOTE_ADDR=ELSEWHERE), client)


def test_a_wrong_token_is_refused_even_from_loopback(client, token):
    assert_refused(client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-" + TOKEN), client)
    assert_refused(client.get("/metrics", HTTP_AUTHORIZATION="Basic " + TOKEN), client)


def test_no_token_configured_refuses_every_bearer(client, settings):
    settings.METRICS_TOKEN = None
    assert_refused(client.get("/metrics", HTTP_AUTHORIZATION="Bearer "), client)


def test_the_right_token_reads_the_metrics_from_anywhere(client, token):
    response = client.get("/metrics", REMOTE_ADDR=ELSEWHERE, HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert response.status_code == 200 and b"kapstone_alerts_open" in response.content


def test_a_request_through_the_proxy_is_not_judged_by_its_loopback_address(client):
    # The TLS proxy on the same machine connects from 127.0.0.1 for every visitor.
    assert_refused(client.get("/metrics", HTTP_X_FORWARDED_FOR="203.0.113.5"), client)
    assert_refused(client.get("/metrics", HTTP_X_FORWARDED_PROTO="https"), client)


def test_the_network_rule_lets_in_a_configured_network_only(client, settings):
    settings.METRICS_ALLOW = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.20.30.40").status_code == 200
    assert_refused(client.get("/metrics"), client)  # loopback is no longer in the list
    settings.METRICS_ALLOW = []
    assert_refused(client.get("/metrics", REMOTE_ADDR="10.20.30.40"), client)


def test_a_refused_post_is_a_404_too_and_an_allowed_one_is_not_allowed(client):
    assert_refused(client.post("/metrics", REMOTE_ADDR=ELSEWHERE), client)
    assert client.post("/metrics").status_code == 405


def test_the_network_list_is_parsed_strictly():
    assert parse_networks("METRICS_ALLOW", "10.0.0.1, 192.168.0.0/16", []) == [
        ipaddress.ip_network("10.0.0.1/32"),
        ipaddress.ip_network("192.168.0.0/16"),
    ]
    assert parse_networks("METRICS_ALLOW", "none", ["127.0.0.1/32"]) == []
    with pytest.raises(ImproperlyConfigured, match="KAPSTONE_METRICS_ALLOW"):
        parse_networks("METRICS_ALLOW", "10.0.0.0/8,localhost", [])


def sample(body: str, name: str, **labels: str) -> float:
    for line in body.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.split(" ")[0]))
            if all(found.get(key) == value for key, value in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")


def test_vitals_and_open_alerts_come_from_the_database(client, nina, running, clinic_b):  # noqa: F811
    before = client.get("/metrics").content.decode()
    assert sample(before, "kapstone_alerts_open", clinic="a", severity="critical", status="open") == 0
    at = timezone.now() - timedelta(minutes=1)
    vitals_record(
        actor=nina,
        session=running,
        observations=[
            {"code": "systolic_bp", "value": 185, "observed_at": at},
            {"code": "diastolic_bp", "value": 80, "observed_at": at},
        ],
    )
    body = client.get("/metrics").content.decode()
    assert sample(body, "kapstone_alerts_open", clinic="a", severity="critical", status="open") == 1
    assert sample(body, "kapstone_alerts_open", clinic="b", severity="critical", status="open") == 0
    highest = Observation.objects.order_by("-id").values_list("id", flat=True).first()
    assert sample(body, "kapstone_vitals_ingested_total") == highest


def test_request_latency_is_labelled_by_route_name_not_path_and_carries_no_patient(client, alice, clinic_a):
    patient = new_patient(alice, clinic_a, mrn="MRN-LABEL-0042", family_name="Labelwyck")
    signed_in = verified_client(alice)
    assert signed_in.get(f"/patients/{patient.pk}/").status_code == 200
    assert signed_in.get("/patients/?q=Labelwyck").status_code == 200
    body = client.get("/metrics").content.decode()
    assert (
        sample(
            body, "kapstone_http_request_duration_seconds_count", route="patients:chart", status_class="2xx"
        )
        >= 1
    )
    for leak in ("Labelwyck", "MRN-LABEL-0042", "Avery", "alice", f"/patients/{patient.pk}", "?q="):
        assert leak not in body, leak
    assert all("/" not in value for value in re.findall(r'route="([^"]*)"', body))


def test_static_files_and_unknown_paths_get_a_fixed_route_label(rf):
    assert route_label(rf.get("/static/kapstone.css")) == "static"
    assert route_label(rf.get("/patients/1/Zzyzxfield")) == "unmatched"


def test_the_job_queue_gauges_come_from_the_worker_tables(client):
    from django_q.conf import Conf
    from django_q.models import OrmQ

    from kapstone.operations.models import JobRun, RunStatus, WorkerHeartbeat

    body = client.get("/metrics").content.decode()
    assert sample(body, "kapstone_jobs_queued") == 0
    assert sample(body, "kapstone_jobs_failures_24h") == 0
    assert "kapstone_worker_heartbeat_age_seconds" not in body  # no worker ever ran

    now = timezone.now()
    OrmQ.objects.create(key=Conf.CLUSTER_NAME, payload="x", lock=now - timedelta(seconds=90))
    OrmQ.objects.create(key=Conf.CLUSTER_NAME, payload="y", lock=now + timedelta(minutes=5))
    JobRun.objects.create(
        job="vitals_overdue_sweep",
        slot=now.replace(second=0, microsecond=0),
        status=RunStatus.RETRYING,
        started_at=now - timedelta(minutes=1),
        finished_at=now - timedelta(seconds=30),
    )
    WorkerHeartbeat.objects.create(worker="host:1", started_at=now, seen_at=now - timedelta(seconds=20))

    body = client.get("/metrics").content.decode()
    assert sample(body, "kapstone_jobs_queued") == 1
    assert sample(body, "kapstone_jobs_in_progress") == 1
    assert sample(body, "kapstone_jobs_oldest_queued_age_seconds") >= 90
    assert sample(body, "kapstone_jobs_failures_24h") == 1
    assert 20 <= sample(body, "kapstone_worker_heartbeat_age_seconds") < 600
