"""The name a sender gave for themselves (a web visitor's pre-chat form), shown to staff as
unverified; filled in for web chat contacts that already exist."""

from typing import Any

from django.db import migrations, models


def fill_from_webchat_visitors(apps: Any, schema_editor: Any) -> None:
    ContactPoint = apps.get_model("patients", "ContactPoint")
    WebchatVisitor = apps.get_model("connectors", "WebchatVisitor")
    names = dict(WebchatVisitor.objects.values_list("public_id", "name"))
    for contact in ContactPoint.objects.filter(kind="webchat", given_name="").only("pk", "address"):
        name = names.get(contact.address, "")
        if name:
            ContactPoint.objects.filter(pk=contact.pk).update(given_name=name[:100])


class Migration(migrations.Migration):
    dependencies = [
        ("patients", "0001_initial"),
        ("connectors", "0003_email_webchat"),
    ]

    operations = [
        migrations.AddField(
            model_name="contactpoint",
            name="given_name",
            field=models.CharField(blank=True, max_length=100),
        ),
        migrations.RunPython(fill_from_webchat_visitors, migrations.RunPython.noop),
    ]
