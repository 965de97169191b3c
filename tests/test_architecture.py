"""The package's layers import one way only (ARCHITECTURE.md): a module may import from its own
layer and the layers listed for it here, never from a layer above; inside a layer, modules import
each other without a cycle. Imports inside functions count as much as those at the top."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "neuradmix"

# layer -> the layers it may import (besides itself); "" is the package root (__version__).
ALLOWED = {
    "errors": {""},
    "runtime": {"", "errors"},
    "layout": set(),  # the paths of results/: standard library only
    "data": {"", "errors", "layout"},
    "stats": {"", "errors", "layout", "data"},
    "simulation": {"", "errors", "runtime", "layout", "data"},
    "compute": {"", "errors", "runtime", "layout", "data"},
    "classic": {"", "errors", "runtime", "layout", "data", "stats", "compute"},
    "neural": {"", "errors", "runtime", "layout", "data", "stats", "compute", "classic"},
    "steps": {"", "errors", "runtime", "layout", "data", "stats", "compute", "classic"},
    "report": {"", "errors", "runtime", "layout", "data", "stats", "compute", "classic"},
    "cli": set(),  # the CLI may call every layer
}


def _layer(module_path: Path) -> str:
    relative = module_path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 else relative.stem


def _module_name(module_path: Path) -> str:
    parts = module_path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _is_module(dotted: str) -> bool:
    path = PACKAGE.parent.joinpath(*dotted.split("."))
    return path.with_suffix(".py").is_file() or (path / "__init__.py").is_file()


def _imported_modules(module_path: Path, source: str | None = None) -> set[str]:
    """The package's modules that ``module_path`` imports, as dotted names: at module level and
    inside functions alike (``ast.walk`` sees every import statement). ``from PACKAGE import name``
    counts as the submodule ``PACKAGE.name`` when there is one, else as ``PACKAGE`` itself."""
    tree = ast.parse(module_path.read_text() if source is None else source)
    name = _module_name(module_path)
    package = name if module_path.name == "__init__.py" else name.rpartition(".")[0]
    modules = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join([*base, *(node.module.split(".") if node.module else [])])
            elif node.module and node.module.split(".")[0] == "neuradmix":
                target = node.module
            else:
                continue
            for alias in node.names:
                submodule = f"{target}.{alias.name}"
                modules.add(submodule if _is_module(submodule) else target)
        elif isinstance(node, ast.Import):
            modules.update(a.name for a in node.names if a.name.split(".")[0] == "neuradmix")
    return modules


def _layer_of(dotted: str) -> str:
    """The layer of a module's dotted name; "" for the package root (``__version__``)."""
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else ""


def _imported_layers(module_path: Path, source: str | None = None) -> set[str]:
    """The top-level parts of the package (layers) that ``module_path`` imports from."""
    return {_layer_of(module) for module in _imported_modules(module_path, source)}


def _cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The import cycles among modules of one layer: the strongly connected components (of more
    than one module, or a module importing itself) of ``graph`` restricted to edges that stay
    inside a layer (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    cycles = []

    def inside(module: str) -> list[str]:
        return [t for t in graph[module] if t in graph and _layer_of(t) == _layer_of(module)]

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        for target in inside(module):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in stack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while not component or component[-1] != module:
                component.append(stack.pop())
            if len(component) > 1 or module in graph[module]:
                cycles.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return cycles


def _import_graph(replace: dict[Path, str] | None = None) -> dict[str, set[str]]:
    replace = replace or {}
    return {
        _module_name(path): _imported_modules(path, replace.get(path))
        for path in PACKAGE.rglob("*.py")
    }


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if _layer(p) in ALLOWED)


@pytest.mark.parametrize("module", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_point_down_the_layers(module):
    layer = _layer(module)
    if layer == "cli":
        return
    upward = _imported_layers(module) - ALLOWED[layer] - {layer}
    assert not upward, f"{module.relative_to(PACKAGE)} ({layer}) imports {sorted(upward)}"


def test_every_module_belongs_to_a_layer():
    top_level = {_layer(p) for p in PACKAGE.rglob("*.py")} - {"__init__", "__main__"}
    assert top_level <= set(ALLOWED), sorted(top_level - set(ALLOWED))


def test_the_check_sees_an_upward_import():
    """A classic module importing the neural method is caught (the check can fail)."""
    module = PACKAGE / "classic" / "fit.py"
    source = module.read_text() + "\nfrom ..neural import train\n"
    assert "neural" in _imported_layers(module, source) - ALLOWED["classic"]
    assert "neural" not in _imported_layers(module) - ALLOWED["classic"]


def test_no_import_cycle_inside_a_layer():
    """No two modules of a layer import each other, directly or round a loop, whether the import
    is at module level or hidden inside a function."""
    assert not _cycles(_import_graph())


def test_the_check_sees_a_cycle_hidden_in_a_function():
    """A function-level import that closes a loop inside a layer is caught (the check can fail):
    the bounds importing the numba engine, which imports the bounds."""
    module = PACKAGE / "compute" / "bounds.py"
    source = module.read_text() + "\n\ndef late():\n    from .numba_engine import NumbaEngine\n"
    cycles = _cycles(_import_graph({module: source}))
    assert any(
        {"neuradmix.compute.bounds", "neuradmix.compute.numba_engine"} <= set(c) for c in cycles
    )


def test_the_compute_core_imports_neither_method():
    """The compute core sits below both methods: it imports neither the classic nor the neural
    one, so each can take an engine from it."""
    module = PACKAGE / "compute" / "engines.py"
    source = module.read_text() + "\n\ndef late():\n    from ..classic.fit import fit\n"
    assert "classic" in _imported_layers(module, source) - ALLOWED["compute"]


def test_the_layout_imports_only_the_standard_library():
    """neuradmix.layout (every path of results/) is importable from the Snakefile, the steps and
    the report alike: it imports nothing beyond the standard library."""
    import sys

    tree = ast.parse((PACKAGE / "layout.py").read_text())
    modules = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import)
               for alias in node.names}  # fmt: skip
    modules |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    top = {name.split(".")[0] for name in modules if name}
    assert top <= set(sys.stdlib_module_names) | {"__future__"}, sorted(top)
