"""The catalogue turns each Bots service into a spec; the user's flags win over its defaults."""

from __future__ import annotations

import signal
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest

from bots_runtime import config, overrides
from bots_runtime.bots import catalogue, initdb, programs
from bots_runtime.bots import generation as generations
from bots_runtime.config import SettingError
from bots_runtime.core.spec import RestartPolicy, ServiceSpec, StopStep, StopTarget
from bots_runtime.web.probes import HttpProbe, PathExistsProbe, TcpProbe, XmlRpcProbe
from tests.bots.kit import (
    BOTS_BIN,
    BOTS_PYTHON,
    ROOT,
    BotsDir,
    StartRuntime,
    generation,
    run_cli,
)

if TYPE_CHECKING:
    from pathlib import Path

pytestmark = pytest.mark.bots


def spec_for(bots_dir: BotsDir, argv: list[str], **env: str) -> ServiceSpec:
    """What `bots-runtime ARGV` would run, as if the runtime ran from the Bots venv."""
    invocation = config.parse(argv, bots_dir.env(**env))
    cfg = invocation.config
    defaults = catalogue.service_spec(
        invocation.command,
        invocation.args,
        invocation.environ,
        bots_config=cfg.bots_config,
        health_port=cfg.options().port or None,
        pushgateway=cfg.pushgateway,
        executable=BOTS_PYTHON,
    )
    return overrides.apply(defaults, cfg)


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
        assert spec.argv == (str(BOTS_BIN / "bots-engine"), f"-c{bots_dir.config}")
        assert spec.env["PATH"].split(":")[0] == str(BOTS_BIN)
        assert spec.env["BOTS_CONFIG_DIR"] == str(bots_dir.config)

    def test_webserver_path_has_locking_engine_first(self, bots_dir: BotsDir) -> None:
        """The webserver's PATH finds the locking bots-engine shim, then the Bots programs."""
        spec = spec_for(bots_dir, ["webserver"])
        first, second = spec.env["PATH"].split(":")[:2]
        assert (first, second) == (str(catalogue.SHIMS), str(BOTS_BIN))
        assert spec.env["BOTS_ENGINE_PROGRAM"] == str(BOTS_BIN / "bots-engine")
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
        environ = bots_dir.env(PATH=f"{BOTS_BIN}:/usr/bin")
        spec = catalogue_spec("webserver", environ, str(tmp_path / "python"))
        assert spec.argv[0] == str(BOTS_BIN / "bots-webserver")

    def test_program_missing(self, bots_dir: BotsDir, tmp_path: Path) -> None:
        """No Bots program anywhere: exit 127 with a hint to install the extra."""
        with pytest.raises(SettingError, match=r"bots-webserver: program not found") as err:
            catalogue_spec("webserver", bots_dir.env(PATH="/usr/bin"), str(tmp_path / "python"))
        assert err.value.code == 127


class TestWebserver:
    def test_defaults(self, bots_dir: BotsDir) -> None:
        """After a 5 s drain SIGINT to the child only, SIGINT to the rest of its group (GUI
        engines it waits for) 5 s before the deadline, SIGKILL at 20 s, restart on failure."""
        spec = spec_for(bots_dir, ["webserver"])
        assert spec.stop.steps == (
            StopStep(0.0, signal.SIGINT, target=StopTarget.CHILD),
            StopStep(5.0, signal.SIGINT, before_deadline=True, target=StopTarget.REST),
        )
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

    def test_jobqueue_check_when_runs_are_queued(self, bots_dir: BotsDir) -> None:
        """With [jobqueue] enabled, GUI runs go to the queue: where the queue runs them (4.0),
        readiness also checks that it answers; 3.3.1's never runs them, so no check."""
        bots_dir.enable_jobqueue()
        names = [c.name for c in spec_for(bots_dir, ["webserver"]).checks]
        assert ("jobqueue" in names) is generation().config.jobqueue_runs_jobs

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
        """The generation's SIGINTs (3.3.1: two, 2 s apart; 4.0: one, and its 143 counts as
        clean), SIGKILL at 10 s; readiness by an XML-RPC Fault."""
        bots_dir.enable_jobqueue()
        spec = spec_for(bots_dir, ["jobqueueserver"])
        rules = generation().services["jobqueueserver"]
        assert spec.stop.steps == rules.stop.steps
        assert {step.signal for step in spec.stop.steps} == {signal.SIGINT}
        assert spec.stop.timeout == 10.0
        assert spec.success_codes == rules.success_codes
        assert spec.restart.policy is RestartPolicy.ON_FAILURE
        (check,) = spec.checks
        assert isinstance(check.probe, XmlRpcProbe)
        assert check.probe.url == f"http://127.0.0.1:{bots_dir.jobqueue_port}/"
        assert check.probe.method not in {"getjob", "clearjobq", "addjob", "listjobs"}


