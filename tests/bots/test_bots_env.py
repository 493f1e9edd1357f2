"""The Bots configuration is normalised and every problem is one line naming file and key."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from bots_runtime.bots import environment as botsenv
from bots_runtime.bots import generation as generations
from bots_runtime.config import SettingError
from tests.bots.kit import BOTS_PYTHON, BotsDir, generation, remove_ini, run_cli

pytestmark = pytest.mark.bots

PYTHON = BOTS_PYTHON


def load(path: str, bots_dir: BotsDir, **kwargs: object) -> botsenv.BotsEnv:
    return botsenv.load(path, bots_dir.env(), python=PYTHON, **kwargs)  # type: ignore[arg-type]


def importable(module: str) -> bool:
    """Whether the Bots interpreter can import `module`, asked independently of the runtime."""
    code = f"import importlib.util, sys; sys.exit(importlib.util.find_spec({module!r}) is None)"
    return subprocess.run([PYTHON, "-c", code], check=False, timeout=30).returncode == 0


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
        """A bare folder name as botssys: 4.0 resolves it next to the config directory (the
        data folder), 3.3.1 inside its package, so 3.3.1 refuses it."""
        bots_dir.set("directories", "botssys", "botssys")
        if generation().config.relative_botssys:
            assert load(str(bots_dir.config), bots_dir).botssys == bots_dir.botssys
        else:
            with pytest.raises(SettingError, match=r"\[directories\] botssys = 'botssys' must"):
                load(str(bots_dir.config), bots_dir)

    def test_relative_botssys_path_refused(self, bots_dir: BotsDir) -> None:
        """A relative botssys with a slash is refused by both: 4.0's Bots and its settings.py
        would resolve it differently (next to the config, or from the working directory)."""
        bots_dir.set("directories", "botssys", "./botssys")
        with pytest.raises(SettingError, match=r"\[directories\] botssys = './botssys' must be"):
            load(str(bots_dir.config), bots_dir)

    def test_missing_botssys_key(self, bots_dir: BotsDir) -> None:
        """A bots.ini without botssys: 3.3.1 would use a folder in its package (refused, naming
        the key); 4.0 takes `botssys` next to the config."""
        remove_ini(bots_dir.ini, "directories", "botssys")
        default = generation().config.botssys_default
        if default is None:
            with pytest.raises(SettingError, match=r"\[directories\] botssys is missing"):
                load(str(bots_dir.config), bots_dir)
        else:
            assert load(str(bots_dir.config), bots_dir).botssys == bots_dir.root / default

    def test_absolute_usersys(self, bots_dir: BotsDir) -> None:
        """An absolute usersys: 3.3.1 fails on it (`bots.tmp`), so it is refused as not an
        import name; 4.0 imports it from that folder."""
        bots_dir.set("directories", "usersys", str(bots_dir.usersys))
        if generation().config.absolute_usersys:
            assert load(str(bots_dir.config), bots_dir).usersys == bots_dir.usersys
        else:
            with pytest.raises(SettingError, match=r"\[directories\] usersys = .* import name"):
                load(str(bots_dir.config), bots_dir)

    def test_usersys_without_init(self, bots_dir: BotsDir) -> None:
        """A usersys folder without __init__.py: 3.3.1 silently uses its own (refused); 4.0
        imports it as a namespace package (accepted)."""
        (bots_dir.usersys / "__init__.py").unlink()
        if generation().config.usersys_needs_init:
            with pytest.raises(SettingError, match=r"usersys = usersys: .*__init__\.py not found"):
                load(str(bots_dir.config), bots_dir)
        else:
            assert load(str(bots_dir.config), bots_dir).usersys == bots_dir.usersys

    def test_usersys_missing(self, bots_dir: BotsDir) -> None:
        """A missing usersys folder is refused by both: Bots would silently use its own."""
        shutil.rmtree(bots_dir.usersys)
        with pytest.raises(SettingError, match=r"\[directories\] usersys = usersys: .*not found"):
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
        """settings.py's botssys (3.3.1 BOTSSYS_PATH, 4.0 BOTSSYS) and bots.ini's must agree."""
        name = generation().config.settings_botssys
        settings = bots_dir.config / "settings.py"
        other = bots_dir.root / "elsewhere"
        other.mkdir()
        settings.write_text(
            settings.read_text(encoding="utf-8") + f"\n{name} = {str(other)!r}\n",
            encoding="utf-8",
        )
        with pytest.raises(SettingError, match=rf"{name} = .* differs from bots\.ini"):
            load(str(bots_dir.config), bots_dir)

    @pytest.mark.parametrize("engine", sorted(generations.ENGINE_KINDS))
    def test_database_engines(self, bots_dir: BotsDir, engine: str) -> None:
        """Every Django engine name this Bots accepts is accepted when Bots can import what
        it connects with; one it cannot use, or without its driver, is one line naming it."""
        settings = bots_dir.config / "settings.py"
        settings.write_text(
            settings.read_text(encoding="utf-8")
            + f"\nDATABASES['default'] = dict(DATABASES['default'], ENGINE={engine!r}"
            + ("" if engine.endswith("sqlite3") else ", NAME='botsdb'")
            + ")\n",
            encoding="utf-8",
        )
        rule = generation().database(engine)
        if rule is None:
            with pytest.raises(SettingError, match=rf"'{engine}' is not one Bots"):
                load(str(bots_dir.config), bots_dir)
        elif not all(importable(module) for module in rule.needs):
            with pytest.raises(SettingError, match=r"Bots connects with .*cannot import"):
                load(str(bots_dir.config), bots_dir)
        else:
            database = load(str(bots_dir.config), bots_dir).database
            assert database is not None
            assert database.engine == engine

    def test_engine_name_bots_cannot_use(self, bots_dir: BotsDir) -> None:
        """A Django engine no Bots knows is refused, naming the ones this Bots can use."""
        settings = bots_dir.config / "settings.py"
        text = settings.read_text(encoding="utf-8")
        settings.write_text(
            text + "\nDATABASES['default']['ENGINE'] = 'django.db.backends.oracle'\n",
            encoding="utf-8",
        )
        label = generation().label
        with pytest.raises(
            SettingError, match=rf"'django\.db\.backends\.oracle' is not one {label}"
        ):
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
            # A missing folder is a first run; without the first-run init-db it is an error.
            env["BOTS_CONFIG_DIR"] = str(bots_dir.root / "missing")
            env["BOTS_RUNTIME_INIT_DB"] = "off"
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
