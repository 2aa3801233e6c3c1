"""Parsing of research CSV files (exported or external data) for the survival and abstinence analyses.

The functions take the file's *text*, so they are testable without files; the CLI reads the
file and passes the text. Every malformed value is refused with a DomainError naming the data
row (1 = first row after the header), the file line and the column; ``field`` is the column name.
"""

from __future__ import annotations

import csv
import io
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

from kapstone.domain.errors import DomainError

# A plain decimal number: float() alone would also take "1_000", "nan" and "infinity".
_NUMBER = re.compile(r"[+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?")


@dataclass(frozen=True)
class SurvivalData:
    """One row per patient: time (≥ 0, finite), event (1 = relapse, 0 = censored), group or None."""

    times: tuple[float, ...]
    events: tuple[int, ...]
    groups: tuple[str, ...] | None


@dataclass(frozen=True)
class AbstinenceData:
    """One row per patient: group, and abstinent True/False or None (blank = missing)."""

    groups: tuple[str, ...]
    abstinent: tuple[bool | None, ...]


@dataclass(frozen=True)
class _Cell:
    value: str
    row: int
    line: int
    column: str

    def refuse(self, why: str) -> DomainError:
        return DomainError(
            "invalid_value",
            f"Row {self.row} (line {self.line}), column {self.column!r}: {why}, got {self.value!r}.",
            field=self.column,
        )


def _read(text: object, columns: Sequence[str]) -> list[dict[str, _Cell]]:
    """Rows as {column: cell} for the requested columns, after checking the header."""
    if not isinstance(text, str):
        raise DomainError("file_unreadable", "The data must be text.", field="file")
    text = text.removeprefix("\ufeff")
    if not text.strip():
        raise DomainError(
            "empty_file", "The file is empty: it needs a header row and data rows.", field="file"
        )
    # strict: a stray quote is an error, not silently part of a value.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        header = [name.strip() for name in next(reader)]
        positions: dict[str, int] = {}
        for column in columns:
            if header.count(column) > 1:
                raise DomainError(
                    "duplicate_column",
                    f"Column {column!r} appears more than once in the header.",
                    field=column,
                )
            if column not in header:
                raise DomainError(
                    "missing_column",
                    f"Column {column!r} is not in the header (columns: {', '.join(header) or 'none'}).",
                    field=column,
                )
            positions[column] = header.index(column)
        rows: list[dict[str, _Cell]] = []
        for record in reader:
            if not any(value.strip() for value in record):
                continue  # blank line
            number = len(rows) + 1
            rows.append(
                {
                    column: _Cell(
                        value=record[index].strip() if index < len(record) else "",
                        row=number,
                        line=reader.line_num,
                        column=column,
                    )
                    for column, index in positions.items()
                }
            )
    except csv.Error as error:
        raise DomainError(
            "file_unreadable", f"Not a readable CSV file (line {reader.line_num}): {error}.", field="file"
        ) from None
    if not rows:
        raise DomainError("empty_file", "The file has a header but no data rows.", field="file")
    return rows


def _check_column_name(value: object, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise DomainError("invalid_arguments", f"{field} must name a column, got {value!r}.", field=field)
    return value.strip()


def _check_distinct(columns: list[str]) -> None:
    if len(set(columns)) != len(columns):
        raise DomainError(
            "invalid_arguments",
            f"Each analysis column must be different: {', '.join(columns)}.",
            field="columns",
        )


def _group(cell: _Cell) -> str:
    if not cell.value:
        raise cell.refuse("the group is blank")
    return cell.value


def parse_survival_csv(
    text: str, *, time_column: str, event_column: str, group_column: str | None = None
) -> SurvivalData:
    """Times, events and optional groups from CSV text.

    Refusals: ``empty_file``, ``file_unreadable``, ``missing_column``, ``duplicate_column``, and
    ``invalid_value`` for a time that is blank, not a number, not finite or negative, an event
    other than 0 or 1, or a blank group.
    """
    time_column = _check_column_name(time_column, "time_column")
    event_column = _check_column_name(event_column, "event_column")
    columns = [time_column, event_column]
    if group_column is not None:
        group_column = _check_column_name(group_column, "group_column")
        columns.append(group_column)
    times: list[float] = []
    events: list[int] = []
    groups: list[str] = []
    _check_distinct(columns)
    for row in _read(text, columns):
        cell = row[time_column]
        if not _NUMBER.fullmatch(cell.value):
            raise cell.refuse("the time must be a number")
        time = float(cell.value)
        if not math.isfinite(time):
            raise cell.refuse("the time must be a finite number")
        if time < 0:
            raise cell.refuse("the time must not be negative")
        cell = row[event_column]
        if cell.value not in ("0", "1"):
            raise cell.refuse("the event must be 1 (relapse) or 0 (censored)")
        times.append(time)
        events.append(int(cell.value))
        if group_column is not None:
            groups.append(_group(row[group_column]))
    return SurvivalData(
        times=tuple(times), events=tuple(events), groups=tuple(groups) if group_column is not None else None
    )


def parse_abstinence_csv(text: str, *, group_column: str, abstinent_column: str) -> AbstinenceData:
    """Groups and abstinence outcomes from CSV text: 1 = abstinent, 0 = not, blank = missing.

    Refusals: ``empty_file``, ``file_unreadable``, ``missing_column``, ``duplicate_column``, and
    ``invalid_value`` for an abstinent value other than 0, 1 or blank, or a blank group.
    """
    group_column = _check_column_name(group_column, "group_column")
    abstinent_column = _check_column_name(abstinent_column, "abstinent_column")
    groups: list[str] = []
    outcomes: list[bool | None] = []
    _check_distinct([group_column, abstinent_column])
    for row in _read(text, [group_column, abstinent_column]):
        groups.append(_group(row[group_column]))
        cell = row[abstinent_column]
        if cell.value not in ("0", "1", ""):
            raise cell.refuse("abstinent must be 1, 0 or blank (missing)")
        outcomes.append(None if cell.value == "" else cell.value == "1")
    return AbstinenceData(groups=tuple(groups), abstinent=tuple(outcomes))
