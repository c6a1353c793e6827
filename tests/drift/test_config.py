from __future__ import annotations

import pytest

from shared.drift import ColumnConfig, DriftConfig


def test_defaults():
    cfg = DriftConfig()
    assert cfg.fdr == 0.05 and cfg.drift_share == 0.5
    assert cfg.for_column("x", "numeric") == ("wasserstein_norm", 0.1, 0.05, False)
    assert cfg.for_column("c", "categorical") == ("psi", 0.1, 0.05, False)


def test_from_mapping_round_trip_and_overrides():
    cfg = DriftConfig.from_mapping({
        "fdr": 0.01, "key_features": ["age"], "thresholds": {"js": 0.2},
        "columns": {"age": {"effect": "js", "threshold": 0.05}, "id": {"ignore": True}},
    })
    assert cfg.fdr == 0.01 and cfg.key_features == ("age",)
    assert cfg.thresholds == {"wasserstein_norm": 0.1, "psi": 0.1, "js": 0.2}
    assert cfg.columns["age"] == ColumnConfig(effect="js", threshold=0.05)
    assert cfg.for_column("age", "numeric") == ("js", 0.05, 0.05, False)
    assert cfg.for_column("id", "numeric")[3] is True
    assert DriftConfig.from_mapping(cfg.to_mapping()) == cfg


@pytest.mark.parametrize("data,match", [
    ({"fdr": 1.5}, r"'fdr' must be a number in \(0, 1\)"),
    ({"fdr": "0.05"}, r"'fdr' must be a number"),
    ({"fdrr": 0.05}, r"unknown drift setting 'fdrr'; expected one of: .*fdr"),
    ({"thresholds": {"ks": 0.1}}, r"'thresholds.ks' is unknown"),
    ({"key_features": "age"}, r"'key_features' must be a list of column names"),
    ({"columns": {"age": {"treshold": 1}}}, r"unknown drift setting 'columns.age.treshold'"),
    ({"columns": {"age": {"effect": "ks"}}}, r"'columns.age.effect' must be one of"),
    ({"bins": 1}, r"'bins' must be an integer >= 2"),
    ({"drift_share": True}, r"'drift_share' must be a number"),
    ([1, 2], r"must be a JSON object"),
])
def test_from_mapping_rejects_bad_values_naming_the_key(data, match):
    with pytest.raises(ValueError, match=match):
        DriftConfig.from_mapping(data)
