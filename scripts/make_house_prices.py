"""Generate the regression sample: house sale prices, for examples/house_prices, the tests and the docs.

    python scripts/make_house_prices.py [--out sample_data] [--rows 1200] [--seed 11]

Writes, deterministically for a seed:
- labeled/houses.csv  training data: 5 numeric features (`area_m2`, `rooms`, `age_years`,
  `distance_km`, `lot_m2`), 2 categorical ones (`neighborhood`, `condition`) and the continuous
  target `price` (thousands, one decimal): a price per square metre that depends on the
  neighbourhood, falls with distance to the centre and with age, rises with condition and lot size,
  with multiplicative noise (about 8%);
- incoming/houses-later.csv  a later batch of listings from the same market, without the price.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

NEIGHBORHOODS = {"old_town": 5.2, "riverside": 4.4, "suburbs": 3.1, "industrial": 2.4}  # k per m2
CONDITIONS = {"poor": 0.85, "fair": 1.0, "good": 1.12, "excellent": 1.25}


def houses(rng: np.random.Generator, rows: int) -> pd.DataFrame:
    rooms = rng.integers(1, 7, rows)
    area = (rooms * rng.normal(24, 5, rows) + rng.normal(18, 6, rows)).clip(20, 400).round(1)
    return pd.DataFrame({
        "area_m2": area,
        "rooms": rooms,
        "age_years": rng.gamma(2.0, 15.0, rows).clip(0, 120).round().astype(int),
        "distance_km": rng.gamma(2.0, 2.5, rows).round(2),
        "lot_m2": (rng.lognormal(5.0, 0.7, rows) * (rng.random(rows) < 0.6)).round(),
        "neighborhood": rng.choice(list(NEIGHBORHOODS), rows, p=[0.15, 0.25, 0.45, 0.15]),
        "condition": rng.choice(list(CONDITIONS), rows, p=[0.1, 0.4, 0.35, 0.15]),
    })


def prices(rng: np.random.Generator, frame: pd.DataFrame) -> np.ndarray:
    per_m2 = frame["neighborhood"].map(NEIGHBORHOODS).to_numpy()
    value = (
        frame["area_m2"].to_numpy() * per_m2
        * np.exp(-0.04 * frame["distance_km"].to_numpy())
        * (1 - 0.003 * frame["age_years"].to_numpy().clip(0, 100))
        * frame["condition"].map(CONDITIONS).to_numpy()
        + 0.08 * frame["lot_m2"].to_numpy()
    )
    return (value * rng.lognormal(0.0, 0.08, len(frame))).round(1)


def write(out: Path, rows: int, seed: int) -> list[Path]:
    rng = np.random.default_rng(seed)
    labeled = houses(rng, rows)
    labeled["price"] = prices(rng, labeled)
    files = {out / "labeled" / "houses.csv": labeled, out / "incoming" / "houses-later.csv": houses(rng, rows // 4)}
    for path, frame in files.items():
        path.parent.mkdir(parents=True, exist_ok=True)
        frame.to_csv(path, index=False)
    return list(files)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "sample_data")
    parser.add_argument("--rows", type=int, default=1200)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    for path in write(args.out, args.rows, args.seed):
        print(f"{path} {path.stat().st_size} bytes")


if __name__ == "__main__":
    main()
