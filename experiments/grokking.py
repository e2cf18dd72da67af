"""Grokking: on modular addition the validation accuracy jumps long after the training
accuracy has reached 100%, and weight decay controls when.

Claims (Power, Burda, Edwards, Babuschkin & Misra, "Grokking: Generalization Beyond
Overfitting on Small Algorithmic Datasets", arXiv 2201.02177, 2022): (1) trained on part
of a modular-arithmetic table, a network first fits its training pairs — training
accuracy 100% while the held-out pairs are still at chance — and only much later
generalizes, its validation accuracy rising to near 100%; (2) weight decay controls that
delay: it is the intervention that most speeds generalization (§3.3, Fig. 2), the more
decay the sooner, and without it the validation accuracy stays low long after training
is done.

    jaxdl sweep experiments/grokking.py                            # 5 weight decays x 5 seeds
    jaxdl sweep experiments/grokking.py --quick --vectorize yes    # 3 x 3 seeds

Setting. The data source `modular` (jaxdl/data/modular.py): every pair (a, b) of
[0, P)², P = 59, labelled (a + b) mod P, the input the two one-hot codes side by side
(118 wide); a random half of the 3481 pairs (1740, drawn by the source's seed 0, the
same for every trial) is the training set and the other 1741 the validation set (the
source's test set). P = 59, not Power et al.'s 97: with half of the 97² table a step
costs 2.7x as much, and the CPU budget of the study (25 trials) would not hold it.
Network: a ReLU MLP 118-64-64-59 (15,611 parameters), full-batch AdamW (every step sees
all 1740 training pairs; decoupled weight decay on the weight matrices, not the biases —
jaxdl/optim.py), lr 2e-2 constant, β = (0.9, 0.999), STEPS = 2500 steps; the train and
validation accuracy every EVAL_EVERY = 10 steps. The sweep's axis is the weight decay
λ ∈ {0, 0.5, 0.75, 1, 1.5} (λ = 1 is Power et al.'s); the seeds (5) vary the init.
Why lr 2e-2 rather than the paper's 1e-3: AdamW shrinks the weights by lr·λ per step,
and the time to generalize falls about as 1/λ here (the slope below); if it scales with
1/(lr·λ) — an extrapolation, not measured — lr 1e-3 would need ~20x the steps, past the
CPU budget. The sweep stops at λ = 1.5 because the delay shrinks towards the time of
the fit itself as λ grows (λ = 2, seed 0: train 1.0 at step 140, validation 0.95 at 280,
`jaxdl train --config experiments/grokking.py --config.optimizer.weight_decay=2
--config.steps=1000`). Full batch, not the paper's 512: with batches of 512 the training
accuracy reaches 100% of the whole training set only late and noisily, which blurs the
time of the fit. (These choices came from short exploratory runs; every number below is
the study's own.)

Measurement (`measure`, from the trial's logged evaluations): the steps to fit, the first
evaluated step with training accuracy FIT = 1.0; the steps to generalize, the first with
validation accuracy at least BAR = 0.95 (also at 0.99, reported, not used by a verdict);
the validation accuracy at the fit; the final accuracies; the curves. A trial that does
not get there within the budget has NaN for that time.

The verdicts, decided by code (`verdicts`), stated before the numbers. "CI" is the 95%
Student-t interval of the mean over seeds; "positive arms" are the λ > 0.
1. Generalization long after the fit: confirmed if every trial of every positive arm
   reaches both FIT and BAR within the budget; at every positive arm the delay (steps to
   generalize − steps to fit, within each trial) has its CI above 0 and the validation
   accuracy at the fit its CI below LOW = 0.5 (the training set is fitted before the net
   generalizes, not along with it); and at the smallest positive λ, where the delay is
   longest, the ratio (steps to generalize / steps to fit, geometric mean over seeds) has
   its CI above MULTIPLE = 3: the net spends at least twice as long again at 100%
   training accuracy without generalizing as it took to get there (a slow but steady
   learner's validation accuracy would track its training accuracy instead). Refuted if
   at some positive arm the delay's CI lies at or below 0 (the bar is met no later than
   the fit) or the validation accuracy at the fit has its CI above LOW; otherwise not
   resolved (e.g. some trial does not reach the bar within the budget).
2. Weight decay controls when: confirmed if (a) the per-seed Spearman ρ(λ, steps to
   generalize) over the positive arms has its CI below 0 (a trial that does not
   generalize within the budget ranks after all that do), (b) the steps to generalize
   at the smallest minus at the largest positive λ, paired by seed, have their CI above
   0, and (c) at λ = 0 every trial reaches FIT but none reaches BAR within the budget in
   which every trial with weight decay does. Refuted if ρ's CI lies above 0, or (b)'s CI
   below 0, or at λ = 0 every trial reaches the bar and no later than at the smallest
   positive λ (paired CI at or below 0); otherwise not resolved.
What would refute Power et al. here: a validation accuracy that rises with the training
accuracy (no delay); a delay that does not shrink, or grows, with weight decay; nets
without weight decay that generalize as soon as those with it.

Published results it checks: Power et al. 2022, Fig. 1 (x/y mod 97, 50% of the table, a
2-layer transformer, AdamW lr 1e-3, λ = 1): training accuracy ~100% by ~10³ steps,
validation accuracy ~100% only by ~10⁵ — a delay of about 100x; §3.3 and Fig. 2: of the
interventions tried, weight decay most reduces the data (and the optimization) needed to
generalize. Liu, Michaud & Tegmark, "Omnigrok: Grokking Beyond Algorithmic Data" (ICLR
2023): MLPs grok too, and weight decay (which drives the weight norm down towards the
"Goldilocks zone") speeds it up.

Measured (the full sweep, `jaxdl sweep experiments/grokking.py --vectorize yes`: 25
trials = 5 weight decays x 5 seeds as one vectorized program, 777 s for the sweep, 812 s
wall with its report, on 2 CPU cores shared with other jobs; report in
docs/studies/grokking/report.md; mean ± 95% CI over seeds).
1. Confirmed. Every trial fits its 1740 training pairs in 50-120 steps (52 ± 6 at λ = 0,
   62 ± 6 at 0.5, 108 ± 10 at 1.5), when its validation accuracy is still at chance
   (arm means 0.001-0.012, no trial above 0.025; chance is 1/59 = 0.017). Validation
   0.95 comes at step 878 ± 177 (λ = 0.5), 564 ± 93 (0.75), 436 ± 65 (1) and 304 ± 23
   (1.5); the ratio to the steps to fit is 14.0 (12.0–16.4) at
   λ = 0.5, then 8.5, 5.7 and 2.8 (2.5–3.2) at 1.5 — the delay (816 ± 173 steps at 0.5,
   196 ± 26 at 1.5) has its CI above 0 at every λ. Every trial with weight decay ends at
   validation accuracy ≥ 0.998 (0.99 at step 1058 ± 103 at λ = 0.5). Power et al.'s ~100x
   is not reached: our largest ratio is 14x — a smaller model, a higher learning rate,
   and generalization in ~10³ steps against their ~10⁵.
2. Confirmed. The steps to generalize fall with λ for every seed (Spearman ρ = −1 for
   all 5); λ = 0.5 − λ = 1.5: 574 ± 163 steps; the slope of log steps on log λ is −0.95 ±
   0.15, consistent with steps ∝ 1/λ. Without weight decay all 5 trials fit (step 52 ± 6) and none
   reaches validation 0.95 in 2500 steps — 2.8x the slowest weight-decay arm's mean —
   ending at 0.0020 ± 0.0018: not grokking at all within the budget.
--quick (the same network, data and optimizer at λ = 0, 1, 2, 3 seeds, 560 steps,
evaluated every 20, `jaxdl sweep experiments/grokking.py --quick --vectorize yes
--no-progress`: 9 trials as one program, 31 s of CPU, 52 s wall with its report on the 2
busy cores of an Intel Xeon): both claims confirmed — ratio 5.2 (3.9–7.1) at λ = 1 (fit
at steps 80-100, validation 0.95 at 380-500), validation accuracy at the fit ≤ 0.18;
λ = 1 − λ = 2: 200 ± 99 steps, ρ = −1 for every seed; λ = 0: 3/3 fit, 0/3 reach 0.95 in
560 steps. The same bits with XLA_FLAGS=--xla_cpu_max_isa=AVX2; with SSE4_2 ratio 5.3
(4.1–6.9), λ = 1 − λ = 2: 200 ± 50 steps. Why λ = 2 and not the full sweep's 1.5 beside
λ = 1: with 3 seeds the paired difference 1 − 1.5 (132 ± 48 steps over 5 seeds in the
earlier 5-seed, 600-step --quick) would be resolved by a hair, and λ = 1.5's ratio
(2.8) is below MULTIPLE, so it cannot be the smallest arm; see tests/test_grokking.py.
"""
from __future__ import annotations

