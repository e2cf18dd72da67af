"""Adversarial robustness of the MNIST-1D CNN: FGSM and PGD against ε, PGD adversarial training, and a random-ensemble defense.

Claims: (1) gradient attacks break a standard network at perturbations that are small
against the signal (||δ||∞ = 0.2, the data's std is 1), and the iterated attack is the
stronger: PGD accuracy <= FGSM accuracy <= clean accuracy at every ε (Goodfellow et al.
2015; Madry et al. 2018). (2) PGD adversarial training (Madry et al.'s min-max objective,
L∞) makes the network robust at its training ε, at a cost in clean accuracy. (3) The
random-ensemble defense (the issue cites a footnote by Jang; cf. Zhou, Kantarcioglu &
Xi 2018, "Breaking transferability of adversarial samples with randomness": a model drawn
from a pool at each query) — each query answered by a model chosen at random from the
other seeds' networks — frustrates a finite-difference (SPSA) black-box attacker, whose
loss differences then compare two different models, but not a transfer attacker, for whom
every member is just another model.

    jaxdl sweep experiments/adversarial.py           # 3 training modes x 5 seeds, report.md
    jaxdl sweep experiments/adversarial.py --quick   # standard and PGD eps 0.2 x 3 seeds, 500 steps

Setting: the published MNIST-1D CNN (Adam 1e-2, batch 100), 2000 steps, trained
standard (ε = 0) or with PGD L∞ adversarial training at ε = 0.1 or 0.2 (7 steps of 0.05,
random start, loss on adversarial examples only). Per trained network, on the 1000 test
signals: accuracy under FGSM and PGD (20 steps of ε/8, random start) at L∞ ε in
{0.05, 0.1, 0.2, 0.3} and L2 ε in {0.25, 0.5, 1, 2} (||x||₂ ≈ 6); then, on the first 500
test signals at L∞ ε = 0.2, the random ensemble of the sweep's other seeds at the same
training mode (4 models) against a transfer attack (PGD crafted on this trial's own
network) and an SPSA attack (20 steps, 16 Rademacher directions, 640 queries per
example), next to the same attacks on one of those models alone.

Published results it checks (other datasets, so only the direction carries over):
Goodfellow et al. 2015 (ICLR, "Explaining and harnessing adversarial examples"): FGSM at
ε = 0.25 on MNIST ([0, 1] pixels) gives a maxout network 89.4% error; adversarial
training (α = 0.5) brings the error on FGSM examples to 17.9%. Madry et al. 2018 (ICLR,
"Towards deep learning models resistant to adversarial attacks"): PGD-trained MNIST CNN
at ε = 0.3: 98.8% clean, 95.6% FGSM, 93.2% PGD-40 (89.3% PGD-100 with 20 restarts);
CIFAR-10 at ε = 8/255: 87.3% clean (95.2% standard), 56.1% FGSM, 45.8% PGD-20 — robust at
the training ε, at a clean-accuracy cost.

Measured, --quick only (3 seeds, 500 steps, standard and PGD ε = 0.2; 2 CPU cores shared
with other jobs: 5 min wall, 126 s of CPU; mean ± 95% CI over seeds): standard clean
0.901 ± 0.024, FGSM L∞ 0.2 0.311 ± 0.016, PGD-20 0.217 ± 0.032; PGD-trained clean
0.774 ± 0.060, FGSM 0.542 ± 0.075, PGD-20 0.499 ± 0.082. Paired by seed, PGD training
changes clean accuracy by -0.126 ± 0.078 and PGD accuracy at ε = 0.2 by +0.282 ± 0.093
(claim 2 confirmed). PGD <= FGSM <= clean held in 15 of 16 (mode, norm, ε) cells; in the
16th PGD was above FGSM by 0.001, inside seed noise (claim 1 confirmed). Random ensemble
(2 members in --quick) minus one model, paired: SPSA accuracy +0.420 ± 0.082 (standard;
one model 0.251 -> ensemble 0.671) and +0.144 ± 0.077 (PGD-trained); transfer accuracy
+0.014 ± 0.050 and -0.003 ± 0.049 (claim 3 confirmed). Full sweep (3 modes x 5 seeds, 2000 steps; 965 s on 2 CPU cores shared with other
jobs; report in docs/studies/adversarial/report.md): PGD <= FGSM <= clean in all 24
(mode, norm, ε) cells (confirmed). Standard: clean 0.935 ± 0.007, PGD-20 at L∞ 0.2
0.247 ± 0.033. PGD-trained at ε 0.2: clean 0.871 ± 0.029, FGSM 0.614 ± 0.023, PGD-20
0.557 ± 0.015 — +0.309 ± 0.030 PGD accuracy for -0.065 ± 0.031 clean, paired by seed
(confirmed). PGD-trained at ε 0.1: +0.205 ± 0.023 PGD accuracy at 0.1 and +0.015 ±
0.011 clean — at a small ε adversarial training regularizes (clean 0.950). Random
ensemble minus one model: SPSA +0.39 (standard), +0.31 / +0.21 (PGD 0.1 / 0.2);
transfer within ±0.03 of 0 (it defeats the finite-difference attack, not transfer).
"""
from __future__ import annotations

