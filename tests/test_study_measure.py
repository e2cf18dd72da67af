"""A study's measure(ctx): run once per finished trial on its final state (one-by-one
and vectorized trials alike), committed into the trial's record, read back by the
report, never re-run unless asked, and a failure names the trial and loses nothing."""
import glob
import os
import subprocess
import sys

import numpy as np
import pytest

from jaxdl import data
from jaxdl.study import measure, report, run, store, sweep

STUDY = """
import jax
import numpy as np
from jaxdl import config as config_lib
from jaxdl.study import sweep
SWEEP = sweep.axis("optimizer.lr", (3e-3, 1e-2))
SEEDS = (0, 1)
METRICS = ("test/accuracy", "measure/accuracy_again")
def get_config(name=None):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 30, 10, 10, 10
    return c
def measure(ctx):
    {fail}
    logits = ctx.apply(ctx.run.dataset.x_test)
    other = ctx.load(seed=1 - ctx.trial.seed)
    return {{"accuracy_again": ctx.evaluate()["test"]["accuracy"],
             "accuracy_at_10": ctx.evaluate(ctx.at_step(10))["test"]["accuracy"],
             "logged_at_10": ctx.history("test/accuracy")[10],
             "other_seed_accuracy": ctx.evaluate(other)["test"]["accuracy"],
             "draw": jax.random.uniform(ctx.key),
             "predictions": np.argmax(np.asarray(logits), -1)}}
"""


def write(tmp_path, fail=""):
    path = tmp_path / "study.py"
    path.write_text(STUDY.format(fail=fail))
    return str(path)


def final(recs, metric):
    return {r["trial"]: max(row for row in r["rows"] if row[1] == metric)[2] for r in recs}


@pytest.mark.parametrize("mode", ["no", "yes"])
def test_measure_sees_each_trials_final_state_and_is_committed(tmp_path, mode):
    study = sweep.load_study(write(tmp_path))
    workdir = str(tmp_path / "sweep")
    summary = run.run_study(study, workdir, vectorize_mode=mode, progress=False)
    assert (summary.done, summary.measured) == (4, 4)
    recs = store.records([workdir])
    assert all(r["measured"] and r["arrays"] == ["predictions"] for r in recs)
    logged = final(recs, "test/accuracy")
    again = final(recs, "measure/accuracy_again")
    # The restored state is this trial's last one: the same evaluation gives the same
    # number the run logged (a wrong slice of a vectorized group would not: seeds differ).
    assert again == pytest.approx(logged, abs=1e-6)
    assert len(set(logged.values())) > 1
    # ctx.at_step(10): the trial's checkpoint at step 10 (its slice of a group's), which
    # evaluates to what the run logged there (ctx.history), not to the final state's value
    at_10, logged_10 = final(recs, "measure/accuracy_at_10"), final(recs, "measure/logged_at_10")
    assert at_10 == pytest.approx(logged_10, abs=1e-6)
    assert any(abs(at_10[t] - logged[t]) > 1e-3 for t in logged)
    by_point = {(r["point"]["optimizer.lr"], r["seed"]): r["trial"] for r in recs}
    other = final(recs, "measure/other_seed_accuracy")
    for (lr, seed), trial in by_point.items():  # ctx.load(seed=...) gives that trial's state
        assert other[trial] == pytest.approx(logged[by_point[(lr, 1 - seed)]], abs=1e-6)
    draws = final(recs, "measure/draw")  # ctx.key: the seed's MEASURE key, per trial
    assert {round(draws[by_point[(3e-3, s)]], 9) for s in (0, 1)} == \
        {round(draws[by_point[(1e-2, s)]], 9) for s in (0, 1)}
    assert draws[by_point[(3e-3, 0)]] != draws[by_point[(3e-3, 1)]]

    _, results, _ = report.load_results([workdir])
    arrays = results.arrays("predictions")
    assert len(arrays) == 4 and set(arrays.columns) == {"trial", "optimizer.lr", "seed", "value"}
    y = np.asarray(data.load("mnist1d").y_test)
    for _, row in arrays.iterrows():  # the stored predictions are the trial's own
        assert np.mean(row["value"] == y) == pytest.approx(logged[row["trial"]], abs=1e-6)
    assert len(results.summary("measure/accuracy_again")) == 2
    text = open(report.write_report([workdir])).read()
    assert "measure/accuracy_again" in text


