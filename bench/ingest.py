"""Inbound throughput through the real HTTP path and the worker, next to its bound.

Run against a server started with --no-worker and CONVERGE_BENCH_ENDPOINTS=1, with the server's
DATABASE_URL and CONVERGE_DATA_DIR (see bench/README.md):

    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8000 --practice sunrise -n 3000 -c 32

1. The bound: POST /bench/three-writes, the same server stack doing per request only the writes a
   message needs (check the HMAC, parse, and in one transaction INSERT the message, UPDATE its
   conversation, INSERT the audit row): converge.config.bench_endpoints.
2. For each worker count (--workers 1,2): starts that many `converge worker` processes (at the web
   processes' priority), posts N signed simulator webhooks from new senders (each creates a patient,
   a contact point and a conversation: the heaviest inbound path) with C connections, and waits
   until the workers have put all N in the inbox: the accepted rate and the end-to-end rate.
3. The pipeline in this process, on the same database: worker CPU ms and SQL statements per
   message (transaction control not counted), for new and for known senders, and for new senders
   out of hours (each also gets the after-hours answer: an outbound message queued).
4. Prints the figures, the ratio of the best end-to-end rate to the bound, and the targets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MESSAGES_PER_SECOND = 500  # accepted, on PostgreSQL
TARGET_RATIO = 0.5  # end to end, of the three-write bound, on PostgreSQL
TARGET_NEW_SENDER = (5.0, 10)  # worker CPU ms, statements
TARGET_KNOWN_SENDER = (4.0, 8)
ALWAYS_OPEN = {str(day): [["00:00", "23:59:59.999999"]] for day in range(7)}
# Closed but for a minute a week: with no opening at all there is no "we open at …" to answer with.
CLOSED = {"0": [["03:00", "03:01"]]}

Request = tuple[str, bytes, dict[str, str]]


@dataclass
class Result:
    label: str
    count: int
    seconds: float
    latencies: list[float]
    errors: dict[str, int]
    server_cpu_ms: float | None = field(default=None)
    client_cpu_ms: float = 0.0

    @property
    def rate(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def process_cpu_seconds(pid: int) -> float:
    """User + system CPU of a process and its live descendants (uvicorn --workers)."""
    tick = os.sysconf("SC_CLK_TCK")
    children: dict[int, list[int]] = {}
    stats: dict[int, list[str]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        stats[int(entry.name)] = fields
        children.setdefault(int(fields[1]), []).append(int(entry.name))
    total, todo = 0.0, [pid]
    while todo:
        current = todo.pop()
        if current in stats:
            total += (int(stats[current][11]) + int(stats[current][12])) / tick
        todo.extend(children.get(current, []))
    return total


def encode(host: str, path: str, body: bytes, headers: dict[str, str]) -> bytes:
    lines = [f"POST {path} HTTP/1.1", f"Host: {host}", f"Content-Length: {len(body)}"]
    lines += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


async def read_response(reader: asyncio.StreamReader) -> int:
    """One HTTP/1.1 response on a keep-alive connection; returns its status code."""
    status_line = await reader.readline()
    if not status_line:
        raise ConnectionError("server closed the connection")
    status = int(status_line.split(b" ", 2)[1])
    length, chunked = 0, False
    while (line := await reader.readline()) not in (b"\r\n", b""):
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
    if chunked:
        while size := int((await reader.readline()).split(b";")[0], 16):
            await reader.readexactly(size + 2)
        await reader.readline()
    elif length:
        await reader.readexactly(length)
    return status


async def hammer(label: str, url: str, requests: list[Request], concurrency: int, timeout: float) -> Result:
    """A lean keep-alive HTTP/1.1 client (requests encoded up front), so that the load generator,
    which shares the machine, spends as little CPU as it can on each request."""
    latencies: list[float] = []
    errors: dict[str, int] = {}
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    pending = iter([encode(parts.netloc, path, body, headers) for path, body, headers in requests])

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for raw in pending:
                started = time.perf_counter()
                try:
                    writer.write(raw)
                    status = await asyncio.wait_for(read_response(reader), timeout)
                except (OSError, ValueError, asyncio.IncompleteReadError, TimeoutError) as exc:
                    key = type(exc).__name__
                    writer.close()
                    reader, writer = await asyncio.open_connection(host, port)
                else:
                    if status == 200:
                        latencies.append(time.perf_counter() - started)
                        continue
                    key = f"HTTP {status}"
                errors[key] = errors.get(key, 0) + 1
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    seconds = time.perf_counter() - started
    return Result(label, len(latencies), seconds, latencies, errors)


def measure(label: str, args: argparse.Namespace, requests: list[Request]) -> Result:
    before = process_cpu_seconds(args.server_pid) if args.server_pid else 0.0
    client_before = time.process_time()
    result = asyncio.run(hammer(label, args.url, requests, args.c, args.timeout))
    result.client_cpu_ms = (time.process_time() - client_before) * 1000 / max(1, len(requests))
    if args.server_pid and requests:
        result.server_cpu_ms = (process_cpu_seconds(args.server_pid) - before) * 1000 / len(requests)
    return result


def django_setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "converge.config.settings")
    import logging

    import django

    django.setup()
    logging.getLogger("httpx").setLevel(logging.WARNING)


@contextmanager
def business_hours(practice, hours: dict[str, list[list[str]]]) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """The practice with these opening hours for the duration, its own hours back after."""
    own = practice.business_hours
    practice.business_hours = hours
    practice.save(update_fields=["business_hours"])
    try:
        yield
    finally:
        practice.business_hours = own
        practice.save(update_fields=["business_hours"])


def channel_for(practice_slug: str):  # type: ignore[no-untyped-def]
    """The practice's simulator SMS channel (created if missing) and its webhook secret."""
    from converge.config.env import ConfigError
    from converge.connectors.models import Channel, Provider
    from converge.connectors.services import simulator_channel_create
    from converge.practices.models import Practice
    from converge.practices.services import practice_create

    practice = Practice.objects.filter(slug=practice_slug).first()
    if practice is None:
        practice = practice_create(name=practice_slug.replace("-", " ").title(), slug=practice_slug)
        print(f"created practice {practice_slug!r}")
    channel = Channel.objects.filter(practice=practice, provider=Provider.SIMULATOR, kind="sms", enabled=True).first()
    if channel is None:
        channel = simulator_channel_create(practice=practice, kind="sms")
        print(f"created simulator SMS channel {channel.key}")
    try:
        secret = channel.credentials()["webhook_secret"]
    except ConfigError:
        sys.exit(
            "cannot decrypt the channel's webhook secret: run with the server's CONVERGE_DATA_DIR "
            "(or CONVERGE_ENCRYPTION_KEYS)"
        )
    return channel, secret


