"""Keep secrets that travel in URLs (portal link tokens, staff invitation links, webhook channel
keys, web-chat visitor tokens) out of the logs — ours and the ASGI server's."""

from __future__ import annotations

import copy
import logging
import re
from typing import Any

_SECRET_PATHS = re.compile(r"(/portal/t/|/webhooks/[a-z]+/|/invite/|/setup/)[^/\s?\"']+")
# A web-chat visitor's token opens their thread; it rides in the WebSocket URL's query string.
_SECRET_QUERY = re.compile(r"([?&]token=)[^&\s\"']+")


def redact(text: str) -> str:
    return _SECRET_QUERY.sub(r"\1[redacted]", _SECRET_PATHS.sub(r"\1[redacted]", text))


class RedactUrlSecrets(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # uvicorn passes the client address as a tuple inside args; paths are plain strings.
        if record.args and isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def uvicorn_log_config() -> dict[str, Any]:
    """uvicorn's own logging set-up with the redaction filter on each of its handlers: its loggers
    do not propagate to ours, and it logs every WebSocket URL ("WebSocket /ws/… [accepted]")."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config.setdefault("filters", {})["redact"] = {"()": "converge.core.logfilters.RedactUrlSecrets"}
    for handler in config["handlers"].values():
        handler["filters"] = [*handler.get("filters", []), "redact"]
    return config
