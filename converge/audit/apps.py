from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "converge.audit"
    label = "audit"
