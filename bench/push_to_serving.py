"""Push to serving on Azurite: a training-code commit of the example repository until its release serves.

Runs the real app under devhost against a fresh Azurite, watching a git repository made from
examples/churn (DRIFTLINE_CODE_SOURCE=git:). A labeled upload first puts a version in production; then
each repetition commits a training change (a different `n_estimators` in driftline.toml), delivers the
push as a signed GitHub webhook, and times until the lineage of what serves names that commit. Printed:
the median push-to-serving time and the median split by step (fetch, unit tests, train, test, deploy;
from the run records), the remainder being queue hops and polling. The peer in the same run is the
bare work: the example's train() on the same data, in-process. Goal: under 60 s here (templates that
train inside CI spend minutes starting an agent).

    .venv/bin/python bench/push_to_serving.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "sample_data" / "labeled" / "customers.csv"
EXAMPLE = ROOT / "examples" / "churn"
MODEL = "bench-push"
SECRET = "bench-secret"
STEPS = ("fetch", "unit_test", "retrain", "register", "test", "deploy")
GIT_ENV = {"GIT_AUTHOR_NAME": "bench", "GIT_AUTHOR_EMAIL": "b@example.com", "GIT_COMMITTER_NAME": "bench",
           "GIT_COMMITTER_EMAIL": "b@example.com", "GIT_CONFIG_GLOBAL": os.devnull}


def git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, env={**os.environ, **GIT_ENV}, capture_output=True,
                          text=True, check=True).stdout.strip()


def bare_seconds() -> float:
    import pandas as pd

    sys.path.insert(0, str(EXAMPLE))
    try:
        from training.train import train

        start = time.perf_counter()
        train(pd.read_csv(SAMPLE), {"target_column": "label", "seed": 0})
        return time.perf_counter() - start
    finally:
        sys.path.remove(str(EXAMPLE))


def wait(condition, what: str, limit: float = 300.0) -> None:
    start = time.perf_counter()
    while not condition():
        if time.perf_counter() - start > limit:
            raise SystemExit(f"{what} did not happen within {limit:.0f} s")
        time.sleep(0.1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import requests

    from devhost import Host
    from devtools.azurite import Azurite
    from shared.chain import runs
    from shared.model import registry
    from shared.platform import azure_storage, names, signatures
    from shared.platform.settings import StorageConnection
    from shared.serving import lookups

    logging.basicConfig(level=logging.WARNING, stream=sys.stderr)
    bare = [bare_seconds() for _ in range(args.repeat)]
    totals, splits = [], {step: [] for step in STEPS}
    with tempfile.TemporaryDirectory() as folder, Azurite(Path(folder) / "azurite") as azurite:
        repo = Path(folder) / "churn"
        shutil.copytree(EXAMPLE, repo, ignore=shutil.ignore_patterns("__pycache__", ".pytest_cache"))
        config = repo / "driftline.toml"
        config.write_text(config.read_text().replace('name = "churn"', f'name = "{MODEL}"'))
        git(repo, "init", "-q", "-b", "main")
        git(repo, "add", "-A")
        git(repo, "commit", "-q", "-m", "the churn model")
        connection = azurite.endpoints.connection_string
        settings = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
        settings.update({"AzureWebJobsStorage": connection, "DRIFTLINE_MODEL_NAME": MODEL,
                         "DRIFTLINE_RETRAIN_COALESCE_SECONDS": "0", "DRIFTLINE_GITHUB_SECRET": SECRET,
                         "DRIFTLINE_CODE_SOURCE": f"git:{repo}"})
        storage = azure_storage.connect(StorageConnection(connection_string=connection))
        with Host(settings=settings, port=0, blob_poll_interval=0.2) as host:
            storage.put_bytes(names.DATALAKE, "labeled/seed/customers.csv", SAMPLE.read_bytes())
            wait(lambda: registry.resolve(storage, MODEL, "production") is not None, "the seed upload's deploy")
            for attempt in range(args.repeat):
                before = git(repo, "rev-parse", "HEAD")
                text = config.read_text()
                config.write_text(text.replace(f"n_estimators = {200 + 10 * attempt}",
                                               f"n_estimators = {210 + 10 * attempt}"))
                git(repo, "commit", "-q", "-am", f"trees {210 + 10 * attempt}")
                after = git(repo, "rev-parse", "HEAD")
                body = json.dumps({"ref": "refs/heads/main", "before": before, "after": after,
                                   "repository": {"full_name": "bench/churn"}, "head_commit": {"id": after},
                                   "commits": [{"id": after, "added": [], "modified": ["driftline.toml"],
                                                "removed": []}]}).encode()
                delivery = str(uuid.uuid4())
                start = time.perf_counter()
                response = requests.post(f"{host.url}/api/hooks/github", data=body, timeout=30, headers={
                    "Content-Type": "application/json", "X-GitHub-Event": "push", "X-GitHub-Delivery": delivery,
                    "X-Hub-Signature-256": signatures.sign(SECRET, body)})
                assert response.status_code == 202, response.text
                run_id = response.json()["run_id"]

                def serving() -> bool:
                    run = runs.get_run(storage, run_id)
                    if run is not None and run["status"] in ("failed", "rejected", "skipped"):
                        raise SystemExit(f"the push's run ended {run['status']}: {run['events'][-1]['detail']}")
                    lineage = lookups.serving_lineage(storage, MODEL)
                    return (lineage.get("code") or {}).get("commit") == after

                wait(serving, f"commit {after[:7]} serving")
                totals.append(time.perf_counter() - start)
                run = runs.get_run(storage, run_id)
                for step in STEPS:
                    splits[step].append(run["steps"][step].get("duration_s") or 0.0)
    total, peer = statistics.median(totals), statistics.median(bare)
    print(f"repetitions                          {args.repeat}")
    print(f"bare train() of the example          {peer:7.2f} s (median, in-process)")
    print(f"push -> its release serves           {total:7.2f} s (median; runs {', '.join(f'{x:.1f}' for x in totals)})")
    for step in STEPS:
        print(f"  {step:<12}                       {statistics.median(splits[step]):7.2f} s")
    hops = total - sum(statistics.median(splits[step]) for step in STEPS)
    print(f"  queues, polling, webhook           {hops:7.2f} s")
    print(f"pipeline / bare train                {total / peer:7.1f}x")
    print(f"goal: under 60 s                     {'met' if total < 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
