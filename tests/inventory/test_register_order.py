"""The register's one order: the time each entry happened, then the order it was posted.

Issue 11, defect 2: a receipt of 100,000 mg followed by a dispense of 132 mg showed a balance of
97,318 mg, and later balances rose after dispenses, because each entry carried the balance of
the moment it was posted while the pages listed entries by the time they happened. Here a
dispense dated the day before an earlier-posted one (a late entry) must recompute every balance
shown after it, on the lot page, on the register (filtered or not) and in the CSV.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.urls import reverse

from kapstone.inventory import selectors, services
from kapstone.patients.services import clinic_today
from tests.conftest import audit_count
from tests.inventory.tables import first_number, table_rows

pytestmark = pytest.mark.django_db
D = Decimal


def local(clinic, day: date, hour: int, minute: int = 0) -> datetime:
    return datetime.combine(day, time(hour, minute), tzinfo=ZoneInfo(clinic.timezone))


@pytest.fixture
def days(clinic_a):
    today = clinic_today(clinic_a)
    return {n: today - timedelta(days=n) for n in range(5)}


@pytest.fixture
def late_lot(adam, nina, clinic_a, safe_a, ketamine_50, session_a, days):
    """100,000 mg received three days ago; a dispense of 200 mg dated yesterday is posted first,
    then one of 132 mg dated the day before (a late entry)."""
    lot = services._lot_receive(
        actor=adam,
        clinic=clinic_a,
        location=safe_a,
        product=ketamine_50,
        lot_number="KL-100K",
        expiry=days[0] + timedelta(days=300),
        amount_mg="100000",
        at=local(clinic_a, days[3], 9),
        today=days[3],
    )
    services.register_dispense(
        actor=nina, lot=lot, session=session_a, amount_mg="200", at=local(clinic_a, days[1], 10)
    )
    services.register_dispense(
        actor=nina, lot=lot, session=session_a, amount_mg="132", at=local(clinic_a, days[2], 10)
    )
    return lot


SHOWN = [("receive", "100000.0"), ("dispense", "99868.0"), ("dispense", "99668.0")]


def balances(rows) -> list[tuple[str, str]]:
    return [(row["Kind"].lower(), first_number(row["Balance after (mg)"])) for row in rows]


class TestSelectors:
    def test_the_lot_register_runs_in_date_order_and_marks_the_late_entry(self, late_lot, nina):
        rows = selectors.lot_register(lot=late_lot)
        assert [(r.entry.kind, str(r.balance_mg)) for r in rows] == SHOWN
        assert [r.in_hand_after_mg for r in rows] == [None, D("132.0"), D("332.0")]
        assert [r.late for r in rows] == [False, True, False]
        assert rows[-1].balance_mg == late_lot.balance_mg == D("99668.0")

    def test_a_filtered_list_shows_the_lots_true_balance(self, late_lot, adam, days):
        rows, total = selectors.entries_for_user(
            user=adam, filters=selectors.RegisterFilter(kind="dispense", lot_id=late_lot.pk)
        )
        assert total == 2
        assert [str(r.balance_mg) for r in rows] == ["99868.0", "99668.0"]
        rows, _ = selectors.entries_for_user(
            user=adam, filters=selectors.RegisterFilter(date_from=days[1], lot_id=late_lot.pk)
        )
        assert [(r.entry.amount_mg, r.balance_mg) for r in rows] == [(D("200.0"), D("99668.0"))]


class TestPages:
    def test_lot_page_shows_the_balance_after_each_entry_in_date_order(self, as_user, nina, late_lot):
        body = as_user(nina).get(reverse("inventory:lot", args=[late_lot.pk])).content.decode()
        rows = table_rows(body)
        assert balances(rows) == SHOWN

    def test_register_page_of_the_lot_shows_the_same_balances(self, as_user, nina, late_lot):
        response = as_user(nina).get(reverse("inventory:register"), {"lot": late_lot.pk})
        assert response.status_code == 200
        assert balances(table_rows(response.content.decode())) == SHOWN

    @pytest.mark.parametrize(
        ("query", "expected"),
        [
            ({"kind": "dispense"}, SHOWN[1:]),
            ({"kind": "receive"}, SHOWN[:1]),
            ({"date_from": 1}, SHOWN[2:]),
            ({"date_to": 2}, SHOWN[:2]),
            ({"date_from": 2, "date_to": 2}, SHOWN[1:2]),
        ],
    )
    def test_a_filtered_register_shows_the_lots_running_balance_not_a_sum_of_the_rows(
        self, as_user, adam, late_lot, days, query, expected
    ):
        query = {k: (days[v].isoformat() if k.startswith("date") else v) for k, v in query.items()}
        response = as_user(adam).get(reverse("inventory:register"), {"lot": late_lot.pk, **query})
        assert balances(table_rows(response.content.decode())) == expected

    def test_the_late_entry_says_when_and_by_whom_it_was_posted(self, as_user, nina, late_lot):
        rows = table_rows(as_user(nina).get(reverse("inventory:lot", args=[late_lot.pk])).content.decode())
        late = rows[1]["When"]
        assert "Late entry, posted" in late and "Nina" in late
        assert all("Late entry" not in row["When"] for row in (rows[0], rows[2]))

    def test_times_are_the_clinics_with_the_zone_named(self, as_user, nina, late_lot, days, clinic_a):
        rows = table_rows(as_user(nina).get(reverse("inventory:lot", args=[late_lot.pk])).content.decode())
        when = local(clinic_a, days[2], 10)
        assert rows[1]["When"].startswith(f"{when:%-d %b %Y} 10:00 {when.tzname()}")

    def test_entry_page_shows_the_balance_after_it_in_date_order(self, as_user, nina, late_lot):
        first_posted = late_lot.entries.get(amount_mg=D("200"))
        body = as_user(nina).get(reverse("inventory:entry", args=[first_posted.pk])).content.decode()
        assert "99668.0 mg" in body and "99800.0" not in body
        late = late_lot.entries.get(amount_mg=D("132"))
        body = as_user(nina).get(reverse("inventory:entry", args=[late.pk])).content.decode()
        assert "99868.0 mg" in body and "Late entry, posted" in body


class TestCsv:
    def test_register_csv_has_the_balances_in_date_order_and_utc_times(self, as_user, adam, late_lot, days):
        response = as_user(adam).get(reverse("inventory:register_csv"), {"lot": late_lot.pk})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [(r["kind"], r["balance_after_mg"]) for r in rows] == SHOWN
        assert [r["late_entry"] for r in rows] == ["no", "yes", "no"]
        receipt = late_lot.entries.get(kind="receive").occurred_at
        assert rows[0]["occurred_at_utc"] == receipt.astimezone(ZoneInfo("UTC")).strftime("%Y-%m-%dT%H:%M:%SZ")
        assert rows[1]["posted_at_utc"].endswith("Z")
        assert audit_count(action="export", object_type="register_list", actor=adam) == 1

    def test_a_filtered_csv_keeps_the_lots_running_balance(self, as_user, adam, late_lot):
        response = as_user(adam).get(reverse("inventory:register_csv"), {"lot": late_lot.pk, "kind": "dispense"})
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [(r["kind"], r["balance_after_mg"]) for r in rows] == SHOWN[1:]
