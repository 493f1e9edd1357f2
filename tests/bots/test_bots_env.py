"""The Bots configuration is normalised and every problem is one line naming file and key."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from bots_runtime.bots import environment as botsenv
from bots_runtime.config import SettingError
from tests.bots.kit import BotsDir, remove_ini, run_cli

pytestmark = pytest.mark.bots

PYTHON = os.fspath(Path(__import__("sys").executable))


def load(path: str, bots_dir: BotsDir, **kwargs: object) -> botsenv.BotsEnv:
    return botsenv.load(path, bots_dir.env(), python=PYTHON, **kwargs)  # type: ignore[arg-type]


class TestNormalise:
    def test_trailing_slash_removed(self, tmp_path: Path) -> None:
        """A slash-terminated directory loses the slash (Bots would use its own usersys)."""
        assert str(botsenv.normalise(f"{tmp_path}/config//")) == f"{tmp_path}/config"

    def test_relative_made_absolute(self, tmp_path: Path) -> None:
        """A relative directory is resolved against the working directory."""
        assert botsenv.normalise("config/", cwd=str(tmp_path)) == tmp_path / "config"

    def test_dots_collapsed(self, tmp_path: Path) -> None:
        """`..` and `.` segments are resolved so Bots gets one canonical spelling."""
        assert botsenv.normalise(f"{tmp_path}/x/../config/.") == tmp_path / "config"

    def test_empty_refused(self) -> None:
        """An empty directory setting is an error, not the current directory."""
        with pytest.raises(SettingError, match="empty"):
            botsenv.normalise("  ")


class TestLoad:
    def test_valid_environment(self, bots_dir: BotsDir) -> None:
        """An init-db environment loads with its ports, folders and SQLite database."""
        env = load(str(bots_dir.config) + "/", bots_dir)
        assert env.config_dir == bots_dir.config
        assert env.botssys == bots_dir.botssys
        assert env.usersys == bots_dir.usersys
        assert (env.engine_port, env.webserver_port, env.jobqueue_port) == (
            bots_dir.engine_port,
            bots_dir.web_port,
            bots_dir.jobqueue_port,
        )
        assert env.jobqueue_enabled is False
        assert env.database is not None
        assert env.database.is_sqlite
        assert env.database.name == str(bots_dir.db)

    def test_relative_config_dir(self, bots_dir: BotsDir) -> None:
        """A relative `--bots-config` is resolved against the working directory."""
        env = botsenv.load("config", bots_dir.env(), cwd=str(bots_dir.root))
        assert env.config_dir == bots_dir.config

    def test_missing_directory(self, tmp_path: Path, bots_dir: BotsDir) -> None:
        """A missing directory names the directory and how to set it."""
        with pytest.raises(SettingError, match="BOTS_CONFIG_DIR") as err:
            load(str(tmp_path / "nope"), bots_dir)
        assert str(tmp_path / "nope") in str(err.value)
        assert err.value.code == 78

    @pytest.mark.parametrize("name", ["bots.ini", "settings.py"])
    def test_missing_file(self, bots_dir: BotsDir, name: str) -> None:
        """A missing bots.ini or settings.py is named with its full path."""
        (bots_dir.config / name).unlink()
        with pytest.raises(SettingError, match=f"{bots_dir.config / name}: missing"):
            load(str(bots_dir.config), bots_dir)

    def test_unparsable_ini(self, bots_dir: BotsDir) -> None:
        """A bots.ini that is not INI syntax is one line naming the file."""
        bots_dir.ini.write_text("no section header\n", encoding="utf-8")
        with pytest.raises(SettingError, match=r"bots\.ini: cannot be read") as err:
            load(str(bots_dir.config), bots_dir)
        assert "\n" not in str(err.value)

    def test_relative_botssys(self, bots_dir: BotsDir) -> None:
        """A relative botssys is refused: Bots would resolve it inside its package."""
        bots_dir.set("directories", "botssys", "botssys")
        with pytest.raises(SettingError, match=r"\[directories\] botssys = 'botssys' must be"):
            load(str(bots_dir.config), bots_dir)

    def test_missing_botssys_key(self, bots_dir: BotsDir) -> None:
        """A bots.ini without botssys names the section and key."""
        remove_ini(bots_dir.ini, "directories", "botssys")
        with pytest.raises(SettingError, match=r"\[directories\] botssys is missing"):
            load(str(bots_dir.config), bots_dir)

    def test_absolute_usersys(self, bots_dir: BotsDir) -> None:
        """An absolute usersys is refused: it is an import name (Bots fails with bots.tmp)."""
        bots_dir.set("directories", "usersys", str(bots_dir.usersys))
        with pytest.raises(SettingError, match=r"\[directories\] usersys = .* import name"):
            load(str(bots_dir.config), bots_dir)

    def test_usersys_not_a_package(self, bots_dir: BotsDir) -> None:
        """A usersys without __init__.py is refused: Bots would silently use its own."""
        shutil.rmtree(bots_dir.usersys)
        with pytest.raises(SettingError, match=r"usersys = usersys: .*__init__\.py not found"):
            load(str(bots_dir.config), bots_dir)

    def test_bad_port(self, bots_dir: BotsDir) -> None:
        """A port that is not a number names the section and the value."""
        bots_dir.set("webserver", "port", "eighty")
        with pytest.raises(SettingError, match=r"\[webserver\] port = 'eighty' is not a port"):
            load(str(bots_dir.config), bots_dir)

    def test_bad_boolean(self, bots_dir: BotsDir) -> None:
        """`[jobqueue] enabled` must be a boolean Bots understands."""
        bots_dir.set("jobqueue", "enabled", "sure")
        with pytest.raises(SettingError, match=r"\[jobqueue\] enabled = 'sure' is not a boolean"):
            load(str(bots_dir.config), bots_dir)

    def test_sqlite_file_missing(self, bots_dir: BotsDir) -> None:
        """A missing SQLite file is found before the engine would fail with exit 1."""
        bots_dir.db.unlink()
        with pytest.raises(SettingError, match=r"settings\.py: .*NAME.*SQLite database file"):
            load(str(bots_dir.config), bots_dir)
        assert load(str(bots_dir.config), bots_dir, require_database=False).database is not None

    def test_settings_error_is_one_line(self, bots_dir: BotsDir) -> None:
        """A settings.py that raises gives its last error line, naming settings.py."""
        with pytest.raises(SettingError, match=r"settings\.py: fails to load: ValueError") as err:
            botsenv.load(str(bots_dir.config), bots_dir.env(BOTS_DB_ENGINE="oracle"), python=PYTHON)
        assert "\n" not in str(err.value)

    def test_botssys_path_must_agree(self, bots_dir: BotsDir) -> None:
        """settings.py BOTSSYS_PATH and bots.ini botssys must name the same folder."""
        other = bots_dir.root / "elsewhere"
        other.mkdir()
        bots_dir.set("directories", "botssys", str(other))
        with pytest.raises(SettingError, match=r"BOTSSYS_PATH = .* differs from bots\.ini"):
            load(str(bots_dir.config), bots_dir)

    def test_engine_name_bots_cannot_use(self, bots_dir: BotsDir) -> None:
        """Django's `postgresql` engine name is refused: Bots 3.3.1 only knows `_psycopg2`."""
        settings = bots_dir.config / "settings.py"
        text = settings.read_text(encoding="utf-8")
        settings.write_text(
            text + "\nDATABASES['default']['ENGINE'] = 'django.db.backends.postgresql'\n",
            encoding="utf-8",
        )
        with pytest.raises(SettingError, match=r"'django\.db\.backends\.postgresql' is not one"):
            load(str(bots_dir.config), bots_dir)