class TestDirmonitor:
    def test_checks_per_section(self, bots_dir: BotsDir) -> None:
        """One path-exists readiness check per [dirmonitorN] section."""
        bots_dir.enable_jobqueue()
        for n in (1, 2):
            bots_dir.set(f"dirmonitor{n}", "path", str(bots_dir.root / f"in{n}"))
            bots_dir.set(f"dirmonitor{n}", "route", "")
        spec = spec_for(bots_dir, ["dirmonitor"])
        probes = [c.probe for c in spec.checks if c.name.startswith("watch-")]
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
        """No [dirmonitorN] section: 3.3.1 would log 'Nothing to watch!' and exit 0 (refused);
        4.0 also watches the routes flagged `dirmonitor` in its database (accepted)."""
        bots_dir.enable_jobqueue()
        if generation().config.dirmonitor_db_routes:
            checks = spec_for(bots_dir, ["dirmonitor"]).checks
            assert not [c for c in checks if c.name.startswith("watch-")]
        else:
            with pytest.raises(SettingError, match="no \\[dirmonitorN\\] section"):
                spec_for(bots_dir, ["dirmonitor"])

    def test_queue_needed_at_start(self, bots_dir: BotsDir) -> None:
        """4.0's dirmonitor asks the queue `isup` at start: a gate waits for its port before
        the spawn, and readiness keeps checking it; 3.3.1's has neither."""
        bots_dir.enable_jobqueue()
        bots_dir.set("dirmonitor1", "path", str(bots_dir.root))
        bots_dir.set("dirmonitor1", "route", "")
        spec = spec_for(bots_dir, ["dirmonitor"])
        queue = [c for c in spec.checks if c.name == "jobqueue"]
        if generation().config.dirmonitor_needs_jobqueue:
            (gate,) = spec.start_gates
            assert f"127.0.0.1:{bots_dir.jobqueue_port}" in gate.description
            (check,) = queue
            assert isinstance(check.probe, XmlRpcProbe)
        else:
            assert (spec.start_gates, queue) == ((), [])

    def test_needs_jobqueue(self, bots_dir: BotsDir) -> None:
        """bots-dirmonitor also needs the jobqueue enabled."""
        bots_dir.set("dirmonitor1", "path", str(bots_dir.root))
        bots_dir.set("dirmonitor1", "route", "")
        with pytest.raises(SettingError, match="enabled must be True for bots-dirmonitor"):
            spec_for(bots_dir, ["dirmonitor"])


