"""Stopping ``kapstone worker`` never hangs.

A SIGTERM sent to every process of a worker at once (``pkill -f "kapstone worker"``, or systemd
with its default ``KillMode=control-group``) kills django-q2's sentinel while it sleeps on the
cluster's stop event. Setting a ``multiprocessing.Event`` waits for every process that was
sleeping on it to wake, so django-q2's own ``Cluster.stop`` then waited for ever, and the worker
ignored every further SIGTERM until it was SIGKILLed. ``stop_cluster`` sets the event from a
daemon thread and waits only for the sentinel's own exit, with a bound.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import threading
import time
from pathlib import Path

import pytest

from kapstone.operations.management.commands.worker import stop_cluster
from tests.operations.test_worker_process import WorkerDatabase, alive, descendants, kill_all, start_worker

FORK = multiprocessing.get_context("fork")


def _sleep_on(event) -> None:
    """A process asleep on the event, as django-q2's sentinel is in its guard loop."""
    while not event.wait(0.5):
        pass


def _deaf() -> None:
    """A sentinel that never hears the stop event."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    while True:
        time.sleep(1)


def _poisoned_event():
    """A stop event with a dead sleeper: a process killed while asleep on it."""
    event = FORK.Event()
    sleeper = FORK.Process(target=_sleep_on, args=(event,), daemon=True)
    sleeper.start()
    time.sleep(1.0)  # asleep in event.wait
    os.kill(sleeper.pid, signal.SIGKILL)
    sleeper.join(5)
    assert sleeper.exitcode == -signal.SIGKILL
    return event


def test_setting_a_poisoned_event_hangs_which_is_why_the_stop_does_not_wait_on_it():
    event = _poisoned_event()
    setter = threading.Thread(target=event.set, daemon=True)
    setter.start()
    setter.join(3)
    assert setter.is_alive(), "Event.set() waits for the dead sleeper to wake"


def test_a_sentinel_already_gone_is_reaped_and_nothing_waits_on_its_event():
    event = _poisoned_event()
    sentinel = FORK.Process(target=_sleep_on, args=(event,))
    sentinel.start()
    os.kill(sentinel.pid, signal.SIGTERM)
    deadline = time.monotonic() + 5
    while alive(sentinel.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    outcome = stop_cluster(sentinel, event, wait_s=30)
    took = time.monotonic() - started
    assert outcome == "gone"
    assert took < 2
    assert not Path(f"/proc/{sentinel.pid}").exists(), "the exited sentinel is reaped, not left a zombie"


def test_a_sentinel_killed_while_it_is_being_stopped_does_not_hang_the_stop():
    # The race the old stop lost: the sentinel alive when the worker looks, killed by the same
    # signal an instant later, while the worker sets its event. (A poisoned event holds every
    # waiter, so this sentinel cannot stop by itself; it is killed a second into the stop.)
    event = _poisoned_event()
    sentinel = FORK.Process(target=_sleep_on, args=(event,))
    sentinel.start()
    time.sleep(0.5)
    threading.Timer(1.0, os.kill, (sentinel.pid, signal.SIGTERM)).start()
    started = time.monotonic()
    outcome = stop_cluster(sentinel, event, wait_s=30)  # (pytest may not repr a poisoned event)
    took = time.monotonic() - started
    assert outcome == "gone"
    assert took < 5
    assert sentinel.exitcode == -signal.SIGTERM


def test_a_sentinel_asked_to_stop_stops_cleanly():
    event = FORK.Event()
    sentinel = FORK.Process(target=_sleep_on, args=(event,))
    sentinel.start()
    time.sleep(0.5)
    started = time.monotonic()
    outcome = stop_cluster(sentinel, event, wait_s=30)
    took = time.monotonic() - started
    assert outcome == "clean"
    assert took < 5
    assert sentinel.exitcode == 0


def test_a_sentinel_that_does_not_stop_in_time_is_terminated():
    event = FORK.Event()
    sentinel = FORK.Process(target=_deaf)
    sentinel.start()
    started = time.monotonic()
    outcome = stop_cluster(sentinel, event, wait_s=1)
    took = time.monotonic() - started
    assert outcome == "forced"
    assert took < 8
    assert sentinel.exitcode == -signal.SIGTERM


@pytest.mark.django_db(transaction=True)
def test_a_sigterm_to_every_process_of_the_worker_at_once_stops_it(tmp_path):
    database = WorkerDatabase(tmp_path)
    worker = start_worker(database, tmp_path, "worker")
    log = tmp_path / "worker.log"
    try:
        deadline = time.monotonic() + 90
        while "Ctrl-C stops it" not in log.read_text() and time.monotonic() < deadline:
            assert worker.poll() is None, log.read_text()[-3000:]
            time.sleep(0.2)
        assert "Ctrl-C stops it" in log.read_text()
        time.sleep(2)  # the sentinel is in its guard loop, asleep on the stop event
        cluster = descendants(worker.pid)
        assert len(cluster) >= 3, "a sentinel, its job process, monitor and pusher"
        for pid in [worker.pid, *cluster]:  # as pkill -TERM -f "kapstone worker" does
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        code = worker.wait(timeout=30)
    except BaseException:
        if worker.poll() is None:
            kill_all(worker)
        raise
    assert code == 0, log.read_text()[-3000:]
    assert "stopped." in log.read_text()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in cluster) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert not [pid for pid in cluster if alive(pid)], "a process of the cluster outlived the worker"
