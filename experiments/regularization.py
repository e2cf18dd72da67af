"""Regularization: what each classic regularizer buys an overfitting MLP, on clean and shifted test sets.

Claims. (R1) Explicit and implicit regularizers — L2 and L1 penalties, dropout, label
smoothing, input noise, weight noise, data augmentation, early stopping, batch norm —
raise the test accuracy of a network that memorizes its training set (Goodfellow, Bengio
& Courville 2016, Deep Learning, ch. 7). (R2) L1 gives sparse weights, L2 only small ones
(ibid. 7.1.2). (R3) Dropout's weight-scaling inference rule is a good approximation of
Monte-Carlo averaging over dropout masks (Srivastava et al. 2014, JMLR 15, section 7.5).
(R4) Early stopping — keep the parameters of the best validation score and restore them
— is a regularizer (Prechelt 1998, "Early stopping — but when?"; Goodfellow et al. 7.8).
Also measured: whether a regularizer's in-distribution gain carries to shifted test sets.

    jaxdl sweep experiments/regularization.py           # 11 configurations x 5 seeds, ~10 min
    jaxdl sweep experiments/regularization.py --quick   # 5 configurations x 2 seeds, 1500 steps, ~1 min

Setting, and why there. The MNIST-1D MLP (width 100, depth 2, ReLU; 15,210 params) on the
published 4000 training examples, Adam at lr 1e-3, batch 100, 6000 steps (150 epochs):
without regularization the net memorizes its training set (train accuracy 0.988 at step
3000, 1.000 at 6000, mean of the 5 seeds) and its validation loss doubles after its
minimum (1.076 ± 0.025 at step 1000, 2.151 ± 0.123 at step 6000), while validation
accuracy stalls at 0.61 from step 2000 — the regime where regularization matters. The
loader's 1000 held-out examples (`test` in the run's logs) are the *validation* split:
strengths and early stopping's step are chosen on it. Test accuracy is measured on 2000
fresh examples of the generator (another seed), and on the five shifted test sets of
experiments/accuracy_on_the_line.py (shear x2, correlated noise x2, scale x2.5, iid noise
x5, translation range /6), also fresh.

Regularizers (each alone, on top of "none"), the strength picked from 3-4 per regularizer
by the final validation accuracy of one seed (100, not a study seed;
experiments/regularization_tuning.py, 26 runs, 3 min 10 s; its report is in
docs/studies/regularization/tuning.md): L2 1e-2 (objective.l2, the coefficient of 0.5 sum w^2),
L1 1e-4 (objective.l1, of sum |w|), dropout 0.1 after each hidden layer (model.dropout), label
smoothing 0.1 (its best, still below none), Gaussian input noise of std 0.3 per training
example and step (objective.input_noise; the training inputs have std 0.998), Gaussian weight noise of std 0.1
on the weight matrices in every training forward pass (objective.weight_noise), data augmentation
(config.augment `mnist1d` views, mild: shift <= 5, crop >= 90%, amplitude +-10%, slope
<= 0.2, offset <= 0.05, noise 0.05; the SSL studies' strong preset underfits, seed-100
validation 0.539, shift only 0.705, mild 0.722), batch norm (model.batch_norm: Dense -> BN
-> ReLU). Two more: dropout 0.5, Srivastava et al.'s hidden-unit rate, and "L1 strong" (1e-3),
whose train accuracy (0.724) matches L2 1e-2's (0.712), to compare sparsity at matched
cost. Dropout at test time: the deterministic net (weight scaling) and MC averaging over
T = 1..100 masks (probes/mc_dropout.py). Early stopping is not a separate training run:
every trial checkpoints at each of its 24 evaluations and `measure` restores the step of
the best validation accuracy (Prechelt's "train, then go back to the best", unbounded
patience), and, as a second criterion, of the lowest validation loss — so it is measured
on top of every regularizer.

Published results it checks: Srivastava et al. 2014, MNIST (fully connected ReLU nets):
test error 1.60% (standard net) -> 1.25% (dropout), and weight scaling within a standard
deviation of MC averaging from about T = 50 samples on (their Fig. 11).
Szegedy et al. 2016 (Inception-v3, ImageNet): label smoothing (0.1) improved top-1 and
top-5 error by about 0.2% absolute. Bishop 1995 (Neural Computation 7): training with small
input noise is equivalent to Tikhonov regularization (a theorem). Prechelt 1998: slower
stopping criteria gain about 4% lower generalization error for about 4x the training time.
Ioffe & Szegedy 2015: batch norm regularizes, in some cases removing the need for dropout.

Measured (the full sweep: 55 trials = 11 configurations x 5 seeds, 9 min 42 s wall on 2
CPU cores shared with other jobs, plus 43 s to re-measure after adding the loss criterion;
--quick: 10 trials, 43-59 s; report in docs/studies/regularization/report.md; mean ± 95% CI
over seeds, Δ paired by seed, "resolved" when the paired interval excludes 0).
R1, clean test accuracy (none 0.611 ± 0.008): augmentation +0.121 ± 0.007, input noise
+0.060 ± 0.009, dropout 0.1 +0.058 ± 0.013, weight noise +0.044 ± 0.014, batch norm +0.037 ±
0.014, dropout 0.5 +0.011 ± 0.007 — confirmed for these; L2 +0.013 ± 0.016, L1 +0.007 ±
0.007, L1 strong -0.004 ± 0.009 — not resolved; label smoothing -0.023 ± 0.013 — refuted
here (at its best of 0.05/0.1/0.2 it hurts, Szegedy et al.'s +0.2% on ImageNet does not
transfer). The gains carry to the shifted test sets (mean of 5; none 0.488 ± 0.006):
augmentation +0.077 ± 0.005, weight noise +0.056 ± 0.015, dropout +0.050 ± 0.011, input
noise +0.048 ± 0.007, batch norm +0.016 ± 0.006, dropout 0.5 +0.012 ± 0.003, L2 +0.009 ±
0.009; label smoothing -0.021 ± 0.009. Per shift (means), L2 raises correlated-noise
accuracy (0.358 vs 0.305) and lowers shear and scale accuracy (0.507 vs 0.534, 0.527 vs 0.551).
R2 confirmed at matched cost: Hoyer sparsity L1 strong 0.770 ± 0.001 vs L2 0.323 ± 0.012
(none 0.229 ± 0.001), fraction |w| < 1e-2 0.878 vs 0.196; at the accuracy-tuned L1 (1e-4,
a much weaker penalty) only 0.343 ± 0.004 / 0.228.
R3 confirmed: MC averaging rises with T toward weight scaling and meets it — dropout 0.1:
weight scaling 0.669 ± 0.008, MC T = 1 0.617 ± 0.014, T = 50 0.669 ± 0.009 (paired 0.000 ±
0.002); dropout 0.5: 0.622 ± 0.003, T = 1 0.527 ± 0.012, T = 100 0.617 ± 0.010 (paired
-0.005 ± 0.007); at no T is MC's mean above weight scaling's, where Srivastava et al.
found it slightly better (within a standard deviation) past T = 50. The two predictive
distributions still differ (mean total-variation distance 0.095 and 0.102): the accuracy
matches, the probabilities do not.
R4 refuted in this setting: restoring the best-validation-accuracy checkpoint changes clean
accuracy by -0.003 ± 0.005 for the unregularized net (nothing resolved for any regularizer),
and stopping at the lowest validation loss *costs* -0.033 ± 0.020 (also L1, input noise,
batch norm). The net overfits in loss (confidence), not in accuracy: its validation accuracy
plateaus rather than falls, so there is no accuracy to win back; Prechelt's ~4% gain
assumes a validation error that turns up.
"""
from __future__ import annotations

