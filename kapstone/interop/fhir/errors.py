"""Errors of the FHIR layer, answered as OperationOutcome resources (fhir/api.py)."""

from __future__ import annotations


class SearchError(Exception):
    """A search parameter that is unknown or malformed: 400 with an OperationOutcome.

    ``code`` is our stable snake_case code (``unknown_search_parameter``, ``invalid_date``…),
    shown in ``details.coding``; ``message`` is the sentence in ``details.text``.
    """

    def __init__(self, code: str, message: str, *, parameter: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.parameter = parameter
