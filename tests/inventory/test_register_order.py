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
import threading
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import IntegrityError, connection, connections, transaction
from django.urls import reverse
from django.utils import timezone

from kapstone.audit.models import AuditEvent
from kapstone.care.services import day_of_checks_record, session_transition
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.inventory import selectors, services
from kapstone.inventory.models import Lot, RegisterEntry
from kapstone.patients.services import clinic_today
from tests.care.conftest import move_dosing_session
from tests.care.test_sessions import SERVICE_INPUTS
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
        assert rows[0]["occurred_at_utc"] == receipt.astimezone(ZoneInfo("UTC")).strftime(
            "%Y-%m-%dT%H:%M:%SZ"
        )
        assert rows[1]["posted_at_utc"].endswith("Z")
        assert audit_count(action="export", object_type="register_list", actor=adam) == 1

    def test_a_filtered_csv_keeps_the_lots_running_balance(self, as_user, adam, late_lot):
        response = as_user(adam).get(
            reverse("inventory:register_csv"), {"lot": late_lot.pk, "kind": "dispense"}
        )
        rows = list(csv.DictReader(io.StringIO(response.content.decode())))
        assert [(r["kind"], r["balance_after_mg"]) for r in rows] == SHOWN[1:]


def snapshot(*lots):
    """Everything a refused posting must leave as it was."""
    return (
        RegisterEntry.objects.count(),
        AuditEvent.objects.filter(object_type="register_entry").count(),
        tuple(Lot.objects.get(pk=lot.pk).balance_mg for lot in lots),
    )


@pytest.fixture
def small_lot(adam, nina, clinic_a, safe_a, ketamine_50, session_a, days):
    """500 mg received three days ago; 400 mg dispensed yesterday at 10:00 (100 mg left)."""
    lot = services._lot_receive(
        actor=adam,
        clinic=clinic_a,
        location=safe_a,
        product=ketamine_50,
        lot_number="KS-500",
        expiry=days[0] + timedelta(days=300),
        amount_mg="500",
        at=local(clinic_a, days[3], 9),
        today=days[3],
    )
    services.register_dispense(
        actor=nina, lot=lot, session=session_a, amount_mg="400", at=local(clinic_a, days[1], 10)
    )
    return lot


