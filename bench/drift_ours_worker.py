"""Child process for bench/drift_vs_evidently.py: Driftline's engine on two CSV files.

Builds the reference profile from the reference file, then compares the
current file against it. Prints one JSON line like the Evidently worker.
"""

import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from shared.drift import build_profile, compare  # noqa: E402


def main(reference_csv: str, current_csv: str) -> None:
    profile = build_profile(reference_csv)
    result = compare(profile, current_csv)
    columns = {c.name: {"drifted": c.drifted, "method": f"{c.test}+{c.effect_name}", "value": c.effect,
                        "reason": c.reason} for c in result.columns}
    print(json.dumps({"dataset_drift": result.dataset_drift, "share": result.share_drifted, "columns": columns}))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
