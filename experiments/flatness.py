"""Flatness: large batches end at sharper minima and generalize worse; SAM ends flatter and
generalizes better.

Claims. (1) Keskar, Mudigere, Nocedal, Smelyanskiy & Tang, "On Large-Batch Training for
Deep Learning: Generalization Gap and Sharp Minima", ICLR 2017: at the same number of
epochs (the same budget in examples seen), large-batch training ends at sharper minima —
a larger top eigenvalue λ_max of the training loss's Hessian — and has a lower test
accuracy than small-batch training. (2) Foret, Kleiner, Mobahi & Neyshabur,
"Sharpness-Aware Minimization for Efficiently Improving Generalization", ICLR 2021: SAM
(ρ = 0.05) ends at flatter minima (smaller λ_max) with a higher test accuracy than plain
training at a matched budget.

    jaxdl sweep experiments/flatness.py           # 5 arms x 10 seeds
    jaxdl sweep experiments/flatness.py --quick   # 3 arms x 3 seeds, ~18 s (~35 s with its report)

Setting. MNIST-1D's published split (4000 training, 1000 test examples), a ReLU MLP
40-256-256-10 (78,858 parameters), cross-entropy, plain SGD (no momentum, no weight decay)
at a constant learning rate, EPOCHS = 80 epochs for every arm (steps = 80·4000/B). The
learning rate follows a stated rule, not tuning: square-root scaling from η = 0.1 at
B = 32, η(B) = 0.1·√(B/32) (Krizhevsky 2014; Hoffer et al. 2017), the rule that keeps
the variance of a step's gradient noise, ∝ η²/B, the same at every B: η = 0.1, 0.2, 0.4
at B = 32, 128, 512. (With η fixed at 0.1, B = 512 does not fit the training set in
80 epochs — train accuracy ~0.76 — and the comparison would be one of under-training;
linear scaling, η = 1.6 at B = 512, is past GD's stability limit here.) Arms:
- `B=32`, `B=128`, `B=512`: plain SGD at batch B (claim 1: B = 512 against B = 32);
- `SAM`: B = 32, η = 0.1, SAM with ρ = RHO = 0.05 (jaxdl/gradients/sam.py), the same
  steps as `B=32` — matched steps and examples, but two gradient evaluations a step;
- `B=32, 2x steps`: plain, B = 32, twice the steps (160 epochs) — matched gradient
  evaluations with `SAM`.
Claim 2's verdict is SAM against `B=32` at matched steps; against `B=32, 2x steps`
(matched gradient evaluations) it is reported with its own outcome, by the same rule.
The seeds vary the init and the batch order; arm and seed share nothing else.

Measurement (`measure`, at the final state): λ_max of the run's own training objective
on the whole training set (a fixed batch: every training example), by power iteration
on Hessian-vector products (jaxdl/probes/hessian.py, relative tolerance 1e-3, at most
100 products), and the training loss there; the final train and test accuracy from the
trial's records (the run's evaluation at its last step).

The verdicts, decided by code (`verdicts`), stated before the numbers. For each claim,
paired by seed: Δλ = λ_max(arm) − λ_max(reference) and Δacc = test accuracy(arm) − test
accuracy(reference), arm − reference = B=512 − B=32 (claim 1; claimed Δλ > 0, Δacc < 0)
and SAM − B=32 (claim 2; claimed Δλ < 0, Δacc > 0). Each part (sharpness, accuracy) is
confirmed when the 95% Student-t CI of the mean difference lies on the claimed side of
0, refuted when it lies on the other side, otherwise not resolved; a claim is confirmed
when both of its parts are, refuted when either part is refuted, otherwise not resolved.

Published results it checks: Keskar et al. 2017, Table 1 and Fig. 3 (MNIST, TIMIT,
CIFAR-10/100 nets; Adam; small batch 256, large batch 10% of the training set): the large
batch loses 0.2-5 points of test accuracy with the same training accuracy, and its
sharpness measure (the loss's rise in a small box around the minimum) is 3-1000x larger.
Foret et al. 2021, Table 1 and Fig. 1 (CIFAR-10/100, WideResNets, ResNets; SGD with
momentum): SAM lowers the test error (e.g. WRN-28-10 on CIFAR-10 3.5% -> 2.7%) and the
Hessian's top eigenvalue at the end of training (ResNet on CIFAR-10: 24.3 -> 9.7).

Measured (the full sweep: 50 trials = 5 arms x 10 seeds, 323 s for the sweep, 5.6 min
wall with its report, on 2 CPU cores shared with other jobs; report in
docs/studies/flatness/report.md; mean ± 95% CI over seeds, Δ paired by seed).
1. Large batch: confirmed. λ_max = 0.827 ± 0.016 (B=32), 2.43 ± 0.05 (B=128), 4.50 ± 0.41
   (B=512): Δλ = +3.68 ± 0.41, 5.4x sharper; test accuracy 0.664 ± 0.007, 0.649 ± 0.005,
   0.647 ± 0.006: Δacc = −0.0167 ± 0.0059 (1.7 points, within Keskar et al.'s 0.2-5).
   B = 512 sits near GD's stability limit (λ_max·η/2 = 0.90 ± 0.08) while B = 32 is far
   below its own (0.041). A caveat the verdict does not remove: with cross-entropy, λ_max
   falls as the loss goes to 0, and B=512 ends at a higher training loss (0.080 against
   0.0031; train accuracy 0.998 against 1.0) — the 2x-steps arm shows that more training
   alone lowers λ_max (0.827 -> 0.380 at B = 32) without raising test accuracy (0.661).
2. SAM: confirmed. At matched steps λ_max 0.260 ± 0.004 against 0.827: Δλ = −0.567 ±
   0.015 (3.2x flatter); test accuracy 0.678 ± 0.005: Δacc = +0.0147 ± 0.0069. At matched
   gradient evaluations (against B=32 at 2x steps, λ_max 0.380, test 0.661): Δλ = −0.120 ±
   0.007, Δacc = +0.0170 ± 0.0068 — also confirmed.
Against the papers: the direction of both effects and the size of the accuracy gaps
(1.5-1.7 points) are theirs; Keskar et al.'s sharpness is a box measure, not λ_max, so
only the direction compares. --quick (1000 training examples, 40 epochs — B = 32 takes
1250 steps, B = 512 78 —, arms B=32, B=512, SAM, 3 seeds; 9 trials, 18 s for the sweep,
35 s wall and 18 s CPU with its report on the busy 2-core Xeon): both sharpness parts
confirmed, Δλ = +5.19 ± 1.47 (B=512 − B=32) and −1.06 ± 0.12 (SAM − B=32), see
tests/test_flatness.py. Fewer epochs do not do (measured with QUICK_EPOCHS set to 30 and
25, 5 seeds): B = 32 has not yet come down from its early sharpness (λ_max 4.6 and 6.0,
against 2.9 at 40) and the large batch's Δλ is +2.3 ± 2.1 and +0.9 ± 1.2 (not resolved).
"""
from __future__ import annotations

