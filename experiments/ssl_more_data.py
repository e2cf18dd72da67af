"""More unlabeled data for self-supervised pretraining: more is better, even from shifted sources.

Claim (Barak; the SSL cookbook, Balestriero, LeCun et al. 2023): self-supervised
representations improve with the amount of unlabeled pretraining data, and
unlabeled data from a shifted distribution does not hurt the representation for
the original task ("more is better").

    jaxdl sweep experiments/ssl_more_data.py           # 9 (pool, steps) points x 5 seeds
    jaxdl sweep experiments/ssl_more_data.py --quick   # 5 points x 2 seeds, 250-4000 steps

Setting: SimCLR (as in experiments/ssl_methods.py: the published CNN's backbone, the
`mnist1d` views, batch 100) pretrained on an unlabeled pool from the MNIST-1D generator:
4000, 16000 or 64000 signals of the default distribution, or a 16000-signal mixture of
the 4000 default signals and 12000 of a shifted generator (shear ×2, or correlated noise
×2; `data.mix_samples`, `data.mix_shift`, with their own seed `data.mix_seed`) — the pool
is the run's training set, labels unused. Every network is then read out the same way
(measure): a linear probe (jaxdl/probes/linear_probe.py) fitted on the published 4000
labelled training signals and scored on the published 1000 test signals.

Compute: at a fixed number of steps a larger pool is seen for fewer epochs (at 4000
steps the 4000 signals 100 times, 64000 signals 6.25 times), so "more data" is compared
two ways, each paired by seed against the 4000 default signals: at equal steps (4000
for every pool; 16000 for the default pools) and at equal epochs (the 4000 signals
trained for steps · 4000 / pool size: 1000 steps, 25 epochs, against 16000 signals and
the mixtures at 4000 steps and 64000 at 16000; 4000 steps, 100 epochs, against 16000 at
16000). Cut for time: 64000 signals at 64000 steps (their 100 epochs: ~27 min for 5 seeds,
from a timed trial — `jaxdl train --config experiments/ssl_more_data.py
--config.data.num_samples=65000 --config.data.train_split=0.9846153846153847`, 4000 steps
in 20 s on the 2 busy cores) and the mixtures at 16000 steps. Besides, each mixture
against 16000 default signals (the same size, steps and epochs): is a shifted signal
worth a default one?

Verdict (paired by seed, on 95% intervals; `more_data_outcomes`), for each way of
matching compute: more default data helps — refuted if some larger default pool's
interval of the change lies below 0, confirmed when the largest pool's lies above 0 at
every budget, not resolved otherwise; shifted data does not lower it — refuted if some
mixture's interval lies below 0, confirmed when none does.

Published result it checks: the qualitative claim; no MNIST-1D number is published.

Measured (the first sweep's 25 trials at 4000 steps, 1113 s, resumed in
/work/full-ssl_more_data-2 with the 20 trials of the compute axis: 906 s of sweep, 916 s
of wall time at nice 10 on 2 busy CPU cores, an Intel Xeon; report in
docs/studies/ssl_more_data/report.md; probe test accuracy, mean ± 95% CI over 5 seeds):
4,000 default at 1000 / 4000 / 16000 steps 0.669 ± 0.023 / 0.745 ± 0.010 / 0.800 ± 0.024;
16,000 default at 4000 / 16000 steps 0.752 ± 0.019 / 0.806 ± 0.016; 64,000 default at
4000 / 16000 steps 0.766 ± 0.021 / 0.823 ± 0.015; at 4000 steps + shear ×2 0.737 ± 0.011,
+ corr. noise ×2 0.700 ± 0.027. Paired by seed against the 4,000 default signals:

- at equal steps, 16,000 default +0.007 ± 0.018 (4000 steps) and +0.006 ± 0.022 (16000);
  64,000 default +0.021 ± 0.017 (4000) and +0.023 ± 0.031 (16000): more default data
  helps not resolved (the largest pool's gain is resolved at 4000 steps only); + shear ×2
  -0.008 ± 0.010, + corr. noise ×2 -0.045 ± 0.018: shifted data lowers it, refuted.
- at equal epochs, 16,000 default +0.082 ± 0.019 (25 epochs) and +0.061 ± 0.010 (100);
  64,000 default +0.154 ± 0.018 (25): more default data helps, confirmed; + shear ×2
  +0.068 ± 0.019, + corr. noise ×2 +0.031 ± 0.039 (25 epochs): shifted data does not
  lower it, confirmed.

So at a fixed compute budget more unlabeled data buys little here — 4x the steps on the
4000 signals (+0.055, 0.745 to 0.800) is worth more than 16x the signals at either budget
(at most +0.023) — and the equal-epoch gains are mostly the larger pool's extra steps. The
correlated-noise mixture hurts at equal steps. Against 16,000 default signals the mixtures
are -0.014 ± 0.014 (shear) and -0.051 ± 0.027 (noise): a shifted signal is worth less
than a default one. Status: partly reproduced (2 of 4 outcomes confirmed, both at equal
epochs). (The 4,000 default signals are the published training set, on which the probe is
then fitted.)
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
BATCH, STEPS = 100, 4000  # the SimCLR recipe's (get_config): a point's steps default to it
BASE = 4000  # the published training signals: every pool holds them, the smallest only them


SHIFTS = {"shear_scale=1.5": "shear ×2", "corr_noise_scale=0.5": "corr. noise ×2"}


def pool(size: int, shifted: int = 0, shift: str = "", steps: int | None = None) -> dict:
    """Sweep point: an unlabeled pool of `size` default signals, plus `shifted` signals
    of the generator under `shift` (a data.mix_shift, one of SHIFTS), pretrained for
    `steps` (None: the config's STEPS; a point without the key keeps its trial id)."""
    total = size + HELD_OUT
    mixture = {"data.mix_samples": shifted, "data.mix_shift": shift} if shifted else {}
    budget = {} if steps is None else {"steps": steps}
    return {"data.num_samples": total, "data.train_split": size / total, **mixture, **budget}


# The compute axis: 4000 steps for every pool (equal steps, the first sweep's), and the
# steps that give a pool the epochs of another at 4000 steps (equal epochs): the 4000 pool
# at 1000 steps sees the 25 epochs of 16000 signals (or a 16000-signal mixture) at 4000
# steps and of 64000 at 16000; 16000 at 16000 steps sees the 100 epochs of 4000 at 4000.
# 16000 steps for 4000 and 64000 signals also give a second equal-steps budget. Cut for
# time (~20 min more on 2 busy cores): 64000 signals at 64000 steps (100 epochs, ~30 min
# alone) and the mixtures at 16000 steps.
POOLS = [pool(4000), pool(16000), pool(64000), pool(4000, 12000, "shear_scale=1.5"),
         pool(4000, 12000, "corr_noise_scale=0.5")]
BUDGETS = [pool(4000, steps=1000), pool(4000, steps=16000), pool(16000, steps=16000),
           pool(64000, steps=16000)]
SWEEP = POOLS + BUDGETS
SEEDS = range(5)
METRICS = ("measure/probe_accuracy",)
PUBLISHED = {"more unlabeled data does not lower probe accuracy (SSL cookbook 2023)": "yes"}
QUICK = {"overrides": {"steps": 1000, "eval_every": 500, "checkpoint_every": 1000},
         "seeds": range(2), "sweep": [pool(4000), pool(16000), pool(4000, 12000, "shear_scale=1.5"),
                                      pool(4000, steps=250), pool(16000, steps=4000)]}


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
    """"4,000 default" or "4,000 default + 12,000 shear ×2"."""
    size = int(round(row["data.num_samples"] * row["data.train_split"]))
    shifted = row.get("data.mix_samples")
    if shifted is None or shifted != shifted or not shifted:  # absent, NaN or 0
        return f"{size:,} default"
    return f"{size:,} default + {int(shifted):,} {SHIFTS[row['data.mix_shift']]}"


def _signals(row: pd.Series) -> int:
    """The pool's training signals: default plus shifted."""
    shifted = row.get("data.mix_samples")
    shifted = 0 if shifted is None or shifted != shifted else int(shifted)
    return int(round(row["data.num_samples"] * row["data.train_split"])) + shifted


def trials(results: report.Results) -> pd.DataFrame:
    """One row per done trial: pool, signals, steps, epochs, seed, value (probe accuracy).
    A trial's steps are those of its last logged row (measure's rows sit at the last step),
    so the first sweep's trials, whose points name no steps, read as trained for theirs."""
    rows = results.rows
    done = rows[(rows["status"] == "done") & (rows["metric"] == "measure/probe_accuracy")]
    last = done.loc[done.groupby("trial")["step"].idxmax()] if len(done) else done
    out = pd.DataFrame({"pool": last.apply(_label, axis=1) if len(last) else [],
                        "signals": last.apply(_signals, axis=1) if len(last) else [],
                        "steps": last["step"].astype(int), "seed": last["seed"],
                        "value": last["value"]}).reset_index(drop=True)
    return out.assign(epochs=out["steps"] * BATCH / out["signals"])


def paired_changes(final: pd.DataFrame, base: str, pools: list[str], steps: int | None = None,
                   against_steps: int | None = None) -> pd.DataFrame:
    """Probe accuracy of each of `pools` (at `steps`; None: any) minus that of `base` (at
    `against_steps`, default `steps`), paired by seed: mean, 95% CI."""
    def at(name: str, n: int | None) -> pd.Series:
        df = final[final["pool"] == name]
        df = df if n is None or "steps" not in df else df[df["steps"] == n]
        return df.set_index("seed")["value"]

    reference = at(base, steps if against_steps is None else against_steps)
    rows = []
    for name in pools:
        d = (at(name, steps) - reference).dropna()
        mean, low, high = report.mean_ci(d)
        rows.append({"pool": name, "against": base, "mean": mean, "low": low, "high": high,
                     "n": len(d)})
    return pd.DataFrame(rows, columns=["pool", "against", "mean", "low", "high", "n"])


def comparisons(final: pd.DataFrame) -> pd.DataFrame:
    """Every larger pool against the 4,000 default signals, paired by seed, at equal steps
    (the same steps) and at equal epochs (the 4,000 signals trained for steps · 4000 /
    signals): kind, pool, steps, epochs, against_steps, mean, low, high, n. A comparison
    whose reference was not trained is left out."""
    base = f"{BASE:,} default"
    trained = set(final.loc[final["pool"] == base, "steps"])
    rows = []
    for (name, steps), g in final[final["pool"] != base].groupby(["pool", "steps"], sort=False):
        signals = int(g["signals"].iloc[0])
        for kind, ref in (("equal steps", steps), ("equal epochs", steps * BASE / signals)):
            if ref not in trained:
                continue
            change = paired_changes(final, base, [name], steps, int(ref))
            rows.append(change.assign(kind=kind, steps=steps, epochs=steps * BATCH / signals,
                                      against_steps=int(ref)))
    columns = ["kind", "pool", "steps", "epochs", "against", "against_steps",
               "mean", "low", "high", "n"]
    if not rows:
        return pd.DataFrame(columns=columns)
    # Equal steps first, then by budget and pool: the table reads as the verdict does.
    return pd.concat(rows)[columns].sort_values(
        ["kind", "steps", "pool"], ascending=[False, True, True]).reset_index(drop=True)


def same_size_changes(final: pd.DataFrame) -> pd.DataFrame | None:
    """Each mixture against 16,000 default signals (the same pool size) at the steps the
    mixture was trained for, paired by seed; None without both."""
    same_size = "16,000 default"
    mixed = final[final["pool"].str.contains("+", regex=False)]
    parts = [paired_changes(final, same_size, [name], int(steps))
             for (name, steps), _ in mixed.groupby(["pool", "steps"])
             if ((final["pool"] == same_size) & (final["steps"] == steps)).any()]
    return pd.concat(parts, ignore_index=True) if parts else None


def more_data_outcomes(changes: pd.DataFrame) -> tuple[str, str]:
    """The claim's two parts, from one kind of comparison against the 4,000 default
    signals (`comparisons` of one kind), paired by seed: more default data helps (refuted
    when some default pool's interval lies below 0; confirmed when the largest default
    pool's interval lies above 0 at every budget it was trained for; else not resolved),
    and shifted data does not lower the probe accuracy (refuted when some mixture's
    interval lies below 0, confirmed when none does; not resolved with no mixture)."""
    mixed = changes["pool"].str.contains("+", regex=False)
    default = changes[~mixed]
    sizes = default["pool"].map(lambda name: int(name.split()[0].replace(",", "")))
    largest = default[sizes == sizes.max()] if len(default) else default
    more = ("refuted" if (default["high"] < 0).any() else
            "confirmed" if len(largest) and (largest["low"] > 0).all() else "not resolved")
    shifted = changes[mixed]
    return more, ("refuted" if (shifted["high"] < 0).any() else
                  "confirmed" if len(shifted) else "not resolved")


def analyze(results: report.Results) -> report.Analysis:
    final = trials(results)
    summary = report.summarize(final, ["pool", "signals", "steps", "epochs"])
    summary = summary.sort_values(["signals", "pool", "steps"]).reset_index(drop=True)
    changes = comparisons(final)
    outcomes = {kind: more_data_outcomes(changes[changes["kind"] == kind])
                for kind in ("equal steps", "equal epochs")}
    worth = same_size_changes(final)
    steps_more, steps_shifted = outcomes["equal steps"]
    epochs_more, epochs_shifted = outcomes["equal epochs"]
    verdict = (
        f"**More default data helps: {steps_more} at equal steps, {epochs_more} at equal "
        f"epochs.** Against pretraining on the {BASE:,} default signals, paired by seed, "
        "either trained for the same steps or for the same epochs (the smaller pool then "
        "gets fewer steps): refuted if some larger default pool's 95% interval of the change "
        "in probe accuracy lies below 0, confirmed when the largest pool's lies above 0 at "
        "every budget, not resolved otherwise. "
        + _kind_text(changes, "default") + "\n\n"
        f"**Shifted unlabeled data does not lower it: {steps_shifted} at equal steps, "
        f"{epochs_shifted} at equal epochs.** Refuted if some mixture's interval against the "
        f"{BASE:,} default signals lies below 0, confirmed when none does. "
        + _kind_text(changes, "mixture")
        + (" Against 16,000 default signals (the same pool size, steps and epochs), the "
           "mixtures change it by " + _changes_text(worth) + ": a shifted signal is worth "
           + ("less than" if (worth["high"] < 0).any() else "as much as (within the intervals)")
           + " a default one." if worth is not None else ""))
    tables = {"Probe accuracy by pretraining pool and steps (mean ± 95% CI)":
              report.with_ci_column(summary, "probe accuracy"),
              f"Change against the {BASE:,} default signals, paired by seed":
              report.with_ci_column(changes, "Δ probe accuracy")}
    if worth is not None:
        tables["Mixtures against 16,000 default signals, paired by seed"] = \
            report.with_ci_column(worth, "Δ probe accuracy")
    plots = {f"Probe accuracy against pretraining {x}": report.line_plot(
        summary, x, hue=["pool"], ylabel="probe test accuracy",
        title=f"SimCLR pretraining pools, by {x}") for x in ("steps", "epochs")}
    return report.Analysis(
        tables=tables, plots=plots, verdict=verdict,
        published={"more unlabeled data does not lower probe accuracy (SSL cookbook 2023)": (
            "yes", f"more default data helps: {steps_more} at equal steps, {epochs_more} at "
            f"equal epochs; shifted data does not lower it: {steps_shifted} at equal steps, "
            f"{epochs_shifted} at equal epochs")},
        # The claim is qualitative (no MNIST-1D number is published).
        status=report.status_of([steps_more, epochs_more, steps_shifted, epochs_shifted]))


def _kind_text(changes: pd.DataFrame, which: str) -> str:
    """The changes of the default pools (or the mixtures), by kind of comparison."""
    mixed = changes["pool"].str.contains("+", regex=False)
    part = changes[mixed if which == "mixture" else ~mixed]
    texts = []
    for kind in ("equal steps", "equal epochs"):
        rows = part[part["kind"] == kind]
        if len(rows):
            texts.append(f"At {kind}: " + "; ".join(
                f"{r['pool']} ({r['steps']:,} steps, {r['epochs']:g} epochs; against "
                f"{r['against_steps']:,} steps) {report.ci_text(r['mean'], r['low'], r['high'], 3)}"
                for _, r in rows.iterrows()) + ".")
        else:
            texts.append(f"At {kind}: no pair of trials to compare.")
    return " ".join(texts)


def _changes_text(changes: pd.DataFrame) -> str:
    return "; ".join(f"{r['pool']} {report.ci_text(r['mean'], r['low'], r['high'], 3)}"
                     for _, r in changes.iterrows())
