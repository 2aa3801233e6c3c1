"""Behind the TLS proxy the application sees the visitor's address (for the per-address rate
limits and the audit trail), taken only from a trusted proxy's X-Forwarded-For."""

from __future__ import annotations

import ipaddress

import pytest

from kapstone.server.context import ENVIRON_PEER_ADDR

pytestmark = pytest.mark.django_db


@pytest.fixture
def behind_proxy(settings):
    settings.BEHIND_TLS_PROXY = True
    settings.FORWARDED_ALLOW_IPS = [ipaddress.ip_network("127.0.0.1/32"), ipaddress.ip_network("::1/128")]


def seen(client, **meta) -> dict:
    return client.get("/health", **meta).wsgi_request.META


def test_from_the_trusted_proxy_the_last_forwarded_address_is_the_visitors(client, behind_proxy):
    # The visitor sent "X-Forwarded-For: 10.9.9.9" themselves; the proxy appended their address.
    meta = seen(client, HTTP_X_FORWARDED_FOR="10.9.9.9, 203.0.113.5")
    assert meta["REMOTE_ADDR"] == "203.0.113.5" and meta[ENVIRON_PEER_ADDR] == "127.0.0.1"


def test_from_anyone_else_the_header_is_ignored(client, behind_proxy):
    meta = seen(client, REMOTE_ADDR="198.51.100.7", HTTP_X_FORWARDED_FOR="203.0.113.5")
    assert meta["REMOTE_ADDR"] == "198.51.100.7"


def test_a_malformed_forwarded_address_is_ignored(client, behind_proxy):
    assert seen(client, HTTP_X_FORWARDED_FOR="203.0.113.5, not-an-address")["REMOTE_ADDR"] == "127.0.0.1"


def test_without_a_proxy_the_header_is_never_believed(client, settings):
    settings.BEHIND_TLS_PROXY = False
    assert seen(client, HTTP_X_FORWARDED_FOR="203.0.113.5")["REMOTE_ADDR"] == "127.0.0.1"


def test_metrics_still_refuse_a_proxied_request_from_loopback(client, behind_proxy):
    assert client.get("/metrics", HTTP_X_FORWARDED_FOR="127.0.0.1").status_code == 404
    assert client.get("/metrics").status_code == 200


def test_health_and_metrics_answer_plain_http_on_loopback_while_pages_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True  # as in production (tests run with KAPSTONE_DEV=1)
    assert client.get("/health").status_code == 200
    assert client.get("/metrics").status_code == 200
    page = client.get("/accounts/login/")
    assert page.status_code == 301 and page["Location"].startswith("https://")
