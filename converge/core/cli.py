"""`converge backup` and `converge restore` (see converge.core.backup)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

PASSPHRASE_HELP = "file holding the passphrase (default: the CONVERGE_BACKUP_PASSPHRASE variable)"  # noqa: S105


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    b = sub.add_parser(
        "backup",
        allow_abbrev=False,  # `--passphrase X` must not pass for --passphrase-file
        help="write the database, keys and stored files to one encrypted archive (safe while serving)",
        description="Write the database, the data dir's keys and its stored files to one archive encrypted"
        " with a passphrase. Safe to run while the server runs.",
    )
    b.add_argument("--out", required=True, help="archive to write (mode 0600)")
    b.add_argument("--passphrase-file", help=PASSPHRASE_HELP)
    b.set_defaults(func=cmd_backup)
    r = sub.add_parser(
        "restore",
        allow_abbrev=False,
        help="restore an archive into an empty data dir and database",
        description="Restore an archive made by `converge backup` into the data dir and database this"
        " environment names (CONVERGE_DATA_DIR, DATABASE_URL). Stop the server first.",
    )
    r.add_argument("archive")
    r.add_argument("--passphrase-file", help=PASSPHRASE_HELP)
    r.add_argument("--force", action="store_true", help="replace a data dir or database that is not empty")
    r.add_argument("--check", action="store_true", help="only decrypt and check the archive; write nothing")
    r.set_defaults(func=cmd_restore)


def _fail(exc: Exception) -> int:
    """One line, exit 2, like converge.cli's CommandError (printed here: under `python -m
    converge.cli` that module's CommandError is another class than the one imported)."""
    print(f"converge: error: {exc}", file=sys.stderr)
    return 2


def cmd_backup(args: argparse.Namespace) -> int:
    from converge.core import backup

    try:
        passphrase = backup.read_passphrase(args.passphrase_file, creating=True)
        result = backup.backup_create(Path(args.out), passphrase)
    except backup.BackupError as exc:
        return _fail(exc)
    counts = result.manifest["counts"]
    print(
        f"wrote {result.path} ({result.size} bytes): {result.manifest['database']['engine']} database"
        f" ({counts['tables']} tables, {counts['rows']} rows), {counts['keys']} keys,"
        f" {counts['files']} stored files"
    )
    print(f"sha256 {result.sha256}")
    for var in result.manifest["keys_from_environment"]:
        print(f"note: {var} is set in the environment, so it is not in the backup: keep a copy of it elsewhere")
    return 0


def cmd_restore(args: argparse.Namespace) -> int:
    from converge.core import backup

    try:
        passphrase = backup.read_passphrase(args.passphrase_file, creating=False)
        if args.check:
            manifest = backup.backup_check(Path(args.archive), passphrase)
            counts = manifest["counts"]
            print(
                f"archive ok: made {manifest['created_at']} by Converge {manifest['converge_version']},"
                f" {manifest['database']['engine']} database ({counts['tables']} tables, {counts['rows']} rows),"
                f" {counts['keys']} keys, {counts['files']} stored files"
            )
            return 0
        result = backup.backup_restore(Path(args.archive), passphrase, force=args.force, progress=print)
    except backup.BackupError as exc:
        return _fail(exc)
    print(f"restored the backup made {result.manifest['created_at']}; check it with `converge audit verify`")
    return 0
