"""Interoperability: FHIR R4 at /fhir/r4 and the HL7 v2 feed from bedside monitors (docs/interop.md).

A thin layer over the selectors and services of the other apps: no second path to the data, the
same access rules, the same audit, and every outgoing disclosure recorded.
"""
