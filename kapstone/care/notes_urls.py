"""Therapy notes and group sessions. Included inside ``care``'s urlpatterns: names are ``care:…``."""

from django.urls import path

from kapstone.care import notes_views as views

urlpatterns = [
    path("sessions/<int:session_id>/notes/new/", views.session_note_create, name="note_create"),
    path("notes/<int:note_id>/", views.note_detail, name="note"),
    path("notes/<int:note_id>/edit/", views.note_edit, name="note_edit"),
    path("notes/<int:note_id>/sign/", views.note_sign, name="note_sign"),
    path("notes/<int:note_id>/addenda/", views.note_addendum, name="note_addendum"),
    path("groups/", views.group_list, name="groups"),
    path("groups/new/", views.group_create, name="group_create"),
    path("groups/<int:group_id>/", views.group_detail, name="group"),
    path("groups/<int:group_id>/patients/", views.group_add_patient, name="group_add_patient"),
    path("groups/<int:group_id>/attendance/", views.group_attendance, name="group_attendance"),
    path("groups/<int:group_id>/notes/new/", views.group_note_create, name="group_note_create"),
    path(
        "groups/<int:group_id>/patients/<int:patient_id>/notes/new/",
        views.group_patient_note_create,
        name="group_patient_note_create",
    ),
]
