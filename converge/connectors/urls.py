"""/settings/channels/: set up and check WhatsApp and SMS channels (managers and administrators)."""

from django.urls import path

from converge.connectors import settings_views as views

urlpatterns = [
    path("", views.channels, name="channels-settings"),
    path("add/whatsapp", views.channels, {"kind": "whatsapp"}, name="channel-add-whatsapp"),
    path("add/sms", views.channels, {"kind": "sms"}, name="channel-add-sms"),
    path("<int:channel_id>/", views.channel_detail, name="channel-settings"),
    path("<int:channel_id>/test", views.channel_test, name="channel-test"),
    path("<int:channel_id>/credentials", views.channel_credentials, name="channel-credentials"),
    path("<int:channel_id>/enabled", views.channel_enabled, name="channel-enabled"),
    path("<int:channel_id>/templates", views.template_add, name="whatsapp-template-add"),
    path("<int:channel_id>/templates/<int:template_id>/", views.template_edit, name="whatsapp-template-edit"),
    path("<int:channel_id>/templates/<int:template_id>/delete", views.template_delete, name="whatsapp-template-delete"),
]
