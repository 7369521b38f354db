"""Every plugin folder has DESIGN.md's shape: setup -> handler -> options, and a README in CoreDNS's order.

CoreDNS's plugin READMEs go Name, Description, Syntax, Examples, Metrics, Ready,
See also (coredns/coredns plugin.md); a plugin here documents each of them.
``SHAPED`` is every plugin folder; a new one is checked as soon as it exists.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from clusterdns.plugins import registry

PLUGINS = Path(registry.__file__).parent
SHAPED = tuple(
    sorted(p.name for p in PLUGINS.iterdir() if p.is_dir() and (p / "__init__.py").is_file())
)
README_SECTIONS = ["Name", "Description", "Syntax", "Examples", "Metrics", "Ready", "See also"]
#: module -> the modules of its own plugin it must never import (the arrows go one way)
NEVER_IMPORTS = {
    "options": ("handler", "setup"),
    "handler": ("setup",),
    "metrics": ("handler", "setup"),
}


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at the top or anywhere else."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize("plugin", SHAPED)
def test_readme_has_coredns_sections_in_order(plugin: str) -> None:
    text = (PLUGINS / plugin / "README.md").read_text()
    sections = re.findall(r"(?m)^## (.+?)\s*$", text)
    assert sections == README_SECTIONS, plugin


@pytest.mark.parametrize("plugin", SHAPED)
def test_imports_point_one_way(plugin: str) -> None:
    folder = PLUGINS / plugin
    assert (folder / "setup.py").is_file() and (folder / "handler.py").is_file()
    for module, forbidden in NEVER_IMPORTS.items():
        path = folder / f"{module}.py"
        if not path.is_file():
            continue
        imports = imported_modules(path)
        for target in forbidden:
            assert f"clusterdns.plugins.{plugin}.{target}" not in imports, (module, target)


@pytest.mark.parametrize("plugin", SHAPED)
def test_setup_only_builds(plugin: str) -> None:
    """setup.py defines no plugin class and no option type: it builds the handler."""
    tree = ast.parse((PLUGINS / plugin / "setup.py").read_text())
    classes = [node.name for node in tree.body if isinstance(node, ast.ClassDef)]
    assert classes == [], plugin
    assert registry.setup_function(plugin) is not None


def test_every_plugin_in_the_chain_order_is_checked() -> None:
    assert set(SHAPED) == set(registry.ORDER)