import functools
from typing import Any

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from jaxdl import config as config_lib
from jaxdl import models
from jaxdl.probes import adversarial
from jaxdl.study import report, sweep

ATTACK, EPS = "gradient.name", "gradient.eps"
TRAIN_EPS = (0.1, 0.2)
STANDARD = {ATTACK: "plain"}
# PGD-7 L∞ of step 0.05 from a random start, the adversarial loss only (fraction 1): the
# adversarial gradient method's defaults but for the step size
PGD = {ATTACK: "adversarial", "gradient.attack": "pgd", "gradient.step_size": 0.05}
SWEEP = [STANDARD, *({**PGD, EPS: e} for e in TRAIN_EPS)]
SEEDS = range(5)
METRICS = ("test/accuracy", "measure/pgd_linf_0.2", "measure/ensemble_spsa",
           "measure/ensemble_transfer")
QUICK = {"overrides": {"steps": 500, "eval_every": 250, "checkpoint_every": 500},
         "seeds": range(3), "sweep": [STANDARD, {**PGD, EPS: 0.2}]}

GRIDS = {"linf": (0.05, 0.1, 0.2, 0.3), "l2": (0.25, 0.5, 1.0, 2.0)}
PGD_STEPS = 20  # evaluation attack: 20 steps of eps / 8 (2.5 eps in all), random start
DEFENSE_EPS = 0.2  # L∞ budget of the black-box and transfer attacks
DEFENSE_EXAMPLES = 500  # first test signals used for them (SPSA costs 640 queries each)
SPSA = {"steps": 20, "samples": 16, "c": 0.01}

PUBLISHED = {
    "FGSM ε=0.25, MNIST maxout net (Goodfellow et al. 2015)":
        "89.4% error; 17.9% after FGSM adversarial training",
    "PGD-trained, MNIST ε=0.3 (Madry et al. 2018)":
        "98.8% clean, 95.6% FGSM, 93.2% PGD-40, 89.3% PGD-100 x 20 restarts",
    "PGD-trained, CIFAR-10 ε=8/255 (Madry et al. 2018)":
        "87.3% clean (standard 95.2%), 56.1% FGSM, 45.8% PGD-20",
}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """The published MNIST-1D CNN on 2000 steps (the adversarial points' PGD-7: `PGD`)."""
    c = config_lib.default()
    c.steps, c.eval_every, c.checkpoint_every = 2000, 500, 1000
    return c


# ---------------------------------------------------------------- measurements


