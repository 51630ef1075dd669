from django.apps import AppConfig


class RepliesConfig(AppConfig):
    name = "converge.replies"
    label = "replies"
    verbose_name = "Canned responses"
