"""Generate the small sample data set used by the tests, the docs and a local demo.

    python scripts/make_sample_data.py [--out sample_data] [--rows 2000] [--seed 7]

Writes, deterministically for a seed:
- labeled/customers.csv  training data: 6 numeric + 2 categorical features and a binary `label`
  (churn) with real signal (a logistic model of tenure, satisfaction, plan, ...);
- incoming/batch-ok.csv  a production batch from the same distribution, without the label;
- incoming/batch-drifted.csv  a batch from a new customer segment: age, income, plan, tenure and
  satisfaction have clearly shifted (5 of 8 features, past the default 50% dataset threshold);
- labeled/new-segment/customers.csv  labeled rows of that new segment, as they arrive once its
  churn is known: what a drift retrain waits for;
- incoming/malformed.csv  a file a CSV reader rejects (ragged rows, an unterminated quote).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

REGIONS = ["north", "south", "east", "west"]
PLANS = ["basic", "plus", "premium"]


def customers(rng: np.random.Generator, rows: int, *, drifted: bool = False) -> pd.DataFrame:
    age = rng.normal(55 if drifted else 40, 12, rows).clip(18, 90).round()
    income = rng.lognormal(10.9 if drifted else 10.4, 0.4, rows).round(2)
    plan_weights = [0.15, 0.25, 0.6] if drifted else [0.55, 0.3, 0.15]
    frame = pd.DataFrame({
        "age": age.astype(int),
        "income": income,
        "tenure_months": rng.exponential(8 if drifted else 24, rows).round().astype(int),
        "balance": rng.normal(1500, 600, rows).round(2),
        "products": rng.poisson(2, rows),
        "satisfaction": rng.uniform(1, 3.5 if drifted else 5, rows).round(2),
        "region": rng.choice(REGIONS, rows, p=[0.3, 0.3, 0.2, 0.2]),
        "plan": rng.choice(PLANS, rows, p=plan_weights),
    })
    missing = rng.random(rows) < 0.02
    frame.loc[missing, "balance"] = np.nan
    return frame


def churn_labels(rng: np.random.Generator, frame: pd.DataFrame) -> np.ndarray:
    plan_effect = frame["plan"].map({"basic": 0.6, "plus": 0.0, "premium": -0.8}).to_numpy()
    logit = (
        1.2
        - 0.045 * frame["tenure_months"].to_numpy()
        - 0.9 * (frame["satisfaction"].to_numpy() - 3)
        + 0.25 * (frame["products"].to_numpy() - 2)
        + 0.02 * (frame["age"].to_numpy() - 40)
        + plan_effect
    )
    return (rng.random(len(frame)) < 1 / (1 + np.exp(-logit))).astype(int)


def write(out: Path, rows: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    labeled = customers(rng, rows)
    labeled["label"] = churn_labels(rng, labeled)
    batch_ok = customers(rng, rows // 4)
    batch_drifted = customers(rng, rows // 4, drifted=True)
    new_segment = customers(rng, rows // 2, drifted=True)  # drawn last: the files above stay as they were
    new_segment["label"] = churn_labels(rng, new_segment)
    files = {
        out / "labeled" / "customers.csv": labeled,
        out / "incoming" / "batch-ok.csv": batch_ok,
        out / "incoming" / "batch-drifted.csv": batch_drifted,
        out / "labeled" / "new-segment" / "customers.csv": new_segment,
    }
    for path, frame in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    malformed = out / "incoming" / "malformed.csv"
    malformed.write_text(
        "age,income,tenure_months,balance,products,satisfaction,region,plan\n"
        "41,35000.5,12,1400.0,2,3.5,north,basic\n"
        "39,not-a-number,7\n"
        "52,41000,30,1800.0,1,4.1,south,plus,extra,columns,here\n"
        '"unterminated,44000,3,900.0,2,2.2,east,premium\n'
    )
    return [*files, malformed]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "sample_data")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    for path in write(args.out, args.rows, args.seed):
        print(f"{path} {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
