"""URL secrets never reach a log line, including the lines uvicorn writes itself."""

from __future__ import annotations

import io
import logging
import logging.config

import pytest

from converge.cli import _uvicorn_options
from converge.core.logfilters import redact


def test_webchat_visitor_token_is_redacted():
    line = redact('127.0.0.1:5555 - "WebSocket /ws/webchat/pubkey/?token=s3cret-Visitor_tok" [accepted]')
    assert "s3cret" not in line
    assert "/ws/webchat/pubkey/?token=[redacted]" in line


def test_other_query_parameters_survive():
    assert redact("/ws/webchat/k/?lang=es&token=abc&x=1") == "/ws/webchat/k/?lang=es&token=[redacted]&x=1"


@pytest.fixture
def uvicorn_logging():
    saved = {name: logging.getLogger(name).handlers[:] for name in ("uvicorn", "uvicorn.access")}
    logging.config.dictConfig(_uvicorn_options("127.0.0.1", 8000)["log_config"])
    yield
    for name, handlers in saved.items():
        logger = logging.getLogger(name)
        logger.handlers = handlers


@pytest.mark.parametrize("logger_name", ["uvicorn.error", "uvicorn.access"])
def test_uvicorn_handlers_redact(uvicorn_logging, logger_name):
    """The same call uvicorn makes when a WebSocket is accepted, through the config serve passes."""
    logger = logging.getLogger(logger_name)
    target = logger if logger.handlers else logger.parent
    assert target is not None and target.handlers
    stream = io.StringIO()
    for handler in target.handlers:
        handler.setStream(stream)  # type: ignore[attr-defined]
    logger.info('%s - "WebSocket %s" [accepted]', ("127.0.0.1", 5555), "/ws/webchat/key1/?token=visitor-secret")
    logger.info('%s - "%s %s HTTP/%s" %d', "127.0.0.1:5555", "GET", "/portal/t/portal-secret", "1.1", 200)
    output = stream.getvalue()
    assert "visitor-secret" not in output and "portal-secret" not in output
    assert "[redacted]" in output
