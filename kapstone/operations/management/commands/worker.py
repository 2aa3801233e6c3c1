"""``kapstone worker``: run the background jobs (docs/operations.md).

Brings the schedules in line with the code, enqueues what is due at once, then runs a django-q2
cluster (``KAPSTONE_WORKER_PROCESSES`` processes) on the database queue, writing this worker's
heartbeat every ``KAPSTONE_WORKER_HEARTBEAT_SECONDS`` while the cluster lives. SIGINT or SIGTERM
stops it cleanly: the job in hand finishes, nothing new is taken, exit status 0. Exit status 1
when the cluster stops by itself.
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
        cluster = Cluster()  # its own SIGTERM/SIGINT handlers stop it while it starts
        cluster.start()

        def on_signal(signum: int, frame: object) -> None:
            stopping.set()

        signal.signal(signal.SIGTERM, on_signal)
        signal.signal(signal.SIGINT, on_signal)
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
        if cluster.sentinel.is_alive():
            cluster.stop()
        connections.close_all()
        if died:
            raise CommandError("the job cluster stopped by itself; see the log above", returncode=1)
        self.stdout.write(f"Kapstone worker {name} stopped.")