from typing import Any

import ml_collections
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure
from scipy import stats

from jaxdl import config as config_lib
from jaxdl.study import report, sweep
from jaxdl.study.measure import first_step

P, OPERATION, TRAIN_FRACTION = 59, "add", 0.5
WIDTH, DEPTH, LR = 64, 2, 2e-2
STEPS, EVAL_EVERY = 2500, 10
WEIGHT_DECAYS = (0.0, 0.5, 0.75, 1.0, 1.5)
FIT = 1.0  # training accuracy that counts as fitted: 100%
BAR = 0.95  # validation accuracy that counts as generalized (the verdicts')
HIGH_BAR = 0.99  # reported beside it
LOW = 0.5  # claim 1: validation accuracy at the fit below this
MULTIPLE = 3.0  # claim 1: steps to generalize / steps to fit at the smallest λ > 0
CONFIRMED, REFUTED, NOT_RESOLVED = "confirmed", "refuted", "not resolved"
DECAY = "optimizer.weight_decay"

SWEEP = sweep.axis(DECAY, WEIGHT_DECAYS)
SEEDS = range(5)
METRICS = ("measure/steps_to_fit", "measure/final_train_accuracy",
           "measure/final_test_accuracy")  # no NaN: every trial has them
PUBLISHED = {
    "train 100% first, validation ~100% much later (Power et al. 2022, Fig. 1)":
        "~10³ then ~10⁵ steps: ~100x (transformer, x/y mod 97, 50% data, λ = 1)",
    "weight decay speeds generalization (§3.3, Fig. 2)":
        "the most effective intervention; none: far slower",
}
# --quick: λ = 1, the smallest arm, as the ratio must clear MULTIPLE there (5.7 in the
# full sweep; 2.8 at λ = 1.5), λ = 2 beside it so that 3 seeds resolve the paired
# difference (docstring), and a budget 60 steps past the slowest λ = 1 trial (step 500).
QUICK_STEPS = 560
QUICK = {"overrides": {"steps": QUICK_STEPS, "checkpoint_every": QUICK_STEPS, "eval_every": 20},
         "seeds": range(3),
         "sweep": sweep.axis(DECAY, (0.0, 1.0, 2.0))}


