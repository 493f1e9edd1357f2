import signal
from pathlib import Path

import pytest

from bots_runtime import config
from bots_runtime.config import SettingError, parse
from bots_runtime.core import exit_codes
from bots_runtime.core.options import ChildLogs, FullOutput, LogFormat


class TestGrammar:
    def test_service_word_with_options_on_both_sides(self) -> None:
        """Options may stand before and after a service word; `--` ends them."""
        inv = parse(["--stop-timeout", "5", "webserver", "--port=0", "--", "-x"], {})
        assert inv.command == "webserver"
        assert inv.config.stop_timeout == 5.0
        assert inv.config.port == 0
        assert inv.args == ("-x",)

    def test_unknown_word_is_a_plain_command(self) -> None:
        """Any other first word runs as a supervised command with its arguments verbatim."""
        inv = parse(["python", "-c", "print(1)", "--port", "1"], {})
        assert inv.command == "run"
        assert inv.args == ("python", "-c", "print(1)", "--port", "1")
        assert inv.config.port == config.DEFAULT_PORT

    def test_run_with_double_dash(self) -> None:
        inv = parse(["run", "--restart", "always", "--", "sleep", "1"], {})
        assert inv.command == "run"
        assert inv.args == ("sleep", "1")
        assert inv.config.restart == "always"

    def test_run_without_command_is_a_usage_error(self) -> None:
        with pytest.raises(SettingError) as err:
            parse(["run"], {})
        assert err.value.code == exit_codes.USAGE

    def test_nothing_is_a_usage_error(self) -> None:
        with pytest.raises(SettingError) as err:
            parse([], {})
        assert err.value.code == exit_codes.USAGE

    def test_unknown_option_names_itself(self) -> None:
        with pytest.raises(SettingError) as err:
            parse(["--stop-tiemout", "3", "engine"], {})
        assert err.value.code == exit_codes.USAGE
        assert "--stop-tiemout" in str(err.value)

    def test_option_without_value(self) -> None:
        with pytest.raises(SettingError) as err:
            parse(["engine", "--port"], {})
        assert err.value.code == exit_codes.USAGE

    def test_service_extra_args_need_double_dash(self) -> None:
        with pytest.raises(SettingError) as err:
            parse(["engine", "--new"], {})
        assert err.value.code == exit_codes.USAGE

    def test_probe_target(self) -> None:
        inv = parse(["probe", "readyz", "--port", "9"], {})
        assert inv.args == ("readyz",)
        with pytest.raises(SettingError):
            parse(["probe", "nope"], {})

    @pytest.mark.parametrize("flag", ["--help", "-h", "--version", "-V"])
    def test_help_and_version(self, flag: str) -> None:
        with pytest.raises(config.HelpRequestedError):
            parse([flag], {})


class TestValues:
    @pytest.mark.parametrize(
        ("text", "expected"),
        [
            ("TERM", signal.SIGTERM),
            ("sigint", signal.SIGINT),
            ("15", signal.SIGTERM),
            ("SIGHUP", signal.SIGHUP),
        ],
    )
    def test_signal_names(self, text: str, expected: signal.Signals) -> None:
        assert config.parse_signal(text) is expected

    @pytest.mark.parametrize(
        ("argv", "setting"),
        [
            (["--stop-timeout", "-1", "engine"], "--stop-timeout"),
            (["--stop-timeout", "nan", "engine"], "--stop-timeout"),
            (["--stop-repeat", "0", "engine"], "--stop-repeat"),
            (["--stop-signal", "BOGUS", "engine"], "--stop-signal"),
            (["--signal-rewrite", "TERM", "engine"], "--signal-rewrite"),
            (["--signal-rewrite", "TERM:NOPE", "engine"], "--signal-rewrite"),
            (["--restart", "sometimes", "engine"], "--restart"),
            (["--port", "70000", "engine"], "--port"),
            (["--success-codes", "300", "engine"], "--success-codes"),
            (["--log-format", "xml", "engine"], "--log-format"),
            (["--subreaper", "maybe", "engine"], "--subreaper"),
        ],
    )
    def test_bad_values_name_the_setting_and_exit_78(self, argv: list[str], setting: str) -> None:
        """A bad value is a configuration error naming the flag and what is allowed."""
        with pytest.raises(SettingError) as err:
            parse(argv, {})
        assert err.value.code == exit_codes.CONFIG
        assert str(err.value).startswith(setting)
        assert "expected" in str(err.value)
        assert "\n" not in str(err.value)

    def test_rewrite_table_and_drop(self) -> None:
        inv = parse(["--signal-rewrite", "TERM:INT", "--signal-rewrite", "HUP:0", "x"], {})
        assert inv.config.signal_rewrite == {signal.SIGTERM: signal.SIGINT, signal.SIGHUP: 0}

    def test_success_codes(self) -> None:
        assert parse(["--success-codes", "143, 130", "x"], {}).config.success_codes == {143, 130}


