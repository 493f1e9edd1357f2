"""The catalogue turns each Bots service into a spec; the user's flags win over its defaults."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from bots_runtime import cli, config
from bots_runtime.bots import catalogue, programs
from bots_runtime.config import SettingError
from bots_runtime.core.spec import RestartPolicy, ServiceSpec, StopStep
from bots_runtime.web.probes import HttpProbe, PathExistsProbe, TcpProbe, XmlRpcProbe
from tests.bots.kit import ROOT, VENV_BIN, BotsDir, run_cli

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.bots


def spec_for(bots_dir: BotsDir, argv: list[str], **env: str) -> ServiceSpec:
    return cli.build_spec(config.parse(argv, bots_dir.env(**env)))


def catalogue_spec(name: str, environ: dict[str, str], executable: str) -> ServiceSpec:
    """The catalogue's defaults for `name`, as if the runtime ran from `executable`."""
    return catalogue.service_spec(
        name,
        (),
        environ,
        bots_config=environ["BOTS_CONFIG_DIR"],
        health_port=None,
        executable=executable,
    )


class TestCommand:
    def test_argv_and_path(self, bots_dir: BotsDir) -> None:
        """argv is the venv's program with -c<absolute dir, no slash>; PATH starts with its dir."""
        spec = spec_for(bots_dir, ["engine"], BOTS_CONFIG_DIR=f"{bots_dir.config}/")
        assert spec.argv == (str(VENV_BIN / "bots-engine"), f"-c{bots_dir.config}")
        assert spec.env["PATH"].split(":")[0] == str(VENV_BIN)
        assert spec.env["BOTS_CONFIG_DIR"] == str(bots_dir.config)

    def test_webserver_path_has_locking_engine_first(self, bots_dir: BotsDir) -> None:
        """The webserver's PATH finds the locking bots-engine shim, then the Bots programs."""
        spec = spec_for(bots_dir, ["webserver"])
        first, second = spec.env["PATH"].split(":")[:2]
        assert (first, second) == (str(catalogue.SHIMS), str(VENV_BIN))
        assert spec.env["BOTS_ENGINE_PROGRAM"] == str(VENV_BIN / "bots-engine")
        assert spec.env["BOTS_ENGINE_LOCK"] == str(bots_dir.botssys / ".bots-engine.lock")

    def test_child_args_follow(self, bots_dir: BotsDir) -> None:
        """Arguments after `--` are passed to the Bots program after -c."""
        spec = spec_for(bots_dir, ["engine", "--", "--new", "myroute"])
        assert spec.argv[1:] == (f"-c{bots_dir.config}", "--new", "myroute")

    def test_runtime_settings_not_passed(self, bots_dir: BotsDir) -> None:
        """BOTS_RUNTIME_* variables stay with the runtime; BOTS_DB_* reach Bots."""
        spec = spec_for(bots_dir, ["webserver"], BOTS_RUNTIME_LOG_LEVEL="debug", BOTS_DB_NAME="x")
        assert "BOTS_RUNTIME_LOG_LEVEL" not in spec.env
        assert spec.env["BOTS_DB_NAME"] == "x"

    def test_program_found_on_path(self, bots_dir: BotsDir, tmp_path: Path) -> None:
        """Without a Bots program next to the interpreter, PATH is searched."""
        environ = bots_dir.env(PATH=f"{VENV_BIN}:/usr/bin")
        spec = catalogue_spec("webserver", environ, str(tmp_path / "python"))
        assert spec.argv[0] == str(VENV_BIN / "bots-webserver")

    def test_program_missing(self, bots_dir: BotsDir, tmp_path: Path) -> None:
        """No Bots program anywhere: exit 127 with a hint to install the extra."""
        with pytest.raises(SettingError, match=r"bots-webserver: program not found") as err:
            catalogue_spec("webserver", bots_dir.env(PATH="/usr/bin"), str(tmp_path / "python"))
        assert err.value.code == 127


