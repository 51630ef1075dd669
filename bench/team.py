"""Team messages, live: 15 staff connected to the staff WebSocket, 10 messages a second among them.
Prints the p50/p95 from sending (the POST of the composer) to the event reaching the other
browsers' WebSockets, and to "displayed" (event + the page's re-read of the new message), beside
the bound: a bare relay through the same server and socket (presence.typing, which the consumer
hands straight to the channel layer, no database write).

Run:
  .venv/bin/python bench/team.py                 # SQLite in a temporary data dir, in-memory layer
  .venv/bin/python bench/team.py --seconds 30 --rate 10 --staff 15
  REDIS_URL=redis://127.0.0.1:6379/12 DATABASE_URL=postgresql://postgres@127.0.0.1:5432/converge_team_bench \\
      .venv/bin/python bench/team.py
Target (issue 17): send → display p95 < 100 ms on this machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MS = 100.0
CSRF = "b" * 32  # a fixed CSRF secret: the cookie and the header carry the same one


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def seed(staff_count: int) -> dict[str, Any]:
    """A practice, `staff_count` signed-in staff (database sessions) and one channel with them all."""
    import django

    django.setup()
    from django.contrib.sessions.backends.db import SessionStore
    from django.core.management import call_command

    from converge.dashboard.idle import LAST_ACTIVITY_KEY
    from converge.practices.models import Role
    from converge.practices.services import practice_create, staff_create
    from converge.teamchat import services

    call_command("migrate", interactive=False, verbosity=0)
    practice = practice_create(name="Bench Clinic", slug=f"bench-{secrets.token_hex(3)}")
    roles = [Role.FRONT_DESK, Role.NURSE, Role.SCHEDULER]  # roles without a required second factor
    staff = [
        staff_create(
            practice=practice,
            email=f"staff{n}-{practice.slug}@bench.example",
            password=None,
            display_name=f"Staff {n}",
            role=roles[n % len(roles)],
        )
        for n in range(staff_count)
    ]
    services.team_channels_ensure(practice_id=practice.pk)
    manager = staff_create(
        practice=practice,
        email=f"manager-{practice.slug}@bench.example",
        password=None,
        display_name="M",
        role=Role.MANAGER,
    )
    channel = services.channel_create(actor=manager, name="Bench", member_ids=[s.pk for s in staff])
    topic, _ = services.topic_start(actor=staff[0], channel=channel, title="Bench", body="start")
    sessions = []
    for member in staff:
        store = SessionStore()
        store["_auth_user_id"] = str(member.user.pk)
        store["_auth_user_backend"] = "django.contrib.auth.backends.ModelBackend"
        store["_auth_user_hash"] = member.user.get_session_auth_hash()
        store[LAST_ACTIVITY_KEY] = time.time()
        store.create()
        sessions.append(store.session_key)
    return {"topic_id": topic.pk, "sessions": sessions, "staff_ids": [s.pk for s in staff]}


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def run(url: str, world: dict[str, Any], seconds: float, rate: float) -> dict[str, list[float]]:
    import httpx
    import websockets

    ws_url = url.replace("http://", "ws://") + "/ws/staff/"
    sockets = []
    for key in world["sessions"]:
        sock = await websockets.connect(
            ws_url, additional_headers={"Cookie": f"sessionid={key}", "Origin": url}, max_size=None
        )
        hello = json.loads(await sock.recv())
        assert hello["type"] == "hello", hello
        sockets.append(sock)
    sent_at: dict[int, float] = {}
    relay_sent: dict[int, float] = {}
    event_ms: list[float] = []
    display_ms: list[float] = []
    relay_ms: list[float] = []
    pending_display: list[asyncio.Task[None]] = []
    topic = world["topic_id"]
    clients = [
        httpx.AsyncClient(
            base_url=url,
            cookies={"sessionid": key, "csrftoken": CSRF},
            headers={"X-CSRFToken": CSRF, "HX-Request": "true", "Origin": url},
            timeout=30,
        )
        for key in world["sessions"]
    ]

    arrivals: list[tuple[int, int, float]] = []  # (socket, message id, when) at every socket
    displayed: dict[int, float] = {}  # message id → when the displaying browser had its HTML

    async def display(message_id: int) -> None:
        # What team.js does on the event: GET the topic's messages after the last one shown.
        response = await clients[0].get(f"/team/t/{topic}/messages?after={message_id - 1}")
        if response.status_code == 200 and f'data-message-id="{message_id}"' in response.text:
            displayed[message_id] = time.perf_counter()

    async def listen(index: int, sock: Any) -> None:
        async for raw in sock:
            now = time.perf_counter()
            event = json.loads(raw)
            if event.get("type") == "team.message":
                arrivals.append((index, event["message_id"], now))
                if index == 0:  # one browser re-reads each message, as the page does
                    pending_display.append(asyncio.create_task(display(event["message_id"])))
            elif event.get("type") == "presence.typing" and event.get("conversation_id") in relay_sent:
                relay_ms.append((now - relay_sent[event["conversation_id"]]) * 1000)

    listeners = [asyncio.create_task(listen(i, s)) for i, s in enumerate(sockets)]
    sender_of: dict[int, int] = {}

    def message_id(n: int) -> int:
        from converge.teamchat.models import TeamMessage

        return int(
            TeamMessage.objects.filter(topic_id=topic, body=f"bench message {n}").values_list("id", flat=True)[0]
        )

    async def send(n: int) -> None:
        sender = 1 + n % (len(clients) - 1)  # never the displaying browser (0)
        started = time.perf_counter()
        response = await clients[sender].post(f"/team/t/{topic}/post", data={"body": f"bench message {n}"})
        assert response.status_code == 204, (response.status_code, response.text[:200])
        # The 204 carries no id: the bench reads it from the database (after the clock started).
        mid = await asyncio.to_thread(message_id, n)
        sent_at[mid], sender_of[mid] = started, sender

    interval = 1.0 / rate
    total = int(seconds * rate)
    begin = time.perf_counter()
    relay_every = max(1, int(rate))
    for n in range(total):
        await asyncio.sleep(max(0.0, begin + n * interval - time.perf_counter()))
        await send(n)
        if n % relay_every == 0:
            relay_id = 10_000_000 + n
            relay_sent[relay_id] = time.perf_counter()
            await sockets[-1].send(json.dumps({"type": "presence.typing", "conversation_id": relay_id}))
    await asyncio.sleep(2)
    await asyncio.gather(*pending_display, return_exceptions=True)
    for task in listeners:
        task.cancel()
    for sock in sockets:
        await sock.close()
    for client in clients:
        await client.aclose()
    # The sender's own socket hears its message too; "another browser" leaves it out.
    event_ms += [(when - sent_at[mid]) * 1000 for i, mid, when in arrivals if mid in sent_at and i != sender_of[mid]]
    display_ms += [(when - sent_at[mid]) * 1000 for mid, when in displayed.items() if mid in sent_at]
    return {"event": event_ms, "display": display_ms, "relay": relay_ms, "sent": [float(total)]}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--staff", type=int, default=15)
    parser.add_argument("--rate", type=float, default=10.0, help="messages per second")
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    data_dir = Path(tempfile.mkdtemp(prefix="converge-team-bench-"))
    os.environ.setdefault("CONVERGE_DATA_DIR", str(data_dir))
    os.environ.setdefault("DATABASE_URL", f"sqlite:///{data_dir / 'converge.sqlite3'}")
    os.environ.setdefault("SECRET_KEY", secrets.token_urlsafe(40))
    os.environ["DJANGO_SETTINGS_MODULE"] = "converge.config.settings"
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    os.environ["PUBLIC_BASE_URL"] = url
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    world = seed(args.staff)
    converge = Path(sys.executable).with_name("converge")
    log = open(data_dir / "serve.log", "ab")  # noqa: SIM115 -- closed with the server
    server = subprocess.Popen(
        [str(converge), "serve", "--host", "127.0.0.1", "--port", str(port)], stdout=log, stderr=log
    )
    try:
        import httpx

        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline or server.poll() is not None:
                sys.exit(f"converge serve did not start; see {data_dir / 'serve.log'}")
            time.sleep(0.2)
        results = asyncio.run(run(url, world, args.seconds, args.rate))
    finally:
        server.terminate()
        server.wait(timeout=15)
        log.close()
    receivers = args.staff - 1
    sent = int(results["sent"][0])
    print(f"team messages: {args.staff} staff connected, {args.rate:g} messages/s for {args.seconds:g} s ({sent} sent)")
    layer = "Redis" if os.environ.get("REDIS_URL") else "in-memory"
    print(f"database {os.environ['DATABASE_URL'].split(':')[0]}, channel layer {layer}")
    print(f"{'':40} {'n':>6} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8}")
    for label, key in (
        ("send → event at another WebSocket", "event"),
        ("send → displayed (event + re-read)", "display"),
        ("bound: bare relay through the socket", "relay"),
    ):
        values = results[key]
        print(
            f"{label:40} {len(values):>6} {pct(values, 0.5):>8.1f} {pct(values, 0.95):>8.1f} {max(values or [0]):>8.1f}"
        )
    expected = sent * receivers
    print(f"events delivered: {len(results['event'])} of {expected} ({receivers} receivers per message)")
    p95 = pct(results["display"], 0.95)
    print(f"target: send → display p95 < {TARGET_MS:.0f} ms: {'met' if p95 < TARGET_MS else 'NOT met'} ({p95:.1f} ms)")
    print(f"median of all event latencies: {statistics.median(results['event'] or [0]):.1f} ms")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
