"""The `converge` command."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import logging
import os
import signal
import sys
import uuid
from collections.abc import Callable, Sequence
from typing import Any

from converge.core.logfilters import uvicorn_log_config


def _setup() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "converge.config.settings")
    import django

    django.setup()


def _migrate(verbose: bool = False) -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=1 if verbose else 0)


class CommandError(Exception):
    """A user-facing failure: printed as one line; the exit code is 2 unless one is given."""

    def __init__(self, message: str, *, exit_code: int = 2) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def _positive(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {raw!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


# Hosts that mean "every interface": not an address a browser can open, so links use loopback.
WILDCARD_HOSTS = {"", "0.0.0.0", "::", "[::]"}  # noqa: S104


def default_public_base_url(host: str, port: int) -> str:
    """The address Converge is served at, for links it hands out when PUBLIC_BASE_URL is unset.
    A wildcard host (0.0.0.0, ::) becomes 127.0.0.1: the one address sure to reach this server
    from this machine; other machines need PUBLIC_BASE_URL set to the name they use."""
    name = host.strip()
    if name in WILDCARD_HOSTS:
        name = "127.0.0.1"
    elif ":" in name and not name.startswith("["):
        name = f"[{name}]"  # an IPv6 address
    return f"http://{name}:{port}"


def _public_base_url_default(host: str, port: int) -> None:
    """Before Django's settings load: PUBLIC_BASE_URL, when not set, follows --host/--port (the
    settings read it once, for portal links, the chat widget's origin and webhook URLs)."""
    if not os.environ.get("PUBLIC_BASE_URL", "").strip():
        os.environ["PUBLIC_BASE_URL"] = default_public_base_url(host, port)
        if host.strip() in WILDCARD_HOSTS:
            print(
                f"note: links for patients use {os.environ['PUBLIC_BASE_URL']}; set PUBLIC_BASE_URL to the"
                " address other machines reach",
                flush=True,
            )


def cmd_serve(args: argparse.Namespace) -> int:
    _public_base_url_default(args.host, args.port)
    _setup()
    if args.workers > 1:
        from django.conf import settings

        if not settings.REDIS_URL:
            raise CommandError("--workers: several web processes need REDIS_URL (WebSocket events cross processes)")
    _migrate()
    _announce_first_run()
    if args.workers > 1:
        _serve_processes(args.host, args.port, args.workers, with_worker=not args.no_worker)
    else:
        _serve(args.host, args.port, with_worker=not args.no_worker)
    return 0


def _announce_first_run() -> None:
    """On an empty database, the one-time setup link (converge.accounts.firstrun): only it, or a
    browser on this machine, may create the practice."""
    from django.conf import settings

    from converge.accounts.firstrun import announce

    link = announce(settings.PUBLIC_BASE_URL)
    if link:
        print(f"No practice yet. To set up Converge, open this one-time link: {link}", flush=True)


def _uvicorn_options(host: str, port: int) -> dict[str, Any]:
    return {
        "app": "converge.config.asgi:application",
        "host": host,
        "port": port,
        "lifespan": "off",
        "log_level": os.environ.get("LOG_LEVEL", "info").lower(),
        "access_log": False,
        "log_config": uvicorn_log_config(),
        "ws": "websockets",
        # X-Forwarded-For / -Proto are believed only from the reverse proxies named here (none by
        # default): uvicorn's own default trusts any loopback client, which let one caller pick a
        # new address for every request and slip past the per-address limits.
        **_proxy_options(os.environ.get("TRUSTED_PROXIES", "")),
    }


def _proxy_options(trusted: str) -> dict[str, Any]:
    proxies = ",".join(part.strip() for part in trusted.split(",") if part.strip())
    return {"proxy_headers": bool(proxies), "forwarded_allow_ips": proxies or None}


