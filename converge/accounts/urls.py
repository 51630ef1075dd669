from django.urls import path

from converge.accounts import views

urlpatterns = [
    path("login/verify", views.mfa_verify, name="mfa-verify"),
    path("account/mfa/", views.mfa_setup, name="mfa-setup"),
    path("settings/staff/", views.staff_page, name="staff"),
    path("settings/staff/<int:staff_id>/mfa/reset", views.staff_mfa_reset, name="staff-mfa-reset"),
    path("settings/staff/<int:staff_id>/active", views.staff_active, name="staff-active"),
]
