"""Prometheus metrics for operators, at ``/metrics``.

Who may read them (``metrics_allowed``): a request bearing ``Authorization: Bearer`` with
``KAPSTONE_METRICS_TOKEN`` (compared in constant time), or a request made directly — not through
the TLS proxy, so no ``X-Forwarded-*``/``Forwarded`` header — from an address in
``KAPSTONE_METRICS_ALLOW`` (default: loopback only). A wrong token is refused even from an
allowed network. Refused requests get the site's ordinary 404 page: the endpoint does not say
that it exists (a 401/403 would).

What they say — no patient and no user in any label:

- ``kapstone_http_request_duration_seconds{route, method, status_class}``: a histogram per URL
  pattern *name* (``patients:detail``), never the raw path; ``static`` for static files,
  ``unmatched`` for a path no route knows. Measured in each gunicorn worker and summed through
  prometheus_client's multiprocess mode: kapstone/server/gunicorn_conf.py gives every worker the
  same ``PROMETHEUS_MULTIPROC_DIR``. Without it (``runserver``, tests) the process's own counts.
- ``kapstone_vitals_ingested_total``: observations stored since the install, read from the
  database at scrape time (the highest observation id: an index lookup where ``COUNT(*)`` of ten
  million rows would not be; an insert rolled back leaves a gap, so it can run slightly ahead).
  From the database, not a counter in the process, because vitals arrive through several
  processes (web workers, the API, the background worker) and on several machines.
- ``kapstone_alerts_open{clinic, severity, status}``: unresolved alerts (open or acknowledged)
  per clinic slug, from the database at scrape time.
- The job queue's gauges and the worker heartbeat's age: see ``job_queue_metrics``.
"""

from __future__ import annotations

import hmac
import ipaddress
import os
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseNotAllowed
from prometheus_client import CollectorRegistry, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.multiprocess import MultiProcessCollector

from kapstone.accounts.access import public
from kapstone.server.context import ENVIRON_PEER_ADDR

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
#: Seconds: around the DESIGN.md budgets (100 ms chart page and vitals post, 200 ms pages).
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.3, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
#: Headers a proxy adds: a request bearing one came through it, so its address says nothing.
FORWARDING_HEADERS = ("HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_FORWARDED", "HTTP_X_REAL_IP")

# Registered in no registry: the view collects it (or, in multiprocess mode, its files) per scrape.
REQUEST_LATENCY = Histogram(
    "kapstone_http_request_duration_seconds",
    "Time from the request reaching Django to the response, by URL pattern name.",
    ["route", "method", "status_class"],
    buckets=LATENCY_BUCKETS,
    registry=None,
)


