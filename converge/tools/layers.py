"""`python -m converge.tools.layers`: the layer rules of DESIGN.md ("Shape of the code", "The
layers"), checked over the imports of every module under converge/.

Every import counts: at module level, inside functions (a lazy import is still a dependency),
under `if TYPE_CHECKING:`, and `importlib.import_module("...")` with the name written out.
Type-only imports are reported apart (`--type-checking` lists them): they do not run, so they
couple no code at import time and make no cycle, and they do not fail the check. Modules are
named by their path; `from package import name` counts as an import of `package.name` when that
is a module, else of `package`.

The rules (RULES below; a module "is a" kind by the last part of its name, or of a package it is in):

  core       converge.core.** imports no converge module but converge.core.** and
             converge.config.env (settings come through django.conf; the rest of converge.config
             is the composition root: urls, asgi and settings import the apps).
  providers  converge.providers.** (pure protocol code, DESIGN "Shape of the code") imports no
             django.db, no models module, and no converge module but converge.providers.** and
             converge.core.**. Applies as soon as the package exists.
  models     a models module imports no services, selectors or views module.
  selectors  a selectors module imports no services module but converge.audit.services: a read of
             patient data writes its own access-log row (audit_record), the one write a read makes.
  ui         the domain apps (DOMAIN_APPS) import none of the UI layers: converge.dashboard,
             converge.api, converge.portal.views. An app's own web modules (views, *_views,
             views_*, urls, templatetags, consumers) are UI themselves and may use the dashboard's
             shared view helpers.
  cycle      no cycle among converge modules through their module-level imports (what runs when
             a module is imported; lazy and type-only imports are left out).

Exit 1 with one line per forbidden import (`path:line: module imports target (rule)`), else 0
and a one-line summary. EXCEPTIONS lists what is knowingly left, each with its reason.
"""

from __future__ import annotations

import argparse
import ast
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

DOMAIN_APPS = (
    "accounts",
    "audit",
    "connectors",
    "conversations",
    "patients",
    "practices",
    "privacy",
    "reminders",
    "replies",
    "routing",
    "scheduling",
    "search",
    "teamchat",
)
UI_LAYERS = ("converge.dashboard", "converge.api", "converge.portal.views")
WEB_MODULE_NAMES = ("views", "urls", "templatetags", "consumers")
# Reads of patient data are audited as they happen: the audit service is the one a selector calls.
SELECTORS_MAY_IMPORT = ("converge.audit.services",)

RULES = {
    "core": "converge.core imports only converge.core and converge.config.env",
    "providers": "converge.providers imports no django.db, no models, no converge app but providers and core",
    "models": "a models module imports no services, selectors or views",
    "selectors": "a selectors module imports no services",
    "ui": "a domain app imports no UI layer (dashboard, api, portal views)",
    "cycle": "no import cycle at module import time",
}

# (importing module, imported module) pairs knowingly left, with why. Keep it short.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("converge.scheduling.calendar_page", "converge.dashboard.views.common"): (
        "the calendar view's page model (reads the QueryDict, raises Http404): web code under a name"
        " the rules do not know as web; it belongs in scheduling's views (owned elsewhere today)"
    ),
}


@dataclass(frozen=True)
class Import:
    path: Path
    line: int
    source: str
    target: str
    top_level: bool  # runs when the module is imported
    type_only: bool  # under `if TYPE_CHECKING:`


@dataclass(frozen=True)
class Violation:
    imp: Import
    rule: str
    detail: str = ""

    def __str__(self) -> str:
        why = f"{self.rule}: {self.detail}" if self.detail else self.rule
        return f"{_shown(self.imp.path)}:{self.imp.line}: {self.imp.source} imports {self.imp.target} ({why})"


def _shown(path: Path) -> str:
    """The path from the working directory when it is below it (clickable in an editor)."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def module_names(root: Path) -> dict[str, Path]:
    """Every module under `root` (a package directory, e.g. converge/), by dotted name."""
    modules: dict[str, Path] = {}
    base = root.parent
    for path in sorted(root.rglob("*.py")):
        parts = list(path.relative_to(base).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        modules[".".join(parts)] = path
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def imports_of(module: str, path: Path, modules: dict[str, Path]) -> Iterator[Import]:
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]

    def walk(node: ast.AST, top_level: bool, type_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.Import):
                for alias in child.names:
                    yield Import(path, child.lineno, module, alias.name, top_level, type_only)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(package, child.module, child.level)
                targets = {f"{base}.{alias.name}" for alias in child.names} & modules.keys()
                if len(targets) < len(child.names):  # some names are not modules: they come from `base`
                    targets.add(base)
                for target in sorted(targets):
                    yield Import(path, child.lineno, module, target, top_level, type_only)
            elif isinstance(child, ast.Call) and (named := _imported_by_name(child)):
                yield Import(path, child.lineno, module, named, top_level, type_only)
                yield from walk(child, top_level, type_only)
            elif isinstance(child, ast.If) and _is_type_checking(child.test):
                for statement in child.body:
                    yield from walk_one(statement, top_level, True)
                for statement in child.orelse:
                    yield from walk_one(statement, top_level, type_only)
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                yield from walk(child, False, type_only)
            else:
                yield from walk(child, top_level, type_only)

    def walk_one(statement: ast.stmt, top_level: bool, type_only: bool) -> Iterator[Import]:
        holder = ast.Module(body=[statement], type_ignores=[])
        yield from walk(holder, top_level, type_only)

    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    yield from walk(tree, True, False)


def _imported_by_name(call: ast.Call) -> str:
    """The module of `importlib.import_module("a.b")` or `__import__("a.b")` named as a literal."""
    func = call.func
    name = func.attr if isinstance(func, ast.Attribute) else func.id if isinstance(func, ast.Name) else ""
    if name not in ("import_module", "__import__") or not call.args:
        return ""
    first = call.args[0]
    return first.value if isinstance(first, ast.Constant) and isinstance(first.value, str) else ""


def _resolve(package: str, name: str | None, level: int) -> str:
    if level == 0:
        return name or ""
    parts = package.split(".")
    base = parts[: len(parts) - (level - 1)] if level > 1 else parts
    return ".".join([*base, name] if name else base)


def _within(module: str, prefix: str) -> bool:
    return module == prefix or module.startswith(prefix + ".")


def _kind(module: str, kind: str, first: int = 2) -> bool:
    """Is `module` a `kind` module (models, services, selectors): its name, or a package it is in.
    The parts looked at start at `first`: 2 skips converge.<app>, 1 looks at any package's."""
    return kind in module.split(".")[first:]


