"""Deep bootstrap as a claim, small: early in training (long before the real world fits
its 4000 examples) a CNN trained on reused data and one trained on fresh data have the
same test error; and the gap table's arithmetic."""
import importlib.util
import os

import numpy as np
import pandas as pd
import pytest

from jaxdl.study import run, store, sweep

SPEC = importlib.util.spec_from_file_location("db", "experiments/deep_bootstrap.py")
db = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(db)


def test_gap_before_convergence_by_hand():
    rows = []
    for world, test, train in (("real", [0.5, 0.3, 0.2], [0.4, 0.005, 0.0]),
                               ("ideal", [0.52, 0.34, 0.1], [0.5, 0.3, 0.2])):
        for step, te, tr in zip((100, 200, 300), test, train):
            rows += [{"model": "cnn", "world": world, "metric": "test/error", "step": step, "value": te},
                     {"model": "cnn", "world": world, "metric": "train/error", "step": step, "value": tr}]
    gap = db._gap_before_convergence(pd.DataFrame(rows)).iloc[0]
    assert gap["real world converges at step"] == 200  # first step with train error < 1%
    assert gap["max abs gap"] == pytest.approx(0.04)  # steps 100, 200 only: |0.3 - 0.34|


STUDY = """
import importlib.util
from jaxdl.study import sweep
spec = importlib.util.spec_from_file_location("db", {path!r})
db = importlib.util.module_from_spec(spec)
spec.loader.exec_module(db)
SWEEP = sweep.product([dict(db.MODELS["cnn"])], [db.world(db.REAL), db.world(300 * 100 + db.HELD_OUT)])
SEEDS = (0, 1)
METRICS = ("measure/test_error",)
measure = db.measure
def get_config(name=None):
    c = db.get_config()
    c.steps = c.eval_every = c.checkpoint_every = 300
    return c
"""


def test_claim_real_and_ideal_worlds_agree_early(tmp_path):
    """The CNN at step 300 (long before the real world's train error reaches 1%), 2 seeds:
    real and ideal test error on the study's fixed fresh set differ by at most the study's
    bar for a small gap, SMALL_GAP = 0.05 (the study takes the largest gap over the eval
    steps before convergence; here one step). Measured when written: real 0.127, ideal
    0.104 (gap 0.023; per seed 0.016, 0.031); 20 s. (Until issue 17 the bar was 0.06.)"""
    path = tmp_path / "db.py"
    path.write_text(STUDY.format(path=os.path.abspath("experiments/deep_bootstrap.py")))
    run.run_study(sweep.load_study(str(path)), str(tmp_path / "sweep"), progress=False)
    errors = {"real": [], "ideal": []}
    for r in store.records([str(tmp_path / "sweep")]):
        world = "real" if r["point"]["data.num_samples"] == db.REAL else "ideal"
        errors[world].append(dict((m, v) for _, m, v in r["rows"])["measure/test_error"])
    real, ideal = np.mean(errors["real"]), np.mean(errors["ideal"])
    assert 0.1 < real < 0.6  # still learning: far from the 6% the full recipe reaches
    assert abs(real - ideal) <= db.SMALL_GAP  # Nakkiran et al.: the worlds agree before convergence
