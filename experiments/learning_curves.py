"""Learning curves: test error falls as a power of the training-set size ("more is better").

Claim (Hestness et al., "Deep Learning Scaling is Predictable, Empirically",
2017; Kaplan et al. 2020): with the model and training fixed, test error falls
with the number n of training examples as a power law, err(n) ≈ a·n^(−b), until
it reaches an irreducible floor; more data never hurts on average.

    jaxdl sweep experiments/learning_curves.py            # 2 models x 7 sizes x 5 seeds
    jaxdl sweep experiments/learning_curves.py --quick    # 2 models x 3 sizes x 2 seeds

Setting: the published MNIST-1D MLP and CNN recipes (Adam 1e-2, batch 100,
3000 steps), trained on n = 256 .. 16384 examples drawn from the MNIST-1D
generator (data.num_samples = n / 0.8), scored on 2000 fresh examples of the
generator (another seed), the same set for every n. Reported: error against n
on log–log axes with 95% CIs over seeds, the fitted exponent b per model, and
whether every doubling of n lowered the mean error.

Published result it checks: power-law learning curves; Hestness et al. report
generalization-error exponents from about 0.07 (word language models) to about
0.3 (ImageNet top-1 error, speech) and 0.5 (ImageNet top-5). On MNIST-1D the
exponent is our measurement.

Measured (70 trials, 422 s on 2 CPU cores shared with other jobs; report in
docs/studies/learning_curves/report.md): error falls at every doubling of n for
both models (confirmed). MLP: b = 0.311 ± 0.049, r = −0.991 — a clean power law,
from 0.697 at n = 256 to 0.33 at 16384. CNN: b = 0.79 ± 0.18, r = −0.981, but not a
straight line: error drops steeply from 0.67 (n = 256) to 0.062 (4096), then
flattens (0.036 at 16384) — the approach to a floor that a single power law misses.

Not yet here (issue #6, item 6): mixing shifted-source data into training.
"""
from __future__ import annotations

import ml_collections
import numpy as np
import pandas as pd

from jaxdl import config as config_lib
from jaxdl import data
from jaxdl.study import report, sweep

TEST_SEED = 20171
TEST_SIZE = 2000
TRAIN_SIZES = (256, 512, 1024, 2048, 4096, 8192, 16384)  # / 0.8: multiples of 10, as the generator needs
MODELS = sweep.concat(
    sweep.grid({"model.name": ["mlp"], "model.residual": [True]}),
    sweep.grid({"model.name": ["cnn1d"]}))

SWEEP = sweep.product(MODELS, sweep.axis("data.num_samples", [n * 10 // 8 for n in TRAIN_SIZES]))
SEEDS = range(5)
METRICS = ("measure/error",)
PUBLISHED = {"learning-curve exponent b, err ~ n^-b (Hestness et al. 2017)": "≈0.07–0.5 (other domains)"}
QUICK = {"overrides": {"steps": 600, "eval_every": 300, "checkpoint_every": 600},
         "seeds": range(2),
         "sweep": sweep.product(MODELS, sweep.axis("data.num_samples", [320, 1280, 5120]))}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    c = config_lib.default()
    c.steps, c.eval_every, c.checkpoint_every = 3000, 1000, 3000
    return c


def measure(ctx) -> dict[str, float]:
    """Error on the fixed fresh test set, and the training-set size."""
    ds = data.load("mnist1d", num_samples=TEST_SIZE, train_split=0.0, seed=TEST_SEED)
    wrong = np.argmax(np.asarray(ctx.apply(ds.x_test)), -1) != ds.y_test
    return {"error": float(wrong.mean()), "train_size": float(len(ctx.run.dataset.x_train))}


def power_law(n: np.ndarray, err: np.ndarray) -> dict[str, float]:
    """Least squares of log err on log n: err ≈ a n^(−b); returns a, b, r and the
    half-width of b's 95% interval (Student t, len(n) − 2 degrees of freedom)."""
    from scipy import stats
    fit = stats.linregress(np.log(n), np.log(err))
    half = float(stats.t.ppf(0.975, len(n) - 2) * fit.stderr) if len(n) > 2 else float("nan")
    return {"a": float(np.exp(fit.intercept)), "b": float(-fit.slope), "r": float(fit.rvalue),
            "b_ci": half}


def analyze(results: report.Results) -> report.Analysis:
    errors = results.final("measure/error")
    sizes = results.final("measure/train_size")[["trial", "value"]].rename(columns={"value": "train_size"})
    df = errors.merge(sizes, on="trial")
    summary = report.summarize(df, ["model.name", "train_size"])
    rows, verdicts = [], []
    for name, g in summary.groupby("model.name"):
        fit = power_law(g["train_size"].to_numpy(float), g["mean"].to_numpy(float))
        monotone = bool(np.all(np.diff(g.sort_values("train_size")["mean"].to_numpy()) < 0))
        rows.append({"model": name, "a": fit["a"], "exponent b": fit["b"],
                     "b 95% CI": f"± {fit['b_ci']:.3f}", "r (log-log)": fit["r"],
                     "error falls at every doubling": monotone})
        verdicts.append(f"{name}: b = {fit['b']:.3f} ± {fit['b_ci']:.3f}, r = {fit['r']:.3f}, "
                        f"{'monotone' if monotone else 'not monotone'}")
    fits = pd.DataFrame(rows)
    plot = report.line_plot(summary, "train_size", hue=["model.name"], ylabel="test error (fresh set)",
                            title="learning curves: mean and 95% CI over seeds")
    plot.axes[0].set_yscale("log")
    all_monotone = bool(fits["error falls at every doubling"].all())
    verdict = (f"**More is better: {'confirmed' if all_monotone else 'refuted'}.** "
               + "; ".join(verdicts) + ". A power law fits when |r| is close to 1 "
               "(curvature at large n would show an error floor).")
    return report.Analysis(
        tables={"Power-law fits err ≈ a·n^(−b)": fits},
        plots={"test error against training-set size": plot},
        verdict=verdict,
        published={"learning-curve exponent b, err ~ n^-b (Hestness et al. 2017)": (
            PUBLISHED["learning-curve exponent b, err ~ n^-b (Hestness et al. 2017)"],
            "; ".join(f"{r['model']} b = {r['exponent b']:.3f}" for _, r in fits.iterrows()))})
