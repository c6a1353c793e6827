"""The latency gate on a busy machine: warm-up calls are not measured, and the median of the rounds'
p95s is judged, so a burst of load fails no sound model while a model slow on every call still fails.
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