import math
from typing import Any

import jax
import ml_collections
import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.figure import Figure

from jaxdl import config as config_lib
from jaxdl.objectives import StepKeys
from jaxdl.probes import hessian
from jaxdl.study import report

TRAIN_EXAMPLES, EPOCHS = 4000, 80
WIDTH = 256
BASE_BATCH, BASE_LR = 32, 0.1
RHO = 0.05
CONFIRMED, REFUTED, NOT_RESOLVED = "confirmed", "refuted", "not resolved"
SMALL, LARGE, SAM = "B=32", "B=512", "SAM"  # the arms the verdicts compare
ALL_ARMS = ("B=32", "B=128", "B=512", "SAM", "B=32, 2x steps")


def learning_rate(batch: int) -> float:
    """Square-root scaling from BASE_LR at BASE_BATCH (module docstring)."""
    return BASE_LR * math.sqrt(batch / BASE_BATCH)


def arm_point(arm: str, train_examples: int, epochs: int) -> dict[str, Any]:
    """The sweep point of one arm: batch size, its learning rate, steps (epochs·n/B) and,
    for SAM, the gradient method."""
    batch = BASE_BATCH if arm.startswith("B=32") or arm == SAM else int(arm.split("=")[1])
    steps = epochs * train_examples // batch * (2 if arm.endswith("2x steps") else 1)
    point = {"batch_size": batch, "optimizer.lr": learning_rate(batch), "steps": steps}
    if arm == SAM:
        point.update({"gradient.name": "sam", "gradient.rho": RHO})
    return point


def arms(names: tuple[str, ...], train_examples: int, epochs: int) -> list[dict[str, Any]]:
    return [arm_point(a, train_examples, epochs) for a in names]


