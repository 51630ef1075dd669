"""Inbound throughput through the real HTTP path, against a running server, next to its bound.

Run with the server's DATABASE_URL and CONVERGE_DATA_DIR (see bench/README.md):

    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8000 --practice sunrise -n 5000 -c 32

1. Finds (or creates) the practice's simulator SMS channel and its webhook secret through Django,
   with the same environment as the server.
2. Posts N signed simulator webhooks with C concurrent connections. Every message has a new
   sender, so each one creates a patient, a contact point and a conversation (the heaviest inbound
   path). A webhook answers once its message is accepted (stored for the pipeline); the bench then
   waits until the worker has put all N in the inbox and reports that end-to-end rate too.
3. Measures the bound: the same server stack answering POST /bench/insert, one INSERT per request
   (mounted only when the server runs with CONVERGE_BENCH_ENDPOINTS=1).
4. Prints requests/s and p50/p99 latency for both, the ratio and the targets. With --server-pid,
   also the server's CPU time per request, which stays meaningful on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET_MESSAGES_PER_SECOND = 500  # on PostgreSQL
TARGET_RATIO = 0.5  # of the bound

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
    from converge.connectors.simulator import SIGNATURE_HEADER, sign

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


def bound_requests(count: int) -> list[Request]:
    return [("/bench/insert", b'{"bench": true}', {"Content-Type": "application/json"})] * count


def report_row(result: Result) -> str:
    cpu = f"{result.server_cpu_ms:>15.2f}" if result.server_cpu_ms is not None else f"{'-':>15}"
    return (
        f"{result.label:<26}{result.rate:>12.1f}{result.percentile(0.50):>10.1f}"
        f"{result.percentile(0.99):>10.1f}{sum(result.errors.values()):>8}{cpu}{result.client_cpu_ms:>15.2f}"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--url", default="http://127.0.0.1:8000")
    parser.add_argument("--practice", default="sunrise")
    parser.add_argument("-n", type=int, default=5000, help="messages to post (and bound requests)")
    parser.add_argument("-c", type=int, default=32, help="concurrent connections")
    parser.add_argument("--warmup", type=int, default=200, help="untimed requests before each phase")
    parser.add_argument("--timeout", type=float, default=60.0, help="per-request timeout, seconds")
    parser.add_argument("--server-pid", type=int, help="also report the server's CPU ms per request")
    parser.add_argument(
        "--drain-timeout", type=float, default=900.0, help="seconds to wait for the worker to store everything"
    )
    parser.add_argument("--no-bound", action="store_true", help="skip the /bench/insert bound")
    parser.add_argument(
        "--client-addresses",
        type=int,
        default=1024,
        help="spread webhooks over this many X-Forwarded-For addresses (1: one client, throttled at 1200/min)",
    )
    args = parser.parse_args()

    django_setup()
    from django.db import connection

    from converge.conversations.models import Message
    from converge.core.models import PeriodicJobState

    channel, secret = channel_for(args.practice)
    vendor = connection.vendor
    try:
        httpx.get(f"{args.url}/healthz", timeout=5).raise_for_status()
    except httpx.HTTPError as exc:
        sys.exit(f"server not reachable at {args.url}: {exc}")
    connection.close()

    run = uuid.uuid4().hex[:10]
    load_before = os.getloadavg()[0]
    print(
        f"ingest bench: {args.url}  practice={args.practice}  database={vendor}  n={args.n}  c={args.c}"
        f"  client addresses={args.client_addresses}"
    )

    def stored_count(prefix: str) -> int:
        return Message.objects.filter(channel=channel, provider_message_id__startswith=f"bench-{prefix}-").count()

    def drain(prefix: str, count: int) -> float:
        """Wait until the worker has stored `count` messages of this run; returns when that was."""
        deadline = time.monotonic() + args.drain_timeout
        while stored_count(prefix) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return time.perf_counter()

    if args.warmup:
        measure("warmup", args, webhook_requests(channel.key, secret, f"{run}w", args.warmup, args.client_addresses))
        drain(f"{run}w", args.warmup)
    webhooks = webhook_requests(channel.key, secret, run, args.n, args.client_addresses)
    started = time.perf_counter()
    ingest = measure("inbound webhook (accepted)", args, webhooks)
    end_to_end = drain(run, args.n) - started
    stored = stored_count(run)

    bound: Result | None = None
    if not args.no_bound:
        if httpx.post(f"{args.url}/bench/insert", content=b"{}", timeout=5).status_code == 404:
            print("bound skipped: start the server with CONVERGE_BENCH_ENDPOINTS=1 to mount /bench/insert")
        else:
            if args.warmup:
                measure("warmup", args, bound_requests(args.warmup))
            bound = measure("bound: one INSERT", args, bound_requests(args.n))
            PeriodicJobState.objects.filter(name__startswith="bench:").delete()
    load_after = os.getloadavg()[0]

    print()
    columns = (("requests/s", 12), ("p50 ms", 10), ("p99 ms", 10), ("errors", 8))
    columns += (("server CPU ms", 15), ("client CPU ms", 15))
    print(f"{'':<26}" + "".join(f"{name:>{width}}" for name, width in columns))
    print(report_row(ingest))
    print(f"{'  processed (end to end)':<26}{stored / end_to_end:>12.1f}   until the last one was in the inbox")
    if bound is not None:
        print(report_row(bound))
    for result in (ingest, bound):
        if result is not None and result.errors:
            print(f"  {result.label} errors: {result.errors}")
    print()
    print(f"stored: {stored} of {args.n} messages   (1-minute load average {load_before:.1f} -> {load_after:.1f})")
    ok = stored == args.n and not ingest.errors
    if vendor == "postgresql":
        met = ingest.rate >= TARGET_MESSAGES_PER_SECOND
        ok &= met
        verdict = "met" if met else "NOT met"
        print(f"target: >= {TARGET_MESSAGES_PER_SECOND} messages/s accepted on PostgreSQL ... {verdict}")
    else:
        print(f"target: >= {TARGET_MESSAGES_PER_SECOND} messages/s applies to PostgreSQL (this is {vendor})")
    if bound is not None and bound.rate:
        ratio = ingest.rate / bound.rate
        met = ratio >= TARGET_RATIO
        ok &= met
        print(f"ratio:  {ratio:.0%} of the bound (target >= {TARGET_RATIO:.0%}) ... {'met' if met else 'NOT met'}")
        if ingest.server_cpu_ms and bound.server_cpu_ms:
            print(f"        by server CPU per request: {bound.server_cpu_ms / ingest.server_cpu_ms:.0%}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
