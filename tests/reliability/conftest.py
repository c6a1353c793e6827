"""The reliability suite's tally: every case of tests/reliability records what happened to it, and the
run ends with one summary line (printed by pytest, in CI too):

    reliability: cases=N clean=N unhandled=0 5xx=0 lost=0 duplicates=0 forged_accepted=0

- unhandled: an exception escaped the code under test (a trigger or a route raised); over loopback
  HTTP, a request that got no answer, or an answer that breaks the contract (an unexpected status, a
  malformed prediction, an answer the OpenAPI description does not allow);
- 5xx: a route answered 500 or more (an empty body counts there too);
- lost: an upload's data is gone or not traceable (original deleted, quarantined without its reason);
- duplicates: work done twice (a second version, a second deploy of one run);
- forged_accepted: a delivery that is not authentic started something.
Each test asserts its own counts are zero, so the line is a summary, not the only check.

The suite has cases in both tiers of `./driftline test` (the emulator tier holds those that need
Azurite or devhost): with DRIFTLINE_RELIABILITY_TALLY naming a file, a session adds its counts to it,
and the line sums every tier run so far, so the last tier's line is the whole suite's.

The load run over loopback (test_load.py) adds a second line, with its own figures:

    load: requests=N sent=N errors=0 error_rate=0.00% p50=...ms p99=...ms within=...s
"""

from __future__ import annotations

import json
import os
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.api.conftest import api_env, functions, model_name, trained  # noqa: F401  (the app, its settings)
from tests.chain.conftest import chain, labeled_frame  # noqa: F401  (the chain on MemoryStorage)

GITHUB_SECRET = "reliability-github-secret"
ADO_SECRET = "reliability-ado-secret"
KINDS = ("clean", "unhandled", "5xx", "lost", "duplicates", "forged_accepted")
FUNCTION_KEY = "reliability-function-key"
TALLY: Counter[str] = Counter()
LOAD_LINES: list[str] = []  # the load run's figures, printed after the reliability line


class Tally:
    """What one test's cases came to; merged into the session's line."""

    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.problems: list[str] = []

    def case(self, label: str, problem: str | None = None, kind: str = "clean") -> None:
        """One case: clean when `problem` is None, else counted as `kind` with its label kept."""
        TALLY["cases"] += 1
        self.counts["cases"] += 1
        kind = "clean" if problem is None else kind
        TALLY[kind] += 1
        self.counts[kind] += 1
        if problem is not None:
            self.problems.append(f"{label}: {kind}: {problem}")

    def assert_clean(self) -> None:
        assert not self.problems, "\n".join(self.problems[:20])


@pytest.fixture
def tally() -> Tally:
    return Tally()


@pytest.fixture
def hooks_env(api_env, monkeypatch):  # noqa: F811  (pytest fixtures imported above)
    """The app's settings with webhook secrets, so signed deliveries are read (tests/reliability)."""
    from shared.platform import context

    monkeypatch.setenv("DRIFTLINE_GITHUB_SECRET", GITHUB_SECRET)
    monkeypatch.setenv("DRIFTLINE_ADO_SECRET", ADO_SECRET)
    context.reset()


@pytest.fixture
def serving(hooks_env, storage, model_name, trained):  # noqa: F811
    """A production model, so requests reach scoring and feedback instead of 'nothing serves yet'."""
    from tests.helpers.api import point, register_version

    point(storage, model_name, register_version(storage, model_name, trained[0], run_id="run0001"))


@dataclass(frozen=True)
class Loopback:
    """The real app served by devhost over loopback HTTP, on a module's own Azurite, with a production
    model registered; function keys are required, as in Azure."""

    host: Any  # devhost.Host
    storage: Any  # shared.platform.azure_storage.AzureStorage, the app's storage
    model: str
    version: int

    @property
    def api(self) -> str:
        return f"{self.host.url}/api"

    @property
    def headers(self) -> dict[str, str]:
        return {"x-functions-key": FUNCTION_KEY}


@pytest.fixture(scope="module")
def loopback(module_azurite, trained, tmp_path_factory) -> Iterator[Loopback]:  # noqa: F811
    from shared.platform.azure_storage import connect
    from shared.platform.settings import StorageConnection
    from tests.helpers.api import point, register_version
    from tests.helpers.app_host import app_on_devhost

    connection = module_azurite.endpoints.connection_string
    storage = connect(StorageConnection(connection_string=connection))
    model = f"loopback-{uuid.uuid4().hex[:8]}"
    version = register_version(storage, model, trained[0], run_id="run0001")
    point(storage, model, version)
    settings = {
        "AzureWebJobsStorage": connection,
        "DRIFTLINE_MODEL_NAME": model,
        "DRIFTLINE_TARGET_COLUMN": "label",
        "DRIFTLINE_GITHUB_SECRET": GITHUB_SECRET,
        "DRIFTLINE_ADO_SECRET": ADO_SECRET,
        "DRIFTLINE_SCORING_LOG_BATCH": "100",
        "DEVHOST_FUNCTION_KEY": FUNCTION_KEY,
    }
    with app_on_devhost(tmp_path_factory.mktemp("host"), settings, "reliability", require_keys=True,
                        blob_poll_interval=0.5) as running:
        yield Loopback(running, storage, model, version)


def pytest_terminal_summary(terminalreporter) -> None:
    total = Counter(TALLY)
    shared_file = os.environ.get("DRIFTLINE_RELIABILITY_TALLY")
    if shared_file:
        path = Path(shared_file)
        earlier = path.read_text() if path.exists() else ""
        total += Counter(json.loads(earlier)) if earlier.strip() else Counter()
        path.write_text(json.dumps(total))
    if total["cases"]:
        line = " ".join(f"{kind}={total[kind]}" for kind in ("cases", *KINDS))
        terminalreporter.write_line(f"reliability: {line}")
    for line in LOAD_LINES:
        terminalreporter.write_line(line)
