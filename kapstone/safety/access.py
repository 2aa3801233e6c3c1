"""Who may do what with adverse events and the dependence watch. Every right is per clinic."""

from __future__ import annotations

from kapstone.accounts.access import CLINICAL, PATIENT_READ, PRESCRIBERS

#: Report and update adverse events; record requests, cravings and misuse: the clinicians.
SAFETY_RECORD = CLINICAL
#: Review serious events (and close them), document dependence decisions: prescribers.
SAFETY_PRESCRIBE = PRESCRIBERS
#: See them: whoever may read the patient's record (never researchers).
SAFETY_READ = PATIENT_READ