class TestLateEntries:
    def test_a_late_entry_that_fits_is_posted_at_its_time(self, nina, small_lot, session_a, days, clinic_a):
        entry = services.register_dispense(
            actor=nina, lot=small_lot, session=session_a, amount_mg="100", at=local(clinic_a, days[2], 10)
        )
        # Stored: the balances after it at its place (500 − 100), the lot's balance now is 0.
        assert (entry.balance_after_mg, entry.in_hand_after_mg, entry.sequence) == (D(400), D(100), 3)
        assert Lot.objects.get(pk=small_lot.pk).balance_mg == 0
        rows = selectors.lot_register(lot=small_lot)
        assert [(r.balance_mg, r.late) for r in rows] == [(D(500), False), (D(400), True), (D(0), False)]
        event = AuditEvent.objects.filter(object_type="register_entry", object_id=str(entry.pk)).get()
        assert event.detail["late"] is True and event.detail["lot_balance_mg"] == "0.0"

    def test_refuses_a_late_entry_that_would_make_a_later_balance_negative(
        self, nina, small_lot, session_a, days, clinic_a
    ):
        before = snapshot(small_lot)
        with pytest.raises(WorkflowConflict) as info:
            services.register_dispense(
                actor=nina, lot=small_lot, session=session_a, amount_mg="200", at=local(clinic_a, days[2], 10)
            )
        assert info.value.code == "late_entry_overdraws"
        yesterday = local(clinic_a, days[1], 10)
        assert (
            f"-100.0 mg after the dispense of {yesterday.day} {yesterday:%b %Y} 10:00" in info.value.message
        )
        assert snapshot(small_lot) == before

    def test_refuses_a_late_entry_beyond_the_stock_at_its_time(
        self, nina, small_lot, session_a, days, clinic_a
    ):
        before = snapshot(small_lot)
        for at, held in (
            (local(clinic_a, days[2], 10), "500.0 mg"),
            (local(clinic_a, days[4], 10), "0.0 mg"),
        ):
            with pytest.raises(WorkflowConflict) as info:
                services.register_dispense(
                    actor=nina, lot=small_lot, session=session_a, amount_mg="600", at=at
                )
            assert info.value.code == "insufficient_stock" and f"held {held} then" in info.value.message
        assert snapshot(small_lot) == before

    def test_refuses_late_bedside_entries_the_session_did_not_hold_then(
        self, nina, wanda, small_lot, session_a, days, clinic_a
    ):
        day_of_checks_record(actor=nina, session=session_a, inputs=SERVICE_INPUTS)
        session = move_dosing_session(nina, session_a, "in_progress")
        before = snapshot(small_lot)
        with pytest.raises(WorkflowConflict) as info:  # given the day before it was dispensed
            services.register_administer(
                actor=nina, lot=small_lot, session=session, amount_mg="10", at=local(clinic_a, days[2], 10)
            )
        assert info.value.code == "insufficient_in_hand" and "the session held 0.0 mg" in info.value.message
        assert snapshot(small_lot) == before
        services.register_administer(
            actor=nina, lot=small_lot, session=session, amount_mg="400", at=local(clinic_a, days[1], 12)
        )
        before = snapshot(small_lot)
        with pytest.raises(WorkflowConflict) as info:  # wasted before all of it was given
            services.register_waste(
                actor=nina,
                witness=wanda,
                lot=small_lot,
                session=session,
                amount_mg="10",
                at=local(clinic_a, days[1], 11),
            )
        assert info.value.code == "late_entry_overdraws" and "session holding -10.0 mg" in info.value.message
        assert snapshot(small_lot) == before

    def test_posting_numbers_run_per_lot(self, adam, small_lot, lot_a):
        assert list(small_lot.entries.order_by("sequence").values_list("sequence", flat=True)) == [1, 2]
        services.register_receive(actor=adam, lot=lot_a, amount_mg="1")
        assert list(lot_a.entries.order_by("sequence").values_list("sequence", flat=True)) == [1, 2]

    def test_the_database_refuses_a_second_entry_with_the_same_posting_number(self, nina, lot_a):
        first = lot_a.entries.get()
        with pytest.raises(IntegrityError), transaction.atomic():
            RegisterEntry.objects.create(
                clinic=lot_a.clinic,
                lot=lot_a,
                kind="adjust",
                amount_mg=1,
                stock_effect_mg=1,
                balance_after_mg=1001,
                balance_after_ml=20,
                balance_after_vials=2,
                actor=nina,
                reason="x",
                occurred_at=first.occurred_at,
                posted_at=first.posted_at,
                sequence=first.sequence,
            )


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks (SELECT … FOR UPDATE) are what is tested: PostgreSQL only; "
    "SQLite serialises all writers with IMMEDIATE transactions",
)
@pytest.mark.django_db(transaction=True)
def test_two_late_dispenses_that_together_would_overdraw_a_later_balance_exactly_one_wins(
    nina, wanda, adam, clinic_a, safe_a, ketamine_50, course_a, session_a
):
    # 500 received; 300 dispensed yesterday. Two late dispenses of 150 dated the day before each
    # fit alone (50 left after yesterday's), not together (−100): only the lot lock stands
    # between them, since they go to two different sessions.
    second = course_a.sessions.filter(kind="dosing").exclude(pk=session_a.pk).order_by("order").first()
    second = session_transition(actor=wanda, session=second, to="checked_in")
    today = clinic_today(clinic_a)
    lot = services._lot_receive(
        actor=adam,
        clinic=clinic_a,
        location=safe_a,
        product=ketamine_50,
        lot_number="LATE-1",
        expiry=today + timedelta(days=30),
        amount_mg="500",
        at=local(clinic_a, today - timedelta(days=3), 9),
        today=today - timedelta(days=3),
    )
    services.register_dispense(
        actor=nina,
        lot=lot,
        session=session_a,
        amount_mg="300",
        at=local(clinic_a, today - timedelta(days=1), 9),
    )
    barrier = threading.Barrier(2)
    outcomes: list[object] = []

    def dispense(actor, session):
        try:
            mine = Lot.objects.get(pk=lot.pk)
            barrier.wait(timeout=10)
            outcomes.append(
                services.register_dispense(
                    actor=actor,
                    lot=mine,
                    session=session,
                    amount_mg="150",
                    at=local(clinic_a, today - timedelta(days=2), 9),
                )
            )
        except DomainError as error:
            outcomes.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=dispense, args=pair) for pair in ((nina, session_a), (wanda, second))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    winners = [o for o in outcomes if isinstance(o, RegisterEntry)]
    losers = [o for o in outcomes if isinstance(o, WorkflowConflict)]
    assert len(winners) == 1 and len(losers) == 1, outcomes
    assert losers[0].code == "late_entry_overdraws"
    assert Lot.objects.get(pk=lot.pk).balance_mg == D(50)
    balances = [row.balance_mg for row in selectors.lot_register(lot=lot)]
    assert balances == [D(500), D(350), D(50)] and min(balances) >= 0


class TestFiltersAndAccess:
    def test_the_session_filter_shows_the_lots_running_balance(self, as_user, nina, late_lot, session_a):
        entry = late_lot.entries.get(amount_mg=D("132"))
        page = as_user(nina).get(reverse("inventory:entry", args=[entry.pk])).content.decode()
        link = f"{reverse('inventory:register')}?session={session_a.pk}"
        assert link in page
        response = as_user(nina).get(reverse("inventory:register"), {"session": session_a.pk})
        assert (
            response.status_code == 200
            and "Only the entries of one dosing session" in response.content.decode()
        )
        assert balances(table_rows(response.content.decode())) == SHOWN[1:]

    @pytest.mark.parametrize("value", ["abc", "0", "99999999999999999999"])
    def test_a_bad_session_in_the_link_is_400_not_500(self, as_user, nina, late_lot, value):
        before = audit_count(object_type="register_list")
        response = as_user(nina).get(reverse("inventory:register"), {"session": value})
        assert response.status_code == 400
        assert "The dosing session in this link is not valid" in response.content.decode()
        assert audit_count(object_type="register_list") == before

    def test_the_csv_is_for_clinic_admins_of_the_clinic(self, as_user, nina, bella, late_lot, lot_b):
        assert as_user(nina).get(reverse("inventory:register_csv")).status_code == 403
        body = as_user(bella).get(reverse("inventory:register_csv")).content.decode()
        rows = list(csv.DictReader(io.StringIO(body)))
        assert {r["lot_number"] for r in rows} == {"KB-2002"}
        assert "KL-100K" not in body and "Zzyzxfield" not in body

    def test_a_bad_csv_filter_is_400_and_exports_nothing(self, as_user, adam, late_lot):
        response = as_user(adam).get(reverse("inventory:register_csv"), {"date_from": "yesterday"})
        assert response.status_code == 400 and b'value="yesterday"' in response.content
        assert audit_count(action="export", object_type="register_list") == 0

    def test_the_csv_names_its_utc_columns_and_no_patient(self, as_user, adam, late_lot, session_a):
        body = as_user(adam).get(reverse("inventory:register_csv"), {"lot": late_lot.pk}).content.decode()
        header = body.splitlines()[0].split(",")
        assert {"occurred_at_utc", "posted_at_utc", "late_entry", "balance_after_mg"} <= set(header)
        assert session_a.patient.mrn not in body and session_a.patient.family_name not in body

    def test_the_entry_page_says_when_it_was_posted_and_by_whom(self, as_user, nina, late_lot, clinic_a):
        receipt = late_lot.entries.get(kind="receive")
        body = as_user(nina).get(reverse("inventory:entry", args=[receipt.pk])).content.decode()
        posted = receipt.posted_at.astimezone(ZoneInfo(clinic_a.timezone))
        assert f"{posted.day} {posted:%b %Y %H:%M:%S} {posted.tzname()} by Adam" in body
        assert "Late entry" not in body and " UTC" not in body


class TestCounts:
    def test_the_count_page_says_when_late_entries_changed_the_register_at_its_time(
        self, as_user, nina, adam, small_lot, session_a, days, clinic_a
    ):
        count = services.count_record(
            actor=nina, location=small_lot.location, counted_mg_by_lot={small_lot.pk: "100"}
        )
        line = count.lines.get()
        assert (line.expected_mg, line.discrepancy_mg) == (D(100), D(0))
        page = as_user(adam).get(reverse("inventory:count", args=[count.pk])).content.decode()
        assert "were posted after it" not in page
        services.register_dispense(
            actor=nina, lot=small_lot, session=session_a, amount_mg="40", at=local(clinic_a, days[2], 10)
        )
        page = as_user(adam).get(reverse("inventory:count", args=[count.pk])).content.decode()
        assert "the register now shows 60.0 mg at the time of the count" in page
        assert "(UTC)" not in page

    def test_a_count_expects_the_balance_at_its_moment(
        self, nina, adam, small_lot, session_a, clinic_a, days
    ):
        # An entry dated ahead of the count's moment (allowed up to a minute) is not expected yet.
        ahead = timezone.now() + timedelta(seconds=50)
        services.register_dispense(actor=nina, lot=small_lot, session=session_a, amount_mg="10", at=ahead)
        count = services.count_record(
            actor=nina, location=small_lot.location, counted_mg_by_lot={small_lot.pk: "100"}
        )
        assert count.lines.get().expected_mg == D(100)


class TestReceiptsRecordedLate:
    def test_a_dose_before_the_receipt_is_refused_until_the_receipt_is_dated_when_it_arrived(
        self, adam, nina, lot_a, session_a
    ):
        # lot_a was received just now; a dispense dated an hour ago finds nothing in it then.
        an_hour_ago = timezone.now() - timedelta(hours=1)
        with pytest.raises(WorkflowConflict) as info:
            services.register_dispense(
                actor=nina, lot=lot_a, session=session_a, amount_mg="100", at=an_hour_ago
            )
        assert info.value.code == "insufficient_stock" and "held 0.0 mg then" in info.value.message
        receipt = services.register_receive(
            actor=adam, lot=lot_a, amount_mg="500", reason="delivery", at=an_hour_ago - timedelta(hours=1)
        )
        services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg="100", at=an_hour_ago)
        rows = selectors.lot_register(lot=lot_a)
        assert [(r.entry.pk == receipt.pk, r.balance_mg, r.late) for r in rows] == [
            (True, D(500), True),
            (False, D(400), True),
            (False, D(1400), False),
        ]

    def test_the_receive_form_takes_the_time_the_delivery_arrived_in_the_clinics_zone(
        self, as_user, adam, clinic_a, safe_a, ketamine_50, days
    ):
        response = as_user(adam).post(
            reverse("inventory:lot_new"),
            {
                "location": safe_a.pk,
                "product": ketamine_50.pk,
                "lot_number": "KR-1",
                "expiry": (days[0] + timedelta(days=100)).isoformat(),
                "vials": "2",
                "received_at": f"{days[1].isoformat()}T08:15",
            },
        )
        assert response.status_code == 302
        entry = RegisterEntry.objects.get(lot__lot_number="KR-1")
        assert entry.occurred_at == local(clinic_a, days[1], 8, 15)
        assert entry.posted_at > entry.occurred_at

    def test_a_receipt_in_the_future_is_refused_beside_its_field_with_the_input_kept(
        self, as_user, adam, lot_a, days
    ):
        before = snapshot(lot_a)
        tomorrow = (days[0] + timedelta(days=1)).isoformat()
        response = as_user(adam).post(
            reverse("inventory:receive", args=[lot_a.pk]), {"vials": "1", "received_at": f"{tomorrow}T09:00"}
        )
        assert response.status_code == 400
        body = response.content.decode()
        assert "cannot be dated in the future" in body and f'value="{tomorrow}T09:00"' in body
        assert "cannot be dated in the future" in response.context["form"].errors["received_at"][0]
        assert snapshot(lot_a) == before
