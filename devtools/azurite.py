"""Start and stop a real Azurite (blob, queue, table) for local runs and tests.

Azurite comes from the project's package.json (`npm ci` puts it in node_modules/.bin). Tests start one
per session on free ports with its data in a temporary folder; the run command starts one on the
default ports with its data under `.azurite/`.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ACCOUNT = "devstoreaccount1"
# Azurite's well-known development key (public, documented by Microsoft; not a secret).
KEY = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="


@dataclass(frozen=True)
class Endpoints:
    blob_port: int
    queue_port: int
    table_port: int
    host: str = "127.0.0.1"

    @property
    def connection_string(self) -> str:
        return (
            f"DefaultEndpointsProtocol=http;AccountName={ACCOUNT};AccountKey={KEY};"
            f"BlobEndpoint=http://{self.host}:{self.blob_port}/{ACCOUNT};"
            f"QueueEndpoint=http://{self.host}:{self.queue_port}/{ACCOUNT};"
            f"TableEndpoint=http://{self.host}:{self.table_port}/{ACCOUNT};"
        )


DEFAULT_ENDPOINTS = Endpoints(10000, 10001, 10002)


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets stay bound until every port is chosen, so the OS cannot hand
    out the same port twice (three separate calls can, and Azurite then fails to start)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def azurite_binary() -> str:
    """The Azurite command; raises FileNotFoundError saying what to install when it cannot run."""
    if shutil.which("node") is None:
        raise FileNotFoundError(
            "Azurite needs Node.js, and `node` is not on PATH: install Node.js (and run `npm ci` in the "
            "project folder), or run only the tests that need no emulator: pytest -m 'not azurite'."
        )
    local = ROOT / "node_modules" / ".bin" / "azurite"
    if local.exists():
        return str(local)
    found = shutil.which("azurite")
    if found:
        return found
    raise FileNotFoundError(
        "Azurite is not installed: run `npm ci` in the project folder (it is pinned in package.json)."
    )


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, port)) == 0


def is_running(endpoints: Endpoints = DEFAULT_ENDPOINTS) -> bool:
    return all(
        _port_open(endpoints.host, p)
        for p in (endpoints.blob_port, endpoints.queue_port, endpoints.table_port)
    )


class Azurite:
    """A running Azurite process; use as a context manager or call start()/stop()."""

    def __init__(self, data_dir: Path, endpoints: Endpoints | None = None, log: Path | None = None):
        self.data_dir = Path(data_dir)
        self.endpoints = endpoints or Endpoints(*free_ports(3))
        self.log = log or self.data_dir / "azurite.log"
        self._process: subprocess.Popen | None = None

    def start(self, timeout: float = 30.0) -> "Azurite":
        self.data_dir.mkdir(parents=True, exist_ok=True)
        e = self.endpoints
        command = [
            azurite_binary(),
            "--silent",
            "--skipApiVersionCheck",
            "--loose",
            "--location", str(self.data_dir),
            "--blobHost", e.host, "--blobPort", str(e.blob_port),
            "--queueHost", e.host, "--queuePort", str(e.queue_port),
            "--tableHost", e.host, "--tablePort", str(e.table_port),
        ]
        log = open(self.log, "ab")
        self._process = subprocess.Popen(
            command, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not is_running(e):
            if self._process.poll() is not None:
                raise RuntimeError(f"Azurite exited at start; see {self.log}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"Azurite did not open its ports within {timeout:.0f} s; see {self.log}")
            time.sleep(0.1)
        return self

    def stop(self) -> None:
        if self._process is None:
            return
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None

    def __enter__(self) -> "Azurite":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


def environment(endpoints: Endpoints) -> dict[str, str]:
    """App settings that point the app at this Azurite."""
    return {"AzureWebJobsStorage": endpoints.connection_string}

