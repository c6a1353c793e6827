"""Training entry points and integration checks the chain tests name in settings
(`DRIFTLINE_TRAINING_ENTRY_POINT=tests.helpers.entry_points:small`; the module must stay importable by that name)."""

from __future__ import annotations

import numpy as np

from shared.model import default_model


def small(frame, params):
    """The default model, kept small so tests run fast."""
    return default_model.train(frame, {**params, "max_iter": 30})


class WrongShape:
    """Fits, saves and loads fine, but predicts a 2-D array: breaks the scoring contract."""

    def predict(self, features):
        return np.zeros((len(features), 2))


def wrong_shape(frame, params):
    return WrongShape(), {"note": "broken on purpose"}


def constant(frame, params):
    """Always predicts the minority class: clearly worse than a trained model."""
    from sklearn.dummy import DummyClassifier

    labels = frame[params["target_column"]]
    minority = labels.value_counts().idxmin()
    features = frame.drop(columns=[params["target_column"]])
    return DummyClassifier(strategy="constant", constant=minority).fit(features, labels), {}


def raises(frame, params):
    raise RuntimeError("the data scientist's code failed")


def untrusted(frame, params):
    """A model carrying a type outside the trusted list (fractions.Fraction)."""
    import fractions

    model, metrics = small(frame, params)
    model.note = fractions.Fraction(1, 3)
    return model, metrics


def integration_fails(estimator, holdout):
    return False


def integration_passes(estimator, holdout):
    assert len(estimator.predict(holdout.drop(columns=["label"]).head(5))) == 5


def mean_price(frame, params):
    """A regressor that always predicts the mean: clearly worse than a trained one."""
    from sklearn.dummy import DummyRegressor

    target = params["target_column"]
    return DummyRegressor(strategy="mean").fit(frame.drop(columns=[target]), frame[target]), {}


class NotFinite:
    """A regressor that fits, saves and loads fine, but predicts NaN and infinity: breaks the contract."""

    def predict(self, features):
        values = np.full(len(features), np.nan)
        values[::2] = np.inf
        return values


def not_finite(frame, params):
    return NotFinite(), {}


class RangeChecked:
    """A model whose inference refuses rows outside the training range of its numeric features
    (strict input validation, as some production services have): it raises on new kinds of rows."""

    def __init__(self, model, limits):
        self.model = model
        self.limits = limits

    def predict(self, features):
        for column, (low, high) in self.limits.items():
            if not features[column].between(low, high).all():
                raise ValueError(f"{column} outside the training range [{low}, {high}]")
        return self.model.predict(features)


def range_checked(frame, params):
    model, metrics = small(frame, params)
    features = frame.drop(columns=[params["target_column"]]).select_dtypes("number")
    limits = {column: [float(features[column].min()), float(features[column].max())] for column in features}
    return RangeChecked(model, limits), metrics
