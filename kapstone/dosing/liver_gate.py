"""The liver-test rule as a gate on a new dose order (registered from DosingConfig).

The rule and its sources are :mod:`kapstone.domain.liver` (Ketalar label: hepatobiliary injury
with repeated or prolonged use; KARE: liver tests ≤ 3× the upper limit of normal); its parameters
are the ``liver`` block of the course's protocol. Refusals, each a hard stop:
``liver_tests_missing``, ``liver_tests_above_limit``, ``liver_tests_due``.
"""

from __future__ import annotations

from kapstone.care.services import course_protocol
from kapstone.domain.errors import DomainError, WorkflowConflict
from kapstone.domain.liver import LiverResult, evaluate_liver_tests
from kapstone.dosing.models import DoseOrder, OrderStatus
from kapstone.patients.models import LiverTest

GATE_KEY = "dosing.liver_tests"

#: Orders whose dose was (or is being) given: what "a dose was given" means for the repeat.
GIVEN = (OrderStatus.COMPLETED, OrderStatus.STOPPED, OrderStatus.ADMINISTERING)


def liver_order_gate(session) -> DomainError | None:
    rules = course_protocol(session.course).liver
    results = [
        LiverResult(
            test=row.test,
            value=row.value,
            unit=row.unit,
            upper_limit=row.upper_limit,
            taken_on=row.taken_on,
            order=row.pk,
        )
        for row in LiverTest.objects.filter(patient_id=session.patient_id, voided_at__isnull=True)
    ]
    given = list(
        DoseOrder.objects.filter(patient_id=session.patient_id, status__in=GIVEN)
        .exclude(session_id=session.pk)
        .values_list("session__scheduled_date", "session__course_id")
    )
    refusal = evaluate_liver_tests(
        results=results,
        session_date=session.scheduled_date,
        first_dose_of_course=not any(course_id == session.course_id for _, course_id in given),
        doses_since=[day for day, _ in given],
        baseline_max_age_days=rules.baseline_max_age_days,
        repeat_after_sessions=rules.repeat_after_sessions,
        above_uln_multiple=rules.above_uln_multiple,
    )
    if refusal is None:
        return None
    # Not tied to one field of the order: the whole order waits for the results.
    return WorkflowConflict(refusal.code, refusal.message)
