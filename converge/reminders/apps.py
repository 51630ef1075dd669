from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "converge.reminders"
    label = "reminders"

    def ready(self) -> None:
        from converge.reminders import lifecycle
        from converge.scheduling import hooks as scheduling_hooks

        scheduling_hooks.register("booked", lifecycle.on_booked)
        scheduling_hooks.register("moved", lifecycle.on_moved)
        scheduling_hooks.register("status", lifecycle.on_status)
