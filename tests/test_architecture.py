"""The import graph of the application packages keeps its shape (issue #19).

Built from the source with ``ast`` (nothing is imported): every ``import`` statement
counts, at module level, inside functions and under ``if TYPE_CHECKING``. The rules:

* no import cycles between modules (a package ``__init__`` that imports its submodules
  and a submodule that imports the package form one too);
* no private name (``_name``) imported from another module, nor read off an imported
  application module (``mod._name``); dunders are fine, and so is a public name imported
  *as* ``_`` (``gettext as _``);
* apps depend downwards: ``config.platform`` < members < loyalty < campaigns < wechat <
  the rest of ``config`` (settings, urls, wsgi, ...), which no app imports;
* inside loyalty, the kernel never imports the benefits nor a door (screens, API, admin,
  jobs, ...), and the benefits import neither a door nor ``loyalty.purchases``;
* no application file over 700 lines (migrations aside);
* and every application module or name imported exists (a move left no stale path).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
APP_PACKAGES = ("config", "members", "loyalty", "campaigns", "wechat")
MAX_LINES = 700

# Lower imports nothing above it; config.platform sits below every app and the rest of
# config (settings, urls, wsgi, asgi, bench_views) sits above them all.
PLATFORM = "config.platform"
LAYERS = {"members": 0, "loyalty": 1, "campaigns": 2, "wechat": 3, "config": 4}
PLATFORM_LAYER = -1

# loyalty's kernel: the models and the rules every door and benefit builds on.
LOYALTY_KERNEL = (
    "loyalty.dates",
    "loyalty.errors",
    "loyalty.money",
    "loyalty.signals",
    "loyalty.models",
    "loyalty.rules",
    "loyalty.ledger",
    "loyalty.tiers",
    "loyalty.coupons",
    "loyalty.purchases",
    "loyalty.stored_value",
    "loyalty.count_cards",
)
LOYALTY_BENEFITS = ("loyalty.benefits",)
# The ways in: screens, API, admin, imports, demo data, jobs, commands, receivers.
LOYALTY_DOORS = (
    "loyalty.counter",
    "loyalty.centre",
    "loyalty.api",
    "loyalty.api_base",
    "loyalty.api_prepaid",
    "loyalty.imports",
    "loyalty.demo",
    "loyalty.admin",
    "loyalty.jobs",
    "loyalty.erasure",
    "loyalty.receivers",
    "loyalty.selectors",
    "loyalty.management",
)


# -- the graph ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    importer: str  # the importing module
    line: int
    target: str | None  # the application module imported (None: third party / stdlib)
    source: str  # the absolute dotted name written (resolved if relative)
    name: str | None = None  # the name taken by ``from source import name``

    def where(self) -> str:
        return f"{self.importer}:{self.line}"


@dataclass(frozen=True)
class PrivateUse:
    importer: str
    line: int
    what: str  # e.g. "from loyalty.services import _lock_card" / "services._lock_card"


@dataclass
class Graph:
    modules: dict[str, Path]  # dotted name -> file
    packages: set[str]  # names whose file is an __init__.py
    imports: list[Import]
    private_uses: list[PrivateUse]
    missing: list[str]  # application modules or names imported that do not exist

    def edges(self) -> dict[str, set[str]]:
        out: dict[str, set[str]] = {name: set() for name in self.modules}
        for imp in self.imports:
            if imp.target is not None:
                out[imp.importer].add(imp.target)
        return out


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _module_files(root: Path, packages: Iterable[str]) -> dict[str, Path]:
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            relative = path.relative_to(root)
            if "migrations" in relative.parts:
                continue
            parts = list(relative.with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def _targets(node: ast.AST) -> Iterable[str]:
    if isinstance(node, ast.Name):
        yield node.id
    elif isinstance(node, ast.Tuple | ast.List | ast.Starred):
        for element in node.elts if not isinstance(node, ast.Starred) else [node.value]:
            yield from _targets(element)


def _module_names(body: list[ast.stmt]) -> set[str] | None:
    """The names a module binds at its top level (also under if / try / with / for);
    None when it cannot be told (``import *``, a module ``__getattr__``)."""
    names: set[str] = set()
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            if node.name == "__getattr__":
                return None
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                names.update(_targets(target))
        elif isinstance(node, ast.AnnAssign | ast.AugAssign):
            names.update(_targets(node.target))
        elif isinstance(node, ast.Import):
            names.update(a.asname or a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if any(a.name == "*" for a in node.names):
                return None
            names.update(a.asname or a.name for a in node.names)
        else:
            if isinstance(node, ast.For | ast.AsyncFor):
                names.update(_targets(node.target))
            if isinstance(node, ast.With | ast.AsyncWith):
                for item in node.items:
                    if item.optional_vars is not None:
                        names.update(_targets(item.optional_vars))
            blocks = [getattr(node, f, []) for f in ("body", "orelse", "finalbody")]
            blocks += [handler.body for handler in getattr(node, "handlers", [])]
            for block in blocks:
                inner = _module_names(block)
                if inner is None:
                    return None
                names |= inner
    return names


def build_graph(root: Path, packages: Iterable[str] = APP_PACKAGES) -> Graph:
    packages = tuple(packages)
    modules = _module_files(root, packages)
    package_names = {name for name, path in modules.items() if path.name == "__init__.py"}
    trees = {
        name: ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for name, path in modules.items()
    }
    defined = {name: _module_names(tree.body) for name, tree in trees.items()}

    def resolve(importer: str, line: int, dotted: str) -> str | None:
        """The application module named (None: another library's, or missing)."""
        if dotted.split(".")[0] not in packages:
            return None
        if dotted not in modules:
            missing.add(f"{importer}:{line}: {dotted}")
            return None
        return dotted

    imports: list[Import] = []
    private_uses: list[PrivateUse] = []
    missing: set[str] = set()
    for importer in modules:
        tree = trees[importer]
        here = importer.split(".") if importer in package_names else importer.split(".")[:-1]
        bound: dict[str, str] = {}  # local name -> application module it is bound to
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    target = resolve(importer, node.lineno, alias.name)
                    imports.append(Import(importer, node.lineno, target, alias.name))
                    if any(_is_private(part) for part in alias.name.split(".")):
                        private_uses.append(
                            PrivateUse(importer, node.lineno, f"import {alias.name}")
                        )
                    if alias.asname:
                        if alias.name in modules:
                            bound[alias.asname] = alias.name
                    else:  # ``import a.b.c`` binds ``a``
                        head = alias.name.split(".")[0]
                        if head in modules:
                            bound[head] = head
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = here[: len(here) - (node.level - 1)] if node.level > 1 else here
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                for alias in node.names:
                    if alias.name == "*":
                        target = resolve(importer, node.lineno, source)
                        imports.append(Import(importer, node.lineno, target, source))
                        continue
                    submodule = f"{source}.{alias.name}"
                    if submodule in modules:  # ``from pkg import submodule``
                        target = submodule
                        bound[alias.asname or alias.name] = submodule
                    else:  # ``from mod import name``
                        target = resolve(importer, node.lineno, source)
                        names = defined.get(target) if target else None
                        if names is not None and alias.name not in names:
                            missing.add(f"{importer}:{node.lineno}: {submodule}")
                    imports.append(Import(importer, node.lineno, target, source, alias.name))
                    if _is_private(alias.name) and target != importer:
                        shown = f"from {source} import {alias.name}"
                        if alias.asname:
                            shown += f" as {alias.asname}"
                        private_uses.append(PrivateUse(importer, node.lineno, shown))
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and _is_private(node.attr):
                chain = []
                value = node.value
                while isinstance(value, ast.Attribute):
                    chain.append(value.attr)
                    value = value.value
                if isinstance(value, ast.Name) and value.id in bound:
                    dotted = ".".join([bound[value.id], *reversed(chain)])
                    if dotted in modules and dotted != importer:
                        written = ".".join([value.id, *reversed(chain), node.attr])
                        private_uses.append(PrivateUse(importer, node.lineno, written))
    return Graph(modules, package_names, imports, private_uses, sorted(missing))


def import_cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with a cycle in them (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[list[str]] = []
    counter = 0
    for start in sorted(edges):
        if start in index:
            continue
        work = [(start, iter(sorted(edges[start])))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            advanced = False
            for child in children:
                if child not in edges:
                    continue
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(edges[child]))))
                    advanced = True
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            if advanced:
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1 or node in edges[node]:
                    found.append(sorted(component))
    return sorted(found)


