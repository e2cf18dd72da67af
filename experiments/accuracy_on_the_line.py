"""Accuracy on the line: in-distribution and shifted accuracy of many models lie on a line (probit scale).

Claim (Miller, Taori, Raghunathan, Sagawa, Koh, Shankar, Liang, Carmon & Schmidt,
"Accuracy on the Line", ICML 2021): across many models — architectures, sizes,
training set sizes and lengths — out-of-distribution accuracy is, for many
natural distribution shifts, a linear function of in-distribution accuracy once
both are probit-transformed (Φ⁻¹(acc)), with little scatter (high R²); for some
shifts the correlation is weak (their exceptions include Camelyon17 of WILDS and
some synthetic corruptions).

    jaxdl sweep experiments/accuracy_on_the_line.py          # 36 points x 2 seeds = 72 models
    jaxdl sweep experiments/accuracy_on_the_line.py --quick  # 8 models, ~2 min

Setting: a model zoo on MNIST-1D — MLPs of width 32/128/512 and 3-layer CNNs of
8/25/64 channels, trained on 1000/2000/4000 examples for 600 or 3000 steps (Adam,
the published recipe otherwise), 2 seeds each. Each model is evaluated
(measure) on fresh test sets made by the MNIST-1D generator with another seed:
one from the training distribution and one per shift of a generator parameter —
shear ×2, correlated noise ×2, scale ×2.5, iid noise ×5, translation range ÷6.
For each shift: the least-squares line of Φ⁻¹(shifted acc) on Φ⁻¹(ID acc) over
all models, its R², and whether the shift is "on the line" — R² ≥ 0.9 with a rising
line, decided on the 95% interval of the correlation r (Fisher's z over the models,
which treats the 2 seeds of a configuration as independent models): on when the
interval lies at or above sqrt(0.9), off when below, else not resolved. The claim
(a line for many shifts) is confirmed when more than half the shifts are on the line,
refuted when at most half could be (on + not resolved), else not resolved.

Published result it checks: the qualitative law (image benchmarks, not MNIST-1D);
which of our generator shifts follow it is the measured result.

Measured (72 models, 633 s on 2 CPU cores shared with other jobs; report in
docs/studies/accuracy_on_the_line/report.md): on the line (R² ≥ 0.9) for 4 of 5
shifts — shear ×2 R² 0.963 (slope 0.77), correlated noise ×2 0.957 (0.49), scale
×2.5 0.976 (0.75), translation ÷6 0.987 (0.93); off it: iid noise ×5, R² 0.777
(slope 0.28). The report's verdict ("Confirmed for 4 of 5") was decided by an earlier
rule that confirmed on any one shift's point R²; on these R² the current rule's
intervals (72 models) put the four shifts' lower ends at R² 0.93–0.98, iid noise's upper
end at 0.85: confirmed, 4 on, 1 off (the regenerated report decides so). White noise
hurts models in ways their in-distribution accuracy does not predict, as Miller et al.
saw for some synthetic corruptions.
"""
from __future__ import annotations

import math

import ml_collections
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from jaxdl import config as config_lib
from jaxdl import data
from jaxdl.study import report, sweep

TEST_SEED = 20211  # fresh test sets: another generator seed than the training data's (42)
TEST_SIZE = 2000
ON_THE_LINE_R2 = 0.9
ON, OFF = "on", "off"  # a shift's status; its interval may also straddle the bar
CONFIRMED, REFUTED, NOT_RESOLVED = "confirmed", "refuted", "not resolved"
SHIFTS = {  # name -> MNIST-1D generator options changed from the defaults
    "in_distribution": {},
    "shear_x2": {"shear_scale": 1.5},
    "corr_noise_x2": {"corr_noise_scale": 0.5},
    "scale_x2.5": {"scale_coeff": 1.0},
    "iid_noise_x5": {"iid_noise_scale": 0.1},
    "translation_div6": {"max_translation": 8},
}

ARCHITECTURES = sweep.concat(
    sweep.grid({"model.name": ["mlp"], "model.width": [32, 128, 512]}),
    sweep.grid({"model.name": ["cnn1d"], "model.channels": [(8, 8, 8), (25, 25, 25), (64, 64, 64)]}))
SWEEP = sweep.product(ARCHITECTURES, sweep.grid({"data.num_samples": [1250, 2500, 5000],
                                                 "steps": [600, 3000]}))
