"""Security issue 12, the role walk's WebSocket routes (converge/config/asgi.py). In a module of
its own: the page walk's practice lives in a transaction open for its whole module, which the
consumer's thread (a connection of its own) cannot see."""

from __future__ import annotations

from typing import Any

from converge.practices.models import Role
from tests.helpers import make_staff

ROLES = [Role(value) for value in Role.values]


def test_staff_websocket_accepts_staff_and_refuses_anonymous(transactional_db: Any) -> None:
    """/ws/staff/ (converge/config/asgi.py): any signed-in staff member of every role connects;
    without a session the socket is closed. /ws/webchat/<key>/ is the website widget's (WEBHOOK:
    tests/connectors/test_webchat_ws.py)."""
    from converge.practices.services import practice_create
    from tests.dashboard.test_ws import connect, in_own_loop, session_cookie

    practice = practice_create(name="Socket Clinic", slug="socket-walk")
    cookies = {
        role: session_cookie(make_staff(practice, f"{role.label.split()[-1].title()} Socket", role).user)
        for role in ROLES
    }

    @in_own_loop
    async def connect_all() -> None:
        for role, cookie in cookies.items():
            communicator, connected, code = await connect(cookie)
            assert connected, (role, code)
            await communicator.disconnect()
        _communicator, connected, code = await connect(None)
        assert not connected and code == 4401

    connect_all()
