"""The demo's liver tests: a normal panel drawn on the morning of a dosing session whenever the
liver-test gate (:mod:`kapstone.dosing.liver_gate`) would otherwise defer the dose, as a clinic
would have them drawn. Called from the demo's dose givers before each order."""

from __future__ import annotations

from kapstone.accounts.models import User
from kapstone.care.models import CareSession
from kapstone.dosing.liver_gate import liver_order_gate
from kapstone.patients.services import liver_test_record

#: (test, value, unit, upper limit of normal): an unremarkable panel.
NORMAL_PANEL = (("alt", "24", "U/L", "40"), ("ast", "21", "U/L", "40"), ("bilirubin", "0.7", "mg/dL", "1.2"))


def liver_tests_if_needed(session: CareSession, actor: User) -> None:
    refusal = liver_order_gate(session)
    if refusal is None or refusal.code == "liver_tests_above_limit":
        return
    for test, value, unit, limit in NORMAL_PANEL:
        liver_test_record(
            actor=actor,
            patient=session.patient,
            test=test,
            value=value,
            unit=unit,
            upper_limit=limit,
            taken_on=session.scheduled_date,
        )
