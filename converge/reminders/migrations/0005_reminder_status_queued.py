"""ReminderStatus.SENT meant "handed to the outbox", not sent: the stored value becomes "queued"
and sent_at becomes queued_at. Whether a reminder reached the patient is its message's status."""

from django.db import migrations, models


def sent_to_queued(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("reminders", "Reminder").objects.filter(status="sent").update(status="queued")


def queued_to_sent(apps, schema_editor):  # type: ignore[no-untyped-def]
    apps.get_model("reminders", "Reminder").objects.filter(status="queued").update(status="sent")


class Migration(migrations.Migration):
    dependencies = [
        ("reminders", "0004_reminder_appointment_index_in_unique"),
    ]

    operations = [
        migrations.AlterField(
            model_name="reminder",
            name="status",
            field=models.CharField(
                choices=[
                    ("planned", "Planned"),
                    ("queued", "Queued to send"),
                    ("skipped", "Skipped"),
                    ("cancelled", "Cancelled"),
                    ("failed", "Failed"),
                ],
                default="planned",
                max_length=10,
            ),
        ),
        migrations.RunPython(sent_to_queued, queued_to_sent),
        migrations.RenameField(model_name="reminder", old_name="sent_at", new_name="queued_at"),
    ]
