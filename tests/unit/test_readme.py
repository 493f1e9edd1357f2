"""The README's tables and lists say what the code defines: one source for each fact."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bots_runtime import config
from bots_runtime.bots import SERVICES
from bots_runtime.core import exit_codes
from bots_runtime.core.options import ENDPOINTS, LOG_LEVELS, ChildLogs, LogFormat

README = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")


def section(title: str) -> str:
    """The text of one `## title` section."""
    start = README.index(f"\n## {title}\n")
    end = README.find("\n## ", start + 1)
    return README[start : end if end > 0 else len(README)]


def table(text: str, first_header: str) -> list[list[str]]:
    """The rows of the markdown table whose first column is headed `first_header`."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith(f"| {first_header} |"))
    rows = []
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        rows.append([cell.strip() for cell in line.strip("|").split(" | ")])
    return rows


def test_options_table_matches_the_settings() -> None:
    """Every setting is one row: its flag, its variable and the default --help shows."""
    rows = table(section("Command line"), "option")
    by_flag = {row[0].strip("`").split()[0]: row for row in rows}
    assert set(by_flag) == {setting.flag for setting in config.SETTINGS}
    for setting in config.SETTINGS:
        flag, variable, default = by_flag[setting.flag][:3]
        assert variable.split()[0].strip("`") == setting.env_name, flag
        assert default == setting.shown_default, flag


def test_exit_code_table_matches_the_runtime_codes() -> None:
    """The table lists the child's codes and exactly the runtime's own."""
    rows = table(section("Command line"), "code")
    codes = {row[0] for row in rows}
    own = {str(code) for code in exit_codes.RUNTIME_CODES}
    assert own <= codes
    assert codes - own <= {"0-255", "128+N", "0"}


def test_services_probe_endpoints_and_formats_are_the_codes() -> None:
    """The usage block names every service and probe endpoint; the options every format."""
    usage = section("Command line")
    assert f"{', '.join((*SERVICES, 'init-db'))}" in usage
    assert "probe {" + ",".join(ENDPOINTS) + "}" in usage
    log_format = next(r for r in table(usage, "option") if r[0].startswith("`--log-format"))
    assert re.findall(r"`(\w+)`", log_format[3]) == [f.value for f in LogFormat]
    child_logs = next(r for r in table(usage, "option") if r[0].startswith("`--child-logs"))
    assert re.findall(r"`(\w+)`", child_logs[3]) == [m.value for m in ChildLogs]
    log_level = next(r for r in table(usage, "option") if r[0].startswith("`--log-level"))
    assert tuple(re.findall(r"`(\w+)`", log_level[3])) == LOG_LEVELS


@pytest.mark.parametrize("path", sorted((Path(config.__file__).parent).rglob("*.py")))
def test_architecture_lists_every_module(path: Path) -> None:
    """Each module of the package appears in the README's architecture tree."""
    tree = section("Architecture")
    if path.name in {"__init__.py", "__main__.py"}:
        folder = path.parent.name
        assert folder == "bots_runtime" or f"{folder}/" in tree, path
        return
    assert re.search(rf"\b{re.escape(path.name)}\b", tree), path
