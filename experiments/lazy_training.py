"""Lazy versus feature learning: the output scale α and the width decide how far the
weights and the neural tangent kernel move in training, and lazy training generalizes
worse.

Claims (Chizat, Oyallon & Bach, "On lazy training in differentiable programming",
NeurIPS 2019): a model h_α = α·(f(w) − f(w0)), centred on its initial function and
trained on the loss L(h_α)/α², stays close to its linearization around w0 as α grows —
it trains "lazily", as a kernel method with the tangent kernel at init. (1) As α grows
the relative weight change ‖w − w0‖/‖w0‖ falls (their bound: O(1/α)) and the empirical
NTK stops moving (its kernel distance from init, Fort et al. 2020, falls to 0). (2) In
the NTK parameterization (weights scaled by 1/√fan_in) the width acts as a scale too
(Chizat et al.: the 1/√m scaling of a width-m net is an implicit α ∝ √m; Jacot et al.
2018; Lee et al. 2019): at a fixed α a wider network is lazier, its kernel moving less.
(3) Lazy training generalizes worse where features matter: the lazy model's test
accuracy is below the feature-learning one's (their Fig. 3 and Table 1: VGG and ResNet
CNNs on CIFAR-10). The measure of how far the NTK moves is the kernel distance of Fort
et al. ("Deep learning versus kernel learning", NeurIPS 2020).

    jaxdl sweep experiments/lazy_training.py           # 4 α x 3 widths x 5 seeds, ~10 min
    jaxdl sweep experiments/lazy_training.py --quick   # 2 α x 2 widths x 5 seeds, 25 s of CPU

Setting. MNIST-1D's published split (4000 training, 1000 test examples). f is a ReLU MLP
with one hidden layer of width m (40-m-10) in the NTK parameterization: each layer is
√(g/fan_in)·(h W) + b with W ~ N(0, 1), b = 0 at init (g = 2 for the hidden layer, He's
gain; 1 for the readout). The model is `lazy_mlp` (experiments/lazy_mlp.py, beside this
file): h_α(x) = α·(f(x; w) − f(x; w0)). Centring: w0 is stored beside the params (the
model's `reference` collection, carried by the train state and checkpoints, never
trained) and f(x; w0) is subtracted under a stop-gradient — Chizat et al.'s own CNN code
keeps such a frozen copy. The symmetric-init trick (two halves with opposite readouts)
would also start h at 0, but changes the architecture and halves its independent random
features; storing w0 keeps the network and its init exactly those of f, for one extra
forward pass per step. Loss: cross-entropy on the logits h_α (Chizat et al.'s CNN code
offers it and the squared loss; with the squared loss the lazy arms fit MNIST-1D too
slowly here to be compared with the feature-learning ones at a common training loss:
α = 100, m = 256, 4000 steps end at training loss 0.0604 from 0.1 at init, train accuracy
0.698 — `jaxdl train --config experiments/lazy_training.py --config.objective.loss=mse
--config.model.alpha=100 --config.optimizer.lr=0.0003 --config.steps=4000`). Optimizer:
plain SGD (no momentum, no weight decay, constant rate), batch 100, STEPS = 3000 steps
(75 epochs), on L(h_α)/α² at rate η = ETA = 3, which is plain SGD on L(h_α) at rate η/α²
step for step — so the sweep sets `optimizer.lr` = η/α² and the objective stays jaxdl's
supervised one. With that scaling the function-space dynamics start alike at every α:
dh/dt = −η K_f ∇_h L, K_f the NTK of f at w0 (independent of α), so the arms differ only
through how far the kernel moves, not through the step size in function space. η = 3 is
the largest of {1, 3, 10} at which every arm trains: at η = 10 the m = 64, α = 0.1 arm
collapses to chance (train loss 2.37, test accuracy 0.10: `jaxdl train --config
experiments/lazy_training.py --config.model.width=64 --config.model.alpha=0.1
--config.optimizer.lr=1000`). Axes: α ∈ {0.1, 1, 10, 100} × m ∈ {64, 256, 1024} × 5
seeds (init and batch order). Why α starts at 0.1, not 1: what decides the regime of
this network is α√m (the width's implicit scale, claim 2), so at m ≥ 64 the
NTK-parameterized net at α = 1 is already α√m ≥ 8, well on its way to its kernel; the
feature-learning reference of claim 3 is the smallest α of the grid, 0.1 (α√m from 0.8
to 3.2). Chizat et al.'s α = 1 is a standard-parameterized CNN, which at that scale
learns features.

Measurement (`measure`, at the final state): on a fixed probe set, the first PROBE = 256
training examples, the empirical NTK at w0 and at the final w — the trace over the 10
outputs of J Jᵀ (jaxdl/probes/ntk.py says why the trace), taken of h_α, whose NTK is α²
that of f, which the distance does not see — and their kernel distance
1 − ⟨K0, K1⟩_F/(‖K0‖_F ‖K1‖_F); the relative weight change ‖w − w0‖/‖w0‖ over all
params; the training loss and accuracy (all 4000) and test accuracy, evaluated every
EVAL_EVERY = 100 steps (the curves are kept for claim 3's matched-loss comparison).

The verdicts, decided by code (`verdicts`), stated before the numbers. "CI" is the 95%
Student-t interval over seeds; ρ is Spearman's correlation computed per seed.
1. Lazier with α: for each width, the per-seed least-squares slope of log ‖w − w0‖/‖w0‖
   on log α, and the per-seed ρ(α, kernel distance). Confirmed at a width when the
   slope's CI lies below 0 and ρ's CI below 0; refuted when the slope's CI lies at or
   above 0 or ρ's at or above 0; otherwise not resolved. The claim is confirmed when
   confirmed at every width, refuted when refuted at any. (That the slope is near −1,
   Chizat et al.'s O(1/α), is reported, not a verdict.)
2. Lazier with width: for each α, the per-seed ρ(width, kernel distance) across the
   widths. Confirmed when its CI lies below 0 at every α; refuted when at some α it lies
   at or above 0; otherwise not resolved.
3. Lazy generalizes worse: for each width, paired by seed, Δ = test accuracy at the
   largest α minus at the smallest α, (a) at the end of training and (b) at a matched
   training loss: per seed and width, L* is the largest final training loss among the α
   arms (the worst fit, which every arm reaches), and each arm's test accuracy is read at
   its first evaluation with training loss ≤ L*. Confirmed at a width when both Δ's CIs
   lie below 0; refuted when either lies at or above 0; otherwise not resolved. The
   claim is confirmed when confirmed at every width, refuted when refuted at any. The
   reading at L* is interpolated linearly in the training loss between the two
   evaluations around the first crossing (`accuracy_at_loss`), so an arm that overshoots
   L* between evaluations is not read at a better fit. The final training losses are
   reported beside it: the lazy arms fit more slowly, and (b) is there so that "worse"
   cannot be just "less fitted".
What would refute Chizat et al. here: weights or kernel that move as much (or more) at
large α; a kernel that moves more in a wider net; a lazy model that tests as well as or
better than the feature-learning one at the same training loss.

Published results it checks: Chizat et al. 2019 — §2: the scaled model's weights stay
within O(1/α) of w0 and its path within O(1/α) of the linearized model's (lazy training
is kernel training with the NTK at init); §3: two-layer ReLU nets (teacher-student,
gradient descent) test worse as the init scale grows into the lazy regime, and Fig. 3
and Table 1 (VGG-11, ResNet-18 on CIFAR-10, SGD): test accuracy falls as α grows, the
lazy models markedly below α = 1 while still fitting the training set. Width: Jacot et
al. 2018 (the NTK is constant in training in the infinite-width limit of the NTK
parameterization) and Lee et al. 2019 (its relative change falls as 1/√width). Kernel
distance: Fort et al. 2020. Only directions are compared: the published test
accuracies are for CNNs on CIFAR-10, where features matter more than for an MLP on
MNIST-1D; the slope −1 of the weight change is reported beside the theory's O(1/α).

Measured (the full sweep: 60 trials = 4 α x 3 widths x 5 seeds, 572 s for the sweep and
measurements, 10.2 min wall with its report, on 2 CPU cores shared with other jobs, load
~10; report in docs/studies/lazy_training/report.md; mean ± 95% CI over seeds, weight
change and kernel distance as geometric means).
1. Lazier with α: confirmed. ‖w − w0‖/‖w0‖ falls as 1/α almost exactly: per-seed
   log-log slopes −1.027 ± 0.005 (m = 64), −1.021 ± 0.002 (256), −1.013 ± 0.001 (1024),
   from 13.5, 7.9 and 4.0 at α = 0.1 (the weights end several times their init norm away)
   to 0.0113, 0.0068 and 0.0036 at α = 100. The kernel distance falls with α for every
   seed and width (ρ = −1), from 0.31, 0.13, 0.072 at α = 0.1 to 2.1e-5, 4.4e-6, 8.9e-7
   at α = 100 — log-log slopes −1.4 to −1.7, steeper than the weights' (the distance is
   second order in the kernel's change); the kernel's norm grows 10-21x at α = 0.1 and by
   0.1% at most at α = 100.
2. Lazier with width: confirmed. At every α the kernel distance falls with width for
   every seed (ρ = −1); its log-log slope on width is −0.52 ± 0.03 (α = 0.1), −1.00 ±
   0.07 (1), −1.31 ± 0.07 (10), −1.14 ± 0.08 (100): in the lazy regime about 1/width,
   i.e. a relative change of the kernel about 1/√width, Lee et al.'s rate.
3. Lazy generalizes worse: confirmed, with a caveat on the fit. Test accuracy at α = 100
   minus at α = 0.1, paired by seed: −0.168 ± 0.022 (m = 64: 0.449 against 0.616),
   −0.150 ± 0.015 (256: 0.501 against 0.651), −0.118 ± 0.015 (1024: 0.520 against 0.638)
   at the end of training. The training losses differ a lot: 0.34, 0.063, 0.19 at
   α = 0.1 against 1.17, 0.94, 0.82 at α = 100 (train accuracy 0.87, 0.995, 0.97 against
   0.59, 0.71, 0.78): in 75 epochs the lazy arms do not fit the training set. At the
   matched training loss (the worst-fitting arm's final loss, α = 100's or 10's, which
   the α = 0.1 arms reach after 300-900 of their 3000 steps) the gap is smaller but
   stays: −0.051 ± 0.023, −0.081 ± 0.008, −0.069 ± 0.026. The lazy limit is reached by
   α = 10 (α√m ≥ 80): α = 10 and 100 end alike (test accuracy 0.459 / 0.449,
   0.503 / 0.501, 0.527 / 0.520).
Against the papers: every direction is theirs, and the weight change's slope is the
O(1/α) of their theory to within 3%; their test-accuracy numbers are for CNNs on
CIFAR-10, which this MLP on MNIST-1D does not check (status: reproduced in direction).
--quick (widths 32 and 128, α 0.1 and 100, 2000 steps evaluated every 100, 5 seeds;
24 s of CPU, 75 s wall on the shared 2 cores): all three claims confirmed — weight-change
slopes −1.012 ± 0.004 and −1.028 ± 0.001, ρ = −1 throughout, Δ test accuracy −0.188 ±
0.034 and −0.166 ± 0.020 at the end, −0.052 ± 0.011 and −0.056 ± 0.014 at the matched
training loss; tests/test_lazy_training.py asserts them and their controls.
"""
from __future__ import annotations

