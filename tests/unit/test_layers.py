"""The layering, enforced: every import in ``src/textcast`` points down a floor
(or sideways without a cycle), so a feature cannot quietly tie the house in knots.

The floors are written once, here, top to bottom. A new top-level package or
module must be given its floor before the suite passes; ARCHITECTURE.md says
what belongs on each.
"""

from __future__ import annotations

import ast
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[2] / "src"
ROOT = "textcast"

FLOORS: list[tuple[str, frozenset[str]]] = [
    # The processes: the CLI, which starts them, and the ASGI app they serve.
    ("entry", frozenset({"__main__", "cli", "server", "app"})),
    # The faces, side by side: none of them imports another.
    ("faces", frozenset({"api", "dashboard", "callbacks", "redirects"})),
    # What the faces share: FastAPI plumbing and the JSON shapes they present.
    ("face support", frozenset({"web", "views"})),
    # Loops that claim due rows from the database.
    (
        "engines",
        frozenset({"dispatch", "notify", "campaigns", "automations", "routing", "jobs"}),
    ),
    # The rules, one place each (short links are minted and clicks counted here;
    # their redirect is a face).
    ("domain", frozenset({"services", "audience", "content", "tracking", "policy"})),
    # What a running process shares (settings, database, HTTP session) and its metrics.
    ("wiring", frozenset({"context", "metrics", "dispatch_lock"})),
    # The outside world: provider APIs and the database.
    ("adapters", frozenset({"providers", "db"})),
    # Plain modules with no I/O of their own.
    (
        "ground",
        frozenset(
            {
                "__init__",
                "config",
                "errors",
                "phone",
                "sms_segments",
                "retry",
                "callback_meta",
                "callback_urls",
                "crypto",
                "netguard",
                "status",
                "error_codes",
                "hmac_signing",
                "listeners",
                "runtime",
                "storable_text",
                "json_values",
            }
        ),
    ),
]
# The Twilio simulator is a test double: it may use ground modules only, and
# only the entry floor (which starts it in demo mode) may import it.
SIMULATOR = "simulator"

FLOOR_OF = {unit: index for index, (_, units) in enumerate(FLOORS) for unit in units}
GROUND = FLOOR_OF["config"]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts.pop()
    return ".".join(parts)


def source_files() -> Iterator[Path]:
    for path in sorted((SRC / ROOT).rglob("*.py")):
        if "migrations" not in path.parts:
            yield path


def imports_of(path: Path) -> set[str]:
    """Every textcast module ``path`` imports, at the top or inside a function."""
    this = module_name(path)
    package = this if path.name == "__init__.py" else this.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[: len(anchor) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if _is_module(candidate) else base)
    return {name for name in found if name == ROOT or name.startswith(ROOT + ".")}


def _is_module(name: str) -> bool:
    relative = Path(*name.split("."))
    return (SRC / relative).with_suffix(".py").exists() or (SRC / relative / "__init__.py").exists()


def unit_of(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


GRAPH = {module_name(path): imports_of(path) for path in source_files()}


def test_every_top_level_unit_has_a_floor() -> None:
    units = {unit_of(module) for module in GRAPH} - {SIMULATOR}
    assert units - FLOOR_OF.keys() == set(), "give each new package a floor in FLOORS"


@pytest.mark.parametrize("module", sorted(GRAPH))
def test_imports_point_down(module: str) -> None:
    here = unit_of(module)
    upward = []
    for target in sorted(GRAPH[module]):
        there = unit_of(target)
        if there == here:
            continue
        if here == SIMULATOR:
            if FLOOR_OF.get(there) != GROUND:
                upward.append(f"{target} (the simulator may import ground modules only)")
        elif there == SIMULATOR:
            if FLOOR_OF[here] != FLOOR_OF["cli"]:
                upward.append(f"{target} (only the entry floor starts the simulator)")
        elif FLOOR_OF[there] < FLOOR_OF[here]:
            upward.append(
                f"{target} ({FLOORS[FLOOR_OF[there]][0]} is above {FLOORS[FLOOR_OF[here]][0]})"
            )
    assert upward == [], f"{module} imports upward"


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def test_no_two_packages_import_each_other() -> None:
    edges: dict[str, set[str]] = defaultdict(set)
    for module, targets in GRAPH.items():
        for target in targets:
            if unit_of(target) != unit_of(module):
                edges[unit_of(module)].add(unit_of(target))
    assert _cycles(edges) == []


def test_no_import_cycle_between_modules() -> None:
    # A package's __init__ importing its own modules is how packages re-export.
    edges = {
        module: {t for t in targets if not module.startswith(t + ".")}
        for module, targets in GRAPH.items()
    }
    assert _cycles(edges) == []
