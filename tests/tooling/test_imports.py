"""How portguard's modules import one another (issue 11), type-only imports (under
``if TYPE_CHECKING:``) and imports inside functions included:

- no import circle among ``portguard.*`` and ``portguard_cli.*``: a circle works at run time only
  as long as nobody reorders an import, and makes the modules in it one unit that cannot be
  read, tested or reused apart;
- the pure core stays pure: every module of ``portguard`` but its edges (the AWS adapters, the
  Lambda entry points, the application of a remediation through EC2) imports the standard
  library and other pure modules only.

Each module's imports are read from its source with :mod:`ast` (nothing is imported), so the test
sees what mypy and a reader see.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

REPOSITORY = Path(__file__).resolve().parents[2]
PACKAGES = {
    "portguard": REPOSITORY / "lambda" / "portguard",
    "portguard_cli": REPOSITORY / "cli" / "portguard_cli",
}


def module_files() -> dict[str, Path]:
    """Every module of the packages, by dotted name (a package by its own name)."""
    modules: dict[str, Path] = {}
    for package, root in PACKAGES.items():
        for path in sorted(root.rglob("*.py")):
            parts = [package, *path.relative_to(root).with_suffix("").parts]
            if parts[-1] == "__init__":
                parts.pop()
            modules[".".join(parts)] = path
    return modules


def imported_names(module: str, path: Path) -> set[str]:
    """The dotted names ``module`` imports, anywhere in its source; ``from a import b`` names
    ``a.b`` as well as ``a`` (``b`` may be a submodule), relative imports resolved."""
    is_package = path.name == "__init__.py"
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, base] if base else anchor)
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def import_graph() -> dict[str, set[str]]:
    """For each module, the project's modules that importing it runs. Importing ``a.b.c`` runs
    ``a`` and ``a.b`` first; the importer's own packages are left out (they are already being
    imported when it runs)."""
    modules = module_files()
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        own = {".".join(module.split(".")[:n]) for n in range(1, module.count(".") + 1)}
        targets: set[str] = set()
        for name in imported_names(module, path):
            parts = name.split(".")
            for n in range(1, len(parts) + 1):
                prefix = ".".join(parts[:n])
                if prefix in modules and prefix != module and (prefix == name or prefix not in own):
                    targets.add(prefix)
        graph[module] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle of ``graph`` as its modules in order (the first repeated at the end),
    or ``None``: a depth-first search."""
    done: set[str] = set()
    for start in sorted(graph):
        if start in done:
            continue
        path = [start]
        stack = [iter(sorted(graph[start]))]
        while stack:
            following = next(stack[-1], None)
            if following is None:
                done.add(path.pop())
                stack.pop()
            elif following in path:
                return [*path[path.index(following) :], following]
            elif following not in done:
                path.append(following)
                stack.append(iter(sorted(graph.get(following, ()))))
    return None


def circles(graph: dict[str, set[str]]) -> dict[frozenset[str], list[str]]:
    """Each set of modules that import one another, directly or not (a strongly connected
    component with a circle), and one circle through it."""
    reaches = {module: _reachable(graph, module) for module in graph}
    found: dict[frozenset[str], list[str]] = {}
    for module in sorted(graph):
        if module in reaches[module]:
            members = frozenset(m for m in reaches[module] if module in reaches[m])
            if members not in found:
                found[members] = find_cycle({m: graph[m] & members for m in members}) or []
    return found


def _reachable(graph: dict[str, set[str]], module: str) -> set[str]:
    seen: set[str] = set()
    todo = list(graph[module])
    while todo:
        following = todo.pop()
        if following not in seen:
            seen.add(following)
            todo.extend(graph.get(following, ()))
    return seen


EDGES = (
    "portguard.adapters",
    "portguard.handler",
    "portguard.rule",
    "portguard.remediation.apply",
    "portguard.remediation_handler",
)
"""The modules of ``portguard`` that talk to AWS or to Lambda (and, for a package, everything in
it); the rest is the pure core, which the CDK app and the offline command line use as well."""


def is_edge(module: str) -> bool:
    return any(module == edge or module.startswith(f"{edge}.") for edge in EDGES)


def test_the_graph_is_read() -> None:
    graph = import_graph()
    # A plain import, a type-only one, and the packages an import runs first.
    assert "portguard.model" in graph["portguard.decision"]
    assert "portguard.parameters" in graph["portguard.decision"]  # under TYPE_CHECKING
    assert {"portguard", "portguard.adapters", "portguard.adapters.ec2"} <= graph[
        "portguard_cli.scan"
    ]
    assert "portguard_cli.main" in graph["portguard_cli.__main__"]


def test_circles_are_found_and_named() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a", "e"}, "e": {"e"}, "f": set()}
    assert find_cycle(graph) == ["a", "b", "c", "a"]
    assert circles(graph) == {frozenset("abc"): ["a", "b", "c", "a"], frozenset("e"): ["e", "e"]}
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None
    assert circles({"a": {"b", "c"}, "b": {"c"}, "c": set()}) == {}


def test_no_import_circle_among_portguards_modules() -> None:
    found = circles(import_graph())
    assert not found, f"import circle: {'; '.join(' -> '.join(c) for c in found.values())}"


def test_the_pure_modules_import_the_standard_library_and_pure_modules_only() -> None:
    modules = module_files()
    graph = import_graph()
    pure = [m for m in modules if m.split(".")[0] == "portguard" and not is_edge(m)]
    assert "portguard.remediation.plan" in pure
    assert "portguard.remediation.apply" not in pure
    found = {}
    for module in pure:
        outside = {name.split(".")[0] for name in imported_names(module, modules[module])}
        outside -= {"portguard", *sys.stdlib_module_names}
        edges = {target for target in graph[module] if is_edge(target)}
        if outside or edges:
            found[module] = sorted(outside | edges)
    assert not found, f"pure modules importing more than the standard library: {found}"
