"""Quickstart study: learning rate × weight decay for the MNIST-1D CNN, 5 seeds each.

Claim: for the published MNIST-1D CNN trained with Adam on a short budget (1500
steps, a quarter of the published 6000), the published learning rate 1e-2 is the
best of {1e-3, 3e-3, 1e-2}, and coupled weight decay of 1e-4 (L2 added to the
gradient) makes no difference that the seeds can resolve.

    jaxdl sweep experiments/quickstart_sweep.py      # or `make run`: 30 trials, report.md
    jaxdl sweep experiments/quickstart_sweep.py --quick    # 12 short trials, a smoke test

Published result it checks: Greydanus & Kobak ("Scaling down deep learning with
MNIST-1D", ICML 2024) train this CNN with Adam at lr 1e-2, batch 100, to 94% test
accuracy after 6000 steps; after 1500 steps we expect a few points less.

Measured (2 CPU cores shared with other jobs, 150 s, one by one; test accuracy,
mean ± 95% CI over 5 seeds and both weight decays): lr 1e-3 0.777 ± 0.017, 3e-3
0.870 ± 0.017, 1e-2 0.931 ± 0.004 — lr 1e-2 is best, clear of 3e-3 (confirmed); lr
1e-2 without weight decay 0.932 ± 0.008 against the published 0.94 at 4x the steps.
Weight decay 1e-4 changes accuracy by 0.000 ± 0.006 paired by seed and lr
(confirmed: no resolvable effect).
"""
from __future__ import annotations

import ml_collections
import numpy as np

from jaxdl import config as config_lib
from jaxdl.study import report, sweep

LRS = (1e-3, 3e-3, 1e-2)
WEIGHT_DECAYS = (0.0, 1e-4)

SWEEP = sweep.grid({"optimizer.lr": LRS, "optimizer.weight_decay": WEIGHT_DECAYS})
SEEDS = range(5)
METRICS = ("test/accuracy", "test/loss", "train/loss")
PUBLISHED = {"CNN test accuracy, Adam lr 1e-2, 6000 steps": 0.94}
QUICK = {"overrides": {"steps": 200, "eval_every": 100, "checkpoint_every": 100},
         "seeds": range(2)}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """The published CNN recipe on a quarter of its budget (`jaxdl train --config` this file)."""
    c = config_lib.default()
    c.steps = 1500
    c.eval_every = 250
    c.checkpoint_every = 500
    return c


def analyze(results: report.Results) -> report.Analysis:
    """Best learning rate, the paired effect of weight decay, learning curves, the verdict."""
    final = results.final("test/accuracy")
    by_lr = results.summary("test/accuracy", by=["optimizer.lr"])
    best = by_lr.loc[by_lr["mean"].idxmax()]
    runner_up = by_lr.drop(index=by_lr["mean"].idxmax()).sort_values("mean").iloc[-1]
    # Weight decay's effect, paired by seed at each lr: seed-to-seed variation cancels.
    wd = paired_effect_table(final)
    overall = report.paired_effect(final, "optimizer.weight_decay", 0.0, 1e-4).iloc[0]
    wd_resolved = not (overall["low"] <= 0 <= overall["high"])

    curves = results.curves("test/accuracy", by=["optimizer.lr"])
    curves_plot = report.line_plot(curves, "step", hue=["optimizer.lr"], ylabel="test accuracy",
                                   title="test accuracy during training (both wd, all seeds)")
    scatter, fit = report.scatter_fit(final, "optimizer.lr", ylabel="test accuracy",
                                      title="every trial's test accuracy against lr")

    ours = results.summary("test/accuracy")
    published_lr = ours[(ours["optimizer.lr"] == 1e-2) & (ours["optimizer.weight_decay"] == 0.0)]
    ours_text = (report.ci_text(*published_lr[["mean", "low", "high"]].values[0])
                 + f" after {_steps(results)} steps" if len(published_lr) else "not run")
    lr_verdict = (
        f"lr {best['optimizer.lr']:g} is best ({report.ci_text(best['mean'], best['low'], best['high'])}); "
        + ("its interval is clear of the runner-up's" if best["low"] > runner_up["high"]
           else f"its interval overlaps lr {runner_up['optimizer.lr']:g}'s "
                f"({report.ci_text(runner_up['mean'], runner_up['low'], runner_up['high'])})"))
    claim_lr = best["optimizer.lr"] == 1e-2
    verdict = (
        f"**Learning rate: {'confirmed' if claim_lr else 'refuted'}.** {lr_verdict}. "
        f"Accuracy rises {fit['slope']:.3f} per decade of lr across all trials (r = {fit['r']:.2f}).\n\n"
        f"**Weight decay: {'refuted' if wd_resolved else 'confirmed'}.** Weight decay 1e-4 "
        f"changes test accuracy by {report.ci_text(overall['mean'], overall['low'], overall['high'])} "
        f"(paired by seed and lr, n = {int(overall['n'])}): the interval "
        f"{'excludes' if wd_resolved else 'contains'} 0.")
    return report.Analysis(
        tables={"Effect of weight decay 1e-4 on test accuracy, paired by seed": wd},
        plots={"test accuracy during training": curves_plot,
               "test accuracy against lr, every trial": scatter},
        verdict=verdict,
        published={"CNN test accuracy, Adam lr 1e-2, 6000 steps": (
            f"{PUBLISHED['CNN test accuracy, Adam lr 1e-2, 6000 steps']:.2f}", ours_text)})


def paired_effect_table(final) -> "report.pd.DataFrame":
    effect = report.paired_effect(final, "optimizer.weight_decay", 0.0, 1e-4, by=["optimizer.lr"])
    return report.with_ci_column(effect, "accuracy(wd 1e-4) - accuracy(wd 0)")


def _steps(results: report.Results) -> int:
    return int(np.max(results.rows["step"]))
