"""No request BODY answers 500, and a refused one writes nothing.

(tests/security/test_hostile_input.py does the same for query strings and path numbers.)

API: every operation with a JSON body gets a body built from the OpenAPI document (every
property, valid-looking), then each top-level field in turn replaced by a NUL-containing string,
10^23, a 100 kB string, a list or left out; then every field at once by -1, an object, a boolean,
a string of digits and a script tag. Each answer is a success or the error shape
(``{"error": {"code", "message", "field"}}``), never a 500, and a refusal (4xx) leaves every
table's row count as it was. The caller is a member of the first demo clinic allowed to call the
operation, the path's ids that clinic's records (the world of ``test_access_matrix``).

Web: every staff page that shows a form on GET (parsed with the standard library's HTML parser:
the ``<form method="post">`` posting to the page itself, its inputs, text areas and selects) is
posted with each field in turn replaced by a NUL-containing string, 10^23, a 100 kB string and a
script tag, then with every field at once -1 and empty. Never a 500; when the page answers with
the form again (a refusal) no row is written; a script tag accepted as text is shown escaped,
never as markup (on the page that answers or the one it redirects to).
"""

from __future__ import annotations

import copy
import json
from html.parser import HTMLParser

import pytest

from kapstone.accounts.access import PATIENT, PUBLIC
from kapstone.accounts.models import Role
from tests.security.test_access_matrix import (
    API,
    WEB,
    NoRule,
    Route,
    World,
    changed,
    check_route,
    fill,
    row_counts,
)
from tests.security.test_object_scope import SCHEMA, _resolve, example

SCRIPT = "<script>alert(1)</script>"
BIG = 10**23
LONG = "x" * 100_000
ROLE_ORDER = (Role.PRESCRIBER, Role.NURSE, Role.ADMIN, Role.THERAPIST, Role.RESEARCHER)

#: One field at a time (API).
API_EACH = {"nul": "a\x00b", "huge": BIG, "long": LONG, "list": ["x"], "missing": ...}
#: Every field at once (API).
API_ALL = {"negative": -1, "object": {"x": 1}, "bool": True, "digits": "12", "script": SCRIPT}
#: One field at a time (web form).
WEB_EACH = {"nul": "a\x00b", "huge": str(BIG), "long": LONG, "script": SCRIPT}
#: Every field at once (web form).
WEB_ALL = {"negative": "-1", "empty": ""}


def actor_for(world: World, route: Route):
    """The first demo clinic's member allowed to use ``route`` (prescriber first)."""
    role = next(role for role in ROLE_ORDER if role in route.access)
    return next(a for a in world.actors if a.name == f"{role}.north")


def north_ids(world: World, route: Route) -> dict[str, int]:
    clinic_id, ids = world.cases(route)[0]
    assert clinic_id in (None, world.clinics["north"].pk)
    return ids


# --- API --------------------------------------------------------------------------------------


def full_example(schema: dict):
    """A value for ``schema`` with every property of an object (not only the required ones)."""
    schema = _resolve(schema)
    if schema.get("type") == "object" and "properties" in schema:
        return {name: full_example(sub) for name, sub in schema["properties"].items()}
    if schema.get("type") == "array" and "items" in schema:
        return [full_example(schema["items"]) for _ in range(max(1, schema.get("minItems", 0)))]
    return example(schema)


def operation_body_schema(route: Route) -> dict | None:
    path = route.pattern.replace("{int:", "{")
    operation = SCHEMA["paths"][path][route.method.lower()]
    content = operation.get("requestBody", {}).get("content", {}).get("application/json")
    return content["schema"] if content else None


def api_bodies(schema: dict) -> list[tuple[str, object]]:
    base = full_example(schema)
    if not isinstance(base, dict):
        return [
            ("whole body " + name, value)
            for name, value in {**API_EACH, **API_ALL}.items()
            if value is not ...
        ]
    bodies: list[tuple[str, object]] = [("valid-looking", base)]
    for field in base:
        for name, value in API_EACH.items():
            body = copy.deepcopy(base)
            if value is ...:
                del body[field]
            else:
                body[field] = value
            bodies.append((f"{field}={name}", body))
    for name, value in API_ALL.items():
        bodies.append((f"all={name}", dict.fromkeys(base, value)))
    return bodies


API_WITH_BODY = [r for r in API if r.method != "GET" and r.access not in (PUBLIC, PATIENT)]