class TestWebserver:
    def test_defaults(self, bots_dir: BotsDir) -> None:
        """SIGINT to the child only after a 5 s drain, SIGKILL at 20 s, restart on failure."""
        spec = spec_for(bots_dir, ["webserver"])
        assert spec.stop.steps == (StopStep(0.0, signal.SIGINT),)
        assert (spec.stop.timeout, spec.stop.drain_delay, spec.stop.to_group) == (20.0, 5.0, False)
        assert spec.stop.leftover_signal == signal.SIGINT
        assert spec.restart.policy is RestartPolicy.ON_FAILURE
        assert spec.ports == {"web": bots_dir.web_port}
        assert not spec.after_run

    def test_checks(self, bots_dir: BotsDir) -> None:
        """Readiness: GET / on the Bots port answers 200, storage, and the database."""
        spec = spec_for(bots_dir, ["webserver"])
        names = [c.name for c in spec.checks]
        assert names == ["web", "botssys-writable", "botssys-free-space", "database"]
        web = spec.checks[0].probe
        assert isinstance(web, HttpProbe)
        assert web.url == f"http://127.0.0.1:{bots_dir.web_port}/"
        assert web.statuses == (200, 200)

    def test_user_flags_win(self, bots_dir: BotsDir) -> None:
        """--stop-signal, --stop-timeout, --drain-delay and --restart override the defaults."""
        spec = spec_for(
            bots_dir,
            [
                "--stop-signal",
                "TERM",
                "--stop-timeout",
                "7",
                "--drain-delay",
                "0",
                "--restart",
                "always",
                "webserver",
            ],
        )
        assert spec.stop.steps == (StopStep(0.0, signal.SIGTERM),)
        assert (spec.stop.timeout, spec.stop.drain_delay) == (7.0, 0.0)
        assert spec.restart.policy is RestartPolicy.ALWAYS

    def test_health_port_clash(self, bots_dir: BotsDir) -> None:
        """The Bots web port equal to the runtime's health port is refused, naming both."""
        with pytest.raises(SettingError, match=r"\[webserver\] port .* health port"):
            spec_for(bots_dir, ["--port", str(bots_dir.web_port), "webserver"])

    def test_same_ports_refused(self, bots_dir: BotsDir) -> None:
        """Two Bots services on one port would make the engine exit 3 or a server fail."""
        bots_dir.set("settings", "port", str(bots_dir.web_port))
        with pytest.raises(SettingError, match=r"\[webserver\] port = .* same as \[settings\]"):
            spec_for(bots_dir, ["webserver"])


class TestWebserverTls:
    def test_tls_uses_tcp_check(self, bots_dir: BotsDir) -> None:
        """With both TLS files set, the web check is a TCP connect (Bots serves https)."""
        for key in ("ssl_certificate", "ssl_private_key"):
            path = bots_dir.root / f"{key}.pem"
            path.write_text("x")
            bots_dir.set("webserver", key, str(path))
        spec = spec_for(bots_dir, ["webserver"])
        assert spec.checks[0].probe == TcpProbe("127.0.0.1", bots_dir.web_port)

    def test_missing_tls_file(self, bots_dir: BotsDir) -> None:
        """A configured certificate that does not exist names the key and the file."""
        bots_dir.set("webserver", "ssl_certificate", str(bots_dir.root / "nope.pem"))
        bots_dir.set("webserver", "ssl_private_key", str(bots_dir.root / "nope.key"))
        with pytest.raises(SettingError, match=r"\[webserver\] ssl_certificate = .*not found"):
            spec_for(bots_dir, ["webserver"])


class TestJobqueue:
    def test_refused_when_disabled(self, bots_dir: BotsDir) -> None:
        """With [jobqueue] enabled=False, the runtime refuses (Bots would exit 1)."""
        with pytest.raises(SettingError, match=r"\[jobqueue\] enabled must be True"):
            spec_for(bots_dir, ["jobqueueserver"])

    def test_defaults(self, bots_dir: BotsDir) -> None:
        """SIGINT, a second SIGINT 2 s later, SIGKILL at 10 s; readiness by an XML-RPC Fault."""
        bots_dir.enable_jobqueue()
        spec = spec_for(bots_dir, ["jobqueueserver"])
        assert spec.stop.steps == (StopStep(0.0, signal.SIGINT), StopStep(2.0, signal.SIGINT))
        assert spec.stop.timeout == 10.0
        assert spec.restart.policy is RestartPolicy.ON_FAILURE
        (check,) = spec.checks
        assert isinstance(check.probe, XmlRpcProbe)
        assert check.probe.url == f"http://127.0.0.1:{bots_dir.jobqueue_port}/"
        assert check.probe.method not in {"getjob", "clearjobq", "addjob"}


