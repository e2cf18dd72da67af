"""Edge of stability: full-batch gradient descent drives the sharpness to 2/η and holds it there.

Claim (Cohen, Kaur, Li, Kolter & Talwalkar, "Gradient Descent on Neural Networks
Typically Occurs at the Edge of Stability", ICLR 2021): under full-batch gradient descent
at a constant learning rate η, the sharpness λ_max — the top eigenvalue of the training
loss's Hessian — rises (progressive sharpening) until it reaches 2/η, the largest value at
which gradient descent on a quadratic is stable, and then hovers at or just above 2/η,
while the training loss keeps decreasing, non-monotonically, over long time scales.

    jaxdl sweep experiments/edge_of_stability.py           # 3 learning rates x 5 seeds
    jaxdl sweep experiments/edge_of_stability.py --quick   # 2 learning rates x 3 seeds, ~20 s of CPU

Setting, and why there. 1000 MNIST-1D training examples (the generator's first 1250,
80% for training), the whole set as every batch: plain gradient descent (optimizer sgd,
no momentum, constant η). A tanh MLP 40-100-100-10 (15,210 params), as Cohen et al.'s
tanh fully connected nets, with the MSE loss (mean over the 10 outputs of (f − onehot)²;
the paper runs both MSE and cross-entropy, and its MSE runs are the cleanest: with
cross-entropy the sharpness falls again late in training as the margins grow). Learning
rates η ∈ {0.375, 0.75, 1.5} (a 4x span; 2/η = 5.33, 2.67, 1.33). The sharpness at
initialization is about 3 here, so η = 0.375 starts well below 2/η and must sharpen for
thousands of steps; η = 1.5 starts above it (Cohen et al.'s appendix: the sharpness
first falls to 2/η, a "catapult"); η = 2 diverges. 8000 steps (η = 0.375 reaches
2/η after about 4500).

Measurement: every trial checkpoints every 100 steps (50 in --quick), all kept; `measure`
restores each checkpoint (`ctx.at_step`) and takes λ_max of the run's own training
objective on the whole training set by power iteration on Hessian-vector products
(jaxdl/probes/hessian.py; relative tolerance 1e-3, at most 100 products; start vector
from the MEASURE key folded with the step), and the training loss there. (A study's
trials train without user hooks, so the probe runs at checkpoints, not as
`hessian.sharpness_hook` during training; full-batch GD is deterministic, so both see
the same states.) The training loss is also logged every 10 steps.

The verdict, per η, decided by code (`verdict_of`), stated before the numbers: for each
seed, r = the mean of λ_max·η/2 over the measurements from the first one at which
λ_max ≥ 2/η to the end of training — counted from below: a sharpness that starts above
2/η (large η) first falls below it, and the crossing is its first return (a seed that
never reaches 2/η: r = its final λ_max·η/2). Over the seeds, the 95% t-interval of the mean r:
- confirmed if every seed reached 2/η and the interval lies within BAND = [0.8, 1.2];
- refuted if the interval lies below 0.8 (the sharpness stays well below 2/η: plain
  stable GD, no edge of stability) or above 1.2 (it keeps rising past 2/η), or if GD
  diverges (a NaN loss) for any seed;
- not resolved otherwise.
Why [0.8, 1.2]: on a quadratic, a step of GD multiplies the error along the top
eigenvector by |1 − ηλ|; at λ = 0.8·2/η that is 0.6 (well inside the stable regime,
where nothing holds the sharpness at 2/η), at λ = 1.2·2/η it is 1.4 (growth by 40% a
step, which a run can sustain only briefly); Cohen et al.'s curves stay within about a
tenth of 2/η after reaching it. Also reported, not part of the verdict: the loss at the
first crossing and at the end (it keeps falling) and the fraction of logged 10-step
intervals after the crossing in which it rose (non-monotone).

Published result it checks: Cohen et al. 2021, Figs. 1-3 (CIFAR-10 5k subset; tanh and
ReLU MLPs, CNNs, VGG, Transformers; MSE and cross-entropy): λ_max rises until it reaches
2/η and then hovers just above 2/η for the rest of training, at every η they tried.

Measured (the full sweep: 15 trials = 3 η x 5 seeds, 609 s wall on 2 CPU cores shared
with other jobs — ~6 min training, ~4 min measuring 81 states per trial; --quick: the
last paragraph; report in docs/studies/edge_of_stability/report.md; mean ± 95% CI over
seeds). η = 0.75: confirmed, r = 1.003 ± 0.002 (5/5 seeds reach 2/η, on average at step
520). η = 1.5: confirmed, r = 1.004 ± 0.009 (5/5; the sharpness starts at 2.27 x 2/η,
falls below 2/η within 100 steps and comes back to it). η = 0.375: not resolved — the
sharpness rises from 0.57 x 2/η at initialization (progressive sharpening), 4 of 5 seeds
reach 2/η (steps 4600-6000) and then hover at r = 0.995-1.000, but seed 3 is at 0.92 x
2/η at step 8000, still rising, so the rule's "every seed reaches 2/η" fails at this
budget. Overall: not resolved; the claim holds at η = 0.75 and 1.5 at this scale, and
η = 0.375 needs a longer run. At the end λ_max·η/2 is 0.987 ± 0.046, 0.996 ± 0.008 and
0.988 ± 0.002. The loss keeps falling after the crossing (0.0121 -> 0.0068, 0.0510 ->
0.0037, 0.0366 -> 0.0020) and rises in 33-46% of the logged 10-step intervals: it falls
non-monotonically, as in the paper. Against the paper: its sharpness hovers "just above"
2/η; ours at 2/η within about 1%, late in training slightly below (η = 1.5: 0.988).
--quick (η = 0.75 and 1.5, 3 seeds, on 512 examples — the generator's first 640, 80% for
training — 500 full-batch steps, λ_max every 50; `jaxdl sweep experiments/edge_of_stability.py
--quick`: 6 trials, 21 s of CPU, 46 s wall with its report on the 2 busy cores of an Intel
Xeon): confirmed at both η, r = 1.030 ± 0.021 (η = 0.75; 2/η first reached at steps
200-300) and 1.069 ± 0.021 (η = 1.5); the same bits with XLA_FLAGS=--xla_cpu_max_isa=AVX2,
and 1.032 ± 0.015 and 1.076 ± 0.009 with SSE4_2. Why fewer examples: on 1000 (the full
study's set, 1000 steps, the earlier --quick) η = 0.75 first reaches 2/η at steps
350-550, on 512 at 200-300, so 500 steps still leave 200-300 steps after it.
tests/test_edge_of_stability.py asserts it.
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import ml_collections
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from jaxdl import config as config_lib
from jaxdl import rng
from jaxdl.objectives import StepKeys
from jaxdl.probes import hessian
from jaxdl.study import report, sweep

STEPS, CHECK_EVERY, LOG_EVERY = 8000, 100, 10
TRAIN_EXAMPLES = 1000
LEARNING_RATES = (0.375, 0.75, 1.5)
BAND = (0.8, 1.2)  # the verdict's band for λ_max·η/2 after the first crossing (docstring)
CONFIRMED, REFUTED, NOT_RESOLVED = "confirmed", "refuted", "not resolved"

SWEEP = sweep.axis("optimizer.lr", LEARNING_RATES)
SEEDS = range(5)
METRICS = ("measure/ratio_at_edge", "measure/final_ratio", "measure/initial_ratio")
PUBLISHED = {"λ_max·η/2 after λ_max first reaches 2/η (Cohen et al. 2021, Figs. 1-3)":
             "≈ 1, just above (hovers at 2/η)"}
# --quick: half the examples (the sharpness reaches 2/η sooner on fewer: η = 0.75 by step
# 300, against 550 on 1000) and half the steps. λ_max still every 50 steps: η = 1.5's
# catapult is below 2/η at step 50 and above it by step 100 (0.91-0.93 and 1.08-1.11
# x 2/η), and a measurement must see the dip for the crossing to count from below.
QUICK_STEPS, QUICK_EXAMPLES = 500, 512
QUICK = {"overrides": {"steps": QUICK_STEPS, "checkpoint_every": 50,
                       "keep_checkpoints": QUICK_STEPS // 50 + 1, "eval_every": QUICK_STEPS,
                       "data.num_samples": QUICK_EXAMPLES * 5 // 4,
                       "batch_size": QUICK_EXAMPLES},
         "seeds": range(3),
         "sweep": sweep.axis("optimizer.lr", (0.75, 1.5))}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """Full-batch GD (sgd, no momentum, constant lr) of a tanh MLP with the MSE loss on
    1000 MNIST-1D examples, checkpointed every CHECK_EVERY steps, every checkpoint kept."""
    c = config_lib.default()
    c.data.num_samples, c.data.train_split = TRAIN_EXAMPLES * 5 // 4, 0.8
    c.model = config_lib.named_section("model", "mlp")
    c.model.width, c.model.depth, c.model.activation = 100, 2, "tanh"
    c.objective.loss = "mse"
    c.optimizer.name, c.optimizer.lr, c.optimizer.momentum = "sgd", LEARNING_RATES[1], 0.0
    c.batch_size = TRAIN_EXAMPLES
    c.steps, c.eval_every, c.log_every = STEPS, 1000, LOG_EVERY
    c.checkpoint_every, c.keep_checkpoints = CHECK_EVERY, STEPS // CHECK_EVERY + 1
    return c


# ---------------------------------------------------------------- measurements


@functools.lru_cache(maxsize=8)
def _jitted_loss(objective_loss_fn: Any):
    return jax.jit(hessian.objective_loss(objective_loss_fn))


def sharpness_and_loss(run: Any, state: Any) -> tuple[float, float, int]:
    """(λ_max, training loss, Hessian-vector products) of `state` on the whole training set."""
    batch = (run.dataset.x_train, run.dataset.y_train)
    top = hessian.sharpness(run, state, batch)
    data = (state.model_state, state.target, batch, StepKeys(state.key, state.step))
    loss = _jitted_loss(run.objective.loss)(state.params, data)
    return float(top.value), float(loss), int(top.iterations)


def edge_statistics(steps: np.ndarray, ratio: np.ndarray) -> dict[str, float]:
    """The verdict's per-seed numbers from λ_max·η/2 at `steps`. The crossing: the first
    measurement with ratio >= 1 after one below 1 (a sharpness that starts above 2/η first
    falls below it; one never below: the first measurement); NaN if none. r: the mean
    ratio from the crossing to the end (no crossing: the last ratio)."""
    below = np.flatnonzero(ratio < 1.0)
    start = int(below[0]) if below.size else 0
    above = start + np.flatnonzero(ratio[start:] >= 1.0)
    first = int(above[0]) if above.size else None
    return {"crossed": float(first is not None),
            "crossing_step": float(steps[first]) if first is not None else np.nan,
            "ratio_at_edge": float(np.mean(ratio[first:])) if first is not None else float(ratio[-1]),
            "initial_ratio": float(ratio[0]), "final_ratio": float(ratio[-1])}


def loss_statistics(history: dict[int, float], crossing_step: float) -> dict[str, float]:
    """From the logged training loss: its value at the first logged step at or after the
    crossing and at the end, and the fraction of logged intervals after the crossing in
    which it rose."""
    steps = np.array(sorted(history))
    after = steps[steps >= crossing_step] if np.isfinite(crossing_step) else steps[:0]
    if after.size < 2:
        return {"loss_at_crossing": np.nan, "rises_after_crossing": np.nan}
    values = np.array([history[s] for s in after])
    return {"loss_at_crossing": float(values[0]),
            "rises_after_crossing": float(np.mean(np.diff(values) > 0))}


def measure(ctx) -> dict[str, Any]:
    """λ_max and the training loss at initialization and at every checkpoint."""
    steps = [0, *range(ctx.config.checkpoint_every, ctx.config.steps + 1,
                       ctx.config.checkpoint_every)]
    rows = [sharpness_and_loss(ctx.run, ctx.run.init(rng.root_key(ctx.trial.seed)) if s == 0
                               else ctx.at_step(s)) for s in steps]
    sharp, loss, iterations = (np.array(col) for col in zip(*rows))
    lr = ctx.config.optimizer.lr
    stats = edge_statistics(np.array(steps), sharp * lr / 2)
    return {"steps": np.array(steps), "sharpness": sharp, "train_loss": loss,
            "iterations": iterations, **stats,
            **loss_statistics(ctx.history("train_step/loss"), stats["crossing_step"]),
            "final_loss": float(loss[-1]), "max_iterations_hit": float(np.sum(
                iterations >= hessian.MAX_ITERATIONS))}


# ---------------------------------------------------------------- analysis


def verdict_of(ratios: np.ndarray, crossed: np.ndarray, diverged: int) -> tuple[str, tuple]:
    """(outcome, (mean, low, high)) of one η from its seeds' r and whether each reached 2/η;
    `diverged`: its seeds whose training failed (the rule is in the module docstring)."""
    mean, low, high = report.mean_ci(ratios)
    if diverged:
        return REFUTED, (mean, low, high)
    if np.isnan(low):
        return NOT_RESOLVED, (mean, low, high)
    if crossed.all() and BAND[0] <= low and high <= BAND[1]:
        return CONFIRMED, (mean, low, high)
    if high < BAND[0] or low > BAND[1]:
        return REFUTED, (mean, low, high)
    return NOT_RESOLVED, (mean, low, high)


def per_lr_table(results: report.Results) -> pd.DataFrame:
    """One row per η: the verdict's numbers (mean ± 95% CI over seeds) and its outcome."""
    names = ("ratio_at_edge", "crossed", "crossing_step", "initial_ratio", "final_ratio",
             "loss_at_crossing", "final_loss", "rises_after_crossing")
    final = {n: results.final(f"measure/{n}") for n in names}
    failed = results.failed
    rows = []
    lrs = set(final["ratio_at_edge"]["optimizer.lr"]) | set(failed.get("optimizer.lr", []))
    for lr in sorted(lrs):  # an η whose every seed diverged has a row too
        at = {n: f[f["optimizer.lr"] == lr]["value"].to_numpy() for n, f in final.items()}
        diverged = int((failed["optimizer.lr"] == lr).sum()) if len(failed) else 0
        outcome, ci = verdict_of(at["ratio_at_edge"], at["crossed"], diverged)
        rows.append({"η": lr, "2/η": 2 / lr, "seeds": len(at["ratio_at_edge"]),
                     "diverged": diverged, "reached 2/η": int(at["crossed"].sum()),
                     "λη/2 at init": report.ci_text(*report.mean_ci(at["initial_ratio"]), 3),
                     "first step at 2/η": _mean_text(at["crossing_step"], 0),
                     "λη/2 after (r)": report.ci_text(*ci, 3),
                     "λη/2 at end": report.ci_text(*report.mean_ci(at["final_ratio"]), 3),
                     "loss at crossing → end": f"{_mean_text(at['loss_at_crossing'], 4)} → "
                                               f"{_mean_text(at['final_loss'], 4)}",
                     "loss rose (share of 10-step intervals)": _mean_text(
                         at["rises_after_crossing"], 2),
                     "verdict": outcome, "_mean": ci[0]})
    return pd.DataFrame(rows)


