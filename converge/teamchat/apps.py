from django.apps import AppConfig


class TeamchatConfig(AppConfig):
    name = "converge.teamchat"
    label = "teamchat"
    verbose_name = "Team messages"

    def ready(self) -> None:
        from converge.teamchat import jobs  # noqa: F401 -- registers the retention job
