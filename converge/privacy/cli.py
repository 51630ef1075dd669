"""`converge export-patient` and `converge rotate-keys`."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser("export-patient", help="write everything held about one patient as JSON (access requests)")
    p.add_argument("--practice", required=True)
    p.add_argument("--patient", required=True, type=int, help="patient id")
    p.add_argument("--out", help="file to write (default: standard output)")
    p.set_defaults(func=cmd_export)
    r = sub.add_parser("rotate-keys", help="re-encrypt stored secrets and files with the newest key")
    r.set_defaults(func=cmd_rotate)


def cmd_export(args: argparse.Namespace) -> int:
    from converge.cli import CommandError, _setup

    _setup()
    from django.core.serializers.json import DjangoJSONEncoder

    from converge.patients.models import Patient
    from converge.practices.models import Practice
    from converge.privacy.export import patient_export

    practice = Practice.objects.filter(slug=args.practice).first()
    if practice is None:
        raise CommandError(f"--practice: no practice with slug {args.practice!r}")
    patient = Patient.objects.filter(practice=practice, pk=args.patient).first()
    if patient is None:
        raise CommandError(f"--patient: no patient {args.patient} in {args.practice}")
    text = json.dumps(patient_export(patient=patient, actor="cli"), cls=DjangoJSONEncoder, indent=2, ensure_ascii=False)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
        Path(args.out).chmod(0o600)
        print(f"wrote {args.out}")
    else:
        sys.stdout.write(text + "\n")
    return 0


def cmd_rotate(args: argparse.Namespace) -> int:
    from converge.cli import _setup

    _setup()
    from converge.connectors.services import channel_credentials_rotate
    from converge.core.storage import rotate_files

    channels, files = channel_credentials_rotate(), rotate_files()
    print(f"re-encrypted {channels} channel credential sets and {files} stored files with the newest key")
    return 0
