from django.urls import path

from converge.portal import views

urlpatterns = [
    path("", views.home, name="portal-home"),
    path("t/<str:token>", views.enter, name="portal-enter"),
    path("reply", views.reply, name="portal-reply"),
    path("sign-out", views.sign_out, name="portal-sign-out"),
]