@pytest.mark.django_db
def test_hostile_api_bodies():
    world = World()
    failures: list[str] = []
    sent = 0
    for route in API_WITH_BODY:
        check_route(route)
        schema = operation_body_schema(route)
        if schema is None:
            continue
        actor = actor_for(world, route)
        url = fill(route, north_ids(world, route))
        for label, body in api_bodies(schema):
            before = row_counts()
            response = actor.web.generic(
                route.method, url, data=json.dumps(body), content_type="application/json", **actor.api_headers
            )
            sent += 1
            where = f"{route.label} as {actor.name} with {label}"
            status = response.status_code
            if status >= 500:
                failures.append(f"{where}: {status}")
                continue
            if status >= 400:
                error = (
                    response.json().get("error")
                    if response.get("Content-Type", "").startswith("application/json")
                    else None
                )
                if not isinstance(error, dict) or set(error) != {"code", "message", "field"}:
                    failures.append(f"{where}: {status} not in the error shape: {response.content[:200]!r}")
                diff = changed(before, row_counts())
                if diff:
                    failures.append(f"{where}: refused ({status}) but wrote {diff}")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    assert sent > 300, sent


# --- Web forms --------------------------------------------------------------------------------


class Forms(HTMLParser):
    """The ``<form method="post">`` elements of a page: action and fields (name -> value)."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[dict] = []
        self._form: dict | None = None
        self._select: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "form" and (attrs.get("method") or "").lower() == "post":
            self._form = {"action": attrs.get("action") or "", "fields": {}}
            self.forms.append(self._form)
        if self._form is None:
            return
        name = attrs.get("name")
        if tag == "input" and name and name != "csrfmiddlewaretoken":
            kind = (attrs.get("type") or "text").lower()
            if kind in ("submit", "button", "image", "reset", "file"):
                return
            if kind in ("checkbox", "radio") and name in self._form["fields"]:
                return
            self._form["fields"][name] = attrs.get("value") or ("on" if kind == "checkbox" else "")
        elif tag == "textarea" and name:
            self._form["fields"][name] = ""
        elif tag == "select" and name:
            self._select = name
            self._form["fields"][name] = ""
        elif tag == "option" and self._select and not self._form["fields"][self._select]:
            self._form["fields"][self._select] = attrs.get("value") or ""

    def handle_endtag(self, tag):
        if tag == "form":
            self._form = None
        elif tag == "select":
            self._select = None


def own_form(content: str, url: str) -> dict[str, str] | None:
    """The fields of the page's own post form (posting to the page itself), or None."""
    parser = Forms()
    parser.feed(content)
    for form in parser.forms:
        if form["action"] in ("", url) and form["fields"]:
            return form["fields"]
    return None


#: The form again (200, or 400/409/422 with the errors beside the fields), or a refusal page.
REFUSED = {200, 400, 403, 404, 409, 422}
WEB_STAFF = [r for r in WEB if isinstance(r.access, frozenset)]


def _raw_script(response) -> bool:
    return SCRIPT.encode() in response.content


@pytest.mark.django_db
def test_hostile_web_forms():
    world = World()
    failures: list[str] = []
    sent = forms = 0
    for route in WEB_STAFF:
        try:
            check_route(route)
        except NoRule as error:  # pragma: no cover - test_access_matrix names it
            failures.append(str(error))
            continue
        actor = actor_for(world, route)
        url = fill(route, north_ids(world, route))
        page = actor.web.get(url)
        if page.status_code != 200 or "html" not in page.get("Content-Type", ""):
            continue
        fields = own_form(page.content.decode(), url)
        if fields is None:
            continue
        forms += 1
        attempts = [
            (f"{field}={name}", {**fields, field: value})
            for field in fields
            for name, value in WEB_EACH.items()
        ] + [(f"all={name}", dict.fromkeys(fields, value)) for name, value in WEB_ALL.items()]
        for label, data in attempts:
            before = row_counts()
            response = actor.web.post(url, data)
            sent += 1
            where = f"POST {route.label} as {actor.name} with {label}"
            if response.status_code >= 500:
                failures.append(f"{where}: {response.status_code}")
                continue
            if response.status_code in REFUSED:
                diff = changed(before, row_counts())
                if diff:
                    failures.append(f"{where}: the form came back (a refusal) but rows were written {diff}")
                if _raw_script(response):
                    failures.append(f"{where}: the page shows the script tag unescaped")
            elif response.status_code == 302 and label.endswith("=script"):
                shown = actor.web.get(response["Location"])
                if shown.status_code == 200 and _raw_script(shown):
                    failures.append(f"{where}: {response['Location']} shows the script tag unescaped")
    assert not failures, f"{len(failures)} failures:\n" + "\n".join(failures)
    assert forms >= 25 and sent > 300, (forms, sent)