import os

import jax
import ml_collections
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from jaxdl import config as config_lib
from jaxdl.probes import mc_dropout, sparsity
from jaxdl.study import report, sweep

STEPS, EVAL_EVERY = 6000, 250
# The fresh test sets of experiments/accuracy_on_the_line.py: its unshifted one ("clean"
# here) and its five generator shifts, one definition for both studies.
aotl = sweep.load_module(os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                      "accuracy_on_the_line.py"))
SHIFTS = ("clean", *(name for name in aotl.SHIFTS if name != "in_distribution"))
MC_PASSES = (1, 2, 5, 10, 20, 50, 100)
# R3's margin: MC (T = 50) and weight scaling agree when the paired 95% CI of their
# accuracy difference lies within ±1 point — a tenth of dropout's gain here (set with the
# full run's numbers in view; Srivastava et al.: within a standard deviation of MC's).
MC_MARGIN = 0.01
NEAR_ZERO = 1e-2

VIEWS_OFF = {"augment.max_shift": 0, "augment.min_scale": 1.0, "augment.amplitude": 0.0,
             "augment.max_slope": 0.0, "augment.max_offset": 0.0, "augment.noise_std": 0.0}
SHIFT_ONLY = {**VIEWS_OFF, "augment.name": "mnist1d", "augment.max_shift": 10}
MILD_VIEWS = {"augment.name": "mnist1d", "augment.max_shift": 5, "augment.min_scale": 0.9,
              "augment.amplitude": 0.1, "augment.max_slope": 0.2, "augment.max_offset": 0.05,
              "augment.noise_std": 0.05}