SEEDS = range(2)
METRICS = tuple(f"measure/{name}" for name in SHIFTS)
PUBLISHED = {"probit ID–OOD fit across models (Miller et al. 2021)":
             "linear with high R² for many natural shifts; weak for some"}
QUICK = {"overrides": {"eval_every": 300, "checkpoint_every": 300}, "seeds": range(1),
         "sweep": sweep.product(
             sweep.concat(sweep.grid({"model.name": ["mlp"], "model.width": [32, 128]}),
                          sweep.grid({"model.name": ["cnn1d"],
                                      "model.channels": [(8, 8, 8), (25, 25, 25)]})),
             sweep.grid({"data.num_samples": [1250, 5000], "steps": [300]}))}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """The published MNIST-1D CNN recipe; the sweep changes model, data size and steps."""
    c = config_lib.default()
    c.steps, c.eval_every, c.checkpoint_every = 3000, 600, 3000
    return c


def shifted_test_set(name: str) -> tuple[np.ndarray, np.ndarray]:
    """TEST_SIZE fresh examples of the MNIST-1D generator under shift `name`."""
    ds = data.load("mnist1d", num_samples=TEST_SIZE, train_split=0.0, seed=TEST_SEED,
                   **SHIFTS[name])
    return ds.x_test, ds.y_test


def measure(ctx) -> dict[str, float]:
    """Accuracy on the in-distribution and on every shifted test set."""
    out = {}
    for name in SHIFTS:
        x, y = shifted_test_set(name)
        out[name] = float(np.mean(np.argmax(np.asarray(ctx.apply(x)), -1) == y))
    return out


def probit(acc: np.ndarray) -> np.ndarray:
    """Φ⁻¹(acc), with acc clipped to [0.001, 0.999] so that 0 and 1 stay finite."""
    from scipy import stats
    return stats.norm.ppf(np.clip(np.asarray(acc, float), 1e-3, 1 - 1e-3))


def line_fits(models: pd.DataFrame) -> pd.DataFrame:
    """Per shift: slope, intercept, R², and r with its 95% interval of probit(shifted) on
    probit(ID), whether it is on the line (`line_status`), and the mean accuracy drop."""
    from scipy import stats
    rows = []
    x = probit(models["in_distribution"])
    for name in SHIFTS:
        if name == "in_distribution":
            continue
        y = probit(models[name])
        fit = stats.linregress(x, y)
        low, high = r_interval(fit.rvalue, len(models))
        rows.append({"shift": name, "slope": fit.slope, "intercept": fit.intercept,
                     "R²": fit.rvalue ** 2, "r (95% interval)": f"{fit.rvalue:.3f} ({low:.3f}–{high:.3f})",
                     "on the line": line_status(fit.rvalue, len(models)),
                     "mean accuracy drop": float(np.mean(models["in_distribution"] - models[name])),
                     "models": len(models)})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- the decisions


def r_interval(r: float, n: int, level: float = report.LEVEL) -> tuple[float, float]:
    """The interval of a correlation r over n models (Fisher's z: atanh r is about normal
    with standard error 1/sqrt(n - 3)); (nan, nan) for fewer than 4 models."""
    from scipy import stats
    if n < 4 or not np.isfinite(r):
        return math.nan, math.nan
    z = math.atanh(float(np.clip(r, -1 + 1e-12, 1 - 1e-12)))
    half = stats.norm.ppf(0.5 + level / 2) / math.sqrt(n - 3)
    return math.tanh(z - half), math.tanh(z + half)


def line_status(r: float, n: int, bar: float = ON_THE_LINE_R2) -> str:
    """ON: the interval of r lies at or above sqrt(bar) (R² >= bar with a rising line);
    OFF: it lies below sqrt(bar); NOT_RESOLVED: it straddles it (or is undefined)."""
    low, high = r_interval(r, n)
    if low >= math.sqrt(bar):
        return ON
    if high < math.sqrt(bar):
        return OFF
    return NOT_RESOLVED


def claim_outcome(statuses: list[str]) -> str:
    """The claim "on a line for many shifts": confirmed when more than half of the shifts
    are ON; refuted when at most half could be (ON plus NOT_RESOLVED); else not resolved."""
    on, open_ = statuses.count(ON), statuses.count(NOT_RESOLVED)
    if on > len(statuses) / 2:
        return CONFIRMED
    return REFUTED if on + open_ <= len(statuses) / 2 else NOT_RESOLVED


