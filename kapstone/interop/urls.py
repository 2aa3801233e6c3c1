"""FHIR R4 routes, mounted at /fhir/ (kapstone/urls.py). Every path under /fhir/r4 reaches a
FHIR view, the unknown ones included, so that each answers an OperationOutcome."""

from django.urls import path

from kapstone.interop.fhir import api

app_name = "fhir"

urlpatterns = [
    path("r4/metadata", api.metadata, name="metadata"),
    path("r4/Patient/<str:logical_id>/$everything", api.everything, name="everything"),
    path("r4/$export", api.export_system, name="export"),
    path("r4/Group/<str:group>/$export", api.export_group, name="export-group"),
    path("r4/$export-status/<str:export_id>", api.export_status, name="export-status"),
    path("r4/$export-file/<str:file_id>", api.export_file, name="export-file"),
    path("r4/<str:resource_type>/<str:logical_id>", api.read, name="read"),
    path("r4/<str:resource_type>", api.search_type, name="search"),
    path("r4", api.base, name="base"),
    path("r4/", api.base, name="base-slash"),
    path("r4/<path:rest>", api.unknown, name="unknown"),
]