SSL_VIEWS = {"augment.name": "mnist1d"}  # the SSL studies' preset (config.augment defaults)
REGULARIZERS = {  # name -> the config values it changes (strengths: regularization_tuning.py)
    "none": {},
    "L2": {"objective.l2": 1e-2},
    "L1": {"objective.l1": 1e-4},
    "L1 strong": {"objective.l1": 1e-3},  # the train accuracy of L2 1e-2: sparsity at matched cost
    "dropout": {"model.dropout": 0.1},
    "dropout 0.5": {"model.dropout": 0.5},  # Srivastava et al.'s hidden-unit rate
    "label smoothing": {"objective.label_smoothing": 0.1},
    "input noise": {"objective.input_noise": 0.3},
    "weight noise": {"objective.weight_noise": 0.1},
    "augmentation": MILD_VIEWS,
    "batch norm": {"model.batch_norm": True},
}


def fill(overrides: list[dict], keys: list[str] | None = None) -> sweep.Sweep:
    """One point per dict of config values, every point with the same `keys` (default: all
    the dicts' keys) at the base config's value where a dict leaves a key alone, so that
    trials of different regularizers share columns."""
    base = get_config()
    keys = keys or sorted({k for o in overrides for k in o})
    return [{k: o.get(k, _get(base, k)) for k in keys} for o in overrides]


def points(names) -> sweep.Sweep:
    """The points of the regularizers `names`, over the keys of all of them."""
    keys = sorted({k for r in REGULARIZERS.values() for k in r})
    return fill([REGULARIZERS[n] for n in names], keys)


def describe(values: dict) -> str:
    """'objective.l2=0.01'-style text of a candidate's values (augmentation: its options)."""
    if not values:
        return "none"
    return ", ".join(f"{k.split('.', 1)[1] if k.startswith('augment.') else k}={v}"
                     for k, v in values.items())


def _get(c: ml_collections.ConfigDict, key: str):
    for part in key.split("."):
        c = c[part]
    return c


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """The MNIST-1D MLP at lr 1e-3 for 6000 steps, evaluated and checkpointed every 250
    steps, every checkpoint kept (early stopping restores the best)."""
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.optimizer.lr = 1e-3
    c.steps, c.eval_every, c.checkpoint_every = STEPS, EVAL_EVERY, EVAL_EVERY
    c.keep_checkpoints = STEPS // EVAL_EVERY + 1
    return c


SWEEP = points(REGULARIZERS)
SEEDS = range(5)
METRICS = ("measure/clean", "measure/shifted_mean", "measure/early_stopped_clean",
           "train/accuracy")
QUICK = {"overrides": {"steps": 1500, "checkpoint_every": EVAL_EVERY, "keep_checkpoints": 7},
         "seeds": range(2),
         "sweep": points(["none", "L1", "L2", "dropout 0.5", "input noise"])}
PUBLISHED = {
    "MNIST test error, standard / dropout (Srivastava et al. 2014)": "1.60% / 1.25%",
    "weight scaling vs MC averaging (Srivastava et al. 2014, Fig. 11)":
        "MC matches weight scaling from ~50 samples",
    "label smoothing 0.1, ImageNet top-1 (Szegedy et al. 2016)": "~0.2% absolute better",
    "early stopping, slower criteria (Prechelt 1998)": "~4% lower error for ~4x the time",
    "input noise = Tikhonov regularization (Bishop 1995)": "equivalent for small noise (theorem)",
}


# ---------------------------------------------------------------- measurements


def test_set(shift: str) -> tuple[np.ndarray, np.ndarray]:
    """aotl.TEST_SIZE fresh examples of the generator under `shift` ('clean': unshifted)."""
    return aotl.shifted_test_set("in_distribution" if shift == "clean" else shift)


def test_accuracies(ctx, state=None) -> dict[str, float]:
    """Accuracy on the clean and every shifted fresh test set, and the shifted mean."""
    out = {}
    for shift in SHIFTS:
        x, y = test_set(shift)
        out[shift] = float(np.mean(np.argmax(np.asarray(ctx.apply(x, state)), -1) == y))
    out["shifted_mean"] = float(np.mean([out[s] for s in SHIFTS if s != "clean"]))
    return out


