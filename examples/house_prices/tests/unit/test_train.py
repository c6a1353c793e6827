"""Fast checks of the training code on a small synthetic market: it learns, and answers numbers."""

import numpy as np
import pandas as pd

from training.train import train


def market(rows: int = 300, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    area = rng.uniform(30, 200, rows)
    neighborhood = rng.choice(["centre", "edge"], rows)
    price = area * np.where(neighborhood == "centre", 5.0, 3.0) * rng.lognormal(0, 0.05, rows)
    return pd.DataFrame({"area_m2": area, "neighborhood": neighborhood, "price": price.round(1)})


def test_the_model_learns_the_price_per_square_metre():
    pipeline, metrics = train(market(), {"target_column": "price", "max_iter": 50})
    assert metrics["r2"] > 0.8 and metrics["mae"] < 60
    predicted = pipeline.predict(pd.DataFrame({"area_m2": [100.0, 100.0], "neighborhood": ["centre", "edge"]}))
    assert predicted.dtype.kind == "f" and predicted[0] > predicted[1] > 0


def test_the_same_seed_trains_the_same_model():
    first, _ = train(market(), {"target_column": "price", "max_iter": 30, "seed": 3})
    second, _ = train(market(), {"target_column": "price", "max_iter": 30, "seed": 3})
    rows = market(20, seed=9).drop(columns=["price"])
    assert np.array_equal(first.predict(rows), second.predict(rows))