def _serve_processes(host: str, port: int, workers: int, *, with_worker: bool) -> None:
    """Several web processes on one socket (uvicorn's supervisor restarts one that dies) and the
    worker as a process of its own, restarted when it dies; none outlives this process."""
    import uvicorn

    from converge.core.supervisor import SUPERVISOR_ENV, WorkerSupervisor

    # Inherited by the web processes uvicorn starts and by the worker: they die with this process.
    os.environ[SUPERVISOR_ENV] = str(os.getpid())
    worker = None
    if with_worker:
        # At the web processes' priority: a queue is patients' messages not yet in the inbox, and
        # a niced worker starved behind a burst of webhooks let it grow (bench/ingest.py).
        code = "from converge.cli import main; raise SystemExit(main(['worker']))"
        worker = WorkerSupervisor([sys.executable, "-c", code])
        worker.start()
    print(f"Converge is running at http://{host}:{port}/  ({workers} web processes; Ctrl+C to stop)", flush=True)
    try:
        uvicorn.run(workers=workers, **_uvicorn_options(host, port))
    finally:
        if worker is not None:
            worker.stop()


def _serve(host: str, port: int, *, with_worker: bool) -> None:
    import uvicorn

    from converge.core import events

    server = uvicorn.Server(uvicorn.Config(**_uvicorn_options(host, port)))

    def stopping(*_: object) -> None:
        server.should_exit = True

    # uvicorn takes SIGTERM / SIGINT while it serves, then restores the handlers it found and
    # raises the signal again: with Python's defaults that killed the process (or raised
    # KeyboardInterrupt) before the worker below had stopped and removed its heartbeat row, so
    # /readyz and the dashboard showed a stopped server's worker as alive until the row went stale.
    signal.signal(signal.SIGTERM, stopping)
    signal.signal(signal.SIGINT, stopping)
    stop = thread = None
    if with_worker:
        from converge.worker_lanes import start_background_worker

        thread, stop = start_background_worker()

    async def run() -> None:
        events.set_server_loop(asyncio.get_running_loop())
        await server.serve()

    print(f"Converge is running at http://{host}:{port}/  (Ctrl+C to stop)", flush=True)
    try:
        asyncio.run(run())
    finally:
        events.set_server_loop(None)
        if stop is not None and thread is not None:
            # The worker finishes the row in hand and hands back the rest of its claims.
            stop.set()
            thread.join(timeout=WORKER_STOP_SECONDS)


def cmd_worker(args: argparse.Namespace) -> int:
    import threading

    _setup()
    from converge.worker_lanes import run_worker

    if args.nice:
        os.nice(args.nice)

    from converge.core.supervisor import exit_with_supervisor, supervised

    stop = threading.Event()

    def stopping(*_: object) -> None:
        if stop.is_set():
            return
        stop.set()
        # The row in hand is finished and the rest handed back well within this; past it, exit
        # anyway (other workers release what is left once this worker's heartbeat is stale).
        timer = threading.Timer(WORKER_STOP_SECONDS, _stop_overdue)
        timer.daemon = True
        timer.start()

    signal.signal(signal.SIGTERM, stopping)
    # Under `serve --workers`, Ctrl+C reaches the whole process group: the supervisor stops the
    # worker itself, after the web processes, instead of seeing it exit and restarting it.
    signal.signal(signal.SIGINT, signal.SIG_IGN if supervised() else stopping)
    exit_with_supervisor()
    print("Converge worker running (Ctrl+C to stop)", flush=True)
    run_worker(stop, idle_seconds=args.idle)
    return 0


# How long a stopping worker may take to finish the row in hand and hand back its claims.
WORKER_STOP_SECONDS = 10.0


def _stop_overdue() -> None:
    print(f"converge worker: not stopped within {WORKER_STOP_SECONDS:g} s; exiting", file=sys.stderr, flush=True)
    os._exit(1)


def cmd_demo(args: argparse.Namespace) -> int:
    _public_base_url_default(args.host, args.port)
    _setup()
    _migrate()
    from converge.demo import ensure_demo

    # Seeding replays weeks of reminders and replies through the real services; their INFO
    # lines ("outreach not sent …") would bury the logins a new user needs.
    quiet = logging.getLogger("converge")
    level = quiet.level
    quiet.setLevel(logging.WARNING)
    try:
        logins = ensure_demo()
    finally:
        quiet.setLevel(level)
    print("Demo practice: Sunrise Family Clinic (slug: sunrise)")
    print(f"Staff logins (password for all: {logins.password}):")
    for email, name, role in logins.staff:
        print(f"  {email:<38} {name:<24} {role}")
    if args.no_serve:
        return 0
    _serve(args.host, args.port, with_worker=True)
    return 0


