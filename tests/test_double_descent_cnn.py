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
"""
import os

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
def findings(tmp_path_factory):
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
