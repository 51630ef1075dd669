"""Provider code is pure: importing every provider module loads no Django and no other part of
Converge than converge.providers and converge.core (DESIGN.md, "Shape of the code")."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import converge.providers

ALLOWED = ("converge.providers", "converge.core")


def test_provider_modules_import_neither_django_nor_other_converge_apps():
    modules = [m.name for m in pkgutil.walk_packages(converge.providers.__path__, "converge.providers.")]
    assert "converge.providers.registry" in modules
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print('\\n'.join(sorted(m for m in sys.modules if m == 'django' or m.startswith(('django.', 'converge.')))))"
    )
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.split()
    assert [m for m in loaded if not m.startswith(ALLOWED)] == []
