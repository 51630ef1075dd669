from __future__ import annotations

import secrets
from typing import Any

from django.db import models

from converge.connectors.types import ChannelKind
from converge.core import crypto
from converge.core.models import TenantModel


class Provider(models.TextChoices):
    SIMULATOR = "simulator", "Simulator"
    META = "meta", "WhatsApp Cloud API"
    TWILIO = "twilio", "Twilio"
    MAILBOX = "mailbox", "IMAP/SMTP mailbox"
    WIDGET = "widget", "Website chat widget"
    PORTAL = "portal", "Secure portal"


class Tier(models.TextChoices):
    STANDARD = "standard", "Standard"
    SECURE = "secure", "Secure"


def new_channel_key() -> str:
    return secrets.token_urlsafe(18)


class Channel(TenantModel):
    """A channel the practice has configured. `kind` is what the patient experiences (SMS,
    WhatsApp, ...); `provider` is the code that speaks to it. A simulator channel behaves like its
    kind (opt-out words on SMS, the 24-hour window on WhatsApp) without a provider account."""

    kind = models.CharField(max_length=16, choices=[(k.value, k.value) for k in ChannelKind])
    provider = models.CharField(max_length=16, choices=Provider.choices)
    name = models.CharField(max_length=100)
    key = models.CharField(max_length=40, unique=True, default=new_channel_key)
    display_address = models.CharField(max_length=254, blank=True)
    tier = models.CharField(max_length=10, choices=Tier.choices, default=Tier.STANDARD)
    credentials_encrypted = models.TextField(blank=True)
    settings = models.JSONField(default=dict, blank=True)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["practice", "kind", "enabled"], name="channel_kind_idx")]

    def __str__(self) -> str:
        return f"channel:{self.pk}"

    @property
    def is_simulator(self) -> bool:
        return self.provider == Provider.SIMULATOR

    @property
    def label(self) -> str:
        suffix = " (simulator)" if self.is_simulator else ""
        return f"{self.name}{suffix}"

    def credentials(self) -> dict[str, Any]:
        return crypto.decrypt_json(self.credentials_encrypted)

    def set_credentials(self, values: dict[str, Any]) -> None:
        self.credentials_encrypted = crypto.encrypt_json(values)
