"""The structure ARCHITECTURE.md describes, checked on the source: no import cycles between packages,
shared parts that name no service, handlers that build no SQL conditions, a harness that imports no
server internals."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "mock_server"
SERVICES = ("mock_server.ghl", "mock_server.rankr", "mock_server.acuity", "mock_server.workflows")
# Where the services are named on purpose: the composition root, and the CLI's choices of actions.
COMPOSITION = {"mock_server.app", "mock_server.cli"}


def _module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Modules imported when `path` is imported: module level, outside `if TYPE_CHECKING:` (imports
    inside functions are deferred on purpose and cannot make a cycle at import time)."""
    found: set[str] = set()

    def visit(nodes: list[ast.stmt]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.dump(node.test):
                continue
            if isinstance(node, ast.ImportFrom) and node.module:
                found.add(node.module)
                found.update(f"{node.module}.{alias.name}" for alias in node.names)
            elif isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, (ast.If, ast.Try, ast.With)):
                visit(node.body)
                visit(getattr(node, "orelse", []))
                for handler in getattr(node, "handlers", []):
                    visit(handler.body)

    visit(ast.parse(path.read_text()).body)
    return found


def _graph(root: Path) -> dict[str, set[str]]:
    modules = {_module_name(p): p for p in root.rglob("*.py")}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _package(module: str) -> str:
    """mock_server.ghl.world -> mock_server.ghl; a top-level module is its own package."""
    parts = module.split(".")
    return ".".join(parts[:2])


def _reaches(graph: dict[str, set[str]], start: str, goal: str) -> bool:
    stack, seen = [start], set()
    while stack:
        node = stack.pop()
        if node == goal:
            return True
        if node not in seen:
            seen.add(node)
            stack.extend(graph.get(node, ()))
    return False


def test_no_import_cycle_between_packages() -> None:
    packages: dict[str, set[str]] = {}
    for module, deps in _graph(PACKAGE).items():
        for dep in deps:
            if _package(dep) != _package(module):
                packages.setdefault(_package(module), set()).add(_package(dep))
    cycles = sorted({tuple(sorted((a, b))) for a, deps in packages.items() for b in deps if _reaches(packages, b, a)})
    assert not cycles, cycles


def test_shared_parts_name_no_service() -> None:
    offenders = {module: sorted(m for m in deps if m.startswith(SERVICES))
                 for module, deps in _graph(PACKAGE).items()
                 if not module.startswith(SERVICES) and module not in COMPOSITION}
    assert not {m: d for m, d in offenders.items() if d}, offenders


def test_only_services_own_queries() -> None:
    """No HTTP handler (control plane, dashboard, a service's responses) builds store conditions."""
    handlers = [*(PACKAGE / "control").glob("*.py"), *(PACKAGE / "dashboard").glob("*.py"),
                *PACKAGE.glob("*/control.py"), *PACKAGE.glob("*/responses.py"), *PACKAGE.glob("*/responses/*.py")]
    assert len(handlers) > 10
    offenders = [str(p.relative_to(ROOT)) for p in handlers if "mock_server.store.Condition" in _imports(p)]
    assert not offenders, offenders


def test_the_harness_imports_no_server_internals() -> None:
    allowed = ("mock_server.client", "mock_server.testing", "mock_server.inprocess", "mock_server.settings",
               "mock_server.dashboard.harness_results", "mock_server")
    offenders = {}
    for path in (ROOT / "scenarios").rglob("*.py"):
        tree = ast.parse(path.read_text())
        names = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        bad = sorted(n for n in names if n.startswith("mock_server") and not n.startswith(allowed[:-1]) and n != "mock_server")
        if bad:
            offenders[str(path.relative_to(ROOT))] = bad
    assert not offenders, offenders
