"""Self-supervised pretraining + a linear probe against supervised training, at 1%, 10% and 100% of the labels.

Claim (Barak's "the magic is in self-supervised representations", and the SSL
cookbook, Balestriero, LeCun et al. 2023): a representation learned without labels,
read out by a linear model fitted on a few labels, beats a network trained end to
end on those few labels; with all labels supervised training catches up or wins.

    jaxdl sweep experiments/ssl_vs_supervised.py           # 7 points x 5 seeds
    jaxdl sweep experiments/ssl_vs_supervised.py --quick   # 7 points x 2 seeds, 1000 steps

Setting: MNIST-1D, the published CNN. SSL: SimCLR on the `mnist1d` views (as in
experiments/ssl_methods.py), 4000 steps on the 4000 training signals, labels
unused; then, per label fraction f, a linear probe (early-stopped softmax
regression, jaxdl/probes/linear_probe.py, on a random 10% of its signals) on the
representation of the first f·4000 training signals. Supervised, three arms, each the
published recipe (Adam 1e-2, 6000 steps; batch 40 or 36 at 1%): "supervised" trains on
the f·4000 labelled signals as they are (the first sweep's only arm); "supervised +
views" sees one `mnist1d` view of each signal per step (config.augment on the supervised
objective: SimCLR's own augmentation) and trains on 90% of the labelled signals;
"supervised + views, early-stopped" is that run restored at its checkpoint (every 250
steps) of the best accuracy on the other 10% (ties: the lower cross-entropy — the
probe's rule and share). All scored on 2000 fresh signals of the generator (another
seed), the same set for every arm.

Verdict (`interval_outcome`, on differences paired by seed, against the strongest
supervised arm at each fraction: the highest mean test accuracy of the three, a choice
that can only favour supervised): few labels — refuted if the 95% interval of SSL −
supervised at 1% labels lies below 0, confirmed above 0, not resolved when it straddles 0;
all labels — supervised catches up when SSL's advantage shrinks from 1% to 100% labels
(the interval of the change below 0; refuted above 0).

Published result it checks: the qualitative claim; SimCLR reports on ImageNet that
a linear classifier on its representation with 1% of the labels beats a
supervised ResNet-50 trained on those 1% (Chen et al. 2020, Table 7: fine-tuned
48.3% vs 25.4% top-1) — different data and scale; the MNIST-1D numbers are ours.

Measured, --quick (2 seeds, 1000 steps for every arm; `jaxdl sweep
experiments/ssl_vs_supervised.py --quick`, 14 trials, 94 s of wall time at nice 10 on 2
busy CPU cores, an Intel Xeon): test accuracy SSL + probe / supervised / + views / + views,
early-stopped — 1% labels 0.269 / 0.205 / 0.495 / 0.422, 10% 0.538 / 0.379 / 0.798 /
0.777, 100% 0.695 / 0.899 / 0.838 / 0.838.

Full sweep (5 seeds, SSL 4000 / supervised 6000 steps; the first sweep's 20 trials, 184 s,
resumed in /work/full-ssl_vs_supervised-2 with the 15 trials of the two new arms, 124 s of
sweep, 132 s of wall time at nice 10 on the 2 shared cores; report in
docs/studies/ssl_vs_supervised/report.md), test accuracy SSL + probe / supervised / +
views / + views, early-stopped: 1% 0.270 ± 0.025 / 0.190 ± 0.017 / 0.546 ± 0.028 / 0.532 ±
0.019; 10% 0.577 ± 0.042 / 0.373 ± 0.023 / 0.857 ± 0.012 / 0.857 ± 0.019; 100% 0.746 ±
0.013 / 0.938 ± 0.005 / 0.892 ± 0.009 / 0.895 ± 0.012. Paired by seed against the
strongest supervised arm, SSL − supervised is -0.275 ± 0.047 at 1% (+ views), -0.280 ±
0.053 at 10% (+ views, early-stopped), -0.192 ± 0.015 at 100% (the plain arm): few labels,
refuted. Against the plain arm alone it was +0.080 ± 0.014 at 1% (the first sweep's
"confirmed"): that advantage came from the augmentation, which the supervised baseline
lacked — 36 labelled signals seen through SimCLR's views train a better classifier than a
linear probe on SimCLR's representation. Early stopping (the best of 24 checkpoints on 4,
40 or 400 held-out signals; steps 2000-6000) moves the mean by at most 0.014 on top of
the views. The catch-up rule says refuted (the change from 1% to 100%, +0.084 ± 0.056, is
above 0) only because SSL trails everywhere and the views cost supervised training 0.046
at 100%, where the plain arm is the strongest: with all labels supervised wins, as with few.
"""
from __future__ import annotations

import ml_collections
import numpy as np
import pandas as pd

