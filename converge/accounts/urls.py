from django.urls import path

from converge.accounts import firstrun_views, views
from converge.practices import views as practice_views

urlpatterns = [
    path("login/verify", views.mfa_verify, name="mfa-verify"),
    path("account/mfa/", views.mfa_setup, name="mfa-setup"),
    path("settings/staff/", views.staff_page, name="staff"),
    path("settings/staff/<int:staff_id>/mfa/reset", views.staff_mfa_reset, name="staff-mfa-reset"),
    path("settings/staff/<int:staff_id>/active", views.staff_active, name="staff-active"),
    path("settings/staff/<int:staff_id>/change", views.staff_change, name="staff-change"),
    path("settings/staff/invite", views.staff_invite, name="staff-invite"),
    path("settings/staff/seats", views.staff_seats, name="staff-seats"),
    path(
        "settings/staff/invitations/<int:invitation_id>/revoke",
        views.staff_invite_revoke,
        name="staff-invite-revoke",
    ),
    path("invite/<str:token>", views.invite_accept, name="invite-accept"),
    path("setup/<str:token>", firstrun_views.setup_link, name="first-run-link"),
    path("welcome/", firstrun_views.welcome, name="welcome"),
    path("welcome/hours", firstrun_views.welcome_hours, name="welcome-hours"),
    path("welcome/teams", firstrun_views.welcome_team, name="welcome-team"),
    path("settings/on-call/", practice_views.oncall_page, name="on-call"),
    path("settings/on-call/add", practice_views.oncall_add, name="on-call-add"),
    path("settings/on-call/<int:shift_id>/remove", practice_views.oncall_remove, name="on-call-remove"),
]
