"""The sandbox: timeout kills the whole process group, the memory limit holds, no app setting or
secret reaches the child, the scratch folder is its home, output is a bounded tail."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from shared.repo import pytest_plugin
from shared.repo.sandbox import (MIB, VARIABLE_PREFIX, Limits, SandboxError, environment, isolation, run_module,
                                 scratch)

SECRETS = {
    "AzureWebJobsStorage": "DefaultEndpointsProtocol=https;AccountName=prod;AccountKey=c2VjcmV0",
    "AzureWebJobsSecretStorageType": "files",
    "DRIFTLINE_GITHUB_SECRET": "github-webhook-secret",
    "DRIFTLINE_STORAGE_CONNECTION": "UseDevelopmentStorage=true",
    "DRIFTLINE_SANDBOX_MODEL": "/parent/set/this/model.skops",  # the parent's own, not the caller's: dropped
    "AZURE_CLIENT_SECRET": "azure-client-secret",
    "IDENTITY_ENDPOINT": "http://169.254.169.254/identity",
    "IDENTITY_HEADER": "identity-header-secret",
    "MSI_SECRET": "msi-secret",
    "APPSETTING_DRIFTLINE_GITHUB_SECRET": "appsetting-copy-secret",
    "WEBSITE_AUTH_ENCRYPTION_KEY": "website-key",
    "APPLICATIONINSIGHTS_CONNECTION_STRING": "InstrumentationKey=secret",
}
FORBIDDEN = ("AzureWebJobs", "DRIFTLINE_", "AZURE_", "IDENTITY_", "MSI_", "APPSETTING_", "WEBSITE_")


def module(root: Path, name: str, source: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / f"{name}.py").write_text(source)
    return root


def alive(token: str) -> bool:
    """Some process that is not a zombie has `token` on its command line. (By token, not pid: in the
    sandbox's own PID namespace the child sees other pids than the host.)"""
    for entry in Path("/proc").iterdir():
        try:
            if token.encode() in (entry / "cmdline").read_bytes().split(b"\0"):
                if (entry / "stat").read_text().rpartition(")")[2].split()[0] != "Z":
                    return True
        except (FileNotFoundError, NotADirectoryError, ProcessLookupError, PermissionError):
            continue
    return False


def test_a_timeout_kills_the_child_and_its_grandchild(tmp_path):
    token = f"grandchild-{uuid.uuid4().hex}"
    root = module(tmp_path / "repo", "sleeper", (
        "import pathlib, subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '{token}'])\n"
        "print('started', flush=True)\n"
        "time.sleep(120)\n"
    ))
    with scratch() as folder:
        started = time.monotonic()
        result = run_module("sleeper", [], root=root, folder=folder, limits=Limits(timeout_s=2))
        assert time.monotonic() - started < 15
    assert result.timed_out and result.exit_code == -9 and not result.memory_exceeded
    assert 2 <= result.duration_s < 15
    assert "started" in result.stdout_tail  # output up to the kill is kept
    deadline = time.monotonic() + 5
    while alive(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(token)


@pytest.mark.parametrize("leaves", ["the group", "nothing"])
def test_what_a_finished_child_leaves_running_is_killed(tmp_path, leaves):
    token = f"left-{uuid.uuid4().hex}"
    session = ", start_new_session=True" if leaves == "the group" else ""  # only namespaces catch that one
    root = module(tmp_path / "repo", "leaver", (
        "import subprocess, sys, time\n"
        f"child = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(120)', '{token}'],\n"
        f"                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL{session})\n"
        "time.sleep(0.5)\n"
    ))
    with scratch() as folder:
        result = run_module("leaver", [], root=root, folder=folder, limits=Limits(timeout_s=30))
    assert result.exit_code == 0 and not result.timed_out and result.duration_s < 15
    if leaves == "the group" and not result.isolated:
        pytest.skip("without namespaces a process that leaves the group on purpose is out of reach")
    deadline = time.monotonic() + 5
    while alive(token) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(token)


def test_the_memory_limit_stops_a_child_allocating_4_gib(tmp_path):
    root = module(tmp_path / "repo", "hog", "block = bytearray(4 * 1024 ** 3)\nprint('allocated')\n")
    with scratch() as folder:
        result = run_module("hog", [], root=root, folder=folder, limits=Limits(memory_bytes=512 * MIB))
    assert result.memory_exceeded and not result.timed_out
    assert result.exit_code == 1 and "MemoryError" in result.stderr_tail
    assert "allocated" not in result.stdout_tail


def test_a_sigkill_that_is_not_the_timeout_counts_as_memory(tmp_path):
    root = module(tmp_path / "repo", "killed", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n")
    with scratch() as folder:
        result = run_module("killed", [], root=root, folder=folder)
    assert result.exit_code == -9 and result.memory_exceeded and not result.timed_out


def test_an_ordinary_failure_is_not_memory(tmp_path):
    root = module(tmp_path / "repo", "fails", "raise SystemExit('bad input')\n")
    with scratch() as folder:
        result = run_module("fails", [], root=root, folder=folder)
    assert result.exit_code == 1 and not result.memory_exceeded and "bad input" in result.stderr_tail


def test_no_app_setting_or_secret_reaches_the_child(tmp_path, monkeypatch):
    for name, value in SECRETS.items():
        monkeypatch.setenv(name, value)
    root = module(tmp_path / "repo", "env_dump", "import json, os\nprint(json.dumps(dict(os.environ)))\n")
    with scratch() as folder:
        result = run_module("env_dump", [], root=root, folder=folder,
                            variables={"DRIFTLINE_SANDBOX_TARGET": "label"})
    assert result.exit_code == 0, result.stderr_tail
    child = json.loads(result.stdout_tail)
    leaked = [name for name in child if name.startswith(FORBIDDEN) and name != "DRIFTLINE_SANDBOX_TARGET"]
    assert leaked == []
    assert child["DRIFTLINE_SANDBOX_TARGET"] == "label"
    assert not [value for value in SECRETS.values() if value in result.stdout_tail]
    assert "APPLICATIONINSIGHTS_CONNECTION_STRING" not in child
    assert child["PATH"] == os.environ["PATH"]


PROC_SCAN = """import json, pathlib
found = []
for entry in pathlib.Path('/proc').iterdir():
    try:
        found.append(((entry / 'environ').read_bytes(), entry.name))
    except OSError:
        pass
print(json.dumps({'pids': sorted(name for _, name in found if name.isdigit()), 'secrets': [name for data, name in found
      if b'github-webhook-secret' in data or b'AccountKey=' in data]}))
"""
APP = """import sys
from pathlib import Path
from shared.repo.sandbox import run_module, scratch
with scratch() as folder:
    result = run_module('proc_scan', [], root=Path(sys.argv[1]), folder=folder)
print(result.stdout_tail if result.exit_code == 0 else result.stderr_tail)
"""


def test_the_child_cannot_read_the_apps_secrets_from_other_processes(tmp_path):
    """The app's secrets are in its process's initial environment, which /proc/<pid>/environ shows to
    any process of the same user: the child must not see the app's process (or any other) at all."""
    if not isolation():
        pytest.skip("this machine allows no unprivileged namespaces; the sandbox cannot hide other processes")
    root = module(tmp_path / "repo", "proc_scan", PROC_SCAN)
    app = subprocess.run([sys.executable, "-c", APP, str(root)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, **SECRETS, "PYTHONPATH": str(Path(__file__).resolve().parents[2])})
    seen = json.loads(app.stdout.strip().splitlines()[-1])
    assert seen["secrets"] == []
    assert len(seen["pids"]) <= 3  # the namespace's init, the child, and what it started; not the app


def test_the_child_runs_in_the_scratch_folder_with_the_snapshot_first_on_its_path(tmp_path):
    root = module(tmp_path / "repo", "where", (
        "import json, os, sys, tempfile\n"
        "print(json.dumps({'cwd': os.getcwd(), 'home': os.path.expanduser('~'), 'tmp': tempfile.gettempdir(),\n"
        "                  'path0': sys.path[0], 'executable': sys.executable}))\n"
    ))
    extra = tmp_path / "runner"
    extra.mkdir()
    with scratch() as folder:
        assert list(folder.iterdir()) == [] and oct(folder.stat().st_mode & 0o777) == "0o700"
        result = run_module("where", [], root=root, folder=folder, pythonpath=(extra,))
        env = environment(root, folder, pythonpath=(extra,))
        seen = json.loads(result.stdout_tail)
    assert not folder.exists()  # removed afterwards
    assert seen["cwd"] == seen["home"] == seen["tmp"] == str(folder.resolve())
    assert seen["path0"] == str(root.resolve())
    assert env["PYTHONPATH"].split(os.pathsep) == [str(root.resolve()), str(extra.resolve())]
    assert seen["executable"] == sys.executable


def test_output_is_kept_as_a_bounded_tail(tmp_path):
    root = module(tmp_path / "repo", "chatty", "for i in range(100_000):\n    print(f'line {i}')\n")
    with scratch() as folder:
        result = run_module("chatty", [], root=root, folder=folder, limits=Limits(output_bytes=1000))
    assert result.exit_code == 0
    assert result.stdout_tail.endswith("line 99999\n")
    assert result.stdout_tail.startswith("[") and "earlier bytes not kept" in result.stdout_tail
    assert len(result.stdout_tail) < 1100


def test_only_sandbox_variables_may_be_added(tmp_path):
    with pytest.raises(SandboxError, match="DRIFTLINE_GITHUB_SECRET"):
        environment(tmp_path, tmp_path, variables={"DRIFTLINE_GITHUB_SECRET": "x"})
    with pytest.raises(SandboxError, match="AzureWebJobsStorage"):
        environment(tmp_path, tmp_path, variables={"AzureWebJobsStorage": "x"})
    assert environment(tmp_path, tmp_path, variables={"DRIFTLINE_SANDBOX_X": "1"})["DRIFTLINE_SANDBOX_X"] == "1"


def test_the_plugin_variables_are_sandbox_variables(tmp_path):
    names = pytest_plugin.variables(model=tmp_path / "m", holdout=tmp_path / "h", trusted=("sklearn.",),
                                    target="label", inference="inference.score")
    assert set(names) == {pytest_plugin.MODEL, pytest_plugin.HOLDOUT, pytest_plugin.TRUSTED, pytest_plugin.TARGET,
                          pytest_plugin.INFERENCE}
    assert all(name.startswith(VARIABLE_PREFIX) for name in names)
    assert environment(tmp_path, tmp_path, variables=names)[pytest_plugin.MODEL] == str(tmp_path / "m")


@pytest.mark.parametrize("limits", [{"timeout_s": 0}, {"memory_bytes": 1024}, {"output_bytes": 0}, {"threads": 0}])
def test_limits_are_checked(limits):
    with pytest.raises(SandboxError):
        Limits(**limits)