class TestDirmonitor:
    def test_checks_per_section(self, bots_dir: BotsDir) -> None:
        """One path-exists readiness check per [dirmonitorN] section."""
        bots_dir.enable_jobqueue()
        for n in (1, 2):
            bots_dir.set(f"dirmonitor{n}", "path", str(bots_dir.root / f"in{n}"))
            bots_dir.set(f"dirmonitor{n}", "route", "")
        spec = spec_for(bots_dir, ["dirmonitor"])
        probes = [c.probe for c in spec.checks]
        assert probes == [
            PathExistsProbe(str(bots_dir.root / "in1")),
            PathExistsProbe(str(bots_dir.root / "in2")),
        ]
        assert spec.stop.steps == (StopStep(0.0, signal.SIGINT),)
        assert spec.restart.policy is RestartPolicy.ON_FAILURE

    @pytest.mark.parametrize("missing", ["path", "route"])
    def test_section_needs_path_and_route(self, bots_dir: BotsDir, missing: str) -> None:
        """A section without path or route names bots.ini and the section."""
        bots_dir.enable_jobqueue()
        values = {"path": str(bots_dir.root), "route": "r"}
        del values[missing]
        for key, value in values.items():
            bots_dir.set("dirmonitor7", key, value)
        with pytest.raises(SettingError, match=rf"bots\.ini: \[dirmonitor7\] has no {missing}"):
            spec_for(bots_dir, ["dirmonitor"])

    def test_nothing_to_watch(self, bots_dir: BotsDir) -> None:
        """No [dirmonitorN] section: refused (Bots would log 'Nothing to watch!' and exit 0)."""
        bots_dir.enable_jobqueue()
        with pytest.raises(SettingError, match="no \\[dirmonitorN\\] section"):
            spec_for(bots_dir, ["dirmonitor"])

    def test_needs_jobqueue(self, bots_dir: BotsDir) -> None:
        """bots-dirmonitor also needs the jobqueue enabled."""
        bots_dir.set("dirmonitor1", "path", str(bots_dir.root))
        bots_dir.set("dirmonitor1", "route", "")
        with pytest.raises(SettingError, match="enabled must be True for bots-dirmonitor"):
            spec_for(bots_dir, ["dirmonitor"])


class TestEngine:
    def test_defaults(self, bots_dir: BotsDir) -> None:
        """Never restarted, locked, SIGINT 5 s before the deadline every 2 s, SIGKILL at 25 s."""
        spec = spec_for(bots_dir, ["engine"])
        assert not spec.after_run
        assert spec.restart.policy is RestartPolicy.NEVER
        assert spec.stop.steps == (StopStep(5.0, signal.SIGINT, repeat=2.0, before_deadline=True),)
        assert spec.stop.steps[0].offset(spec.stop.timeout) == 20.0
        assert spec.stop.timeout == 25.0
        assert spec.lock_path == str(bots_dir.botssys / ".bots-engine.lock")
        assert set(spec.exit_meanings) == {0, 1, 2, 3}
        assert spec.ports == {"engine-lock": bots_dir.engine_port}

    def test_stop_timeout_moves_first_sigint(self, bots_dir: BotsDir) -> None:
        """--stop-timeout 60 moves the first SIGINT to 55 s (the deadline minus the margin)."""
        spec = spec_for(bots_dir, ["--stop-timeout", "60", "engine"])
        assert spec.stop.schedule() == [(55.0, signal.SIGINT), (57.0, signal.SIGINT), (59.0, 2)]
        assert spec.stop.timeout == 60.0

    def test_short_timeout_signals_at_once(self, bots_dir: BotsDir) -> None:
        """A timeout under the margin sends SIGINT at once."""
        spec = spec_for(bots_dir, ["--stop-timeout", "3", "engine"])
        assert spec.stop.schedule() == [(0.0, signal.SIGINT), (2.0, signal.SIGINT)]

    def test_success_codes_added(self, bots_dir: BotsDir) -> None:
        """--success-codes apply to Bots services as to any command."""
        spec = spec_for(bots_dir, ["--success-codes", "2", "engine"])
        assert spec.success_codes == frozenset({2})