from typing import Any

import ml_collections
import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from scipy import stats

import lazy_mlp  # noqa: F401 - the module beside this file registers the model "lazy_mlp"
from jaxdl import config as config_lib
from jaxdl.probes import ntk
from jaxdl.study import report, sweep

ETA, STEPS, BATCH, EVAL_EVERY = 3.0, 3000, 100, 100
ALPHAS = (0.1, 1.0, 10.0, 100.0)
WIDTHS = (64, 256, 1024)
PROBE = 256  # training examples on which the NTK is measured (the first ones: fixed)
CONFIRMED, REFUTED, NOT_RESOLVED = "confirmed", "refuted", "not resolved"
ALPHA, WIDTH, LR = "model.alpha", "model.width", "optimizer.lr"


def points(alphas: tuple[float, ...], widths: tuple[int, ...]) -> list[dict[str, Any]]:
    """Every (α, width), the learning rate η/α² beside α (SGD on L/α² at rate η)."""
    scaled = sweep.zipped(sweep.axis(ALPHA, alphas),
                          sweep.axis(LR, [ETA / a ** 2 for a in alphas]))
    return sweep.product(scaled, sweep.axis(WIDTH, widths))


SWEEP = points(ALPHAS, WIDTHS)
SEEDS = range(5)
METRICS = ("test/accuracy", "train/loss")
PUBLISHED = {
    "weights move less as α grows (Chizat et al. 2019, §2)":
        "‖w − w0‖ = O(1/α): slope −1 in log-log",
    "the model stays near its linearization: the NTK stops moving (§2)":
        "kernel distance → 0",
    "wider nets (NTK parameterization) are lazier (Jacot et al. 2018; Lee et al. 2019)":
        "the NTK's relative change falls as 1/√width",
    "lazy training generalizes worse (Chizat et al. §3, Fig. 3, Table 1)":
        "test accuracy falls as α grows (CNNs on CIFAR-10: markedly)",
}
QUICK_STEPS = 2000
QUICK = {"overrides": {"steps": QUICK_STEPS, "eval_every": 100,
                       "checkpoint_every": QUICK_STEPS},
         "seeds": range(5),
         "sweep": points((0.1, 100.0), (32, 128))}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """`lazy_mlp` (α = 1, width 256) on MNIST-1D's 4000/1000 split, cross-entropy, plain
    SGD at η = ETA, batch 100, STEPS steps; train (all 4000) and test evaluated every
    EVAL_EVERY steps, one checkpoint at the end."""
    c = config_lib.default()
    c.data.num_samples, c.data.train_split = 5000, 0.8
    c.model = config_lib.named_section("model", "lazy_mlp")
    c.optimizer.name, c.optimizer.lr, c.optimizer.momentum = "sgd", ETA, 0.0
    c.steps, c.batch_size = STEPS, BATCH
    c.eval_every, c.checkpoint_every, c.log_every = EVAL_EVERY, STEPS, 0
    return c


