"""A CommandError raised by a CLI extension (converge/cli_extensions.py) is one line on stderr and
the command's exit code, whether the CLI runs as the `converge` entry point or as
`python -m converge.cli` (where the file also runs as __main__, a second copy of the module)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXTENSION = """
from converge import cli_extensions


def register(sub):
    boom = sub.add_parser("boom")
    boom.add_argument("--exit-code", type=int)
    boom.set_defaults(func=fail)


def fail(args):
    from converge.cli import CommandError

    if args.exit_code is None:
        raise CommandError("the clinic calendar is not reachable")
    raise CommandError("the clinic calendar is not reachable", exit_code=args.exit_code)


cli_extensions.EXTENSION_MODULES = (*cli_extensions.EXTENSION_MODULES, "sitecustomize")
"""

ENTRY_POINT = str(Path(sys.executable).with_name("converge"))


@pytest.fixture
def extension_on_path(tmp_path: Path) -> dict[str, str]:
    """An extension registered the way capability modules do, loaded by `sitecustomize`."""
    (tmp_path / "sitecustomize.py").write_text(EXTENSION)
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE")}
    env["PYTHONPATH"] = os.pathsep.join([str(tmp_path), str(Path.cwd())])
    env["CONVERGE_DATA_DIR"] = str(tmp_path / "data")
    return env


@pytest.mark.parametrize("command", [[sys.executable, "-m", "converge.cli"], [ENTRY_POINT]], ids=["-m", "entry-point"])
@pytest.mark.parametrize(("extra", "code"), [([], 2), (["--exit-code", "3"], 3)], ids=["default", "own-code"])
def test_an_extensions_command_error_is_one_line_and_the_exit_code(
    extension_on_path: dict[str, str], command: list[str], extra: list[str], code: int
) -> None:
    done = subprocess.run([*command, "boom", *extra], env=extension_on_path, capture_output=True, text=True, timeout=60)
    assert done.stderr == "converge: error: the clinic calendar is not reachable\n"
    assert done.returncode == code
