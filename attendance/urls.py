from django.urls import path

from . import views

urlpatterns = [
    path("attendance/", views.attendance_list, name="attendance_list"),
    path("attendance/record/", views.attendance_record, name="attendance_record"),
    path("attendance/record/save/", views.attendance_save, name="attendance_save"),
    path("attendance/record/head-count/", views.attendance_head_count, name="attendance_head_count"),
    path("attendance/record/visitor/", views.attendance_add_visitor, name="attendance_add_visitor"),
]