def early_stopping(ctx) -> dict[str, float]:
    """Restore the checkpoint of the best validation accuracy (the earliest on ties) and
    measure it; `early_stopped_validation` re-evaluates it, so it must equal the logged
    best. `loss_stopped_*`: the same with the lowest validation loss as the criterion."""
    accuracy, loss = ctx.history("test/accuracy"), ctx.history("test/loss")  # validation
    best = max(accuracy.items(), key=lambda sv: (sv[1], -sv[0]))[0]
    state = ctx.at_step(best)
    out = {f"early_stopped_{k}": v for k, v in test_accuracies(ctx, state).items()}
    out["early_stopped_step"] = float(best)
    out["early_stopped_validation"] = ctx.evaluate(state)["test"]["accuracy"]
    lowest = min(loss.items(), key=lambda sv: (sv[1], sv[0]))[0]
    stopped = test_accuracies(ctx, ctx.at_step(lowest))
    out.update({"loss_stopped_clean": stopped["clean"],
                "loss_stopped_shifted_mean": stopped["shifted_mean"],
                "loss_stopped_step": float(lowest), "min_validation_loss": loss[lowest],
                "final_validation_loss": loss[max(loss)]})
    return out


def dropout_inference(ctx) -> dict[str, float]:
    """Clean test accuracy of weight scaling (the deterministic net) and of MC averaging
    over the first T of MC_PASSES[-1] dropout passes, and the mean total-variation
    distance between the MC (T = 100) and weight-scaled predictive distributions."""
    x, y = test_set("clean")
    model, params = ctx.run.model, ctx.state.params
    ws = mc_dropout.weight_scaled_probabilities(model, params, x)
    mc = mc_dropout.mc_probabilities(model, params, x, jax.random.fold_in(ctx.key, 0),
                                     MC_PASSES[-1])
    out = {"weight_scaled": mc_dropout.accuracy_of(ws, y)}
    out.update({f"mc_{t}": a for t, a in mc_dropout.mc_accuracy_curve(mc, y, MC_PASSES).items()})
    out["mc_tv_distance"] = float(0.5 * np.mean(np.sum(np.abs(np.asarray(mc.mean(0) - ws)), -1)))
    return out


def measure(ctx) -> dict[str, float]:
    w = sparsity.weights(ctx.state.params)
    out = {**test_accuracies(ctx), **early_stopping(ctx),
           "hoyer": sparsity.hoyer(w), "near_zero": sparsity.fraction_near_zero(w, NEAR_ZERO)}
    if ctx.config.model.get("dropout", 0.0) > 0:
        out.update(dropout_inference(ctx))
    return out


# ---------------------------------------------------------------- analysis


def name_of(row: pd.Series) -> str:
    """The regularizer of a trial, from its axis values."""
    for name, point in zip(REGULARIZERS, points(REGULARIZERS)):
        if all(_same(row[k], v) for k, v in point.items()):
            return name
    return "?"


def _same(a, b) -> bool:
    if isinstance(b, (tuple, list)):
        return tuple(a) == tuple(b)
    return a == b if isinstance(b, (str, bool)) else bool(np.isclose(float(a), float(b)))


def frame(results: report.Results, metric: str) -> pd.DataFrame:
    """seed, regularizer, value of the final `metric` (regularizers in REGULARIZERS' order)."""
    df = results.final(metric)
    if df.empty:
        return pd.DataFrame(columns=["seed", "regularizer", "value"])
    df = df.assign(regularizer=df.apply(name_of, axis=1))
    order = {n: i for i, n in enumerate(REGULARIZERS)}
    df = df.sort_values(["regularizer", "seed"], key=lambda s: s.map(order) if s.name ==
                        "regularizer" else s, kind="stable")
    return df[["seed", "regularizer", "value"]].reset_index(drop=True)


def ci(values) -> str:
    return report.ci_text(*report.mean_ci(np.asarray(values, float)), digits=3)


def paired(a: pd.DataFrame, b: pd.DataFrame) -> tuple[float, float, float, int]:
    """mean, low, high, n of b - a paired by seed (frames of one regularizer each)."""
    d = (b.set_index("seed")["value"] - a.set_index("seed")["value"]).dropna()
    return (*report.mean_ci(d.to_numpy()), len(d))


def paired_text(effect) -> str:
    mean, low, high, n = effect
    return f"{report.ci_text(mean, low, high, digits=3)} (n = {n})" if n else "not run"


def resolved(effect) -> str:
    mean, low, high, n = effect
    if n < 2 or not np.isfinite(low):
        return "not resolved"
    return "gain" if low > 0 else "loss" if high < 0 else "not resolved"


