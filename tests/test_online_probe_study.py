"""experiments/online_probe.py's verdict rule by hand: the lag (offline − online test
accuracy, paired by seed) is 'confirmed' only when its 95% CI lies within ±TOL, 'refuted'
when the CI is clear of it, else 'not resolved'. The study's sweep (10 trials of 4000
steps) is not run here: its claim is a measurement of an existing feature, whose
training is tested in tests/test_online_probe.py.

    PYTHONPATH=. python -m pytest -q tests/test_online_probe_study.py   # 2 passed, ~5 s
"""
import importlib.util

import numpy as np
import pandas as pd

SPEC = importlib.util.spec_from_file_location("online_probe", "experiments/online_probe.py")
study = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(study)


def test_the_lag_rule_by_hand():
    tol = study.TOL
    assert study.lag_verdict(np.array([0.01, -0.01, 0.0, 0.02, -0.02])) == study.CONFIRMED
    assert study.lag_verdict(np.array([0.22, 0.25, 0.20, 0.24, 0.23])) == study.REFUTED
    assert study.lag_verdict(-np.array([0.22, 0.25, 0.20, 0.24, 0.23])) == study.REFUTED
    # A mean inside the band with a CI that crosses its edge: not resolved either way.
    assert study.lag_verdict(np.array([0.0, 0.09, -0.02, 0.07, 0.01])) == study.NOT_RESOLVED
    # The band is the study's TOL: the same lags judged with a wider band are confirmed.
    lags = np.array([0.04, 0.06, 0.05, 0.05, 0.055])
    assert study.lag_verdict(lags) != study.CONFIRMED
    assert study.lag_verdict(lags, tol=4 * tol) == study.CONFIRMED


def test_verdicts_are_per_method_and_the_status_follows():
    table = pd.DataFrame({"method": ["a"] * 5 + ["b"] * 5,
                          "lag": [0.01, -0.01, 0.0, 0.02, -0.02, 0.22, 0.25, 0.20, 0.24, 0.23]})
    outcomes = study.verdicts(table)
    assert outcomes == {"a": study.CONFIRMED, "b": study.REFUTED}
    from jaxdl.study import report
    assert report.status_of(list(outcomes.values())) == "partly reproduced"