def measure(ctx) -> dict[str, float]:
    """Clean, FGSM and PGD accuracy on the test set at every ε of `GRIDS`; the random
    ensemble of the other seeds' networks against transfer and SPSA attacks."""
    model, ds = ctx.run.model, ctx.run.dataset
    x, y = jnp.asarray(ds.x_test), jnp.asarray(ds.y_test)
    own = (ctx.state.params, ctx.state.model_state)
    out = {"clean": _clean(model, own, x, y)}
    for j, (norm, grid) in enumerate(GRIDS.items()):
        for i, eps in enumerate(grid):
            key = jax.random.fold_in(jax.random.fold_in(ctx.key, j), i)
            fgsm, pgd = _whitebox(model, norm, own, x, y, key, eps)
            out[f"fgsm_{norm}_{eps:g}"], out[f"pgd_{norm}_{eps:g}"] = fgsm, pgd
    members = _other_seeds(ctx)
    if members:
        n = DEFENSE_EXAMPLES
        out.update(_defense(model, own, adversarial.stack(members), x[:n], y[:n],
                            jax.random.fold_in(ctx.key, len(GRIDS)), DEFENSE_EPS))
        out["ensemble_size"] = len(members)
    return {k: float(v) for k, v in jax.device_get(out).items()}


def _other_seeds(ctx) -> list[Any]:
    """(params, model_state) of this point's other seeds that are done in this sweep."""
    members = []
    for seed in SEEDS:
        if seed != ctx.trial.seed:
            try:
                state = ctx.load(seed=seed)
            except sweep.StudyError:  # not in this sweep (--quick) or shard
                continue
            members.append((state.params, state.model_state))
    return members


def _apply(model, variables, x):
    params, model_state = variables
    return models.apply(model, params, model_state, x, train=False)[0]


@functools.partial(jax.jit, static_argnums=0)
def _clean(model, own, x, y):
    return adversarial.robust_accuracy(lambda x, k: _apply(model, own, x), adversarial.no_attack,
                                       x, y, jax.random.PRNGKey(0))


@functools.partial(jax.jit, static_argnums=(0, 1))
def _whitebox(model, norm: str, own, x, y, key, eps):
    """(FGSM accuracy, PGD accuracy) at `eps` (traced: one program for the whole grid)."""
    f = lambda x: _apply(model, own, x)
    loss, predict = adversarial.mean_loss(f), lambda x, k: f(x)
    fgsm = adversarial.fgsm_attack(loss, eps, norm)
    pgd = adversarial.pgd_attack(loss, eps, eps / 8, PGD_STEPS, norm)
    return (adversarial.robust_accuracy(predict, fgsm, x, y, jax.random.fold_in(key, 0)),
            adversarial.robust_accuracy(predict, pgd, x, y, jax.random.fold_in(key, 1)))


@functools.partial(jax.jit, static_argnums=0)
def _defense(model, own, members, x, y, key, eps):
    """The random ensemble of `members` and its first member alone, against white-box PGD
    (member alone), transfer from `own`, and SPSA; L∞ `eps`."""
    apply = lambda v, x: _apply(model, v, x)
    ensemble = adversarial.random_ensemble(apply, members)
    first = jax.tree.map(lambda a: a[0], members)
    single = lambda x, k: apply(first, x)
    own_loss = adversarial.mean_loss(lambda x: apply(own, x))
    step = eps / 8
    keys = [jax.random.fold_in(key, i) for i in range(4)]
    spsa = lambda target: adversarial.spsa_attack(adversarial.query_loss(target), eps, step,
                                                  SPSA["steps"], "linf", SPSA["samples"], SPSA["c"])
    white = adversarial.pgd_attack(adversarial.mean_loss(lambda x: apply(first, x)), eps, step,
                                   PGD_STEPS)
    return {
        "ensemble_clean": adversarial.robust_accuracy(ensemble, adversarial.no_attack, x, y, keys[0]),
        "single_clean": adversarial.robust_accuracy(single, adversarial.no_attack, x, y, keys[0]),
        "single_pgd": adversarial.robust_accuracy(single, white, x, y, keys[1]),
        "ensemble_transfer": adversarial.transfer_accuracy(ensemble, own_loss, x, y, keys[2], eps,
                                                           step, PGD_STEPS),
        "single_transfer": adversarial.transfer_accuracy(single, own_loss, x, y, keys[2], eps, step,
                                                         PGD_STEPS),
        "ensemble_spsa": adversarial.robust_accuracy(ensemble, spsa(ensemble), x, y, keys[3]),
        "single_spsa": adversarial.robust_accuracy(single, spsa(single), x, y, keys[3]),
    }