class TestEngine:
    def test_defaults(self, bots_dir: BotsDir) -> None:
        """Never restarted, locked, SIGINT 5 s before the deadline (3.3.1: then every 2 s),
        SIGKILL at 25 s; exit codes explained."""
        spec = spec_for(bots_dir, ["engine"])
        rules = generation().services["engine"]
        assert not spec.after_run
        assert spec.restart.policy is RestartPolicy.NEVER
        assert spec.stop.steps == rules.stop.steps
        (step,) = spec.stop.steps
        assert (step.at, step.signal, step.before_deadline) == (5.0, signal.SIGINT, True)
        assert spec.stop.steps[0].offset(spec.stop.timeout) == 20.0
        assert spec.stop.timeout == 25.0
        assert spec.lock_path == str(bots_dir.botssys / ".bots-engine.lock")
        assert set(spec.exit_meanings) == {0, 1, 2, 3, 130}
        assert spec.ports == {"engine-lock": bots_dir.engine_port}

    def test_stop_timeout_moves_first_sigint(self, bots_dir: BotsDir) -> None:
        """--stop-timeout 60 moves the first SIGINT to 55 s (the deadline minus the margin)."""
        spec = spec_for(bots_dir, ["--stop-timeout", "60", "engine"])
        repeats = [57.0, 59.0] if generation().services["engine"].stop.steps[0].repeat else []
        assert spec.stop.schedule() == [(at, signal.SIGINT) for at in (55.0, *repeats)]
        assert spec.stop.timeout == 60.0

    def test_short_timeout_signals_at_once(self, bots_dir: BotsDir) -> None:
        """A timeout under the margin sends SIGINT at once."""
        spec = spec_for(bots_dir, ["--stop-timeout", "3", "engine"])
        repeats = [2.0] if generation().services["engine"].stop.steps[0].repeat else []
        assert spec.stop.schedule() == [(at, signal.SIGINT) for at in (0.0, *repeats)]

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
        """The shell gets the normalised BOTS_CONFIG_DIR, the locking bots-engine shim and
        then the Bots programs on PATH."""
        environ = bots_dir.env(BOTS_CONFIG_DIR=f"{bots_dir.config}/")
        env = catalogue.shell_env(
            environ, bots_config=environ["BOTS_CONFIG_DIR"], executable=BOTS_PYTHON
        )
        assert env["BOTS_CONFIG_DIR"] == str(bots_dir.config)
        assert env["PATH"].startswith(f"{catalogue.SHIMS}:{BOTS_BIN}:")
        assert env["BOTS_ENGINE_LOCK"] == str(bots_dir.botssys / ".bots-engine.lock")

    def test_broken_config_still_opens(self, bots_dir: BotsDir) -> None:
        """With a broken configuration the shell still gets the programs, without the shim."""
        bots_dir.ini.unlink()
        environ = bots_dir.env()
        env = catalogue.shell_env(environ, bots_config=str(bots_dir.config), executable=BOTS_PYTHON)
        assert env["PATH"].startswith(f"{BOTS_BIN}:")
        assert "BOTS_ENGINE_LOCK" not in env

    def test_engine_runs_from_shell(self, bots_dir: BotsDir) -> None:
        """`bots-engine -c$BOTS_CONFIG_DIR` works inside `bots-runtime shell`."""
        done = run_cli(
            ["shell", "--", "-c", 'bots-engine -c"$BOTS_CONFIG_DIR"; echo "rc=$?"'],
            bots_dir.env(BOTS_CONFIG_DIR=f"{bots_dir.config}/"),
        )
        assert done.stdout.strip().endswith("rc=0"), done.stdout + done.stderr

    def test_shell_run_takes_the_shared_lock(self, bots_dir: BotsDir) -> None:
        """While another run holds the shared engine lock, `bots-engine` typed in the shell is
        not started: exit 75 and one line saying so."""
        lock = str(bots_dir.botssys / ".bots-engine.lock")
        holder = subprocess.Popen(
            [
                BOTS_PYTHON,
                "-c",
                (
                    "import sys; from bots_runtime.process.lock import RunLock;"
                    f"lock = RunLock({lock!r}); lock.acquire(); print('held', flush=True);"
                    " sys.stdin.read()"
                ),
            ],
            cwd=ROOT,
            env=bots_dir.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert holder.stdout.readline().strip() == "held"
            done = run_cli(
                ["shell", "--", "-c", 'bots-engine -c"$BOTS_CONFIG_DIR"; echo "rc=$?"'],
                bots_dir.env(),
            )
        finally:
            assert holder.stdin is not None
            holder.stdin.close()
            holder.wait(10)
            assert holder.stdout is not None
            holder.stdout.close()
        assert done.stdout.strip().endswith("rc=75"), done.stdout + done.stderr
        assert "bots-engine (shell run): not started:" in done.stderr


class TestCheckCommand:
    def test_prints_plan(self, bots_dir: BotsDir) -> None:
        """`check webserver` prints command, stop steps, checks, collectors and ports; exit 0."""
        done = run_cli(["check", "webserver"], bots_dir.env())
        assert done.returncode == 0, done.stderr
        assert f"-c{bots_dir.config}" in done.stdout
        assert "SIGINT at 0s" in done.stdout
        assert f"port: web {bots_dir.web_port}" in done.stdout
        assert "check: database" in done.stdout
        assert f"collector: edi every 30s, timeout 5s: EDI gauges from sqlite {bots_dir.db}" in (
            done.stdout
        )

    def test_prints_bots_version(self, bots_dir: BotsDir) -> None:
        """`check` names the Bots version (as the Bots interpreter's own package metadata has
        it) and the generation whose rules apply, without a warning."""
        expected = subprocess.run(
            [BOTS_PYTHON, "-c", "import importlib.metadata as m; print(m.version('bots-ediint'))"],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        ).stdout.strip()
        done = run_cli(["check", "engine"], bots_dir.env())
        assert done.returncode == 0, done.stderr
        assert f"bots_version: {expected}\n" in done.stdout
        assert f"bots_generation: {generation().name}\n" in done.stdout
        assert "warning" not in done.stdout + done.stderr

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
            [BOTS_PYTHON, "-m", "bots_runtime", "--port", "0", "check", "engine"],
            cwd=bots_dir.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert f"command: {BOTS_BIN}/bots-engine -c{bots_dir.config}\n" in done.stdout


def fake_bots5(bots_dir: BotsDir, tmp_path: Path) -> dict[str, str]:
    """An environment whose `bots` is the real one under test, reporting version 5.0.0.

    Its settings.py names botssys the way the newest generation's does (`BOTSSYS`, absolute),
    as a Bots 5 derived from 4.0 would.
    """
    settings = bots_dir.config / "settings.py"
    settings.write_text(
        settings.read_text(encoding="utf-8")
        + "\nBOTSSYS = globals().get('BOTSSYS_PATH', BOTSSYS)\n",
        encoding="utf-8",
    )
    fake = tmp_path / "fake" / "bots"
    fake.mkdir(parents=True)
    real = initdb.find_bots(BOTS_PYTHON, bots_dir.env()).package
    (fake / "__init__.py").write_text(f"__path__ = [__path__[0], {str(real)!r}]\n")
    about = real / "__about__.py"
    (fake / "__about__.py").write_text(
        f"exec(compile(open({str(about)!r}).read(), {str(about)!r}, 'exec'))\n"
        "__version__ = '5.0.0'\n__version_info__ = (5, 0, 0)\n"
    )
    return bots_dir.env(PYTHONPATH=f"{fake.parent}:{ROOT}")


class TestUnknownVersion:
    def test_check_uses_newest_rules_with_one_warning(
        self, bots_dir: BotsDir, tmp_path: Path
    ) -> None:
        """A Bots 5.0.0: `check` still passes, with the newest generation's rules and one
        warning line saying so."""
        done = run_cli(["check", "engine"], fake_bots5(bots_dir, tmp_path))
        assert done.returncode == 0, done.stderr
        assert "bots_version: 5.0.0\n" in done.stdout
        assert f"bots_generation: {generations.NEWEST.name}\n" in done.stdout
        warnings = [line for line in done.stdout.splitlines() if line.startswith("warning:")]
        assert len(warnings) == 1, done.stdout
        assert "Bots version 5.0.0 is not one bots-runtime knows" in warnings[0]

    def test_engine_runs_and_warns_once(
        self, bots_dir: BotsDir, tmp_path: Path, run_runtime: StartRuntime
    ) -> None:
        """The engine under a Bots 5.0.0 runs (exit 0): one warning event, and the metric
        labels show the version."""
        runtime = run_runtime(["engine"], fake_bots5(bots_dir, tmp_path))
        assert runtime.wait(60) == 0, runtime.output()
        found = [
            r for r in runtime.records() if "is not one bots-runtime knows" in str(r.get("event"))
        ]
        assert len(found) == 1, runtime.output()
        assert found[0]["level"] == "warning"


def test_every_service_aborts_with_sigint() -> None:
    """A second stop signal sends SIGINT, the one signal every Bots program cleans up on."""
    for gen in generations.GENERATIONS:
        aborts = {name: rule.stop.abort_signal for name, rule in gen.services.items()}
        assert aborts == dict.fromkeys(gen.services, signal.SIGINT), gen.name
