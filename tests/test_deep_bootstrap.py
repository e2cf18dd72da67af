"""Deep bootstrap as a claim, small: early in training (long before the real world fits
its 4000 examples) a CNN trained on reused data and one trained on fresh data have the
same test error on the fixed fresh set, which measure() evaluates at every checkpoint for
both worlds (the curves of the gap); the gap table's arithmetic; and the verdict's rule,
which says refuted when the worlds' gap is removed from "small" (lies above the bar)."""
import importlib.util
import os

import numpy as np
import pandas as pd
import pytest

from jaxdl.study import report, run, store, sweep

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


def test_gap_outcome_by_hand():
    """Small: every model's paired interval at or below SMALL_GAP; refuted when one lies
    above it (the worlds apart before convergence: the claim's effect removed)."""
    def worst(*intervals):
        return pd.DataFrame([{"model": f"m{i}", "low": lo, "high": hi}
                             for i, (lo, hi) in enumerate(intervals)])
    bar = db.SMALL_GAP
    assert db.gap_outcome(worst((0.01, 0.03), (0.0, bar))) == "confirmed"
    assert db.gap_outcome(worst((0.01, 0.03), (0.04, 0.07))) == "not resolved"
    assert db.gap_outcome(worst((0.01, 0.03), (bar + 0.01, 0.2))) == "refuted"


STUDY = """
import importlib.util
from jaxdl.study import sweep
spec = importlib.util.spec_from_file_location("db", {path!r})
db = importlib.util.module_from_spec(spec)
spec.loader.exec_module(db)
SWEEP = sweep.product([dict(db.MODELS["cnn"])], [db.world(db.REAL), db.world(200 * 100 + db.HELD_OUT)])
SEEDS = (0, 1)
METRICS = ("measure/test_error",)
measure = db.measure
def get_config(name=None):
    c = db.get_config()
    c.steps, c.eval_every, c.checkpoint_every = 200, 200, 100
    return c
"""


def test_claim_real_and_ideal_worlds_agree_early(tmp_path):
    """The CNN at step 200 (long before the real world's train error reaches 1%: its train
    accuracy is 0.81-0.88 there), 2 seeds: real and ideal test error on the study's fixed
    fresh set differ by at most the study's bar for a small gap, SMALL_GAP = 0.05 (the study
    takes the largest gap over the eval steps before convergence; here the last). The ideal
    world is the study's for this length: 200 x 100 fresh examples + the held-out 1000.
    Measured (2-core Intel Xeon, shared; this code): real 0.187, ideal 0.153 (gap 0.034;
    per seed 0.028, 0.040; seeds 2-5: 0.021-0.033, so no pair of seeds 0-5 exceeds 0.037);
    under XLA_FLAGS=--xla_cpu_max_isa=SSE4_2 gap 0.032 (AVX2: the default's bits). (Until
    issue 17 the bar was 0.06. Until the suite's diet: 300 steps, evaluated at 150 too,
    real 0.127, ideal 0.104; 8 s of CPU, now 4 s.)
    measure() gives the curve on the fixed set at every checkpoint (100, 200), its last
    value the final scalar; the analysis reads the curves of both worlds from it."""
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
    _, results, _ = report.load_results([str(tmp_path / "sweep")])
    curves = db.fixed_curves(results)
    assert len(curves) == 4 * 2 * len(db.CURVES)  # 4 trials x steps 100, 200 x 2 metrics
    assert sorted(set(curves["step"])) == [100, 200]
    last = curves[(curves["metric"] == "test/error") & (curves["step"] == 200)]
    np.testing.assert_allclose(sorted(last["value"]), sorted(errors["real"] + errors["ideal"]))
    first = curves[(curves["metric"] == "test/error") & (curves["step"] == 100)]
    assert set(first["world"]) == {"real", "ideal"} and len(first) == 4
