from django.urls import include, path

from kapstone.care import views

app_name = "care"

urlpatterns = [
    path("protocols/", views.protocol_list, name="protocols"),
    path("protocols/<slug:slug>/v<int:version>/", views.protocol_detail, name="protocol_detail"),
    path("protocols/<slug:slug>/v<int:version>/clone/", views.protocol_clone, name="protocol_clone"),
    path("patients/<int:patient_id>/courses/new/", views.course_enrol, name="enrol"),
    path("courses/<int:course_id>/", views.course_detail, name="course"),
    path("courses/<int:course_id>/status/", views.course_status, name="course_status"),
    path("sessions/<int:session_id>/", views.session_detail, name="session"),
    path("sessions/<int:session_id>/transition/", views.session_transition, name="transition"),
    path("sessions/<int:session_id>/checks/", views.day_of_checks, name="day_of_checks"),
    path("sessions/<int:session_id>/reschedule/", views.session_reschedule, name="reschedule"),
    path("board/", views.day_board, name="board"),
    path("", include("kapstone.care.notes_urls")),
]
