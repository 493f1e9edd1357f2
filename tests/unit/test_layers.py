"""The package's layers, checked by walking every import of every module (lazy ones included).

core and process use only the standard library (process runs before the event loop exists);
supervision knows services only as specs; only the CLI layer imports the Bots catalogue; and
nothing imports the CLI layer. Imports under `if TYPE_CHECKING:` count too: a layer should not
even name the types of the one above it.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "bots_runtime"
CLI_LAYER = {"bots_runtime.cli", "bots_runtime.config", "bots_runtime.overrides"}
#: What each layer may import: other layers of the package, and third-party distributions.
ALLOWED: dict[str, tuple[set[str], set[str]]] = {
    "core": ({"core"}, set()),
    "process": ({"core", "process"}, set()),
    "web": (
        {"core", "process", "web"},
        {"anyio", "h11", "prometheus_client", "starlette", "uvicorn"},
    ),
    "supervision": ({"core", "process", "supervision", "web"}, {"anyio", "structlog"}),
    "bots": (
        {"core", "process", "web", "bots"},
        {"anyio", "prometheus_client", "psycopg2", "psycopg", "MySQLdb"},
    ),
}
#: The programs run in Bots' own interpreter import Bots' Django, each other, nothing of ours.
SCRIPT_NAMES = {p.stem for p in (PACKAGE / "bots" / "scripts").glob("*.py")} - {"__init__"}
SCRIPTS = ({""}, {"django", "bots", *SCRIPT_NAMES})


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> set[str]:
    """Every module `path` imports, absolute, wherever the import statement is."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0, f"{path}: relative import"
            base = node.module or ""
            found.add(base)
            # `from bots_runtime.bots import catalogue` imports the module catalogue.
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return found


MODULES = sorted(PACKAGE.rglob("*.py"))


def own(name: str) -> bool:
    return name == "bots_runtime" or name.startswith("bots_runtime.")


def is_module(name: str) -> bool:
    """True when `name` is a module or package of ours (not a class imported from one)."""
    rel = name.split(".")[1:]
    target = PACKAGE.joinpath(*rel)
    return target.with_suffix(".py").is_file() or (target / "__init__.py").is_file()


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_layer_imports(path: Path) -> None:
    """Each module imports only what its layer may."""
    name = module_name(path)
    parts = name.split(".")
    found = imports(path)
    if "scripts" in parts:
        third = {n.split(".")[0] for n in found if n.split(".")[0] not in sys.stdlib_module_names}
        assert third <= SCRIPTS[1], f"{name} imports {third - SCRIPTS[1]}"
        assert not any(own(n) for n in found), f"{name} imports bots_runtime"
        return
    if len(parts) < 3 or parts[1] not in ALLOWED:
        return  # the CLI layer and the package root may import anything
    layers, third_party = ALLOWED[parts[1]]
    for imported in found:
        top = imported.split(".")[0]
        if own(imported):
            if not is_module(imported) or imported == "bots_runtime":
                continue
            target = imported.split(".")
            assert len(target) > 2 or target[1] in ALLOWED, f"{name} imports {imported}"
            assert target[1] in layers, f"{name} ({parts[1]}) imports {imported}"
        elif top not in sys.stdlib_module_names and top != "__future__":
            assert top in third_party, f"{name} ({parts[1]}) imports {top}"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_imports_the_cli_layer(path: Path) -> None:
    """cli, config and overrides sit on top: no module below them imports one of them."""
    name = module_name(path)
    if name in CLI_LAYER or name == "bots_runtime.__main__":
        return
    assert not imports(path) & CLI_LAYER, f"{name} imports the CLI layer"


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_only_the_cli_layer_imports_the_catalogue(path: Path) -> None:
    """The generic runtime learns of Bots only through the spec it is given."""
    name = module_name(path)
    if name in CLI_LAYER or name.startswith("bots_runtime.bots"):
        return
    catalogue = {n for n in imports(path) if n.startswith("bots_runtime.bots")}
    assert not catalogue, f"{name} imports {catalogue}"


def test_supervision_reaches_the_web_layer_only_from_the_composition_root() -> None:
    """The supervisor and the stop sequence know nothing of HTTP; only runtime.py wires it."""
    for path in (PACKAGE / "supervision").glob("*.py"):
        if path.name == "runtime.py":
            continue
        web = {n for n in imports(path) if n.startswith("bots_runtime.web")}
        assert not web, f"{path.name} imports {web}"


def test_the_walk_sees_lazy_imports() -> None:
    """The walk is not fooled by an import inside a function (the CLI's are all lazy)."""
    found = imports(PACKAGE / "cli.py")
    assert "bots_runtime.bots.catalogue" in found
    assert "bots_runtime.supervision.runtime" in found