# ---------------------------------------------------------------- measurements


def measure(ctx) -> dict[str, Any]:
    """The relative weight change and the NTK's kernel distance from init (on the
    probe set), and the logged train/test curves."""
    state = ctx.state
    w0 = state.model_state["reference"]["params"]
    fn, probe = ntk.outputs_of(ctx.run.model), ctx.run.dataset.x_train[:PROBE]
    k0 = ntk.ntk_gram(fn, w0, state.model_state, probe)
    k1 = ntk.ntk_gram(fn, state.params, state.model_state, probe)
    train, test = ctx.history("train/loss"), ctx.history("test/accuracy")
    steps = np.array(sorted(train))
    return {"weight_change": ntk.relative_change(state.params, w0),
            "kernel_distance": ntk.kernel_distance(k0, k1),
            "kernel_growth": float(np.linalg.norm(k1) / np.linalg.norm(k0)),
            "eval_steps": steps, "train_loss_curve": np.array([train[s] for s in steps]),
            "test_accuracy_curve": np.array([test[s] for s in steps])}


# ---------------------------------------------------------------- the verdicts


def trial_table(results: report.Results) -> pd.DataFrame:
    """One row per done trial: α, width, seed, its measured numbers and its curves."""
    names = {"weight_change": "measure/weight_change",
             "kernel_distance": "measure/kernel_distance",
             "kernel_growth": "measure/kernel_growth", "train_loss": "train/loss",
             "train_accuracy": "train/accuracy", "test_accuracy": "test/accuracy"}
    done = results.final("measure/kernel_distance").set_index("trial")
    table = done[[ALPHA, WIDTH, "seed"]].rename(columns={ALPHA: "alpha", WIDTH: "width"})
    for column, metric in names.items():
        table[column] = results.final(metric).set_index("trial")["value"]
    for name in ("eval_steps", "train_loss_curve", "test_accuracy_curve"):
        table[name] = results.arrays(name).set_index("trial")["value"]
    table["width"] = table["width"].astype(int)
    return table.reset_index(drop=True).sort_values(["width", "alpha", "seed"],
                                                    ignore_index=True)