def _mean_text(values: np.ndarray, digits: int) -> str:
    values = values[np.isfinite(values)]
    return f"{np.mean(values):.{digits}f}" if values.size else "–"


def analyze(results: report.Results) -> report.Analysis:
    table = per_lr_table(results)
    rule = (f"Per η, r = mean λ_max·η/2 from the first measurement with λ_max ≥ 2/η (from "
            f"below) to the end (a seed that never gets there: its final λ_max·η/2). Confirmed if every seed "
            f"reaches 2/η and the 95% CI of r lies within [{BAND[0]}, {BAND[1]}]; refuted if "
            f"it lies below {BAND[0]} (stays well below 2/η), above {BAND[1]} (rises past it) "
            f"or if any seed diverges; otherwise not resolved.")
    outcomes = ", ".join(f"η = {r['η']:g}: {r['verdict']} (r = {r['λη/2 after (r)']}, "
                         f"{r['reached 2/η']}/{r['seeds']} seeds reached 2/η)"
                         for _, r in table.iterrows())
    overall = (CONFIRMED if (table["verdict"] == CONFIRMED).all() else
               REFUTED if (table["verdict"] == REFUTED).any() else NOT_RESOLVED)
    verdict = (f"**Sharpness hovers at 2/η after reaching it: {overall}.** {rule}\n\n"
               f"Measured: {outcomes}. The training loss after the crossing: "
               + "; ".join(f"η = {r['η']:g} {r['loss at crossing → end']}, rising in "
                           f"{r['loss rose (share of 10-step intervals)']} of the logged "
                           f"intervals" for _, r in table.iterrows()) + ".")
    published = {k: (v, ", ".join(f"η = {r['η']:g}: {r['λη/2 after (r)']} ({r['verdict']}, "
                                  f"{r['reached 2/η']}/{r['seeds']} seeds reached 2/η)"
                                  for _, r in table.iterrows()))
                 for k, v in PUBLISHED.items()}
    return report.Analysis(
        tables={"Sharpness against 2/η, per learning rate (mean ± 95% CI over seeds)":
                table.drop(columns=["_mean"])},
        plots={"Sharpness along training, with 2/η": sharpness_plot(results),
               "Training loss along training (seed 0, every 10 steps)": loss_plot(results)},
        verdict=verdict, published=published,
        # Each η is the claim at one learning rate ("at every η they tried"). The published
        # value, r ≈ 1, is the claim itself: a confirmed η has r's CI within BAND of it.
        status=report.status_of(table["verdict"].tolist(), matches_published=True))


