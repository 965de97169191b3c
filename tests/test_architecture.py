"""The package's layers import one way only (ARCHITECTURE.md): a module may import from its own
layer and the layers listed for it here, never from a layer above."""

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
    "data": {"", "errors"},
    "stats": {"", "errors", "data"},
    "simulation": {"", "errors", "runtime", "data"},
    "classic": {"", "errors", "runtime", "data", "stats"},
    "neural": {"", "errors", "runtime", "data", "stats", "classic"},
    "steps": {"", "errors", "runtime", "layout", "data", "stats", "classic"},
    "report": {"", "errors", "runtime", "layout", "data", "stats", "classic"},
    "cli": set(),  # the CLI may call every layer
}


def _layer(module_path: Path) -> str:
    relative = module_path.relative_to(PACKAGE)
    return relative.parts[0].removesuffix(".py") if len(relative.parts) > 1 else relative.stem


def _imported_layers(module_path: Path, source: str | None = None) -> set[str]:
    """The top-level parts of the package (layers) that ``module_path`` imports from."""
    tree = ast.parse(module_path.read_text() if source is None else source)
    package_parts = module_path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1]
    layers = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package_parts[: len(package_parts) - node.level + 1]
                target = [*base, *(node.module.split(".") if node.module else [])]
            elif node.module and node.module.split(".")[0] == "neuradmix":
                target = node.module.split(".")
            else:
                continue
            if len(target) == 1:  # `from .. import x` / `from neuradmix import x`
                names = [alias.name for alias in node.names]
                layers.update("" if name == "__version__" else name for name in names)
            else:
                layers.add(target[1])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                parts = alias.name.split(".")
                if parts[0] == "neuradmix":
                    layers.add(parts[1] if len(parts) > 1 else "")
    return layers


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
    """A classic module importing the neural engine is caught (the check can fail)."""
    module = PACKAGE / "classic" / "fit.py"
    source = module.read_text() + "\nfrom ..neural import train\n"
    assert "neural" in _imported_layers(module, source) - ALLOWED["classic"]
    assert "neural" not in _imported_layers(module) - ALLOWED["classic"]


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