def train_size(p: int = P, fraction: float = TRAIN_FRACTION) -> int:
    """The training pairs of the `modular` source's addition table (its rounding)."""
    return int(round(fraction * p * p))


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """A ReLU MLP 118-64-64-59 on half the table of (a + b) mod 59, full-batch AdamW
    lr 2e-2; train and validation accuracy every EVAL_EVERY steps."""
    c = config_lib.default()
    c.data = config_lib.named_section("data", "modular")
    c.data.p, c.data.operation, c.data.train_fraction = P, OPERATION, TRAIN_FRACTION
    c.model = config_lib.named_section("model", "mlp")
    c.model.width, c.model.depth = WIDTH, DEPTH
    c.optimizer.name, c.optimizer.lr = "adamw", LR
    c.steps, c.batch_size = STEPS, train_size()  # full batch
    c.eval_every, c.checkpoint_every, c.log_every = EVAL_EVERY, STEPS, 0
    c.eval_train_examples = train_size()  # every training pair
    return c


# ---------------------------------------------------------------- measurements


def measure(ctx) -> dict[str, Any]:
    """Steps to fit and to generalize, the validation accuracy at the fit, the final
    accuracies, from the trial's logged evaluations; the curves as arrays."""
    train, test = ctx.history("train/accuracy"), ctx.history("test/accuracy")
    steps = np.array(sorted(train))
    fit = first_step(train, FIT)
    return {"steps_to_fit": fit,
            "steps_to_generalize": first_step(test, BAR),
            "steps_to_high_bar": first_step(test, HIGH_BAR),
            "test_accuracy_at_fit": test[int(fit)] if np.isfinite(fit) else np.nan,
            "final_train_accuracy": train[int(steps[-1])],
            "final_test_accuracy": test[int(steps[-1])],
            "budget": float(steps[-1]),
            "eval_steps": steps, "train_curve": np.array([train[s] for s in steps]),
            "test_curve": np.array([test[s] for s in steps])}


# ---------------------------------------------------------------- the verdicts

