"""Serving code of the churn model: `score.predict` and `score.predict_proba`."""
