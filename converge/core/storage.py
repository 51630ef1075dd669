"""Files at rest (attachments, raw mails) are stored encrypted under MEDIA_ROOT; callers get and
give bytes. The name is random, never derived from patient data."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from django.conf import settings

from converge.core import crypto


def save_encrypted(practice_id: int, content: bytes, *, suffix: str = "", area: str = "", dedupe: bool = False) -> str:
    """Returns the path relative to MEDIA_ROOT. With `dedupe`, the name is a keyed hash of the
    content, so storing the same bytes twice (a retried download) writes once; keyed, so the name
    cannot be used to confirm a guess of what a file holds."""
    if dedupe:
        name = hmac.new(settings.SECRET_KEY.encode(), content, hashlib.sha256).hexdigest()
    else:
        name = secrets.token_hex(16)
    relative = (
        Path(area) / str(practice_id) / f"{name}{suffix}.enc"
        if area
        else Path(str(practice_id)) / f"{name}{suffix}.enc"
    )
    path = Path(settings.MEDIA_ROOT) / relative
    if dedupe and path.exists():
        return str(relative)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written under a temporary name first, so a reader never sees half a file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".part-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(crypto.encrypt_bytes(content))
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return str(relative)


def read_decrypted(relative: str) -> bytes:
    path = (Path(settings.MEDIA_ROOT) / relative).resolve()
    if Path(settings.MEDIA_ROOT).resolve() not in path.parents:
        raise ValueError("path outside the media directory")
    return crypto.decrypt_bytes(path.read_bytes())


def rotate_files() -> int:
    """Re-encrypt every stored file with the newest key; returns how many there were."""
    files = 0
    root = Path(settings.MEDIA_ROOT)
    if root.exists():
        for path in root.rglob("*.enc"):
            path.write_bytes(crypto.rotate_bytes(path.read_bytes()))
            files += 1
    return files
