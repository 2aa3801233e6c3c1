"""Issue 15, "research counts that cannot be subtracted": the differencing attack, replayed.

As a researcher, the issue's demo showed 87 courses for one clinic, 80 enrolled up to a day and
"<11" after it: 87 − 80 = 7, the suppressed count. Here a cohort is built so that small cells
exist (a small arm, a small last quarter, a small clinic), and a researcher asks for the report
with every value of every filter field the form offers (each field alone; every range of
enrolment quarters; each clinic with each quarter), plus day-precision dates, which a
researcher may no longer send. Every count shown in every report is mapped to the set of
courses it counts (from the courses' own attributes and outcomes). An attacker who knows the
published rule (docs/clinical-rules.md, small cells) then takes any two of those counts whose
courses are nested, including two cells of one report (a complement), and learns the size of
the difference up to the rounding of each; the test fails if that pins a count of 1–10 to a
single value. The attacker is given more than a real one has: it knows which counts are nested
and that a difference is not empty.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta

import pytest

from kapstone.accounts.models import Role
from kapstone.accounts.services import membership_set
from kapstone.domain.protocols import INDICATIONS, protocol_library
from kapstone.outcomes.models import QuestionnaireResponse
from kapstone.outcomes.services import questionnaire_record
from kapstone.patients.services import clinic_today
from kapstone.research.cohorts import NO_ARM, OPEN, CohortFilter, cohort_assemble
from kapstone.research.forms import CohortForm
from tests.research.conftest import ACUTE_END_DAY, PROTOCOL, Spec, enrol

pytestmark = [pytest.mark.django_db]

REPORT = "/research/"
ALCOHOL = "ketamine-met-alcohol-dakwar-2020"
ARMS = ("ketamine", "control", "pilot", "no-such-arm")
QUARTERS_BACK = range(5)

#: (clinic, protocol, substance, quarters before today's, arm, courses). Clinic A has 61 courses,
#: 54 of them enrolled up to the end of the last quarter: the issue's 7 come after. (A course
#: starts at most a year before today, so the oldest quarter is the third before today's.)
LAYOUT = (
    ("a", PROTOCOL, "cocaine", 3, "ketamine", 10),
    ("a", PROTOCOL, "cocaine", 3, "control", 10),
    ("a", PROTOCOL, "cocaine", 2, "ketamine", 9),
    ("a", PROTOCOL, "cocaine", 2, "control", 9),
    ("a", PROTOCOL, "cocaine", 1, "ketamine", 8),
    ("a", PROTOCOL, "cocaine", 1, "control", 6),
    ("a", PROTOCOL, "cocaine", 1, "pilot", 2),
    ("a", PROTOCOL, "cocaine", 0, "pilot", 5),
    ("a", PROTOCOL, "cocaine", 0, "ketamine", 2),
    ("b", ALCOHOL, "alcohol", 2, "ketamine", 6),
    ("b", ALCOHOL, "alcohol", 2, "control", 6),
    ("b", ALCOHOL, "alcohol", 1, "ketamine", 4),
    ("b", ALCOHOL, "alcohol", 0, "ketamine", 3),
)


def quarter_start(day: date) -> date:
    return date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)


def quarter_back(today: date, back: int) -> date:
    start = quarter_start(today)
    for _ in range(back):
        start = quarter_start(start - timedelta(days=1))
    return start


def quarter_end(start: date) -> date:
    return quarter_start(start + timedelta(days=95)) - timedelta(days=1)


@pytest.fixture
def cohort(alice, carol, bob, adam, clinic_a, clinic_b):
    """The layout's 80 courses; bob is a researcher of both clinics, adam an admin of both."""
    membership_set(actor=None, user=bob, clinic=clinic_b, role=Role.RESEARCHER)
    membership_set(actor=None, user=adam, clinic=clinic_b, role=Role.ADMIN)
    today = clinic_today(clinic_a)
    clinics = {"a": (clinic_a, alice), "b": (clinic_b, carol)}
    index = 0
    month_one = defaultdict(int)
    for slug, protocol, substance, back, arm, count in LAYOUT:
        clinic, actor = clinics[slug]
        first = quarter_back(today, back)
        last = min(quarter_end(first), clinic_today(clinic))
        span = (last - first).days + 1
        for i in range(count):
            spec = Spec(
                arm=arm,
                window=("missing", "abstinent", "used")[index % 3],
                follow=20 + 7 * (index % 12),
                relapse=ACUTE_END_DAY + 3 + 2 * (index % 12) if index % 2 == 0 else None,
            )
            start = first + timedelta(days=(11 * i) % span)
            person, course = enrol(
                actor, clinic, index=index, spec=spec, start=start, protocol=protocol, substance=substance
            )
            if slug == "a":
                questionnaire_record(
                    actor=actor,
                    patient=person,
                    instrument="phq-9",
                    answers=[index % 4] * 8 + [0],
                    course=course,
                    time_point_months=0,
                    administered_on=start,
                )
                # The month-one questionnaire of a few of the oldest courses: small cells.
                if back == 3 and month_one[arm] < (8 if arm == "ketamine" else 5):
                    month_one[arm] += 1
                    questionnaire_record(
                        actor=actor,
                        patient=person,
                        instrument="phq-9",
                        answers=[(index + 1) % 4] * 8 + [0],
                        course=course,
                        time_point_months=1,
                        administered_on=start + timedelta(days=30),
                    )
            index += 1
    return today


