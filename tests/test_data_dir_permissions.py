"""The data dir holds the SQLite database, the keys, stored files and the simulator's copies of
what was "sent" to patients: none of it may be readable by other users of the server, whatever
the umask of the shell that started Converge (022 on most systems)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from converge.connectors.registry import simulator_outbox_dir
from converge.connectors.simulate import simulator_outbox_path
from converge.providers.simulator.connector import SimulatorConnector
from converge.providers.types import ChannelConfig, ChannelKind, OutboundMessage

PRIVATE = stat.S_IRWXG | stat.S_IRWXO


def demo_in(data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("DATABASE_URL", "REDIS_URL", "DJANGO_SETTINGS_MODULE", "SECRET_KEY", "PUBLIC_BASE_URL")
    }
    return subprocess.run(
        [sys.executable, "-m", "converge.cli", "demo", "--no-serve"],
        env={**env, "CONVERGE_DATA_DIR": str(data_dir)},
        capture_output=True,
        text=True,
        timeout=180,
        preexec_fn=lambda: os.umask(0o022),
    )


def exposed(root: Path) -> list[str]:
    """Paths under root (static files aside: they are the app's public assets) that a group or
    other user could read, write or enter."""
    found = []
    for path in [root, *root.rglob("*")]:
        if "static" in path.relative_to(root).parts:
            continue
        if path.stat().st_mode & PRIVATE:
            found.append(f"{path.relative_to(root)} {stat.filemode(path.stat().st_mode)}")
    return found


def test_the_demo_leaves_nothing_readable_by_others(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = demo_in(data_dir)
    assert result.returncode == 0, result.stderr
    assert (data_dir / "converge.sqlite3").exists()
    assert exposed(data_dir) == []


def test_an_existing_data_dir_and_database_are_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir(mode=0o755)
    os.chmod(data_dir, 0o755)
    assert demo_in(data_dir).returncode == 0
    db = data_dir / "converge.sqlite3"
    os.chmod(db, 0o644)
    os.chmod(data_dir, 0o755)
    assert demo_in(data_dir).returncode == 0
    assert exposed(data_dir) == []


def test_simulator_copies_of_sent_messages_are_private(settings, tmp_path: Path) -> None:
    settings.DATA_DIR = tmp_path
    old = os.umask(0o022)
    try:
        connector = SimulatorConnector(kind=ChannelKind.SMS, outbox_dir=simulator_outbox_dir())
        channel = ChannelConfig(key="perm-test", kind=ChannelKind.SMS, credentials={}, settings={})
        message = OutboundMessage(to_address="+15552017788", body="Your visit is Tuesday", idempotency_key="k1")
        connector.send(channel, message)
    finally:
        os.umask(old)
    assert exposed(tmp_path) == []
    assert simulator_outbox_path("perm-test").read_text().count("Tuesday") == 1
