from django.apps import AppConfig


class TeamchatConfig(AppConfig):
    name = "converge.teamchat"
    label = "teamchat"
    verbose_name = "Team messages"