def accuracy_table(results: report.Results) -> pd.DataFrame:
    """Per regularizer: train, clean test and mean shifted test accuracy, with the changes
    from 'none' paired by seed."""
    clean, shifted = frame(results, "measure/clean"), frame(results, "measure/shifted_mean")
    train = frame(results, "train/accuracy")
    rows = []
    for name in [n for n in REGULARIZERS if n in set(clean["regularizer"])]:
        c, s = clean[clean.regularizer == name], shifted[shifted.regularizer == name]
        d_clean = paired(clean[clean.regularizer == "none"], c)
        d_shift = paired(shifted[shifted.regularizer == "none"], s)
        base = name == "none"
        rows.append({"regularizer": name, "train accuracy": ci(train[train.regularizer == name]
                                                                ["value"]),
                     "clean test": ci(c["value"]),
                     "Δ clean vs none": "" if base else paired_text(d_clean),
                     "clean": "" if base else resolved(d_clean),
                     "shifted test (mean of 5)": ci(s["value"]),
                     "Δ shifted vs none": "" if base else paired_text(d_shift),
                     "shifted": "" if base else resolved(d_shift), "n": len(c)})
    return pd.DataFrame(rows)


def shift_table(results: report.Results) -> pd.DataFrame:
    """Per regularizer and shifted test set: mean ± CI accuracy."""
    rows = {}
    for shift in SHIFTS:
        df = frame(results, f"measure/{shift}")
        for name, g in df.groupby("regularizer", sort=False):
            rows.setdefault(name, {"regularizer": name})[shift.replace(".", "·")] = ci(g["value"])
    return pd.DataFrame(list(rows.values()))


def early_stopping_table(results: report.Results) -> pd.DataFrame:
    """Per regularizer: final vs restored clean accuracy, paired, for the two stopping
    criteria (best validation accuracy; lowest validation loss)."""
    rows = []
    final, fs = frame(results, "measure/clean"), frame(results, "measure/shifted_mean")
    for name in [n for n in REGULARIZERS if n in set(final["regularizer"])]:
        sel = lambda metric: (lambda df: df[df.regularizer == name])(frame(results, metric))
        row = {"regularizer": name, "final clean": ci(sel("measure/clean")["value"])}
        for prefix, label in (("early_stopped", "best val accuracy"),
                              ("loss_stopped", "lowest val loss")):
            d = paired(sel("measure/clean"), sel(f"measure/{prefix}_clean"))
            row.update({
                f"{label}: clean": ci(sel(f"measure/{prefix}_clean")["value"]),
                f"{label}: Δ clean": paired_text(d), f"{label}: verdict": resolved(d),
                f"{label}: Δ shifted": paired_text(paired(sel("measure/shifted_mean"),
                                                          sel(f"measure/{prefix}_shifted_mean"))),
                f"{label}: step per seed": " ".join(
                    str(int(v)) for v in sel(f"measure/{prefix}_step")["value"])})
        rows.append(row)
    return pd.DataFrame(rows)


def overfitting_table(results: report.Results) -> pd.DataFrame:
    """Per regularizer: the lowest validation loss, its step, and the final one — a rising
    validation loss after the minimum is the overfitting that regularizers act on. (Label
    smoothing's is the smoothed cross-entropy it trains on: its level is not comparable.)"""
    rows = []
    low, final = frame(results, "measure/min_validation_loss"), frame(
        results, "measure/final_validation_loss")
    step = frame(results, "measure/loss_stopped_step")
    for name in [n for n in REGULARIZERS if n in set(low["regularizer"])]:
        sel = lambda df: df[df.regularizer == name]
        rows.append({"regularizer": name, "lowest validation loss": ci(sel(low)["value"]),
                     "at step (median)": int(np.median(sel(step)["value"])),
                     "final validation loss": ci(sel(final)["value"]),
                     "final / lowest": round(float(sel(final)["value"].mean()
                                                   / sel(low)["value"].mean()), 2)})
    return pd.DataFrame(rows)


def sparsity_table(results: report.Results) -> pd.DataFrame:
    hoyer, zero = frame(results, "measure/hoyer"), frame(results, "measure/near_zero")
    rows = []
    for name in [n for n in REGULARIZERS if n in set(hoyer["regularizer"])]:
        rows.append({"regularizer": name,
                     "Hoyer sparsity": ci(hoyer[hoyer.regularizer == name]["value"]),
                     f"fraction |w| < {NEAR_ZERO:.0e}":
                         ci(zero[zero.regularizer == name]["value"])})
    return pd.DataFrame(rows)