from jaxdl import config as config_lib
from jaxdl import data
from jaxdl.probes import linear_probe
from jaxdl.study import report, sweep

FRACTIONS = (0.01, 0.1, 1.0)
TRAIN, SIGNALS = 4000, 5000  # the published split: the first 4000 of 5000 signals train
TEST_SEED, TEST_SIZE = 20232, 2000
CONFIRMED, REFUTED, NOT_RESOLVED = "confirmed", "refuted", "not resolved"
# The early-stopped arm holds out this share of its labelled signals: the linear probe's
# own validation share (linear_probe.fit_linear_probe's val_fraction), so both arms stop
# on the same number of labelled signals they do not fit.
HOLD_OUT = 0.1
EVERY = 250  # the early-stopped arm's checkpoint (and so validation) period, in steps
STEPS = 6000  # the published supervised recipe's (config.default)


def labelled(f: float) -> int:
    """The labelled signals at fraction f: the first f·4000 training signals."""
    return int(round(f * TRAIN))


def fitted(f: float) -> int:
    """Of those, the ones the early-stopped arm trains on (the rest validate)."""
    return labelled(f) - int(round(HOLD_OUT * labelled(f)))


SSL = {"objective.name": "simclr", "augment.name": "mnist1d", "steps": 4000}
SUPERVISED = [{"objective.name": "supervised", "data.train_split": 0.8 * f,
               "batch_size": min(100, int(round(f * TRAIN)))} for f in FRACTIONS]
