from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "converge.accounts"
    label = "accounts"

    def ready(self) -> None:
        # Registers the invitation-email job with the worker's jobs lane (converge.core.jobs).
        from converge.accounts import jobs  # noqa: F401
