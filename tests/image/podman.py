"""A small podman driver for the image tests: private containers.conf, tracked cleanup.

podman 4.3 quirks handled here (container/podman-env.sh and the shared notes): a private
CONTAINERS_CONF (runc, cgroupfs, file events, ulimits under the hard limit); `rm -f a b` with
one missing name removes nothing, so each name is removed on its own with `-i`; output is
captured before it is searched; scheduled healthchecks never fire without systemd, so tests
call `podman healthcheck run` themselves.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
CONTAINER_DIR = REPO / "container"
IMAGE = os.environ.get("BOTS_IMAGE", "localhost/bots-runtime:test")
BASE_IMAGE = os.environ.get("BOTS_BASE_IMAGE", "localhost/bots-runtime-base:bookworm")


def podman_env() -> dict[str, str]:
    """The environment with CONTAINERS_CONF from container/podman-env.sh."""
    done = subprocess.run(
        [
            "bash",
            "-c",
            '. "$1" && printf %s "$CONTAINERS_CONF"',
            "_",
            str(CONTAINER_DIR / "podman-env.sh"),
        ],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return dict(os.environ, CONTAINERS_CONF=done.stdout)


@dataclass
class Podman:
    """Runs podman with the private configuration; remembers what to remove."""

    env: dict[str, str]
    containers: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    secrets: list[str] = field(default_factory=list)
    prefix: str = field(default_factory=lambda: "bots-test-" + uuid.uuid4().hex[:8])

    def run(
        self, *args: str, timeout: float = 120, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        """`podman ARGS`; stderr without podman's systemd noise."""
        done = subprocess.run(
            ["podman", *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        done.stderr = "\n".join(line for line in done.stderr.splitlines() if "systemd" not in line)
        if check and done.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} -> {done.returncode}: {done.stderr}")
        return done

    def name(self, what: str) -> str:
        """A unique name for a container or volume of this test run."""
        return f"{self.prefix}-{what}"

    def volume(self, what: str = "data") -> str:
        """A new named volume, removed at the end."""
        name = self.name(what)
        self.run("volume", "create", name)
        self.volumes.append(name)
        return name

    def secret(self, what: str, value: str) -> str:
        """A new podman secret holding `value` (given on stdin), removed at the end."""
        name = self.name(what)
        done = subprocess.run(
            ["podman", "secret", "create", name, "-"],
            env=self.env,
            input=value,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise AssertionError(f"podman secret create -> {done.returncode}: {done.stderr}")
        self.secrets.append(name)
        return name

    def start(self, what: str, *args: str) -> str:
        """`podman run -d --name ...`; returns the name, removed at the end."""
        name = self.name(what)
        self.containers.append(name)
        self.run("run", "-d", "--name", name, *args)
        return name

    def once(self, what: str, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        """`podman run` to completion (not --rm: the exit code and logs stay readable)."""
        name = self.name(what)
        self.containers.append(name)
        return self.run("run", "--name", name, *args, timeout=timeout, check=False)

    def inspect(self, name: str) -> dict[str, Any]:
        """`podman inspect NAME` as a dict."""
        data: list[dict[str, Any]] = json.loads(self.run("inspect", name).stdout)
        return data[0]

    def host_port(self, name: str, port: int) -> int:
        """The 127.0.0.1 host port published for a container port."""
        out = self.run("port", name, f"{port}/tcp").stdout.strip().splitlines()[0]
        return int(out.rsplit(":", 1)[1])

    def logs(self, name: str) -> str:
        """Everything the container printed (stdout and stderr)."""
        done = self.run("logs", name, check=False)
        return done.stdout + done.stderr

    def cleanup(self) -> None:
        """Remove every container, volume and secret this run made, one name per call."""
        for name in reversed(self.containers):
            self.run("rm", "-f", "-i", "-t", "0", name, check=False)
        for name in reversed(self.volumes):
            self.run("volume", "rm", "-f", name, check=False)
        for name in reversed(self.secrets):
            self.run("secret", "rm", name, check=False)


def wait_for(condition: Any, deadline_s: float, what: str, pause: float = 0.2) -> Any:
    """Poll `condition()` until it returns something truthy, or fail after `deadline_s`."""
    end = time.monotonic() + deadline_s
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > end:
            raise AssertionError(f"timed out after {deadline_s:g}s waiting for {what}")
        time.sleep(pause)


def have_podman() -> bool:
    """podman is installed."""
    return shutil.which("podman") is not None
