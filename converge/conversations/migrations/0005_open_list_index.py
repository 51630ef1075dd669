# The All open list sorts open and pending conversations urgent-first, then newest. With priority
# before status, no index held that page, and SQLite read the whole practice's priority index
# (100,000 entries at bench/inbox.py's size) to find it; with status first, the open rows are a
# short range of the index. The Urgent view and count use it the same way.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("conversations", "0004_leased_by"),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name="conversation",
            name="conv_priority_idx",
        ),
        migrations.AddIndex(
            model_name="conversation",
            index=models.Index(
                fields=["practice", "status", "priority", "-last_message_at"], name="conv_status_priority_idx"
            ),
        ),
    ]
