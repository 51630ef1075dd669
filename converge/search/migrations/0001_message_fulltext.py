from django.db import migrations


def forwards(apps, schema_editor):
    from converge.search.schema import ensure_message_index

    ensure_message_index(schema_editor.connection)


def backwards(apps, schema_editor):
    from converge.search.schema import drop_message_index

    drop_message_index(schema_editor.connection)


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(forwards, backwards, elidable=False),
    ]