class TestEnvironment:
    def test_environment_sets_values(self) -> None:
        env = {
            "BOTS_RUNTIME_STOP_SIGNAL": "INT",
            "BOTS_RUNTIME_CHILD_LOGS": "raw",
            "BOTS_RUNTIME_LOG_FORMAT": "console",
            "BOTS_RUNTIME_SIGNAL_REWRITE": "TERM:INT,USR1:0",
            "BOTS_RUNTIME_SUBREAPER": "false",
            "BOTS_CONFIG_DIR": "/data/config",
        }
        cfg = parse(["x"], env).config
        assert cfg.stop_signal is signal.SIGINT
        assert cfg.child_logs is ChildLogs.RAW
        assert cfg.log_format is LogFormat.CONSOLE
        assert cfg.signal_rewrite == {signal.SIGTERM: signal.SIGINT, signal.SIGUSR1: 0}
        assert cfg.subreaper is False
        assert cfg.bots_config == "/data/config"

    def test_flag_wins_over_environment(self) -> None:
        cfg = parse(["--port", "1234", "x"], {"BOTS_RUNTIME_PORT": "999"}).config
        assert cfg.port == 1234

    def test_bad_environment_value_names_the_variable(self) -> None:
        with pytest.raises(SettingError) as err:
            parse(["x"], {"BOTS_RUNTIME_STOP_TIMEOUT": "soon"})
        assert "BOTS_RUNTIME_STOP_TIMEOUT" in str(err.value)
        assert err.value.code == exit_codes.CONFIG

    def test_config_is_frozen(self) -> None:
        cfg = parse(["x"], {}).config
        with pytest.raises(AttributeError):
            cfg.port = 1  # type: ignore[misc]


def test_help_lists_every_setting_with_variable_and_default() -> None:
    text = config.help_text("1.2.3")
    for setting in config.SETTINGS:
        assert setting.flag in text
        assert setting.env_name in text
    assert "default" in text


def test_readme_options_table_lists_every_setting() -> None:
    """Each setting has its row in the README's options table, with its variable."""
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    rows = [line for line in readme.splitlines() if line.startswith("| `--")]
    for setting in config.SETTINGS:
        row = next(
            (r for r in rows if r.startswith((f"| `{setting.flag} ", f"| `{setting.flag}`"))), None
        )
        assert row is not None, f"README has no row for {setting.flag}"
        assert setting.env_name in row, f"README's {setting.flag} row lacks {setting.env_name}"


def test_abort_signal_and_full_output_settings() -> None:
    cfg = parse(["--abort-signal", "none", "--child-logs-full", "drop", "x"], {}).config
    assert cfg.abort_signal == 0
    assert cfg.options().child_logs_full is FullOutput.DROP
    cfg = parse(["x"], {"BOTS_RUNTIME_ABORT_SIGNAL": "int"}).config
    assert cfg.abort_signal == signal.SIGINT
    with pytest.raises(SettingError, match="BOTS_RUNTIME_CHILD_LOGS_FULL"):
        parse(["x"], {"BOTS_RUNTIME_CHILD_LOGS_FULL": "sometimes"})
