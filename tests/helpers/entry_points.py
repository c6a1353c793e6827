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
