"""Running the watched repository's code (a Python module, or pytest) in a contained subprocess.

Guarantees of `run_module`:
- the child is `sys.executable -P -s -m <module> ...`: the app's own interpreter and libraries, no
  current-folder or user-site entry on sys.path, so the snapshot root is the first path searched;
- it runs in its own session and process group. At the wall-clock timeout the whole group is killed
  (SIGKILL), and when the child ends, whatever it left running in its group is killed too: nothing
  the run started outlives the call (a process that leaves the group on purpose is out of reach);
- with a memory limit, RLIMIT_AS (address space) is set in the child before it execs, so it and
  every process it starts are each held to it; a child that ends with a MemoryError, ENOMEM, or a
  SIGKILL that was not the timeout's (the kernel's OOM killer) is reported `memory_exceeded`;
- its working folder, HOME and TMPDIR are the scratch folder given by the caller (see `scratch()`);
- its environment is built from an allow-list, never copied from the app's: PATH and the locale
  variables (LANG, LANGUAGE, LC_*), PYTHONPATH = the snapshot root then the caller's extra paths, a
  few fixed interpreter and native-library variables (below), and the caller's own
  DRIFTLINE_SANDBOX_* variables. No app setting or secret (AzureWebJobs*, other DRIFTLINE_*, AZURE_*,
  IDENTITY_*, MSI_*, APPSETTING_*, WEBSITE_*, connection strings) reaches the child;
- the child is reaped with `os.wait4`, and its rusage (CPU seconds, peak memory) with its wall seconds
  is counted on the caller's open meter (`shared.platform.usage`), so a step's compute includes it;
- stdout and stderr are read while the child runs and kept as bounded tails (the last
  `Limits.output_bytes` of each), so a chatty child costs bounded memory;
- where the kernel allows unprivileged namespaces (`isolation()` probes once per process), the child
  runs in its own user, PID and mount namespaces with a fresh /proc (util-linux `unshare`, a small
  `sh` as the namespace's init): it sees no other process, so it cannot read the app's secrets from
  `/proc/<pid>/environ` of the worker or the host, and when the run ends the kernel kills everything
  left in the namespace, even what left the process group. `Result.isolated` says whether it did.

Because RLIMIT_AS counts reserved address space, not resident memory, the fixed variables keep the
usual reservations small: glibc malloc arenas capped (MALLOC_ARENA_MAX), Arrow on the system
allocator (ARROW_DEFAULT_MEMORY_POOL), native thread pools (OpenMP, OpenBLAS, MKL) at
`Limits.threads`. Not provided: network or file-system isolation; without namespaces the child runs
as the app's user and can read other processes' /proc entries (a warning is logged once).
"""

from __future__ import annotations

import functools
import logging
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from shared.platform import usage
from shared.platform.errors import DriftlineError

KIB = 1024
MIB = 1024 * KIB
GIB = 1024 * MIB
VARIABLE_PREFIX = "DRIFTLINE_SANDBOX_"  # the only names a caller may add to the child's environment
LOCALE = ("LANG", "LANGUAGE", "LC_ALL", "LC_ADDRESS", "LC_COLLATE", "LC_CTYPE", "LC_IDENTIFICATION",
          "LC_MEASUREMENT", "LC_MESSAGES", "LC_MONETARY", "LC_NAME", "LC_NUMERIC", "LC_PAPER",
          "LC_TELEPHONE", "LC_TIME")
MEMORY_SIGNS = re.compile(r"^\s*(?:[\w.]+\.)?\w*MemoryError\b|\[Errno 12\]|Cannot allocate memory|std::bad_alloc",
                          re.MULTILINE)
UNSHARE_FLAGS = ("--user", "--map-root-user", "--pid", "--fork", "--mount-proc", "--kill-child")
# The namespace's init: runs the child as its process 2 (so the child keeps ordinary signal handling)
# and exits with its status (128 + N when signal N killed it).
INIT = ("/bin/sh", "-c", '"$@"; exit $?', "sh")
READ_CHUNK = 64 * KIB
DRAIN_WAIT_S = 5.0  # how long to wait for the output pipes to close once the group is killed
log = logging.getLogger(__name__)