def webhook_requests(channel_key: str, secret: str, run: str, count: int, addresses: int) -> list[Request]:
    """Signed webhooks from new senders. `addresses` > 1 spreads them over that many client
    addresses with X-Forwarded-For (uvicorn trusts it from 127.0.0.1), so the per-address webhook
    throttle (converge.core.throttle) does not cap what is being measured: the pipeline."""
    from converge.providers.simulator.connector import SIGNATURE_HEADER, sign

    # A random block of numbers, so repeated runs on one database still see new senders.
    area, offset = random.randint(200, 989), random.randrange(10**7)
    requests = []
    for i in range(count):
        body = json.dumps(
            {
                "from": f"+1{area}{(offset + i) % 10**7:07d}",
                "text": f"Hello, this is bench message {i}. Can I move my appointment to Friday?",
                "id": f"bench-{run}-{i}",
            }
        ).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)}
        if addresses > 1:
            headers["X-Forwarded-For"] = f"198.18.{(i % addresses) // 256}.{(i % addresses) % 256}"
        requests.append((f"/webhooks/simulator/{channel_key}", body, headers))
    return requests


def bound_requests(
    channel_key: str, secret: str, run: str, count: int, targets: list[tuple[int, int]]
) -> list[Request]:
    """Signed requests for the three-write bound, spread over `targets` (conversation, patient)
    so that concurrent requests do not queue on one conversation's row lock."""
    from converge.providers.simulator.connector import SIGNATURE_HEADER, sign

    requests = []
    for i in range(count):
        conversation, patient = targets[i % len(targets)]
        body = json.dumps(
            {
                "conversation": conversation,
                "patient": patient,
                "text": f"Hello, this is bench message {i}. Can I move my appointment to Friday?",
                "id": f"bound-{run}-{i}",
            }
        ).encode()
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: sign(secret, body)}
        requests.append((f"/bench/three-writes/{channel_key}", body, headers))
    return requests


def bound_targets(channel, count: int) -> list[tuple[int, int]]:  # type: ignore[no-untyped-def]
    from converge.conversations.models import Conversation
    from converge.core import clock
    from converge.patients.models import Patient

    now = clock.now()
    targets = []
    for _ in range(count):
        patient = Patient.objects.create(practice_id=channel.practice_id, last_name="Bench bound")
        conversation = Conversation.objects.create(
            practice_id=channel.practice_id, patient=patient, last_message_at=now, created_at=now, updated_at=now
        )
        targets.append((conversation.pk, patient.pk))
    return targets


@dataclass
class PipelineCost:
    cpu_ms: float
    statements: float


