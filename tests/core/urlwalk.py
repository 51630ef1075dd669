"""What the URL walks share (tests/core/test_isolation_walk.py, tests/core/test_role_walk.py):
every URL pattern of the Django URLconf, and every operation of the ninja API."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from django.urls import URLPattern, URLResolver

PARAM = re.compile(r"<(?:\w+:)?(\w+)>")


def walk(patterns: Any, prefix: str = "") -> Iterator[tuple[str, URLPattern]]:
    """(route, pattern) for every URL pattern, includes followed."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            yield from walk(entry.url_patterns, prefix + str(entry.pattern))
        elif isinstance(entry, URLPattern):
            yield prefix + str(entry.pattern), entry


def api_operations(api: Any) -> Iterator[tuple[str, str, str]]:
    """(METHOD, path, operation name) for every operation of a NinjaAPI, e.g.
    ("GET", "/conversations/{conversation_id}", "get_conversation")."""
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            full = "/" + "/".join(part.strip("/") for part in (prefix, path) if part.strip("/"))
            for operation in path_view.operations:
                for method in operation.methods:
                    yield method, full, operation.view_func.__name__


def fill(route: str, ids: dict[str, Any]) -> str:
    """The route with its <parameters> (or {parameters}) replaced by ids."""
    route = PARAM.sub(lambda m: str(ids[m.group(1)]), route)
    return re.sub(r"\{(\w+)\}", lambda m: str(ids[m.group(1)]), route)
