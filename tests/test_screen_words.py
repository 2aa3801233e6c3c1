"""Every page of the demo speaks the clinic's language.

Seeds the demo (few patients), then, as each staff role of each clinic, walks every page reachable
by following links from the home page (GET only, a few instances of each route) and fails when a
page shows, in its visible text:

* a snake_case code (``bp_rise_from_baseline``, ``weight_out_of_range``) outside ``<code>``,
  ``<script>``, ``<style>`` and attributes that are not read out (data-*, value, name, id …);
* a reference to an internal document (``clinical.md``, ``§3.2``, "Issue 5", a commit hash);
* ``True`` or ``False`` as a word, or ``None`` as a value.

Codes belong to the API, the CLI, the audit trail and the docs; screens are read by clinicians.
"""

from __future__ import annotations

import re
from collections import defaultdict
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

import pytest
from django.test import Client
from django.urls import Resolver404, resolve

from kapstone.accounts.models import Role, User
from kapstone.demo.seed import CLINICS, STAFF, seed_demo
from tests.conftest import verified_client

pytestmark = [pytest.mark.django_db, pytest.mark.full_demo]

SNAKE = re.compile(r"(?<![\w./@-])[a-z][a-z0-9]*(?:_[a-z0-9]+)+(?![\w@]|\.\w)")
INTERNAL = re.compile(
    r"clinical\.md|software\.md|security\.md|style-anchors\.md|DESIGN\.md|\b\w+\.md\b|(?<!CFR )(?<!CFR)§\s*\d"
    r"|\b[Ii]ssue\s+#?\d+|\bcommit\s+[0-9a-f]{7,40}\b|opentiva/",
)
# "None due." is English; "Escort: None" or "(None)" is Python leaking through.
PYTHON_WORDS = re.compile(r"\b(True|False)\b|^\s*None\s*$|[:=(]\s*None\b")

# Text in these elements is not read as prose: code samples and machine data.
SKIP_ELEMENTS = {"code", "script", "style", "kbd", "samp", "template"}
# Attributes a sighted user or a screen reader is given as text.
READ_ATTRIBUTES = {"title", "placeholder", "aria-label", "alt", "aria-description"}
VOID_ELEMENTS = {
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr",
}  # fmt: skip

# Links never followed: they change state on GET (none should), leave the app, or download files.
NOT_FOLLOWED = re.compile(r"^/(accounts/logout|api/|static/)|\.csv|[?&](format|download)=")
PER_ROUTE = 8  # instances of one route walked per user (enough to see each template's states)


