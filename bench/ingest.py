"""Inbound throughput through the real HTTP path, against a running server, next to its bound.

Run with the server's DATABASE_URL and CONVERGE_DATA_DIR (see bench/README.md):

    .venv/bin/python bench/ingest.py --url http://127.0.0.1:8000 --practice sunrise -n 5000 -c 32

1. Finds (or creates) the practice's simulator SMS channel and its webhook secret through Django,
   with the same environment as the server.
2. Posts N signed simulator webhooks with C concurrent connections. Every message has a new
   sender, so each one creates a patient, a contact point and a conversation (the heaviest inbound
   path), then checks that all N were stored.
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


async def hammer(label: str, url: str, requests: list[Request], concurrency: int, timeout: float) -> Result:
    latencies: list[float] = []
    errors: dict[str, int] = {}
    pending = iter(requests)
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=url, limits=limits, timeout=timeout) as client:

        async def worker() -> None:
            for path, body, headers in pending:
                started = time.perf_counter()
                try:
                    response = await client.post(path, content=body, headers=headers)
                except httpx.HTTPError as exc:
                    key = type(exc).__name__
                else:
                    if response.status_code == 200:
                        latencies.append(time.perf_counter() - started)
                        continue
                    key = f"HTTP {response.status_code}"
                errors[key] = errors.get(key, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        seconds = time.perf_counter() - started
    return Result(label, len(latencies), seconds, latencies, errors)


def measure(label: str, args: argparse.Namespace, requests: list[Request]) -> Result:
    before = process_cpu_seconds(args.server_pid) if args.server_pid else 0.0
    result = asyncio.run(hammer(label, args.url, requests, args.c, args.timeout))
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
        f"{result.percentile(0.99):>10.1f}{sum(result.errors.values()):>8}{cpu}"
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
    if args.warmup:
        measure("warmup", args, webhook_requests(channel.key, secret, f"{run}w", args.warmup, args.client_addresses))
    webhooks = webhook_requests(channel.key, secret, run, args.n, args.client_addresses)
    ingest = measure("inbound webhook (stored)", args, webhooks)
    stored = Message.objects.filter(channel=channel, provider_message_id__startswith=f"bench-{run}-").count()

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
    print(f"{'':<26}{'requests/s':>12}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'server CPU ms':>15}")
    print(report_row(ingest))
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
        print(f"target: >= {TARGET_MESSAGES_PER_SECOND} messages/s on PostgreSQL ... {'met' if met else 'NOT met'}")
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