# ---------------------------------------------------------------- analysis

DEFENSE_COLUMNS = {"single_clean": "clean, one model", "ensemble_clean": "clean, random ensemble",
                   "single_pgd": "white-box PGD, one model",
                   "single_transfer": "transfer, one model",
                   "ensemble_transfer": "transfer, random ensemble",
                   "single_spsa": "SPSA, one model", "ensemble_spsa": "SPSA, random ensemble"}


def analyze(results: report.Results) -> report.Analysis:
    trials = _trials(results)
    curves = _robust_long(trials)
    summary = report.summarize(curves, ["mode", "norm", "eps", "attack"])
    order = _ordering(curves)
    cost, gain = _training_effects(trials)
    defense, defense_effects = _defense_tables(trials)
    plots = {f"robust accuracy against {norm} ε": _curve_plot(summary, norm) for norm in GRIDS}
    plots["clean and PGD accuracy against the training ε"] = _tradeoff_plot(curves)
    outcomes = _outcomes(order, cost, gain, defense_effects)
    return report.Analysis(
        tables={"Robust accuracy (mean ± 95% CI over seeds)": _curve_table(summary),
                "Adversarial training against standard, paired by seed": report.with_ci_column(
                    pd.concat([cost, gain], ignore_index=True), "change (mean ± 95% CI)"),
                f"Random-ensemble defense, L∞ ε = {DEFENSE_EPS:g} (first {DEFENSE_EXAMPLES} "
                f"test signals)": defense,
                "Random ensemble minus one model, paired by seed": report.with_ci_column(
                    defense_effects, "accuracy difference (mean ± 95% CI)")},
        plots=plots,
        verdict=_verdict(order, cost, gain, defense_effects),
        published=_published(summary, trials, cost, gain, outcomes),
        # The published numbers are of MNIST and CIFAR-10 images: only the direction compares.
        status=report.status_of(list(outcomes.values())))


def _mode(method: str, eps: float) -> str:
    return "standard" if method == "plain" else f"PGD ε={eps:g}"


def _trials(results: report.Results) -> pd.DataFrame:
    """One row per done trial: mode, seed, and every scalar measure as a column."""
    measured = sorted({m.split("/", 1)[1] for m in results.rows["metric"].unique()
                       if m.startswith("measure/")})
    df = results.final("test/accuracy").rename(columns={"value": "test_accuracy"})
    for name in measured:
        df = df.merge(results.final(f"measure/{name}").rename(columns={"value": name}),
                      on=["trial", *results.axes, "seed"], how="left")
    df[EPS] = df[EPS].fillna(0.0) if EPS in df else 0.0  # standard training: ε = 0
    df.insert(1, "mode", [_mode(a, e) for a, e in zip(df[ATTACK], df[EPS])])
    return df


def _robust_long(trials: pd.DataFrame) -> pd.DataFrame:
    """Long rows (mode, seed, norm, eps, attack, value); ε = 0 is the clean accuracy."""
    rows = []
    for _, t in trials.iterrows():
        for norm, grid in GRIDS.items():
            for attack in ("FGSM", "PGD"):
                rows.append((t["mode"], t[EPS], t["seed"], norm, 0.0, attack, t["clean"]))
                rows += [(t["mode"], t[EPS], t["seed"], norm, eps, attack,
                          t[f"{attack.lower()}_{norm}_{eps:g}"]) for eps in grid]
    return pd.DataFrame(rows, columns=["mode", "training ε", "seed", "norm", "eps", "attack",
                                       "value"])


