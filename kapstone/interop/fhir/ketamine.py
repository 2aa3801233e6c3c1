"""Ketamine as a FHIR medication concept, and the route and rate codes of the dose order; shared
by MedicationRequest, MedicationAdministration and AdverseEvent.

Sources:
- RxNorm ingredient "ketamine", RxCUI 6130 (clinical.md §4.8; from memory there and flagged to
  verify with RxNav — one constant here to change if it proves wrong).
- NDC: the product's NDC as the inventory stores it (``inventory.Product.ndc``), system
  http://hl7.org/fhir/sid/ndc.
- Routes: SNOMED CT "route of administration" qualifier values, the FHIR R4 example binding of
  Dosage.route (http://hl7.org/fhir/R4/valueset-route-codes.html): 47625008 Intravenous route,
  78421000 Intramuscular route, 46713006 Nasal route, 37839007 Sublingual route, 26643006 Oral
  route (also listed in HL7 FHIR IG code systems, e.g. ONCOFAIR SNOMEDCTOncoFAIRCodeSystem.fsh).
- Units: UCUM (mg, mg/kg, mg/min, mL/h).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kapstone.interop.fhir import refs

KETAMINE_RXCUI = "6130"

ROUTES = {
    "iv": ("47625008", "Intravenous route"),
    "im": ("78421000", "Intramuscular route"),
    "in": ("46713006", "Nasal route"),
    "sl": ("37839007", "Sublingual route"),
    "po": ("26643006", "Oral route"),
}

#: Our rate units (dosing.RateEvent.unit) → UCUM code and the unit as shown.
RATE_UNITS = {"mg_per_min": ("mg/min", "mg/min"), "ml_per_h": ("mL/h", "mL/h")}


def ketamine(ndcs: Iterable[str] = ()) -> dict[str, Any]:
    """The medication concept: RxNorm ingredient 6130, and the NDC of each product the dose was
    drawn from (when known), in the order given."""
    codings = [refs.coding(refs.RXNORM, KETAMINE_RXCUI, "ketamine")]
    seen = set()
    for ndc in ndcs:
        if ndc and ndc not in seen:
            seen.add(ndc)
            codings.append(refs.coding(refs.NDC, ndc))
    return refs.concept(*codings, text="ketamine")


def route(code: str) -> dict[str, Any]:
    if code in ROUTES:
        snomed, display = ROUTES[code]
        return refs.concept(refs.coding(refs.SNOMED, snomed, display), text=display)
    return refs.concept(text=code)


def rate_quantity(rate: Any, unit: str) -> dict[str, Any]:
    ucum, shown = RATE_UNITS.get(unit, (unit, unit))
    return refs.ucum_quantity(rate, ucum, shown)
