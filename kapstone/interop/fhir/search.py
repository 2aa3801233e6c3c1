"""Parsing FHIR search parameter values (http://hl7.org/fhir/R4/search.html), the one home
shared by every resource module: logical ids (``12``, ``vital-12``), tokens (over one coding or
several), references, strings and dates with their prefixes.

Sources: FHIR R4 Search — §3.1.1.4.2 date (prefixes eq, ne, lt, le, gt, ge, sa, eb; a value is
an implicit range at its precision), §3.1.1.4.8 token (``system|code``, ``code``, ``system|``,
``|code``), §3.1.1.4.5 reference (``Type/id``, ``id`` or a full URL); ids:
http://hl7.org/fhir/R4/datatypes.html#id (letters, digits, ``-`` and ``.``, at most 64).

Every malformed value raises :class:`SearchError` with a stable code; nothing here reads the
database. Within one parameter a comma separates alternatives (OR); a repeated parameter
narrows (AND), as the specification says.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

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

#: The syntax of a FHIR logical id (datatypes.html#id).
_ID = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")


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


def logical_ids(name: str, value: str) -> list[str]:
    """The logical ids of an ``_id`` value (``1,2``); one that is not a FHIR id (``bad id!``) is
    ``invalid_id``."""
    out = alternatives(value)
    for item in out:
        if not _ID.match(item):
            raise SearchError("invalid_id", f"{item[:64]!r} is not a FHIR logical id.", parameter=name)
    return out


def ids(name: str, value: str) -> set[int]:
    """The primary keys of an ``_id`` value (``1,2``); ids that are not ours match nothing."""
    return {pk for pk in (pk_of(v) for v in logical_ids(name, value)) if pk is not None}


def prefixed_pk(logical_id: str, prefixes: Iterable[str]) -> tuple[str, int] | None:
    """A logical id made of a kind and a primary key (``"bp-12"`` → ``("bp", 12)``) when the kind
    is one of ``prefixes``; anything else is no record (None)."""
    if not isinstance(logical_id, str):
        return None
    kind, sep, number = logical_id.partition("-")
    pk = pk_of(number) if sep and kind in set(prefixes) else None
    return (kind, pk) if pk is not None else None


def prefixed_ids(name: str, value: str, prefixes: Iterable[str]) -> set[tuple[str, int]]:
    """The ``(kind, pk)`` of an ``_id`` value over prefixed ids (``vital-1,bp-2``); ids that are
    not ours match nothing."""
    found = (prefixed_pk(v, prefixes) for v in logical_ids(name, value))
    return {item for item in found if item is not None}


def reference_ids(name: str, value: str, resource_type: str) -> set[int]:
    """The primary keys of a reference value (``Patient/12``, ``12``, our full URL); a
    reference to another type, or to an id that cannot be ours (``Patient/abc``, ``Patient/``),
    is ``invalid_reference``; a number no record has matches nothing."""
    out: set[int] = set()
    for item in alternatives(value):
        logical_id = refs.referenced_id(item, resource_type)
        if logical_id is None or not logical_id.isascii() or not logical_id.isdigit():
            raise SearchError(
                "invalid_reference", f"{name} takes a reference to a {resource_type}.", parameter=name
            )
        pk = pk_of(logical_id)
        if pk is not None:
            out.add(pk)
    return out


def _narrow(found: set | None, more: set) -> set:
    return more if found is None else found & more


def reference_filter(params: Mapping[str, list[str]], name: str, resource_type: str) -> set[int] | None:
    """The primary keys a reference parameter allows (its values narrow one another), or None
    when the parameter is absent."""
    found: set[int] | None = None
    for value in params.get(name, []):
        found = _narrow(found, reference_ids(name, value, resource_type))
    return found


def id_filter(params: Mapping[str, list[str]]) -> set[int] | None:
    """The primary keys ``_id`` allows (repeated values narrow), or None when absent."""
    found: set[int] | None = None
    for value in params.get("_id", []):
        found = _narrow(found, ids("_id", value))
    return found


def scoped(
    rows: Any,
    params: Mapping[str, list[str]],
    *,
    clinic_ids: Iterable[int],
    clinic_field: str,
    patient_field: str = "patient_id",
) -> Any:
    """The filters every type's search shares, on a queryset of its rows: the user's clinics
    (``clinic_field``), then ``patient`` (a reference, through ``patient_field``) and ``_id``.
    The parameters are read first, so a malformed one is refused even without a clinic."""
    patient_ids = reference_filter(params, "patient", "Patient")
    wanted_ids = id_filter(params)
    rows = rows.filter(**{f"{clinic_field}__in": sorted(clinic_ids)})
    if patient_ids is not None:
        rows = rows.filter(**{f"{patient_field}__in": sorted(patient_ids)})
    if wanted_ids is not None:
        rows = rows.filter(pk__in=sorted(wanted_ids))
    return rows


def prefixed_id_filter(
    params: Mapping[str, list[str]], prefixes: Iterable[str]
) -> set[tuple[str, int]] | None:
    """The ``(kind, pk)`` pairs ``_id`` allows over prefixed ids, or None when absent."""
    found: set[tuple[str, int]] | None = None
    for value in params.get("_id", []):
        found = _narrow(found, prefixed_ids("_id", value, prefixes))
    return found


@dataclass(frozen=True)
class Token:
    system: str | None  # None: any system; "": no system
    code: str


def tokens(name: str, value: str) -> list[Token]:
    """``system|code``, ``|code`` (no system), ``system|`` (any code) or ``code``; anything
    else (``a|b|c``, ``|``) is ``invalid_token``."""
    out = []
    for item in alternatives(value):
        if item.count("|") > 1 or item == "|":
            raise SearchError(
                "invalid_token", f"{name} takes system|code, system|, |code or code.", parameter=name
            )
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


def codes_of(name: str, value: str, allowed: Iterable[str], system: str) -> set[str]:
    """The codes of a token value over one required code system (a ``status``): ``code`` or
    ``system|code``; another system, or a code not in ``allowed``, is ``invalid_status``."""
    allowed = tuple(allowed)
    found = set()
    for token in tokens(name, value):
        if token.system not in (None, system) or token.code not in allowed:
            raise SearchError(
                "invalid_status",
                f"{name} takes one of the codes {', '.join(sorted(allowed))}.",
                parameter=name,
            )
        found.add(token.code)
    return found


def codings_match(wanted: Iterable[Token], codings: Iterable[Mapping[str, Any]]) -> bool:
    """Whether one of the alternatives ``wanted`` (one parameter value) matches one of the
    ``codings`` of a resource (a CodeableConcept's, or several concepts' together)."""
    codings = list(codings)
    return any(
        token_matches(token, c.get("system", ""), c.get("code", "")) for token in wanted for c in codings
    )


# --- Dates ---------------------------------------------------------------------------------------

_DATE = re.compile(
    r"^(?P<prefix>[a-z]{2})?(?P<year>\d{4})(-(?P<month>\d{2})(-(?P<day>\d{2})"
    r"(T(?P<hour>\d{2}):(?P<minute>\d{2})(:(?P<second>\d{2})(\.(?P<fraction>\d{1,6}))?)?"
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
        fraction = match["fraction"] or ""
        stamp = datetime.fromisoformat(
            f"{day.isoformat()}T{match['hour']}:{match['minute']}:{match['second'] or '00'}"
            f"{'.' + fraction.ljust(6, '0') if fraction else ''}{zone}"
        )
        # The value's precision is its range: a minute, a second, or its last decimal.
        if fraction:
            step = timedelta(microseconds=10 ** (6 - len(fraction)))
        else:
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


def date_params(params: Mapping[str, list[str]], name: str = "date") -> list[DateParam]:
    """Every value of a date parameter (all must match: ``ge2025&date=lt2026`` is a range)."""
    return [dates(name, value) for value in params.get(name, [])]


def target_range(value: date | datetime, zone: tzinfo) -> tuple[datetime, datetime]:
    """The range a resource's time covers: an instant is itself; a date is its day in ``zone``
    (the clinic's)."""
    if isinstance(value, datetime):
        return value, value
    return (
        datetime.combine(value, time(), tzinfo=zone),
        datetime.combine(value + timedelta(days=1), time(), tzinfo=zone),
    )


def date_matches(params: Iterable[DateParam], value: date | datetime | None, zone: tzinfo) -> bool:
    """Whether a resource's time (an instant or a date) matches every date parameter (a repeated
    parameter narrows); a resource without a time matches no date parameter."""
    params = list(params)
    if not params:
        return True
    if value is None:
        return False
    lower, upper = target_range(value, zone)
    return all(range_matches(param, lower, upper, zone) for param in params)


#: Wider than any clinic's offset from UTC (at most 14 hours) plus a date target's own day.
_WINDOW_SLACK = timedelta(days=2)


def date_window(params: Iterable[DateParam]) -> tuple[datetime | None, datetime | None]:
    """A loose ``[from, to)`` window of instants for the database, wider than the exact tests of
    :func:`date_matches` (applied afterwards) whatever the clinic's zone: None where a side is
    open (``ne`` bounds nothing)."""
    lows, highs = [], []
    for param in params:
        low, high = param.instants(UTC)
        if param.prefix in ("eq", "gt", "ge", "sa"):
            lows.append(low - _WINDOW_SLACK)
        if param.prefix in ("eq", "lt", "le", "eb"):
            highs.append(high + _WINDOW_SLACK)
    return (max(lows) if lows else None, min(highs) if highs else None)
