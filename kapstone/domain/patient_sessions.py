"""A treatment session as its patient sees it: what kind, and where it stands, in plain words.

The clinic's states (:mod:`kapstone.domain.sessions`) say where a session is in the clinic's
workflow; a patient needs less and different: is it booked, on hold, done, missed. The course
matters too: the sessions of a paused course are on hold, and those of a completed or withdrawn
course that were never held are no longer planned (the clinic's record leaves them
``scheduled``). Codes are stable (the API gives them); the words are for screens, marked for
translation.
"""

from __future__ import annotations

from datetime import date

from kapstone.domain.protocols import DOSING, FOLLOW_UP, INTEGRATION, PREPARATION
from kapstone.domain.sessions import (
    CANCELLED,
    CHECKED_IN,
    CLEARED,
    DISCHARGED,
    IN_PROGRESS,
    NO_SHOW,
    RECOVERING,
    SCHEDULED,
    STOPPED,
)
from kapstone.domain.words import gettext_noop

BOOKED = "booked"
ON_HOLD = "on_hold"
UNDER_WAY = "under_way"
DONE = "done"
ENDED_EARLY = "ended_early"
MISSED = "missed"
CANCELLED_WORD = "cancelled"
NOT_PLANNED = "not_planned"
AWAITING_RECORD = "awaiting_record"

#: Every status a patient may see, in words.
STATUS_WORDS: dict[str, str] = {
    BOOKED: gettext_noop("Booked"),
    ON_HOLD: gettext_noop("On hold: the clinic will contact you"),
    UNDER_WAY: gettext_noop("Under way"),
    DONE: gettext_noop("Done"),
    ENDED_EARLY: gettext_noop("Ended early"),
    MISSED: gettext_noop("Missed"),
    CANCELLED_WORD: gettext_noop("Cancelled"),
    NOT_PLANNED: gettext_noop("No longer planned"),
    AWAITING_RECORD: gettext_noop("Waiting for the clinic to update"),
}

KIND_WORDS: dict[str, str] = {
    PREPARATION: gettext_noop("Preparation session"),
    DOSING: gettext_noop("Ketamine session"),
    INTEGRATION: gettext_noop("Integration session"),
    FOLLOW_UP: gettext_noop("Follow-up visit"),
}
GROUP_KIND_WORDS: dict[str, str] = {
    PREPARATION: gettext_noop("Group preparation session"),
    DOSING: gettext_noop("Ketamine session"),
    INTEGRATION: gettext_noop("Group integration session"),
    FOLLOW_UP: gettext_noop("Group follow-up visit"),
}

SESSION_WORD = gettext_noop("Session")

_OPEN_COURSE = "active"
_PAUSED_COURSE = "paused"


def patient_session_status(*, state: str, course_status: str, scheduled_date: date, today: date) -> str:
    """The patient's status code of a session (a key of :data:`STATUS_WORDS`).

    ``state`` is the clinic's session state, ``course_status`` the course's (active, paused,
    completed, withdrawn), ``today`` the clinic's date. A session still ``scheduled`` is
    ``booked`` (today or later, course active), ``on_hold`` (course paused), ``not_planned``
    (course completed or withdrawn) or ``awaiting_record`` (its day has passed and the clinic
    has not recorded it). Every other state maps to one status whatever the course.
    """
    if state == SCHEDULED:
        if course_status == _PAUSED_COURSE:
            return ON_HOLD
        if course_status != _OPEN_COURSE:
            return NOT_PLANNED
        return BOOKED if scheduled_date >= today else AWAITING_RECORD
    if state in (CHECKED_IN, CLEARED, IN_PROGRESS, RECOVERING):
        return UNDER_WAY
    return {
        DISCHARGED: DONE,
        STOPPED: ENDED_EARLY,
        NO_SHOW: MISSED,
        CANCELLED: CANCELLED_WORD,
    }.get(state, AWAITING_RECORD)


def session_kind_words(kind: str, *, group: bool = False) -> str:
    """ "Ketamine session", "Group integration session" (English; screens translate)."""
    return (GROUP_KIND_WORDS if group else KIND_WORDS).get(kind, SESSION_WORD)