def dropout_table(results: report.Results) -> pd.DataFrame:
    """Per dropout configuration: weight scaling vs MC averaging over T passes (accuracy,
    the paired difference) and the TV distance of their predictive distributions."""
    rows = []
    ws_all = frame(results, "measure/weight_scaled")
    for name in [n for n in REGULARIZERS if n in set(ws_all["regularizer"])]:
        sel = lambda df: df[df.regularizer == name]
        ws = sel(ws_all)
        rows.append({"regularizer": name, "inference": "weight scaling",
                     "clean test accuracy": ci(ws["value"]), "MC - weight scaling": ""})
        for t in MC_PASSES:
            mc = sel(frame(results, f"measure/mc_{t}"))
            rows.append({"regularizer": name, "inference": f"MC, T = {t}",
                         "clean test accuracy": ci(mc["value"]),
                         "MC - weight scaling": paired_text(paired(ws, mc))})
        tv = sel(frame(results, "measure/mc_tv_distance"))
        rows.append({"regularizer": name, "inference": f"TV(MC T = {MC_PASSES[-1]}, weight "
                     f"scaling), mean over examples", "clean test accuracy": ci(tv["value"]),
                     "MC - weight scaling": ""})
    return pd.DataFrame(rows)


def analyze(results: report.Results) -> report.Analysis:
    acc = accuracy_table(results)
    es = early_stopping_table(results)
    sp = sparsity_table(results)
    drop = dropout_table(results) if not frame(results, "measure/weight_scaled").empty else None
    overfit = overfitting_table(results)
    tables = {"Accuracy per regularizer (fresh test sets; Δ paired by seed)": acc,
              "Accuracy per shifted test set": shift_table(results),
              "Overfitting: validation loss, lowest and final (label smoothing: smoothed "
              "cross-entropy)": overfit,
              "Early stopping: the best-validation checkpoint restored": es,
              "Weight sparsity (all weight matrices)": sp}
    if drop is not None:
        tables["Dropout at test time: weight scaling vs Monte-Carlo averaging"] = drop
    said = outcomes(results, acc, es)
    return report.Analysis(tables=tables, plots=_plots(results),
                           verdict=verdict(acc, es, sp, drop, overfit),
                           published=_published(results, said),
                           # The published numbers are of MNIST and ImageNet: only the
                           # direction compares.
                           status=report.status_of(list(said.values())))


OUTCOME = {"gain": "confirmed", "loss": "refuted", "not resolved": "not resolved"}


def outcomes(results: report.Results, acc: pd.DataFrame, es: pd.DataFrame) -> dict[str, str]:
    """Each claim's outcome on paired 95% CIs: R1 per regularizer (clean test accuracy
    above none's: confirmed, below: refuted); R2 L1's Hoyer sparsity above L2's (L1 strong,
    at L2's train accuracy, where it ran); R3 per dropout rate, MC (T = 50) − weight
    scaling within ±MC_MARGIN (confirmed), outside it (refuted); R4 restoring the
    unregularized net's best checkpoint raises its clean accuracy, per stopping criterion."""
    out = {f"R1 {r['regularizer']}": OUTCOME[r["clean"]]
           for _, r in acc.iterrows() if r["regularizer"] != "none"}
    hoyer = frame(results, "measure/hoyer")
    l1 = "L1 strong" if "L1 strong" in set(hoyer["regularizer"]) else "L1"
    if {l1, "L2"} <= set(hoyer["regularizer"]):
        out["R2"] = OUTCOME[resolved(paired(hoyer[hoyer.regularizer == "L2"],
                                            hoyer[hoyer.regularizer == l1]))]
    ws, mc = frame(results, "measure/weight_scaled"), frame(results, "measure/mc_50")
    for name in [n for n in REGULARIZERS if n in set(ws["regularizer"])]:
        _, low, high, _ = paired(ws[ws.regularizer == name], mc[mc.regularizer == name])
        out[f"R3 {name}"] = ("confirmed" if -MC_MARGIN <= low and high <= MC_MARGIN else
                             "refuted" if low > MC_MARGIN or high < -MC_MARGIN else "not resolved")
    none = es[es["regularizer"] == "none"]
    for label in ("best val accuracy", "lowest val loss"):
        if len(none):
            out[f"R4 {label}"] = OUTCOME[none[f"{label}: verdict"].iloc[0]]
    return out


