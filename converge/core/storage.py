"""Files at rest (attachments, raw mails) are stored encrypted under MEDIA_ROOT; callers get and
give bytes. The name is random, never derived from patient data."""

from __future__ import annotations

import secrets
from pathlib import Path

from django.conf import settings

from converge.core import crypto


def save_encrypted(practice_id: int, content: bytes, *, suffix: str = "") -> str:
    """Returns the path relative to MEDIA_ROOT."""
    relative = Path(str(practice_id)) / f"{secrets.token_hex(16)}{suffix}.enc"
    path = Path(settings.MEDIA_ROOT) / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(crypto.encrypt_bytes(content))
    path.chmod(0o600)
    return str(relative)


def read_decrypted(relative: str) -> bytes:
    path = (Path(settings.MEDIA_ROOT) / relative).resolve()
    if Path(settings.MEDIA_ROOT).resolve() not in path.parents:
        raise ValueError("path outside the media directory")
    return crypto.decrypt_bytes(path.read_bytes())


def rotate_all() -> tuple[int, int]:
    """Re-encrypt channel credentials and every stored file with the newest key."""
    from converge.connectors.models import Channel

    channels = 0
    for channel in Channel.objects.exclude(credentials_encrypted=""):
        Channel.objects.filter(pk=channel.pk).update(credentials_encrypted=crypto.rotate(channel.credentials_encrypted))
        channels += 1
    files = 0
    root = Path(settings.MEDIA_ROOT)
    if root.exists():
        for path in root.rglob("*.enc"):
            path.write_bytes(crypto.rotate_bytes(path.read_bytes()))
            files += 1
    return channels, files
