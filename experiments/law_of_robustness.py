"""Law of robustness: interpolating n noisy points in d dimensions smoothly takes ~n·d parameters.

Claim (Bubeck & Sellke, "A universal law of robustness via isoperimetry",
NeurIPS 2021, Theorem 3): any function class with p parameters (polynomially
bounded weights) that fits n points with noisy labels, drawn from an isoperimetric
distribution in d dimensions (here: uniform on the sphere S^{d-1}), below the
noise level has Lipschitz constant Lip(f) >~ sqrt(n d / p). Smooth (O(1)-Lipschitz)
interpolation needs p >~ n d: "overparameterization is necessary for robustness".

    jaxdl sweep experiments/law_of_robustness.py           # 20 points x 5 seeds
    jaxdl sweep experiments/law_of_robustness.py --quick   # 3 points x 2 seeds, ~1 min

Setting: x uniform on S^{d-1}, labels +-1 uniformly at random (independent of x:
pure noise, so nothing generalises and fitting = memorising), a two-layer ReLU
network f(x) = logit_1 - logit_0 with k hidden units (p = k(d+1) + 2(k+1)
parameters), trained with MSE on one-hot targets (so f is fitted to +-1) by Adam
for 4000 steps (batch 100), n in {250, 1000}, d in {10, 40}, k on a geometric
grid. Per trained network (jaxdl/probes/lipschitz.py): the lower bound
max ||grad_x f|| over the n training points and over 1000 fresh sphere points,
and the upper bound prod ||W_l||_2.

What is checked: among the networks that interpolate (100% train accuracy),
(1) every one satisfies Lip >= sqrt(nd/p) up to the constant the theorem leaves
open — we report the smallest ratio Lip / sqrt(nd/p); (2) log Lip falls with
log p at fixed (n, d), and the fitted slope of log Lip on log sqrt(nd/p) says how
closely plain training follows the bound (slope 1: it finds the smoothest
interpolators the law allows; slope < 1: the network gets smoother with p more
slowly than allowed).

Published result it checks: the theorem (a lower bound, no experiment on this
data); the paper's discussion points to ImageNet/MNIST scales, where n·d far
exceeds the parameter counts of networks that are not robust.

Measured (100 trials, 748 s on 2 CPU cores shared with other jobs; report in
docs/studies/law_of_robustness/report.md): 80 of 100 networks interpolate (all but
the narrowest); every one has Lip(f) ≥ 3.3·sqrt(nd/p) over its training points
(ratios 3.3 to 23.4) — consistent with the law. Lip falls with width at every
(n, d), e.g. n = 1000, d = 40: 15.1 ± 0.6 at p = 2754, 9.1 ± 0.3 at p = 176,130; but
more slowly than the bound: slope 0.35 ± 0.05 of log Lip on log sqrt(nd/p) (r =
0.85), and Lip levels off (~5 for n = 250, ~7–9 for n = 1000) while sqrt(nd/p) keeps
falling. Plain Adam on MSE finds interpolators well above the smoothest the law
allows; the spectral-norm upper bound is 4–15x looser than the measured lower bound.

Smooth interpolators: a second block trains the same nets (n = 1000, d = 10) with a
Jacobian penalty `loss.jacobian` = λ · mean ||d f / d x||_F^2 (double backprop), λ in
{1e-3, 1e-2}, to show where smooth interpolation becomes possible (the law: p ≳ nd).
Quick run (n = 250, d = 10, 2 seeds, 1500 steps, λ = 1e-2): both widths still
interpolate, with Lip 4.07 ± 0.15 at p = 3,330 (6.96 without the penalty) and 2.89 ±
0.98 at p = 53,250 (4.83 without). The full-size numbers of this block (and the
measured paragraph above, which predates it) come from a run of the whole sweep
into a fresh directory: not yet done.
"""
from __future__ import annotations

import math

import ml_collections
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from jaxdl import config as config_lib
from jaxdl.probes import lipschitz
from jaxdl.study import report, sweep

NS = (250, 1000)
DS = (10, 40)
WIDTHS = (16, 64, 256, 1024, 4096)  # 16384: ~5 min a trial on 2 busy cores

PENALTIES = (1e-3, 1e-2)  # loss.jacobian: mean ||d f / d x||_F^2, for smooth interpolators
SWEEP = sweep.concat(
    sweep.grid({"data.n": NS, "data.d": DS, "model.width": WIDTHS}),
    sweep.grid({"data.n": (1000,), "data.d": (10,), "model.width": WIDTHS, "loss.jacobian": PENALTIES}))
