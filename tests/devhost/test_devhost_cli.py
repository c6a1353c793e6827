"""`python -m devhost` as a process: local.settings.json, startup log, clean shutdown on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import requests

from devtools.azurite import free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent


class Running:
    def __init__(self, args: list[str], cwd: Path, env: dict[str, str]):
        self.lines: list[str] = []
        self.process = subprocess.Popen(
            [sys.executable, "-m", "devhost", *args],
            cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_for(self, text: str, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.output:
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"{text!r} not seen; output:\n{self.output}")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()


def _setup(tmp_path: Path, connection_string: str, names: dict[str, str], host_json: Path) -> dict[str, str]:
    (tmp_path / "local.settings.json").write_text(
        json.dumps({"IsEncrypted": False, "Values": {"AzureWebJobsStorage": connection_string, **names}})
    )
    (tmp_path / "host.json").write_text(host_json.read_text())
    env = {k: v for k, v in os.environ.items() if k not in names and k != "AzureWebJobsStorage"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), str(HERE)])
    env["AzureFunctionsWebHost__hostid"] = f"cli-{names['SAMPLE_CONTAINER']}"
    return env


def test_sigterm_finishes_in_flight_and_releases_the_rest(tmp_path, connection_string, names, host_json, probe):
    env = _setup(tmp_path, connection_string, names, host_json)
    port = free_port()
    running = Running(["--app", "sample_app:app", "--port", str(port), "--drain-timeout", "3"], tmp_path, env)
    try:
        running.wait_for("Host started")
        assert "Functions:" in running.output and f"echo: [GET,POST] http://127.0.0.1:{port}/api/items/{{item_id}}" in running.output
        assert requests.get(f"http://127.0.0.1:{port}/api/items/5", timeout=10).json()["item_id"] == "5"

        slow = names["SAMPLE_SLOW_QUEUE"]
        probe.send(slow, json.dumps({"id": "quick", "seconds": 1.5}))
        probe.send(slow, json.dumps({"id": "stuck", "seconds": 60}))
        deadline = time.monotonic() + 10
        while probe.raw_messages(slow) and time.monotonic() < deadline:  # both received (invisible)
            time.sleep(0.05)
        assert probe.raw_messages(slow) == []
        time.sleep(0.3)
        running.process.send_signal(signal.SIGTERM)
        assert running.process.wait(timeout=20) == 0
    finally:
        running.kill()
    running._reader.join(5)
    assert "Received SIGTERM" in running.output and "Host stopped." in running.output
    # the in-flight message finished during the drain: output written, message deleted
    assert probe.messages(names["SAMPLE_DONE_QUEUE"]) == ["quick"]
    # the one that overran the drain time is visible again right away, not lost
    left = probe.raw_messages(slow)
    assert [json.loads(__import__("base64").b64decode(m.content))["id"] for m in left] == ["stuck"]
    assert left[0].dequeue_count == 1


def test_local_settings_do_not_override_environment(tmp_path, connection_string, names, host_json, probe):
    env = _setup(tmp_path, connection_string, names, host_json)
    env["SAMPLE_HTTP_QUEUE"] = names["SAMPLE_HTTP_QUEUE"] + "-env"  # the environment wins
    port = free_port()
    running = Running(["--app", "sample_app:app", "--port", str(port)], tmp_path, env)
    try:
        running.wait_for("Host started")
        assert requests.post(f"http://127.0.0.1:{port}/api/items/1", data=b"m", timeout=10).status_code == 200
        running.process.send_signal(signal.SIGINT)
        assert running.process.wait(timeout=20) == 0
    finally:
        running.kill()
    assert probe.messages(names["SAMPLE_HTTP_QUEUE"] + "-env") == ["m"]
    assert probe.messages(names["SAMPLE_HTTP_QUEUE"]) == []


def test_startup_error_exits_nonzero_with_message(tmp_path, connection_string, names, host_json):
    del names["SAMPLE_IN_QUEUE"]
    env = _setup(tmp_path, connection_string, names, host_json)
    result = subprocess.run(
        [sys.executable, "-m", "devhost", "--app", "sample_app:app", "--port", str(free_port())],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 1
    assert "SAMPLE_IN_QUEUE" in result.stdout and "relay" in result.stdout
