"""Who may do what with outcomes (see docs/authz-matrix.md). Every right is per clinic."""

from __future__ import annotations

from kapstone.accounts.access import CLINICAL, PATIENT_READ

#: Enter questionnaires, calendars, test results and follow-ups: the clinicians (a clinical act).
OUTCOMES_RECORD = CLINICAL
#: See them: whoever may read the patient's record (clinic admins too, never researchers).
OUTCOMES_READ = PATIENT_READ
#: Acknowledge a clinical flag (a self-harm alert): clinicians only.
FLAG_ACKNOWLEDGE = CLINICAL
#: Who receives the follow-up reminder emails.
REMINDER_ROLES = ("nurse", "therapist")
