from __future__ import annotations

import time
from typing import Any

LAST_ACTIVITY_KEY = "last_activity"


def session_is_idle(session: Any, timeout_minutes: int) -> bool:
    last = session.get(LAST_ACTIVITY_KEY)
    if last is None:
        return False
    return time.time() - float(last) > timeout_minutes * 60
