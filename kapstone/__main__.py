"""The ``kapstone`` console script: Django's manage.py under Kapstone's own name."""

from __future__ import annotations

import os
import sys


def main() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "kapstone.settings")
    from django.core.management import execute_from_command_line

    execute_from_command_line(["kapstone", *sys.argv[1:]])


if __name__ == "__main__":
    main()