class VisibleText(HTMLParser):
    """The text a reader sees, and the links on the page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.skip_depth = 0
        self.stack: list[str] = []
        self.chunks: list[str] = []
        self.links: list[str] = []

    def handle_starttag(self, tag, attrs):
        attributes = dict(attrs)
        if tag == "a" and attributes.get("href"):
            self.links.append(attributes["href"])
        if tag in VOID_ELEMENTS:
            if self.skip_depth == 0:
                self._attributes(attributes)
            return
        self.stack.append(tag)
        if tag in SKIP_ELEMENTS:
            self.skip_depth += 1
        elif self.skip_depth == 0:
            self._attributes(attributes)

    def _attributes(self, attributes: dict) -> None:
        for name in READ_ATTRIBUTES & attributes.keys():
            if attributes[name]:
                self.chunks.append(attributes[name])

    def handle_endtag(self, tag):
        if tag in VOID_ELEMENTS or tag not in self.stack:
            return
        while self.stack:
            top = self.stack.pop()
            if top in SKIP_ELEMENTS:
                self.skip_depth -= 1
            if top == tag:
                break

    def handle_data(self, data):
        if self.skip_depth == 0 and data.strip():
            self.chunks.append(data)


def page_problems(html: str) -> tuple[list[str], list[str]]:
    """(problems in the visible text, links on the page)."""
    parser = VisibleText()
    parser.feed(html)
    problems = []
    for chunk in parser.chunks:
        text = " ".join(chunk.split())
        for pattern, what in (
            (SNAKE, "code"),
            (INTERNAL, "internal reference"),
            (PYTHON_WORDS, "Python word"),
        ):
            for match in pattern.finditer(text):
                start = max(0, match.start() - 40)
                problems.append(f"{what} {match.group(0)!r} in “…{text[start : match.end() + 40]}…”")
    return problems, parser.links


def route_name(path: str) -> str | None:
    try:
        match = resolve(path)
    except Resolver404:
        return None
    return match.view_name


def walk_as(user: User | None, start: str = "/") -> tuple[dict[str, list[str]], set[str]]:
    """Problems found per URL, and the route names seen (``user`` None: an anonymous visitor)."""
    client = verified_client(user) if user is not None else Client()
    queue = [start]
    seen_urls: set[str] = set()
    per_route: dict[str, int] = defaultdict(int)
    problems: dict[str, list[str]] = {}
    routes: set[str] = set()
    while queue:
        url = queue.pop(0)
        if url in seen_urls:
            continue
        seen_urls.add(url)
        name = route_name(urlsplit(url).path)
        if name is None or per_route[name] >= PER_ROUTE:
            continue
        per_route[name] += 1
        response = client.get(url)
        assert response.status_code < 500, f"{user or 'visitor'}: {url} answered {response.status_code}"
        if response.status_code in (301, 302) and response["Location"].startswith("/"):
            queue.append(response["Location"])
            continue
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        routes.add(name)
        found, links = page_problems(response.content.decode())
        if found:
            problems[url] = found
        for href in links:
            target = urljoin(url, href)
            parts = urlsplit(target)
            if parts.netloc and parts.netloc != "testserver":
                continue
            local = parts.path + (f"?{parts.query}" if parts.query else "")
            if not NOT_FOLLOWED.search(local) and local not in seen_urls:
                queue.append(local)
    return problems, routes


def test_the_text_checker_finds_what_it_must():
    html = (
        "<p>Alert: bp_rise_from_baseline</p><p>See clinical.md §3.2 and Issue 5</p>"
        "<p>Escort met (True)</p><code>weight_out_of_range</code>"
        '<span data-code="vitals_overdue" title="minimum_observation">ok</span>'
        "<p>noor.nurse@example.org N-1004 2.5 mg/kg</p>"
    )
    problems, _ = page_problems(html)
    joined = "\n".join(problems)
    assert "'bp_rise_from_baseline'" in joined
    assert "'clinical.md'" in joined and "'§3'" in joined and "'Issue 5'" in joined
    assert "'True'" in joined
    assert "'minimum_observation'" in joined  # a title is read out
    assert "weight_out_of_range" not in joined  # inside <code>
    assert "vitals_overdue" not in joined  # a data attribute
    assert len(problems) == 6, joined


def test_every_page_of_the_demo_speaks_the_clinics_language():
    seed_demo(patients_per_clinic=10, follow_up_per_protocol=1)
    report = []
    for _name, short, _tz, _prefix in CLINICS:
        for role, prefix, _given, _family in STAFF:
            if role == Role.MONITOR:
                continue  # a device account: it reaches no page (tests/interop/test_hl7_monitor_role.py)
            user = User.objects.get(username=f"{prefix}.{short}")
            problems, routes = walk_as(user)
            assert len(routes) >= 3, f"{user.username} reached only {sorted(routes)}"
            for url, found in problems.items():
                report.append(f"{user.username} {url}")
                report.extend(f"    {line}" for line in found[:8])
    # The public pre-screen, in both languages, as a visitor finds it.
    for start in ("/start/", "/start/?lang=es"):
        problems, routes = walk_as(None, start)
        assert "portal:start" in routes and "portal:privacy" in routes
        for url, found in problems.items():
            report.append(f"visitor {url}")
            report.extend(f"    {line}" for line in found[:8])
    assert not report, "Pages show codes or internal references:\n" + "\n".join(report)
