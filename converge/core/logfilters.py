"""Keep secrets that travel in URLs (portal link tokens, webhook channel keys) out of the logs."""

from __future__ import annotations

import logging
import re

_SECRET_PATHS = re.compile(r"(/portal/t/|/webhooks/[a-z]+/)[^/\s?\"']+")


def redact(text: str) -> str:
    return _SECRET_PATHS.sub(r"\1[redacted]", text)


class RedactUrlSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)  # type: ignore[assignment]
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True
