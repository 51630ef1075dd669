from django.apps import AppConfig


class DashboardConfig(AppConfig):
    name = "converge.dashboard"
    label = "dashboard"
