"""`converge import-appointments` and `converge mllp`."""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "import-appointments",
        help="import appointments from CSV, iCalendar (.ics file or feed URL), FHIR R4 Bundle or HL7 v2 SIU",
    )
    p.add_argument("--practice", required=True)
    p.add_argument("source", help="a file path, or an http(s)/webcal URL of an iCalendar feed")
    p.add_argument("--time-zone", help="for times without a zone (default: the practice's)")
    p.set_defaults(func=cmd_import)

    m = sub.add_parser("mllp", help="listen for HL7 v2 SIU messages over MLLP and answer ACKs")
    m.add_argument("--practice", required=True)
    m.add_argument("--host", default="127.0.0.1")
    m.add_argument("--port", type=int, default=2575)
    m.set_defaults(func=cmd_mllp)


def _setup_practice(slug: str):  # type: ignore[no-untyped-def]
    from converge.cli import CommandError, _migrate, _setup

    _setup()
    _migrate()
    from converge.practices.models import Practice

    practice = Practice.objects.filter(slug=slug).first()
    if practice is None:
        raise CommandError(f"--practice: no practice with slug {slug!r}")
    return practice


def cmd_import(args: argparse.Namespace) -> int:
    from rich.progress import Progress

    from converge.cli import CommandError

    practice = _setup_practice(args.practice)
    from converge.scheduling.importers import fetch_ical_feed, parse_file, parse_ical
    from converge.scheduling.imports import import_records

    tz = args.time_zone or practice.time_zone
    try:
        if args.source.startswith(("http://", "https://", "webcal://", "webcals://")):
            result = parse_ical(fetch_ical_feed(args.source), default_tz=tz)
        else:
            path = Path(args.source)
            if not path.is_file():
                raise CommandError(f"{args.source}: no such file")
            result = parse_file(path, default_tz=tz)
    except ValueError as exc:
        raise CommandError(f"{args.source}: {exc}") from None
    with Progress(transient=True) as progress:
        task = progress.add_task(f"Importing {result.format}", total=max(1, len(result.records)))
        report = import_records(
            practice=practice, result=result, progress=lambda done, total: progress.update(task, completed=done)
        )
    print(report.summary())
    for error in report.errors:
        print(f"  {error}")
    return 1 if report.errors else 0


def cmd_mllp(args: argparse.Namespace) -> int:
    practice = _setup_practice(args.practice)
    from asgiref.sync import sync_to_async

    from converge.scheduling.importers import hl7_ack, parse_hl7, serve_mllp
    from converge.scheduling.imports import import_records

    def handle_sync(message: str) -> str:
        result = parse_hl7(message, default_tz=practice.time_zone)
        report = import_records(practice=practice, result=result, actor="mllp")
        if report.errors:
            return hl7_ack(message, "AE", "; ".join(str(e) for e in report.errors)[:200])
        return hl7_ack(message, "AA")

    handle = sync_to_async(handle_sync, thread_sensitive=True)

    async def main() -> None:
        server = await serve_mllp(args.host, args.port, handle)
        print(f"MLLP listener on {args.host}:{args.port} for {practice.slug} (Ctrl+C to stop)", flush=True)
        async with server:
            await server.serve_forever()

    asyncio.run(main())
    return 0
