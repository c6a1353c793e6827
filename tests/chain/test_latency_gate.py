"""The latency gate on a busy machine: warm-up calls are not measured, and the median of the rounds'
p95s is judged, so a burst of load fails no sound model while a model slow on every call still fails;
with production measured alongside, sustained load that slows both alike fails no sound model either.
The clock is scripted (no timing in the test): each predict "takes" what the script says."""

from __future__ import annotations

import pandas as pd
from sklearn.linear_model import LogisticRegression

from shared.model import gates
from shared.platform.settings import load_settings
from shared.repo.inference import estimator_predictor

SETTINGS = load_settings({"AzureWebJobsStorage": "UseDevelopmentStorage=true", "DRIFTLINE_LATENCY_BUDGET_MS": "50",
                          "DRIFTLINE_LATENCY_REPETITIONS": "50"})
FEATURES = pd.DataFrame({"a": [0.0, 1.0, 2.0, 3.0], "b": [1.0, 0.0, 1.0, 0.0]})


class ScriptedClock:
    """Answers perf_counter-like seconds; the n-th measured call lasts durations_ms(n)."""

    def __init__(self, durations_ms):
        self.durations_ms, self.now, self.calls, self.started = durations_ms, 0.0, 0, False

    def __call__(self) -> float:
        if self.started:
            self.now += self.durations_ms(self.calls) / 1000
            self.calls += 1
        self.started = not self.started
        return self.now


def gate(durations_ms):
    estimator = LogisticRegression().fit(FEATURES, [0, 1, 0, 1])
    return gates.latency_gate(SETTINGS, estimator_predictor(estimator), FEATURES, clock=ScriptedClock(durations_ms))


def test_a_burst_of_load_in_one_round_does_not_fail_a_sound_model():
    # 10 calls per round; round 2 ran while the machine was busy (83 ms), the rest took 2 ms.
    result = gate(lambda n: 83.0 if 10 <= n < 20 else 2.0)
    assert result.passed and result.value == 2.0 and "median of 5 rounds" in result.detail


def test_scattered_slow_calls_past_the_p95_of_a_round_do_not_fail_it():
    result = gate(lambda n: 120.0 if n % 25 == 0 else 3.0)
    assert result.passed


def test_a_model_slow_on_every_call_still_fails():
    result = gate(lambda n: 60.0 + n % 3)
    assert not result.passed and result.value > 50 and result.threshold == 50


def test_a_model_slow_in_most_rounds_fails():
    result = gate(lambda n: 90.0 if n < 30 else 2.0)
    assert not result.passed


def paired_gate(candidate_ms, production_ms):
    """The candidate's and production's calls interleaved: even measured calls are the candidate's."""
    estimator = LogisticRegression().fit(FEATURES, [0, 1, 0, 1])
    clock = ScriptedClock(lambda n: candidate_ms(n // 2) if n % 2 == 0 else production_ms(n // 2))
    return gates.latency_gate(SETTINGS, estimator_predictor(estimator), FEATURES, clock=clock,
                              reference=estimator_predictor(estimator))


def test_sustained_load_that_slows_production_alike_does_not_fail_a_sound_model():
    result = paired_gate(lambda n: 80.0, lambda n: 78.0)  # both over the 50 ms budget: the machine is slow
    assert result.passed and result.value == 80.0 and result.threshold == round(78.0 * 1.1, 3)
    assert "production, interleaved on the same rows: p95 78.00 ms, over the budget too" in result.detail


def test_a_candidate_slower_than_production_on_a_slow_machine_fails():
    result = paired_gate(lambda n: 120.0, lambda n: 78.0)
    assert not result.passed and "at most 10% slower" in result.detail


def test_a_candidate_over_the_budget_while_production_is_within_it_fails():
    result = paired_gate(lambda n: 60.0, lambda n: 20.0)
    assert not result.passed and result.threshold == 50 and "the candidate itself is too slow" in result.detail


def test_within_the_budget_production_is_not_needed():
    result = paired_gate(lambda n: 4.0, lambda n: 300.0)
    assert result.passed and result.threshold == 50


def test_a_production_that_cannot_score_the_rows_leaves_the_candidate_judged_alone():
    class Refusing:
        source = "refuses every row"
        predict_proba = None

        def predict(self, rows):
            raise ValueError("outside the training range")

    estimator = LogisticRegression().fit(FEATURES, [0, 1, 0, 1])
    result = gates.latency_gate(SETTINGS, estimator_predictor(estimator), FEATURES,
                                clock=ScriptedClock(lambda n: 70.0), reference=Refusing())
    assert not result.passed and result.threshold == 50 and "production" not in result.detail