# --- what a researcher may ask for ---------------------------------------------------------


def day_values(today: date) -> list[date]:
    """Dates that are not quarter boundaries: the day after a quarter starts, the middle of a
    quarter and the day before it ends (the issue asked for 2026-11-30 and 2026-12-01)."""
    values = []
    for back in QUARTERS_BACK:
        start = quarter_back(today, back)
        values += [
            start + timedelta(days=1),
            start + timedelta(days=45),
            quarter_end(start) - timedelta(days=1),
        ]
    return values


def researcher_queries(today: date, clinic_ids: list[int]) -> list[dict[str, str]]:
    starts = [quarter_back(today, back) for back in QUARTERS_BACK]
    single: dict[str, list[str]] = {
        "clinic": [str(pk) for pk in clinic_ids],
        "protocol": [p.slug for p in protocol_library()],
        "substance": list(INDICATIONS),
        "arm": list(ARMS),
        "group_by": ["arm", "protocol"],
        "enrolled_from": [d.isoformat() for d in starts + day_values(today)],
        "enrolled_to": [d.isoformat() for d in [quarter_end(s) for s in starts] + day_values(today)],
    }
    # Every field of the form is varied: a new filter must be added here.
    assert set(single) == set(CohortForm().fields)
    queries = [{}]
    for name, values in single.items():
        queries += [{name: value} for value in values]
    for first in starts:
        for last in starts:
            if last >= first:
                queries.append(
                    {"enrolled_from": first.isoformat(), "enrolled_to": quarter_end(last).isoformat()}
                )
    for pk in clinic_ids:
        for start in starts:
            queries.append({"clinic": str(pk), "enrolled_from": start.isoformat()})
            queries.append({"clinic": str(pk), "enrolled_to": quarter_end(start).isoformat()})
    return queries


def members(outcomes, query: dict[str, str]) -> list:
    """The courses a query counts, from the courses' own attributes (not the report's code)."""
    chosen = []
    for o in outcomes:
        if query.get("clinic") and o.clinic_id != int(query["clinic"]):
            continue
        if query.get("protocol") and o.protocol_slug != query["protocol"]:
            continue
        if query.get("substance") and o.substance != query["substance"]:
            continue
        if query.get("arm") and o.arm != query["arm"]:
            continue
        if query.get("enrolled_from") and o.start_date < date.fromisoformat(query["enrolled_from"]):
            continue
        if query.get("enrolled_to") and o.start_date > date.fromisoformat(query["enrolled_to"]):
            continue
        chosen.append(o)
    return chosen


# --- what a report shows, as counts of sets of courses --------------------------------------


