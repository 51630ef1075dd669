from django.db import migrations


def forwards(apps, schema_editor):
    from converge.search.schema import ensure_patient_index

    ensure_patient_index(schema_editor.connection)


def backwards(apps, schema_editor):
    from converge.search.schema import drop_patient_index

    drop_patient_index(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0001_initial"),
        ("search", "0001_message_fulltext"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