def route_label(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    if match is not None and match.view_name:
        return match.view_name
    if request.path_info.startswith(settings.STATIC_URL):
        return "static"
    return "unmatched"


class RequestMetricsMiddleware:
    """Near the outside (after the request id), so static files and redirects are timed too."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in METHODS else "other"
        REQUEST_LATENCY.labels(
            route=route_label(request), method=method, status_class=f"{response.status_code // 100}xx"
        ).observe(time.perf_counter() - started)
        return response


# --- Access -----------------------------------------------------------------------------------


def _bearer(request: HttpRequest) -> str | None:
    header = request.headers.get("Authorization")
    if header is None:
        return None
    scheme, _, credential = header.partition(" ")
    return credential.strip() if scheme.lower() == "bearer" else ""


def metrics_allowed(request: HttpRequest) -> bool:
    token = settings.METRICS_TOKEN
    presented = _bearer(request)
    if presented is not None:
        # A credential was offered: it decides, wherever the request comes from.
        return bool(token) and hmac.compare_digest(presented.encode(), token.encode())
    if any(header in request.META for header in FORWARDING_HEADERS):
        return False
    try:
        # The connection's own address, before TrustedProxyMiddleware (if any) replaced it.
        address = ipaddress.ip_address(
            request.META.get(ENVIRON_PEER_ADDR, request.META.get("REMOTE_ADDR", ""))
        )
    except ValueError:
        return False
    return any(address in network for network in settings.METRICS_ALLOW)


# --- Database-backed metrics -------------------------------------------------------------------


def job_queue_metrics() -> Iterable[Metric]:
    """The background work's gauges (kapstone/operations/status.py): tasks waiting and in
    progress, the age of the oldest waiting task, job attempts failed in the last 24 hours, and
    the age of the freshest worker heartbeat (absent when no worker ever ran)."""
    from kapstone.operations.status import job_queue_stats, worker_heartbeat_age_seconds

    stats = job_queue_stats()
    yield GaugeMetricFamily(
        "kapstone_jobs_queued", "Background tasks waiting for a worker.", value=stats["queue_depth"]
    )
    yield GaugeMetricFamily(
        "kapstone_jobs_in_progress",
        "Background tasks handed to a worker, not yet done.",
        value=stats["in_progress"],
    )
    yield GaugeMetricFamily(
        "kapstone_jobs_oldest_queued_age_seconds",
        "Seconds the oldest waiting background task has waited (0 when none waits).",
        value=stats["oldest_queued_age_seconds"] or 0.0,
    )
    yield GaugeMetricFamily(
        "kapstone_jobs_failures_24h",
        "Background job attempts that failed in the last 24 hours (retried or given up).",
        value=stats["failures_24h"],
    )
    age = worker_heartbeat_age_seconds()
    if age is not None:
        yield GaugeMetricFamily(
            "kapstone_worker_heartbeat_age_seconds", "Seconds since the freshest worker heartbeat.", value=age
        )


class DatabaseCollector:
    """Metrics read from the database when Prometheus scrapes (see the module docstring)."""

    def collect(self) -> Iterable[Metric]:
        from kapstone.accounts.models import Clinic
        from kapstone.monitoring.models import Alert, Observation

        highest = Observation.objects.aggregate(highest=Max("id"))["highest"] or 0
        yield CounterMetricFamily(
            "kapstone_vitals_ingested",
            "Vital-sign and bedside-score observations stored since the install.",
            value=highest,
        )
        alerts = GaugeMetricFamily(
            "kapstone_alerts_open",
            "Alerts not yet resolved (open or acknowledged), per clinic.",
            labels=["clinic", "severity", "status"],
        )
        counts = {
            (row["clinic_id"], row["severity"], row["status"]): row["n"]
            for row in Alert.objects.filter(resolved_at__isnull=True)
            .values("clinic_id", "severity", "status")
            .annotate(n=Count("id"))
            .order_by()
        }
        for clinic_id, slug in Clinic.objects.order_by("slug").values_list("id", "slug"):
            for severity in ("warning", "critical"):
                for status in ("open", "acknowledged"):
                    alerts.add_metric([slug, severity, status], counts.get((clinic_id, severity, status), 0))
        yield alerts
        yield from job_queue_metrics()


def registry_for_scrape() -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROCESS_ENV):
        MultiProcessCollector(registry)
    else:
        registry.register(REQUEST_LATENCY)
    registry.register(DatabaseCollector())
    return registry


@public  # to Kapstone's sign-in: operators are not users; ``metrics_allowed`` guards it instead
def metrics(request: HttpRequest) -> HttpResponse:
    # The access rule first: a refused request gets the 404 of any unknown path, whatever its method.
    if not metrics_allowed(request):
        raise Http404
    if request.method not in ("GET", "HEAD"):
        return HttpResponseNotAllowed(["GET", "HEAD"])
    # The classic text format (what prometheus_client serves a scraper that asks for nothing else):
    # every Prometheus reads it, and our metric names need none of the newer formats' escaping.
    return HttpResponse(generate_latest(registry_for_scrape()), content_type=CONTENT_TYPE_PLAIN_0_0_4)
