"""Every team gets its channel of team messages now. It was made the first time someone opened
/team/ (a GET that wrote); since then a team is made with its channel (practices.services)."""

from django.db import migrations
from django.utils import timezone


def create_missing(apps, schema_editor):
    team_model = apps.get_model("practices", "Team")
    channel_model = apps.get_model("teamchat", "TeamChannel")
    for team in team_model.objects.filter(chat_channel__isnull=True).order_by("pk"):
        name = team.name
        if channel_model.objects.filter(practice_id=team.practice_id, name=name).exists():
            name = f"{team.name} team"
        if channel_model.objects.filter(practice_id=team.practice_id, name=name).exists():
            continue  # both names taken: as before, the team has no channel
        channel_model.objects.create(practice_id=team.practice_id, team=team, name=name, created_at=timezone.now())


class Migration(migrations.Migration):
    dependencies = [
        ("practices", "0003_on_call_shift"),
        ("teamchat", "0002_staff_status"),
    ]

    operations = [migrations.RunPython(create_missing, migrations.RunPython.noop)]
