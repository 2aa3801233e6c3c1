"""Reading rendered monitoring pages as a clinician sees them: the visible text of a part of the
page, the block of one form field, and whether a snake_case code shows anywhere in the text."""

from __future__ import annotations

import re
from html.parser import HTMLParser

#: A stable code as the API writes it (``bp_rise_from_baseline``): never visible on a screen.
SNAKE_CASE = re.compile(r"\b[a-z][a-z0-9]*(?:_[a-z0-9]+)+\b")


class _Text(HTMLParser):
    """Collects the text a reader sees: no tags, attributes, scripts or styles; ``<code>`` kept out
    too (a code shown as code is deliberate, e.g. an MRN format)."""

    SKIP = {"script", "style", "code", "template"}

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.skipping = 0

    def handle_starttag(self, tag, attrs):  # type: ignore[no-untyped-def]
        if tag in self.SKIP:
            self.skipping += 1

    def handle_endtag(self, tag):  # type: ignore[no-untyped-def]
        if tag in self.SKIP and self.skipping:
            self.skipping -= 1

    def handle_data(self, data):  # type: ignore[no-untyped-def]
        if not self.skipping:
            self.parts.append(data)


def visible_text(html: str | bytes) -> str:
    parser = _Text()
    parser.feed(html.decode() if isinstance(html, bytes) else html)
    return " ".join(" ".join(parser.parts).split())


def codes_shown(html: str | bytes) -> list[str]:
    """The snake_case codes a reader would see in ``html`` (empty when it speaks words)."""
    return SNAKE_CASE.findall(visible_text(html))


def section(html: str | bytes, start_marker: str) -> str:
    """The ``<section>`` that opens with ``start_marker`` (e.g. ``class="panel monitoring"``)."""
    text = html.decode() if isinstance(html, bytes) else html
    begin = text.index(start_marker)
    begin = text.rindex("<section", 0, begin)
    depth, position = 0, begin
    for match in re.finditer(r"<(/?)section\b", text[begin:]):
        depth += -1 if match.group(1) else 1
        if depth == 0:
            position = begin + match.end()
            break
    return text[begin : text.index(">", position) + 1]


def field_block(html: str | bytes, name: str) -> str:
    """The ``<div class="field …">`` holding the input ``name``, with its label and errors."""
    text = html.decode() if isinstance(html, bytes) else html
    at = text.index(f'name="{name}"')
    begin = text.rindex('<div class="field', 0, at)
    end = text.find('<div class="field', at)
    return text[begin : end if end != -1 else len(text)]
