"""Run inside a Kapstone process on the private pair (``python -m tests.scale.replica_probe …``):
the test process's own database is pytest-django's, so the pair is driven from here.

    setup              a clinic and a prescriber ``rhea``
    enrol INDEX…       a consented course for each INDEX (on the primary)
    token              prints a new API token for ``rhea``
    get PATH…          GETs each PATH as ``rhea`` (Django's test client, in this process) and
                       prints [{"status", "body"}…] as JSON
"""

from __future__ import annotations

import io
import json
import os
import sys


def main(argv: list[str]) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapstone.settings")
    import django

    django.setup()
    from django.core.management import call_command
    from django.test.utils import setup_test_environment

    from kapstone.accounts.models import Clinic, Role, User
    from tests.conftest import make_user, verified_client
    from tests.factories import ClinicFactory
    from tests.research.conftest import Spec, enrol

    command, args = argv[0], argv[1:]
    spec = Spec(arm="ketamine", window="abstinent", follow=20, relapse=None)
    if command == "setup":
        clinic = ClinicFactory(name="Replica Clinic", slug="r", timezone="America/New_York")
        make_user("rhea", clinic, Role.PRESCRIBER)
    elif command == "enrol":
        rhea, clinic = User.objects.get(username="rhea"), Clinic.objects.get(slug="r")
        for index in args:
            enrol(rhea, clinic, index=int(index), spec=spec)
    elif command == "token":
        out = io.StringIO()
        call_command("token", "create", "rhea", stdout=out)
        sys.stdout.write(out.getvalue().strip() + "\n")
    elif command == "get":
        setup_test_environment()
        client = verified_client(User.objects.get(username="rhea"))
        answers = []
        for path in args:
            response = client.get(path)
            answers.append({"status": response.status_code, "body": response.content.decode()})
        sys.stdout.write(json.dumps(answers) + "\n")
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
