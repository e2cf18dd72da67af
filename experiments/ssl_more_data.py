"""More unlabeled data for self-supervised pretraining: more is better, even from shifted sources.

Claim (Barak; the SSL cookbook, Balestriero, LeCun et al. 2023): self-supervised
representations improve with the amount of unlabeled pretraining data, and
unlabeled data from a shifted distribution does not hurt the representation for
the original task ("more is better").

    jaxdl sweep experiments/ssl_more_data.py           # 5 pools x 5 seeds
    jaxdl sweep experiments/ssl_more_data.py --quick   # 3 pools x 2 seeds, 1000 steps

Setting: SimCLR (as in experiments/ssl_methods.py: the published CNN's backbone, the
`mnist1d` views, 4000 steps of batch 100) pretrained on an unlabeled pool from the
MNIST-1D generator: 4000, 16000 or 64000 signals of the default distribution, or
16000 signals of a shifted one (shear ×2, or correlated noise ×2) — the pool is the
run's training set, labels unused. Every network is then read out the same way
(measure): a linear probe (jaxdl/probes/linear_probe.py) fitted on the published
4000 labelled training signals and scored on the published 1000 test signals.

Published result it checks: the qualitative claim; no MNIST-1D number is published.
Limitation: a shifted pool here *replaces* the default pool rather than being mixed
into it (a mixture needs a data option that jaxdl does not have yet).

Measured, --quick only (2 seeds, 1000 steps; 75 s on 2 shared CPU cores): probe accuracy
4,000 default 0.684, 16,000 default 0.651, 16,000 shear ×2 0.623 — 2 seeds cannot
resolve these differences (paired intervals ±0.4–0.6). The full sweep is not run yet.
"""
from __future__ import annotations

import ml_collections
import numpy as np
import pandas as pd

from jaxdl import config as config_lib
from jaxdl import data
from jaxdl.probes import linear_probe
from jaxdl.study import report, sweep

HELD_OUT = 1000  # each pool's own split, only for the run's in-training kNN metric


def pool(size: int, **shift) -> dict:
    """Sweep point: an unlabeled pool of `size` signals (generator options `shift`)."""
    total = size + HELD_OUT
    return {"data.num_samples": total, "data.train_split": size / total,
            **{f"data.{k}": v for k, v in shift.items()}}


POOLS = [pool(4000), pool(16000), pool(64000), pool(16000, shear_scale=1.5),
         pool(16000, corr_noise_scale=0.5)]
SWEEP = POOLS
SEEDS = range(5)
METRICS = ("measure/probe_accuracy",)
PUBLISHED = {"more unlabeled data does not lower probe accuracy (SSL cookbook 2023)": "yes"}
QUICK = {"overrides": {"steps": 1000, "eval_every": 500, "checkpoint_every": 1000},
         "seeds": range(2), "sweep": [pool(4000), pool(16000), pool(16000, shear_scale=1.5)]}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    c = config_lib.default()
    c.steps, c.eval_every, c.checkpoint_every = 4000, 1000, 2000
    c.objective.name = "simclr"
    c.augment.name = "mnist1d"
    return c


def measure(ctx) -> dict[str, float]:
    """Linear probe on the published labelled set, from the pretrained representation."""
    labelled = data.load("mnist1d")
    features = lambda x: linear_probe.features_by_layer(
        ctx.run.model, ctx.state.params, ctx.state.model_state, x)["representation"]
    probe = linear_probe.fit_linear_probe(ctx.key, features(labelled.x_train), labelled.y_train,
                                          features(labelled.x_test), labelled.y_test,
                                          labelled.num_classes)
    return {"probe_accuracy": probe.test_accuracy}


def _label(row: pd.Series) -> str:
    size = int(round(row["data.num_samples"] * row["data.train_split"]))
    shear, noise = row.get("data.shear_scale"), row.get("data.corr_noise_scale")
    source = ("shear ×2" if shear == shear and shear is not None else
              "corr. noise ×2" if noise == noise and noise is not None else "default")
    return f"{size:,} {source}"


def analyze(results: report.Results) -> report.Analysis:
    final = results.final("measure/probe_accuracy")
    final = final.assign(pool=final.apply(_label, axis=1))
    summary = report.summarize(final, ["pool"])
    order = {_label(pd.Series(p)): i for i, p in enumerate(POOLS)}
    summary = summary.assign(order=summary["pool"].map(order)).sort_values("order").drop(columns="order")
    base = final[final["pool"] == "4,000 default"].set_index("seed")["value"]
    rows = []
    for name, g in final.groupby("pool"):
        if name == "4,000 default":
            continue
        d = g.set_index("seed")["value"] - base
        mean, low, high = report.mean_ci(d.dropna())
        rows.append({"pool": name, "mean": mean, "low": low, "high": high, "n": int(d.notna().sum())})
    effects = pd.DataFrame(rows)
    lowered = effects[effects["high"] < 0]["pool"].tolist()
    verdict = (
        f"**More is better: {'confirmed' if not lowered else 'refuted'}.** Against pretraining "
        "on the 4,000 default signals, paired by seed, the linear probe's test accuracy changes by "
        + "; ".join(f"{r['pool']} {report.ci_text(r['mean'], r['low'], r['high'], 3)}"
                    for _, r in effects.iterrows())
        + (f". Lowered (interval below 0): {', '.join(lowered)}." if lowered
           else ". No pool lowers it (no interval lies below 0)."))
    return report.Analysis(
        tables={"Probe accuracy by pretraining pool (mean ± 95% CI)":
                report.with_ci_column(summary, "probe accuracy"),
                "Change against the 4,000 default signals, paired by seed":
                report.with_ci_column(effects, "Δ probe accuracy")},
        plots={},
        verdict=verdict,
        published={"more unlabeled data does not lower probe accuracy (SSL cookbook 2023)": (
            "yes", "confirmed" if not lowered else f"refuted for {', '.join(lowered)}")})