class TestCliErrors:
    """Through the CLI, a bad Bots configuration is one line on stderr and exit 78."""

    @pytest.mark.parametrize(
        ("breakage", "expected"),
        [
            ("no-dir", "Bots configuration directory does not exist"),
            ("no-ini", "bots.ini: missing"),
            ("no-settings", "settings.py: missing"),
            ("bad-usersys", "[directories] usersys"),
            ("dirmonitor-no-route", "[dirmonitor1] has no route key"),
        ],
    )
    def test_one_line_exit_78(self, bots_dir: BotsDir, breakage: str, expected: str) -> None:
        """Each broken configuration: exit 78, exactly one stderr line, naming the problem."""
        env = bots_dir.env()
        service = "webserver"
        if breakage == "no-dir":
            env["BOTS_CONFIG_DIR"] = str(bots_dir.root / "missing")
        elif breakage == "no-ini":
            bots_dir.ini.unlink()
        elif breakage == "no-settings":
            (bots_dir.config / "settings.py").unlink()
        elif breakage == "bad-usersys":
            bots_dir.set("directories", "usersys", "/abs/usersys")
        else:
            service = "dirmonitor"
            bots_dir.enable_jobqueue()
            bots_dir.set("dirmonitor1", "path", str(bots_dir.root))
        done = run_cli([service], env)
        assert done.returncode == 78, done.stderr
        lines = done.stderr.strip().splitlines()
        assert len(lines) == 1, done.stderr
        assert expected in lines[0]
