"""The FHIR resource types this server serves: one module each (the interface is described in
``kapstone.interop.fhir.resources``). The API, the CapabilityStatement and ``$everything`` are
built from :data:`RESOURCES`, so a type is served, declared and exported by adding it here."""

from __future__ import annotations

from types import ModuleType

from kapstone.interop.fhir.resources import (
    adverse_event,
    condition,
    consent,
    encounter,
    medication_administration,
    medication_request,
    observation,
    patient,
    questionnaire_response,
)

#: FHIR type name → its module, in the order ``$everything`` lists them (Patient first).
RESOURCES: dict[str, ModuleType] = {
    module.RESOURCE_TYPE: module
    for module in (
        patient,
        condition,
        consent,
        encounter,
        medication_request,
        medication_administration,
        observation,
        questionnaire_response,
        adverse_event,
    )
}


def resource_module(resource_type: str) -> ModuleType | None:
    """The module serving ``resource_type`` (exact, case-sensitive as FHIR type names are)."""
    return RESOURCES.get(resource_type) if isinstance(resource_type, str) else None


def resource_types() -> list[str]:
    return list(RESOURCES)


def owner_of(resource_type: str, logical_id: str) -> tuple[int, int] | None:
    """(clinic id, patient id) of a record whoever may see it, when the module can tell
    (optional ``owner`` function): for the ``denied`` audit row of a read outside one's clinics."""
    module = resource_module(resource_type)
    owner = getattr(module, "owner", None)
    return owner(logical_id) if owner is not None else None
