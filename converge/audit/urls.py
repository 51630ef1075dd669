from django.urls import path

from converge.audit import views

urlpatterns = [
    path("settings/audit/", views.audit_page, name="audit"),
    path("settings/audit.csv", views.audit_csv, name="audit-csv"),
]
