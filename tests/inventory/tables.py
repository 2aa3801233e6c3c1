"""Read an HTML table as a clinician or an inspector reads it: one dict per body row, keyed by
the column headings, each cell's visible text with its white space collapsed."""

from __future__ import annotations

import re
from html.parser import HTMLParser


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: list[dict[str, list]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None
        self._section = ""

    def handle_starttag(self, tag, attrs):
        if self._cell is not None:
            self._cell.append(" ")  # a <div> or <br> inside a cell separates words
        if tag == "table":
            self.tables.append({"head": [], "rows": []})
        elif tag in ("thead", "tbody"):
            self._section = tag
        elif tag == "tr":
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if self._cell is not None and tag not in ("td", "th"):
            self._cell.append(" ")
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(re.sub(r"\s+", " ", "".join(self._cell)).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self.tables:
            key = "head" if self._section == "thead" else "rows"
            if key == "head":
                self.tables[-1]["head"] = self._row
            else:
                self.tables[-1]["rows"].append(self._row)
            self._row = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def table_rows(html: str, *, index: int = 0) -> list[dict[str, str]]:
    """The body rows of the ``index``-th table of the page, keyed by its column headings."""
    parser = _Tables()
    parser.feed(html)
    table = parser.tables[index]
    return [dict(zip(table["head"], row, strict=False)) for row in table["rows"]]


def first_number(text: str) -> str:
    """The first number in a cell (``"99868.0 1997.36 mL · …"`` → ``"99868.0"``)."""
    match = re.search(r"-?[\d,]+(?:\.\d+)?", text)
    assert match, text
    return match.group(0).replace(",", "")
