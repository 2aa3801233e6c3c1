"""``kapstone hl7 listen|simulate|account``: the bedside-monitor feed over MLLP, its simulator, and
the account it acts as (docs/interop.md).

``kapstone hl7 listen --host 127.0.0.1 --port 2575 --clinic SLUG [--account USERNAME]`` resolves
the clinic and the monitor account its feed acts as (exit 2 with one line when either is
missing), prints one line once it listens, receives ORU^R01 messages until SIGTERM or SIGINT, then
finishes the messages in hand and exits 0 (kapstone/interop/hl7/mllp.py).

``kapstone hl7 simulate --host … --port … --mrn N-1004 --every 5 --count 12 [--desaturate]
[--seed N]`` sends a simulated monitor stream over one connection, one message every ``--every``
seconds, and prints each acknowledgement's code (``AA``/``AE``/``AR``) and error codes. Exit 0
when every message was accepted (``AA``), 1 otherwise, 2 when it cannot connect or for invalid
arguments.

``kapstone hl7 account --clinic SLUG --username NAME`` creates the clinic's monitor-feed account:
a user with no usable password and the ``monitor`` role in that clinic only, audited, then prints
how to give it a token (``kapstone token create NAME``). Exit 2 with one line, nothing written:
an unknown clinic, a username already taken (in any letter case) or not valid.

``simulate`` touches no database and, like the calculators, runs with no configuration: the
entry point (``kapstone/__main__.py``, ``NO_DATA``) gives it a throwaway key of its own process.
"""

from __future__ import annotations

import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connections

from kapstone.interop.hl7.mllp import DEFAULT_WORKERS, MLLPClient, serve
from kapstone.interop.hl7.simulator import MonitorFeed, ack_summary

EXIT_REFUSED = 2
EXIT_NOT_ACCEPTED = 1


def _non_negative(text: str) -> float:
    import argparse

    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a number of seconds, got {text!r}") from None
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"must be 0 or more seconds, got {text!r}")
    return value


