"""Parsing of the FHIR search parameters shared by the resource modules (reference, token, date,
``_id``), raising :class:`SearchError` with a stable code for anything malformed.

Source: FHIR R4 Search, http://hl7.org/fhir/R4/search.html — §3.1.1.4.2 date (prefixes eq, lt,
le, gt, ge; a value is an implicit range at its precision), §3.1.1.4.8 token (``system|code``,
``code``, ``system|``, ``|code``), §3.1.1.4.5 reference (``Type/id`` or ``id``).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from kapstone.interop.fhir.errors import SearchError

_DATE = re.compile(r"^(\d{4})(?:-(\d{2})(?:-(\d{2}))?)?$")
_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:\d{2})$")
_PREFIXES = ("eq", "lt", "le", "gt", "ge")
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


def check_known(params: Mapping[str, list[str]], known: Iterable[str]) -> None:
    """Refuse a parameter the module does not implement (``unknown_search_parameter``)."""
    allowed = set(known)
    for name in params:
        if name not in allowed:
            raise SearchError(
                "unknown_search_parameter",
                f"Unknown search parameter {name!r}; known: {', '.join(sorted(allowed))}.",
                parameter=name,
            )


def _values(params: Mapping[str, list[str]], name: str) -> list[str]:
    """The non-empty values of a parameter; a repeated parameter is an AND, a comma an OR."""
    out = []
    for raw in params.get(name, []):
        if not isinstance(raw, str) or raw.strip() == "":
            raise SearchError("empty_search_value", f"Parameter {name!r} has no value.", parameter=name)
        out.append(raw.strip())
    return out


def patient_ids(params: Mapping[str, list[str]], name: str = "patient") -> set[int] | None:
    """The patient ids a ``patient`` parameter asks for (``Patient/12`` or ``12``; comma = OR;
    repeated = AND), or None when the parameter is absent."""
    values = _values(params, name)
    if not values:
        return None
    result: set[int] | None = None
    for value in values:
        ids = set()
        for part in value.split(","):
            ref = part.strip()
            if ref.startswith("Patient/"):
                ref = ref[len("Patient/") :]
            if not ref.isdigit() or len(ref) > 18:
                raise SearchError(
                    "invalid_reference",
                    f"Parameter {name!r} must be Patient/<id> or <id>; got {part!r}.",
                    parameter=name,
                )
            ids.add(int(ref))
        result = ids if result is None else result & ids
    return result


def ids(params: Mapping[str, list[str]]) -> set[str] | None:
    """The logical ids of ``_id`` (comma = OR; repeated = AND), or None when absent."""
    values = _values(params, "_id")
    if not values:
        return None
    result: set[str] | None = None
    for value in values:
        wanted = set()
        for part in value.split(","):
            if not _ID.match(part.strip()):
                raise SearchError("invalid_id", f"{part!r} is not a FHIR logical id.", parameter="_id")
            wanted.add(part.strip())
        result = wanted if result is None else result & wanted
    return result


@dataclass(frozen=True)
class Token:
    system: str | None  # None: any system
    code: str | None  # None: any code of the system

    def matches(self, codings: Iterable[Mapping[str, Any]]) -> bool:
        for c in codings:
            if self.system is not None and c.get("system", "") != self.system:
                continue
            if self.code is not None and c.get("code") != self.code:
                continue
            return True
        return False


def tokens(params: Mapping[str, list[str]], name: str) -> list[list[Token]] | None:
    """A token parameter as an AND-list of OR-lists, or None when absent."""
    values = _values(params, name)
    if not values:
        return None
    out = []
    for value in values:
        alternatives = []
        for part in value.split(","):
            part = part.strip()
            if part.count("|") > 1 or part in ("", "|"):
                raise SearchError(
                    "invalid_token",
                    f"Parameter {name!r} must be system|code or code; got {part!r}.",
                    parameter=name,
                )
            if "|" in part:
                system, code = part.split("|")
                alternatives.append(Token(system or "", code or None))
            else:
                alternatives.append(Token(None, part))
        out.append(alternatives)
    return out


def token_match(wanted: list[list[Token]] | None, codings: list[Mapping[str, Any]]) -> bool:
    if wanted is None:
        return True
    return all(any(t.matches(codings) for t in alternatives) for alternatives in wanted)


# --- dates ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DateTest:
    prefix: str
    low: datetime  # the value's implicit range [low, high)
    high: datetime

    def matches(self, low: datetime, high: datetime) -> bool:
        """Whether a resource whose time is the range [low, high) satisfies the test (FHIR R4
        Search §3.1.1.4.2, prefixes on ranges)."""
        if self.prefix == "eq":
            return self.low <= low and high <= self.high
        if self.prefix == "lt":
            return low < self.low
        if self.prefix == "le":
            return low < self.high
        if self.prefix == "gt":
            return high > self.high
        return high > self.low  # ge


def _add_months(value: datetime, months: int) -> datetime:
    month = value.month - 1 + months
    return value.replace(year=value.year + month // 12, month=month % 12 + 1)


def parse_date_value(raw: str, *, name: str) -> DateTest:
    prefix = raw[:2] if raw[:2] in _PREFIXES else "eq"
    value = raw[2:] if raw[:2] in _PREFIXES else raw
    bad = SearchError(
        "invalid_date",
        f"Parameter {name!r} must be [eq|lt|le|gt|ge] followed by YYYY, YYYY-MM, YYYY-MM-DD or a "
        f"dateTime with a time zone; got {raw!r}.",
        parameter=name,
    )
    match = _DATE.match(value)
    try:
        if match:
            year, month, day = match.groups()
            low = datetime(int(year), int(month or 1), int(day or 1), tzinfo=UTC)
            if day:
                high = low + timedelta(days=1)
            elif month:
                high = _add_months(low, 1)
            else:
                high = low.replace(year=low.year + 1)
            return DateTest(prefix, low, high)
        if _DATETIME.match(value):
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
            return DateTest(prefix, moment, moment + timedelta(seconds=1 if "." not in value else 0.001))
    except (ValueError, OverflowError):
        raise bad from None
    raise bad


def dates(params: Mapping[str, list[str]], name: str = "date") -> list[DateTest] | None:
    """A date parameter as an AND-list of tests, or None when absent (a comma is refused: FHIR
    allows an OR of dates but no client of ours needs it)."""
    values = _values(params, name)
    if not values:
        return None
    return [parse_date_value(value, name=name) for value in values]


def time_range(value: datetime | date) -> tuple[datetime, datetime]:
    """The range a resource's time covers: an instant is itself; a date is its UTC day."""
    if isinstance(value, datetime):
        return value, value
    low = datetime(value.year, value.month, value.day, tzinfo=UTC)
    return low, low + timedelta(days=1)