def _within(name: str, prefixes: Iterable[str]) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


def layer(module: str) -> int:
    if _within(module, [PLATFORM]):
        return PLATFORM_LAYER
    return LAYERS[module.split(".")[0]]


def upward_imports(graph: Graph) -> list[str]:
    return sorted(
        f"{imp.where()} imports {imp.target}"
        for imp in graph.imports
        if imp.target is not None and layer(imp.importer) < layer(imp.target)
    )


def loyalty_layer_violations(graph: Graph) -> list[str]:
    found = []
    for imp in graph.imports:
        if imp.target is None:
            continue
        if _within(imp.importer, LOYALTY_KERNEL) and _within(
            imp.target, LOYALTY_BENEFITS + LOYALTY_DOORS
        ):
            found.append(f"{imp.where()} (kernel) imports {imp.target}")
        elif _within(imp.importer, LOYALTY_BENEFITS) and _within(
            imp.target, LOYALTY_DOORS + ("loyalty.purchases",)
        ):
            found.append(f"{imp.where()} (benefits) imports {imp.target}")
    return sorted(found)


def _listing(title: str, lines: Iterable[str]) -> str:
    return title + "\n  " + "\n  ".join(lines)


# -- the project's rules -----------------------------------------------------------------

GRAPH = build_graph(ROOT)


