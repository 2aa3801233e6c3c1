"""The readiness check for load balancers and the background jobs page for clinic admins."""

from __future__ import annotations

import logging

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from kapstone.accounts.access import OPERATIONS_REVIEW, public, require_roles
from kapstone.operations.selectors import job_overview, run_is_lost, workers_seen
from kapstone.operations.status import readiness, worker_heartbeat_age_seconds

logger = logging.getLogger("kapstone.operations")

#: The failed checks this process last reported, so that a load balancer polling a node that is
#: not ready every few seconds gives one warning when the state changes, not an error per poll.
_last_failed: tuple[str, ...] = ()


@public
@require_GET
def ready(request: HttpRequest) -> HttpResponse:
    """200 when this node can serve: the database answers, every migration is applied and a
    worker beat within KAPSTONE_READY_HEARTBEAT_SECONDS; else 503 naming the failed checks by
    code. Nothing more (no versions, no hosts, no times)."""
    global _last_failed
    checks = readiness()
    failed = [name for name, result in checks.items() if result == "failed"]
    if tuple(failed) != _last_failed:
        if failed:
            logger.warning("not ready: %s failed", ", ".join(failed))
        else:
            logger.info("ready again")
        _last_failed = tuple(failed)
    if failed:
        response = JsonResponse({"status": "not_ready", "failed": failed, "checks": checks}, status=503)
        response._has_been_logged = True  # a designed answer, said above: not django.request's 5xx error
        return response
    return JsonResponse({"status": "ready", "checks": checks})


@require_roles(*OPERATIONS_REVIEW)
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    now = timezone.now()
    overview = job_overview(now=now)
    age = worker_heartbeat_age_seconds(now=now)
    context = {
        "jobs": [
            {
                "row": row,
                "last_lost": row.last_run is not None and run_is_lost(row.last_run, now=now),
            }
            for row in overview
        ],
        "failures": [(row.job.title, run) for row in overview for run in row.failures],
        "workers": workers_seen(now=now),
        "heartbeat_age_s": None if age is None else int(age),
        "worker_fresh": age is not None and age <= settings.READY_HEARTBEAT_S,
    }
    return render(request, "operations/jobs.html", context)
