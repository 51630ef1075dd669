from django.apps import AppConfig


class PatientsConfig(AppConfig):
    name = "converge.patients"
    label = "patients"
