from django.apps import AppConfig


class RemindersConfig(AppConfig):
    name = "converge.reminders"
    label = "reminders"

    def ready(self) -> None:
        from converge.conversations import hooks as inbound_hooks
        from converge.reminders import lifecycle, replies
        from converge.scheduling import hooks as scheduling_hooks

        scheduling_hooks.register("booked", lifecycle.on_booked)
        scheduling_hooks.register("moved", lifecycle.on_moved)
        scheduling_hooks.register("status", lifecycle.on_status)
        inbound_hooks.register_after_receive(replies.handle_reply)
