"""End to end on Azurite: upload of the sample labeled data -> model version in production.

Runs the real app under devhost against a fresh Azurite, uploads sample_data/labeled/customers.csv
and times until the `production` alias points at a new version (retrain, register, test gates,
deploy, all through the queues). The peer, measured in the same run, is the bare work: training the
same default model and building its drift profile in-process from the same file. The difference is
what the pipeline costs (queues, storage, gates). Goal: under 60 s for the sample.

    .venv/bin/python bench/end_to_end.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

SAMPLE = ROOT / "sample_data" / "labeled" / "customers.csv"


def bare_seconds() -> float:
    import pandas as pd

    from shared.drift import build_profile
    from shared.model.default_model import train

    start = time.perf_counter()
    frame = pd.read_csv(SAMPLE)
    train(frame, {})
    build_profile(frame.drop(columns=["label"]))
    return time.perf_counter() - start


def pipeline_seconds(connection_string: str, model: str, attempt: int) -> float:
    from devhost import Host
    from shared.chain import runs
    from shared.chain.states import FINAL_RUN
    from shared.events import lake
    from shared.model import registry
    from shared.platform import azure_storage, names
    from shared.platform.settings import StorageConnection

    settings = json.loads((ROOT / "local.settings.example.json").read_text())["Values"]
    settings.update({
        "AzureWebJobsStorage": connection_string,
        "DRIFTLINE_MODEL_NAME": model,
        "DRIFTLINE_RETRAIN_COALESCE_SECONDS": "0",
    })
    storage = azure_storage.connect(StorageConnection(connection_string=connection_string))
    name = f"labeled/attempt-{attempt}/customers.csv"
    before = registry.resolve(storage, model, "production")
    with Host(settings=settings, port=0, blob_poll_interval=0.2):
        start = time.perf_counter()
        etag = storage.put_bytes(names.DATALAKE, name, SAMPLE.read_bytes()).strip('"')
        while registry.resolve(storage, model, "production") == before:
            receipt = lake.read_receipt(storage, name, etag)
            run = receipt and receipt.get("run_id") and runs.get_run(storage, receipt["run_id"])
            if run and run["status"] in FINAL_RUN and run["status"] != "succeeded":
                raise SystemExit(f"the run ended {run['status']}: {run['events'][-1]['detail']}")
            if time.perf_counter() - start > 300:
                raise SystemExit("no production model after 300 s; see the log above")
            time.sleep(0.1)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    from devtools.azurite import Azurite

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("azure").setLevel(logging.WARNING)
    from shared.platform import context

    bare, pipeline = [], []
    for attempt in range(args.repeat):
        bare.append(bare_seconds())
        # a fresh Azurite per attempt, so every attempt trains on the same data from an empty registry
        with tempfile.TemporaryDirectory() as folder, Azurite(Path(folder)) as azurite:
            context.reset()  # the app's cached Storage and Settings belong to the previous attempt
            pipeline.append(pipeline_seconds(azurite.endpoints.connection_string, "bench-e2e", attempt))
    b, p = statistics.median(bare), statistics.median(pipeline)
    print(f"repetitions                        {args.repeat}")
    print(f"bare train + profile (in-process)  {b:7.2f} s (median)")
    print(f"upload -> production on Azurite    {p:7.2f} s (median; runs {', '.join(f'{x:.1f}' for x in pipeline)})")
    print(f"pipeline overhead                  {p - b:7.2f} s, ratio {p / b:.1f}x")
    print(f"goal: under 60 s                   {'met' if p < 60 else 'MISSED'}")


if __name__ == "__main__":
    main()
