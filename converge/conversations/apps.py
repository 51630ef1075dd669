from django.apps import AppConfig


class ConversationsConfig(AppConfig):
    name = "converge.conversations"
    label = "conversations"