_ci = report.finite_mean_ci


def per_seed(table: pd.DataFrame, fn: Any) -> np.ndarray:
    """fn(one seed's rows) for every seed, as an array."""
    return np.array([fn(g) for _, g in table.groupby("seed")], dtype=float)


def log_slope(g: pd.DataFrame, x: str, y: str) -> float:
    """Least-squares slope of log y on log x (NaN with fewer than two distinct x)."""
    if g[x].nunique() < 2:
        return np.nan
    return float(stats.linregress(np.log10(g[x]), np.log10(g[y])).slope)


def spearman(g: pd.DataFrame, x: str, y: str) -> float:
    """Spearman's ρ of y with x (NaN where either is constant)."""
    if g[x].nunique() < 2 or g[y].nunique() < 2:
        return np.nan
    return float(stats.spearmanr(g[x], g[y])[0])


def sign_outcome(ci: tuple[float, float, float]) -> str:
    """For a quantity claimed < 0: confirmed when its CI lies below 0, refuted when at or
    above 0, otherwise (or undefined) not resolved."""
    _, low, high = ci
    if high < 0:
        return CONFIRMED
    return REFUTED if low >= 0 else NOT_RESOLVED


def combine(outcomes: list[str]) -> str:
    """Confirmed if every part is, refuted if any is, otherwise not resolved."""
    if outcomes and all(o == CONFIRMED for o in outcomes):
        return CONFIRMED
    return REFUTED if REFUTED in outcomes else NOT_RESOLVED


