"""Who may do what with screenings (see docs/authz-matrix.md). Every right is per clinic."""

from __future__ import annotations

from kapstone.accounts.access import CLINICAL, PATIENT_READ, PRESCRIBERS

#: Record a screening: the clinicians who take a history (not clinic admins: it is a clinical act).
SCREENING_RECORD = CLINICAL
#: See screenings: whoever may read the patient's record.
SCREENING_READ = PATIENT_READ
#: Approve or decline a screening: prescribers only.
SCREENING_SIGN_OFF = PRESCRIBERS