def _ordering(curves: pd.DataFrame) -> dict[str, Any]:
    """Where PGD <= FGSM <= clean fails: per (mode, norm, ε > 0), the paired-by-seed
    differences FGSM - clean and PGD - FGSM; a cell breaks the order when the mean is
    above 0, and *resolvably* so when its 95% interval is above 0."""
    wide = curves.pivot_table(index=["mode", "norm", "eps", "seed"], columns="attack",
                              values="value").reset_index()
    clean = wide[wide.eps == 0].set_index(["mode", "norm", "seed"])["PGD"]
    attacked = wide[wide.eps > 0].copy()
    attacked["clean"] = clean.loc[list(zip(attacked["mode"], attacked["norm"],
                                           attacked["seed"]))].to_numpy()
    breaks = {"FGSM above clean": ("FGSM", "clean"), "PGD above FGSM": ("PGD", "FGSM")}
    out: dict[str, Any] = {"cells": attacked.groupby(["mode", "norm", "eps"]).ngroups}
    for name, (hi, lo) in breaks.items():
        diff = attacked.assign(value=attacked[hi] - attacked[lo])
        s = report.summarize(diff, ["mode", "norm", "eps"])
        above = s[s["mean"] > 0]
        out[name] = {"cells": above[["mode", "norm", "eps"]].to_dict("records"),
                     "resolved": int((above["low"] > 0).sum()),
                     "max": float(above["mean"].max()) if len(above) else 0.0}
    return out


def _paired(trials: pd.DataFrame, column: str, mode: str, label: str) -> dict[str, Any]:
    """mode's `column` minus standard's at the same seed: mean ± 95% CI."""
    a = trials[trials["mode"] == "standard"].set_index("seed")[column]
    b = trials[trials["mode"] == mode].set_index("seed")[column]
    diff = (b - a).dropna()
    mean, low, high = report.mean_ci(diff)
    return {"comparison": label, "mode": mode, "mean": mean, "low": low, "high": high,
            "n": len(diff)}


