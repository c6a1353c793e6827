"""Child process for bench/drift_vs_evidently.py: Evidently's DataDriftPreset on two CSV files.

Runs inside bench/.venv-evidently. Prints one JSON line:
{"dataset_drift": bool, "columns": {name: drifted}}.
"""

import json
import sys

import pandas as pd
from evidently import Report
from evidently.presets import DataDriftPreset


def main(reference_csv: str, current_csv: str) -> None:
    reference = pd.read_csv(reference_csv)
    current = pd.read_csv(current_csv)
    snapshot = Report([DataDriftPreset()]).run(current_data=current, reference_data=reference)
    columns, share = {}, None
    for metric in snapshot.dict()["metrics"]:
        name, value = metric.get("metric_name", ""), metric.get("value")
        if name.startswith("ValueDrift("):
            column = metric["config"]["column"]
            threshold = metric["config"].get("threshold")
            method = metric["config"].get("method", "")
            # Evidently's ValueDrift value is the test's statistic/p-value; p-value tests drift below
            # the threshold, distance tests (wasserstein, jensenshannon, psi) at or above it.
            drifted = value >= threshold if ("distance" in method.lower() or "psi" in method.lower()
                                              or "wasserstein" in method.lower() or "jensen" in method.lower()) \
                else value < threshold
            columns[column] = {"drifted": bool(drifted), "method": method, "value": value}
        elif name.startswith("DriftedColumnsCount("):
            share = value["share"]
    print(json.dumps({"dataset_drift": share is not None and share >= 0.5, "share": share, "columns": columns}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
