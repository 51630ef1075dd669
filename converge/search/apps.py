from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _restore_search_indexes(sender: Any, using: str = "default", **kwargs: Any) -> None:
    # post_migrate fires once per app; run once, for the app whose table the triggers live on.
    if getattr(sender, "label", None) != "conversations":
        return
    from django.db import connections
    from django.db.migrations.recorder import MigrationRecorder

    from converge.search.schema import ensure_message_index, ensure_patient_index, ensure_team_message_index

    connection = connections[using]
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return
    applied = recorder.applied_migrations()
    if ("search", "0001_message_fulltext") in applied:
        ensure_message_index(connection)
    if ("search", "0002_patient_names") in applied:
        ensure_patient_index(connection)
    if ("search", "0003_team_messages") in applied:
        ensure_team_message_index(connection)


class SearchConfig(AppConfig):
    name = "converge.search"
    label = "search"
    verbose_name = "Search"

    def ready(self) -> None:
        # A later migration that rebuilds conversations_message or patients_patient on SQLite
        # drops the indexes' triggers; put them back after every migrate.
        post_migrate.connect(_restore_search_indexes, dispatch_uid="converge.search.restore_indexes")
