"""A throw-away Bots 3.3.1 environment with the SQLite database, for the exec probe.

Laid out as ../shared/notes/bots-edi-3.3.1.md says works: `<T>/config` (bots.ini,
settings.py), `<T>/botssys/sqlitedb/botsdb`, `<T>/usersys`; `-c` is absolute with no
trailing slash, botssys is absolute, and settings.py points BOTSSYS_PATH at `<T>/botssys`.
"""

from __future__ import annotations

import re
import shutil
from importlib.util import find_spec
from pathlib import Path


def bots_install_dir() -> Path:
    """`<site-packages>/bots/install`, found without importing Bots."""
    spec = find_spec("bots")
    if spec is None or spec.origin is None:
        raise FileNotFoundError("bots-ediint is not installed in this interpreter")
    return Path(spec.origin).parent / "install"


def build(root: Path) -> Path:
    """Create the environment under `root`; return the config dir to pass to Bots."""
    install = bots_install_dir()
    config = root / "config"
    botssys = root / "botssys"
    (botssys / "sqlitedb").mkdir(parents=True, exist_ok=True)
    config.mkdir(parents=True, exist_ok=True)
    (root / "usersys").mkdir(exist_ok=True)
    (root / "usersys" / "__init__.py").write_text("")
    (config / "__init__.py").write_text("")
    shutil.copyfile(install / "botsdb", botssys / "sqlitedb" / "botsdb")
    ini = (install / "bots.ini").read_text()
    ini = re.sub(r"(?m)^botssys\s*=.*$", f"botssys = {botssys}", ini)
    (config / "bots.ini").write_text(ini)
    settings = (install / "settings.py").read_text()
    settings, count = re.subn(
        r"(?m)^BOTSSYS_PATH\s*=.*$",
        "BOTSSYS_PATH = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', BOTSSYS)",
        settings,
    )
    if count != 1:
        raise ValueError("settings.py template changed: BOTSSYS_PATH not found")
    (config / "settings.py").write_text(settings)
    return config
