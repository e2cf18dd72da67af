"""Lazy training as a claim (experiments/lazy_training.py, Chizat, Oyallon & Bach 2019):
the model and the verdict rules by hand, then the three claims on the study's --quick
variant at the study's own thresholds — and, once, that the test fails when the effect
is removed.

    PYTHONPATH=. python -m pytest -q tests/test_lazy_training.py   # 5 passed; the quick run 43 s

`test_claims_on_the_quick_variant`: the --quick variant (the centred, α-scaled ReLU MLP
40-m-10 in the NTK parameterization, m ∈ {32, 128}, α ∈ {0.1, 100}, cross-entropy,
plain SGD at η/α² with η = 3, batch 100, 2000 steps on MNIST-1D's 4000 training
examples, train and test evaluated every 100 steps, NTK on 256 training examples, 5
seeds) must be "confirmed" on all three claims by the study's own `verdicts`: the
per-seed slope of log ‖w − w0‖/‖w0‖ on log α and ρ(α, kernel distance) with CIs below 0
at each width; ρ(width, kernel distance) with its CI below 0 at each α; test accuracy at
α = 100 minus at α = 0.1, paired by seed, with its CI below 0 at each width, both at the
end and at a matched training loss. Measured when written (`jaxdl sweep
experiments/lazy_training.py --quick`: 20 trials, 24 s of CPU, 75 s wall on 2 cores
shared with 3 other jobs; in this test 43 s): slopes −1.012 ± 0.004 (m = 32) and
−1.028 ± 0.001 (m = 128); ρ(α, kernel distance) = −1 for every seed and width;
ρ(width, kernel distance) = −1 for every seed at both α; Δ test accuracy −0.188 ± 0.034 and −0.166 ± 0.020 at the end,
−0.052 ± 0.011 and −0.056 ± 0.014 at the matched training loss.

Without the effect — α the same in both arms, i.e. the quick run's α = 0.1 trials
standing in for the α = 100 arm too (which is what training that arm at α = 0.1 gives,
bit for bit: the seed fixes init and batch order) — the same code says claim 1 is
"refuted" (every seed's weight-change slope is exactly 0, a CI at 0; ρ(α, kernel
distance) is undefined) and claim 3 "refuted" (every paired difference is exactly 0):
those are the second assertions, so the test cannot pass on rules that confirm
anything. Claim 2, about width, is untouched by that removal; without a width effect
(the m = 32 trials standing in for m = 128) its ρ is undefined and the rule says "not
resolved", the third assertion.
"""
import jax
import numpy as np
import pandas as pd
import pytest

from jaxdl import models
from jaxdl.probes import ntk
from jaxdl.study import report, run, sweep

PATH = "experiments/lazy_training.py"
lazy = sweep.load_module(PATH)  # imports experiments/lazy_mlp.py beside it: the model


def test_the_model_starts_at_zero_and_scales_its_tangent_kernel_by_alpha_squared():
    """h_α(x) = α(f(x; w) − f(x; w0)) is 0 at init, its NTK is α² that of f (so the
    kernel distance does not see α), and w0 is kept out of the trained params."""
    x = jax.random.normal(jax.random.PRNGKey(0), (6, 40))
    grams = []
    for alpha in (1.0, 10.0):
        model = models.build("lazy_mlp", num_outputs=10, alpha=alpha, width=16)
        variables = model.init(jax.random.PRNGKey(1), x, train=False)
        params, state = variables["params"], {"reference": variables["reference"]}
        assert set(params) == {"w0", "b0", "w1", "b1"}
        assert np.all(np.asarray(model.apply(variables, x, train=False)) == 0.0)
        grams.append(np.asarray(ntk.ntk_gram(ntk.outputs_of(model), params, state, x)))
        moved = jax.tree.map(lambda w: w + 0.1, params)
        h = model.apply({"params": moved, **state}, x, train=False)
        f = lazy.lazy_mlp.ntk_mlp(moved, x, 1) - lazy.lazy_mlp.ntk_mlp(params, x, 1)
        np.testing.assert_allclose(h, alpha * f, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grams[1], 100 * grams[0], rtol=1e-4)
    with pytest.raises(models.OptionError, match="alpha"):
        lazy.lazy_mlp.LazyMLP.check({"alpha": 0.0, "width": 4, "depth": 1})


def test_accuracy_at_loss_interpolates_the_first_crossing():
    losses, accs = np.array([2.0, 1.5, 1.0, 1.2, 0.8]), np.array([0.1, 0.3, 0.5, 0.4, 0.6])
    assert lazy.accuracy_at_loss(losses, accs, 1.25) == pytest.approx(0.4)  # between 1.5 and 1.0
    assert lazy.accuracy_at_loss(losses, accs, 1.0) == pytest.approx(0.5)
    assert lazy.accuracy_at_loss(losses, accs, 3.0) == pytest.approx(0.1)
    assert np.isnan(lazy.accuracy_at_loss(losses, accs, 0.5))


