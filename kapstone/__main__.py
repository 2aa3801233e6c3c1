"""The ``kapstone`` console script: Django's manage.py under Kapstone's own name.

The clinical calculators (``dose``, ``pk``, ``score``, ``screen``, ``prescreen``, ``survival``,
``abstinence``) and ``hl7 simulate`` read and write no data: they work on a fresh install with no
configuration at all. A command that needs configuration it lacks exits 2 with one line naming what is missing,
not a traceback.
"""

from __future__ import annotations

import os
import secrets
import sys

#: The commands that compute from their arguments alone (docs/cli.md).
CALCULATORS = frozenset({"dose", "pk", "score", "screen", "prescreen", "survival", "abstinence"})
#: Sub-commands that read and write no data either: the HL7 monitor simulator only sends to a
#: listener (kapstone/interop/hl7/simulator.py imports nothing of Django).
NO_DATA = frozenset({("hl7", "simulate")})

#: The exit status of a command refused for want of configuration (as for invalid input).
EXIT_CONFIGURATION = 2


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapstone.settings")
    arguments = sys.argv[1:]
    configured = os.environ.get("KAPSTONE_SECRET_KEY") or os.environ.get("KAPSTONE_SECRET_KEY_FILE")
    no_data = (arguments and arguments[0] in CALCULATORS) or tuple(arguments[:2]) in NO_DATA
    if no_data and not configured:
        # A calculator signs nothing and stores nothing: a key of this process alone lets the
        # settings load on a machine that has none.
        os.environ["KAPSTONE_SECRET_KEY"] = "calculator-" + secrets.token_urlsafe(48)
    from django.core.exceptions import ImproperlyConfigured
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(["kapstone", *arguments])
    except ImproperlyConfigured as missing:
        sys.stderr.write(f"kapstone: {missing}\n")
        sys.exit(EXIT_CONFIGURATION)


if __name__ == "__main__":
    main()
