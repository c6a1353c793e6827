"""What /api/score adds on top of the model: endpoint latency vs bare `estimator.predict`, same rows, same run.

Peers measured in one process, in interleaved rounds so machine noise hits all of them alike:
- `bare predict`: `estimator.predict(frame)` on a ready DataFrame of the rows;
- `bare predict+proba`: `predict` and `predict_proba`, the model work the endpoint does;
- `function`: the app's `score` user function called directly with a real `func.HttpRequest`
  (parse, alias check, routing, validation, DataFrame, predict, predict_proba, log buffering, JSON);
- `http (devhost)`: the same function through the devhost runner's HTTP server over a keep-alive
  connection (when devhost is importable), adding the local HTTP hop.

Storage is a fresh Azurite (or AzureWebJobsStorage when set); the model is a small scikit-learn
pipeline registered with the registry's write API. Settings are the defaults (alias ETag check every 2 s,
log batches of 100 rows written by the background thread), so their cost is in the figures.

    .venv/bin/python bench/score_overhead.py [--rows 10] [--requests 2000]

Goal: the endpoint's p50 within 2 ms of bare predict.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = "bench-score"


def train():
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({
        "x1": rng.normal(size=500), "x2": rng.normal(size=500), "x3": rng.normal(size=500),
        "n": rng.integers(0, 10, size=500),
    })
    frame["label"] = (frame["x1"] + 0.5 * frame["x2"] - 0.2 * frame["n"] > -1).astype(int)
    features = ["x1", "x2", "x3", "n"]
    return make_pipeline(StandardScaler(), LogisticRegression()).fit(frame[features], frame["label"]), frame, features


def register(storage, estimator, frame) -> None:
    import io

    import skops.io as sio

    from shared.drift import build_profile
    from shared.model import registry
    from shared.model.training import input_schema

    holdout = io.BytesIO()
    frame.tail(50).to_parquet(holdout, index=False)
    lineage = {"run_id": "benchrun", "code": {"entry_point": "shared.model.default_model:train"}}
    registry.stage(storage, MODEL, "benchrun", {
        "model.skops": sio.dumps(estimator),
        "profile.json": build_profile(frame.drop(columns="label"), name=MODEL).to_json(),
        "metrics.json": b"{}",
        "lineage.json": json.dumps(lineage).encode(),
        "schema.json": json.dumps(input_schema(frame, "label")).encode(),
        "holdout.parquet": holdout.getvalue(),
    })
    version = registry.register(storage, MODEL, "benchrun")
    registry.move_alias(storage, MODEL, "production", version, why="bench", by="bench")


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10, help="records per request")
    parser.add_argument("--requests", type=int, default=2000, help="timed calls per peer")
    args = parser.parse_args()

    with ExitStack() as stack:
        connection = os.environ.get("AzureWebJobsStorage")
        if not connection:
            from devtools.azurite import Azurite

            folder = stack.enter_context(tempfile.TemporaryDirectory())
            connection = stack.enter_context(Azurite(Path(folder))).endpoints.connection_string
        os.environ.update({"AzureWebJobsStorage": connection, "DRIFTLINE_MODEL_NAME": MODEL})

        import azure.functions as func

        from functions import api
        from shared.platform import context
        from shared.serving import scoring

        estimator, frame, features = train()
        register(context.storage(), estimator, frame)
        records = [{k: (int(v) if k == "n" else float(v)) for k, v in row.items()}
                   for row in frame[features].head(args.rows).to_dict("records")]
        ready = frame[features].head(args.rows).copy()
        body = json.dumps({"records": records}).encode()

        def api_app() -> func.FunctionApp:
            """Only the API: no timers or queue listeners adding noise. (A FunctionApp can be indexed
            once, so the direct peer and the runner each get their own.)"""
            app = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)
            app.register_functions(api.bp)
            return app

        score = next(f for f in api_app().get_functions() if f.get_function_name() == "score").get_user_function()

        def bare_predict():
            estimator.predict(ready)

        def bare_both():
            estimator.predict(ready)
            estimator.predict_proba(ready)

        def direct():
            response = score(func.HttpRequest("POST", "http://localhost/api/score", body=body,
                                              headers={"Content-Type": "application/json"}))
            assert response.status_code == 200, response.get_body()

        peers = {"bare predict": bare_predict, "bare predict+proba": bare_both, "function": direct}
        mode = "function called directly (devhost not importable)"
        try:
            import requests

            from devhost import Host

            host = stack.enter_context(Host(api_app(), {"AzureWebJobsStorage": connection, "DRIFTLINE_MODEL_NAME": MODEL},
                                            port=0, app_directory=ROOT))
            session = requests.Session()
            url = f"{host.url}/api/score"

            def http():
                response = session.post(url, data=body, headers={"Content-Type": "application/json"})
                assert response.status_code == 200, response.text

            peers["http (devhost)"] = http
            mode = "function called directly AND through the devhost HTTP runner"
        except ImportError:
            pass

        for call in peers.values():  # warm up: model load, caches, connections
            for _ in range(50):
                call()
        samples: dict[str, list[float]] = {name: [] for name in peers}
        rounds = 20
        per_round = max(1, args.requests // rounds)
        for _ in range(rounds):
            for name, call in peers.items():
                for _ in range(per_round):
                    started = time.perf_counter()
                    call()
                    samples[name].append((time.perf_counter() - started) * 1000)
        scorer = scoring.instance()
        downloads, checks = scorer.cache.downloads, scorer.cache.etag_checks
        scorer.flush()

    print(f"score overhead: {args.rows} rows per request, {per_round * rounds} calls per peer, {mode}")
    print(f"{'peer':<22}{'p50 ms':>10}{'p99 ms':>10}{'mean ms':>10}")
    for name, values in samples.items():
        print(f"{name:<22}{percentile(values, 50):>10.3f}{percentile(values, 99):>10.3f}{statistics.fmean(values):>10.3f}")
    base = percentile(samples["bare predict"], 50)
    model_work = percentile(samples["bare predict+proba"], 50)
    for name in [n for n in peers if not n.startswith("bare")]:
        p50 = percentile(samples[name], 50)
        print(f"{name}: p50 overhead {p50 - base:.3f} ms over bare predict ({p50 / base:.2f}x), "
              f"{p50 - model_work:.3f} ms over predict+proba; goal <= 2 ms: "
              f"{'met' if p50 - base <= 2.0 else 'NOT met'}")
    print(f"estimator downloads: {downloads}; aliases ETag checks: {checks} (one per 2 s at most)")


if __name__ == "__main__":
    main()