COLUMNS = ("steps_to_fit", "steps_to_generalize", "steps_to_high_bar", "test_accuracy_at_fit",
           "final_train_accuracy", "final_test_accuracy", "budget")


def trial_table(results: report.Results) -> pd.DataFrame:
    """One row per done trial: weight decay, seed and its measured numbers."""
    frames = [results.final(f"measure/{n}").set_index("trial") for n in COLUMNS]
    table = frames[0][[DECAY, "seed"]].rename(columns={DECAY: "weight_decay"})
    for name, frame in zip(COLUMNS, frames):
        table[name] = frame["value"]
    return table.reset_index(drop=True).sort_values(["weight_decay", "seed"], ignore_index=True)


_ci = report.finite_mean_ci  # a trial without a time has NaN


def positive_arms(table: pd.DataFrame) -> list[float]:
    return sorted(w for w in table["weight_decay"].unique() if w > 0)


def arm(table: pd.DataFrame, weight_decay: float) -> pd.DataFrame:
    return table[table["weight_decay"] == weight_decay]


def log_ratio(g: pd.DataFrame) -> np.ndarray:
    """log(steps to generalize / steps to fit) per trial (NaN where either is missing)."""
    return np.log(g["steps_to_generalize"].to_numpy(float) / g["steps_to_fit"].to_numpy(float))


def delay_verdict(table: pd.DataFrame) -> str:
    """Claim 1: generalization long after the fit (module docstring)."""
    arms = positive_arms(table)
    if not arms:
        return NOT_RESOLVED
    for w in arms:
        g = arm(table, w)
        _, _, delay_high = _ci(g["steps_to_generalize"] - g["steps_to_fit"])
        _, at_fit_low, _ = _ci(g["test_accuracy_at_fit"])
        if delay_high <= 0 or at_fit_low > LOW:
            return REFUTED
    for w in arms:
        g = arm(table, w)
        if g[["steps_to_fit", "steps_to_generalize"]].isna().any(axis=None):
            return NOT_RESOLVED
        _, delay_low, _ = _ci(g["steps_to_generalize"] - g["steps_to_fit"])
        _, _, at_fit_high = _ci(g["test_accuracy_at_fit"])
        if not (delay_low > 0 and at_fit_high < LOW):
            return NOT_RESOLVED
    _, ratio_low, _ = _ci(log_ratio(arm(table, arms[0])))
    return CONFIRMED if ratio_low > np.log(MULTIPLE) else NOT_RESOLVED


def per_seed_spearman(table: pd.DataFrame) -> np.ndarray:
    """Per seed, Spearman's ρ(λ, steps to generalize) over the positive arms; a trial that
    does not generalize within the budget ranks after all that do (ties among them). NaN
    where a seed's times are all equal."""
    rhos = []
    for _, g in table[table["weight_decay"] > 0].groupby("seed"):
        times = g["steps_to_generalize"].fillna(np.inf).to_numpy()
        ranks = stats.rankdata(times)
        constant = g["weight_decay"].nunique() < 2 or len(set(ranks)) < 2
        rhos.append(np.nan if constant else stats.spearmanr(g["weight_decay"], ranks)[0])
    return np.array(rhos, dtype=float)


def paired(table: pd.DataFrame, high: float, low: float, column: str) -> np.ndarray:
    """Per seed: `column` at λ = `high` minus at λ = `low` (seeds with both values)."""
    wide = table.pivot_table(index="seed", columns="weight_decay", values=column)
    if high not in wide.columns or low not in wide.columns:
        return np.array([])
    return (wide[high] - wide[low]).dropna().to_numpy()


def no_decay_part(table: pd.DataFrame) -> str:
    """Claim 2 (c): at λ = 0 every trial fits but none generalizes within the budget in
    which every trial with weight decay does."""
    zero, decayed = arm(table, 0.0), table[table["weight_decay"] > 0]
    if zero.empty or decayed.empty:
        return NOT_RESOLVED
    if zero["steps_to_generalize"].notna().all():
        _, _, high = _ci(paired(table, 0.0, positive_arms(table)[0], "steps_to_generalize"))
        return REFUTED if high <= 0 else NOT_RESOLVED
    if (zero["steps_to_fit"].notna().all() and zero["steps_to_generalize"].isna().all()
            and decayed["steps_to_generalize"].notna().all()
            and zero["budget"].min() >= decayed["budget"].max()):
        return CONFIRMED
    return NOT_RESOLVED


