"""`converge router classify | eval | train | export-corrections`."""

from __future__ import annotations

import argparse
import csv
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    router = sub.add_parser("router", help="the triage classifier")
    commands = router.add_subparsers(dest="router_command", required=True)
    c = commands.add_parser(
        "classify", help='read JSON lines {"text": ...} on stdin, write one classification per line'
    )
    c.set_defaults(func=cmd_classify)
    e = commands.add_parser(
        "eval",
        help="urgent recall per red-flag family, per-class precision/recall/F1 on a text,label[,family] CSV",
    )
    e.add_argument("csv", type=Path)
    e.set_defaults(func=cmd_eval)
    t = commands.add_parser("train", help="retrain on the committed corpus plus extra CSVs (e.g. exported corrections)")
    t.add_argument("--extra", type=Path, action="append", default=[])
    t.add_argument("--out", type=Path, help="where to save the model (default: the data dir)")
    t.set_defaults(func=cmd_train)
    x = commands.add_parser("export-corrections", help="staff corrections as a text,label CSV for training")
    x.add_argument("--practice", required=True)
    x.add_argument("out", type=Path)
    x.set_defaults(func=cmd_export_corrections)


def cmd_classify(args: argparse.Namespace) -> int:
    from converge.routing.cli import classify_stream

    return classify_stream(sys.stdin, sys.stdout)


def cmd_eval(args: argparse.Namespace) -> int:
    from converge.cli import CommandError
    from converge.routing.cli import evaluate_csv, summary_lines

    try:
        figures = evaluate_csv(args.csv)
    except (ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    # The summary, one line per red-flag family, goes to stderr so stdout stays JSON for tools.
    print("\n".join(summary_lines(figures)), file=sys.stderr)
    print(json.dumps(figures, indent=2))
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from converge.cli import CommandError, _setup

    _setup()
    from django.conf import settings

    from converge.routing.cli import train_command

    out = args.out or (Path(settings.DATA_DIR) / "router-model.joblib")
    try:
        summary = train_command(list(args.extra), out)
    except (ValueError, OSError) as exc:
        raise CommandError(str(exc)) from None
    print(json.dumps(summary, indent=2))
    print(f"set CONVERGE_ROUTER_MODEL={out} to use it", file=sys.stderr)
    return 0


def cmd_export_corrections(args: argparse.Namespace) -> int:
    from converge.cli import CommandError, _setup

    _setup()
    from converge.audit.services import audit_record
    from converge.practices.models import Practice
    from converge.routing.models import Correction

    practice = Practice.objects.filter(slug=args.practice).first()
    if practice is None:
        raise CommandError(f"--practice: no practice with slug {args.practice!r}")
    rows = Correction.objects.filter(practice=practice).select_related("message").order_by("id")
    with open(args.out, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["text", "label"])
        count = 0
        for correction in rows:
            writer.writerow([correction.message.body, correction.new_category])
            count += 1
    args.out.chmod(0o600)  # patient words: keep the file private
    audit_record(practice_id=practice.pk, actor="cli", action="routing.export_corrections", detail={"rows": count})
    print(f"wrote {count} corrections to {args.out}")
    return 0
