"""One module per FHIR resource type, each with the same interface (registry.py lists them):

- ``RESOURCE_TYPE``: the FHIR type name, e.g. ``"Observation"``.
- ``SEARCH_PARAMS``: ``{name: FHIR search parameter type}`` ("token", "reference", "date",
  "string"), exactly the parameters ``search`` accepts (the CapabilityStatement lists them).
- ``read(logical_id: str, *, clinic_ids: set[int]) -> dict | None``: the resource, or None when
  it does not exist or belongs to no clinic in ``clinic_ids`` (the caller answers 404 either way).
- ``search(*, clinic_ids: set[int], params: dict[str, list[str]]) -> list[dict]``: the matching
  resources of those clinics; an unknown or malformed parameter raises ``fhir.errors.SearchError``.
- ``for_patient(patient, *, since: datetime | None = None) -> list[dict]``: every resource of
  this type for one patient (``$everything``), those changed since ``since`` when given.

Resources are plain dicts in FHIR R4 JSON; every one must validate with ``fhir.resources.R4B``.
References and identifiers are written with ``fhir.refs``.
"""