def alpha_effects(table: pd.DataFrame) -> dict[int, dict[str, tuple]]:
    """Per width: CIs over seeds of the weight-change slope, ρ(α, kernel distance) and the
    kernel-distance slope (claim 1)."""
    out = {}
    for width, g in table.groupby("width"):
        out[int(width)] = {
            "slope": _ci(per_seed(g, lambda s: log_slope(s, "alpha", "weight_change"))),
            "rho": _ci(per_seed(g, lambda s: spearman(s, "alpha", "kernel_distance"))),
            "kernel_slope": _ci(per_seed(g, lambda s: log_slope(s, "alpha",
                                                               "kernel_distance")))}
    return out


def width_effects(table: pd.DataFrame) -> dict[float, dict[str, tuple]]:
    """Per α: CIs over seeds of ρ(width, kernel distance) (claim 2) and of the slope of
    log kernel distance on log width (reported)."""
    return {float(a): {
        "rho": _ci(per_seed(g, lambda s: spearman(s, "width", "kernel_distance"))),
        "kernel_slope": _ci(per_seed(g, lambda s: log_slope(s, "width", "kernel_distance")))}
        for a, g in table.groupby("alpha")}


def accuracy_at_loss(losses: np.ndarray, accuracies: np.ndarray, target: float) -> float:
    """The test accuracy where the training-loss curve first comes down to `target`:
    linearly interpolated (in the loss) between the last evaluation above it and the
    first at or below it, so that an arm which overshoots the target between two
    evaluations is not read at a better fit than the others; NaN if it never gets there."""
    hits = np.flatnonzero(losses <= target)
    if not hits.size:
        return np.nan
    i = hits[0]
    if i == 0:
        return float(accuracies[0])
    t = (losses[i - 1] - target) / (losses[i - 1] - losses[i])
    return float(accuracies[i - 1] + t * (accuracies[i] - accuracies[i - 1]))


def matched_accuracy(table: pd.DataFrame) -> pd.Series:
    """Each trial's test accuracy at training loss L* (`accuracy_at_loss`), L* the largest
    final training loss among the α arms of its seed and width (claim 3b)."""
    target = table.groupby(["seed", "width"])["train_loss"].transform("max")
    return pd.Series([accuracy_at_loss(np.asarray(r["train_loss_curve"]),
                                       np.asarray(r["test_accuracy_curve"]), t)
                      for (_, r), t in zip(table.iterrows(), target)], index=table.index)


