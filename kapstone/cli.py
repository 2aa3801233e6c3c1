"""Shared behaviour of Kapstone's own command-line tools.

Every command that computes something (``dose``, ``pk``, ``score``, ``screen``, ``survival``,
``abstinence``) takes ``--json`` and answers invalid input with exit status 2 and, in JSON mode,
``{"error": {"code", "message", "field"}}`` on stdout. Argument-parsing errors (a missing flag,
an unknown option) take the same path, so scripts see one error shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from kapstone.domain.errors import DomainError

EXIT_INVALID_INPUT = 2


class _JsonErrorParser(CommandParser):
    """An argparse parser that reports errors as DomainError instead of exiting."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise DomainError("invalid_arguments", message)


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        # Decimal keeps exact clinical amounts; JSON readers get a number, not a string.
        return float(value) if value != value.to_integral_value() else int(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def dumps(payload: Any) -> str:
    """JSON with Decimals as numbers, keys in the order given."""
    return json.dumps(payload, default=_json_default)


def parse_decimal(raw: str | None, *, field: str, code: str = "invalid_number") -> Decimal | None:
    """Parse a command-line number exactly; refuse NaN, infinities and junk with a DomainError."""
    if raw is None:
        return None
    try:
        value = Decimal(raw.strip())
    except (InvalidOperation, AttributeError):
        raise DomainError(code, f"{field} must be a number, got {raw!r}.", field=field) from None
    if not value.is_finite():
        raise DomainError(code, f"{field} must be a finite number, got {raw!r}.", field=field)
    return value


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are not JSON; Python's parser would otherwise accept them.
    raise ValueError(f"{name} is not valid JSON")


def read_answers(path: str) -> Mapping[str, Any]:
    """The ``answers`` object of the JSON file at ``path``, or DomainError.

    Codes: ``file_unreadable`` (missing, a directory, no permission, not UTF-8),
    ``invalid_json``, ``missing_answers`` (no top-level object with an ``answers`` key).
    """
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        reason = error.strerror if isinstance(error, OSError) and error.strerror else "not UTF-8 text"
        raise DomainError("file_unreadable", f"Cannot read {path}: {reason}.", field="file") from None
    try:
        payload = json.loads(text, parse_constant=_refuse_constant)
    except ValueError as error:
        raise DomainError("invalid_json", f"{path} is not valid JSON: {error}.", field="file") from None
    if not isinstance(payload, dict) or "answers" not in payload:
        raise DomainError(
            "missing_answers", f'{path} must hold an object with an "answers" key.', field="answers"
        )
    return payload["answers"]


class JsonCommand(BaseCommand):
    """Base for commands whose result is a JSON-able dict and whose refusals are DomainErrors.

    Subclasses implement ``add_command_arguments(parser)``, ``compute(**options) -> dict`` and
    ``render_text(result) -> str``.
    """

    def create_parser(self, prog_name: str, subcommand: str, **kwargs: Any) -> CommandParser:
        kwargs.setdefault("formatter_class", None)
        kwargs.pop("formatter_class")
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.__class__ = _JsonErrorParser
        return parser

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="machine-readable JSON output")
        self.add_command_arguments(parser)

    def add_command_arguments(self, parser: CommandParser) -> None:  # pragma: no cover - abstract
        raise NotImplementedError

    def compute(self, **options: Any) -> dict[str, Any]:  # pragma: no cover - abstract
        raise NotImplementedError

    def render_text(self, result: dict[str, Any]) -> str:
        return dumps(result)

    def run_from_argv(self, argv: list[str]) -> None:
        try:
            super().run_from_argv(argv)
        except DomainError as error:
            # Raised while parsing arguments, before handle() knew whether --json was asked.
            self._report(error, as_json="--json" in argv)
            raise SystemExit(EXIT_INVALID_INPUT) from None

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            result = self.compute(**options)
        except DomainError as error:
            if options.get("json"):
                self.stdout.write(dumps(error.as_dict()))
            # Django prints a CommandError on stderr as "CommandError: …" and exits with its code.
            raise CommandError(f"[{error.code}] {error.message}", returncode=EXIT_INVALID_INPUT) from error
        if options.get("json"):
            self.stdout.write(dumps(result))
        else:
            self.stdout.write(self.render_text(result))

    def _report(self, error: DomainError, *, as_json: bool) -> None:
        if as_json:
            self.stdout.write(dumps(error.as_dict()))
        else:
            self.stderr.write(f"error [{error.code}]: {error.message}")
