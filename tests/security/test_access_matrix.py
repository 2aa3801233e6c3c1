"""The access matrix, generated: every route and API operation × every actor × each clinic's record.

Every staff and portal URL pattern (web) and every API operation is tried as each role of both
demo clinics, an anonymous visitor, a patient (portal account), a prescriber of both clinics and a
user holding different roles in the two clinics (nurse in one, researcher in the other), with the
path's ids filled with a record of the first clinic and then one of the second. The expected
answer comes from a rule derived from the route's declared ``kapstone_access`` and the actor's
memberships (see ``expectation``):

- anonymous: sent to sign in (web 302 to the login page) / 401 ``unauthorized`` (API);
- holding none of the route's roles in any clinic (a patient on a staff route, staff on a portal
  route): 403;
- holding one in some clinic but not in the record's clinic: 404, byte for byte the 404 of an id
  that does not exist (CSRF tokens and the URL itself blanked);
- holding one in the record's clinic: the page (200, a redirect, or 405 on a POST-only route).

No answer of any actor carries the name, MRN or e-mail of a patient the actor may not read (every
demo patient is given unique marker strings first), nothing answers 500, and no refused request
(403, 404, sign-in) writes a row. POST-only routes and API writes are sent by every actor (an
empty form, CSRF checks off as in Django's test client; the API with a body that passes its
schema, so that the record lookup is reached).

A route or operation with a path parameter that ``PARAMS`` does not describe, two record ids not
in ``NESTED``, or an access rule that ``expectation`` does not know fails
``test_every_route_and_operation_has_a_rule`` (and a self-test proves that it does). The world is
seeded once for the whole walk (one test), so the walk takes well under a minute.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import timedelta

import pytest
from django.apps import apps
from django.db.models import CharField, Value
from django.db.models.functions import Cast, Concat
from django.test import Client
from django.urls import path as url_path
from django.utils import timezone

from kapstone.accounts.access import AUTHENTICATED, CARE_TEAM, PATIENT, PUBLIC
from kapstone.accounts.models import Clinic, Membership, Role, User
from kapstone.accounts.services import api_token_create, membership_set
from kapstone.audit.models import AuditEvent
from kapstone.demo.seed import seed_demo
from kapstone.patients.models import Patient
from kapstone.portal.models import PatientAccount
from tests.conftest import verified_client, without_csrf
from tests.factories import UserFactory
from tests.security.test_object_scope import NESTED, RECORDS, body_for, path_params
from tests.security.test_portal_matrix import patient_user
from tests.security.test_url_access import OPERATIONS, PUBLIC_OPERATIONS, ROUTES, walk

MISSING_ID = 987654321
CLINICS = ("north", "river")

#: Path parameters that are not record ids: a value the route accepts (a route refuses an unknown
#: value with its own 404). Keyed by parameter name; a name used by routes with different value
#: sets maps route names to values. A new parameter, or a known one on a new route where the
#: value depends on the route, must be added here.
PARAMS: dict[str, str | dict[str, str]] = {
    "months": "1",
    "instrument": "phq-9",
    "slug": "kare-alcohol-grabski-2022",
    "version": "1",
    "export_format": "long",
    "token": "no-such-invitation",
    "kind": {
        "inventory:transaction": "dispense",
        "consent_documents:publish": "treatment",
        "portal:consent": "treatment",
    },
}


class NoRule(Exception):
    """A route or operation the matrix cannot check: describe it in PARAMS, NESTED or RECORDS."""


@dataclass(frozen=True)
class Route:
    """One web route or API operation, with what the matrix needs to walk it."""

    label: str  # "patients:detail" or "POST /patients/{int:patient_id}"
    pattern: str  # the resolver's route or the API path
    access: object  # the declared kapstone_access
    api: bool
    method: str = "GET"  # API operations only; web routes are tried with GET and POST

    @property
    def ids(self) -> list[str]:
        return [name for _, name in path_params(self.pattern) if name in RECORDS]


def access_kind(access: object) -> str:
    if access in (PUBLIC, AUTHENTICATED, PATIENT):
        return str(access)
    if isinstance(access, frozenset) and access and access <= set(Role.values):
        return "roles"
    raise NoRule(f"unknown access rule {access!r}")


def check_route(route: Route) -> None:
    """Raises ``NoRule`` unless the matrix knows how to fill and judge ``route``."""
    access_kind(route.access)
    for _, name in path_params(route.pattern):
        if name in RECORDS:
            continue
        value = PARAMS.get(name)
        if value is None or (isinstance(value, dict) and route.label not in value):
            raise NoRule(f"{route.label}: no value for the path parameter {name!r} (PARAMS or RECORDS)")
    ids = route.ids
    if len(ids) > 2 or (len(ids) == 2 and tuple(ids) not in NESTED):
        raise NoRule(f"{route.label}: say in NESTED how {ids} belong together")


def web_routes(patterns: Iterable[tuple[str, str, Callable]]) -> list[Route]:
    return [
        Route(name or pattern, pattern, getattr(view, "kapstone_access", None), api=False)
        for pattern, name, view in patterns
    ]


def api_routes(operations: Iterable[tuple[str, object]]) -> list[Route]:
    return [
        Route(
            f"{method} {path}", path, getattr(op.view_func, "kapstone_access", None), api=True, method=method
        )
        for path, op in operations
        for method in op.methods
    ]


WEB = web_routes(ROUTES)
API = api_routes(OPERATIONS)


# --- Actors -----------------------------------------------------------------------------------


@dataclass
class Actor:
    name: str
    user: User | None = None
    roles_by_clinic: dict[int, set[str]] = field(default_factory=dict)
    patient_id: int | None = None  # a portal account's own record
    web: Client | None = None
    api_headers: dict[str, str] = field(default_factory=dict)

    @property
    def anonymous(self) -> bool:
        return self.user is None

    def clinics_with(self, roles: Iterable[str]) -> set[int]:
        roles = set(roles)
        return {clinic for clinic, held in self.roles_by_clinic.items() if held & roles}


def expectation(route: Route, actor: Actor, clinic_id: int | None) -> str:
    """What ``actor`` must get at ``route`` for a record of ``clinic_id`` (None: no record):
    ``public``, ``sign_in``, ``forbidden``, ``not_found`` or ``allowed``."""
    kind = access_kind(route.access)
    if kind == PUBLIC:
        return "public"
    if actor.anonymous:
        return "sign_in"
    if kind == PATIENT:
        return "allowed" if actor.patient_id else "forbidden"
    if kind == AUTHENTICATED:
        # One's own password and second factor: staff and patients alike, never a device's
        # account (a bedside monitor's feed: it records vitals and reaches nothing else).
        return "forbidden" if actor.clinics_with({Role.MONITOR}) else "allowed"
    if actor.patient_id:
        return "forbidden"  # a portal account holds no clinic membership
    clinics = actor.clinics_with(route.access)
    if not clinics:
        return "forbidden"
    return "allowed" if clinic_id is None or clinic_id in clinics else "not_found"


#: Acceptable statuses per expectation (web GET, web POST, API). 405: the method is not the
#: route's (it answers before or after the access check; either way it shows nothing).
WEB_STATUS = {
    "sign_in": {302, 405},
    "forbidden": {403, 405},
    "not_found": {404, 405},
    "allowed": {200, 302, 405},
    "public": {200, 302, 400, 404, 405, 410, 503},
}
#: An empty form from an allowed actor: the page again (200), a redirect, a refusal in words.
WEB_POST_ALLOWED = {200, 302, 400, 404, 405, 409}
API_STATUS = {
    "sign_in": {401},
    "forbidden": {403},
    "not_found": {404},
    "public": {200, 201, 400, 409, 422, 429},
}
API_WRITE_ALLOWED = {200, 201, 400, 404, 409, 422}
#: Operations whose body decides which of the declared roles may proceed (a 403 for an allowed
#: actor is the inner rule, not a hole): label -> the reason.
ROLE_BY_BODY = {
    "POST /inventory/transactions": "receipts are the admins'; dispensing the clinicians'",
}
#: Web routes where the record (or the path) decides which of the declared roles may proceed:
#: label -> the reason a member holding a declared role may still get 403.
ROLE_BY_RECORD = {
    "care:note_edit": "only the note's author edits a draft",
    "care:note_sign": "only the note's author signs it",
    "inventory:transaction": "the kind in the path: dispensing is the clinicians', receipts the admins'",
}
#: Public routes that answer 503 by design when the node is not ready: label -> why (and where
#: they are tested). A 503 is their answer, not a crash; any other 5xx still fails.
UNAVAILABLE_BY_DESIGN = {
    "ready": "503 until a background worker beats (tests/operations/test_ready.py)",
}
#: Routes the walk must not POST to: label -> why (and where they are tested).
NO_POST = {
    "accounts:logout": "signs the actor out (tests/accounts/)",
}


# --- The world --------------------------------------------------------------------------------


#: Tables that a refused request writes on purpose: the audit trail of the refusal, sign-in
#: state, and django-axes' record of a wrong password (a witness's password on a form counts
#: towards that witness's lockout). Every other table must keep its row count.
NOT_COUNTED = {
    "audit.auditevent",
    "sessions.session",
    "axes.accessattempt",
    "axes.accessfailurelog",
    "axes.accesslog",
}


def row_counts() -> dict[str, int]:
    return {
        model._meta.label_lower: model._default_manager.count()
        for model in apps.get_models()
        if model._meta.managed and not model._meta.proxy and model._meta.label_lower not in NOT_COUNTED
    }


def changed(before: dict[str, int], after: dict[str, int]) -> dict[str, tuple[int, int]]:
    return {label: (before[label], after[label]) for label in before if before[label] != after[label]}


def top_up(clinic: Clinic) -> None:
    """The records the small demo may not give every clinic: a clinical flag (PHQ-9 item 9 above
    0) and an adverse event, through the services as staff would."""
    from kapstone.outcomes.services import questionnaire_record
    from kapstone.safety.models import AdverseEvent
    from kapstone.safety.services import adverse_event_report

    patient = Patient.objects.filter(clinic=clinic).order_by("pk").first()
    nurse = User.objects.get(username=f"nurse.{clinic.slug}")
    if not apps.get_model("outcomes.ClinicalFlag").objects.filter(clinic=clinic).exists():
        questionnaire_record(actor=nurse, patient=patient, instrument="phq-9", answers=[1] * 9)
    if not AdverseEvent.objects.filter(clinic_id=clinic.pk).exists():
        adverse_event_report(
            actor=nurse,
            patient=patient,
            term="nausea",
            onset_at=timezone.now() - timedelta(days=1),
            grade=1,
            serious=False,
            relatedness="possible",
            action_taken="dose_not_changed",
            outcome="resolved",
            resolved_at=timezone.now() - timedelta(hours=20),
        )


class World:
    """The demo's two clinics, every patient's name and e-mail made a unique marker, and actors."""

    def __init__(self) -> None:
        seed_demo(patients_per_clinic=6, follow_up_per_protocol=1)
        self.clinics = {slug: Clinic.objects.get(slug=slug) for slug in CLINICS}
        for clinic in self.clinics.values():
            top_up(clinic)
        for slug, clinic in self.clinics.items():
            tag = f"Phi{slug.capitalize()}"
            Patient.objects.filter(clinic=clinic).update(
                family_name=Concat(Value(tag), Cast("id", CharField()), Value("q"), output_field=CharField()),
                email=Concat(
                    Value(f"{tag.lower()}."),
                    Cast("id", CharField()),
                    Value("@example.org"),
                    output_field=CharField(),
                ),
                mrn=Concat(Value(f"MRN{tag}"), Cast("id", CharField()), Value("Q"), output_field=CharField()),
            )
        # Markers: the strings that identify each patient, by clinic and by patient.
        self.markers: dict[int, list[str]] = {}
        self.markers_of_clinic: dict[int, set[str]] = {c.pk: set() for c in self.clinics.values()}
        for pk, clinic_id, family, email, mrn in Patient.objects.values_list(
            "pk", "clinic_id", "family_name", "email", "mrn"
        ):
            self.markers[pk] = [family, email, mrn]
            self.markers_of_clinic[clinic_id] |= {family, email, mrn}
        self.actors = self._actors()

    def _actors(self) -> list[Actor]:
        north, river = self.clinics["north"], self.clinics["river"]
        dual = UserFactory(username="dual.prescriber")
        membership_set(actor=None, user=dual, clinic=north, role=Role.PRESCRIBER)
        membership_set(actor=None, user=dual, clinic=river, role=Role.PRESCRIBER)
        mixed = UserFactory(username="mixed.nurse-researcher")
        membership_set(actor=None, user=mixed, clinic=north, role=Role.NURSE)
        membership_set(actor=None, user=mixed, clinic=river, role=Role.RESEARCHER)
        staff = [User.objects.get(username=f"{role}.{slug}") for slug in CLINICS for role in Role.values]
        actors = [self._staff(user) for user in [*staff, dual, mixed]]
        actors.append(Actor("anonymous", web=Client()))
        account = PatientAccount.objects.filter(patient__clinic=north).select_related("user").first()
        if account is None:  # the small demo may have no patient with sessions ahead
            patient = Patient.objects.filter(clinic=north).order_by("pk").first()
            nurse = User.objects.get(username="nurse.north")
            patient_user(nurse, patient, "portal.patient@example.org")
            account = PatientAccount.objects.select_related("user").get(patient=patient)
        portal = Actor("patient", user=account.user, patient_id=account.patient_id)
        portal.web = Client()
        portal.web.force_login(account.user)
        portal.api_headers = {
            "HTTP_AUTHORIZATION": f"Bearer {api_token_create(actor=None, user=account.user)[1]}"
        }
        actors.append(portal)
        return actors

    def _staff(self, user: User) -> Actor:
        held: dict[int, set[str]] = {}
        for clinic_id, role in Membership.objects.filter(user=user, is_active=True).values_list(
            "clinic_id", "role"
        ):
            held.setdefault(clinic_id, set()).add(role)
        token = api_token_create(actor=None, user=user)[1]
        return Actor(
            user.username,
            user=user,
            roles_by_clinic=held,
            web=verified_client(user),
            api_headers={"HTTP_AUTHORIZATION": f"Bearer {token}"},
        )

    def forbidden_markers(self, actor: Actor) -> list[str]:
        """The patient markers ``actor`` may not see anywhere."""
        if actor.patient_id:
            mine = set(self.markers[actor.patient_id])
            return sorted({m for ms in self.markers.values() for m in ms} - mine)
        readable = actor.clinics_with(CARE_TEAM)
        return sorted(
            m for clinic, ms in self.markers_of_clinic.items() if clinic not in readable for m in ms
        )

    def record_of(self, param: str, clinic: Clinic) -> int:
        kind = RECORDS[param]
        pk = (
            apps.get_model(kind.model)
            .objects.filter(**{kind.clinic: clinic.pk})
            .order_by("pk")
            .values_list("pk", flat=True)
            .first()
        )
        assert pk is not None, f"the demo has no {kind.object_type} in {clinic.slug}"
        return pk

    def cases(self, route: Route) -> list[tuple[int | None, dict[str, int]]]:
        """(the record's clinic, the ids) for each clinic, or [(None, {})] without ids."""
        ids = route.ids
        if not ids:
            return [(None, {})]
        made = []
        for clinic in self.clinics.values():
            if len(ids) == 1:
                made.append((clinic.pk, {ids[0]: self.record_of(ids[0], clinic)}))
            else:
                outer, inner = NESTED[tuple(ids)](clinic.pk)
                made.append((clinic.pk, {ids[0]: outer, ids[1]: inner}))
        return made


def fill(route: Route, ids: dict[str, int]) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(2)
        if name in ids:
            return str(ids[name])
        found = PARAMS[name]
        return found[route.label] if isinstance(found, dict) else found

    filled = re.sub(r"[<{](?:(\w+):)?(\w+)[>}]", value, route.pattern)
    filled = filled if filled.startswith("/") else "/" + filled
    return "/api/v1" + filled if route.api else filled


# --- The walk ---------------------------------------------------------------------------------


@dataclass
class Matrix:
    world: World
    failures: list[str] = field(default_factory=list)
    checked: int = 0
    missing_bodies: dict[tuple[str, str, str], bytes] = field(default_factory=dict)
    #: The statuses allowed actors met with on GET, per web route (POST-only: {405}).
    statuses: dict[str, set[int]] = field(default_factory=dict)

    def send(self, route: Route, actor: Actor, method: str, url: str):
        if route.api:
            body = body_for(route.pattern, method) if method != "GET" else None
            if body is None:
                return actor.web.get(url, **actor.api_headers) if actor.web else Client().get(url)
            client = actor.web or Client()
            return client.generic(
                method, url, data=body, content_type="application/json", **actor.api_headers
            )
        return getattr(actor.web, method.lower())(url)

    def body(self, route: Route, response, url: str) -> bytes:
        return response.content if route.api else without_csrf(response.content).replace(url.encode(), b"URL")

    def judge(self, route: Route, actor: Actor, method: str, clinic_id, ids, response, url: str) -> str:
        self.checked += 1
        expected = expectation(route, actor, clinic_id)
        status = response.status_code
        where = f"{method} {route.label} as {actor.name} ({url})"
        if status >= 500 and not (status == 503 and route.label in UNAVAILABLE_BY_DESIGN):
            self.failures.append(f"{where}: {status}")
            return expected
        if route.api:
            allowed = (
                {200}
                if method == "GET"
                else API_WRITE_ALLOWED | ({403} if route.label in ROLE_BY_BODY else set())
            )
            ok = API_STATUS.get(expected, allowed)
        elif method == "POST" and expected == "allowed":
            ok = WEB_POST_ALLOWED
        else:
            ok = WEB_STATUS[expected]
        if expected == "allowed" and route.label in ROLE_BY_RECORD:
            ok = ok | {403}
        if status not in ok:
            self.failures.append(f"{where}: {status}, expected {expected} {sorted(ok)}")
        if (
            expected == "sign_in"
            and not route.api
            and status == 302
            and not response["Location"].startswith("/accounts/login/")
        ):
            self.failures.append(f"{where}: redirected to {response['Location']}, not to sign in")
        if route.api and status >= 400:
            error = response.json().get("error", {})
            if set(error) != {"code", "message", "field"}:
                self.failures.append(f"{where}: not the error shape: {response.content[:200]!r}")
        content = response.content.decode(errors="replace") if hasattr(response, "content") else ""
        leaked = [m for m in self.world.forbidden_markers(actor) if m in content]
        if leaked:
            self.failures.append(f"{where}: shows another clinic's patient {leaked[:3]}")
        if expected == "not_found" and status == 404:
            missing_url = fill(route, dict.fromkeys(ids, MISSING_ID))
            key = (route.label, actor.name, method)
            if key not in self.missing_bodies:
                missing = self.send(route, actor, method, missing_url)
                if missing.status_code != 404:
                    self.failures.append(f"{where}: a missing id answers {missing.status_code}")
                self.missing_bodies[key] = self.body(route, missing, missing_url)
            if self.body(route, response, url) != self.missing_bodies[key]:
                # A message queued by an earlier request (a redirect's "saved") shows on the next
                # page rendered: send both again, now with nothing queued.
                again = self.body(route, self.send(route, actor, method, url), url)
                missing = self.send(route, actor, method, missing_url)
                if again != self.body(route, missing, missing_url):
                    self.failures.append(f"{where}: the 404 differs from a missing id's")
        return expected

    def walk(self, route: Route, method: str, actors: list[Actor], *, refused_only: bool) -> list[str]:
        """Sends ``method`` to ``route`` as each actor for each clinic's record; returns the
        expectations met with. ``refused_only``: only the actors the rule refuses."""
        seen = []
        for clinic_id, ids in self.world.cases(route):
            url = fill(route, ids)
            for actor in actors:
                expected = expectation(route, actor, clinic_id)
                if refused_only and expected in ("allowed", "public"):
                    continue
                response = self.send(route, actor, method, url)
                seen.append(self.judge(route, actor, method, clinic_id, ids, response, url))
                if expected == "allowed" and method == "GET" and not route.api:
                    self.statuses.setdefault(route.label, set()).add(response.status_code)
        return seen

    def refused_writes(self, route: Route, method: str) -> None:
        """Every refused actor's request to ``route``: none may write a row."""
        before = row_counts()
        self.walk(route, method, self.world.actors, refused_only=True)
        diff = changed(before, row_counts())
        if diff:
            self.failures.append(f"{method} {route.label}: a refused request wrote rows {diff}")

    def allowed_writes(self, route: Route, method: str) -> None:
        for clinic_id, ids in self.world.cases(route):
            url = fill(route, ids)
            for actor in self.world.actors:
                if expectation(route, actor, clinic_id) != "allowed":
                    continue
                response = self.send(route, actor, method, url)
                self.judge(route, actor, method, clinic_id, ids, response, url)


# --- Tests ------------------------------------------------------------------------------------


def test_every_route_and_operation_has_a_rule():
    """A new route or operation whose path or access the matrix does not know fails here."""
    problems = []
    for route in WEB + API:
        try:
            check_route(route)
        except NoRule as error:
            problems.append(str(error))
    assert not problems, "\n".join(problems)
    assert len(WEB) >= 100 and len(API) >= 40


def _fake_view(request, **kwargs):  # pragma: no cover - never called
    raise AssertionError


class _FakeOperation:
    def __init__(self, access, methods=("POST",)) -> None:
        def view_func():  # pragma: no cover - never called
            raise AssertionError

        if access is not None:
            view_func.kapstone_access = access
        self.view_func = view_func
        self.methods = list(methods)


def test_the_rule_check_fails_for_a_route_it_does_not_know():
    """The self-test: a route or operation injected into the walkers fails ``check_route``."""
    declared = lambda view, access: setattr(view, "kapstone_access", access) or view  # noqa: E731

    def roles_view(request, **kwargs):  # pragma: no cover - never called
        raise AssertionError

    def undeclared_view(request, **kwargs):  # pragma: no cover - never called
        raise AssertionError

    fake_patterns = [
        url_path("widgets/<int:widget_id>/", declared(roles_view, frozenset({Role.NURSE})), name="widget"),
        url_path("patients/<int:patient_id>/", undeclared_view, name="undeclared"),
        url_path("patients/<int:patient_id>/lots/<int:lot_id>/", roles_view, name="nested"),
        url_path("reports/<slug:kind>/", roles_view, name="kinds"),
    ]
    injected = web_routes(walk(fake_patterns, namespace="fake")) + api_routes(
        [
            ("/widgets/{int:widget_id}", _FakeOperation(frozenset({Role.NURSE}))),
            ("/patients/{int:patient_id}", _FakeOperation(None)),
            ("/patients/{int:patient_id}", _FakeOperation("sometimes")),
        ]
    )
    refused = []
    for route in injected:
        with pytest.raises(NoRule) as caught:
            check_route(route)
        refused.append(str(caught.value))
    assert len(refused) == 7
    assert "widget_id" in refused[0] and "None" in refused[1] and "NESTED" in refused[2]
    assert "'kind'" in refused[3] and "widget_id" in refused[4] and "sometimes" in refused[6]
    # And the known routes pass, so the check is not refusing everything.
    check_route(Route("patients:detail", "patients/<int:patient_id>/", frozenset({Role.NURSE}), api=False))


@pytest.mark.django_db
def test_the_access_matrix():
    world = World()
    matrix = Matrix(world)
    post_only: list[Route] = []
    for route in WEB:
        check_route(route)
        matrix.walk(route, "GET", world.actors, refused_only=False)
        if route.label not in NO_POST:
            matrix.refused_writes(route, "POST")
        if matrix.statuses.get(route.label) == {405} and route.label not in NO_POST:
            post_only.append(route)
    api_writes: list[Route] = []
    for route in API:
        check_route(route)
        if route.label.split(" ", 1)[1] in PUBLIC_OPERATIONS:
            continue  # public: a visitor's pre-screen and referral (tests/portal/)
        if route.method == "GET":
            matrix.walk(route, "GET", world.actors, refused_only=False)
        else:
            matrix.refused_writes(route, route.method)
            api_writes.append(route)
    # Last, as they may change the records: the allowed actors' empty forms and API writes.
    for route in post_only:
        matrix.allowed_writes(route, "POST")
    for route in api_writes:
        matrix.allowed_writes(route, route.method)
    assert not matrix.failures, f"{len(matrix.failures)} failures:\n" + "\n".join(matrix.failures)
    assert matrix.checked > 3000, matrix.checked
    assert AuditEvent.objects.filter(action="denied", object_type="view").exists()
