from django.db import migrations


def forwards(apps, schema_editor):
    from converge.search.schema import ensure_team_message_index

    ensure_team_message_index(schema_editor.connection)


def backwards(apps, schema_editor):
    from converge.search.schema import drop_team_message_index

    drop_team_message_index(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("teamchat", "0001_initial"),
        ("search", "0002_patient_names"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
