"""Parsing FHIR search parameter values (http://hl7.org/fhir/R4/search.html), shared by the
resource modules: logical ids, tokens, references, strings and dates with their prefixes.

Every malformed value raises :class:`SearchError` with a stable code; nothing here reads the
database. Within one parameter a comma separates alternatives (OR); a repeated parameter
narrows (AND), as the specification says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta, tzinfo

from kapstone.forms import RECORD_ID_MAX
from kapstone.interop.fhir import refs
from kapstone.interop.fhir.errors import SearchError

#: Longest search value we read (a name, a date, a reference): longer is malformed.
VALUE_MAX_CHARS = 200

#: The most values one search reads (repeated parameters together), and the most alternatives
#: (``a,b,c``) in one value: beyond, a query is refused rather than sent to the database as an
#: expression too large to plan.
VALUES_MAX = 20
ALTERNATIVES_MAX = 50

#: The date prefixes (search.html#prefix). ``ap`` (approximately) is not supported.
DATE_PREFIXES = ("eq", "ne", "lt", "le", "gt", "ge", "sa", "eb")


def check_params(params: Mapping[str, list[str]], allowed: Iterable[str]) -> None:
    """Refuse a parameter the resource does not support (a modifier such as ``name:exact``
    included): ``unknown_search_parameter``; an empty or oversized value: ``invalid_value``;
    more than :data:`VALUES_MAX` values or :data:`ALTERNATIVES_MAX` alternatives in one:
    ``too_many_parameters``, ``too_many_values``."""
    allowed = set(allowed)
    if sum(len(values) for values in params.values()) > VALUES_MAX:
        raise SearchError("too_many_parameters", f"A search takes at most {VALUES_MAX} parameter values.")
    for name, values in params.items():
        if name not in allowed:
            raise SearchError(
                "unknown_search_parameter",
                f"The search parameter {name[:60]!r} is not supported here.",
                parameter=name[:60],
            )
        for value in values:
            if not value.strip() or len(value) > VALUE_MAX_CHARS or "\x00" in value:
                raise SearchError(
                    "invalid_value", f"The value of {name} is empty or malformed.", parameter=name
                )
            if value.count(",") >= ALTERNATIVES_MAX:
                raise SearchError(
                    "too_many_values", f"{name} takes at most {ALTERNATIVES_MAX} values.", parameter=name
                )


def alternatives(value: str) -> list[str]:
    """``a,b`` → ``["a", "b"]`` (``\\,`` is a literal comma)."""
    parts = re.split(r"(?<!\\),", value)
    return [p.replace("\\,", ",").strip() for p in parts if p.strip()]


def pk_of(logical_id: str) -> int | None:
    """Our logical ids are primary keys: a whole number from 1 to the largest the databases
    hold; anything else is no record (None)."""
    if not isinstance(logical_id, str) or not logical_id.isascii() or not logical_id.isdigit():
        return None
    if len(logical_id) > 19:
        return None
    pk = int(logical_id)
    return pk if 1 <= pk <= RECORD_ID_MAX else None


def ids(name: str, value: str) -> set[int]:
    """The primary keys of an ``_id`` value (``1,2``); ids that are not ours match nothing."""
    return {pk for pk in (pk_of(v) for v in alternatives(value)) if pk is not None}


def reference_ids(name: str, value: str, resource_type: str) -> set[int]:
    """The primary keys of a reference value (``Patient/12``, ``12``, our full URL); a
    reference to another type is ``invalid_reference``."""
    out: set[int] = set()
    for item in alternatives(value):
        logical_id = refs.referenced_id(item, resource_type)
        if logical_id is None:
            raise SearchError(
                "invalid_reference", f"{name} takes a reference to a {resource_type}.", parameter=name
            )
        pk = pk_of(logical_id)
        if pk is not None:
            out.add(pk)
    return out


@dataclass(frozen=True)
class Token:
    system: str | None  # None: any system; "": no system
    code: str


def tokens(name: str, value: str) -> list[Token]:
    """``system|code``, ``|code`` (no system), ``system|`` (any code) or ``code``."""
    out = []
    for item in alternatives(value):
        if "|" in item:
            system, _, code = item.partition("|")
            out.append(Token(system, code))
        else:
            out.append(Token(None, item))
    return out


def token_matches(token: Token, system: str, code: str) -> bool:
    if token.system is not None and token.system != system:
        return False
    return token.code == "" or token.code == code


# --- Dates ---------------------------------------------------------------------------------------

_DATE = re.compile(
    r"^(?P<prefix>[a-z]{2})?(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(\.\d{1,6})?)?"
    r"(?P<zone>Z|[+-]\d{2}:\d{2}))?)?)?$"
)


@dataclass(frozen=True)
class DateParam:
    """A date search value: its prefix and the range its precision covers, ``[lower, upper)``.

    Without a time the bounds are dates (to be placed in the clinic's time zone by the caller:
    :meth:`instants`); with a time they are aware datetimes."""

    prefix: str
    lower: date | datetime
    upper: date | datetime

    @property
    def has_time(self) -> bool:
        return isinstance(self.lower, datetime)

    def instants(self, zone: tzinfo) -> tuple[datetime, datetime]:
        if self.has_time:
            return self.lower, self.upper  # type: ignore[return-value]
        return (
            datetime.combine(self.lower, time(), tzinfo=zone),
            datetime.combine(self.upper, time(), tzinfo=zone),
        )


def _invalid_date(name: str) -> SearchError:
    return SearchError(
        "invalid_date",
        f"{name} takes a date (YYYY, YYYY-MM, YYYY-MM-DD, or a time with its offset) with an "
        f"optional prefix ({', '.join(DATE_PREFIXES)}).",
        parameter=name,
    )


def dates(name: str, value: str) -> DateParam:
    """One date value (no comma alternatives for dates: a range is two parameters)."""
    match = _DATE.match(value.strip())
    if match is None:
        raise _invalid_date(name)
    prefix = match["prefix"] or "eq"
    if prefix not in DATE_PREFIXES:
        raise _invalid_date(name)
    try:
        year = int(match["year"])
        if not 1 <= year <= 9998:
            raise ValueError
        if match["month"] is None:
            return DateParam(prefix, date(year, 1, 1), date(year + 1, 1, 1))
        month = int(match["month"])
        if match["day"] is None:
            start = date(year, month, 1)
            return DateParam(prefix, start, date(year + month // 12, month % 12 + 1, 1))
        day = date(year, month, int(match["day"]))
        if match["hour"] is None:
            return DateParam(prefix, day, day + timedelta(days=1))
        if match["zone"] is None:
            raise ValueError
        zone = "+00:00" if match["zone"] == "Z" else match["zone"]
        stamp = datetime.fromisoformat(
            f"{day.isoformat()}T{match['hour']}:{match['minute']}:{match['second'] or '00'}{zone}"
        )
        step = timedelta(seconds=1) if match["second"] else timedelta(minutes=1)
        return DateParam(prefix, stamp, stamp + step)
    except (ValueError, OverflowError):
        raise _invalid_date(name) from None


def range_matches(param: DateParam, lower, upper, zone: tzinfo | None = None) -> bool:
    """Whether a target range ``[lower, upper)`` (upper None: still open) matches ``param``
    with the range semantics of search.html#prefix: ``eq`` the search range contains the target,
    ``gt``/``lt`` the target reaches beyond it, ``sa``/``eb`` lies wholly after/before it."""
    if zone is not None:
        p_low, p_high = param.instants(zone)
    else:
        p_low, p_high = param.lower, param.upper
    contained = lower >= p_low and upper is not None and upper <= p_high
    after = upper is None or upper > p_high
    before = lower < p_low
    return {
        "eq": contained,
        "ne": not contained,
        "gt": after,
        "lt": before,
        "ge": after or contained,
        "le": before or contained,
        "sa": lower >= p_high,
        "eb": upper is not None and upper <= p_low,
    }[param.prefix]
