"""Learning curves: the power-law fit by hand, and "more is better" as a small claim."""
import importlib.util

import numpy as np
import pytest

from jaxdl.study import run, store, sweep

SPEC = importlib.util.spec_from_file_location("lc", "experiments/learning_curves.py")
lc = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(lc)


def test_power_law_fit_recovers_the_exponent():
    n = np.array([100.0, 200, 400, 800, 1600])
    fit = lc.power_law(n, 3.0 * n ** -0.4)
    assert fit["b"] == pytest.approx(0.4) and fit["a"] == pytest.approx(3.0)
    assert fit["r"] == pytest.approx(-1.0) and fit["b_ci"] == pytest.approx(0.0, abs=1e-6)


STUDY = """
import importlib.util
from jaxdl import config as config_lib
from jaxdl.study import sweep
spec = importlib.util.spec_from_file_location("lc", {path!r})
lc = importlib.util.module_from_spec(spec)
spec.loader.exec_module(lc)
SWEEP = sweep.product(sweep.grid({{"model.name": ["mlp"], "model.residual": [True]}}),
                      sweep.axis("data.num_samples", [320, 5120]))
SEEDS = (0,)
METRICS = ("measure/error",)
measure = lc.measure
def get_config(name=None):
    c = lc.get_config()
    c.steps = c.eval_every = c.checkpoint_every = 400
    return c
"""


def test_claim_more_data_lowers_test_error(tmp_path):
    import os
    path = tmp_path / "lc.py"
    path.write_text(STUDY.format(path=os.path.abspath("experiments/learning_curves.py")))
    run.run_study(sweep.load_study(str(path)), str(tmp_path / "sweep"), progress=False)
    error = {r["point"]["data.num_samples"]: dict((m, v) for _, m, v in r["rows"])["measure/error"]
             for r in store.records([str(tmp_path / "sweep")])}
    assert error[5120] < error[320] - 0.1  # 16x the data: clearly lower error on the same fresh set
