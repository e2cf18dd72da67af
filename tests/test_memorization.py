"""Memorization of random labels as a claim (experiments/memorization.py, Zhang et al.
2017): the study's verdict rules by hand, then the three claims on the study's --quick
variant at the study's own thresholds — and, once, that the test fails when the effect is
removed.

    PYTHONPATH=. python -m pytest -q tests/test_memorization.py   # 4 passed, 18 s of CPU,
    # 37 s wall on the 2 busy cores of an Intel Xeon; the claims test ~9 s of CPU (was ~17)

`test_claims_on_the_quick_variant`: the --quick variant (a ReLU MLP 40-512-512-10, Adam
1e-3, 600 MNIST-1D training examples and 1000 test examples, label_noise 0 and 1.0,
5 seeds, 200 steps, train and test accuracy every 10 steps) must be "confirmed" on all
three claims by the study's own `verdicts`: every trial reaches train accuracy 1.0; the
steps to fit at label_noise 1.0 minus at 0, paired by seed, have a 95% CI above 0 (and
the per-seed Spearman ρ, ±1 with two fractions, a CI above 0); the test accuracy at 1.0
has a CI below 0.1 + 0.03 and falls with the fraction while the train accuracy stays at
1.0 — the same rules and thresholds as the full study. Measured when written (`jaxdl
sweep experiments/memorization.py --quick`, 22 s of CPU with its report): steps to fit
28 ± 14 more with random labels (ratio 1.25, 1.12–1.40), test accuracy 0.104 ± 0.006 at
1.0 (its CI's top 0.110 against the bar of 0.13); the same bits with
XLA_FLAGS=--xla_cpu_max_isa=AVX2, and 30 ± 15 steps, 0.105 ± 0.007 with SSE4_2.

Without the effect — the random labels replaced by the true ones, i.e. label_noise 0 for
both arms (the quick run's label_noise-0 trials standing in for the 1.0 arm too, which is
what training that arm on true labels gives, bit for bit) — the same code says claim 2 is
"refuted" (the paired difference is 0 for every seed) and claim 3 "refuted" (test
accuracy 0.396 ± 0.012, far above 0.13): those are the second assertions, so the test cannot
pass on rules that confirm anything.
"""
import importlib.util

import numpy as np
import pandas as pd
import pytest

from jaxdl.study import report, run, sweep

PATH = "experiments/memorization.py"
SPEC = importlib.util.spec_from_file_location("memorization", PATH)
memo = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(memo)


def test_steps_to_fit_is_the_first_evaluation_at_the_threshold():
    history = {30: 0.99, 10: 0.5, 20: 0.9, 40: 1.0, 50: 0.999, 60: 1.0}
    assert memo.steps_to_fit(history) == 40
    assert memo.steps_to_fit(history, 0.95) == 30
    assert np.isnan(memo.steps_to_fit({10: 0.5, 20: 0.99}))


def table(times: dict, tests: dict, train: float = 1.0) -> pd.DataFrame:
    """A trial table: per fraction, each seed's steps to fit and test accuracy."""
    rows = [{"fraction": f, "seed": s, "steps_to_fit": t, "final_train_accuracy": train,
             "final_test_accuracy": tests[f][s], "max_train_accuracy": 1.0 if np.isfinite(t)
             else 0.95} for f, ts in times.items() for s, t in enumerate(ts)]
    return pd.DataFrame(rows)


def test_verdict_rules_by_hand():
    grows = {0.0: [100, 110, 105], 0.5: [120, 125, 130], 1.0: [150, 160, 155]}
    falls = {0.0: [0.6, 0.61, 0.59], 0.5: [0.4, 0.38, 0.41], 1.0: [0.1, 0.11, 0.09]}
    assert memo.verdicts(table(grows, falls)) == {"fit": memo.CONFIRMED, "time": memo.CONFIRMED,
                                                  "test": memo.CONFIRMED}
    same = {f: [100, 110, 105] for f in grows}
    assert memo.time_verdict(table(same, falls)) == memo.REFUTED  # no growth at all
    noisy = {0.0: [100, 110, 105], 0.5: [90, 140, 100], 1.0: [95, 160, 112]}
    assert memo.time_verdict(table(noisy, falls)) == memo.NOT_RESOLVED
    above = {0.0: [0.6, 0.61, 0.59], 0.5: [0.4, 0.38, 0.41], 1.0: [0.2, 0.21, 0.19]}
    assert memo.test_verdict(table(grows, above)) == memo.REFUTED  # above chance + margin
    assert memo.test_verdict(table(grows, falls, train=0.95)) == memo.NOT_RESOLVED
    unfitted = {0.0: [100, 110, 105], 1.0: [150, np.nan, 155]}
    assert memo.fit_verdict(table(unfitted, falls)) == memo.NOT_RESOLVED  # 2 of 3 seeds


def test_effects_table_reports_a_ratio_interval():
    effects = memo.effects_table(table({0.0: [100, 110, 105], 1.0: [150, 160, 155]},
                                       {0.0: [0.6, 0.61, 0.59], 1.0: [0.1, 0.11, 0.09]}))
    ratio = effects.set_index("quantity")["mean ± 95% CI"].iloc[1]
    assert "(" in ratio and "–" in ratio  # an interval not centred on the mean


def test_claims_on_the_quick_variant(tmp_path):
    study = sweep.load_study(PATH, quick=True)
    run.run_study(study, str(tmp_path), progress=False)
    _, results, missing = report.load_results([str(tmp_path)])
    assert not missing
    trials = memo.trial_table(results)
    assert memo.verdicts(trials) == {"fit": memo.CONFIRMED, "time": memo.CONFIRMED,
                                     "test": memo.CONFIRMED}  # Zhang et al. 2017
    clean = trials[trials["fraction"] == 0.0]
    control = pd.concat([clean, clean.assign(fraction=1.0)])  # true labels in both arms
    assert memo.time_verdict(control) == memo.REFUTED
    assert memo.test_verdict(control) == memo.REFUTED
