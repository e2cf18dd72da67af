"""Learning curves: test error falls as a power of the training-set size ("more is better").

Claim (Hestness et al., "Deep Learning Scaling is Predictable, Empirically",
2017; Kaplan et al. 2020): with the model and training fixed, test error falls
with the number n of training examples as a power law, err(n) ≈ a·n^(−b), until
it reaches an irreducible floor; more data never hurts on average.

    jaxdl sweep experiments/learning_curves.py            # 2 models x 7 sizes x 5 seeds + mixing
    jaxdl sweep experiments/learning_curves.py --quick    # 2 models x 3 sizes x 2 seeds + mixing

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

Measured (the curve's 70 trials, 422 s on 2 CPU cores shared with other jobs; rerun with
the mixing arm, 130 trials, 577 s of sweep = 11 min 8 s of wall time at nice 10 on 2
shared cores, the curve's numbers the same to every printed digit; report in
docs/studies/learning_curves/report.md): error falls at every doubling of n for
both models (confirmed). MLP: b = 0.311 ± 0.049, r = −0.991 — a clean power law,
from 0.697 at n = 256 to 0.33 at 16384. CNN: b = 0.79 ± 0.18, r = −0.981, but not a
straight line: error drops steeply from 0.67 (n = 256) to 0.062 (4096), then
flattens (0.036 at 16384) — the approach to a floor that a single power law misses.

Mixing shifted-source data into training (the second arm). Claim (De Silva, Ramesh,
Priebe, Chaudhari & Vogelstein, "The Value of Out-of-Distribution Data", ICML 2023):
adding out-of-distribution examples to a fixed target training set can help a little,
yet the target's test error can be non-monotonic in their number — a few help, many
hurt — while more in-distribution data always helps. Setting: the CNN on n = 1024
default signals (the curve's point) plus m = 250, 1000, 4000 or 16000 signals of a
shifted generator (`data.mix_samples`, `data.mix_shift`, seed `data.mix_seed`): shear
×2 or correlated noise ×2 (experiments/accuracy_on_the_line.py's shifts), or, as the
control, more default signals (an empty shift: the same distribution, another seed).
Scored on the fresh default test set and on a fresh test set of each shift (2000
each, seed 20171); every change is paired by seed with the n = 1024 trial (m = 0).
Published result it checks: the qualitative claim (MNIST, CIFAR-10, PACS, DomainNet;
no MNIST-1D number is published).

Measured (the 130-trial run above; test error, mean ± 95% CI over 5 seeds; m = 0: 0.365):
every added signal helps, from every source, on every test set, and more helps more —
no harm and no non-monotonicity, so De Silva et al.'s "many OOD samples hurt" is not
seen for these shifts (it is for the SSL probe at equal steps, not at equal epochs:
experiments/ssl_more_data.py). On the
default test set, at m = 250 / 1000 / 4000 / 16000: default data 0.294 / 0.170 / 0.053 /
0.036, shear ×2 data 0.301 / 0.193 / 0.069 / 0.046, corr. noise ×2 data 0.326 / 0.246 /
0.119 / 0.094 (at m = 250 the noise data's change, -0.038 ± 0.039, is not resolved; every
other change is, e.g. -0.271 ± 0.035 at 16000). A shifted signal is worth less than a
default one, the noisier source least; each source helps its own test set most
(corr. noise ×2 test error 0.664 -> 0.126 with 16000 noisy signals, -> 0.398 with 16000
default ones).
"""
from __future__ import annotations

import ml_collections
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from jaxdl import config as config_lib
from jaxdl import data
from jaxdl.study import fits, report, sweep

TEST_SEED = 20171
TEST_SIZE = 2000
TRAIN_SIZES = (256, 512, 1024, 2048, 4096, 8192, 16384)  # / 0.8: multiples of 10, as the generator needs
MODELS = sweep.concat(
    sweep.grid({"model.name": ["mlp"], "model.residual": [True]}),
    sweep.grid({"model.name": ["cnn1d"]}))

