from django.urls import path

from converge.dashboard import views

urlpatterns = [
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path("", views.inbox, name="inbox"),
    path("c/<int:conversation_id>/", views.conversation_detail, name="conversation"),
    path("c/<int:conversation_id>/reply", views.conversation_reply, name="conversation-reply"),
    path("c/<int:conversation_id>/note", views.conversation_note, name="conversation-note"),
    path("c/<int:conversation_id>/assign", views.conversation_assign, name="conversation-assign"),
    path("c/<int:conversation_id>/status", views.conversation_status, name="conversation-status"),
    path("m/<int:message_id>/retry", views.message_retry, name="message-retry"),
    path("simulator/", views.simulator_log, name="simulator-log"),
]