def _training_effects(trials: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(clean-accuracy cost, PGD-accuracy gain at the training ε) of each PGD mode."""
    modes = [m for m in trials["mode"].unique() if m != "standard"]
    eps_of = lambda m: float(m.split("=")[1])
    cost = pd.DataFrame([_paired(trials, "clean", m, "clean accuracy") for m in modes])
    gain = pd.DataFrame([_paired(trials, f"pgd_linf_{eps_of(m):g}", m,
                                 f"PGD accuracy at L∞ ε={eps_of(m):g}") for m in modes])
    return cost, gain


def _defense_tables(trials: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    present = [c for c in DEFENSE_COLUMNS if c in trials]
    rows = []
    for mode, g in trials.groupby("mode", sort=False):
        rows.append({"mode": mode, **{DEFENSE_COLUMNS[c]: report.ci_text(*report.mean_ci(g[c]), 3)
                                      for c in present}})
    effects = []
    for mode, g in trials.groupby("mode", sort=False):
        for attack in ("spsa", "transfer", "clean"):
            if f"ensemble_{attack}" in g:
                diff = (g[f"ensemble_{attack}"] - g[f"single_{attack}"]).dropna()
                mean, low, high = report.mean_ci(diff)
                effects.append({"mode": mode, "attack": attack, "mean": mean, "low": low,
                                "high": high, "n": len(diff)})
    return pd.DataFrame(rows), pd.DataFrame(effects)


def _curve_table(summary: pd.DataFrame) -> pd.DataFrame:
    """norm, ε, training mode, then FGSM and PGD accuracy (ε = 0: clean)."""
    text = summary.assign(text=[report.ci_text(m, lo, hi, 3) for m, lo, hi in
                                summary[["mean", "low", "high"]].values])
    wide = text.pivot_table(index=["norm", "eps", "mode"], columns="attack", values="text",
                            aggfunc="first").reset_index()
    wide.columns.name = None
    return wide.rename(columns={"mode": "training"})


def _curve_plot(summary: pd.DataFrame, norm: str) -> Figure:
    s = summary[summary.norm == norm]
    return report.line_plot(s, "eps", hue=["mode", "attack"], ylabel="test accuracy",
                            title=f"accuracy under attack against {norm} ε (ε = 0: clean)")


def _tradeoff_plot(curves: pd.DataFrame) -> Figure:
    """Clean accuracy and PGD L∞ accuracy at the training ε's against the training ε."""
    at = curves[(curves.norm == "linf") & (curves.attack == "PGD")
                & curves.eps.isin([0.0, *TRAIN_EPS])]
    summary = report.summarize(at.rename(columns={"eps": "attacked at ε"}),
                               ["training ε", "attacked at ε"])
    return report.line_plot(summary, "training ε", hue=["attacked at ε"], ylabel="test accuracy",
                            title="the price and the gain of PGD training (attacked at ε = 0: "
                                  "clean)")


def _ci(row: Any, digits: int = 3) -> str:
    return report.ci_text(row["mean"], row["low"], row["high"], digits)


def _verdict(order: dict, cost: pd.DataFrame, gain: pd.DataFrame,
             effects: pd.DataFrame) -> str:
    resolved = sum(order[k]["resolved"] for k in ("FGSM above clean", "PGD above FGSM"))
    exceptions = "; ".join(
        f"{name} in {len(b['cells'])} cells (by at most {b['max']:.3f}, "
        f"{b['resolved']} resolvably): {_cells(b['cells'])}"
        for name, b in ((k, order[k]) for k in ("FGSM above clean", "PGD above FGSM"))
        if b["cells"])
    parts = [f"**Ordering PGD <= FGSM <= clean: {'confirmed' if not resolved else 'refuted'}.** "
             f"Of {order['cells']} (training mode, norm, ε) cells, "
             + (f"the mean order holds in all." if not exceptions else
                f"the means break it as follows — {exceptions}; a break whose paired 95% "
                f"interval contains 0 is seed noise, not a resolved violation.")]
    for (_, c), (_, g) in zip(cost.iterrows(), gain.iterrows()):
        robust, costly = g["low"] > 0, c["high"] < 0
        parts.append(
            f"**{c['mode']}: {'robust' if robust else 'no resolved robustness gain'} at its "
            f"training ε, {'at a clean-accuracy cost' if costly else 'with no resolved clean cost'}"
            f".** {g['comparison']} changes by {_ci(g)} against standard training, clean "
            f"accuracy by {_ci(c)} (paired by seed, n = {int(c['n'])}).")
    if len(effects):
        spsa = effects[effects.attack == "spsa"]
        transfer = effects[effects.attack == "transfer"]
        helps_spsa = bool((spsa["low"] > 0).all())
        no_transfer = bool((transfer["high"].to_numpy() < spsa["low"].to_numpy()).all())
        parts.append(
            f"**Random ensemble: {'defeats' if helps_spsa else 'does not reliably defeat'} the "
            f"finite-difference attack{', not the transfer attack' if no_transfer else ''}.** "
            "Accuracy of the random ensemble minus one model, paired by seed: "
            + "; ".join(f"{r['mode']}: SPSA {_ci(r)}" for _, r in spsa.iterrows()) + "; "
            + "; ".join(f"{r['mode']}: transfer {_ci(r)}" for _, r in transfer.iterrows())
            + ". Caveat: an attacker who repeats each query and averages (expectation over the "
              "random choice) estimates the ensemble's mean loss instead; this study does not "
              "try that adaptive attack.")
    return "\n\n".join(parts)


def _side(row: Any, claimed: int) -> str:
    """confirmed when the row's 95% interval lies on the claimed side of 0 (+1: above, -1:
    below), refuted when it lies on the other side, else not resolved."""
    if row["low"] * claimed > 0 and row["high"] * claimed > 0:
        return "confirmed"
    return "refuted" if row["low"] * claimed < 0 and row["high"] * claimed < 0 else "not resolved"


def _outcomes(order: dict, cost: pd.DataFrame, gain: pd.DataFrame,
              effects: pd.DataFrame) -> dict[str, str]:
    """Each claim's outcome, by the verdict's rules: (1) the ordering, refuted by a resolved
    break; (2) per PGD training ε, robust at it (PGD accuracy gain above 0) and at a clean
    cost (clean change below 0); (3) the random ensemble defeats SPSA (every gain above 0)
    and not transfer (its gains below SPSA's): refuted when some SPSA gain is below 0."""
    resolved = sum(order[k]["resolved"] for k in ("FGSM above clean", "PGD above FGSM"))
    out = {"ordering": "refuted" if resolved else "confirmed"}
    for (_, c), (_, g) in zip(cost.iterrows(), gain.iterrows()):
        out[f"{c['mode']}: robust"] = _side(g, +1)
        out[f"{c['mode']}: clean cost"] = _side(c, -1)
    if len(effects):
        spsa = effects[effects.attack == "spsa"]
        transfer = effects[effects.attack == "transfer"]
        no_transfer = bool((transfer["high"].to_numpy() < spsa["low"].to_numpy()).all())
        out["random ensemble"] = (
            "confirmed" if (spsa["low"] > 0).all() and no_transfer else
            "refuted" if (spsa["high"] < 0).any() else "not resolved")
    return out


def _cells(cells: list[dict]) -> str:
    return ", ".join(f"{c['mode']} {c['norm']} ε={c['eps']:g}" for c in cells)


def _published(summary: pd.DataFrame, trials: pd.DataFrame, cost: pd.DataFrame,
               gain: pd.DataFrame, outcomes: dict[str, str]) -> dict[str, tuple[str, str]]:
    def at(mode: str, attack: str, eps: float) -> str:
        row = summary[(summary["mode"] == mode) & (summary.norm == "linf")
                      & np.isclose(summary.eps, eps) & (summary.attack == attack)]
        return _ci(row.iloc[0]) if len(row) else "not run"
    pgd_mode = f"PGD ε={max(trials[EPS]):g}"
    e = max(trials[EPS])
    training = "; ".join(
        f"{c['mode']}: PGD accuracy at its ε {_ci(g)} (robust: {outcomes[c['mode'] + ': robust']}"
        f"), clean {_ci(c)} (a clean cost: {outcomes[c['mode'] + ': clean cost']})"
        for (_, c), (_, g) in zip(cost.iterrows(), gain.iterrows()))
    return {
        "FGSM ε=0.25, MNIST maxout net (Goodfellow et al. 2015)": (
            PUBLISHED["FGSM ε=0.25, MNIST maxout net (Goodfellow et al. 2015)"],
            f"MNIST-1D CNN, L∞ ε=0.2: standard {at('standard', 'FGSM', 0.2)} accuracy; "
            f"PGD ≤ FGSM ≤ clean: {outcomes['ordering']}"),
        "PGD-trained, MNIST ε=0.3 (Madry et al. 2018)": (
            PUBLISHED["PGD-trained, MNIST ε=0.3 (Madry et al. 2018)"],
            f"{pgd_mode}: clean {at(pgd_mode, 'PGD', 0.0)}, FGSM {at(pgd_mode, 'FGSM', e)}, "
            f"PGD-20 {at(pgd_mode, 'PGD', e)} (standard: clean {at('standard', 'PGD', 0.0)}, "
            f"PGD-20 {at('standard', 'PGD', e)}); robust at its ε: "
            f"{outcomes.get(pgd_mode + ': robust')}, at a clean cost: "
            f"{outcomes.get(pgd_mode + ': clean cost')}"),
        "PGD-trained, CIFAR-10 ε=8/255 (Madry et al. 2018)": (
            PUBLISHED["PGD-trained, CIFAR-10 ε=8/255 (Madry et al. 2018)"],
            f"direction only, minus standard training, paired by seed — {training}"),
    }