class SandboxError(DriftlineError, ValueError):
    """The sandbox was asked for something it does not do; the message says what."""


@dataclass(frozen=True)
class Limits:
    timeout_s: float = 600.0  # wall clock, from start to kill
    memory_bytes: int | None = 2 * GIB  # RLIMIT_AS of the child (and of each process it starts); None: none
    output_bytes: int = 64 * KIB  # kept from the end of stdout, and of stderr
    threads: int = 1  # OpenMP / OpenBLAS / MKL thread pools of the child

    def __post_init__(self) -> None:
        if not self.timeout_s > 0:
            raise SandboxError(f"the sandbox timeout must be positive, not {self.timeout_s}.")
        if self.memory_bytes is not None and self.memory_bytes < 64 * MIB:
            raise SandboxError(f"the sandbox memory limit must be at least 64 MiB, not {self.memory_bytes} bytes.")
        if self.output_bytes < 1 or self.threads < 1:
            raise SandboxError("the sandbox output tail and thread count must be at least 1.")


@dataclass(frozen=True)
class Result:
    exit_code: int  # negative: killed by that signal (-9 after a timeout)
    timed_out: bool
    memory_exceeded: bool
    duration_s: float
    stdout_tail: str
    stderr_tail: str
    isolated: bool = False  # ran in its own user, PID and mount namespaces


@functools.cache
def isolation() -> tuple[str, ...]:
    """The command prefix that starts a child in fresh namespaces, or () where this machine does not
    allow them (no `unshare`, or unprivileged user namespaces disabled)."""
    unshare = shutil.which("unshare")
    if unshare is not None:
        try:
            probe = subprocess.run([unshare, *UNSHARE_FLAGS, *INIT, "true"], capture_output=True, timeout=10)
            if probe.returncode == 0:
                return (unshare, *UNSHARE_FLAGS, *INIT)
        except (OSError, subprocess.TimeoutExpired):
            pass
    log.warning("user code runs without namespaces here (no unshare, or user namespaces are disabled): it "
                "can read other processes' /proc entries, the app's environment included")
    return ()


@contextmanager
def scratch() -> Iterator[Path]:
    """A fresh private folder (mode 0700) for one run, removed with everything in it afterwards."""
    path = Path(tempfile.mkdtemp(prefix="driftline-sandbox-"))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def environment(root: Path, folder: Path, *, pythonpath: Sequence[Path] = (),
                variables: Mapping[str, str] | None = None, limits: Limits = Limits()) -> dict[str, str]:
    """The whole environment of a child run from snapshot `root` in scratch `folder`."""
    variables = dict(variables or {})
    refused = sorted(name for name in variables if not (name.startswith(VARIABLE_PREFIX) and name != VARIABLE_PREFIX))
    if refused:
        raise SandboxError(f"the sandbox passes only {VARIABLE_PREFIX}* variables to the child, not "
                           f"{', '.join(refused)}.")
    env = {name: os.environ[name] for name in ("PATH", *LOCALE) if name in os.environ}
    env.setdefault("PATH", os.defpath)
    env.setdefault("LANG", "C.UTF-8")
    threads = str(limits.threads)
    env.update({
        "PYTHONPATH": os.pathsep.join(str(path.resolve()) for path in (root, *pythonpath)),
        "HOME": str(folder),
        "TMPDIR": str(folder),
        "PYTHONDONTWRITEBYTECODE": "1",  # the snapshot stays as it was taken
        "PYTHONUNBUFFERED": "1",  # output up to a timeout's kill is not lost in a buffer
        "PYTHONUTF8": "1",
        "MALLOC_ARENA_MAX": "2",
        "ARROW_DEFAULT_MEMORY_POOL": "system",
        "OMP_NUM_THREADS": threads,
        "OPENBLAS_NUM_THREADS": threads,
        "MKL_NUM_THREADS": threads,
    })
    env.update(variables)
    return env


def run_module(module: str, args: Sequence[str], *, root: Path, folder: Path, pythonpath: Sequence[Path] = (),
               variables: Mapping[str, str] | None = None, limits: Limits = Limits()) -> Result:
    """Run `python -m module *args` from snapshot `root`, in scratch `folder`, within `limits`."""
    if not root.is_dir() or not folder.is_dir():
        raise SandboxError(f"the sandbox needs an existing snapshot folder and scratch folder, not {root} and {folder}.")
    folder = folder.resolve()
    env = environment(root, folder, pythonpath=pythonpath, variables=variables, limits=limits)
    prefix = isolation()
    started = time.monotonic()
    process = subprocess.Popen(
        [*prefix, sys.executable, "-P", "-s", "-m", module, *args],
        cwd=folder, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        start_new_session=True, preexec_fn=_limiter(limits.memory_bytes),
    )
    assert process.stdout is not None and process.stderr is not None  # PIPE
    stdout, stderr = _Tail(process.stdout, limits.output_bytes), _Tail(process.stderr, limits.output_bytes)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        _kill_group(process.pid)

    timer = threading.Timer(limits.timeout_s, expire)
    timer.daemon = True
    timer.start()
    reaped = None
    try:
        reaped = os.wait4(process.pid, 0)  # blocks until the child ends (or the timer kills its group)
    finally:
        timer.cancel()
        _kill_group(process.pid)
        if reaped is None:  # interrupted before the child ended: it is killed, reap it
            process.wait()
    _, status, rusage = reaped
    exit_code = process.returncode = os.waitstatus_to_exitcode(status)
    if prefix and exit_code > 128:  # the namespace's init reports a signal's death as 128 + N
        exit_code = 128 - exit_code
    timed_out = expired.is_set() and exit_code == -signal.SIGKILL
    duration = time.monotonic() - started
    usage.record_child(duration, rusage)
    errors = stderr.text()
    return Result(
        exit_code=exit_code,
        timed_out=timed_out,
        memory_exceeded=not timed_out and exit_code != 0 and (exit_code == -signal.SIGKILL
                                                              or bool(MEMORY_SIGNS.search(errors))),
        duration_s=round(duration, 3),
        stdout_tail=stdout.text(),
        stderr_tail=errors,
        isolated=bool(prefix),
    )


def _limiter(memory_bytes: int | None) -> Callable[[], None]:
    """The function the child runs between fork and exec: no core files, and the address-space limit."""
    cap = None
    if memory_bytes is not None:
        hard = resource.getrlimit(resource.RLIMIT_AS)[1]
        cap = memory_bytes if hard == resource.RLIM_INFINITY else min(memory_bytes, hard)

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if cap is not None:
            resource.setrlimit(resource.RLIMIT_AS, (cap, cap))

    return limit


def _kill_group(group: int) -> None:
    try:
        os.killpg(group, signal.SIGKILL)
    except ProcessLookupError:
        pass  # the group is gone already: the child ended and left nothing behind


class _Tail:
    """Reads a pipe to its end in a thread, keeping only the last `limit` bytes."""

    def __init__(self, stream: IO[bytes], limit: int):
        self._stream = stream
        self._limit = limit
        self._kept = bytearray()
        self._dropped = 0
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            while chunk := os.read(self._stream.fileno(), READ_CHUNK):
                self._kept += chunk
                excess = len(self._kept) - self._limit
                if excess > 0:
                    del self._kept[:excess]
                    self._dropped += excess
        finally:
            self._stream.close()

    def text(self) -> str:
        self._thread.join(DRAIN_WAIT_S)
        kept = bytes(self._kept).decode("utf-8", errors="replace")
        return f"[{self._dropped} earlier bytes not kept]\n{kept}" if self._dropped else kept