def verdict(acc: pd.DataFrame, es: pd.DataFrame, sp: pd.DataFrame,
            drop: pd.DataFrame | None, overfit: pd.DataFrame | None = None) -> str:
    gains = acc[acc["clean"] == "gain"]["regularizer"].tolist()
    losses = acc[acc["clean"] == "loss"]["regularizer"].tolist()
    shifted = acc[acc["shifted"] == "gain"]["regularizer"].tolist()
    es_gain = es[es["best val accuracy: verdict"] == "gain"]["regularizer"].tolist()
    es_loss = es[es["best val accuracy: verdict"] == "loss"]["regularizer"].tolist()
    by_loss = es[es["lowest val loss: verdict"] == "loss"]["regularizer"].tolist()
    parts = [f"**R1**: clean test accuracy rises (paired 95% CI above 0) with "
             f"{', '.join(gains) or 'none of them'}; falls with {', '.join(losses) or 'none'}; "
             f"the rest not resolved with these seeds. Mean shifted accuracy rises with "
             f"{', '.join(shifted) or 'none of them'}."]
    h = sp.set_index("regularizer")
    if {"L1", "L2"} <= set(h.index):
        strong = (f", L1 strong {h.loc['L1 strong', 'Hoyer sparsity']}"
                  if "L1 strong" in h.index else "")
        parts.append(f"**R2**: Hoyer sparsity L1 {h.loc['L1', 'Hoyer sparsity']}{strong} vs L2 "
                     f"{h.loc['L2', 'Hoyer sparsity']} (none {h.loc['none', 'Hoyer sparsity']}).")
    if drop is not None:
        for name, g in drop.groupby("regularizer", sort=False):
            last = g[g["inference"] == f"MC, T = {MC_PASSES[-1]}"].iloc[0]
            parts.append(f"**R3** ({name}): weight scaling {g.iloc[0]['clean test accuracy']} "
                         f"vs MC (T = {MC_PASSES[-1]}) {last['clean test accuracy']}, paired "
                         f"difference {last['MC - weight scaling']}.")
    over = overfit.set_index("regularizer") if overfit is not None else None
    if over is not None and "none" in over.index:
        parts.append(f"Without regularization the validation loss goes from "
                     f"{over.loc['none', 'lowest validation loss']} (step "
                     f"{over.loc['none', 'at step (median)']}) to "
                     f"{over.loc['none', 'final validation loss']} at the end.")
    parts.append(f"**R4**: restoring the best-validation checkpoint raises clean test accuracy "
                 f"(paired 95% CI above 0) for {', '.join(es_gain) or 'no regularizer'}, lowers "
                 f"it for {', '.join(es_loss) or 'no regularizer'}; stopping at the lowest "
                 f"validation loss instead lowers it for {', '.join(by_loss) or 'no regularizer'}.")
    return " ".join(parts)


def _published(results: report.Results, said: dict[str, str]) -> dict[str, tuple[str, str]]:
    clean = frame(results, "measure/clean")
    mean = lambda n: clean[clean.regularizer == n]["value"].mean()
    versus_none = lambda n: paired(clean[clean.regularizer == "none"],
                                   clean[clean.regularizer == n])
    out = {}
    if {"none", "dropout"} <= set(clean["regularizer"]):
        out["MNIST test error, standard / dropout (Srivastava et al. 2014)"] = (
            PUBLISHED["MNIST test error, standard / dropout (Srivastava et al. 2014)"],
            f"MNIST-1D test error {100 * (1 - mean('none')):.1f}% / "
            f"{100 * (1 - mean('dropout')):.1f}%; dropout - none: "
            f"{paired_text(versus_none('dropout'))} clean accuracy ({said['R1 dropout']})")
    ws, mc = frame(results, "measure/weight_scaled"), frame(results, "measure/mc_50")
    if not ws.empty and not mc.empty:
        out["weight scaling vs MC averaging (Srivastava et al. 2014, Fig. 11)"] = (
            PUBLISHED["weight scaling vs MC averaging (Srivastava et al. 2014, Fig. 11)"],
            "MC (T = 50) - weight scaling: " + "; ".join(
                f"{n} {paired_text(paired(ws[ws.regularizer == n], mc[mc.regularizer == n]))}"
                f" (within ±{MC_MARGIN:g}: {said[f'R3 {n}']})"
                for n in REGULARIZERS if n in set(ws["regularizer"])))
    es = frame(results, "measure/early_stopped_clean")
    by_loss = frame(results, "measure/loss_stopped_clean")
    if not es.empty and "none" in set(clean["regularizer"]):
        base = clean[clean.regularizer == "none"]
        out["early stopping, slower criteria (Prechelt 1998)"] = (
            PUBLISHED["early stopping, slower criteria (Prechelt 1998)"],
            f"unregularized MLP, restored - final clean accuracy: best validation accuracy "
            f"{paired_text(paired(base, es[es.regularizer == 'none']))} "
            f"({said['R4 best val accuracy']}), lowest validation loss "
            f"{paired_text(paired(base, by_loss[by_loss.regularizer == 'none']))} "
            f"({said['R4 lowest val loss']})")
    if {"none", "input noise"} <= set(clean["regularizer"]):
        out["input noise = Tikhonov regularization (Bishop 1995)"] = (
            PUBLISHED["input noise = Tikhonov regularization (Bishop 1995)"],
            f"input noise (std 0.3) - none: {paired_text(versus_none('input noise'))} "
            f"clean accuracy (a regularizer: {said['R1 input noise']})")
    if {"none", "label smoothing"} <= set(clean["regularizer"]):
        out["label smoothing 0.1, ImageNet top-1 (Szegedy et al. 2016)"] = (
            PUBLISHED["label smoothing 0.1, ImageNet top-1 (Szegedy et al. 2016)"],
            f"MNIST-1D: {paired_text(versus_none('label smoothing'))} accuracy "
            f"({said['R1 label smoothing']})")
    return out


