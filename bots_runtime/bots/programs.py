"""Finding the Bots programs and the Python they run with.

In the image both live in one venv next to bots-runtime; elsewhere the programs are found on
the child's PATH. settings.py is evaluated with the programs' own interpreter, so it sees the
same Python, Django and packages as Bots will.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from bots_runtime.core import exit_codes
from bots_runtime.core.errors import SettingError

if TYPE_CHECKING:
    from collections.abc import Mapping


def find_program(name: str, environ: Mapping[str, str], executable: str = sys.executable) -> str:
    """A Bots program next to our interpreter (the image's venv), else on the child's PATH."""
    beside = Path(executable).parent / name
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which(name, path=environ.get("PATH", os.defpath))
    if found is None:
        msg = (
            f"{name}: program not found next to {executable} or on PATH"
            " (install bots-runtime[bots])"
        )
        raise SettingError(msg, exit_codes.NOT_FOUND)
    return str(Path(found).absolute())


def interpreter(program: str, fallback: str = sys.executable) -> str:
    """The Python a Bots program runs with (its `#!` line), to evaluate settings.py the same way."""
    try:
        with Path(program).open("rb") as handle:
            first = handle.readline(512)
    except OSError:
        return fallback
    if first.startswith(b"#!"):
        words = first[2:].decode(errors="replace").split()
        # Only a direct `#!/path/pythonX`: pip writes `#!/bin/sh` wrappers for long paths.
        if (
            words
            and Path(words[0]).is_absolute()
            and Path(words[0]).name.startswith("python")
            and os.access(words[0], os.X_OK)
        ):
            return words[0]
    return fallback


def path_first(directory: str, environ: Mapping[str, str]) -> str:
    """PATH with `directory` first: Bots starts `bots-engine` through PATH."""
    rest = [p for p in environ.get("PATH", os.defpath).split(os.pathsep) if p and p != directory]
    return os.pathsep.join([directory, *rest])
