"""The baseline vital signs as a gate on starting a dose (registered with dosing from
MonitoringConfig).

dosing sits below monitoring in the layer order, so :func:`kapstone.dosing.services.administration_start`
cannot read the vital signs itself: this gate answers for it through
:mod:`kapstone.dosing.gates`, on the order page before the nurse presses start and again inside
the start's transaction.

The rule (:func:`kapstone.domain.baseline.check_baseline`): a complete baseline set — blood
pressure (systolic and diastolic), heart rate, SpO2, respiratory rate, and a MOAA/S score where
the protocol scores it (``monitoring.baseline_moaas``) — recorded in the protocol's window
(``monitoring.baseline_window_min``, default 60 min) before the start. Spravato label: BP before
dosing, pulse oximetry, sedation measured against the pre-dose MOAA/S; APA consensus 2017:
baseline BP, respiratory and cardiovascular assessment; the window is protocol practice.
Refusal ``baseline_vitals_required`` naming what is missing. A soft stop: a prescriber may start
anyway with a written reason, stored and audited by the dosing service.
"""

from __future__ import annotations

from datetime import datetime

from kapstone.domain.baseline import words_list
from kapstone.dosing.gates import StartObjection
from kapstone.monitoring.selectors import baseline_check

GATE_KEY = "monitoring.baseline_vitals"
CODE = "baseline_vitals_required"


def baseline_start_gate(session, started_at: datetime) -> StartObjection | None:
    check = baseline_check(session, started_at)
    if check.complete:
        return None
    return StartObjection(
        gate=GATE_KEY,
        code=CODE,
        message=check.message,
        detail={
            "missing": check.missing_keys,
            "missing_words": words_list(check.missing),
            "window_min": check.window_min,
        },
        overridable=True,
    )