def cmd_createadmin(args: argparse.Namespace) -> int:
    _setup()
    _migrate()
    from django.core.exceptions import ValidationError

    from converge.practices.models import Practice, Role
    from converge.practices.services import practice_create, staff_create

    password = args.password
    if password is None:
        password = getpass.getpass("Password: ")
        if password != getpass.getpass("Password (again): "):
            raise CommandError("passwords do not match")
    practice = Practice.objects.filter(slug=args.practice).first()
    if practice is None:
        practice = practice_create(name=args.name or args.practice.replace("-", " ").title(), slug=args.practice)
        print(f"Created practice {practice.slug}")
    try:
        staff = staff_create(
            practice=practice,
            email=args.email,
            password=password,
            display_name=args.display_name or args.email.split("@")[0],
            role=Role.ADMIN,
        )
    except ValidationError as exc:
        raise CommandError("password: " + " ".join(exc.messages)) from None
    except Exception as exc:
        if "unique" in str(exc).lower():
            raise CommandError(f"email: {args.email} already has an account") from None
        raise
    print(f"Created admin {staff.user.email} for {practice.slug}")
    return 0


def _practice(slug: str):  # type: ignore[no-untyped-def]
    from converge.practices.models import Practice

    practice = Practice.objects.filter(slug=slug).first()
    if practice is None:
        raise CommandError(f"--practice: no practice with slug {slug!r}")
    return practice


def cmd_token_create(args: argparse.Namespace) -> int:
    _setup()
    from converge.practices.services import api_token_create

    _token, secret = api_token_create(practice=_practice(args.practice), name=args.name)
    print(secret)
    return 0


def cmd_simulate(args: argparse.Namespace) -> int:
    """Through the running server by default (a signed simulator webhook), so the staff browsers
    connected to it hear of the message; --direct stores it in this process (see
    converge.connectors.simulate)."""
    _setup()
    _migrate()
    from django.conf import settings

    from converge.connectors import simulate

    practice = _practice(args.practice)
    message_id = args.id or f"cli-{uuid.uuid4()}"
    try:
        channel, created = simulate.simulator_channel(practice, args.channel)
        if args.direct:
            outcome = simulate.deliver_direct(channel, sender=args.sender, text=args.text, message_id=message_id)
        else:
            outcome = simulate.deliver_via_server(
                channel,
                sender=args.sender,
                text=args.text,
                message_id=message_id,
                server=args.server or settings.PUBLIC_BASE_URL,
                created=created,
                wait=args.wait,
            )
    except simulate.SimulateError as exc:
        raise CommandError(str(exc)) from None
    if args.direct:
        print(
            f"Delivered in this process (--direct): {channel.label}, channel key {channel.key}, message id {message_id}"
        )
    else:
        print(f"Sent to {outcome.via} ({channel.label}), message id {message_id}")
    if outcome.state == "accepted":
        print(
            f"Accepted: queued on the server, not yet stored after {args.wait:g} s. Is its worker running?"
            " (`converge serve` runs one unless --no-worker; otherwise `converge worker`)"
        )
    elif outcome.message is not None:
        if outcome.state == "stored":
            print(f"Stored as {simulate.describe(outcome.message)}")
        else:
            print(f"Duplicate, not stored again: this id is {simulate.describe(outcome.message)}")
    if args.direct and not settings.REDIS_URL:
        print(
            "note: stored by this process, not the server: without REDIS_URL its live events stay here,"
            " so open browsers see the message (and any urgent alert) only when they reload"
        )
    return 0


def cmd_audit_verify(args: argparse.Namespace) -> int:
    _setup()
    from converge.audit.services import audit_seal, audit_verify

    audit_seal()
    result = audit_verify()
    if result.ok:
        from converge.audit.models import AuditEvent

        head = AuditEvent.objects.filter(chain_index__isnull=False).order_by("-chain_index").first()
        print(f"audit chain ok: {result.checked} rows verified")
        if head is not None:
            # Keep a copy of this line elsewhere: it proves later that no newest rows were cut off.
            print(f"head: index {head.chain_index} hash {head.hash}")
        return 0
    print(f"audit chain BROKEN at row id {result.row_id}: {result.problem} ({result.checked} rows verified before it)")
    return 1