def date_match(tests: list[DateTest] | None, value: datetime | date | None) -> bool:
    if tests is None:
        return True
    if value is None:
        return False
    low, high = time_range(value)
    return all(test.matches(low, high) for test in tests)


def date_bounds(tests: list[DateTest] | None) -> tuple[datetime | None, datetime | None]:
    """A loose [from, to] window for the database, wider than the exact tests (which are applied
    afterwards): a day either side so that date-valued rows are never cut off."""
    if not tests:
        return None, None
    lows = [t.low for t in tests if t.prefix in ("gt", "ge", "eq")]
    highs = [t.high for t in tests if t.prefix in ("lt", "le", "eq")]
    slack = timedelta(days=1)
    return (max(lows) - slack if lows else None, min(highs) + slack if highs else None)


def logical_id(value: str, prefixes: Iterable[str]) -> tuple[str, int] | None:
    """``"bp-12"`` → ``("bp", 12)`` when the prefix is one of ``prefixes``; else None."""
    kind, sep, number = str(value).partition("-")
    if not sep or kind not in set(prefixes) or not number.isdigit() or len(number) > 18:
        return None
    return kind, int(number)


def plain_id(value: str) -> int | None:
    """A logical id that is our primary key (``"12"`` → 12); None for anything else."""
    text = str(value)
    return int(text) if text.isdigit() and len(text) <= 18 else None