# The fair arm: the same `mnist1d` views as SimCLR (one view per example, config.augment
# on the supervised objective) and early stopping on the held-out labelled signals, which
# the generator puts right after the fitted ones (the run's first "test" signals).
AUGMENTED = [{"objective.name": "supervised", "augment.name": "mnist1d",
              "data.train_split": fitted(f) / SIGNALS, "batch_size": min(100, fitted(f)),
              "checkpoint_every": EVERY, "keep_checkpoints": STEPS // EVERY + 1}
             for f in FRACTIONS]
SWEEP = [SSL, *SUPERVISED, *AUGMENTED]
SEEDS = range(5)
# Not measure/test_accuracy: three arms share it, told apart by train_split alone, and the
# report's default plot would join them into one zig-zag line; analyze() tables them.
METRICS = ("measure/early_stopped_accuracy",)
PUBLISHED = {"1% labels: SSL + linear beats supervised (Chen et al. 2020, ImageNet)":
             "yes (48.3% vs 25.4% top-1, SimCLR fine-tuned vs supervised)"}
QUICK = {"overrides": {"steps": 1000, "eval_every": 500, "checkpoint_every": 1000},
         "seeds": range(2),
         "sweep": [dict(SSL, steps=1000), *SUPERVISED, *AUGMENTED]}
PLAIN, VIEWS, STOPPED = ("supervised", "supervised + views",
                         "supervised + views, early-stopped")
ARMS = (PLAIN, VIEWS, STOPPED)


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    c = config_lib.default()  # the published supervised recipe: 6000 steps
    c.eval_every, c.checkpoint_every = 1000, 2000
    return c


def fresh_test_set() -> tuple[np.ndarray, np.ndarray]:
    ds = data.load("mnist1d", num_samples=TEST_SIZE, train_split=0.0, seed=TEST_SEED)
    return ds.x_test, ds.y_test


def measure(ctx) -> dict[str, float]:
    """Supervised: accuracy on the fresh set (and the augmented arm's early-stopped one).
    SSL: a linear probe per label fraction."""
    x_test, y_test = fresh_test_set()
    if ctx.config.objective.name == "supervised":
        out = {"test_accuracy": accuracy(ctx.apply(x_test), y_test)}
        if ctx.config.augment.name != "none":
            out.update(early_stopped(ctx, x_test, y_test))
        return out
    return probe_accuracies(ctx, FRACTIONS, x_test, y_test)


def probe_accuracies(ctx, fractions, x_test: np.ndarray, y_test: np.ndarray
                     ) -> dict[str, float]:
    """{probe_<f>pct: test accuracy} of a linear probe on the SSL trial's representation of
    the first f·TRAIN training signals, per label fraction f (experiments/semi_supervised.py
    probes its own fractions)."""
    ds = ctx.run.dataset
    features = lambda x: linear_probe.features_by_layer(
        ctx.run.model, ctx.state.params, ctx.state.model_state, x)["representation"]
    train, test = features(ds.x_train), features(x_test)
    out = {}
    for f in fractions:
        k = int(round(f * TRAIN))
        probe = linear_probe.fit_linear_probe(ctx.key, train[:k], ds.y_train[:k], test, y_test,
                                              ds.num_classes)
        out[f"probe_{_pct(f)}"] = probe.test_accuracy
    return out


def accuracy(logits, y: np.ndarray) -> float:
    return float(np.mean(np.argmax(np.asarray(logits), -1) == y))


def held_out(ctx) -> tuple[np.ndarray, np.ndarray]:
    """The labelled signals the augmented arm does not fit: those right after its training
    signals, HOLD_OUT of the labelled subset (fitted = (1 - HOLD_OUT) · labelled)."""
    ds = ctx.run.dataset
    n = int(round(len(ds.x_train) * HOLD_OUT / (1 - HOLD_OUT)))
    return ds.x_test[:n], ds.y_test[:n]


def best_step(scores: dict[int, tuple[float, float]]) -> int:
    """The step of the best validation (accuracy, then the lower cross-entropy: the linear
    probe's rule, which a handful of validation signals often ties on accuracy), the
    earliest on a full tie."""
    return max(scores, key=lambda s: (scores[s][0], -scores[s][1], -s))


def early_stopped(ctx, x_test: np.ndarray, y_test: np.ndarray) -> dict[str, float]:
    """Score every checkpoint on the held-out labelled signals, restore the best, and
    measure it on the fresh set (the early stopping of experiments/regularization.py, on
    a validation set carved from the labelled subset)."""
    x_val, y_val = held_out(ctx)
    every = ctx.config.checkpoint_every
    scores = {}
    for step in range(every, ctx.config.steps + 1, every):
        logits = np.asarray(ctx.apply(x_val, ctx.at_step(step)))
        logp = logits - np.logaddexp.reduce(logits, axis=-1, keepdims=True)
        scores[step] = (accuracy(logits, y_val), float(-logp[np.arange(len(y_val)), y_val].mean()))
    step = best_step(scores)
    return {"early_stopped_accuracy": accuracy(ctx.apply(x_test, ctx.at_step(step)), y_test),
            "early_stopped_step": float(step), "validation_signals": float(len(y_val))}


def _pct(f: float) -> str:
    return f"{f * 100:g}pct"


def interval_outcome(low: float, high: float) -> str:
    """A claim that an effect is positive, decided on its 95% interval: confirmed when the
    interval lies above 0, refuted when it lies below, not resolved when it straddles 0
    (or is undefined: fewer than 2 pairs)."""
    if low > 0:
        return CONFIRMED
    if high < 0:
        return REFUTED
    return NOT_RESOLVED


def supervised_arms(results: report.Results, f: float) -> dict[str, pd.DataFrame]:
    """Per supervised arm at label fraction f, its trials' (seed, value) on the fresh set;
    an arm without trials is left out. The arms differ in their training split."""
    def arm(metric: str, split: float) -> pd.DataFrame:
        df = results.final(metric)
        df = df[np.isclose(df["data.train_split"].astype(float), split)]
        return df[["seed", "value"]].reset_index(drop=True)

    arms = {PLAIN: arm("measure/test_accuracy", 0.8 * f),
            VIEWS: arm("measure/test_accuracy", fitted(f) / SIGNALS),
            STOPPED: arm("measure/early_stopped_accuracy", fitted(f) / SIGNALS)}
    return {name: df for name, df in arms.items() if len(df)}


def strongest(results: report.Results, f: float) -> str:
    """The supervised arm of the highest mean test accuracy at label fraction f: the claim
    is decided against it (choosing it on the test set favours supervised, never SSL)."""
    return max(supervised_arms(results, f).items(), key=lambda a: a[1]["value"].mean())[0]


def advantages(results: report.Results, arm: str | None = None) -> pd.DataFrame:
    """Per seed and label fraction: SSL + probe minus supervised test accuracy, paired by
    seed (seed s's SimCLR network against seed s's supervised one: both arms train on the
    same signals and are scored on the same fresh set, so the differences are independent
    across seeds), against `arm`, or the strongest supervised arm at each fraction."""
    parts = [paired(results, f, arm or strongest(results, f)) for f in FRACTIONS]
    return pd.concat(parts, ignore_index=True)[["fraction", "arm", "seed", "value"]]


def paired(results: report.Results, f: float, arm: str) -> pd.DataFrame:
    """SSL + probe minus supervised `arm` at label fraction f, per seed both have."""
    ssl = results.final(f"measure/probe_{_pct(f)}")[["seed", "value"]]
    pairs = ssl.merge(supervised_arms(results, f)[arm], on="seed", suffixes=("_ssl", "_sup"))
    return pd.DataFrame({"fraction": f, "arm": arm, "seed": pairs["seed"],
                         "value": pairs["value_ssl"] - pairs["value_sup"]})


def accuracy_table(results: report.Results) -> pd.DataFrame:
    """Test accuracy (mean, 95% CI, n) of SSL + probe and of every supervised arm, by
    label fraction."""
    rows = []
    for f in FRACTIONS:
        ssl = results.final(f"measure/probe_{_pct(f)}")
        for arm, df in (("SimCLR + linear probe", ssl), *supervised_arms(results, f).items()):
            mean, low, high = report.mean_ci(df["value"])
            rows.append({"labels": f"{f:.0%}", "fraction": f, "arm": arm, "mean": mean,
                         "low": low, "high": high, "n": len(df)})
    return pd.DataFrame(rows)


def verdicts(diff: pd.DataFrame) -> tuple[str, str, pd.DataFrame, tuple[float, float, float]]:
    """From SSL − supervised paired by seed (`advantages`): the few-labels outcome, the
    catch-up outcome, the per-fraction effects and the change of the advantage from the
    fewest to all labels (paired by seed)."""
    effect = report.summarize(diff[["fraction", "seed", "value"]], ["fraction"]).set_index("fraction")
    few, most = min(FRACTIONS), max(FRACTIONS)
    wide = diff.pivot(index="seed", columns="fraction", values="value")
    change = report.mean_ci((wide[most] - wide[few]).dropna())  # paired by seed
    few_outcome = interval_outcome(effect.loc[few, "low"], effect.loc[few, "high"])
    catch_up = interval_outcome(-change[2], -change[1])  # the advantage shrinks: change < 0
    return few_outcome, catch_up, effect, change


def analyze(results: report.Results) -> report.Analysis:
    table = accuracy_table(results)
    diff = advantages(results)
    few_outcome, catch_up, effect, change = verdicts(diff)
    few, most = min(FRACTIONS), max(FRACTIONS)
    arm_at = diff.groupby("fraction")["arm"].first()
    ci = lambda m, lo, hi: report.ci_text(m, lo, hi, 3)
    verdict = (
        f"**Few labels, SSL + probe beats supervised: {few_outcome}.** Refuted if the 95% "
        f"interval of SSL − supervised test accuracy with {few:.0%} of the labels "
        f"({labelled(few)} signals; paired by seed) lies below 0, confirmed when it lies "
        f"above 0, not resolved when it straddles 0 — against the strongest supervised arm "
        f"(the highest mean of: {', '.join(ARMS)}; the last two see SimCLR's `mnist1d` "
        f"views and the last stops early on {HOLD_OUT:.0%} of the labelled signals, as the "
        f"probe does). SSL − strongest supervised: "
        + "; ".join(f"{f:.0%} {ci(r['mean'], r['low'], r['high'])} against {arm_at[f]} "
                    f"(n = {int(r['n'])})" for f, r in effect.iterrows()) + ".\n\n"
        f"**With all labels supervised training catches up: {catch_up}.** Refuted if SSL's "
        f"advantage over the strongest supervised arm at {most:.0%} exceeds that at "
        f"{few:.0%} (the 95% interval of the change, paired by seed, above 0), confirmed when "
        f"it lies below 0, not resolved when it straddles 0. Change: {ci(*change)}."
        + (f" (SSL already trails at {few:.0%}: the change is how its deficit narrows, not "
           f"a lead that supervised training closes.)" if few_outcome == REFUTED else ""))
    fig = report.line_plot(table.rename(columns={"fraction": "label fraction"}), "label fraction",
                           hue=["arm"], ylabel="test accuracy (fresh set)",
                           title="SSL + linear probe vs supervised, by label fraction")
    few_text = ci(effect.loc[few, "mean"], effect.loc[few, "low"], effect.loc[few, "high"])
    return report.Analysis(
        tables={"Test accuracy by label fraction (mean ± 95% CI)":
                report.with_ci_column(table.drop(columns=["fraction"]), "test accuracy"),
                "SSL − supervised, paired by seed, against each supervised arm (mean ± 95% CI)":
                report.with_ci_column(arm_effects(results), "SSL − supervised")},
        plots={"Test accuracy against label fraction": fig},
        verdict=verdict,
        published={"1% labels: SSL + linear beats supervised (Chen et al. 2020, ImageNet)": (
            PUBLISHED["1% labels: SSL + linear beats supervised (Chen et al. 2020, ImageNet)"],
            f"MNIST-1D, 1%: SSL − strongest supervised ({arm_at[few]}) {few_text} "
            f"({few_outcome})")},
        # Chen et al.'s numbers are of ImageNet: only the direction compares.
        status=report.status_of([few_outcome, catch_up]))


def arm_effects(results: report.Results) -> pd.DataFrame:
    """SSL − supervised paired by seed, per label fraction and supervised arm; `strongest`
    marks the arm the verdict uses."""
    rows = []
    for f in FRACTIONS:
        best = strongest(results, f)
        for arm in supervised_arms(results, f):
            values = paired(results, f, arm)["value"]
            mean, low, high = report.mean_ci(values)
            rows.append({"labels": f"{f:.0%}", "arm": arm, "strongest": arm == best,
                         "mean": mean, "low": low, "high": high, "n": len(values)})
    return pd.DataFrame(rows)