def _curves(results: report.Results) -> pd.DataFrame:
    """One row per trial: η, seed, steps, sharpness, train_loss arrays."""
    arrays = {n: results.arrays(n) for n in ("steps", "sharpness", "train_loss")}
    out = arrays["steps"].rename(columns={"value": "steps"})
    for n in ("sharpness", "train_loss"):
        out[n] = arrays[n]["value"].to_numpy()
    return out


def sharpness_plot(results: report.Results) -> Figure:
    """λ_max against step, one panel per η, one line per seed, 2/η dashed."""
    curves = _curves(results)
    lrs = sorted(curves["optimizer.lr"].unique())
    fig = Figure(figsize=(3.6 * len(lrs), 3.2), dpi=110, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(lrs)))
    for ax, lr in zip(axes, lrs):
        for _, r in curves[curves["optimizer.lr"] == lr].iterrows():
            ax.plot(r["steps"], r["sharpness"], lw=0.9, alpha=0.8, label=f"seed {r['seed']}")
        ax.axhline(2 / lr, color="k", ls="--", lw=1, label="2/η")
        ax.set(xlabel="step", ylabel="λ_max", title=f"η = {lr:g}", ylim=(0, 1.6 * 2 / lr))
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=7)
    return fig


def loss_plot(results: report.Results) -> Figure:
    """The training loss logged every LOG_EVERY steps (the loss of the full batch before
    each logged step), seed 0 of each η — one seed, as a mean over seeds would smooth the
    non-monotone steps away; log y."""
    rows = results.rows
    rows = rows[(rows.status == "done") & (rows.metric == "train_step/loss") & (rows.seed == 0)]
    fig = Figure(figsize=(4.6, 3.2), dpi=110, layout="constrained")
    ax = fig.subplots()
    for lr, g in rows.groupby("optimizer.lr"):
        g = g.sort_values("step")
        ax.plot(g["step"], g["value"], lw=0.8, label=f"η = {lr:g}")
    ax.set(xlabel="step", ylabel="training loss (MSE), seed 0", yscale="log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig
