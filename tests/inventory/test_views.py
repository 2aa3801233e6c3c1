"""Register pages: each works, other clinics get 404, wrong roles 403, bad input 400 with the
input kept and nothing written; counts, discrepancies and the inventory report (page and CSV)."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from decimal import Decimal

import pytest
from django.urls import reverse

from kapstone.audit.models import AuditEvent
from kapstone.inventory import services
from kapstone.inventory.models import CountLine, CountSession, Lot, Product, RegisterEntry, StorageLocation
from kapstone.patients.services import clinic_today
from tests.conftest import PASSWORD, audit_count

pytestmark = pytest.mark.django_db
D = Decimal


def entries() -> int:
    return RegisterEntry.objects.count()


class TestStock:
    def test_stock_shows_lots_in_mg_ml_and_vials(self, as_user, nina, lot_a):
        response = as_user(nina).get(reverse("inventory:stock"))
        assert response.status_code == 200
        body = response.content.decode()
        assert "KA-1001" in body and "1000.0" in body and "20.00" in body and "2.00" in body
        assert "Main safe" in body
        assert audit_count(action="read", object_type="stock_list", actor=nina) == 1

    def test_expiry_is_highlighted(self, as_user, adam, nina, clinic_a, safe_a, ketamine_50, lot_a):
        services.lot_receive(
            actor=adam,
            clinic=clinic_a,
            location=safe_a,
            product=ketamine_50,
            lot_number="SOON-1",
            expiry=clinic_today(clinic_a) + timedelta(days=10),
            amount_mg="500",
        )
        body = as_user(nina).get(reverse("inventory:stock")).content.decode()
        assert "expires in 10 days" in body and "row-warn" in body
        Lot.objects.filter(lot_number="SOON-1").update(expiry=clinic_today(clinic_a) - timedelta(days=1))
        body = as_user(nina).get(reverse("inventory:stock")).content.decode()
        assert "expired</span>" in body

    def test_other_clinic_sees_none_of_it(self, as_user, carol, lot_a, lot_b):
        body = as_user(carol).get(reverse("inventory:stock")).content.decode()
        assert "KB-2002" in body and "KA-1001" not in body

    @pytest.mark.parametrize("who", ["bob", "terry"])
    def test_researchers_and_therapists_get_403(self, as_user, request, who, lot_a):
        user = request.getfixturevalue(who)
        for name, args in (
            ("stock", []),
            ("lot", [lot_a.pk]),
            ("register", []),
            ("counts", []),
            ("entry", [RegisterEntry.objects.first().pk]),
            ("transaction", [lot_a.pk, "dispense"]),
            ("count_new", [lot_a.location_id]),
        ):
            response = as_user(user).get(reverse(f"inventory:{name}", args=args))
            assert response.status_code == 403, name
            assert b"KA-1001" not in response.content

    def test_nav_shows_inventory_to_nurses_not_to_therapists(self, as_user, nina, terry):
        assert b'href="/inventory/"' in as_user(nina).get(reverse("care:protocols")).content
        assert b'href="/inventory/"' not in as_user(terry).get(reverse("care:protocols")).content


class TestLotAndTransactions:
    def test_lot_page_lists_its_register_and_the_actions_of_the_role(self, as_user, nina, adam, lot_a):
        body = as_user(nina).get(reverse("inventory:lot", args=[lot_a.pk])).content.decode()
        assert ">Receive<" in body and reverse("inventory:transaction", args=[lot_a.pk, "dispense"]) in body
        assert reverse("inventory:transaction", args=[lot_a.pk, "adjust"]) not in body
        admin_body = as_user(adam).get(reverse("inventory:lot", args=[lot_a.pk])).content.decode()
        assert reverse("inventory:transaction", args=[lot_a.pk, "adjust"]) in admin_body
        assert reverse("inventory:transaction", args=[lot_a.pk, "dispense"]) not in admin_body

    def test_other_clinic_gets_404_without_phi(self, as_user, nina, carol, bella, lot_a, session_a):
        entry = services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg="100")
        for user in (carol, bella):
            client = as_user(user)
            for name, args in (
                ("lot", [lot_a.pk]),
                ("entry", [entry.pk]),
                ("receive", [lot_a.pk]),
                ("transaction", [lot_a.pk, "dispense"]),
                ("transaction", [lot_a.pk, "adjust"]),
                ("count_new", [lot_a.location_id]),
            ):
                response = client.get(reverse(f"inventory:{name}", args=args))
                if response.status_code == 403:
                    continue  # the role is wrong before the clinic is (bella cannot dispense anywhere)
                assert response.status_code == 404, (user, name)
                assert b"KA-1001" not in response.content and b"Zzyzxfield" not in response.content

    def test_nurse_dispenses_from_the_page(self, as_user, nina, lot_a, session_a):
        client = as_user(nina)
        form = client.get(reverse("inventory:transaction", args=[lot_a.pk, "dispense"]))
        assert form.status_code == 200 and b"Zzyzxfield" in form.content  # the session to choose
        response = client.post(
            reverse("inventory:transaction", args=[lot_a.pk, "dispense"]),
            {"session": session_a.pk, "amount_mg": "500"},
        )
        assert response.status_code == 302
        entry = RegisterEntry.objects.get(kind="dispense")
        assert (entry.actor, entry.session, entry.balance_after_mg) == (nina, session_a, D("500"))

    def test_bad_amount_is_refused_with_input_kept_and_nothing_written(self, as_user, nina, lot_a, session_a):
        before = entries()
        response = as_user(nina).post(
            reverse("inventory:transaction", args=[lot_a.pk, "dispense"]),
            {"session": session_a.pk, "amount_mg": "12.34"},
        )
        assert response.status_code == 400
        assert b"amount_precision" in response.content and b'value="12.34"' in response.content
        assert entries() == before

    def test_dispense_beyond_stock_shows_the_balance(self, as_user, nina, lot_a, session_a):
        response = as_user(nina).post(
            reverse("inventory:transaction", args=[lot_a.pk, "dispense"]),
            {"session": session_a.pk, "amount_mg": "1500"},
        )
        assert response.status_code == 400
        assert b"insufficient_stock" in response.content and b"1000.0 mg" in response.content

    def test_expired_lot_is_refused_from_the_page_and_writes_nothing(self, as_user, nina, lot_a, session_a):
        Lot.objects.filter(pk=lot_a.pk).update(expiry=clinic_today(lot_a.clinic) - timedelta(days=3))
        before = entries()
        response = as_user(nina).post(
            reverse("inventory:transaction", args=[lot_a.pk, "dispense"]),
            {"session": session_a.pk, "amount_mg": "100"},
        )
        assert response.status_code == 400 and b"lot_expired" in response.content
        assert entries() == before and Lot.objects.get(pk=lot_a.pk).balance_mg == D("1000")

    def test_waste_needs_a_witness_who_signs_with_their_password(
        self, as_user, nina, wanda, lot_a, session_a
    ):
        services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg="500")
        client = as_user(nina)
        url = reverse("inventory:transaction", args=[lot_a.pk, "waste"])
        before = entries()
        no_witness = client.post(
            url, {"session": session_a.pk, "amount_mg": "20", "reason": "drawn up, not given"}
        )
        assert no_witness.status_code == 400 and b"witness_required" in no_witness.content
        wrong = client.post(
            url,
            {"session": session_a.pk, "amount_mg": "20", "witness": wanda.pk, "witness_password": "not-it"},
        )
        assert wrong.status_code == 400 and b"witness_not_confirmed" in wrong.content
        assert entries() == before
        assert AuditEvent.objects.filter(object_type="witness_confirmation", outcome="denied").count() == 1
        ok = client.post(
            url,
            {
                "session": session_a.pk,
                "amount_mg": "20",
                "witness": wanda.pk,
                "witness_password": PASSWORD,
                "reason": "drawn up, not given",
            },
        )
        assert ok.status_code == 302
        waste = RegisterEntry.objects.get(kind="waste")
        assert waste.witness == wanda and waste.in_hand_after_mg == D("480")

    def test_nurse_cannot_adjust_or_transfer(self, as_user, nina, lot_a):
        for kind in ("adjust", "transfer"):
            response = as_user(nina).post(
                reverse("inventory:transaction", args=[lot_a.pk, kind]), {"amount_mg": "-10", "reason": "x"}
            )
            assert response.status_code == 403
        assert entries() == 1

    def test_admin_adjusts_and_transfers(self, as_user, adam, lot_a, cabinet_a):
        client = as_user(adam)
        response = client.post(
            reverse("inventory:transaction", args=[lot_a.pk, "adjust"]), {"amount_mg": "-10"}
        )
        assert response.status_code == 400 and b"reason_required" in response.content
        assert (
            client.post(
                reverse("inventory:transaction", args=[lot_a.pk, "adjust"]),
                {"amount_mg": "-10", "reason": "vial cracked in the safe"},
            ).status_code
            == 302
        )
        assert (
            client.post(
                reverse("inventory:transaction", args=[lot_a.pk, "transfer"]),
                {"amount_mg": "490", "to_location": cabinet_a.pk, "reason": "today's sessions"},
            ).status_code
            == 302
        )
        assert Lot.objects.get(pk=lot_a.pk).balance_mg == D("500")
        assert Lot.objects.get(location=cabinet_a).balance_mg == D("490")

    def test_unknown_kind_is_404(self, as_user, nina, lot_a):
        assert (
            as_user(nina).get(reverse("inventory:transaction", args=[lot_a.pk, "steal"])).status_code == 404
        )


class TestReceiveAndSetUp:
    def test_admin_receives_a_new_lot_in_vials(self, as_user, adam, safe_a, ketamine_50):
        expiry = (clinic_today(safe_a.clinic) + timedelta(days=400)).isoformat()
        response = as_user(adam).post(
            reverse("inventory:lot_new"),
            {
                "location": safe_a.pk,
                "product": ketamine_50.pk,
                "lot_number": "NEW-77",
                "expiry": expiry,
                "vials": "5",
            },
        )
        assert response.status_code == 302
        lot = Lot.objects.get(lot_number="NEW-77")
        assert lot.balance_mg == D("2500")

    def test_receiving_an_existing_lot_keeps_the_input(self, as_user, adam, lot_a):
        response = as_user(adam).post(
            reverse("inventory:lot_new"),
            {
                "location": lot_a.location_id,
                "product": lot_a.product_id,
                "lot_number": "KA-1001",
                "expiry": lot_a.expiry.isoformat(),
                "vials": "3",
            },
        )
        assert (
            response.status_code == 400
            and b"lot_exists" in response.content
            and b'value="KA-1001"' in response.content
        )
        assert Lot.objects.count() == 1

    def test_admin_receives_more_into_a_lot(self, as_user, adam, lot_a):
        response = as_user(adam).post(
            reverse("inventory:receive", args=[lot_a.pk]), {"vials": "2", "reason": "Inv 7"}
        )
        assert response.status_code == 302
        assert Lot.objects.get(pk=lot_a.pk).balance_mg == D("2000")

    def test_nurse_cannot_receive(self, as_user, nina, lot_a):
        assert as_user(nina).get(reverse("inventory:lot_new")).status_code == 403
        assert (
            as_user(nina).post(reverse("inventory:receive", args=[lot_a.pk]), {"vials": "2"}).status_code
            == 403
        )

    def test_admin_adds_locations_and_products(self, as_user, adam):
        client = as_user(adam)
        assert client.post(reverse("inventory:location_new"), {"name": "Night safe"}).status_code == 302
        assert StorageLocation.objects.filter(name="Night safe").exists()
        bad = client.post(
            reverse("inventory:product_new"),
            {
                "name": "Ketamine",
                "ndc": "12345",
                "dosage_form": "Inj",
                "strength_mg_per_ml": "100",
                "vial_volume_ml": "5",
            },
        )
        assert bad.status_code == 400 and b"invalid_ndc" in bad.content and b'value="12345"' in bad.content
        ok = client.post(
            reverse("inventory:product_new"),
            {
                "name": "Ketamine",
                "ndc": "99999-1005-05",
                "dosage_form": "Inj",
                "strength_mg_per_ml": "100",
                "vial_volume_ml": "5",
            },
        )
        assert ok.status_code == 302 and Product.objects.filter(ndc="99999-1005-05").exists()


class TestRegister:
    def test_register_filters_by_kind_lot_and_date(self, as_user, nina, adam, lot_a, session_a):
        services.register_dispense(actor=nina, lot=lot_a, session=session_a, amount_mg="100")
        client = as_user(adam)
        all_rows = client.get(reverse("inventory:register"))
        assert all_rows.status_code == 200 and all_rows.context["total"] == 2
        dispenses = client.get(reverse("inventory:register"), {"kind": "dispense", "lot": lot_a.pk})
        assert [row.entry.kind for row in dispenses.context["rows"]] == ["dispense"]
        today = clinic_today(lot_a.clinic)
        future = client.get(
            reverse("inventory:register"), {"date_from": (today + timedelta(days=1)).isoformat()}
        )
        assert future.context["total"] == 0
        span = client.get(
            reverse("inventory:register"), {"date_from": today.isoformat(), "date_to": today.isoformat()}
        )
        assert span.context["total"] == 2
        assert audit_count(action="read", object_type="register_list", actor=adam) == 4

    def test_register_of_another_clinic_is_empty(self, as_user, carol, lot_a):
        response = as_user(carol).get(reverse("inventory:register"))
        assert response.status_code == 200 and response.context["total"] == 0

    def test_bad_filter_is_400(self, as_user, nina, lot_a):
        response = as_user(nina).get(reverse("inventory:register"), {"date_from": "yesterday"})
        assert response.status_code == 400 and b'value="yesterday"' in response.content

    def test_entry_detail(self, as_user, nina, lot_a):
        entry = RegisterEntry.objects.get(lot=lot_a)
        response = as_user(nina).get(reverse("inventory:entry", args=[entry.pk]))
        assert response.status_code == 200 and b"KA-1001" in response.content
        assert audit_count(action="read", object_type="register_entry", object_id=str(entry.pk)) == 1

    def test_transfer_entries_link_to_each_other(self, as_user, adam, lot_a, cabinet_a):
        outgoing, incoming = services.register_transfer(
            actor=adam, lot=lot_a, to_location=cabinet_a, amount_mg="100", reason="for the dosing room"
        )
        out_page = as_user(adam).get(reverse("inventory:entry", args=[outgoing.pk])).content.decode()
        assert "Moved to" in out_page and reverse("inventory:entry", args=[incoming.pk]) in out_page
        in_page = as_user(adam).get(reverse("inventory:entry", args=[incoming.pk])).content.decode()
        assert "Moved from" in in_page and reverse("inventory:entry", args=[outgoing.pk]) in in_page


class TestCounts:
    def count_post(self, lot, vials: str, ml: str = "", **extra) -> dict:
        return {f"lot_{lot.pk}_vials": vials, f"lot_{lot.pk}_ml": ml, **extra}

    def test_count_form_is_blind_and_records_a_discrepancy(self, as_user, nina, adam, lot_a):
        client = as_user(nina)
        url = reverse("inventory:count_new", args=[lot_a.location_id])
        form = client.get(url)
        assert form.status_code == 200 and b"KA-1001" in form.content and b"1000.0" not in form.content
        started = form.context["form"].initial["started"]
        response = client.post(url, self.count_post(lot_a, "1", "9.80", started=started))
        assert response.status_code == 302
        line = CountLine.objects.get()
        assert (line.expected_mg, line.counted_mg, line.discrepancy_mg) == (D("1000"), D("990"), D("-10"))
        # The admin resolves it on the web, posting an adjustment.
        resolve = as_user(adam).post(
            reverse("inventory:resolve", args=[line.pk]),
            {"explanation": "Spill while drawing up", "adjust_mg": "-10"},
        )
        assert resolve.status_code == 302
        line.refresh_from_db()
        assert line.resolved_by == adam and line.adjustment.stock_effect_mg == D("-10")
        assert Lot.objects.get(pk=lot_a.pk).balance_mg == D("990")

    def test_missing_count_is_refused_with_nothing_written(self, as_user, nina, lot_a):
        client = as_user(nina)
        url = reverse("inventory:count_new", args=[lot_a.location_id])
        started = client.get(url).context["form"].initial["started"]
        response = client.post(url, self.count_post(lot_a, "", "", started=started))
        assert response.status_code == 400 and b"count_incomplete" in response.content
        assert CountSession.objects.count() == 0

    def test_tampered_start_is_refused(self, as_user, nina, lot_a):
        response = as_user(nina).post(
            reverse("inventory:count_new", args=[lot_a.location_id]),
            self.count_post(lot_a, "2", started="forged"),
        )
        assert response.status_code == 400 and b"count_form_expired" in response.content
        assert CountSession.objects.count() == 0

    def test_admin_cannot_count_and_nurse_cannot_resolve(self, as_user, nina, adam, lot_a):
        assert as_user(adam).get(reverse("inventory:count_new", args=[lot_a.location_id])).status_code == 403
        count = services.count_record(actor=nina, location=lot_a.location, counted_mg_by_lot={lot_a.pk: "1"})
        line = count.lines.get()
        assert (
            as_user(nina).post(reverse("inventory:resolve", args=[line.pk]), {"explanation": "x"}).status_code
            == 403
        )
        assert as_user(nina).get(reverse("inventory:discrepancies")).status_code == 403
        line.refresh_from_db()
        assert line.is_open

    def test_count_pages_and_discrepancy_log(self, as_user, nina, adam, carol, lot_a):
        count = services.count_record(actor=nina, location=lot_a.location, counted_mg_by_lot={lot_a.pk: "1"})
        assert as_user(nina).get(reverse("inventory:count", args=[count.pk])).status_code == 200
        assert as_user(carol).get(reverse("inventory:count", args=[count.pk])).status_code == 404
        log = as_user(adam).get(reverse("inventory:discrepancies"))
        assert log.status_code == 200 and b"-999.0" in log.content and b"open</span>" in log.content
        line = count.lines.get()
        assert (
            as_user(make_admin_b(carol)).get(reverse("inventory:resolve", args=[line.pk])).status_code == 404
        )

    def test_resolve_without_explanation_keeps_the_input(self, as_user, nina, adam, lot_a):
        line = services.count_record(
            actor=nina, location=lot_a.location, counted_mg_by_lot={lot_a.pk: "1"}
        ).lines.get()
        response = as_user(adam).post(
            reverse("inventory:resolve", args=[line.pk]), {"explanation": "", "adjust_mg": "-7"}
        )
        assert response.status_code == 400 and b'value="-7"' in response.content
        line.refresh_from_db()
        assert line.is_open and entries() == 1


def make_admin_b(carol):
    from kapstone.accounts.models import Role
    from tests.conftest import make_user

    return make_user("bianca", carol.memberships.get().clinic, Role.ADMIN)


class TestInventoryReport:
    def test_printable_page(self, as_user, adam, lot_a):
        response = as_user(adam).get(reverse("inventory:report"))
        assert response.status_code == 200
        body = response.content.decode()
        assert "KA-1001" in body and "close of business" in body and "1000.0" in body
        assert audit_count(action="read", object_type="inventory_report", actor=adam) == 1

    def test_opening_of_business_excludes_the_days_entries(self, as_user, adam, lot_a):
        today = clinic_today(lot_a.clinic).isoformat()
        response = as_user(adam).get(reverse("inventory:report"), {"day": today, "taken_at": "opening"})
        assert response.status_code == 200 and response.context["inventory"].lines == ()

    def test_csv_export(self, as_user, adam, clinic_a, safe_a, lot_a):
        hostile = services.location_create(actor=adam, clinic=clinic_a, name='=HYPERLINK("http://x")')
        services.register_transfer(actor=adam, lot=lot_a, to_location=hostile, amount_mg="500", reason="x")
        services.lot_receive(
            actor=adam,
            clinic=clinic_a,
            location=safe_a,
            product=lot_a.product,
            lot_number="-2+3",
            expiry=lot_a.expiry,
            amount_mg="250",
        )
        today = clinic_today(clinic_a).isoformat()
        response = as_user(adam).get(reverse("inventory:report_csv"), {"day": today, "taken_at": "close"})
        assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
        assert (
            response["Content-Disposition"]
            == f'attachment; filename="kapstone-inventory-a-{today}-close.csv"'
        )
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0][:5] == ["clinic", "inventory_date", "taken_at", "product", "ndc"]
        assert "balance_mg" in rows[0] and "lot_number" in rows[0]
        by_lot = {row[rows[0].index("lot_number")]: row for row in rows[1:]}
        assert set(by_lot) == {"KA-1001", "'-2+3"}
        location_cells = {row[rows[0].index("location")] for row in rows[1:]}
        assert '\'=HYPERLINK("http://x")' in location_cells
        assert all(not cell.startswith(("=", "+", "-", "@")) for row in rows for cell in row)
        assert by_lot["'-2+3"][rows[0].index("balance_mg")] == "250.0"
        assert audit_count(action="export", object_type="inventory_report", actor=adam) == 1

    def test_filename_ignores_user_input(self, as_user, adam, lot_a):
        response = as_user(adam).get(
            reverse("inventory:report_csv"),
            {
                "day": clinic_today(lot_a.clinic).isoformat(),
                "taken_at": "close",
                "filename": "evil\r\nSet-Cookie: x",
            },
        )
        assert "evil" not in response["Content-Disposition"]

    def test_bad_date_is_400(self, as_user, adam, lot_a):
        assert as_user(adam).get(reverse("inventory:report_csv"), {"day": "soon"}).status_code == 400

    def test_only_admins(self, as_user, nina, lot_a):
        assert as_user(nina).get(reverse("inventory:report")).status_code == 403
        assert as_user(nina).get(reverse("inventory:report_csv")).status_code == 403
