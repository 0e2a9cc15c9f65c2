from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.host_runner import HubHttp

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class HostProcess:
    """`python -m durable_ext start` as a real child process."""

    def __init__(self, script_root: Path | None, port: int, cwd: Path, log: Path) -> None:
        self.script_root = script_root
        self.port = port
        self.cwd = cwd
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> HostProcess:
        args = [sys.executable, "-m", "durable_ext", "start", "--port", str(self.port)]
        if self.script_root is not None:
            args += ["--script-root", str(self.script_root)]
        env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1"}
        with open(self.log, "ab") as out:
            self.proc = subprocess.Popen(args, cwd=self.cwd, env=env, stdout=out, stderr=subprocess.STDOUT)
        runner = self.http_client()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"host exited with {self.proc.returncode}:\n{self.output()}")
            try:
                if runner.http("GET", "/admin/host/status")[0] == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"host did not start:\n{self.output()}")

    def http_client(self) -> HubHttp:
        return HubHttp(self.origin)

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=10)

    def terminate(self) -> int:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def host_process_factory(tmp_path: Path) -> Iterator[type[HostProcess]]:
    started: list[HostProcess] = []

    class Factory(HostProcess):
        def start(self) -> HostProcess:
            started.append(self)
            return super().start()

    yield Factory
    for proc in started:
        if proc.proc is not None and proc.proc.poll() is None:
            proc.proc.kill()
            proc.proc.wait(timeout=10)