SEEDS = range(5)
METRICS = ("train/accuracy", "measure/lip_train", "measure/lip_fresh", "measure/lip_upper")
PUBLISHED = {"Lip of any interpolator (Bubeck & Sellke 2021, Thm 3)": ">~ sqrt(n d / p)"}
QUICK = {"overrides": {"steps": 1500, "eval_every": 500, "checkpoint_every": 1500},
         "seeds": range(2),
         "sweep": sweep.concat(
             sweep.grid({"data.n": (250,), "data.d": (10,), "model.width": (16, 256, 4096)}),
             sweep.grid({"data.n": (250,), "data.d": (10,), "model.width": (256, 4096),
                         "loss.jacobian": (1e-2,)}))}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """A two-layer ReLU net memorising random +-1 labels on S^9 with MSE."""
    c = config_lib.default()
    c.data = config_lib.named_section("data", "sphere")
    c.data.n, c.data.d, c.data.test_size = 1000, 10, 1000
    c.model = config_lib.named_section("model", "mlp")
    c.model.depth, c.model.width = 1, 256
    c.loss.name = "mse"
    c.optimizer.lr = 3e-3
    c.optimizer.schedule.name = "constant"
    c.steps, c.eval_every, c.checkpoint_every = 4000, 1000, 2000
    return c


def measure(ctx) -> dict[str, float]:
    """Lipschitz bounds of the fitted margin function f = logit_1 - logit_0."""
    ds, config = ctx.run.dataset, ctx.config
    f = lipschitz.margin(ctx.apply)
    p = lipschitz.parameter_count(ctx.state.params)
    return {
        "lip_train": lipschitz.lipschitz_lower_bound(f, ds.x_train),
        "lip_fresh": lipschitz.lipschitz_lower_bound(f, ds.x_test),
        "lip_upper": lipschitz.mlp_upper_bound(ctx.state.params, np.array([-1.0, 1.0])),
        "params": float(p),
        "bound": lipschitz.law_of_robustness_scale(config.data.n, config.data.d, p),
    }


def analyze(results: report.Results) -> report.Analysis:
    everything = _trials(results)
    df = everything[everything["penalty"] == 0]  # plain training: the law's lower bound
    smooth = everything[everything["penalty"] > 0]
    fit_df = df[df["interpolates"]]
    table = _table(df)
    plot, fit = _loglog(fit_df)
    p_plot = _lip_against_width(results)
    ratio = fit_df["lip_train"] / fit_df["bound"]
    verdict = (
        f"**Lower bound: {'consistent' if len(fit_df) else 'untested'}.** "
        f"{len(fit_df)} of {len(df)} trained networks interpolate; for them Lip(f) over the "
        f"training points divided by sqrt(nd/p) ranges from {ratio.min():.3g} to {ratio.max():.3g}"
        f" (the theorem bounds it below by a constant it does not fix; no network was "
        f"smoother than {ratio.min():.3g}·sqrt(nd/p)).\n\n"
        f"**Scaling: slope {fit['slope']:.2f} ± {1.96 * fit['stderr']:.2f} (95% CI) "
        f"of log10 Lip on log10 sqrt(nd/p), r = {fit['r']:.2f}.** "
        + ("Plain training tracks the law (slope ≈ 1): more parameters buy a proportionally "
           "smoother interpolator." if abs(fit["slope"] - 1) <= 1.96 * fit["stderr"] + 0.15 else
           "Plain training does not track the law's slope: the interpolators it finds get "
           f"{'smoother more slowly' if fit['slope'] < 1 else 'smoother faster'} with p than "
           "sqrt(nd/p) — the bound is a floor, and Adam on MSE does not sit on it."))
    ours = (f"min Lip/sqrt(nd/p) = {ratio.min():.3g} over {len(fit_df)} interpolating nets; "
            f"slope {fit['slope']:.2f}" if len(fit_df) else "no interpolating network")
    tables = {"Lipschitz bounds per point (mean ± 95% CI over seeds)": table}
    if len(smooth):
        smooth_table = _smooth_table(smooth, df)
        tables["Smooth interpolators: training with a Jacobian penalty"] = smooth_table
        best = smooth_table[smooth_table["interpolating"].str.split("/").str[0].astype(int) > 0]
        verdict += (
            "\n\n**Smooth interpolation (loss.jacobian > 0):** "
            + ("; ".join(f"width {r['width']} (p = {r['p']:,}), penalty {r['jacobian penalty']:g}: "
                         f"{r['interpolating']} interpolate with Lip {r['lip_train']} "
                         f"(= {r['Lip / sqrt(nd/p)']:.2f}·sqrt(nd/p); no penalty: {r['lip_train, no penalty']})"
                         for _, r in best.iterrows()) or "no penalized network interpolates")
            + ". The law says a smooth interpolator needs p ≳ nd = "
            + ", ".join(f"{n * d:,}" for n, d in sorted({(r['n'], r['d']) for _, r in smooth_table.iterrows()}))
            + ".")
    return report.Analysis(
        tables=tables,
        plots={"Lip against sqrt(nd over p), interpolating networks": plot,
               "Lip over training points against width": p_plot},
        verdict=verdict,
        published={"Lip of any interpolator (Bubeck & Sellke 2021, Thm 3)": (
            PUBLISHED["Lip of any interpolator (Bubeck & Sellke 2021, Thm 3)"], ours)})