def control_verdict(table: pd.DataFrame) -> str:
    """Claim 2: weight decay controls when (module docstring)."""
    arms = positive_arms(table)
    if len(arms) < 2:
        return NOT_RESOLVED
    _, rho_low, rho_high = _ci(per_seed_spearman(table))
    _, diff_low, diff_high = _ci(paired(table, arms[0], arms[-1], "steps_to_generalize"))
    zero = no_decay_part(table)
    if rho_low > 0 or diff_high < 0 or zero == REFUTED:
        return REFUTED
    if rho_high < 0 and diff_low > 0 and zero == CONFIRMED:
        return CONFIRMED
    return NOT_RESOLVED


def verdicts(table: pd.DataFrame) -> dict[str, str]:
    """The two claims' outcomes: {"delay", "control"}."""
    return {"delay": delay_verdict(table), "control": control_verdict(table)}


# ---------------------------------------------------------------- analysis


def _time_text(values: pd.Series) -> str:
    """'mean ± CI (k/n)' of the trials that got there, or 'none of n'."""
    got = int(values.notna().sum())
    if not got:
        return f"none of {len(values)}"
    text = report.ci_text(*_ci(values), 0)
    return text if got == len(values) else f"{text} ({got}/{len(values)})"


def per_decay_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per weight decay: the times, the ratio, the accuracies (mean ± 95% CI)."""
    rows = []
    for w, g in table.groupby("weight_decay"):
        ratio = np.exp(_ci(log_ratio(g)))
        rows.append({"weight decay": w, "seeds": len(g),
                     # no dots in a header: the markdown table would cut "1.0" to "0"
                     f"steps to train {FIT:.0%}": _time_text(g["steps_to_fit"]),
                     f"steps to val {BAR:.0%}": _time_text(g["steps_to_generalize"]),
                     f"steps to val {HIGH_BAR:.0%}": _time_text(g["steps_to_high_bar"]),
                     "delay": _time_text(g["steps_to_generalize"] - g["steps_to_fit"]),
                     "ratio (geometric)": _ratio_text(ratio),
                     "val accuracy at the fit": report.ci_text(*_ci(g["test_accuracy_at_fit"]), 3),
                     "final train": report.ci_text(*_ci(g["final_train_accuracy"]), 4),
                     "final val": report.ci_text(*_ci(g["final_test_accuracy"]), 4)})
    return pd.DataFrame(rows)


def _ratio_text(ratio: np.ndarray) -> str:
    """A geometric mean with its (not centred) interval: '12.3 (10.1–15.0)'."""
    mean, low, high = ratio
    if not np.isfinite(mean):
        return "–"
    return f"{mean:.1f}" if not np.isfinite(low) else f"{mean:.1f} ({low:.1f}–{high:.1f})"


def decay_slope(table: pd.DataFrame) -> tuple[float, float, float]:
    """Per seed, the least-squares slope of log(steps to generalize) on log λ over the
    positive arms; its mean ± CI (not a verdict: −1 is the steps ∝ 1/(lr·λ) of a weight
    norm shrinking at AdamW's rate lr·λ per step)."""
    slopes = []
    for _, g in table[table["weight_decay"] > 0].dropna(subset=["steps_to_generalize"]) \
            .groupby("seed"):
        if g["weight_decay"].nunique() >= 2:
            slopes.append(stats.linregress(np.log(g["weight_decay"]),
                                           np.log(g["steps_to_generalize"])).slope)
    return _ci(np.array(slopes))


def effects_table(table: pd.DataFrame) -> pd.DataFrame:
    """The numbers the verdicts rest on (and the slope, reported beside them)."""
    arms = positive_arms(table)
    zero = arm(table, 0.0)
    rows = [(f"ratio steps to val {BAR:g} / to train 1.0 at λ = {arms[0]:g} (geometric)",
             _ratio_text(np.exp(_ci(log_ratio(arm(table, arms[0])))))),
            (f"delay (val {BAR:g} − train 1.0) at λ = {arms[0]:g}, steps",
             _time_text(arm(table, arms[0])["steps_to_generalize"]
                        - arm(table, arms[0])["steps_to_fit"])),
            ("Spearman ρ(λ, steps to generalize), per seed, λ > 0",
             report.ci_text(*_ci(per_seed_spearman(table)), 3)),
            (f"steps to generalize, λ = {arms[0]:g} − λ = {arms[-1]:g} (paired)",
             report.ci_text(*_ci(paired(table, arms[0], arms[-1], "steps_to_generalize")), 0)),
            ("slope of log steps to generalize on log λ, per seed",
             report.ci_text(*decay_slope(table), 2)),
            (f"λ = 0: trials reaching train 1.0 / val {BAR:g} within {_budget_text(zero)}",
             f"{int(zero['steps_to_fit'].notna().sum())}/{len(zero)} / "
             f"{int(zero['steps_to_generalize'].notna().sum())}/{len(zero)}"),
            ("λ = 0: final val accuracy", report.ci_text(*_ci(zero["final_test_accuracy"]), 4))]
    return pd.DataFrame([{"quantity": q, "value": v} for q, v in rows])


def _budget_text(g: pd.DataFrame) -> str:
    return f"{g['budget'].min():.0f} steps" if len(g) else "the budget"


RULES = (f"**Rules.** Claim 1 (generalization long after the fit): at every λ > 0 every trial "
         f"reaches train accuracy {FIT:g} and val accuracy {BAR:g} within the budget, the delay "
         f"(steps to val {BAR:g} − steps to train {FIT:g}) has its 95% CI above 0 and the val "
         f"accuracy at the fit its CI below {LOW:g}, and at the smallest λ > 0 the ratio of the "
         f"two times has its CI above {MULTIPLE:g}; refuted if at some λ > 0 the delay's CI is "
         f"at or below 0 or the val accuracy at the fit's CI above {LOW:g}. Claim 2 (weight "
         f"decay controls when): the per-seed Spearman ρ(λ, steps to val {BAR:g}) over λ > 0 "
         f"has its CI below 0, the steps at the smallest minus the largest λ > 0 (paired) their "
         f"CI above 0, and at λ = 0 every trial fits but none reaches val {BAR:g} within the "
         f"budget in which every λ > 0 trial does; refuted if ρ's CI is "
         f"above 0, the difference's below 0, or at λ = 0 every trial generalizes no later "
         f"than at the smallest λ > 0.")


def verdict_text(outcomes: dict[str, str], effects: pd.DataFrame) -> str:
    """The rules, then the outcomes with their numbers."""
    v = effects["value"].tolist()
    return (f"{RULES}\n\n"
            f"**1. Validation accuracy reaches {BAR:g} long after training accuracy reaches "
            f"{FIT:g}: {outcomes['delay']}.** At the smallest λ > 0 the ratio is {v[0]}, the "
            f"delay {v[1]} steps (per λ: the table).\n\n"
            f"**2. Weight decay controls when: {outcomes['control']}.** ρ {v[2]}; smallest − "
            f"largest λ > 0: {v[3]} steps; λ = 0: {v[5]} trials reach train {FIT:g} / val "
            f"{BAR:g} (final val accuracy {v[6]}). Slope of log steps on log λ: {v[4]} "
            f"(not a verdict).")


def analyze(results: report.Results) -> report.Analysis:
    table = trial_table(results)
    outcomes = verdicts(table)
    effects = effects_table(table)
    v = effects["value"].tolist()
    ours = [f"ratio {v[0]} at λ = {positive_arms(table)[0]:g} ({outcomes['delay']})",
            f"ρ {v[2]}; λ = 0: {v[5]} reach train / val ({outcomes['control']})"]
    return report.Analysis(
        tables={"Per weight decay (mean ± 95% CI over seeds)": per_decay_table(table),
                "The verdicts' numbers": effects},
        plots={"Train (solid) and validation (dashed) accuracy, mean and 95% CI over seeds":
                   curves_plot(results),
               "Steps to fit and to generalize against weight decay": times_plot(table)},
        verdict=verdict_text(outcomes, effects),
        published={k: (p, o) for (k, p), o in zip(PUBLISHED.items(), ours)},
        status=report.status_of(list(outcomes.values())))


# ---------------------------------------------------------------- plots


def mean_curves(results: report.Results) -> dict[float, dict[str, np.ndarray]]:
    """Per weight decay: the eval steps and the mean, low and high of the train and
    validation curves over seeds (the trials of one arm share their eval steps)."""
    arrays = {n: results.arrays(n).set_index("trial") for n in
              ("eval_steps", "train_curve", "test_curve")}
    out = {}
    for w, g in arrays["eval_steps"].groupby(DECAY):
        curves = {"steps": g["value"].iloc[0]}
        for name in ("train_curve", "test_curve"):
            stacked = np.stack(arrays[name].loc[g.index, "value"].to_list())
            half = stats.t.ppf(0.975, len(stacked) - 1) * stacked.std(0, ddof=1) \
                / np.sqrt(len(stacked)) if len(stacked) > 1 else 0.0
            mean = stacked.mean(0)
            curves[name] = (mean, mean - half, mean + half)
        out[float(w)] = curves
    return out


def curves_plot(results: report.Results) -> Figure:
    """One panel per weight decay, three to a row: train and validation accuracy against
    the step (log x), mean over seeds with its 95% CI band (clipped to [0, 1]); the bar
    dotted. The legend takes a spare cell of the grid, else goes below it."""
    curves = sorted(mean_curves(results).items())
    cols = min(3, len(curves))
    rows = -(-len(curves) // cols)
    fig = Figure(figsize=(2.6 * cols + 0.4, 2.4 * rows + 0.5), dpi=120, layout="constrained")
    axes = np.atleast_1d(fig.subplots(rows, cols, sharex=True, sharey=True)).ravel()
    for ax, (w, c) in zip(axes, curves):
        for name, style, colour, label in (("train_curve", "-", "C0", "train"),
                                           ("test_curve", "--", "C3", "validation")):
            mean, low, high = c[name]
            ax.plot(c["steps"], mean, ls=style, color=colour, lw=1.2, label=label)
            ax.fill_between(c["steps"], np.clip(low, 0, 1), np.clip(high, 0, 1), alpha=0.2,
                            lw=0, color=colour)
        ax.axhline(BAR, color="k", ls=":", lw=0.8, label=f"validation bar {BAR:g}")
        ax.set_xscale("log")
        ax.set_title(f"weight decay λ = {w:g}", fontsize=9)
        ax.set_ylim(-0.02, 1.02)
        ax.grid(alpha=0.3)
    for ax in axes[::cols]:
        ax.set_ylabel("accuracy")
    for ax in axes[len(curves) - cols:len(curves)]:
        ax.set_xlabel("step")
        ax.xaxis.set_tick_params(labelbottom=True)
    handles = axes[0].get_legend_handles_labels()
    for spare in axes[len(curves):]:
        spare.set_axis_off()
    if len(axes) > len(curves):
        axes[-1].legend(*handles, loc="center", fontsize=8)
    else:
        fig.legend(*handles, fontsize=7, ncols=3, loc="outside lower center")
    return fig


def times_plot(table: pd.DataFrame) -> Figure:
    """Steps to train 1.0 and to val BAR against λ: mean with its 95% CI, each seed a
    dot; λ = 0, where validation never gets there, marked at the budget."""
    fig = Figure(figsize=(5.8, 4.4), dpi=120, layout="constrained")
    ax = fig.subplots()
    for column, label, colour in (("steps_to_fit", f"train accuracy {FIT:g}", "C0"),
                                  ("steps_to_generalize", f"val accuracy {BAR:g}", "C3")):
        got = table.dropna(subset=[column])  # λ = 0 fits but does not generalize
        s = report.summarize(got, ["weight_decay"], column)
        ax.errorbar(s["weight_decay"], s["mean"], yerr=[s["mean"] - s["low"],
                    s["high"] - s["mean"]], color=colour, marker="o", capsize=3,
                    label=f"steps to {label}")
        ax.scatter(got["weight_decay"], got[column], s=9, color=colour, alpha=0.35)
    zero = arm(table, 0.0)
    if len(zero) and zero["steps_to_generalize"].isna().all():
        ax.scatter([0.0], [zero["budget"].min()], marker="^", s=50, color="C3",
                   label=f"λ = 0: val {BAR:g} not reached by step {zero['budget'].min():.0f}")
    ax.set_yscale("log")
    ax.yaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))  # 100, not 10²
    ax.yaxis.set_minor_formatter(ticker.FuncFormatter(
        lambda v, _: f"{v:g}" if f"{v:.0e}"[0] in "235" else ""))  # 20, 30, 50, 200, ...
    ax.set(xlabel="weight decay λ (AdamW, decoupled)", ylabel="steps")
    ax.grid(alpha=0.3, which="both")
    fig.legend(*ax.get_legend_handles_labels(), fontsize=7, ncols=2, loc="outside lower center")
    return fig