def _positive(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {text!r}")
    return value


def _port(text: str) -> int:
    import argparse

    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a port number, got {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be a port number (0–65535), got {text!r}")
    return value


class Command(BaseCommand):
    help = (
        "Receive bedside-monitor HL7 v2 messages over MLLP (listen), or send a simulated stream (simulate)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="subcommand", required=True)
        listen = sub.add_parser("listen", help="receive ORU^R01 messages for one clinic over MLLP")
        listen.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
        listen.add_argument(
            "--port", type=_port, default=2575, help="TCP port (default 2575; 0: any free port)"
        )
        listen.add_argument("--clinic", required=True, help="the clinic's slug (e.g. north)")
        listen.add_argument(
            "--account", default=None, help="the clinic's monitor account to act as (when it has several)"
        )
        listen.add_argument(
            "--workers",
            type=_positive,
            default=DEFAULT_WORKERS,
            help=f"messages handled at once, each with a database connection (default {DEFAULT_WORKERS})",
        )
        simulate = sub.add_parser("simulate", help="send a simulated monitor stream for one patient")
        simulate.add_argument("--host", default="127.0.0.1")
        simulate.add_argument("--port", type=_port, default=2575)
        simulate.add_argument("--mrn", required=True, help="the patient's MRN (PID-3)")
        simulate.add_argument("--every", type=_non_negative, default=5.0, help="seconds between messages")
        simulate.add_argument("--count", type=_positive, default=12, help="messages to send")
        simulate.add_argument(
            "--desaturate", action="store_true", help="SpO2 falls to 86 %% over the second half of the stream"
        )
        simulate.add_argument("--seed", type=int, default=None, help="fixes the values (not the control ids)")
        simulate.add_argument("--chair", default="CHAIR-01", help="the sending facility (MSH-4)")
        account = sub.add_parser("account", help="create a clinic's monitor-feed account (role monitor only)")
        account.add_argument("--clinic", required=True, help="the clinic's slug (e.g. north)")
        account.add_argument("--username", required=True, help="the new account's username")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["subcommand"] == "listen":
            self.listen(**options)
        elif options["subcommand"] == "account":
            self.account(**options)
        else:
            self.simulate(**options)

    def account(self, *, clinic: str, username: str, **_: Any) -> None:
        from kapstone.domain.errors import DomainError
        from kapstone.interop.hl7.accounts import monitor_account_create

        try:
            user = monitor_account_create(clinic_slug=clinic, username=username)
        except DomainError as refused:
            raise CommandError(f"{refused.code}: {refused.message}", returncode=EXIT_REFUSED) from None
        self.stdout.write(
            f"Created {user.username}, the monitor-feed account of clinic {clinic}: role "
            "Bedside monitor feed (records vital signs only), no password."
        )
        self.stdout.write(f"Give it an API token (shown once): kapstone token create {user.username}")
        self.stdout.write(f"Listen as it: kapstone hl7 listen --clinic {clinic} --account {user.username}")

    def listen(
        self, *, host: str, port: int, clinic: str, account: str | None, workers: int, **_: Any
    ) -> None:
        # Imported here: the message handling lives beside this transport (receive.py).
        from kapstone.interop.hl7.receive import clinic_feed_actor, feed_handler

        try:
            feed_clinic, actor = clinic_feed_actor(clinic, account)
        except LookupError as missing:
            raise CommandError(
                str(missing).splitlines()[0] if str(missing) else "not found", returncode=2
            ) from None
        # This thread touches the database no more; the handler threads open their own connections.
        connections.close_all()

        handle_message = feed_handler(feed_clinic, actor)

        def listening(bound_host: str, bound_port: int) -> None:
            self.stdout.write(
                f"Kapstone HL7 listener on {bound_host}:{bound_port} (MLLP) for clinic {feed_clinic.slug} "
                f"as {actor.username}, {workers} thread(s). Ctrl-C stops it."
            )
            self.stdout.flush()

        try:
            server = serve(handle_message, host=host, port=port, workers=workers, on_listening=listening)
        except OSError as error:  # the address is in use, or not this machine's
            raise CommandError(
                f"cannot listen on {host}:{port}: {error.strerror or error}", returncode=2
            ) from None
        self.stdout.write(
            f"Kapstone HL7 listener stopped: {server.messages} message(s) on "
            f"{server.connections_served} connection(s)."
        )

    def simulate(
        self,
        *,
        host: str,
        port: int,
        mrn: str,
        every: float,
        count: int,
        desaturate: bool,
        seed: int | None,
        chair: str,
        **_: Any,
    ) -> None:
        try:
            feed = MonitorFeed(mrn, count=count, seed=seed, desaturate=desaturate, chair=chair)
        except ValueError as error:
            raise CommandError(str(error), returncode=2) from None
        try:
            client = MLLPClient(host, port)
        except OSError as error:
            raise CommandError(
                f"cannot connect to {host}:{port}: {error.strerror or error}", returncode=EXIT_REFUSED
            ) from None
        accepted = 0
        with client:
            for index, message in enumerate(feed.stream()):
                if index:
                    time.sleep(every)
                values = feed.values(index)
                reading = (
                    f"SpO2 {values['spo2']} % HR {values['heart_rate']} BP {values['systolic_bp']}/"
                    f"{values['diastolic_bp']} RR {values['respiratory_rate']} T {values['temperature']}"
                )
                try:
                    ack = client.send(message)
                except (OSError, TimeoutError) as error:
                    self.stdout.write(
                        f"{index + 1}/{count} {feed.control_id(index)} {reading}: no answer ({error})"
                    )
                    break
                code, _, errors = ack_summary(ack)
                accepted += code == "AA"
                self.stdout.write(
                    f"{index + 1}/{count} {feed.control_id(index)} {reading}: {code or '?'}"
                    + (f" {' '.join(errors)}" if errors else "")
                )
                self.stdout.flush()
        if accepted != count:
            raise CommandError(
                f"{accepted} of {count} message(s) accepted (AA)", returncode=EXIT_NOT_ACCEPTED
            )
        self.stdout.write(f"{count} message(s) sent, all accepted (AA).")
