from django.urls import path

from converge.accounts import views

urlpatterns = [
    path("login/verify", views.mfa_verify, name="mfa-verify"),
    path("account/mfa/", views.mfa_setup, name="mfa-setup"),
]
