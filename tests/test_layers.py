"""The layers of ARCHITECTURE.md, enforced: every import of every module of ``hpo`` (top-level or
inside a function, ``TYPE_CHECKING`` blocks included) points to its own layer or a lower one, and
no modules import each other in a circle. Parsed with ``ast`` from the files the installed package
is made of (the package-dir mapping included), so nothing is imported to check it."""

from __future__ import annotations

import ast
import importlib.util
import tomllib
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

# Lowest first. A module belongs to the first layer one of whose prefixes its name matches, the
# longest prefix winning; a module may import modules of its own layer or of layers below.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("foundation", ("hpo", "hpo.errors", "hpo.settings", "hpo.redaction")),
    ("specs", ("hpo.search_spaces", "hpo.search_spaces.schema", "hpo.search_spaces.loader")),
    (
        "storage",
        (
            "hpo.storage",
            "hpo.infra",
            "hpo.infra.embedded_postgres",
            "hpo.infra.pools",
            "hpo.infra.containers",
            "hpo.infra.docker_pools",
        ),
    ),
    (
        "learning",
        (
            "hpo.workers",
            "hpo.workers.objectives",
            "hpo.workers.datasets",
            "hpo.workers.metrics",
            "hpo.workers.cv",
            "hpo.workers.devices",
            "hpo.workers.final_model",
            "hpo.workers.reevaluate",
            "hpo.workers.artifacts",
        ),
    ),
    (
        "core",
        (
            "hpo.store",
            "hpo.sampler_streams",
            "hpo.claims",
            "hpo.leases",
            "hpo.samplers",
            "hpo.study_setup",
            "hpo.objectives_spec",
            "hpo.pareto",
            "hpo.search_spaces.checks",
        ),
    ),
    (
        "execution",
        (
            "hpo.workers.trial_runner",
            "hpo.workers.heartbeat",
            "hpo.workers.interrupt",
            "hpo.fanout",
            "hpo.plots",
            "hpo.front_plot",
            "hpo.tracking",
        ),
    ),
    ("compare_promote", ("hpo.compare", "hpo.promotions", "hpo.tracking.models")),
    ("query", ("hpo.query", "hpo.metrics", "hpo.monitoring")),
    ("flows", ("hpo.flows",)),
    ("entry", ("hpo.cli", "hpo.__main__", "hpo.infra.local_fleet")),
]


def layer_of(module: str) -> int:
    best: tuple[int, int] | None = None  # (prefix length, layer index)
    for index, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            if module == prefix or module.startswith(prefix + "."):
                if best is None or len(prefix) > best[0]:
                    best = (len(prefix), index)
    assert best is not None, f"{module} is in no layer of tests/test_layers.py"
    return best[1]


def package_modules() -> Iterator[tuple[str, Path]]:
    """Every module of the packages pyproject.toml lists, with its file, found through the import
    system (so the package-dir mapping counts, not the folders on disk)."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config["tool"]["setuptools"]["packages"]
    for package in packages:
        spec = importlib.util.find_spec(package)
        assert spec is not None and spec.submodule_search_locations is not None, package
        (folder,) = map(Path, spec.submodule_search_locations)
        for path in sorted(folder.glob("*.py")):
            yield (package if path.stem == "__init__" else f"{package}.{path.stem}"), path
        for sub in folder.iterdir():  # a subpackage missing from the list misses the wheel
            if (sub / "__init__.py").is_file():
                assert f"{package}.{sub.name}" in packages, f"add {package}.{sub.name} to pyproject"


MODULES = dict(package_modules())


def imports_of(module: str, path: Path) -> set[str]:
    """The ``hpo`` modules ``module`` imports anywhere in its file."""
    is_package = path.stem == "__init__"
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                parts = module.split(".")[: len(module.split(".")) - node.level + is_package]
                base = ".".join([*parts, *([node.module] if node.module else [])])
            else:
                base = node.module or ""
            # `from pkg import name`: name is a submodule or an attribute of pkg.
            for alias in node.names:
                full = f"{base}.{alias.name}"
                found.add(full if full in MODULES else base)
    return {name for name in found if name in MODULES}


GRAPH = {module: imports_of(module, path) for module, path in MODULES.items()}


def test_every_module_is_found_and_placed() -> None:
    assert {"hpo.flows.tune", "hpo.workers.objectives.base", "hpo.infra.pools"} <= set(MODULES)
    for module in MODULES:
        layer_of(module)


def test_nothing_imports_upward() -> None:
    upward = [
        f"{module} ({LAYERS[layer_of(module)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})"
        for module, targets in sorted(GRAPH.items())
        for target in sorted(targets)
        if layer_of(target) > layer_of(module)
    ]
    assert not upward, "imports against the layers of ARCHITECTURE.md:\n" + "\n".join(upward)


def test_no_import_circles() -> None:
    """Tarjan's strongly connected components; a package importing its own modules (its
    ``__init__`` re-exports) is not a circle unless one of them imports the package back."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for target in GRAPH[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                circles.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    assert not circles, "modules that import each other: " + "; ".join(map(str, circles))
