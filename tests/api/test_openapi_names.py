"""Every schema of the API has its own name in the OpenAPI document.

django-ninja names a component after its class: two classes of one name (a staff ``PatientOut``
and the portal's) became one component, and the document described the staff list with the
portal's fields (schemathesis found it: "clinic is a required property").
"""

from __future__ import annotations

from collections import defaultdict

from ninja import Schema

from kapstone.api.api import api


def _subclasses(cls):
    for sub in cls.__subclasses__():
        yield sub
        yield from _subclasses(sub)


def test_no_two_api_schemas_share_a_name():
    api.get_openapi_schema()  # every router and its schemas are imported
    by_name = defaultdict(set)
    for cls in _subclasses(Schema):
        if cls.__module__.startswith("kapstone."):
            by_name[cls.__name__].add(f"{cls.__module__}.{cls.__qualname__}")
    shared = {name: sorted(where) for name, where in by_name.items() if len(where) > 1}
    assert shared == {}