def cmd_manage(args: argparse.Namespace) -> int:
    _setup()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["converge manage", *args.rest])
    return 0


def _usage(command: str) -> Callable[[argparse.Namespace], int]:
    def show(args: argparse.Namespace) -> int:
        raise CommandError(f"{command}: choose a sub-command (see converge {command} --help)")

    return show


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="converge", description="Converge patient communication platform")
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, func: Callable[[argparse.Namespace], int], help_text: str) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(func=func)
        return p

    for name, func, text in (
        ("serve", cmd_serve, "apply migrations, serve the web app and run the worker"),
        ("demo", cmd_demo, "create (once) the Sunrise Family Clinic demo practice and serve it"),
    ):
        p = add(name, func, text)
        p.add_argument("--host", default="127.0.0.1")
        p.add_argument("--port", type=int, default=8000)
        if name == "serve":
            p.add_argument("--no-worker", action="store_true", help="do not run the worker in this process")
            p.add_argument(
                "--workers",
                type=_positive,
                default=1,
                help="web processes (more than one needs REDIS_URL; the worker then runs as its own process)",
            )
        else:
            p.add_argument("--no-serve", action="store_true", help="only create the demo data")

    p = add("worker", cmd_worker, "run the worker loop alone (inbound queue, outbox, periodic jobs)")
    p.add_argument("--idle", type=float, default=0.5, help="seconds to wait when there is nothing to do")
    p.add_argument(
        "--nice",
        type=int,
        default=0,
        choices=range(20),
        metavar="0-19",
        help="lower this process's CPU priority, so web processes on the same machine come first",
    )

    p = add("createadmin", cmd_createadmin, "create an administrator (and the practice if needed)")
    p.add_argument("--practice", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--password")
    p.add_argument("--name", help="practice name when creating it")
    p.add_argument("--display-name")

    token = add("token", _usage("token"), "API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    tc = token_sub.add_parser("create", help="print a new API token for a practice")
    tc.add_argument("--practice", required=True)
    tc.add_argument("--name", required=True)
    tc.set_defaults(func=cmd_token_create)

    p = add("simulate", cmd_simulate, "deliver a patient message to the running server through the simulator")
    p.add_argument("--practice", required=True)
    p.add_argument("--from", dest="sender", required=True, help="phone number, email or visitor id")
    p.add_argument("--channel", choices=["sms", "whatsapp", "email", "webchat"], default="sms")
    p.add_argument(
        "--id", default="", help="the provider's message id (default: a new one); repeat one to see a duplicate"
    )
    p.add_argument("--server", default="", help="the running server's address (default: PUBLIC_BASE_URL)")
    p.add_argument(
        "--wait",
        type=float,
        default=30.0,
        # A server that has just started loads its triage model before its worker takes the first message.
        help="seconds to wait for the server's worker to store a queued message (default 30)",
    )
    p.add_argument(
        "--direct",
        action="store_true",
        help="no server: run the pipeline in this process (browsers see it live only with REDIS_URL)",
    )
    p.add_argument("text")

    audit = add("audit", _usage("audit"), "the audit log")
    audit_sub = audit.add_subparsers(dest="audit_command", required=True)
    av = audit_sub.add_parser("verify", help="check the audit hash chain")
    av.set_defaults(func=cmd_audit_verify)

    p = add("manage", cmd_manage, "run a Django management command")
    p.add_argument("rest", nargs=argparse.REMAINDER)

    for extension in _extensions():
        extension(sub)
    return parser


def _extensions() -> list[Callable[[argparse._SubParsersAction], None]]:  # type: ignore[type-arg]
    """Commands contributed by other packages (channels, router, imports)."""
    from converge import cli_extensions

    return cli_extensions.registrars()


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from django.core.exceptions import ImproperlyConfigured

    try:
        return int(args.func(args) or 0)
    except CommandError as exc:
        print(f"converge: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except ImproperlyConfigured as exc:
        print(f"converge: configuration error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    # Under `python -m converge.cli` this file is __main__, a second copy of the module: the
    # CommandError that extensions import from converge.cli is another class than this copy's,
    # and would escape its `except`. The module's own main catches it.
    from converge.cli import main as module_main

    sys.exit(module_main())