def _is_view(module: str) -> bool:
    return any(
        part == "views" or part.startswith("views_") or part.endswith("_views") for part in module.split(".")[2:]
    )


def _is_web(module: str) -> bool:
    parts = module.split(".")[2:]
    return _is_view(module) or any(part in WEB_MODULE_NAMES for part in parts)


def _app(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "converge" else ""


def _core_may_import(target: str) -> bool:
    return not _within(target, "converge") or _within(target, "converge.core") or _within(target, "converge.config.env")


def _providers_may_import(target: str) -> bool:
    return not _within(target, "converge") or _within(target, "converge.providers") or _within(target, "converge.core")


def layer_violation(imp: Import) -> Violation | None:
    source, target = imp.source, imp.target
    ours = _within(target, "converge")
    if _within(source, "converge.core") and not _core_may_import(target):
        return Violation(imp, "core")
    if _within(source, "converge.providers"):
        if _within(target, "django.db") or _kind(target, "models", first=1):
            return Violation(imp, "providers", "no ORM in protocol code")
        if not _providers_may_import(target):
            return Violation(imp, "providers")
    if (
        ours
        and _kind(source, "models")
        and (_kind(target, "services") or _kind(target, "selectors") or _is_view(target))
    ):
        return Violation(imp, "models")
    if ours and _kind(source, "selectors") and _kind(target, "services") and target not in SELECTORS_MAY_IMPORT:
        return Violation(imp, "selectors")
    if _app(source) in DOMAIN_APPS and not _is_web(source) and any(_within(target, ui) for ui in UI_LAYERS):
        return Violation(imp, "ui")
    return None


def cycles(imports: Sequence[Import], modules: dict[str, Path]) -> list[Violation]:
    """One violation per strongly connected group of modules: the first import of one cycle."""
    edges: dict[str, dict[str, Import]] = {}
    for imp in imports:
        if imp.top_level and not imp.type_only and imp.target in modules and imp.target != imp.source:
            edges.setdefault(imp.source, {}).setdefault(imp.target, imp)
    found: list[Violation] = []
    for group in _strongly_connected(sorted(modules), edges):
        if len(group) < 2:
            continue
        start = min(group)
        path = _cycle_through(start, group, edges)
        first = edges[path[0]][path[1]]
        found.append(Violation(first, "cycle", " -> ".join(path)))
    return found


def _strongly_connected(nodes: list[str], edges: dict[str, dict[str, Import]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative (a deep import chain must not hit the recursion limit)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []
    for root in nodes:
        if root in index:
            continue
        work: list[tuple[str, Iterator[str]]] = [(root, iter(sorted(edges.get(root, {}))))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges.get(child, {})))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group: set[str] = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                groups.append(group)
    return groups


def _cycle_through(start: str, group: set[str], edges: dict[str, dict[str, Import]]) -> list[str]:
    """The shortest path start -> ... -> start inside `group` (breadth first)."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for child in sorted(edges.get(node, {})):
                if child not in group:
                    continue
                if child == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if child not in came_from:
                    came_from[child] = node
                    following.append(child)
        frontier = following
    raise AssertionError("a strongly connected group always has a cycle")


@dataclass(frozen=True)
class Report:
    modules: int
    imports: int
    violations: list[Violation]
    type_only: list[Violation]
    excepted: list[Violation]


def check(root: Path, exceptions: dict[tuple[str, str], str] | None = None) -> Report:
    exceptions = EXCEPTIONS if exceptions is None else exceptions
    modules = module_names(root)
    imports = [imp for module, path in modules.items() for imp in imports_of(module, path, modules)]
    found = [v for imp in imports if (v := layer_violation(imp)) is not None] + cycles(imports, modules)
    excepted = [v for v in found if (v.imp.source, v.imp.target) in exceptions]
    rest = [v for v in found if (v.imp.source, v.imp.target) not in exceptions]
    return Report(
        modules=len(modules),
        imports=len(imports),
        violations=[v for v in rest if not v.imp.type_only],
        type_only=[v for v in rest if v.imp.type_only],
        excepted=excepted,
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m converge.tools.layers", description=__doc__.split("\n")[0])
    parser.add_argument("root", nargs="?", type=Path, default=Path(__file__).resolve().parents[1])
    parser.add_argument("--type-checking", action="store_true", help="list the type-only imports that break a rule")
    args = parser.parse_args(argv)
    report = check(args.root)
    for violation in report.violations:
        print(violation)
    if args.type_checking:
        for violation in report.type_only:
            print(f"{violation} [type-only]")
    if report.violations:
        print(f"layers: {len(report.violations)} forbidden imports", flush=True)
        return 1
    print(
        f"layers: {report.modules} modules, {report.imports} imports, no forbidden import "
        f"({len(report.type_only)} type-only, {len(report.excepted)} excepted)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
