"""Small generated tables and realistic webhook payloads for the event-source tests."""

from __future__ import annotations

import gzip
import io
import json
import uuid
from datetime import datetime, timezone

FEATURES = ["x1", "x2", "x3"]
TARGET = "label"
GITHUB_SECRET = "gh-test-secret"
ADO_SECRET = "ado-test-secret"


def frame(rows: int, *, seed: int, shift: float = 0.0):
    import numpy as np
    import pandas as pd

    rng = np.random.default_rng(seed)
    data = {name: rng.normal(0.0, 1.0, rows) + shift for name in FEATURES}
    data[TARGET] = (data["x1"] + data["x2"] > 2 * shift).astype(int)
    return pd.DataFrame(data)


def csv_bytes(table, *, gz: bool = False) -> bytes:
    data = table.to_csv(index=False).encode()
    return gzip.compress(data) if gz else data


def parquet_bytes(table) -> bytes:
    buffer = io.BytesIO()
    table.to_parquet(buffer, index=False)
    return buffer.getvalue()


def sha(seed: str) -> str:
    import hashlib

    return hashlib.sha1(seed.encode()).hexdigest()


def github_commit(n: int, *, added=(), modified=(), removed=()) -> dict:
    return {
        "id": sha(f"commit-{n}"),
        "tree_id": sha(f"tree-{n}"),
        "distinct": True,
        "message": f"change {n}",
        "timestamp": "2026-11-25T10:00:00+01:00",
        "url": f"https://github.com/acme/shop/commit/{sha(f'commit-{n}')}",
        "author": {"name": "Ada", "email": "ada@example.com", "username": "ada"},
        "committer": {"name": "GitHub", "email": "noreply@github.com", "username": "web-flow"},
        "added": list(added),
        "removed": list(removed),
        "modified": list(modified),
    }


def github_push(commits: list[dict], *, ref: str = "refs/heads/main", before: str | None = None,
                after: str | None = None, deleted: bool = False, created: bool = False) -> dict:
    after = after if after is not None else (commits[-1]["id"] if commits else sha("head"))
    return {
        "ref": ref,
        "before": before or sha("before"),
        "after": after,
        "repository": {"id": 1, "name": "shop", "full_name": "acme/shop", "private": True,
                       "default_branch": "main"},
        "pusher": {"name": "ada", "email": "ada@example.com"},
        "sender": {"login": "ada", "id": 7},
        "created": created,
        "deleted": deleted,
        "forced": False,
        "base_ref": None,
        "compare": "https://github.com/acme/shop/compare/a...b",
        "commits": commits,
        "head_commit": None if deleted or not commits else commits[-1],
    }


def github_workflow_run(head_sha: str, conclusion: str, *, name: str = "CI", action: str = "completed") -> dict:
    return {
        "action": action,
        "workflow_run": {"id": 30433642, "name": name, "head_branch": "main", "head_sha": head_sha,
                         "status": "completed" if action == "completed" else "in_progress",
                         "conclusion": conclusion if action == "completed" else None, "event": "push"},
        "workflow": {"id": 159038, "name": name},
        "repository": {"full_name": "acme/shop"},
    }


def github_check_suite(head_sha: str, conclusion: str) -> dict:
    return {
        "action": "completed",
        "check_suite": {"id": 118578147, "head_branch": "main", "head_sha": head_sha, "status": "completed",
                        "conclusion": conclusion, "app": {"id": 15368, "name": "GitHub Actions"}},
        "repository": {"full_name": "acme/shop"},
    }


def ado_push(*, branch: str = "main", new: str | None = None, old: str | None = None,
             created: datetime | None = None, delivery: str | None = None, commits: int = 2) -> dict:
    new = new or sha("ado-new")
    created = created or datetime.now(timezone.utc)
    return {
        "subscriptionId": str(uuid.uuid4()),
        "notificationId": 3,
        "id": delivery or str(uuid.uuid4()),
        "eventType": "git.push",
        "publisherId": "tfs",
        "message": {"text": f"Ada pushed updates to {branch}"},
        "resource": {
            "commits": [{"commitId": sha(f"ado-{i}"), "comment": f"change {i}",
                         "author": {"name": "Ada", "date": "2026-11-25T09:00:00Z"}} for i in range(commits)],
            "refUpdates": [{"name": f"refs/heads/{branch}", "oldObjectId": old or sha("ado-old"),
                            "newObjectId": new}],
            "repository": {"id": str(uuid.uuid4()), "name": "shop",
                           "remoteUrl": "https://dev.azure.com/acme/shop/_git/shop",
                           "defaultBranch": "refs/heads/main"},
            "pushedBy": {"displayName": "Ada"},
            "pushId": 14,
            "date": "2026-11-25T09:00:00Z",
        },
        "resourceVersion": "1.0",
        "createdDate": created.strftime("%Y-%m-%dT%H:%M:%S.%f") + "3Z",
    }


def ado_build(source_version: str, result: str, *, name: str = "shop-ci") -> dict:
    return {
        "id": str(uuid.uuid4()),
        "eventType": "build.complete",
        "publisherId": "tfs",
        "resource": {"id": 2, "result": result, "status": "completed", "sourceVersion": source_version,
                     "sourceBranch": "refs/heads/main", "definition": {"id": 2, "name": name}},
        "resourceVersion": "2.0",
        "createdDate": datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z",
    }


def body(payload: dict) -> bytes:
    return json.dumps(payload).encode()
