from django.urls import path

from kapstone.research import views

app_name = "research"

urlpatterns = [
    path("", views.cohort_report, name="report"),
    path("export/<slug:export_format>.csv", views.cohort_export, name="export"),
]