def _trials(results: report.Results) -> pd.DataFrame:
    """One row per trial: axes, seed, the measures and whether it interpolates."""
    keys = ["trial", *results.axes, "seed"]
    df = results.final("train/accuracy").rename(columns={"value": "train_accuracy"})
    for name in ("lip_train", "lip_fresh", "lip_upper", "params", "bound"):
        df = df.merge(results.final(f"measure/{name}").rename(columns={"value": name}), on=keys)
    df["interpolates"] = df["train_accuracy"] >= 1.0
    penalty = df["loss.jacobian"] if "loss.jacobian" in df else pd.Series(0.0, index=df.index)
    df["penalty"] = penalty.fillna(0.0).astype(float)
    return df


def _smooth_table(smooth: pd.DataFrame, plain: pd.DataFrame) -> pd.DataFrame:
    """Per width and penalty: how many interpolate, Lip over train points and its ratio
    to sqrt(nd/p), next to plain training at the same (n, d, width)."""
    rows = []
    for (n, d, k, lam), g in smooth.groupby(["data.n", "data.d", "model.width", "penalty"]):
        base = plain[(plain["data.n"] == n) & (plain["data.d"] == d) & (plain["model.width"] == k)]
        rows.append({"n": n, "d": d, "width": k, "p": int(g["params"].iloc[0]),
                     "sqrt(nd/p)": g["bound"].iloc[0], "jacobian penalty": lam,
                     "interpolating": f"{g['interpolates'].sum()}/{len(g)}",
                     "lip_train": report.ci_text(*report.mean_ci(g["lip_train"]), digits=3),
                     "lip_train, no penalty": (report.ci_text(*report.mean_ci(base["lip_train"]), digits=3)
                                               if len(base) else "–"),
                     "Lip / sqrt(nd/p)": float(g["lip_train"].mean() / g["bound"].iloc[0])})
    return pd.DataFrame(rows)


def _table(df: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for (n, d, k), g in df.groupby(["data.n", "data.d", "model.width"]):
        row = {"n": n, "d": d, "width": k, "p": int(g["params"].iloc[0]),
               "sqrt(nd/p)": g["bound"].iloc[0], "interpolating": f"{g['interpolates'].sum()}/{len(g)}"}
        for name in ("lip_train", "lip_fresh", "lip_upper"):
            row[name] = report.ci_text(*report.mean_ci(g[name]), digits=3)
        rows.append(row)
    return pd.DataFrame(rows)


def _loglog(df: pd.DataFrame) -> tuple[Figure, dict[str, float]]:
    """log Lip against log sqrt(nd/p) for interpolating trials, with y = x and the fit."""
    from scipy import stats
    fig = Figure(figsize=(5.5, 3.8), dpi=120, layout="constrained")
    ax = fig.subplots()
    fit = {"slope": math.nan, "stderr": math.nan, "r": math.nan}
    if len(df) >= 3:
        xs, ys = np.log10(df["bound"]), np.log10(df["lip_train"])
        r = stats.linregress(xs, ys)
        fit = {"slope": r.slope, "stderr": r.stderr, "r": r.rvalue}
        for (n, d), g in df.groupby(["data.n", "data.d"]):
            ax.scatter(g["bound"], g["lip_train"], s=14, alpha=0.7, label=f"n={n}, d={d}")
        grid = np.linspace(xs.min(), xs.max(), 50)
        ax.plot(10 ** grid, 10 ** (r.intercept + r.slope * grid), color="C3",
                label=f"fit: slope {r.slope:.2f}")
        ax.plot(10 ** grid, 10 ** grid, color="k", linestyle="--", label="Lip = sqrt(nd/p)")
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    ax.set(xlabel="sqrt(n d / p)", ylabel="Lip(f) lower bound (train points)")
    ax.set_title("interpolating networks: Lipschitz constant against the law's scale", fontsize=10)
    ax.grid(alpha=0.3)
    return fig, fit


def _lip_against_width(results: report.Results) -> Figure:
    summary = results.summary("measure/lip_train")
    if "loss.jacobian" in summary:  # plain training only
        summary = summary[summary["loss.jacobian"].isna()]
    summary = summary.assign(nd=[f"n={n}, d={d}" for n, d in zip(summary["data.n"], summary["data.d"])])
    fig = report.line_plot(summary, "model.width", hue=["data.n", "data.d"],
                           ylabel="Lip(f) over training points",
                           title="Lipschitz lower bound against hidden width")
    fig.axes[0].set_yscale("log")
    return fig