def table(change, distance, accuracy, seeds=3):
    """A trial table: for each (width, α) and seed, the weight change, kernel distance and
    final test accuracy the functions give; a training curve that comes down linearly
    from 2 to a final loss that grows with α (the largest α fits worst and sets L*), the
    test accuracy rising linearly along it from 0.1 to its final value."""
    rows = []
    for width in (64, 256):
        for alpha in (0.1, 1.0, 100.0):
            for s in range(seeds):
                final = 0.5 + 0.1 * np.log10(alpha)
                curve = np.linspace(2.0, final, 11)
                acc = accuracy(width, alpha, s)
                rows.append({"alpha": alpha, "width": width, "seed": s,
                             "weight_change": change(width, alpha, s),
                             "kernel_distance": distance(width, alpha, s),
                             "train_loss": final, "test_accuracy": acc,
                             "eval_steps": np.arange(11), "train_loss_curve": curve,
                             "test_accuracy_curve": np.linspace(0.1, acc, 11)})
    return pd.DataFrame(rows)


def jitter(s):
    return 1 + 0.05 * s


def lazy_change(w, a, s):
    return jitter(s) / a / np.sqrt(w)


def lazy_distance(w, a, s):
    return jitter(s) / (1 + a) ** 2 / w


def worse(w, a, s):
    return 0.7 - 0.1 * np.log10(a) - 0.01 * s


def test_verdict_rules_by_hand():
    confirmed = {"alpha": lazy.CONFIRMED, "width": lazy.CONFIRMED,
                 "generalization": lazy.CONFIRMED}
    assert lazy.verdicts(table(lazy_change, lazy_distance, worse)) == confirmed
    flat = table(lambda w, a, s: jitter(s), lazy_distance, worse)  # weights move as much
    assert lazy.verdicts(flat)["alpha"] == lazy.REFUTED
    wider_moves_more = table(lazy_change, lambda w, a, s: jitter(s) * w / (1 + a) ** 2, worse)
    assert lazy.verdicts(wider_moves_more)["width"] == lazy.REFUTED
    noisy = table(lazy_change, lambda w, a, s: jitter(s) / (1 + a) ** 2 * (w / 100) ** (s - 1),
                  worse)  # width helps one seed, hurts another: no resolved sign
    assert lazy.verdicts(noisy)["width"] == lazy.NOT_RESOLVED
    better = table(lazy_change, lazy_distance, lambda w, a, s: 0.5 + 0.05 * np.log10(a)
                   + 0.01 * s)
    assert lazy.verdicts(better)["generalization"] == lazy.REFUTED
    mixed = table(lazy_change, lazy_distance, lambda w, a, s: 0.6 + (0.1 if s == 1 else -0.05)
                  * np.log10(a))
    assert lazy.verdicts(mixed)["generalization"] == lazy.NOT_RESOLVED


def test_matched_loss_can_undo_an_end_of_training_gap():
    """Lazy arms worse at the end but equal at the same training loss: claim 3 is not
    confirmed (the gap would be just a worse fit)."""
    t = table(lazy_change, lazy_distance, worse)
    # Every arm's test accuracy the same function of its training loss along training.
    t["test_accuracy_curve"] = [1 - 0.3 * c for c in t["train_loss_curve"]]
    effects = lazy.accuracy_effects(t)
    assert all(np.allclose(e["matched"], 0.0) and (e["end"] < 0).all() for e in effects.values())
    assert lazy.verdicts(t)["generalization"] == lazy.REFUTED  # no gap at all at L*


def test_claims_on_the_quick_variant(tmp_path):
    study = sweep.load_study(PATH, quick=True)
    run.run_study(study, str(tmp_path), progress=False)
    _, results, missing = report.load_results([str(tmp_path)])
    assert not missing
    trials = lazy.trial_table(results)
    assert lazy.verdicts(trials) == {"alpha": lazy.CONFIRMED, "width": lazy.CONFIRMED,
                                     "generalization": lazy.CONFIRMED}  # Chizat et al. 2019
    rich = trials[trials["alpha"] == trials["alpha"].min()]
    same_alpha = pd.concat([rich, rich.assign(alpha=trials["alpha"].max())])
    control = lazy.verdicts(same_alpha)
    assert control["alpha"] == lazy.REFUTED and control["generalization"] == lazy.REFUTED
    narrow = trials[trials["width"] == trials["width"].min()]
    same_width = pd.concat([narrow, narrow.assign(width=trials["width"].max())])
    assert lazy.verdicts(same_width)["width"] == lazy.NOT_RESOLVED