def accuracy_effects(table: pd.DataFrame) -> dict[int, dict[str, np.ndarray]]:
    """Per width, paired by seed: test accuracy at the largest α minus at the smallest, at
    the end ("end") and at the matched training loss ("matched") (claim 3)."""
    table = table.assign(matched_accuracy=matched_accuracy(table))
    lo, hi = table["alpha"].min(), table["alpha"].max()
    out = {}
    for width, g in table.groupby("width"):
        wide = {c: g.pivot_table(index="seed", columns="alpha", values=c)
                for c in ("test_accuracy", "matched_accuracy")}
        out[int(width)] = {k: (wide[c][hi] - wide[c][lo]).dropna().to_numpy()
                           for k, c in (("end", "test_accuracy"),
                                        ("matched", "matched_accuracy"))}
    return out


def verdicts(table: pd.DataFrame) -> dict[str, str]:
    """The three claims' outcomes: {"alpha", "width", "generalization"} (docstring)."""
    alpha = [combine([sign_outcome(e["slope"]), sign_outcome(e["rho"])])
             for e in alpha_effects(table).values()]
    width = [sign_outcome(e["rho"]) for e in width_effects(table).values()]
    accuracy = [combine([sign_outcome(_ci(d)) for d in e.values()])
                for e in accuracy_effects(table).values()]
    return {"alpha": combine(alpha), "width": combine(width),
            "generalization": combine(accuracy)}


# ---------------------------------------------------------------- analysis


def _text(ci: tuple[float, float, float], digits: int = 3) -> str:
    return report.ci_text(*ci, digits)


def _geometric(values: Any) -> str:
    """Geometric mean with its 95% CI (a Student-t interval of log10 values)."""
    mean, low, high = _ci(np.log10(np.asarray(values, dtype=float)))
    if not np.isfinite(low):
        return f"{10 ** mean:.3g}"
    return f"{10 ** mean:.3g} ({10 ** low:.3g}–{10 ** high:.3g})"