def _plots(results: report.Results) -> dict[str, Figure]:
    plots = {"Clean and shifted test accuracy per regularizer": _accuracy_plot(results)}
    curves = _validation_curves(results)
    if curves is not None:
        plots["Validation accuracy and loss during training (mean over seeds)"] = curves
    if not frame(results, "measure/weight_scaled").empty:
        plots["Dropout: MC averaging over T passes vs weight scaling"] = _mc_plot(results)
    return plots


def _accuracy_plot(results: report.Results) -> Figure:
    names = [n for n in REGULARIZERS if n in set(frame(results, "measure/clean")["regularizer"])]
    fig = Figure(figsize=(max(6.0, 0.8 * len(names) + 2), 4.0), dpi=110, layout="constrained")
    ax = fig.subplots()
    for j, (metric, label) in enumerate([("measure/clean", "clean"),
                                         ("measure/shifted_mean", "shifted (mean of 5)"),
                                         ("measure/early_stopped_clean", "clean, early-stopped")]):
        df = frame(results, metric)
        for i, name in enumerate(names):
            v = df[df.regularizer == name]["value"].to_numpy(float)
            if not len(v):
                continue
            mean, low, high = report.mean_ci(v)
            x = i + (j - 1) * 0.27
            ax.errorbar(x, mean, yerr=[[mean - low], [high - mean]] if np.isfinite(low) else None,
                        fmt="o", color=f"C{j}", label=label if i == 0 else None, capsize=3)
            ax.scatter(np.full(len(v), x + 0.08), v, s=6, color=f"C{j}", alpha=0.4)
    ax.set_xticks(range(len(names)), names, rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("test accuracy")
    ax.grid(alpha=0.3, axis="y")
    ax.legend(fontsize=8)
    ax.set_title("MLP on MNIST-1D (4000 examples): mean ± 95% CI over seeds", fontsize=9)
    return fig


def _validation_curves(results: report.Results) -> Figure | None:
    rows = results.rows[results.rows.metric.isin(["test/accuracy", "test/loss"])]
    if rows.empty:
        return None
    rows = rows.assign(regularizer=rows.apply(name_of, axis=1))
    fig = Figure(figsize=(11.0, 4.0), dpi=110, layout="constrained")
    axes = fig.subplots(1, 2)
    names = [n for n in REGULARIZERS if n in set(rows["regularizer"])]
    for ax, metric, label in zip(axes, ["test/accuracy", "test/loss"],
                                 ["validation accuracy", "validation loss"]):
        for i, name in enumerate(names):
            g = rows[(rows.regularizer == name) & (rows.metric == metric)]
            g = g.groupby("step")["value"].mean()
            none = name == "none"
            ax.plot(g.index, g.to_numpy(), label=name, color="k" if none else f"C{i - 1}",
                    linewidth=2.2 if none else 1.0)
        ax.set_xlabel("step")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=7, ncol=2)
    return fig


def _mc_plot(results: report.Results) -> Figure:
    fig = Figure(figsize=(5.5, 3.8), dpi=110, layout="constrained")
    ax = fig.subplots()
    ws_all = frame(results, "measure/weight_scaled")
    for i, name in enumerate(n for n in REGULARIZERS if n in set(ws_all["regularizer"])):
        mcs = [frame(results, f"measure/mc_{t}") for t in MC_PASSES]
        stats = [report.mean_ci(mc[mc.regularizer == name]["value"].to_numpy(float))
                 for mc in mcs]
        means = np.array([s[0] for s in stats])
        errors = [means - [s[1] for s in stats], [s[2] for s in stats] - means]
        ax.errorbar(MC_PASSES, means, yerr=np.nan_to_num(errors), fmt="o-", capsize=3,
                    color=f"C{i}", label=f"{name}: MC over T passes")
        ws = report.mean_ci(ws_all[ws_all.regularizer == name]["value"].to_numpy(float))
        ax.axhline(ws[0], color=f"C{i}", linestyle="--", label=f"{name}: weight scaling")
        if np.isfinite(ws[1]):
            ax.axhspan(ws[1], ws[2], color=f"C{i}", alpha=0.12)
    ax.set_xscale("log")
    ax.set_xlabel("dropout passes T")
    ax.set_ylabel("clean test accuracy")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig
