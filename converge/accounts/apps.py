from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "converge.accounts"
    label = "accounts"
