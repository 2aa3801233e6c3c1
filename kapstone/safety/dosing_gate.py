"""The ASRA rule as a gate on the next dose order (registered with dosing from SafetyConfig).

ASRA/AAPM/ASA 2018 consensus on IV ketamine (Cohen et al., Reg Anesth Pain Med
2018;43(5):521–546; reference clinical.md §3.3, §3.4, §7 item 12): no serial infusions in active
substance misuse. Kapstone turns this into: while a patient's latest misuse documentation says
misuse is active, a new dose order needs a prescriber's documented decision to continue dosing,
made at or after that documentation (the dependence watch's ``decision_counts`` rule: a new
episode needs a new decision). Refusals:

* ``prescriber_decision_required`` — misuse is active and no decision was documented since;
* ``dosing_halted_by_decision`` — the latest documented decision is to pause or stop dosing
  (whether or not misuse is still active; a new "continue" decision lifts it). Honouring a pause
  or stop beyond the ASRA trigger is Kapstone's choice: the decision is the prescriber's word
  about further dosing, and ordering past it would contradict the chart.
"""

from __future__ import annotations

from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.safety.models import DecisionKind, DependenceDecision, MisuseDocumentation

GATE_KEY = "safety.asra_active_misuse"


def asra_order_gate(session) -> DomainError | None:
    misuse = (
        MisuseDocumentation.objects.filter(patient_id=session.patient_id)
        .order_by("-documented_at", "-id")
        .first()
    )
    decision = (
        DependenceDecision.objects.filter(patient_id=session.patient_id)
        .order_by("-decided_at", "-id")
        .first()
    )
    if decision is not None and decision.decision in (DecisionKind.PAUSE, DecisionKind.STOP):
        return WorkflowConflict(
            "dosing_halted_by_decision",
            f"A prescriber documented the decision to {decision.decision} dosing on "
            f"{decision.decided_at:%Y-%m-%d}: {decision.reason} "
            "Document a decision to continue dosing (dependence watch) before ordering a dose.",
        )
    if misuse is None or not misuse.active:
        return None
    if decision is not None and decision.decided_at >= misuse.documented_at:
        return None  # a "continue" decision documented since the misuse (pause/stop handled above)
    return WorkflowConflict(
        "prescriber_decision_required",
        f"Active substance misuse was documented on {misuse.documented_at:%Y-%m-%d}: serial dosing "
        "needs a prescriber's documented decision (ASRA 2018). Document the decision on the "
        "patient's dependence watch, then order the dose.",
    )
