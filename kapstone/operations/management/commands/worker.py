"""``kapstone worker``: run the background jobs (docs/operations.md).

Brings the schedules in line with the code, enqueues what is due at once, then runs a django-q2
cluster (``KAPSTONE_WORKER_PROCESSES`` processes) on the database queue, writing this worker's
heartbeat every ``KAPSTONE_WORKER_HEARTBEAT_SECONDS`` while the cluster lives. SIGINT or SIGTERM
stops it cleanly: the job in hand finishes, nothing new is taken, exit status 0; the stop never
waits on a cluster process that is already gone (see ``stop_cluster``). Exit status 1 when the
cluster stops by itself.
"""

from __future__ import annotations

import ctypes
import logging
import multiprocessing.util
import os
import signal
import socket
import sys
import threading
import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError, connections

from kapstone.operations import services

logger = logging.getLogger("kapstone.operations")


#: prctl(2): the signal a process gets when its parent dies.
PR_SET_PDEATHSIG = 1


class _OwnProcessGroup:
    """Run by multiprocessing in every process of the cluster it forks.

    A process group of its own: a SIGTERM sent to this command's whole group (``timeout``,
    ``kill -TERM -PGID``) would otherwise kill django-q2's sentinel outright, whose stop event
    then deadlocks the clean stop; this way only this command hears it and stops the cluster in
    order. (systemd signals the whole cgroup: docs/operations.md asks for KillMode=mixed.)

    And, on Linux, death with its parent (``PR_SET_PDEATHSIG``): a worker killed outright takes
    its cluster with it instead of leaving it running jobs unwatched; the job in hand is rolled
    back and taken over by the next worker.
    """

    def __call__(self, _: object) -> None:
        os.setpgid(0, 0)
        if sys.platform.startswith("linux"):
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


_OWN_GROUP = _OwnProcessGroup()

#: How long a stop waits for the cluster's sentinel once it has been asked to stop: a job in hand
#: may run to its timeout, and the sentinel then waits for its monitor.
STOP_MARGIN_S = 20


def stop_cluster(sentinel: Any, stop_event: Any, wait_s: float) -> str:
    """Stop a django-q2 cluster without ever hanging; say how it went.

    ``"gone"``: the sentinel had already exited (a signal sent to every process of the worker at
    once, as ``pkill -f`` or systemd's default ``KillMode=control-group`` do, kills it outright;
    its processes die with it by ``PR_SET_PDEATHSIG``, and the job in hand is rolled back and
    taken over by the next worker). It is reaped here.

    ``"clean"``: the sentinel was asked to stop and did within ``wait_s`` (``"gone"`` if it died
    instead).

    ``"forced"``: it did not, and was terminated. django-q2's own ``Cluster.stop`` sets the stop
    event and joins the sentinel with no bound; and setting a ``multiprocessing.Event`` waits for
    every process that was sleeping on it to wake, so a sentinel killed in its guard loop's wait
    leaves ``set()`` waiting for ever (the worker then ignored every further SIGTERM). So the event
    is set from a daemon thread, and only the sentinel's own exit is waited for.
    """
    if not sentinel.is_alive():  # is_alive() reaps an exited child
        sentinel.join(0)
        return "gone"
    threading.Thread(target=stop_event.set, name="cluster-stop", daemon=True).start()
    sentinel.join(wait_s)
    if not sentinel.is_alive():
        return "clean" if sentinel.exitcode == 0 else "gone"
    sentinel.terminate()  # its processes follow it (PR_SET_PDEATHSIG)
    sentinel.join(5)
    if sentinel.is_alive():
        sentinel.kill()
        sentinel.join(5)
    return "forced"


class Command(BaseCommand):
    help = "Run the background jobs (overdue vital-sign checks, reminders, purges, audit checkpoints)."

    def handle(self, *args: Any, **options: Any) -> None:
        from django_q.cluster import Cluster
        from django_q.scheduler import scheduler

        name = f"{socket.gethostname()}:{os.getpid()}"
        # The cluster's processes are forked from this one: they inherit the name.
        services.CURRENT_WORKER = name
        counts = services.schedules_ensure()
        services.worker_heartbeat_start(worker=name)
        services.worker_heartbeats_prune()
        scheduler()  # what is due now is enqueued now, not at the cluster's first scheduler round
        # The cluster forks: no database connection may be shared with its processes.
        connections.close_all()

        multiprocessing.util.register_after_fork(_OWN_GROUP, _OWN_GROUP)
        stopping = threading.Event()

        def on_signal(signum: int, frame: object) -> None:
            stopping.set()

        cluster = Cluster()
        # In place of the handlers Cluster() installs, which call its unbounded stop from inside
        # the signal handler: a signal while the cluster starts is acted on once it has started.
        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
        try:
            cluster.start()
        except RuntimeError as error:  # its sentinel exited before it had started
            connections.close_all()
            if stopping.is_set():
                self.stdout.write(f"Kapstone worker {name} stopped while starting.")
                return
            raise CommandError(f"the job cluster did not start: {error}", returncode=1) from None
        self.stdout.write(
            f"Kapstone worker {name}: {settings.WORKER_PROCESSES} process(es); schedules "
            f"{counts['created']} created, {counts['updated']} updated, {counts['removed']} removed. "
            "Ctrl-C stops it."
        )
        self.stdout.flush()
        last_beat = time.monotonic()
        died = False
        while not stopping.wait(1.0):
            if not cluster.sentinel.is_alive():
                died = True
                break
            if time.monotonic() - last_beat >= settings.WORKER_HEARTBEAT_S:
                last_beat = time.monotonic()
                try:
                    services.worker_heartbeat_beat(worker=name)
                except DatabaseError:
                    logger.exception("worker %s: the heartbeat could not be written", name)
                    connections.close_all()
        outcome = stop_cluster(cluster.sentinel, cluster.stop_event, settings.JOB_TIMEOUT_S + STOP_MARGIN_S)
        connections.close_all()
        if outcome == "forced":
            logger.warning("worker %s: the job cluster did not stop in time and was terminated", name)
        elif outcome == "gone" and not died:
            logger.warning(
                "worker %s: the job cluster's processes were stopped by the signal too; a job in hand "
                "is rolled back and taken over by the next worker",
                name,
            )
        if died:
            raise CommandError("the job cluster stopped by itself; see the log above", returncode=1)
        self.stdout.write(f"Kapstone worker {name} stopped.")
