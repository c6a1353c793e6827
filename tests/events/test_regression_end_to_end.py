"""A regression model end to end: the real function app on devhost against its own Azurite, the house
prices sample uploaded to the lake. The labeled upload trains the built-in regressor (the task detected
from the continuous `price`), the gates judge it with rmse, it deploys, `/api/score` answers numbers
without probabilities; a second labeled upload retrains, is gated against production on the same rows,
and its version serves."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pandas as pd
import pytest
import requests

from shared.chain.states import FINAL_RUN
from shared.model import registry
from shared.platform import names
from shared.platform.azure_storage import AzureStorage, connect
from shared.platform.settings import StorageConnection
from tests.helpers.app_host import app_on_devhost
from tests.helpers.chain import SAMPLE
from tests.helpers.events import runs_of

MODEL = "e2e-houses"
HOUSES = pd.read_csv(SAMPLE / "labeled" / "houses.csv")


@pytest.fixture(scope="module")
def lake(module_azurite) -> tuple[str, AzureStorage]:
    connection = module_azurite.endpoints.connection_string
    return connection, connect(StorageConnection(connection_string=connection))


@pytest.fixture(scope="module")
def host(lake, tmp_path_factory) -> Iterator[Any]:
    connection, _ = lake
    settings = {
        "AzureWebJobsStorage": connection,
        "DRIFTLINE_MODEL_NAME": MODEL,
        "DRIFTLINE_TARGET_COLUMN": "price",
        "DRIFTLINE_RETRAIN_COALESCE_SECONDS": "0",
        "DRIFTLINE_APPROVAL_REQUIRED": "false",
        "DRIFTLINE_CANARY_PERCENT": "0",
        "DRIFTLINE_QUALITY_TOLERANCE": "0.5",  # relative for rmse: the second version may be up to 50% worse
        "DRIFTLINE_LATENCY_BUDGET_MS": "60000",
        "DRIFTLINE_TRAINING_PARAMS": json.dumps({"max_iter": 60}),
        "DRIFTLINE_SCORING_LOG_FLUSH_SECONDS": "0.2",
    }
    with app_on_devhost(tmp_path_factory.mktemp("host"), settings, "e2e-houses") as running:
        yield running


def finished_run(host, storage: AzureStorage, blob: str) -> dict:
    """The run the upload of `blob` started, once it is over."""
    for _ in range(5):
        host.wait_idle(120)
        found = [r for r in runs_of(storage, MODEL) if r["trigger"].get("blob") == blob]
        if found and found[0]["status"] in FINAL_RUN:
            return found[0]
    raise AssertionError(f"no finished run for {blob}: {[r['trigger'] for r in runs_of(storage, MODEL)]}")


def score(host, rows: pd.DataFrame) -> dict:
    response = requests.post(f"{host.url}/api/score", json={"records": rows.to_dict(orient="records")}, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


def test_labeled_uploads_train_gate_deploy_and_serve_a_regressor(host, lake):
    _, storage = lake
    first = "labeled/houses/first.csv"
    storage.put_bytes(names.DATALAKE, first, HOUSES.iloc[:800].to_csv(index=False).encode())
    run = finished_run(host, storage, first)
    assert run["status"] == "succeeded", run["events"][-3:]
    version = run["steps"]["register"]["outputs"]["version"]
    info = registry.version_info(storage, MODEL, version)
    assert info["schema"]["task"] == "regression" and "classes" not in info["schema"]
    assert info["lineage"]["task"]["how"].startswith("detected from the target")
    gates = {g["name"]: g for g in run["steps"]["test"]["outputs"]["gates"]}
    assert gates["quality"]["detail"].startswith("rmse ") and gates["scoring_contract"]["passed"]

    later = HOUSES.iloc[800:]
    answer = score(host, later.drop(columns=["price"]).head(5))
    assert answer["version"] == version and "probabilities" not in answer and "classes" not in answer
    predicted = pd.Series(answer["predictions"], dtype=float)
    truth = later["price"].head(5).reset_index(drop=True)
    assert all(isinstance(p, float) for p in answer["predictions"])
    assert ((predicted - truth).abs() < 0.5 * truth).all()

    second = "labeled/houses/second.csv"
    storage.put_bytes(names.DATALAKE, second, later.to_csv(index=False).encode())
    run = finished_run(host, storage, second)
    assert run["status"] == "succeeded", run["events"][-3:]
    quality = {g["name"]: g for g in run["steps"]["test"]["outputs"]["gates"]}["quality"]
    assert f"vs production v{version}" in quality["detail"] and "lower is better" in quality["detail"]
    assert quality["value"] <= quality["threshold"]
    newer = run["steps"]["register"]["outputs"]["version"]
    assert registry.resolve(storage, MODEL, "production") == newer == version + 1
    assert registry.version_info(storage, MODEL, newer)["lineage"]["data"]["rows"] == len(HOUSES)
    assert score(host, later.drop(columns=["price"]).head(2))["version"] == newer
