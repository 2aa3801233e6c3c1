"""``kapstone seed_demo``: load the fictional demo (idempotent) and print the demo logins."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from kapstone.accounts.models import Role, User
from kapstone.demo.seed import CLINICS, DEMO_PASSWORD, STAFF, seed_demo


class Command(BaseCommand):
    help = "Create the demo clinics, staff and fictional patients (safe to run again)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--patients-per-clinic", type=int, default=40)

    def handle(self, *args: Any, **options: Any) -> None:
        summary = seed_demo(patients_per_clinic=options["patients_per_clinic"])
        self.stdout.write(
            f"Demo ready: {summary.clinics} clinics, {summary.staff} staff, "
            f"{summary.patients_total} patients ({summary.patients_created} new)."
        )
        self.stdout.write("")
        self.stdout.write(f"Demo logins (password for all: {DEMO_PASSWORD}):")
        for role, prefix, *_rest in STAFF:
            if role == Role.MONITOR:
                continue  # a device account: no password, listed below
            names = "  ".join(f"{prefix}.{short}" for _, short, _, _ in CLINICS)
            self.stdout.write(f"  {names}")
        patients = [
            f"patient.{short}"
            for _, short, _, _ in CLINICS
            if User.objects.filter(username=f"patient.{short}").exists()
        ]
        monitors = "  ".join(f"monitor.{short}" for _, short, _, _ in CLINICS)
        self.stdout.write(
            f"  {monitors}   (bedside-monitor feeds: no sign-in; `kapstone token create "
            'monitor.north --name "Chair 3 monitor"`)'
        )
        if patients:
            self.stdout.write(f"  {'  '.join(patients)}   (patients: the portal at /portal/)")