def analyze(results: report.Results) -> report.Analysis:
    models = _models(results)
    fits = line_fits(models)
    status = fits["on the line"].tolist()
    outcome = claim_outcome(status)
    named = lambda which: ", ".join(fits.loc[fits["on the line"] == which, "shift"]) or "none"
    verdict = (
        f"**Accuracy on the line for most shifts: {outcome}.** A shift is on the line when the "
        f"95% interval of the probit–probit correlation r over the models (Fisher's z) lies at "
        f"or above sqrt({ON_THE_LINE_R2}) = {math.sqrt(ON_THE_LINE_R2):.3f} (R² ≥ "
        f"{ON_THE_LINE_R2}, a rising line), off it when the interval lies below; the claim "
        "(a line for many shifts, Miller et al.) is confirmed when more than half of the "
        "shifts are on the line, refuted when at most half could be (on + not resolved), "
        "otherwise not resolved. "
        f"Over {len(models)} models: on the line: {named(ON)}; off it: {named(OFF)}; not "
        f"resolved: {named(NOT_RESOLVED)}. R² per shift, then r (95% interval): "
        + ", ".join(f"{r['shift']} {r['R²']:.3f}, {r['r (95% interval)']}" for _, r in fits.iterrows())
        + ". Miller et al. likewise found most shifts on a line and some off it; which "
          "generator changes fall where is our finding.")
    return report.Analysis(
        tables={"Probit-probit linear fit per shift": fits},
        plots={"Shifted against in-distribution accuracy (probit axes)": _figure(models, fits)},
        verdict=verdict,
        published={"probit ID–OOD fit across models (Miller et al. 2021)": (
            PUBLISHED["probit ID–OOD fit across models (Miller et al. 2021)"],
            f"{outcome}: on the line (R² ≥ {ON_THE_LINE_R2}, 95% interval) for "
            f"{status.count(ON)} of {len(fits)} shifts, off for {status.count(OFF)}; r (95% "
            "interval): " + ", ".join(f"{r['shift']} {r['r (95% interval)']}"
                                      for _, r in fits.iterrows()))},
        # The published law is qualitative and of image benchmarks: no number to match.
        status=report.status_of([outcome]))


def _models(results: report.Results) -> pd.DataFrame:
    """One row per model: its accuracy on every test set."""
    frames = [results.final(f"measure/{name}").set_index("trial")["value"].rename(name)
              for name in SHIFTS]
    return pd.concat(frames, axis=1).dropna().reset_index()


def _figure(models: pd.DataFrame, fits: pd.DataFrame) -> Figure:
    from scipy import stats
    shifts = fits["shift"].tolist()
    fig = Figure(figsize=(3.2 * min(3, len(shifts)), 3.0 * -(-len(shifts) // 3)), dpi=110,
                 layout="constrained")
    axes = np.atleast_1d(fig.subplots(-(-len(shifts) // 3), min(3, len(shifts)))).ravel()
    x = probit(models["in_distribution"])
    ticks = np.array([0.3, 0.5, 0.7, 0.8, 0.9, 0.95, 0.99])
    for ax, (_, fit) in zip(axes, fits.iterrows()):
        ax.scatter(x, probit(models[fit["shift"]]), s=10, alpha=0.7)
        grid = np.linspace(x.min(), x.max(), 20)
        ax.plot(grid, fit["intercept"] + fit["slope"] * grid, color="C3")
        ax.plot(grid, grid, color="k", linestyle="--", linewidth=0.8)
        ax.set_xticks(stats.norm.ppf(ticks), [f"{t:g}" for t in ticks], fontsize=6)
        ax.set_yticks(stats.norm.ppf(ticks), [f"{t:g}" for t in ticks], fontsize=6)
        ax.set_title(f"{fit['shift']}: R² {fit['R²']:.2f}", fontsize=8)
        ax.set_xlabel("ID accuracy", fontsize=7)
        ax.set_ylabel("shifted accuracy", fontsize=7)
        ax.grid(alpha=0.3)
    for ax in axes[len(shifts):]:
        ax.set_visible(False)
    return fig
