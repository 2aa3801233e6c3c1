from django.urls import path

from kapstone.operations import views

app_name = "operations"

urlpatterns = [
    path("jobs/", views.job_list, name="jobs"),
]