def arm_of(point: dict[str, Any], budget: int) -> str:
    """The arm whose point `point` is (the inverse of `arm_point`); `budget`: the examples
    seen by the arms at the study's epochs (a doubled arm sees twice as many)."""
    if point.get("gradient.name") == "sam":
        return SAM
    batch = int(point["batch_size"])
    doubled = int(point["steps"]) * batch > 1.5 * budget
    return f"B={batch}" + (", 2x steps" if doubled else "")


SWEEP = arms(ALL_ARMS, TRAIN_EXAMPLES, EPOCHS)
SEEDS = range(10)
METRICS = ("measure/sharpness", "test/accuracy", "train/accuracy")
PUBLISHED = {
    "large − small batch (Keskar et al. 2017, Table 1, Fig. 3)":
        "sharper (3-1000x, their box measure); test accuracy 0.2-5 points lower",
    "SAM − plain (Foret et al. 2021, Table 1, Fig. 1)":
        "λ_max 24.3 → 9.7 (ResNet, CIFAR-10); test error lower (3.5% → 2.7%, WRN-28-10)",
}
QUICK_TRAIN, QUICK_EPOCHS = 1000, 40
# chunk_size and log_every 250 divide B=32's 1250 steps: with the default 100, a last
# chunk of 50 steps compiles a second training program per arm (chunks change no bit).
QUICK = {"overrides": {"data.num_samples": QUICK_TRAIN + 1000,
                       "data.train_split": QUICK_TRAIN / (QUICK_TRAIN + 1000),
                       "chunk_size": 250, "log_every": 250},
         "seeds": range(3),
         "sweep": arms((SMALL, LARGE, SAM), QUICK_TRAIN, QUICK_EPOCHS)}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """Plain SGD (no momentum) of a ReLU MLP 40-256-256-10 on MNIST-1D's 4000/1000 split,
    batch 32 at η = 0.1 for EPOCHS epochs; evaluated and checkpointed at the end only."""
    c = config_lib.default()
    c.data.num_samples, c.data.train_split = TRAIN_EXAMPLES * 5 // 4, 0.8
    c.model = config_lib.named_section("model", "mlp")
    c.model.width, c.model.depth = WIDTH, 2
    c.optimizer.name, c.optimizer.lr, c.optimizer.momentum = "sgd", BASE_LR, 0.0
    c.batch_size = BASE_BATCH
    c.steps = EPOCHS * TRAIN_EXAMPLES // BASE_BATCH
    c.eval_every, c.checkpoint_every, c.log_every = 0, 0, 100
    return c


# ---------------------------------------------------------------- measurements


def sharpness_and_loss(run: Any, state: Any) -> tuple[float, float, int]:
    """(λ_max, training loss, Hessian-vector products) of `state` on the whole training set."""
    batch = (run.dataset.x_train, run.dataset.y_train)
    top = hessian.sharpness(run, state, batch)
    data = (state.model_state, state.target, jax.tree.map(jax.numpy.asarray, batch),
            StepKeys(state.key, state.step))
    loss = hessian.objective_loss(run.objective.loss)(state.params, data)
    return float(top.value), float(loss), int(top.iterations)


def measure(ctx) -> dict[str, Any]:
    """λ_max and the training loss at the final state; λ_max·η/2 (its ratio to GD's
    stability limit 2/η, for the record)."""
    sharp, loss, iterations = sharpness_and_loss(ctx.run, ctx.state)
    return {"sharpness": sharp, "train_loss": loss, "iterations": float(iterations),
            "edge_ratio": sharp * ctx.config.optimizer.lr / 2}


# ---------------------------------------------------------------- the verdicts


def trial_table(results: report.Results) -> pd.DataFrame:
    """One row per done trial: arm, seed and its measured numbers."""
    names = {"sharpness": "measure/sharpness", "train_loss": "measure/train_loss",
             "edge_ratio": "measure/edge_ratio", "test_accuracy": "test/accuracy",
             "train_accuracy": "train/accuracy"}
    frames = {k: results.final(m).set_index("trial")["value"] for k, m in names.items()}
    done = results.final("measure/sharpness").set_index("trial")
    points = _points(done)
    budget = min(int(p["steps"]) * int(p["batch_size"]) for p in points)
    table = pd.DataFrame({"arm": [arm_of(p, budget) for p in points],
                          "seed": done["seed"]}, index=done.index)
    for k, f in frames.items():
        table[k] = f
    return table.reset_index(drop=True).sort_values(["arm", "seed"], ignore_index=True)