CURVE = sweep.product(MODELS, sweep.axis("data.num_samples", [n * 10 // 8 for n in TRAIN_SIZES]))

# The mixing arm: n = MIX_BASE default signals of the curve plus m from a source.
MIX_BASE = 1024
SOURCES = {"": "default", "shear_scale=1.5": "shear ×2", "corr_noise_scale=0.5": "corr. noise ×2"}
TEST_SHIFTS = {"shear ×2": {"shear_scale": 1.5}, "corr. noise ×2": {"corr_noise_scale": 0.5}}
MIX_SIZES = (250, 1000, 4000, 16000)  # multiples of 10, as the generator needs


def mixing(sizes: tuple[int, ...]) -> list[dict]:
    """Sweep points: the CNN on MIX_BASE default signals plus m of each source, m in `sizes`."""
    return sweep.product(sweep.grid({"model.name": ["cnn1d"],
                                     "data.num_samples": [MIX_BASE * 10 // 8]}),
                         sweep.grid({"data.mix_shift": list(SOURCES), "data.mix_samples": sizes}))


SWEEP = sweep.concat(CURVE, mixing(MIX_SIZES))  # the curve's trials keep their ids
SEEDS = range(5)
METRICS = ("measure/error", *(f"measure/error_{name}" for name in TEST_SHIFTS))
PUBLISHED = {"learning-curve exponent b, err ~ n^-b (Hestness et al. 2017)": "≈0.07–0.5 (other domains)",
             "adding OOD data to a target set (De Silva et al. 2023)":
             "can help a little; target error can be non-monotonic in the OOD amount"}
QUICK = {"overrides": {"steps": 600, "eval_every": 300, "checkpoint_every": 600},
         "seeds": range(2),
         "sweep": sweep.concat(sweep.product(MODELS, sweep.axis("data.num_samples", [320, 1280, 5120])),
                               mixing((4000,)))}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    c = config_lib.default()
    c.steps, c.eval_every, c.checkpoint_every = 3000, 1000, 3000
    return c


def measure(ctx) -> dict[str, float]:
    """Error on the fixed fresh test set and on a fresh test set of each shift, and the
    training-set size."""
    def error(**shift: float) -> float:
        ds = data.load("mnist1d", num_samples=TEST_SIZE, train_split=0.0, seed=TEST_SEED, **shift)
        return float(np.mean(np.argmax(np.asarray(ctx.apply(ds.x_test)), -1) != ds.y_test))
    return {"error": error(), **{f"error_{name}": error(**shift) for name, shift in TEST_SHIFTS.items()},
            "train_size": float(len(ctx.run.dataset.x_train))}


def unmixed(df: pd.DataFrame) -> pd.DataFrame:
    """The rows of the learning curve's trials (no mixture)."""
    return df[df["data.mix_samples"].isna()] if "data.mix_samples" in df else df


def mixed_errors(results: report.Results) -> pd.DataFrame:
    """The mixing arm, one row per (trial, test set): source, m, seed, test set, error, and
    the change against the m = 0 trial of the same seed (the curve's CNN at n = MIX_BASE)."""
    frames = []
    for test, metric in (("default", "measure/error"),
                         *((name, f"measure/error_{name}") for name in TEST_SHIFTS)):
        df = results.final(metric)
        df = df[(df["model.name"] == "cnn1d") & (df["data.num_samples"] == MIX_BASE * 10 // 8)]
        base = unmixed(df).set_index("seed")["value"]
        mix = df[df["data.mix_samples"].notna()]
        for source in SOURCES.values():  # m = 0: the same trials for every source
            frames.append(pd.DataFrame({"source": source, "m": 0, "seed": base.index.to_numpy(),
                                        "test set": test, "error": base.to_numpy(), "change": 0.0}))
        frames.append(pd.DataFrame({
                "source": mix["data.mix_shift"].map(SOURCES).to_numpy(),
                "m": mix["data.mix_samples"].astype(int).to_numpy(), "seed": mix["seed"].to_numpy(),
                "test set": test, "error": mix["value"].to_numpy(),
                "change": mix["value"].to_numpy() - base.reindex(mix["seed"]).to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def mixing_effects(df: pd.DataFrame) -> pd.DataFrame:
    """Per (source, test set, m): mean error and the paired change against m = 0 with 95%
    CIs, and whether the change helps (interval below 0), hurts (above) or neither."""
    rows = []
    for (source, test, m), g in df[df["m"] > 0].groupby(["source", "test set", "m"]):
        err, (mean, low, high) = report.mean_ci(g["error"]), report.mean_ci(g["change"].dropna())
        effect = "helps" if high < 0 else "hurts" if low > 0 else "no resolved change"
        rows.append({"source": source, "test set": test, "m": int(m),
                     "error": report.ci_text(*err, digits=3),
                     "change vs m = 0": report.ci_text(mean, low, high, digits=3),
                     "mean change": mean, "effect": effect, "n": len(g)})
    return pd.DataFrame(rows)


def mixing_verdict(effects: pd.DataFrame) -> str:
    """Per source and test set (the default one, and a shift's own): the paired change at
    each m, and the shape of the curve in m."""
    parts = []
    for source in SOURCES.values():
        tests = ("default", *TEST_SHIFTS) if source == "default" else ("default", source)
        for test in tests:
            e = effects[(effects["source"] == source) & (effects["test set"] == test)].sort_values("m")
            if not len(e):
                continue
            changes = ", ".join(f"m = {m}: {c} ({x})" for m, c, x in
                                zip(e["m"], e["change vs m = 0"], e["effect"]))
            parts.append(f"{source} data on the {test} test set: {changes}; {curve_shape(e)}")
    return "; ".join(parts) + "."


def curve_shape(e: pd.DataFrame) -> str:
    """'monotone' when every larger m lowers the mean error, else where it is lowest."""
    means = e.sort_values("m")["mean change"].to_numpy()
    if len(means) < 2:
        return "one m only"
    if np.all(np.diff(means) < 0):
        return "error falls with every larger m"
    best = int(e.sort_values("m")["m"].to_numpy()[int(np.argmin(means))])
    return f"not monotone in m (lowest mean error at m = {best})"


def mixing_plots(df: pd.DataFrame) -> dict[str, Figure]:
    """Error against the training-set size n + m, per source: on the default test set, and
    on each shift's own test set (with the control, more default data, for comparison)."""
    sized = df.assign(**{"n + m": MIX_BASE + df["m"]})
    summary = report.summarize(sized, ["source", "test set", "n + m"], value="error")
    plots = {}
    on_default = summary[summary["test set"] == "default"]
    plots["mixing: default test error against n + m"] = report.line_plot(
        on_default, "n + m", hue=["source"], ylabel="test error (fresh default set)",
        title=f"n = {MIX_BASE} default + m from a source: mean and 95% CI over seeds")
    own = (summary["source"] == "default") | (summary["source"] == summary["test set"])
    plots["mixing: shifted test error against n + m"] = report.line_plot(
        summary[own & (summary["test set"] != "default")], "n + m", hue=["source", "test set"],
        ylabel="test error (fresh shifted set)",
        title="on each shift's test set: its own data vs more default data")
    return plots


def analyze(results: report.Results) -> report.Analysis:
    errors = unmixed(results.final("measure/error"))
    sizes = results.final("measure/train_size")[["trial", "value"]].rename(columns={"value": "train_size"})
    df = errors.merge(sizes, on="trial")
    summary = report.summarize(df, ["model.name", "train_size"])
    rows, verdicts = [], []
    for name, g in summary.groupby("model.name"):
        fit = fits.power_law(g["train_size"].to_numpy(float), g["mean"].to_numpy(float))
        monotone = bool(np.all(np.diff(g.sort_values("train_size")["mean"].to_numpy()) < 0))
        rows.append({"model": name, "a": fit["a"], "exponent b": fit["b"],
                     "b 95% CI": f"± {fit['b_ci']:.3f}", "r (log-log)": fit["r"],
                     "error falls at every doubling": monotone})
        verdicts.append(f"{name}: b = {fit['b']:.3f} ± {fit['b_ci']:.3f}, r = {fit['r']:.3f}, "
                        f"{'monotone' if monotone else 'not monotone'}")
    fit_table = pd.DataFrame(rows)
    plot = report.line_plot(summary, "train_size", hue=["model.name"], ylabel="test error (fresh set)",
                            title="learning curves: mean and 95% CI over seeds")
    plot.axes[0].set_yscale("log")
    all_monotone = bool(fit_table["error falls at every doubling"].all())
    more_is_better = "confirmed" if all_monotone else "refuted"
    outcomes = [more_is_better]
    verdict = (f"**More is better: {more_is_better}.** "
               + "; ".join(verdicts) + ". A power law fits when |r| is close to 1 "
               "(curvature at large n would show an error floor).")
    tables = {"Power-law fits err ≈ a·n^(−b)": fit_table}
    plots = {"test error against training-set size": plot}
    published = {"learning-curve exponent b, err ~ n^-b (Hestness et al. 2017)": (
            PUBLISHED["learning-curve exponent b, err ~ n^-b (Hestness et al. 2017)"],
            "; ".join(f"{r['model']} b = {r['exponent b']:.3f} {r['b 95% CI']}"
                      for _, r in fit_table.iterrows()) + f" (error falls at every doubling of n: "
            f"{more_is_better})")}
    mixed = mixed_errors(results) if "data.mix_samples" in results.axes else None
    if mixed is not None and len(mixed):
        effects = mixing_effects(mixed)
        hurt = sorted({f"{s} (on the {t} test set)" for s, t, x in
                       zip(effects["source"], effects["test set"], effects["effect"]) if x == "hurts"})
        nonmonotone = sorted({f"{s} on {t}" for (s, t), e in effects.groupby(["source", "test set"])
                              if s != "default" and curve_shape(e).startswith("not")})
        verdict += (f"\n\n**Mixing in shifted data** (CNN, n = {MIX_BASE} default signals + m, "
                    "change in test error paired by seed against m = 0): " + mixing_verdict(effects)
                    + (f" Hurts somewhere: {', '.join(hurt)}." if hurt else
                       " Added data never hurts (no interval above 0)."))
        tables["Mixing: test error and paired change against m = 0 (mean ± 95% CI)"] = (
            effects.drop(columns="mean change"))
        plots.update(mixing_plots(mixed))
        key = "adding OOD data to a target set (De Silva et al. 2023)"
        helps, harms = ood_outcomes(effects)
        outcomes += [helps, harms]
        published[key] = (PUBLISHED[key], (f"hurts for {', '.join(hurt)}" if hurt else "never hurts")
                          + (f"; not monotone in m for {', '.join(nonmonotone)}" if nonmonotone
                             else "; monotone in m") + f" (many OOD samples hurt: {harms}); "
                          + ood_text(effects) + f" (OOD data helps: {helps})")
    # Hestness et al.'s exponents are of other domains; De Silva et al. publish no MNIST-1D
    # number: the claims are checked, no number matched.
    return report.Analysis(tables=tables, plots=plots, verdict=verdict, published=published,
                           status=report.status_of(outcomes))


def ood_outcomes(effects: pd.DataFrame) -> tuple[str, str]:
    """De Silva et al.'s two claims on the default (target) test set, from the shifted
    sources' paired changes: OOD data can help (confirmed when some change's interval lies
    below 0) and many OOD samples can hurt (confirmed when some change's interval lies
    above 0). Both say "can": where it is not seen they are not resolved, not refuted."""
    shifted = effects[(effects["source"] != "default") & (effects["test set"] == "default")]
    helps = "confirmed" if (shifted["effect"] == "helps").any() else "not resolved"
    return helps, "confirmed" if (shifted["effect"] == "hurts").any() else "not resolved"


def ood_text(effects: pd.DataFrame) -> str:
    """Each shifted source's change of the default test error at its largest m."""
    shifted = effects[(effects["source"] != "default") & (effects["test set"] == "default")]
    last = shifted.loc[shifted.groupby("source", sort=False)["m"].idxmax()]
    return "default test error, paired by seed: " + "; ".join(
        f"{r['source']} m = {r['m']}: {r['change vs m = 0']}" for _, r in last.iterrows())