def test_measured_once_remeasure_keeps_the_old_records(tmp_path):
    study = sweep.load_study(write(tmp_path))
    workdir = str(tmp_path / "sweep")
    run.run_study(study, workdir, vectorize_mode="no", progress=False)
    committed = {r["trial"]: r["committed"] for r in store.records([workdir])}
    rows = {r["trial"]: r["rows"] for r in store.records([workdir])}
    again = run.run_study(study, workdir, vectorize_mode="no", progress=False)
    assert (again.ran, again.measured) == (0, 0)
    assert {r["trial"]: r["committed"] for r in store.records([workdir])} == committed
    redo = run.run_study(study, workdir, vectorize_mode="no", remeasure=True, progress=False)
    assert redo.measured == 4
    assert {r["trial"]: r["rows"] for r in store.records([workdir])} == rows  # same values
    assert len(glob.glob(os.path.join(workdir, "remeasured", "*.json"))) == 4


def test_a_failing_measure_names_the_trial_and_loses_no_training(tmp_path):
    path = write(tmp_path, fail="raise ValueError('probe broke')")
    workdir = tmp_path / "sweep"
    out = subprocess.run([sys.executable, "-m", "jaxdl.cli", "sweep", path, "--workdir",
                          str(workdir), "--vectorize", "no", "--no-progress"],
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 2
    assert out.stderr.strip().splitlines()[-1].startswith("jaxdl: error: measure failed on trial ")
    assert "ValueError: probe broke" in out.stderr and "Traceback" not in out.stderr
    recs = store.records([str(workdir)])
    assert len(recs) == 4 and all(r["status"] == "done" and not r.get("measured") for r in recs)
    write(tmp_path)  # fixed: the re-run trains nothing and measures every trial
    study = sweep.load_study(path)
    summary = run.run_study(study, str(workdir), vectorize_mode="no", progress=False)
    assert (summary.ran, summary.measured) == (0, 4)


def test_measure_metrics_need_a_measure_function(tmp_path):
    path = tmp_path / "s.py"
    path.write_text(STUDY.format(fail="").replace("def measure(ctx)", "def not_measure(ctx)"))
    with pytest.raises(sweep.StudyError, match="defines no measure"):
        sweep.load_study(str(path))


def test_measure_values_must_be_named_numbers():
    with pytest.raises(measure.MeasureError, match="'a/b'"):
        measure.split_values({"a/b": 1.0}, "t")
    with pytest.raises(measure.MeasureError, match="x is not numeric"):
        measure.split_values({"x": "text"}, "t")
    scalars, arrays = measure.split_values({"s": np.float32(2.5), "v": np.arange(3)}, "t")
    assert scalars == {"s": 2.5} and list(arrays) == ["v"]


def test_trial_at_finds_the_exact_point_and_load_merges_this_trials_point():
    # load() merges its point into this trial's (another seed of the same arm); trial_at()
    # does not (stitching: a SimCLR trial's extra keys must not follow it to the top).
    trial = lambda point, seed: sweep.Trial(f"{sorted(point.items())}-{seed}", point, seed, None)
    ssl, cnn = {"steps": 8000, "model": "cnn"}, {"model": "cnn"}
    trials = [trial(ssl, 0), trial(ssl, 1), trial(cnn, 0), trial(cnn, 1)]
    ctx = measure.Context(trial=trials[0], config=None, run=None, state=None, key=None,
                          _load=lambda t, step=None: t.id, _trials=trials)
    assert ctx.trial_at(cnn, 1) is trials[3]
    assert ctx.load_trial(trials[3]) == trials[3].id
    assert ctx.load(seed=1) == trials[1].id
    with pytest.raises(sweep.StudyError, match="no trial at"):
        ctx.load(seed=1, point={"model": "mlp"})


QUICK_STUDY = """
from jaxdl import config as config_lib
from jaxdl.study import sweep
SWEEP = sweep.axis("optimizer.lr", (1e-2,))
SEEDS = (0,)
METRICS = ("measure/quick",)
QUICK = {"overrides": {"steps": 10}}
def get_config(name=None):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 10, 10, 10, 10
    return c
def measure(ctx):
    return {"quick": float(ctx.quick)}
"""


def test_measure_knows_whether_the_sweep_is_the_quick_variant(tmp_path):
    """ctx.quick: a study's measure can run a smaller probe plan for --quick, told so by
    the sweep rather than guessing from the config (QUICK here leaves the steps as they
    are, so the config cannot tell)."""
    path = tmp_path / "study.py"
    path.write_text(QUICK_STUDY)
    for quick in (False, True):
        workdir = str(tmp_path / f"sweep-{quick}")
        run.run_study(sweep.load_study(str(path), quick=quick), workdir, progress=False)
        assert list(final(store.records([workdir]), "measure/quick").values()) == [float(quick)]