def test_application_imports_name_existing_modules():
    assert not GRAPH.missing, _listing(
        "imports of application modules or names that do not exist:", GRAPH.missing
    )


def test_no_import_cycles():
    cycles = import_cycles(GRAPH.edges())
    assert not cycles, _listing(
        f"{len(cycles)} import cycle(s) (each line: the modules of one strongly connected "
        "component):",
        (" <-> ".join(cycle) for cycle in cycles),
    )


def test_no_private_names_across_modules():
    uses = sorted(f"{use.importer}:{use.line}: {use.what}" for use in GRAPH.private_uses)
    assert not uses, _listing("private names used from another module:", uses)


def test_apps_depend_downwards():
    upward = upward_imports(GRAPH)
    assert not upward, _listing(
        "upward imports (config.platform < members < loyalty < campaigns < wechat < "
        "config; apps read settings through django.conf):",
        upward,
    )


def test_loyalty_layers():
    found = loyalty_layer_violations(GRAPH)
    assert not found, _listing(
        "loyalty's kernel imports the benefits or a door, or the benefits import a door "
        "or loyalty.purchases:",
        found,
    )


def test_no_application_file_over_700_lines():
    too_long = []
    for path in sorted(GRAPH.modules.values()):
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES:
            too_long.append(f"{path.relative_to(ROOT)}: {lines} lines")
    assert not too_long, _listing(f"application files over {MAX_LINES} lines:", too_long)


# -- the checker catches what it is meant to ----------------------------------------------


def test_the_checker_finds_what_the_rules_forbid(tmp_path):
    files = {
        "members/__init__.py": "",
        "members/models.py": "from . import audit\n\n_SECRET = 1\n",
        "members/audit.py": "def log():\n    from .models import _SECRET as secret\n",
        "members/sub/__init__.py": "from . import leaf\n",
        "members/sub/leaf.py": (
            "from .. import models\n"
            "from django.utils.translation import gettext as _\n"
            "value = models._SECRET\n"
        ),
        "members/late.py": "def f():\n    from loyalty.rules import earn\n",
        "members/moved.py": "from members.sub.leaf.gone import x\n",
        "loyalty/__init__.py": "",
        "members/gone.py": "from members import nothing_here\nfrom .models import GONE\n",
        "loyalty/rules.py": "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n    from loyalty.counter import views\nearn = 1\n",
        "loyalty/counter/__init__.py": "",
        "loyalty/counter/views.py": "import members.models as m\n",
        "config/__init__.py": "",
        "config/platform/__init__.py": "from config import settings\n",
        "config/settings.py": "",
        "members/migrations/__init__.py": "import loyalty.rules\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")

    graph = build_graph(tmp_path)
    edges = graph.edges()

    assert "members.migrations" not in graph.modules
    assert edges["members.sub"] == {"members.sub.leaf"}  # relative import in an __init__
    assert edges["members.sub.leaf"] == {"members.models"}  # ``from .. import models``
    assert edges["members.audit"] == {"members.models"}  # the import inside a function
    assert import_cycles(edges) == [["members.audit", "members.models"]]
    assert graph.missing == [
        "members.gone:1: members.nothing_here",
        "members.gone:2: members.models.GONE",
        "members.moved:1: members.sub.leaf.gone",
    ]
    assert sorted((u.importer, u.what) for u in graph.private_uses) == [
        ("members.audit", "from members.models import _SECRET as secret"),
        ("members.sub.leaf", "models._SECRET"),
    ]
    assert [u.split(" ", 1)[1] for u in upward_imports(graph)] == [
        "imports config.settings",  # config.platform reaches above every app
        "imports loyalty.rules",  # members.late, inside a function
    ]
    assert loyalty_layer_violations(graph) == [
        "loyalty.rules:3 (kernel) imports loyalty.counter.views"  # under TYPE_CHECKING
    ]
