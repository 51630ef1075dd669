"""Secrets at rest: Fernet with key rotation.

Keys come from CONVERGE_ENCRYPTION_KEYS (comma-separated, newest first) or a key generated once
into the data dir. To rotate: put a new key first, keep the old ones after it, run
`converge manage rotate_keys` (re-encrypts), then drop the old keys.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings

from converge.config.env import ConfigError, env_list, private_file


@lru_cache(maxsize=1)
def _fernet() -> MultiFernet:
    keys = env_list("CONVERGE_ENCRYPTION_KEYS", [])
    if not keys:
        key_file = settings.DATA_DIR / "encryption_key"
        if not key_file.exists():
            private_file(key_file).write_text(Fernet.generate_key().decode())
        keys = [key_file.read_text().strip()]
    try:
        return MultiFernet([Fernet(key.encode()) for key in keys])
    except ValueError:
        raise ConfigError("CONVERGE_ENCRYPTION_KEYS: each key must be a urlsafe base64 Fernet key") from None


def encrypt_bytes(data: bytes) -> bytes:
    return _fernet().encrypt(data)


def decrypt_bytes(token: bytes) -> bytes:
    return _fernet().decrypt(token)


def encrypt_json(value: dict[str, Any]) -> str:
    return encrypt_bytes(json.dumps(value).encode()).decode()


def decrypt_json(token: str) -> dict[str, Any]:
    if not token:
        return {}
    try:
        return dict(json.loads(decrypt_bytes(token.encode())))
    except InvalidToken:
        raise ConfigError("encryption key does not match stored credentials") from None


def rotate(token: str) -> str:
    return _fernet().rotate(token.encode()).decode()


def rotate_bytes(token: bytes) -> bytes:
    return _fernet().rotate(token)


def reset_keys() -> None:
    """Forget the loaded keys (after CONVERGE_ENCRYPTION_KEYS changed, e.g. in tests)."""
    _fernet.cache_clear()


def mask(secret: str) -> str:
    """What staff see of a stored secret: never the whole thing."""
    if len(secret) <= 8:
        return "•" * len(secret)
    return f"{secret[:3]}…{secret[-4:]}"