class TestShell:
    def test_argv(self, bots_dir: BotsDir) -> None:
        """bash (present on this machine) with the user's arguments."""
        environ = bots_dir.env()
        assert catalogue.shell_argv(["-c", "echo hi"], environ) == ["/bin/bash", "-c", "echo hi"]

    def test_env(self, bots_dir: BotsDir) -> None:
        """The shell gets the normalised BOTS_CONFIG_DIR and the Bots programs on PATH."""
        environ = bots_dir.env(BOTS_CONFIG_DIR=f"{bots_dir.config}/")
        env = catalogue.shell_env(environ, bots_config=environ["BOTS_CONFIG_DIR"])
        assert env["BOTS_CONFIG_DIR"] == str(bots_dir.config)
        assert env["PATH"].startswith(f"{VENV_BIN}:")

    def test_engine_runs_from_shell(self, bots_dir: BotsDir) -> None:
        """`bots-engine -c$BOTS_CONFIG_DIR` works inside `bots-runtime shell`."""
        done = run_cli(
            ["shell", "--", "-c", 'bots-engine -c"$BOTS_CONFIG_DIR"; echo "rc=$?"'],
            bots_dir.env(BOTS_CONFIG_DIR=f"{bots_dir.config}/"),
        )
        assert done.stdout.strip().endswith("rc=0"), done.stdout + done.stderr


class TestCheckCommand:
    def test_prints_plan(self, bots_dir: BotsDir) -> None:
        """`check webserver` prints command, stop steps, checks and ports; exit 0."""
        done = run_cli(["check", "webserver"], bots_dir.env())
        assert done.returncode == 0, done.stderr
        assert f"-c{bots_dir.config}" in done.stdout
        assert "SIGINT at 0s" in done.stdout
        assert f"port: web {bots_dir.web_port}" in done.stdout
        assert "check: database" in done.stdout

    def test_refuses_disabled_jobqueue(self, bots_dir: BotsDir) -> None:
        """`check jobqueueserver` with the jobqueue disabled: one line, exit 78."""
        done = run_cli(["check", "jobqueueserver"], bots_dir.env())
        assert done.returncode == 78
        assert len(done.stderr.strip().splitlines()) == 1
        assert "[jobqueue] enabled" in done.stderr


class TestInterpreter:
    def test_shebang_python(self, tmp_path: Path) -> None:
        """A `#!/abs/python3` program is evaluated with that interpreter."""
        program = tmp_path / "bots-engine"
        program.write_text(f"#!{sys.executable}\nprint()\n")
        assert programs.interpreter(str(program), "/fallback") == sys.executable

    @pytest.mark.parametrize(
        "first",
        ["#!/bin/sh\n", "#!/usr/bin/env python3\n", "no shebang\n", "#!/nonexistent/python\n"],
    )
    def test_other_first_lines_fall_back(self, tmp_path: Path, first: str) -> None:
        """pip's `#!/bin/sh` wrapper, env, or no shebang: the runtime's own Python is used."""
        program = tmp_path / "bots-engine"
        program.write_text(first + "exec something\n")
        assert programs.interpreter(str(program), "/fallback") == "/fallback"


class TestCheckNormalises:
    @pytest.mark.parametrize(
        "spelling", ["{root}/config/", "{root}/./config//", "config", "config/"]
    )
    def test_config_dir_spellings(self, bots_dir: BotsDir, spelling: str) -> None:
        """Through the CLI, any spelling of the directory reaches Bots as -c<absolute, no slash>."""
        env = bots_dir.env(
            BOTS_CONFIG_DIR=spelling.format(root=bots_dir.root), PYTHONPATH=str(ROOT)
        )
        done = subprocess.run(
            [sys.executable, "-m", "bots_runtime", "--port", "0", "check", "engine"],
            cwd=bots_dir.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert f"command: {VENV_BIN}/bots-engine -c{bots_dir.config}\n" in done.stdout


def test_every_service_aborts_with_sigint() -> None:
    """A second stop signal sends SIGINT, the one signal every Bots program cleans up on."""
    rules = catalogue.RULES
    assert {name: rule.stop.abort_signal for name, rule in rules.items()} == dict.fromkeys(
        rules, signal.SIGINT
    )
