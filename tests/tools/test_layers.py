"""The layer checker: the real tree keeps the rules, and a tree breaking each rule once is
reported once per rule, at the right line."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from converge.tools import layers

CONVERGE = Path(layers.__file__).resolve().parents[1]


def test_the_real_tree_keeps_every_rule(capsys: pytest.CaptureFixture[str]) -> None:
    assert layers.main([str(CONVERGE)]) == 0, capsys.readouterr().out
    out = capsys.readouterr().out
    assert out.startswith("layers: ") and "no forbidden import" in out


def test_every_exception_is_still_needed() -> None:
    """An exception whose import is gone is deleted, not kept as a permit for later."""
    report = layers.check(CONVERGE)
    assert {(v.imp.source, v.imp.target) for v in report.excepted} == set(layers.EXCEPTIONS)


# One violation of each rule, each on a line marked `# breaks <rule>`, among imports that are fine.
SYNTHETIC = {
    "__init__.py": "",
    "config/__init__.py": "",
    "config/env.py": "",
    "config/urls.py": "from converge.dashboard import views  # the composition root imports anything\n",
    "core/__init__.py": "",
    "core/clock.py": "from converge.config import env\nfrom converge.core import crypto\n",
    "core/crypto.py": "",
    "core/worker.py": """
        from typing import TYPE_CHECKING

        if TYPE_CHECKING:
            from converge.practices.models import Staff  # type-only: counted apart


        def step():
            from converge.conversations import inbound  # breaks core
    """,
    "providers/__init__.py": "",
    "providers/whatsapp.py": """
        import json

        from converge.core import clock


        def parse():
            from django.db import transaction  # breaks providers
    """,
    "providers/sms.py": """
        import importlib

        models = importlib.import_module("converge.connectors.models")  # breaks providers
    """,
    "practices/__init__.py": "",
    "practices/models.py": "from django.db import models\n\nfrom .services import staff_add  # breaks models\n",
    "practices/services.py": "from django.db import transaction\n",
    "practices/selectors.py": """
        from converge.audit.services import audit_record  # reads are audited: allowed
        from converge.practices import services  # breaks selectors
    """,
    "practices/views.py": "from converge.dashboard.views.common import staff_required  # web code: allowed\n",
    "audit/__init__.py": "",
    "audit/services.py": "",
    "conversations/__init__.py": "",
    "conversations/inbound.py": """
        from converge.routing import triage  # breaks cycle
        from converge.conversations import outbox
    """,
    "conversations/outbox.py": "",
    "routing/__init__.py": "",
    "routing/triage.py": "from converge.conversations import inbound\n",
    "routing/services.py": """
        def label():
            from converge.dashboard.presenters import clock_label  # breaks ui
    """,
    "connectors/__init__.py": "",
    "connectors/models.py": "",
    "dashboard/__init__.py": "",
    "dashboard/presenters.py": "",
    "dashboard/views/__init__.py": "",
    "dashboard/views/common.py": "from converge.practices.selectors import staff_list\n",
}


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "converge"
    for name, text in SYNTHETIC.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text).lstrip("\n"))
    return root


def marked(root: Path) -> set[tuple[str, int, str]]:
    found = set()
    for path in root.rglob("*.py"):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "# breaks " in line:
                found.add((str(path), number, line.rpartition("# breaks ")[2]))
    return found


def test_each_rule_broken_once_is_reported_once_at_its_line(tree: Path) -> None:
    report = layers.check(tree, exceptions={})
    assert {rule for _, _, rule in marked(tree)} == set(layers.RULES)
    assert {(str(v.imp.path), v.imp.line, v.rule) for v in report.violations} == marked(tree)
    cycle = next(v for v in report.violations if v.rule == "cycle")
    assert cycle.detail == "converge.conversations.inbound -> converge.routing.triage -> converge.conversations.inbound"
    assert [(v.imp.source, v.rule) for v in report.type_only] == [("converge.core.worker", "core")]


def test_the_command_prints_each_forbidden_import_and_fails(tree: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert layers.main([str(tree)]) == 1
    lines = capsys.readouterr().out.splitlines()
    assert any(
        line.endswith(": converge.core.worker imports converge.conversations.inbound (core)") and ":8:" in line
        for line in lines
    ), lines
    assert lines[-1] == "layers: 7 forbidden imports"


def test_an_exception_silences_only_its_own_import(tree: Path) -> None:
    allowed = {("converge.routing.services", "converge.dashboard.presenters"): "a reason"}
    report = layers.check(tree, exceptions=allowed)
    assert [v.rule for v in report.excepted] == ["ui"]
    assert "ui" not in {v.rule for v in report.violations}
    assert len(report.violations) == 6


def test_a_lazy_import_makes_no_cycle(tree: Path) -> None:
    (tree / "routing" / "triage.py").write_text("def later():\n    from converge.conversations import inbound\n")
    assert [v for v in layers.check(tree, exceptions={}).violations if v.rule == "cycle"] == []
