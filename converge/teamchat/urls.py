from django.urls import path

from converge.teamchat import views

urlpatterns = [
    path("team/", views.team_home, name="team"),
    path("team/sidebar", views.sidebar, name="team-sidebar"),
    path("team/badge", views.badge, name="team-badge"),
    path("team/status", views.status_set, name="team-status"),
    path("team/search", views.search, name="team-search"),
    path("team/direct", views.direct_start, name="team-direct"),
    path("team/channels", views.channel_create, name="team-channel-create"),
    path("team/c/<int:team_channel_id>/", views.channel_view, name="team-channel"),
    path("team/t/<int:topic_id>/", views.topic_view, name="team-topic"),
    path("team/t/<int:topic_id>/messages", views.topic_messages, name="team-topic-messages"),
    path("team/t/<int:topic_id>/post", views.topic_post, name="team-topic-post"),
    path("team/t/<int:topic_id>/read", views.topic_read, name="team-topic-read"),
    path("team/d/<int:thread_id>/", views.thread_view, name="team-thread"),
    path("team/d/<int:thread_id>/messages", views.thread_messages, name="team-thread-messages"),
    path("team/d/<int:thread_id>/post", views.thread_post, name="team-thread-post"),
    path("team/d/<int:thread_id>/read", views.thread_read, name="team-thread-read"),
    path("team/m/<int:team_message_id>/edit", views.message_edit, name="team-message-edit"),
    path("team/m/<int:team_message_id>/delete", views.message_delete, name="team-message-delete"),
    path("team/ask/<int:conversation_id>", views.ask_team, name="team-ask"),
]