def _points(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Each row's sweep point (the axes it sets; an axis it does not set is None/NaN)."""
    keys = [c for c in frame.columns if c not in ("seed", "value")]
    return [{k: r[k] for k in keys if not pd.isna(r[k])} for _, r in frame.iterrows()]


def paired(table: pd.DataFrame, arm: str, reference: str, column: str) -> np.ndarray:
    """Per seed: `column` of `arm` minus that of `reference` (seeds with both)."""
    wide = table.pivot_table(index="seed", columns="arm", values=column)
    if arm not in wide.columns or reference not in wide.columns:
        return np.array([])
    return (wide[arm] - wide[reference]).dropna().to_numpy()


def part_verdict(differences: np.ndarray, claimed_sign: int) -> str:
    """Confirmed if the 95% CI of the mean difference lies on the claimed side of 0
    (claimed_sign +1: above), refuted if on the other side, else not resolved."""
    if differences.size < 2:
        return NOT_RESOLVED
    _, low, high = report.mean_ci(differences * claimed_sign)
    return CONFIRMED if low > 0 else REFUTED if high < 0 else NOT_RESOLVED


def claim_verdict(parts: dict[str, str]) -> str:
    """Confirmed if every part is, refuted if any part is, else not resolved."""
    if all(p == CONFIRMED for p in parts.values()):
        return CONFIRMED
    return REFUTED if REFUTED in parts.values() else NOT_RESOLVED


COMPARISONS = {  # claim: (arm, reference, claimed sign of Δλ, claimed sign of Δacc)
    "large batch": (LARGE, SMALL, +1, -1),
    "SAM": (SAM, SMALL, -1, +1),
    "SAM, matched gradient evaluations": (SAM, "B=32, 2x steps", -1, +1),
}


def verdicts(table: pd.DataFrame) -> dict[str, dict[str, str]]:
    """Per comparison whose arms ran: {"sharpness", "accuracy", "claim"} outcomes."""
    out = {}
    for name, (arm, reference, sign_sharp, sign_acc) in COMPARISONS.items():
        if not {arm, reference} <= set(table["arm"]):
            continue
        parts = {"sharpness": part_verdict(paired(table, arm, reference, "sharpness"),
                                           sign_sharp),
                 "accuracy": part_verdict(paired(table, arm, reference, "test_accuracy"),
                                          sign_acc)}
        out[name] = {**parts, "claim": claim_verdict(parts)}
    return out


# ---------------------------------------------------------------- analysis


def per_arm_table(table: pd.DataFrame) -> pd.DataFrame:
    """One row per arm: its setting and its numbers (mean ± 95% CI over seeds)."""
    rows = []
    for arm in [a for a in ALL_ARMS if a in set(table["arm"])]:
        g = table[table["arm"] == arm]
        rows.append({"arm": arm, "seeds": len(g),
                     **{label: report.ci_text(*report.mean_ci(g[col].to_numpy()), digits)
                        for label, col, digits in (
                            ("λ_max", "sharpness", 3), ("λ_max·η/2", "edge_ratio", 3),
                            ("train loss", "train_loss", 4),
                            ("train accuracy", "train_accuracy", 4),
                            ("test accuracy", "test_accuracy", 4))}})
    return pd.DataFrame(rows)


def effects_table(table: pd.DataFrame, outcomes: dict[str, dict[str, str]]) -> pd.DataFrame:
    """One row per comparison and quantity: the paired difference's mean ± 95% CI, the
    claimed sign and the part's outcome."""
    rows = []
    for name, parts in outcomes.items():
        arm, reference, sign_sharp, sign_acc = COMPARISONS[name]
        for part, col, sign, digits in (("sharpness", "sharpness", sign_sharp, 3),
                                        ("accuracy", "test_accuracy", sign_acc, 4)):
            d = paired(table, arm, reference, col)
            rows.append({"comparison": name, "difference": f"Δ{col}: {arm} − {reference}",
                         "claimed": "> 0" if sign > 0 else "< 0", "pairs": len(d),
                         "mean ± 95% CI": report.ci_text(*report.mean_ci(d), digits),
                         "outcome": parts[part]})
    return pd.DataFrame(rows)


RULE = ("Paired by seed, Δ = arm − reference for λ_max and for test accuracy (B=512 − B=32: "
        "claimed Δλ > 0, Δacc < 0; SAM − B=32 at matched steps: claimed Δλ < 0, Δacc > 0; "
        "also SAM − B=32 at twice the steps, matched gradient evaluations). A part is "
        "confirmed when the 95% CI of its mean Δ lies on the claimed side of 0, refuted when "
        "it lies on the other side, otherwise not resolved; a claim is confirmed when both "
        "parts are, refuted when either is.")


def verdict_text(outcomes: dict[str, dict[str, str]], effects: pd.DataFrame) -> str:
    lines = []
    for name, parts in outcomes.items():
        e = effects[effects["comparison"] == name]
        numbers = "; ".join(f"{r['difference']} = {r['mean ± 95% CI']} ({r['outcome']})"
                            for _, r in e.iterrows())
        lines.append(f"**{name}: {parts['claim']}** — {numbers}.")
    return RULE + "\n\n" + "\n\n".join(lines)


def analyze(results: report.Results) -> report.Analysis:
    table = trial_table(results)
    outcomes = verdicts(table)
    effects = effects_table(table, outcomes)
    ours = [" ".join(f"{r['difference']} = {r['mean ± 95% CI']};" for _, r in
                     effects[effects["comparison"] == name].iterrows())
            + f" {outcomes[name]['claim']}" if name in outcomes else "not run"
            for name in ("large batch", "SAM")]
    return report.Analysis(
        tables={"Per arm (mean ± 95% CI over seeds)": per_arm_table(table),
                "The verdicts' numbers (paired by seed)": effects},
        plots={"Test accuracy against sharpness, one point per seed":
                   scatter_plot(table),
               "Paired differences per seed": differences_plot(table, outcomes)},
        verdict=verdict_text(outcomes, effects),
        published={k: (v, o) for (k, v), o in zip(PUBLISHED.items(), ours)},
        # Keskar et al.'s sharpness is a box measure and both papers' accuracies are of
        # image benchmarks: only the direction of the published numbers compares.
        status=report.status_of([parts["claim"] for parts in outcomes.values()]))


def scatter_plot(table: pd.DataFrame) -> Figure:
    """Test accuracy against λ_max (log x), one marker per trial, one colour per arm,
    with each arm's mean as a larger marker."""
    fig = Figure(figsize=(5.2, 3.6), dpi=110, layout="constrained")
    ax = fig.subplots()
    for i, arm in enumerate(a for a in ALL_ARMS if a in set(table["arm"])):
        g = table[table["arm"] == arm]
        colour = f"C{i}"
        ax.scatter(g["sharpness"], g["test_accuracy"], s=14, alpha=0.6, color=colour,
                   label=f"{arm} ({len(g)} seeds)")
        ax.scatter(g["sharpness"].mean(), g["test_accuracy"].mean(), s=90, marker="X",
                   color=colour, edgecolor="k", linewidth=0.6)
    ax.set(xscale="log", xlabel="λ_max of the training loss (final state), log scale",
           ylabel="test accuracy")
    ax.xaxis.set_major_locator(ticker.LogLocator(subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ticker.FormatStrFormatter("%g"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return fig


def differences_plot(table: pd.DataFrame, outcomes: dict[str, dict[str, str]]) -> Figure:
    """Per comparison: Δλ_max against Δtest accuracy, one point per seed, 0 lines dashed."""
    names = list(outcomes)
    fig = Figure(figsize=(3.4 * max(len(names), 1), 3.2), dpi=110, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, max(len(names), 1)))
    for ax, name in zip(axes, names):
        arm, reference, _, _ = COMPARISONS[name]
        wide = table.pivot_table(index="seed", columns="arm",
                                 values=["sharpness", "test_accuracy"]).dropna()
        dx = wide["sharpness"][arm] - wide["sharpness"][reference]
        dy = wide["test_accuracy"][arm] - wide["test_accuracy"][reference]
        ax.scatter(dx, dy, s=16)
        ax.axhline(0, color="k", ls="--", lw=0.8)
        ax.axvline(0, color="k", ls="--", lw=0.8)
        ax.set(xlabel=f"Δλ_max ({arm} − {reference})", ylabel="Δ test accuracy",
               title=f"{name}: {outcomes[name]['claim']}")
        ax.title.set_fontsize(8)
        ax.grid(alpha=0.3)
    return fig
