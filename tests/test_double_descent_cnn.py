"""Claim as a test: the CNN arm of experiments/double_descent.py, small.

The study's CNN recipe (the MNIST-1D CNN with c channels, Adam lr 1e-3, batch 100, its
measure and the CNN arm's findings) on the easier, smaller MNIST-1D of
tests/test_double_descent.py (1000 training examples, no translation or shear), 30% of
the training labels redrawn, 150 epochs. c = 8 (under-parameterised: train error ~24%
on the noisy labels) and c = 32 (where train error first reaches ~0). The fast tests
check the peak at the threshold and the clean control only: a classical U-curve (test
error rising with capacity past an optimum and never falling again) passes them too.
What tells double descent from it, the fall past the threshold, is
`test_cnn_test_error_falls_again_past_the_threshold` (slow: it trains c = 32 and 128
twice, about a minute on 2 shared CPU cores): c = 32 against c = 128, paired by seed.

Measured when written (test error %): noisy 8.2 / 25.0 (seed 0) and 5.7 / 25.2 (seed 1)
at c = 8 / 32, train error 23.8 / 0.2 and 24.8 / 0.4; clean 0.8 / 0.4 (seed 0). The
assertions leave margins of several points.

The second CNN arm, trained with the notebook's recipe (SGD 0.01, momentum 0.9, 500
epochs), is compared with the notebook's published CNN curve; its rules are checked by
hand on synthetic curves (`test_notebook_*`): the notebook's own curve read by them, a
curve shifted by two grid steps, and one 5 points higher, which must not match. Its
analysis runs end to end on the fixture's noisy trials (no extra training: 500 epochs of
SGD are the full study's, not a test's).
"""
import math
import os

import pandas as pd
import pytest

from jaxdl.study import report, run, sweep

STUDY_FILE = os.path.join(os.path.dirname(__file__), "..", "experiments", "double_descent.py")
SMALL, THRESHOLD, WIDE, NOISE = 8, 32, 128, 0.3

STUDY = """
import importlib.util
spec = importlib.util.spec_from_file_location("double_descent_study", {path!r})
dd = importlib.util.module_from_spec(spec)
spec.loader.exec_module(dd)
SWEEP = [dict(p, **{{"data.label_noise": {noise} if p["data.label_noise"] else 0.0}})  # 0.15 -> {noise}
         for p in dd.cnn_arm({channels}, steps=1500) if p["data.label_noise"] or {clean}]
SEEDS = (0, 1)
METRICS = ("test/accuracy", "train/accuracy")
measure = dd.measure


def get_config(name=None):
    c = dd.get_config()
    c.data.update(num_samples=5000, train_split=0.2, max_translation=1, shear_scale=0.0)
    c.eval_every, c.checkpoint_every = 0, 0
    return c
"""


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """The small sweep, trained once for the module: (the study module, its results)."""
    root = tmp_path_factory.mktemp("double_descent_cnn")
    path = root / "study.py"
    path.write_text(STUDY.format(path=os.path.abspath(STUDY_FILE), channels=(SMALL, THRESHOLD),
                                 noise=NOISE, clean=True))
    study = sweep.load_study(str(path))
    workdir = str(root / "sweep")
    summary = run.run_study(study, workdir, vectorize_mode="no", progress=False)
    assert (summary.done, summary.failed) == (8, 0)
    dd = sweep.load_module(STUDY_FILE)
    _, results, _ = report.load_results([workdir])
    return dd, results


@pytest.fixture(scope="module")
def findings(trained):
    dd, results = trained
    return dd, dd.findings(dd.channel_arm(results))


def test_cnn_test_error_peaks_where_it_first_fits_the_noisy_labels(findings) -> None:
    dd, f = findings
    test, train = dd.by_width(f["test"], NOISE), dd.by_width(f["train"], NOISE)
    assert train[SMALL] > 15.0 and train[THRESHOLD] < 2.0  # measured 24.3 and 0.3
    assert f["threshold"] == THRESHOLD
    assert test[THRESHOLD] > test[SMALL] + 10.0  # measured 25.1 vs 7.0
    df = f["test_df"][f["test_df"]["data.label_noise"] == NOISE]
    by_seed = df.pivot_table(index="seed", columns="model.width", values="value")
    assert (by_seed[THRESHOLD] - by_seed[SMALL]).min() > 10.0  # at every seed: 16.8, 19.5


def test_cnn_clean_labels_show_no_peak(findings) -> None:
    dd, f = findings
    clean, noisy = dd.by_width(f["test"], 0.0), dd.by_width(f["test"], NOISE)
    assert clean[THRESHOLD] < clean[SMALL] + 1.0  # measured 0.4 vs 0.8
    assert noisy[THRESHOLD] > clean[THRESHOLD] + 15.0  # the peak is the noise's doing