def pipeline_cost(channel, run: str, count: int) -> tuple[PipelineCost, PipelineCost, PipelineCost]:  # type: ignore[no-untyped-def]
    """The worker's inbound step (`inbound_process_due`: claim a batch, run each row through the
    pipeline) in this process, with no other worker running: CPU and statements per message, for
    `count` new senders, the same senders again, and `count` new senders with the practice closed.
    Live events go to an event loop of this process, as in `converge serve`."""
    import threading

    from django.db import connection

    from converge.conversations.inbound.queue import inbound_accept, inbound_process_due
    from converge.core import events
    from converge.providers.types import InboundMessage

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True).start()
    events.set_server_loop(loop)
    area, offset = random.randint(200, 989), random.randrange(10**7)
    senders = [f"+1{area}{(offset + i) % 10**7:07d}" for i in range(2 * count + 1)]
    warm = senders.pop()  # first-use caches (classifier, routing rules) are not the pipeline's cost
    senders, closed_senders = senders[:count], senders[count:]
    costs = []
    for phase in ("warm", "new", "known", "closed"):
        body = "Hello, can I move my appointment to Friday?"
        batch = [warm] if phase == "warm" else closed_senders if phase == "closed" else senders
        inbound_accept(
            channel=channel,
            messages=[InboundMessage(f"cost-{run}-{phase}-{i}", sender, body) for i, sender in enumerate(batch)],
        )
        statements = 0

        def counted(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
            nonlocal statements
            statements += not sql.lstrip().upper().startswith(("BEGIN", "COMMIT"))
            return execute(sql, params, many, context)

        with (
            connection.execute_wrapper(counted),
            business_hours(channel.practice, CLOSED if phase == "closed" else ALWAYS_OPEN),
        ):
            started = time.process_time()
            while inbound_process_due(worker_id=f"bench-{run}"):
                pass
            cpu = (time.process_time() - started) * 1000 / len(batch)
        costs.append(PipelineCost(cpu, statements / len(batch)))
    events.set_server_loop(None)
    return costs[1], costs[2], costs[3]


def start_workers(count: int) -> list[subprocess.Popen[bytes]]:
    """`converge worker` processes with this environment, not niced: a queue is work to do now."""
    command = [sys.executable, "-c", "from converge.cli import main; raise SystemExit(main(['worker']))"]
    return [
        subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        for _ in range(count)
    ]


def stop_workers(workers: list[subprocess.Popen[bytes]]) -> None:
    for process in workers:
        process.send_signal(signal.SIGTERM)
    for process in workers:
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def report_row(result: Result) -> str:
    cpu = f"{result.server_cpu_ms:>15.2f}" if result.server_cpu_ms is not None else f"{'-':>15}"
    return (
        f"{result.label:<30}{result.rate:>12.1f}{result.percentile(0.50):>10.1f}"
        f"{result.percentile(0.99):>10.1f}{sum(result.errors.values()):>8}{cpu}{result.client_cpu_ms:>15.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--practice", default="sunrise")
    parser.add_argument("-n", type=int, default=3000, help="messages to post per worker count (and bound requests)")
    parser.add_argument("-c", type=int, default=32, help="concurrent connections")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts to measure, comma-separated")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests before each phase")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    parser.add_argument("--server-pid", type=int, help="also report the server's CPU ms per request")
    parser.add_argument(
        "--drain-timeout", type=float, default=900.0, help="seconds to wait for the workers to store everything"
    )
    parser.add_argument("--sample", type=int, default=300, help="messages for the in-process pipeline cost")
    parser.add_argument(
        "--client-addresses",
        type=int,
        default=1024,
        help="spread webhooks over this many X-Forwarded-For addresses (1: one client, throttled at 1200/min)",
    )
    args = parser.parse_args()
    worker_counts = [int(part) for part in args.workers.split(",") if part.strip()]

    django_setup()
    from django.db import connection

    from converge.conversations.models import InboundEvent, Message

    channel, secret = channel_for(args.practice)
    vendor = connection.vendor
    try:
        httpx.get(f"{args.url}/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        sys.exit(f"server not reachable at {args.url}: {exc}")
    if httpx.post(f"{args.url}/bench/three-writes/{channel.key}", content=b"{}", timeout=5).status_code == 404:
        sys.exit("start the server with CONVERGE_BENCH_ENDPOINTS=1 (it mounts /bench/three-writes)")
    if InboundEvent.objects.exists():
        sys.exit("the inbound queue is not empty: is a worker running? Start the server with --no-worker")

    run = uuid.uuid4().hex[:10]
    load_before = os.getloadavg()[0]
    print(
        f"ingest bench: {args.url}  practice={args.practice}  database={vendor}  n={args.n}  c={args.c}"
        f"  client addresses={args.client_addresses}  workers={worker_counts}"
    )

    def stored_count(prefix: str) -> int:
        return Message.objects.filter(channel=channel, provider_message_id__startswith=f"bench-{prefix}-").count()

    def drain(prefix: str, count: int) -> float:
        """Wait until the workers have stored `count` messages of this run; returns when that was."""
        deadline = time.monotonic() + args.drain_timeout
        while stored_count(prefix) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return time.perf_counter()

    targets = bound_targets(channel, 64)
    connection.close()
    if args.warmup:
        measure("warmup", args, bound_requests(channel.key, secret, f"{run}w", args.warmup, targets))
    bound = measure("bound: three writes", args, bound_requests(channel.key, secret, run, args.n, targets))

    phases: list[tuple[int, Result, float, int]] = []
    # Open around the clock, as the tests' practices are: out of hours every new sender would also
    # get the after-hours answer, a send (bench/reminders.py measures sending), and a run on a
    # Sunday would measure another path than one on a Tuesday.
    with business_hours(channel.practice, ALWAYS_OPEN):
        for count in worker_counts:
            workers = start_workers(count)
            try:
                tag = f"{run}x{count}"
                if args.warmup:  # also lets each worker load the classifier
                    measure(
                        "warmup",
                        args,
                        webhook_requests(channel.key, secret, f"{tag}w", args.warmup, args.client_addresses),
                    )
                    drain(f"{tag}w", args.warmup)
                started = time.perf_counter()
                accepted = measure(
                    f"webhooks accepted ({count} worker{'s' if count > 1 else ''})",
                    args,
                    webhook_requests(channel.key, secret, tag, args.n, args.client_addresses),
                )
                seconds = drain(tag, args.n) - started
                phases.append((count, accepted, args.n / seconds if seconds else 0.0, stored_count(tag)))
            finally:
                stop_workers(workers)
            connection.close()

    new, known, closed = pipeline_cost(channel, run, args.sample)
    load_after = os.getloadavg()[0]

    print()
    columns = (
        ("requests/s", 12),
        ("p50 ms", 10),
        ("p99 ms", 10),
        ("errors", 8),
        ("server CPU ms", 15),
        ("client CPU ms", 15),
    )
    print(f"{'':<30}" + "".join(f"{name:>{width}}" for name, width in columns))
    print(report_row(bound))
    for _count, accepted, end_to_end, _stored in phases:
        print(report_row(accepted))
        print(f"{'  end to end (in the inbox)':<30}{end_to_end:>12.1f}   from the first post until the last was stored")
    for result in (bound, *(accepted for _, accepted, _, _ in phases)):
        if result.errors:
            print(f"  {result.label} errors: {result.errors}")
    print()
    print(f"pipeline per message (this process, {args.sample} messages):")
    print(
        f"  new sender    {new.cpu_ms:5.2f} ms CPU  {new.statements:5.1f} statements"
        f"   (target <= {TARGET_NEW_SENDER[0]} ms, <= {TARGET_NEW_SENDER[1]})"
    )
    print(
        f"  known sender  {known.cpu_ms:5.2f} ms CPU  {known.statements:5.1f} statements"
        f"   (target <= {TARGET_KNOWN_SENDER[0]} ms, <= {TARGET_KNOWN_SENDER[1]})"
    )
    print(
        f"  new sender, practice closed  {closed.cpu_ms:5.2f} ms CPU  {closed.statements:5.1f} statements"
        "   (with the after-hours answer queued: no target)"
    )
    print()
    lost = [(count, stored) for count, _, _, stored in phases if stored != args.n]
    for count, stored in lost:
        print(f"stored with {count} workers: {stored} of {args.n} messages")
    print(f"1-minute load average {load_before:.1f} -> {load_after:.1f}   ({os.cpu_count()} cores)")
    ok = not lost and not any(accepted.errors for _, accepted, _, _ in phases)
    best = max((end_to_end for _, _, end_to_end, _ in phases), default=0.0)
    ratio = best / bound.rate if bound.rate else 0.0
    applies = vendor == "postgresql"
    for label, met in (
        (
            f">= {TARGET_MESSAGES_PER_SECOND} webhooks/s accepted",
            max((a.rate for _, a, _, _ in phases), default=0) >= TARGET_MESSAGES_PER_SECOND,
        ),
        (f"end to end >= {TARGET_RATIO:.0%} of the bound ({ratio:.0%})", ratio >= TARGET_RATIO),
    ):
        where = "" if applies else f" (applies to PostgreSQL; this is {vendor})"
        print(f"target: {label} ... {'met' if met else 'NOT met'}{where}")
        ok &= met or not applies
    costs_met = (
        new.cpu_ms <= TARGET_NEW_SENDER[0]
        and new.statements <= TARGET_NEW_SENDER[1]
        and known.cpu_ms <= TARGET_KNOWN_SENDER[0]
        and known.statements <= TARGET_KNOWN_SENDER[1]
    )
    print(f"target: pipeline CPU and statements per message ... {'met' if costs_met else 'NOT met'}")
    return 0 if ok and costs_met else 1


if __name__ == "__main__":
    sys.exit(main())
