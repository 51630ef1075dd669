from django.apps import AppConfig


class RoutingConfig(AppConfig):
    name = "converge.routing"
    label = "routing"

    def ready(self) -> None:
        from converge.conversations import hooks
        from converge.routing import oncall

        hooks.register_after_outcome(oncall.page_outcome)
