"""Migrations 0003/0004 number the entries already in the register and give them a posting
time, with the append-only triggers lifted only while they do."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction

from kapstone.audit.models import AuditEvent
from kapstone.inventory.models import RegisterEntry
from tests.inventory.test_register_order import days, late_lot, local  # noqa: F401 - fixtures
from tests.migrations_kit import migrate, migrate_to_newest

BEFORE = ("inventory", "0002_register_append_only")
LATEST = ("inventory", "0004_register_order_required")


@pytest.mark.django_db(transaction=True)
def test_entries_are_numbered_in_posting_order_and_timed_by_their_audit_row(late_lot):  # noqa: F811
    numbers = dict(RegisterEntry.objects.values_list("pk", "sequence"))
    assert sorted(numbers.values()) == [1, 2, 3]
    try:
        old = migrate(BEFORE)
        fields = {f.name for f in old.get_model("inventory", "RegisterEntry")._meta.get_fields()}
        assert "sequence" not in fields and "posted_at" not in fields
    finally:
        migrate_to_newest()  # through LATEST, and every app's later migrations
    assert dict(RegisterEntry.objects.values_list("pk", "sequence")) == numbers
    audited = dict(
        AuditEvent.objects.filter(object_type="register_entry", action="create").values_list(
            "object_id", "at"
        )
    )
    for entry in RegisterEntry.objects.all():
        assert entry.posted_at == audited[str(entry.pk)]
    # The late dispense (posted third, dated before the second) is still late.
    late = RegisterEntry.objects.get(amount_mg=132)
    assert (
        late.sequence == 3
        and late.occurred_at < RegisterEntry.objects.get(sequence=2, lot=late.lot).occurred_at
    )
    # The append-only trigger is back.
    with pytest.raises(DatabaseError), transaction.atomic():
        RegisterEntry.objects.filter(pk=late.pk).update(reason="edited")