@pytest.mark.slow
def test_cnn_test_error_falls_again_past_the_threshold(tmp_path) -> None:
    """The second descent, which a classical U-curve does not have: on the same data and
    seeds as the fixture, c = 128 (train error 0) ends below c = 32 (the peak) at every
    seed, by more than 2 points. Measured when written (test error %, seeds 0 / 1): c = 32
    24.95 / 25.20, c = 128 20.70 / 20.85 (train error 0); c = 64 on seed 0: 24.0; 49 s
    on 2 shared CPU cores (75 s for c = 64 and 128 on busier ones). The study's full run
    falls 1.9 ± 1.3 points from its peak c = 45 to c = 90."""
    path = tmp_path / "study.py"
    path.write_text(STUDY.format(path=os.path.abspath(STUDY_FILE), channels=(THRESHOLD, WIDE),
                                 noise=NOISE, clean=False))
    workdir = str(tmp_path / "sweep")
    summary = run.run_study(sweep.load_study(str(path)), workdir, vectorize_mode="no", progress=False)
    assert (summary.done, summary.failed) == (4, 0)
    dd = sweep.load_module(STUDY_FILE)
    _, results, _ = report.load_results([workdir])
    arm = dd.channel_arm(results)
    train = dd.errors(arm, "train").pivot_table(index="seed", columns=dd.WIDTH, values="value")
    assert (train[WIDE] < 1.0).all(), train  # past the interpolation threshold
    by_seed = dd.errors(arm, "test").pivot_table(index="seed", columns=dd.WIDTH, values="value")
    assert (by_seed[THRESHOLD] - by_seed[WIDE]).min() > 2.0, by_seed


# ---------------------------------------------------------------- the notebook-recipe arm


def test_notebook_recipe_arm_trains_as_the_notebook() -> None:
    """Its points are the notebook's cell 10: SGD 0.01 with momentum 0.9, batch 100, 500
    epochs of the 4000 noisy examples, label noise 0.15, PyTorch's weight variance."""
    study = sweep.load_study(os.path.join(os.path.dirname(STUDY_FILE), "double_descent_cnn.py"))
    nb = [t for t in study.trials if t.point["optimizer.name"] == "momentum"]
    assert {t.point["model.channels"][0] for t in nb} >= {16, 18, 23, 32}  # its peak, threshold
    config = nb[0].config
    assert (config.optimizer.lr, config.optimizer.momentum, config.optimizer.weight_decay) == (
        0.01, 0.9, 0.0)
    assert config.steps * config.batch_size == 500 * 4000 and config.batch_size == 100
    assert config.data.label_noise == 0.15 and config.model.name == "cnn1d"
    assert math.isclose(config.model.init_scale, 1 / math.sqrt(3))


def synthetic(curve: dict[int, float], train: dict[int, float]) -> dict:
    """`findings`' entries that the notebook comparison reads, for a curve by hand."""
    dd = sweep.load_module(STUDY_FILE)
    rows = [{"model.width": c, "data.label_noise": 0.15, "mean": v} for c, v in curve.items()]
    test = pd.Series(curve).sort_index()
    valley, peak = dd.valley_and_peak(test)
    return dd, {"test": pd.DataFrame(rows), "noisy": 0.15, "widths": tuple(sorted(curve)),
                "valley": valley, "peak": peak,
                "threshold": dd.interpolation_width(pd.Series(train).sort_index())}


def test_notebook_curve_read_by_the_studys_rules() -> None:
    dd = sweep.load_module(STUDY_FILE)
    nb = dd.notebook_curve()
    assert (nb["valley"], nb["peak"], nb["threshold"]) == (10, 18, 24)
    assert (nb["valley_error"], nb["peak_error"]) == (19.64, 33.80)
    grid = (8, 11, 16, 18, 23, 32, 45)
    assert dd.within_a_step(18, 16, grid) and dd.within_a_step(18, 23, grid)
    assert not dd.within_a_step(18, 32, grid) and not dd.within_a_step(24, 18, grid)
    assert dd.within_a_step(24, 32, grid) and not dd.within_a_step(24, math.nan, grid)


def test_notebook_comparison_matches_its_own_curve_and_not_a_shifted_one() -> None:
    grid = (8, 11, 16, 18, 23, 32, 45)
    # The notebook's values at our grid's c (11 and 23 interpolated), train error 0 from 24.
    curve = {8: 21.95, 11: 21.7, 16: 27.29, 18: 33.80, 23: 31.7, 32: 30.0, 45: 30.23}
    train = {8: 24.9, 11: 19.7, 16: 12.7, 18: 10.9, 23: 3.0, 32: 0.0, 45: 0.0}
    dd, f = synthetic(curve, train)
    assert all(dd.notebook_comparisons(f).values()), dd.notebook_comparisons(f)
    # The effect moved: the same curve two grid steps wider (peak at c = 32, fitted from 45).
    shifted = dict(zip(grid, [25.0, 24.0, *curve.values()][:len(grid)]))
    dd, f = synthetic(shifted, dict(zip(grid, [40.0, 30.0, *train.values()][:len(grid)])))
    checks = dd.notebook_comparisons(f)
    assert not checks["location"] and not checks["threshold"], checks
    # The same shape 5 points higher: the location matches, the errors do not.
    dd, f = synthetic({c: v + 5 for c, v in curve.items()}, train)
    checks = dd.notebook_comparisons(f)
    assert checks["location"] and not checks["valley"] and not checks["height"], checks


def test_notebook_arm_analysis_runs_without_clean_labels(trained) -> None:
    """The arm's analysis on the fixture's noisy trials (an Adam arm standing in for it):
    tables, plots, a verdict naming what would not match, and outcomes."""
    dd, results = trained
    noisy = dd.channel_arm(results).select(lambda p: p["data.label_noise"] > 0)
    analysis, words, matches = dd.notebook_cnn_analysis(noisy)
    assert set(words) <= {"confirmed", "refuted"} and len(words) == 2
    assert isinstance(matches, bool)
    assert "Not matching, fixed before the run" in analysis.verdict
    assert len(analysis.plots) == 4 and len(analysis.tables) == 2
