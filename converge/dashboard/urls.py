from django.urls import path

from converge.dashboard.views import actions, attachments, auth, inbox, misc, patients, replies, search

urlpatterns = [
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("session/ping", auth.session_ping, name="session-ping"),
    # The inbox
    path("", inbox.inbox, name="inbox"),
    path("inbox/list", inbox.inbox_list, name="inbox-list"),
    path("inbox/counts", inbox.inbox_counts_partial, name="inbox-counts"),
    path("inbox/bulk", actions.conversations_bulk, name="inbox-bulk"),
    path("c/<int:conversation_id>/", inbox.inbox, name="conversation"),
    path("c/<int:conversation_id>/thread", inbox.conversation_thread, name="conversation-thread"),
    path("c/<int:conversation_id>/header", inbox.conversation_header, name="conversation-header"),
    path("c/<int:conversation_id>/channels", inbox.conversation_composer_channels, name="conversation-channels"),
    path("c/<int:conversation_id>/patient", inbox.conversation_patient, name="conversation-patient"),
    path("c/<int:conversation_id>/reply", actions.conversation_reply, name="conversation-reply"),
    path("c/<int:conversation_id>/note", actions.conversation_note, name="conversation-note"),
    path("c/<int:conversation_id>/assign", actions.conversation_assign, name="conversation-assign"),
    path("c/<int:conversation_id>/status", actions.conversation_status, name="conversation-status"),
    path("c/<int:conversation_id>/triage", actions.conversation_triage, name="conversation-triage"),
    path("c/<int:conversation_id>/replies/render", replies.reply_render, name="reply-render"),
    path("m/<int:message_id>/retry", actions.message_retry, name="message-retry"),
    path("m/<int:message_id>/category", actions.message_category, name="message-category"),
    path("a/<int:attachment_id>/download", attachments.attachment_download, name="attachment-download"),
    # Canned responses and mentions for the composer
    path("replies/suggest", replies.replies_suggest, name="replies-suggest"),
    path("mentions/handles", misc.mention_handles, name="mention-handles"),
    path("notifications/", misc.notifications, name="notifications"),
    path("notifications/badge", misc.notifications_badge, name="notifications-badge"),
    path("notifications/read", misc.notifications_read, name="notifications-read"),
    # Search and patients
    path("search", search.search_view, name="search"),
    path("patients/", patients.patients, name="patients"),
    path("patients/lookup", patients.patient_lookup, name="patient-lookup"),
    path("patients/<int:patient_id>/", patients.patient_detail, name="patient"),
    path("patients/<int:patient_id>/contacts", patients.patient_contact_add, name="patient-contact-add"),
    path("patients/<int:patient_id>/merge", patients.patient_merge_view, name="patient-merge"),
    path("patients/<int:patient_id>/link", patients.patient_link, name="patient-link"),
    path("contacts/<int:contact_id>", patients.contact_update, name="contact-update"),
    # Settings
    path("settings/", misc.settings_index, name="settings"),
    path("settings/replies/", replies.replies_settings, name="replies-settings"),
    path("settings/replies/<int:response_id>/", replies.reply_edit, name="reply-edit"),
    path("settings/replies/<int:response_id>/delete", replies.reply_delete, name="reply-delete"),
    path("simulator/", misc.simulator_log, name="simulator-log"),
]