def per_point_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per (width, α): what moved and how it fit and generalized."""
    rows = []
    for (width, alpha), g in table.groupby(["width", "alpha"]):
        rows.append({"width": int(width), "α": alpha, "seeds": len(g),
                     "‖w − w0‖/‖w0‖": _geometric(g["weight_change"]),
                     "kernel distance": _geometric(g["kernel_distance"]),
                     "‖K‖/‖K0‖": _text(_ci(g["kernel_growth"])),
                     "final train loss": _text(_ci(g["train_loss"]), 4),
                     "train accuracy": _text(_ci(g["train_accuracy"])),
                     "test accuracy": _text(_ci(g["test_accuracy"]))})
    return pd.DataFrame(rows)


def effects_table(table: pd.DataFrame) -> pd.DataFrame:
    """The numbers the verdicts rest on, one row per width or α."""
    rows = []
    for width, e in alpha_effects(table).items():
        rows.append({"claim": "1 (α)", "at": f"width {width}",
                     "quantity": "slope of log ‖w − w0‖/‖w0‖ on log α", "mean ± 95% CI":
                         _text(e["slope"]), "outcome": sign_outcome(e["slope"])})
        rows.append({"claim": "1 (α)", "at": f"width {width}",
                     "quantity": "ρ(α, kernel distance)", "mean ± 95% CI": _text(e["rho"]),
                     "outcome": sign_outcome(e["rho"])})
        rows.append({"claim": "1 (α), reported", "at": f"width {width}",
                     "quantity": "slope of log kernel distance on log α",
                     "mean ± 95% CI": _text(e["kernel_slope"]), "outcome": "–"})
    for alpha, e in width_effects(table).items():
        rows.append({"claim": "2 (width)", "at": f"α = {alpha:g}",
                     "quantity": "ρ(width, kernel distance)", "mean ± 95% CI": _text(e["rho"]),
                     "outcome": sign_outcome(e["rho"])})
        rows.append({"claim": "2 (width), reported", "at": f"α = {alpha:g}",
                     "quantity": "slope of log kernel distance on log width",
                     "mean ± 95% CI": _text(e["kernel_slope"]), "outcome": "–"})
    lo, hi = table["alpha"].min(), table["alpha"].max()
    for width, e in accuracy_effects(table).items():
        for kind, label in (("end", "end of training"), ("matched", "matched train loss")):
            rows.append({"claim": "3 (test accuracy)", "at": f"width {width}",
                         "quantity": f"Δ test accuracy, α {hi:g} − α {lo:g}, {label}",
                         "mean ± 95% CI": _text(_ci(e[kind])),
                         "outcome": sign_outcome(_ci(e[kind]))})
    return pd.DataFrame(rows)


def verdict_text(outcomes: dict[str, str]) -> str:
    """The rules, then the outcomes (the numbers: the verdicts' table below)."""
    return (f"**1. Training gets lazier as α grows: {outcomes['alpha']}.** Rule, per width: "
            f"the per-seed slope of log ‖w − w0‖/‖w0‖ on log α and the per-seed Spearman "
            f"ρ(α, kernel distance) both with 95% CIs below 0; refuted if either CI is at "
            f"or above 0; confirmed when so at every width.\n\n"
            f"**2. Wider is lazier at fixed α: {outcomes['width']}.** Rule: at every α the "
            f"per-seed ρ(width, kernel distance) has its CI below 0; refuted if at some α "
            f"it is at or above 0.\n\n"
            f"**3. Lazy training generalizes worse: {outcomes['generalization']}.** Rule, "
            f"per width and paired by seed: test accuracy at the largest α minus at the "
            f"smallest has its CI below 0 both at the end of training and at a matched "
            f"training loss (each arm read where its training loss first comes down to the "
            f"worst-fitting arm's final loss, interpolated between evaluations); refuted if "
            f"either CI is at or above 0; confirmed when so at every width. The numbers are "
            f"in the verdicts' table; the final training losses in the tables above it.")


def analyze(results: report.Results) -> report.Analysis:
    """Tables, plots, the verdicts and the status. `matches_published` stays False: the
    published accuracies are CNNs' on CIFAR-10, which no number here is checked against
    (the weight-change slope's −1 is reported beside the theory, not judged)."""
    table = trial_table(results)
    outcomes = verdicts(table)
    effects = effects_table(table)
    return report.Analysis(
        tables={"Per width and α (geometric means for the log-scale quantities; mean ± "
                "95% CI otherwise)": per_point_table(table),
                "The verdicts' numbers": effects},
        plots={"Relative weight change against α": weight_plot(table),
               "Kernel distance of the NTK against α": kernel_plot(table),
               "Kernel distance of the NTK against width, per α": width_plot(table),
               "Test accuracy against α, at the end and at a matched training loss":
                   accuracy_plot(table)},
        verdict=verdict_text(outcomes),
        published=published_rows(table, outcomes),
        status=report.status_of(list(outcomes.values())))


def published_rows(table: pd.DataFrame, outcomes: dict[str, str]) -> dict[str, tuple]:
    """Published value and ours (with its CI and outcome) per published claim."""
    alpha, width = alpha_effects(table), width_effects(table)
    accuracy = accuracy_effects(table)
    slopes = "; ".join(f"m={m}: {_text(e['slope'])}" for m, e in alpha.items())
    rhos = "; ".join(f"m={m}: {_text(e['rho'], 2)}" for m, e in alpha.items())
    widths = "; ".join(f"α={a:g}: ρ {_text(e['rho'], 2)}, slope {_text(e['kernel_slope'], 2)}"
                       for a, e in width.items())
    drops = "; ".join(f"m={m}: {_text(_ci(e['end']))} (matched loss "
                      f"{_text(_ci(e['matched']))})" for m, e in accuracy.items())
    ours = [f"slope {slopes} ({outcomes['alpha']})",
            f"ρ(α, kernel distance) {rhos} ({outcomes['alpha']})",
            f"kernel distance against width (its slope in log-log: −1 is a relative change "
            f"∝ 1/√width, the distance being ~ its square): {widths} ({outcomes['width']})",
            f"Δ test accuracy, largest − smallest α: {drops} ({outcomes['generalization']})"]
    return {k: (v, o) for (k, v), o in zip(PUBLISHED.items(), ours)}


# ---------------------------------------------------------------- plots


def _log_summary(table: pd.DataFrame, by: list[str], column: str) -> pd.DataFrame:
    """Per group of `by`: the geometric mean of `column` and its 95% CI (from log10)."""
    rows = []
    for key, g in table.groupby(by):
        mean, low, high = _ci(np.log10(g[column].to_numpy(float)))
        rows.append({**dict(zip(by, np.atleast_1d(key))), "mean": 10 ** mean,
                     "low": 10 ** low, "high": 10 ** high})
    return pd.DataFrame(rows)


def _band(ax: Any, s: pd.DataFrame, x: str, label: str, color: str, **line: Any) -> None:
    ax.plot(s[x], s["mean"], marker="o", color=color, label=label, **line)
    ax.fill_between(s[x], s["low"], s["high"], color=color, alpha=0.2, linewidth=0)


def _against_alpha(table: pd.DataFrame, column: str, ylabel: str) -> tuple[Figure, Any]:
    """`column` against α (log-log), one line per width with its 95% CI band."""
    fig = Figure(figsize=(5.5, 3.8), dpi=120, layout="constrained")
    ax = fig.subplots()
    for i, (width, g) in enumerate(table.groupby("width")):
        _band(ax, _log_summary(g, ["alpha"], column), "alpha", f"width {width}", f"C{i}")
    ax.set(xscale="log", yscale="log", xlabel="α (output scale)", ylabel=ylabel)
    ax.grid(alpha=0.3, which="both")
    return fig, ax


def weight_plot(table: pd.DataFrame) -> Figure:
    """Relative weight change against α, with a dashed slope −1 (Chizat et al.'s O(1/α))
    through the middle width's first point."""
    fig, ax = _against_alpha(table, "weight_change", "‖w − w0‖ / ‖w0‖ (final)")
    widths = sorted(table["width"].unique())
    s = _log_summary(table[table["width"] == widths[len(widths) // 2]], ["alpha"],
                     "weight_change")
    ax.plot(s["alpha"], s["mean"].iloc[0] * s["alpha"].iloc[0] / s["alpha"], color="k",
            ls="--", lw=1, label="∝ 1/α")
    ax.legend(fontsize=7)
    return fig


def kernel_plot(table: pd.DataFrame) -> Figure:
    """Kernel distance of the NTK (init to final) against α."""
    fig, ax = _against_alpha(table, "kernel_distance", "kernel distance, NTK at init → final")
    ax.legend(fontsize=7, loc="lower left")
    return fig


def width_plot(table: pd.DataFrame) -> Figure:
    """Kernel distance against width (log-log), one line per α with its 95% CI band."""
    fig = Figure(figsize=(5.5, 3.8), dpi=120, layout="constrained")
    ax = fig.subplots()
    for i, (alpha, g) in enumerate(table.groupby("alpha")):
        _band(ax, _log_summary(g, ["width"], "kernel_distance"), "width", f"α = {alpha:g}",
              f"C{i}")
    widths = sorted(table["width"].unique())
    ax.set(xscale="log", yscale="log", xlabel="width (hidden units)",
           ylabel="kernel distance, NTK at init → final")
    ax.set_xticks(widths, [str(w) for w in widths])
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def accuracy_plot(table: pd.DataFrame) -> Figure:
    """Test accuracy against α, at the end of training (solid) and at the matched
    training loss (dashed), one colour per width, 95% CI bands."""
    table = table.assign(matched_accuracy=matched_accuracy(table))
    fig = Figure(figsize=(6.4, 3.8), dpi=120, layout="constrained")
    ax = fig.subplots()
    for i, (width, g) in enumerate(table.groupby("width")):
        for column, ls, label in (("test_accuracy", "-", f"width {width}"),
                                  ("matched_accuracy", "--", None)):
            _band(ax, report.summarize(g, ["alpha"], column), "alpha", label, f"C{i}", ls=ls)
    ax.plot([], [], color="grey", label="end of training")
    ax.plot([], [], color="grey", ls="--", label="at the matched\ntraining loss")
    ax.set(xscale="log", xlabel="α (output scale)", ylabel="test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig
