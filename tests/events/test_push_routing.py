"""A push is routed by the pushed commit's own driftline.toml [routing] when it has one, read from the
commit's snapshot (a real git repository as the code source); a commit whose driftline.toml cannot
be used leaves the app's routing.toml in charge, and the run's fetch step then names the problem."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shared.events import intake
from shared.platform import names
from tests.events.test_webhooks import github, push_run
from tests.helpers.event_data import github_commit, github_push
from tests.helpers.events import drain, messages_for
from tests.repo.gitrepo import GitRepo

pytestmark = pytest.mark.usefixtures("env")
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "churn"
NEW_TEST = "tests/unit/test_more.py"  # the commit's [routing]: app; the app's routing.toml: ignore


@pytest.fixture
def repo(tmp_path: Path, env) -> GitRepo:
    shutil.copytree(EXAMPLE, tmp_path / "churn", ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
    repository = GitRepo(tmp_path / "churn")
    repository.git("add", "-A")
    repository.git("commit", "-q", "-m", "the churn model")
    env(DRIFTLINE_CODE_SOURCE=f"git:{repository.path}")
    return repository


def push(storage, functions, repo: GitRepo, files: dict[str, str]) -> str:
    """Commit `files`, deliver a signed GitHub push of that commit, handle it; returns the delivery id."""
    before = repo.git("rev-parse", "HEAD")
    commit = repo.commit("a change", files)
    listed = github_commit(1, modified=sorted(files)) | {"id": commit}
    response, delivery = github(functions, "push", github_push([listed], before=before, after=commit))
    assert response.status_code == 202
    assert drain(storage, functions) == 1
    return delivery


def outcome(storage, delivery: str) -> dict:
    return storage.read_json(names.HOOKS, intake.record_name("github", delivery)).value["outcome"]


def test_the_commits_own_routing_decides(storage, functions, repo):
    delivery = push(storage, functions, repo, {NEW_TEST: "def test_more():\n    assert True\n"})
    run = push_run(storage, "github", delivery)
    assert run is not None and run["plan"] == "app", outcome(storage, delivery)
    assert NEW_TEST in run["reason"]
    assert len(messages_for(storage, names.FETCH_QUEUE, run["run_id"])) == 1


@pytest.mark.parametrize("broken", [
    'ignore = ["!"]',  # a glob pathspec refuses
    'ignore = ["# docs"]',  # a glob that matches nothing
    'ignore = "docs/**"',  # not a list
])
def test_a_commit_whose_routing_is_unusable_is_routed_by_routing_toml(storage, functions, repo, broken, caplog):
    config = (repo.path / "driftline.toml").read_text()
    start = config.index("ignore = [")
    end = config.index("\n", start)
    delivery = push(storage, functions, repo, {NEW_TEST: "def test_more():\n    assert True\n",
                                      "driftline.toml": config[:start] + broken + config[end:]})
    # The commit's own rules would make this a training run (driftline.toml is in its [routing]
    # training); routing.toml ignores tests/** and lists no driftline.toml, so it is app code.
    run = push_run(storage, "github", delivery)
    assert run is not None and run["plan"] == "app"
    assert "routed by" in caplog.text and "routing.toml" in caplog.text and "[routing] ignore" in caplog.text