def report_cells(report, chosen, responses, where: str):
    """(courses counted, value shown, description) for every count in the report."""
    by_protocol = report.filters.group_by == "protocol"

    def group(o) -> str:
        return o.protocol_slug if by_protocol else (o.arm or NO_ARM)

    def ids(rows) -> frozenset[int]:
        return frozenset(o.course_id for o in rows)

    in_group = defaultdict(list)
    for o in chosen:
        in_group[group(o)].append(o)
    yield ids(chosen), report.n, f"{where}: courses"
    yield ids(o for o in chosen if o.abstinence == OPEN), report.open_windows, f"{where}: open windows"
    for row in report.abstinence:
        closed = [o for o in in_group[row["group"]] if o.abstinence != OPEN]
        label = f"{where}: abstinence {row['group']}"
        yield ids(closed), row["n"], f"{label} n"
        yield ids(o for o in closed if o.abstinence == "abstinent"), row["abstinent"], f"{label} abstinent"
        yield (
            ids(o for o in closed if o.abstinence != "abstinent"),
            row["not_abstinent"],
            f"{label} not abstinent",
        )
        yield ids(o for o in closed if o.abstinence == "unknown"), row["missing"], f"{label} missing"
    for row in report.survival:
        rows = in_group[row["group"]]
        label = f"{where}: relapse {row['group']}"
        yield ids(rows), row["n"], f"{label} n"
        yield ids(o for o in rows if o.relapse_event), row["events"], f"{label} relapses"
        for day, shown in zip(report.at_risk_days, row["at_risk"], strict=True):
            yield ids(o for o in rows if o.relapse_time_days >= day), shown, f"{label} at risk on day {day}"
    for series in report.abstinence_time:
        for point in series["points"]:
            status = [(o, dict(o.follow_up)[point["months"]]) for o in in_group[series["group"]]]
            closed = [(o, s) for o, s in status if s != OPEN]
            label = f"{where}: {series['group']} at {point['months']} months"
            yield ids(o for o, _ in closed), point["n"], f"{label} n"
            yield ids(o for o, s in closed if s == "abstinent"), point["abstinent"], f"{label} abstinent"
            if "not_abstinent" in point:
                yield (
                    ids(o for o, s in closed if s != "abstinent"),
                    point["not_abstinent"],
                    f"{label} not abstinent",
                )
            yield ids(o for o, s in closed if s == "unknown"), point["missing"], f"{label} missing"
    for trajectory in report.trajectories:
        for row in trajectory["rows"]:
            for label, cell in zip(trajectory["groups"], row["cells"], strict=True):
                answered = [
                    o
                    for o in in_group[label]
                    if (o.course_id, trajectory["instrument"], row["months"]) in responses
                ]
                shown = "–" if cell is None else cell["n"]  # "–": nobody answered
                yield (
                    ids(answered),
                    shown,
                    f"{where}: {trajectory['instrument']} {label} month {row['months']} n",
                )


def shown_range(value, rounded_to: int | None) -> tuple[int, int] | None:
    """What a count shown as ``value`` may be, by the published rule (docs/clinical-rules.md):
    "<11" is 0–10; with counts rounded to the nearest 5, 15 is 11–17 and any other shown count
    r is r − 2 to r + 2; unrounded, a count is itself. None: nothing shown (withheld)."""
    if value == "<11":
        return (0, 10)
    if value == "–":
        return (0, 0)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if not rounded_to:
        return (value, value)
    assert rounded_to == 5 and value % 5 == 0 and value >= 15, value
    return (11, 17) if value == 15 else (value - 2, value + 2)


def derivable_small_counts(known: dict[frozenset, tuple[int, int, str]]) -> list[str]:
    """Every pair of nested counts whose difference comes out as one value from 1 to 10."""
    by_size = defaultdict(list)
    for courses in known:
        by_size[len(courses)].append(courses)
    found = []
    for bigger, (low_big, high_big, where_big) in known.items():
        for gap in range(1, 11):
            for smaller in by_size.get(len(bigger) - gap, ()):
                if not smaller < bigger:
                    continue
                low_small, high_small, where_small = known[smaller]
                # The difference is not empty (the attacker is told), and is itself shown or not.
                low, high = max(low_big - high_small, 1), high_big - low_small
                rest = known.get(bigger - smaller)
                if rest is not None:
                    low, high = max(low, rest[0]), min(high, rest[1])
                if low == high:
                    found.append(f"{where_big} − {where_small} = {low}")
    return found


def test_no_small_count_can_be_derived_from_two_researcher_reports(
    as_user, bob, adam, clinic_a, clinic_b, cohort
):
    today = cohort
    truth = cohort_assemble(user=adam, filters=CohortFilter(), today=today).outcomes
    assert len(truth) == 80
    responses = set(QuestionnaireResponse.objects.values_list("course_id", "instrument", "time_point_months"))
    client = as_user(bob)
    known: dict[frozenset, tuple[int, int, str]] = {}
    shown_reports = 0
    for query in researcher_queries(today, [clinic_a.pk, clinic_b.pk]):
        response = client.get(REPORT, query)
        report = response.context["report"]
        if report is None:
            assert response.status_code == 400  # refused: nothing shown
            continue
        assert response.status_code == 200 and report.suppressed
        shown_reports += 1
        where = "&".join(f"{k}={v}" for k, v in query.items()) or "(no filter)"
        rounded_to = getattr(report, "counts_rounded_to", None)
        for courses, value, description in report_cells(report, members(truth, query), responses, where):
            interval = shown_range(value, rounded_to)
            if interval is None:
                continue
            low, high = interval
            assert low <= len(courses) <= high, f"{description} shows {value} for {len(courses)} courses"
            before = known.get(courses)
            if before is not None:
                low, high, description = max(low, before[0]), min(high, before[1]), before[2]
            known[courses] = (low, high, description)
    assert shown_reports > 60
    leaks = derivable_small_counts(known)
    assert not leaks, f"{len(leaks)} small counts can be derived, e.g.:\n" + "\n".join(leaks[:15])
