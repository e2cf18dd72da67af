"""Trainability: optimizers × schedules, and what lets a deep network train at all.

Claims. (A) Optimizers, each at its own tuned learning rate, on the MNIST-1D CNN: (A1)
decaying the learning rate (cosine, step) ends training at a lower training loss than
keeping it constant, for every optimizer (Loshchilov & Hutter 2017, SGDR; the step decay of
He et al. 2016); (A2) adaptive methods generalize worse than (momentum) SGD when both are
tuned (Wilson et al. 2017). (B) A deep ReLU MLP: (B1) He initialization keeps the signal's
variance through the layers and trains a 30-layer plain net that Xavier's init stalls, while
at about 20 layers both train, He's sooner (He et al. 2015); (B2) batch norm makes training
tolerate a bad initialization and speeds it up (Ioffe & Szegedy 2015); (B3) residual
connections make the deep net easier to optimize, while a plain deep net trains worse than a
shallower one (He et al. 2016, the "degradation problem"). Every result is shown as its
distribution over seeds, not only as a mean.

    jaxdl sweep experiments/trainability.py           # 31 configurations x 10 seeds, report.md
    jaxdl sweep experiments/trainability.py --quick   # 19 configurations x 2 seeds, 500 steps

Setting, part A: the published MNIST-1D CNN (batch 100, 1500 steps), optimizers SGD,
momentum (heavy ball, 0.9), Nesterov (0.9), Adam, AdamW (decoupled weight decay 1e-2, the
PyTorch default) and LARS (momentum 0.9, trust coefficient 1e-3; biases take the plain
step), each × constant, cosine (to 0) and step (x0.1 at 50% and 75% of the steps) schedules.
Learning rates, tuned per optimizer on the constant schedule (half-decade grids, 1500 steps,
seeds 100 and 101 — not the study's seeds —, best mean test accuracy): SGD 0.3 (grid 0.03
0.57, 0.1 0.83, 0.3 0.92/0.81, 1.0 0.09/0.69), momentum 0.1 (0.01 0.82, 0.03 0.92/0.90, 0.1
0.91/0.92), Nesterov 0.1 (0.01 0.83, 0.03 0.89/0.88, 0.1 0.93/0.92), Adam 1e-2 (3e-3 0.86,
1e-2 0.92/0.92, 3e-2 0.90), AdamW 1e-2 (3e-3 0.86, 1e-2 0.91/0.93, 3e-2 0.92/0.91), LARS 3
(0.3 0.52, 1 0.77, 3 0.89/0.91, 5 0.88/0.85, 10 0.10). SGD, momentum and Nesterov land on
similar *effective* rates lr/(1 - momentum) of 0.3-1. Each optimizer's best schedule (A2) is
the one of highest mean test accuracy on seeds 5-9, and every part-A number is over seeds
0-4, so the choice's luck on its seeds does not inflate what is reported. Part B: an MLP of
width 64 and depth 20 (and 4, as the shallow reference) on MNIST-1D, heavy-ball momentum 0.9
at lr 0.01, constant, 1500 steps, the same for every configuration (as He et al. compare
theirs; on seed 0, lr 0.01 beat 0.05 for plain, plain+BN and residual+BN at He init: train
accuracy 0.71 vs 0.54, 0.64 vs 0.61, 0.88 vs 0.49); plain or residual (h + relu(Wh)) × batch
norm (Dense -> BN -> ReLU) or not × He init (N(0, 2/fan_in)) or a naive init (N(0, 0.01²)
for every weight matrix, the "small random numbers" of pre-2010 practice: each ReLU layer of
width 64 multiplies the signal's scale by about 0.01·sqrt(64/2) ≈ 0.06); and the plain net
without BN at Xavier's init (Glorot & Bengio 2010, N(0, 2/(fan_in + fan_out)), 1/64 at width
64: each ReLU layer halves the signal's variance) at depth 20 and, with He init too, at He
et al.'s 30 layers. A seed *trains* when its final train accuracy exceeds chance (0.1) +
0.1; a diverged seed (NaN) does not. Part B picks none of its configurations by its results,
so it reports on all 10 seeds.

Published results it checks: He et al. 2016 (CVPR, "Deep residual learning"), ImageNet top-1
error, 10-crop: plain-18 27.94%, plain-34 28.54% (deeper is worse: degradation), ResNet-18
27.88%, ResNet-34 25.03%; both families have batch norm. Ioffe & Szegedy 2015 (ICML):
BN-Inception matches Inception's 72.2% accuracy in 14x fewer steps and trains with sigmoids,
where plain Inception does not. He et al. 2015 (ICCV, "Delving deep into rectifiers"): a
30-layer ReLU net converges with their init and stalls with Xavier's; at 22 layers both
converge, theirs sooner. Wilson et al. 2017 (NeurIPS): on CIFAR-10 (VGG), tuned SGD and
heavy ball end at a test error about 2 points below tuned Adam's, though Adam lowers the
training loss faster early on. Loshchilov & Hutter 2017 (ICLR, SGDR): cosine annealing (with
warm restarts) matches or beats the step schedule of wide ResNets on CIFAR-10/100, at a
smaller budget.

Measured (the full sweep: 310 trials on a 2-core Intel Xeon shared with other jobs, the
first 140 (seeds 0-4, no Xavier) in 1510 s, the other 170 resumed on them in 332 s, as the
sweep reports its time; --quick: 38 trials, 67 s; mean ± 95% CI, Δ paired by seed):
(A) over seeds 0-4. Test accuracy, each optimizer at the schedule chosen on seeds 5-9 (the
same schedule that seeds 0-4 would have picked, for every optimizer): momentum+step 0.945 ±
0.004, Nesterov+step 0.942 ± 0.002, Adam+constant 0.932 ± 0.008, AdamW+constant 0.932 ±
0.014, SGD+constant 0.924 ± 0.016, LARS+constant 0.885 ± 0.018. A1 refuted as stated: decay
cut the final train loss 7.6-27x for momentum and Nesterov (momentum, cosine: Δ log10 -1.44
± 0.20) but raised it ~4x for SGD and ~6x for AdamW (Adam: not resolved, LARS: unchanged).
With peak rates tuned on the constant schedule, decay helps where the constant rate sits on
a noise floor (momentum's effective rate is 1.0) and hurts where it is still descending
after 1500 steps — a finite-budget result, not a test of the asymptotic claim. A2 mostly
confirmed: at their held-out-chosen schedules Adam and AdamW end 1.0-1.3 points of test
accuracy below momentum and Nesterov (3 of 4 paired intervals exclude 0; Adam - momentum
-0.013 ± 0.011), the direction and size of Wilson et al.'s gap; at a constant schedule
Adam is *ahead* of momentum by 0.031 ± 0.024 — the ranking flips with the schedule.
(B) over seeds 0-9. B1 refuted as stated, by one seed: at depth 30 He init trains the plain
net on 10 of 10 seeds (train accuracy 0.604 ± 0.031, each above 0.2 by step 250) and
Xavier's on 1 of 10 (Fisher p = 6e-05): nine stay at 0.103 with loss 2.3025 = ln 10 (the
output never leaves the uniform guess), the tenth sat at chance to step 1000 and reached
0.275 at step 1500. At depth 20 (He et al.'s 22 layers) confirmed: both inits train on 10
of 10 seeds and He ends at 0.74x Xavier's train loss (Δ log10 -0.131 ± 0.036; train
accuracy 0.739 ± 0.015 vs 0.625 ± 0.040). The naive init, a second row, trains the depth-20
plain net on none (0.103 and ln 10 on every seed; p = 5.4e-06 against He). B2, tolerance
confirmed: with BN the naive init trains on 9 of 10 seeds (p = 6e-05) — the tenth (seed 1)
reached 0.50 at step 1250 and collapsed to 0.055 by step 1500, 0.17 even with batch
statistics, so its weights broke, not the running averages — and residual+BN on 10 of 10.
B2, speed refuted here: at He init BN multiplies the plain net's final train loss by 1.38
(Δ log10 0.141 ± 0.021), in line with the gradient explosion batch norm causes in deep
plain nets (Yang et al. 2019, "A mean field theory of batch normalization"). B3 confirmed:
at depth 20 residual+BN ends at 0.32x the train loss of plain+BN (Δ log10 -0.502 ± 0.095);
from depth 4 to 20 plain+BN's loss grows 4.4x (0.640 ± 0.028) and residual+BN's 1.04x
(0.018 ± 0.100, not resolved): degradation in the plain family, none resolvable in the
residual one. Observed besides: without BN the residual net diverges at step 1 or 2 on
every seed at He init, and at the naive init trains on every seed to the best test
accuracy of the depth-20 nets (0.640 ± 0.012).
"""
from __future__ import annotations

from typing import NamedTuple, Sequence

import ml_collections
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from jaxdl import config as config_lib
from jaxdl.study import measure as measure_lib  # not `measure`: a study's measure(ctx)
from jaxdl.study import report, sweep
from jaxdl.study import store as store_lib

CNN, MLP = "cnn1d", "mlp"
CHANCE, MARGIN = 0.1, 0.1
TRAINS_ABOVE = CHANCE + MARGIN  # final train accuracy above this: the seed trains

# ---------------------------------------------------------------- part A: optimizers

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "lars")
SCHEDULES = ("constant", "cosine", "step")
LRS = {"sgd": 0.3, "momentum": 0.1, "nesterov": 0.1, "adam": 1e-2, "adamw": 1e-2, "lars": 3.0}
WEIGHT_DECAY = {"adamw": 1e-2}  # decoupled; the other optimizers run without decay
ADAPTIVE, SGD_FAMILY = ("adam", "adamw"), ("sgd", "momentum", "nesterov")


def optimizer_points(optimizers: Sequence[str] = OPTIMIZERS,
                     schedules: Sequence[str] = SCHEDULES) -> sweep.Sweep:
    """The CNN with each optimizer at its tuned lr, under each schedule."""
    return [{"model.name": CNN, "optimizer.name": o, "optimizer.lr": LRS[o],
             "optimizer.weight_decay": WEIGHT_DECAY.get(o, 0.0), "optimizer.schedule.name": s}
            for o in optimizers for s in schedules]


# ---------------------------------------------------------------- part B: architectures

DEPTH, SHALLOW, WIDTH = 20, 4, 64
DEEPEST = 30  # He et al. 2015's depth where Xavier's init stalls (at 22 both converge)
ARCH_OPTIMIZER = {"optimizer.name": "momentum", "optimizer.lr": 0.01,
                  "optimizer.schedule.name": "constant"}
# Xavier: Glorot & Bengio's variance 2 / (fan_in + fan_out), the init He et al. 2015
# compare theirs with; naive: the "small random numbers" of pre-2010 practice.
INITS = {"he": {"model.weight_init": "he", "model.init_scale": 1.0},
         "xavier": {"model.weight_init": "glorot", "model.init_scale": 1.0},
         "naive": {"model.weight_init": "normal", "model.init_scale": 0.01}}
INIT_NAMES = {v["model.weight_init"]: k for k, v in INITS.items()}  # weight_init -> name


def architecture_points(depth: int, residuals: Sequence[bool] = (False, True),
                        batch_norms: Sequence[bool] = (False, True),
                        inits: Sequence[str] = ("he", "naive")) -> sweep.Sweep:
    """The width-64 MLP at `depth`, plain or residual × batch norm or not × init."""
    return [{"model.name": MLP, "model.depth": depth, "model.width": WIDTH,
             "model.residual": r, "model.batch_norm": b, **INITS[i], **ARCH_OPTIMIZER}
            for r in residuals for b in batch_norms for i in inits]


# Shallow references for the degradation claim: with batch norm and He init, as He et al.
# 2016 compare their plain and residual nets.
REFERENCES = architecture_points(SHALLOW, batch_norms=(True,), inits=("he",))
# He vs Xavier on the plain net without BN, as He et al. 2015 compare them: at depth 20
# (their 22 layers: both converge, He sooner) and at their 30 layers (Xavier stalls).
XAVIER = sweep.concat(architecture_points(DEPTH, (False,), (False,), ("xavier",)),
                      architecture_points(DEEPEST, (False,), (False,), ("he", "xavier")))

SWEEP = sweep.concat(optimizer_points(), architecture_points(DEPTH), REFERENCES, XAVIER)
# Part A picks each optimizer's best schedule (A2) on the second half of the seeds and
# reports on the first half, so the choice does not inflate the numbers it reports
# (`split_seeds`). Part B chooses nothing: it reports on every seed.
SEEDS = range(10)
METRICS = ("train/loss", "train/accuracy", "test/accuracy")
QUICK = {"overrides": {"steps": 500, "eval_every": 100, "checkpoint_every": 500},
         "seeds": range(2),
         "sweep": sweep.concat(optimizer_points(("sgd", "momentum", "adam", "lars"),
                                                ("constant", "cosine")),
                               architecture_points(DEPTH), XAVIER)}

PUBLISHED = {
    "ImageNet top-1 error, plain-18 / plain-34 (He et al. 2016)": "27.94% / 28.54%",
    "ImageNet top-1 error, ResNet-18 / ResNet-34 (He et al. 2016)": "27.88% / 25.03%",
    "BN-Inception: steps to Inception's 72.2% (Ioffe & Szegedy 2015)": "14x fewer",
    "30-layer ReLU net: He init vs Xavier (He et al. 2015)": "converges vs stalls",
    "22-layer ReLU net: He init vs Xavier (He et al. 2015)": "both converge, He sooner",
    "CIFAR-10 VGG test error, SGD / Adam (Wilson et al. 2017)": "Adam ~2 points worse",
}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """The published MNIST-1D CNN recipe on 1500 steps, evaluated every 250 (curves)."""
    c = config_lib.default()
    c.steps, c.eval_every, c.checkpoint_every = 1500, 250, 750
    return c


# ---------------------------------------------------------------- tables


def label(row: pd.Series) -> str:
    """'residual+BN, he, d20'-style name of a part-B configuration."""
    kind = "residual" if row["model.residual"] else "plain"
    init = INIT_NAMES[row["model.weight_init"]]
    return f"{kind}{'+BN' if row['model.batch_norm'] else ''}, {init}, d{int(row['model.depth'])}"


def config_order(config: str) -> tuple:
    """Sort key of part-B labels: deep before shallow, plain before residual, no BN before
    BN, then he, xavier, naive."""
    kind, init, depth = config.split(", ")
    return (-int(depth[1:]), kind.startswith("residual"), "+BN" in kind, list(INITS).index(init))


def part(df: pd.DataFrame, model: str) -> pd.DataFrame:
    """The rows of part A (model `CNN`: columns `optimizer`, `schedule` added) or of part B
    (`MLP`: column `config`, its label), in the order the tables show them."""
    df = df[df["model.name"] == model].copy()
    if df.empty:
        return df.assign(optimizer=[], schedule=[], config=[])
    if model == CNN:
        df["optimizer"] = df["optimizer.name"]
        df["schedule"] = df["optimizer.schedule.name"]
        key = lambda d: (d["optimizer"].map(OPTIMIZERS.index) * len(SCHEDULES)
                         + d["schedule"].map(SCHEDULES.index))
    else:
        df["config"] = df.apply(label, axis=1)
        ranks = {c: i for i, c in enumerate(sorted(set(df["config"]), key=config_order))}
        key = lambda d: d["config"].map(ranks)
    df = df.assign(_order=key(df)).sort_values(["_order", "seed"], kind="stable")
    return df.drop(columns="_order").reset_index(drop=True)


def distribution(df: pd.DataFrame, by: Sequence[str], digits: int = 3) -> pd.DataFrame:
    """Per group (in the frame's order): mean ± 95% CI, median, min, max and every seed's
    value in seed order — the spread, not only the mean."""
    rows = []
    for key, g in df.groupby(list(by), sort=False):
        key = key if isinstance(key, tuple) else (key,)
        v = g.sort_values("seed")["value"].to_numpy(float)
        rows.append({**dict(zip(by, key)),
                     "mean ± 95% CI": report.ci_text(*report.mean_ci(v), digits=digits),
                     "median": round(float(np.median(v)), digits),
                     "min": round(float(v.min()), digits), "max": round(float(v.max()), digits),
                     "per seed": " ".join(f"{x:.{digits}f}" for x in v), "n": len(v)})
    return pd.DataFrame(rows)


class Count(NamedTuple):
    """Seeds of one part-B configuration."""
    trains: int  # final train accuracy > TRAINS_ABOVE
    runs: int  # seeds run, diverged ones included
    diverged: int  # stopped on a NaN/Inf loss: they do not train
    collapsed: int  # above TRAINS_ABOVE at an earlier evaluation, not at the end

    def text(self) -> str:
        return f"{self.trains} of {self.runs}" if self.runs else "not run"


def trains_count(acc: pd.DataFrame, curves: pd.DataFrame, failed: pd.DataFrame
                 ) -> dict[str, Count]:
    """Per part-B configuration, from the final train accuracies `acc`, every evaluation's
    `curves` and the `failed` (diverged) trials: how many seeds train (see `Count`)."""
    peak = curves.groupby("trial")["value"].max()
    counts = {}
    for config, g in acc.groupby("config", sort=False):
        final_ok = g["value"].to_numpy() > TRAINS_ABOVE
        peak_ok = g["trial"].map(peak).to_numpy() > TRAINS_ABOVE
        counts[config] = Count(int(final_ok.sum()), len(g), 0, int((peak_ok & ~final_ok).sum()))
    for config in failed["config"] if "config" in failed else ():
        k, n, d, c = counts.get(config, Count(0, 0, 0, 0))
        counts[config] = Count(k, n + 1, d + 1, c)
    return {c: counts[c] for c in sorted(counts, key=config_order)}


def steps_to_train(curves: pd.DataFrame) -> dict[str, list[float]]:
    """Per part-B configuration, each seed's first evaluated step whose train accuracy
    exceeds TRAINS_ABOVE (NaN: never), in seed order: how long a seed stalls."""
    above = float(np.nextafter(TRAINS_ABOVE, 1.0))  # first_step counts ">=": here ">"
    return {config: [measure_lib.first_step(dict(zip(s["step"], s["value"])), above)
                     for _, s in g.groupby("seed")]
            for config, g in curves.groupby("config")}


def more_train(a: Count | None, b: Count | None) -> float | None:
    """One-sided Fisher exact p-value that seeds train more often under `b` than `a`."""
    from scipy import stats
    if a is None or b is None or not a.runs or not b.runs:
        return None
    table = [[b.trains, b.runs - b.trains], [a.trains, a.runs - a.trains]]
    return float(stats.fisher_exact(table, alternative="greater")[1])


def paired(df: pd.DataFrame, key: str, a, b) -> pd.Series | None:
    """Mean, 95% CI and n of value(b) - value(a) along column `key`, paired by seed; None
    when either side is missing. (report.paired_effect pairs on every other axis column,
    which the two parts of this study leave empty for each other.)"""
    wide = df.pivot_table(index="seed", columns=key, values="value")
    if a not in wide.columns or b not in wide.columns:
        return None
    diff = (wide[b] - wide[a]).dropna()
    if diff.empty:
        return None
    mean, low, high = report.mean_ci(diff.to_numpy())
    return pd.Series({"mean": mean, "low": low, "high": high, "n": len(diff)})


def effect_text(e: pd.Series | None, log: bool = False, digits: int = 3) -> str:
    """'-0.113 ± 0.260 (0.771x the loss, n = 5)'; 'not run' for a missing comparison."""
    if e is None:
        return "not run"
    ratio = f"{10 ** e['mean']:.3g}x the loss, " if log else ""
    return f"{report.ci_text(e['mean'], e['low'], e['high'], digits)} ({ratio}n = {int(e['n'])})"


def sign_word(e: pd.Series | None, claimed: str = "below") -> str:
    """'confirmed' when the paired 95% interval lies on the claimed side of 0, 'refuted'
    when it lies on the other side, else 'not resolved'."""
    if e is None:
        return "not tested"
    below, above = e["high"] < 0, e["low"] > 0
    if claimed == "above":
        below, above = above, below
    return "confirmed" if below else "refuted" if above else "not resolved"


# ---------------------------------------------------------------- plots


def strip_plot(df: pd.DataFrame, groups: Sequence[str], ylabel: str, title: str,
               log: bool = False, hue: str | None = None, hues: Sequence = (),
               notes: dict[str, str] | None = None, hline: float | None = None) -> Figure:
    """Every seed as a dot over a box (quartiles, whiskers to the extremes), one column
    per value of `group` (per hue side by side); dots spread by fixed offsets, so the same
    results draw the same picture. `notes` (e.g. '2 diverged') go on top of their column;
    `hline` draws a dashed threshold."""
    hues = list(hues) or [None]
    fig = Figure(figsize=(max(5.5, 0.7 * len(groups) * len(hues) + 1.5), 4.0), dpi=110,
                 layout="constrained")
    ax = fig.subplots()
    width = 0.8 / len(hues)
    for j, h in enumerate(hues):
        positions, data = [], []
        for i, g in enumerate(groups):
            sel = df[(df["group"] == g) & ((df[hue] == h) if hue else True)]
            v = sel.sort_values("seed")["value"].to_numpy(float)
            if not len(v):
                continue
            x0 = i + (j - (len(hues) - 1) / 2) * width
            positions.append(x0)
            data.append(v)
            offsets = np.linspace(-0.25, 0.25, len(v)) * width if len(v) > 1 else np.zeros(1)
            ax.scatter(x0 + offsets, v, s=14, zorder=3, color=f"C{j}",
                       label=str(h) if h is not None and len(positions) == 1 else None)
        if data:
            ax.boxplot(data, positions=positions, widths=width * 0.8, whis=(0, 100),
                       manage_ticks=False, medianprops={"color": f"C{j}"})
    for i, g in enumerate(groups):
        if notes and notes.get(g):
            ax.annotate(notes[g], (i, 0.97), xycoords=("data", "axes fraction"), ha="center",
                        va="top", fontsize=7, color="C3")
    if hline is not None:
        ax.axhline(hline, color="C3", linestyle="--", linewidth=0.8)
    rotate = len(groups) > 4
    ax.set_xticks(range(len(groups)), groups, rotation=30 if rotate else 0,
                  ha="right" if rotate else "center", fontsize=8)
    if log:
        ax.set_yscale("log")
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3, axis="y")
    if hue:
        ax.legend(fontsize=8, title=hue, title_fontsize=8)
    return fig


def curves_plot(rows: pd.DataFrame, panel: str, line: str, ylabel: str, title: str,
                log: bool = True) -> Figure:
    """Learning curves, one panel per value of `panel`: every seed a thin line, the median
    over seeds a thick one (a CI band of a loss spanning decades says little)."""
    panels = list(dict.fromkeys(rows[panel]))
    fig = Figure(figsize=(3.6 * len(panels), 3.5), dpi=110, layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    colors = {name: f"C{i}" for i, name in enumerate(dict.fromkeys(rows[line]))}
    for ax, p in zip(axes, panels):
        for name, g in rows[rows[panel] == p].groupby(line, sort=False):
            for _, s in g.groupby("seed"):
                ax.plot(s["step"], s["value"], color=colors[name], alpha=0.3, linewidth=0.7)
            median = g.groupby("step")["value"].median()
            ax.plot(median.index, median.values, color=colors[name], linewidth=2,
                    label=str(name))
        ax.set_title(str(p), fontsize=9)
        ax.set_xlabel("step")
        ax.grid(alpha=0.3)
        if log:
            ax.set_yscale("log")
        ax.legend(fontsize=7)
    axes[0].set_ylabel(ylabel)
    fig.suptitle(title, fontsize=10)
    return fig


def curve_rows(results: report.Results, metric: str, model: str) -> pd.DataFrame:
    """Every done trial's `metric` at every evaluated step, of part `model`."""
    rows = results.rows[(results.rows.status == store_lib.DONE)
                        & (results.rows.metric == metric)]
    return part(rows, model).sort_values(["step"], kind="stable")


# ---------------------------------------------------------------- analysis


def analyze(results: report.Results) -> report.Analysis:
    """Both parts: distributions over seeds, paired effects, curves, a verdict per claim."""
    a_tables, a_plots, a_verdict, a_published, a_said = analyze_optimizers(results)
    b_tables, b_plots, b_verdict, b_published, b_said = analyze_architectures(results)
    # The published numbers are of ImageNet and CIFAR-10: only the direction compares.
    return report.Analysis(tables={**a_tables, **b_tables}, plots={**a_plots, **b_plots},
                           verdict=a_verdict + "\n\n" + b_verdict,
                           published={**b_published, **a_published},
                           status=report.status_of([*a_said.values(), *b_said.values()]))


def outcome(word: str) -> str:
    """A verdict word as a claim's outcome: 'confirmed' alone confirms, a word starting
    with 'refuted' refutes; the rest ('mostly confirmed (...)', 'not resolved (...)',
    'partly', 'mixed', 'not tested') is not resolved."""
    if word == "confirmed":
        return word
    return "refuted" if word.startswith("refuted") else "not resolved"


def analyze_optimizers(results: report.Results) -> tuple[dict, dict, str, dict, dict]:
    """Part A: test accuracy and train loss per optimizer × schedule; claims A1 and A2
    (tables, plots, verdict, published rows, {claim: outcome})."""
    loss = part(results.final("train/loss"), CNN)
    acc = part(results.final("test/accuracy"), CNN)
    if loss.empty:
        return {}, {}, "**Part A (optimizers):** no trial done.", {}, {}
    shown, held_out = split_seeds(loss["seed"])
    choice = acc[acc["seed"].isin(held_out)]  # chooses A2's schedules, reported nowhere
    loss, acc = (d[d["seed"].isin(shown)].reset_index(drop=True) for d in (loss, acc))
    optimizers = [o for o in OPTIMIZERS if o in set(loss["optimizer"])]
    schedules = [s for s in SCHEDULES if s in set(loss["schedule"])]
    logs = loss.assign(value=np.log10(loss["value"]))  # losses span decades: compare logs
    by = ["optimizer", "schedule"]
    tables = {"A. Final test accuracy per optimizer and schedule (over seeds)":
                  distribution(acc, by),
              "A. Final train loss per optimizer and schedule (over seeds)":
                  distribution(loss, by, digits=4)}

    a1_table, a1 = schedule_effects(logs, acc, optimizers, schedules)
    best = best_schedules(choice)
    a2_table, a2 = adaptive_effects(acc, schedules, best)
    tables["A1. Decay minus constant schedule, paired by seed"] = a1_table
    tables[f"A2. Schedules chosen on the held-out seeds {_seeds(held_out)}"] = \
        choice_table(choice, acc, best)
    tables["A2. Adaptive minus momentum SGD, test accuracy paired by seed"] = a2_table
    means = acc.groupby(by, sort=False)["value"].mean()
    (top_o, top_s), top = means.idxmax(), means.max()
    plots = {
        "A. Final test accuracy, every seed": strip_plot(
            acc.assign(group=acc["optimizer"]), optimizers, "test accuracy",
            "MNIST-1D CNN: final test accuracy (dots: seeds; box: quartiles and range)",
            hue="schedule", hues=schedules),
        "A. Final train loss, every seed": strip_plot(
            loss.assign(group=loss["optimizer"]), optimizers, "train loss",
            "MNIST-1D CNN: final train loss (log scale)", log=True, hue="schedule",
            hues=schedules),
        "A. Learning curves (train loss)": curves_plot(
            _seeds_in(curve_rows(results, "train/loss", CNN), shown), "schedule", "optimizer",
            "train loss", "train loss during training: seeds (thin) and their median (thick)")}
    words = list(a1.values())
    lower = sorted({o for (o, _), w in a1.items() if w == "confirmed"}, key=OPTIMIZERS.index)
    higher = sorted({o for (o, _), w in a1.items() if w == "refuted"}, key=OPTIMIZERS.index)
    at_best = a2_table[a2_table["schedule"] == "best"].to_dict("records")
    said = {"A1": _all_word(words), "A2": _a2_word(a2)}
    verdict = (
        f"**A1. Decaying the learning rate ends at a lower training loss, for every "
        f"optimizer: {said['A1']}.** Of {len(words)} (optimizer, decay schedule) pairs, "
        f"the paired change of log10 train loss against the constant schedule is resolvably "
        f"negative in {words.count('confirmed')} ({', '.join(lower) or 'none'}) and resolvably "
        f"positive in {words.count('refuted')} ({', '.join(higher) or 'none'}); table A1. The "
        f"peak rates were tuned on the constant schedule. Every part-A number is over seeds "
        f"{_seeds(shown)}; seeds {_seeds(held_out) or '(none run)'} only choose A2's "
        f"schedules.\n\n"
        f"**A2. Adaptive methods generalize worse than tuned momentum SGD, each at its best "
        f"schedule: {said['A2']}.** Each optimizer's schedule is the one of highest mean test "
        f"accuracy on the held-out seeds {_seeds(held_out) or '(none run)'}; there, Adam or "
        f"AdamW minus momentum or Nesterov, test accuracy paired over seeds {_seeds(shown)}: "
        + ("; ".join(
            f"{r['adaptive']} ({r['adaptive_schedule']}) - {r['minus']} ({r['minus_schedule']})"
            f" {r['Δ test accuracy']}" for r in at_best) or "not run") +
        " (table A2, also per schedule). "
        f"Best mean test accuracy: {top_o} with the {top_s} schedule, {top:.3f}.")
    published = {"CIFAR-10 VGG test error, SGD / Adam (Wilson et al. 2017)": (
        PUBLISHED["CIFAR-10 VGG test error, SGD / Adam (Wilson et al. 2017)"],
        f"best schedules (chosen on seeds {_seeds(held_out)}), test accuracy: " + "; ".join(
            f"{r['adaptive']} - {r['minus']} {r['Δ test accuracy']}" for r in at_best)
        + f" (A2: {said['A2']})")}
    return tables, plots, verdict, published, {k: outcome(w) for k, w in said.items()}


def schedule_effects(logs: pd.DataFrame, acc: pd.DataFrame, optimizers: Sequence[str],
                     schedules: Sequence[str]) -> tuple[pd.DataFrame, dict]:
    """A1: each decay schedule minus constant, per optimizer, paired by seed, on log10 train
    loss and on test accuracy; and {(optimizer, schedule): verdict word of the loss}."""
    rows, words = [], {}
    for decay in [s for s in schedules if s != "constant"]:
        for o in optimizers:
            e = paired(logs[logs["optimizer"] == o], "schedule", "constant", decay)
            if e is None:
                continue
            words[o, decay] = sign_word(e)
            rows.append({"optimizer": o, "schedule": decay,
                         "Δ log10 train loss": effect_text(e, log=True),
                         "Δ test accuracy": effect_text(
                             paired(acc[acc["optimizer"] == o], "schedule", "constant", decay))})
    return pd.DataFrame(rows), words


def split_seeds(seeds: Sequence[int]) -> tuple[list[int], list[int]]:
    """(shown, held out): the first half of the distinct seeds run (sorted) reports part
    A, the second half only chooses each optimizer's best schedule — seeds 0-4 and 5-9
    of SEEDS —, so the choice's luck on its seeds does not enter the numbers reported.
    An odd seed out reports."""
    distinct = sorted({int(s) for s in seeds})
    half = (len(distinct) + 1) // 2
    return distinct[:half], distinct[half:]


def best_schedules(choice: pd.DataFrame) -> dict[str, str]:
    """{optimizer: its schedule of highest mean test accuracy in `choice`} (Wilson et al.
    tune the decay scheme too); `choice` holds only the held-out seeds."""
    return {o: g.groupby("schedule")["value"].mean().idxmax()
            for o, g in choice.groupby("optimizer")}


def choice_table(choice: pd.DataFrame, acc: pd.DataFrame, best: dict[str, str]
                 ) -> pd.DataFrame:
    """Per optimizer: mean test accuracy of each schedule on the held-out seeds
    (`choice`), the schedule chosen there, and its mean on the reported seeds (`acc`)
    (texts: a table, not data to compute on)."""
    means = choice.pivot_table(index="optimizer", columns="schedule", values="value")
    rows = []
    for o in [o for o in OPTIMIZERS if o in best]:
        shown = acc[(acc["optimizer"] == o) & (acc["schedule"] == best[o])]["value"]
        rows.append({"optimizer": o,
                     **{f"{s}, held out": f"{means.loc[o, s]:.3f}"
                        for s in SCHEDULES if s in means.columns},
                     "chosen": best[o], "chosen, reported seeds": f"{shown.mean():.3f}"})
    return pd.DataFrame(rows)


def adaptive_effects(acc: pd.DataFrame, schedules: Sequence[str], best: dict[str, str]
                     ) -> tuple[pd.DataFrame, list[str]]:
    """A2: Adam / AdamW minus momentum / Nesterov test accuracy, paired by seed, at each
    schedule and with each optimizer at its `best` schedule (chosen on other seeds than
    `acc`'s: `best_schedules`); and the verdict words of the best-schedule comparisons
    (none when no schedule was chosen)."""
    at_best = acc[[best.get(o) == s for o, s in zip(acc["optimizer"], acc["schedule"])]]
    rows, words = [], []
    for s in [*schedules, "best"]:
        sub = at_best if s == "best" else acc[acc["schedule"] == s]
        for adaptive in ADAPTIVE:
            for sgd in SGD_FAMILY[1:]:
                e = paired(sub, "optimizer", sgd, adaptive)
                if e is None:
                    continue
                if s == "best":
                    words.append(sign_word(e))
                rows.append({"schedule": s, "adaptive": adaptive,
                             "adaptive_schedule": best[adaptive] if s == "best" else s,
                             "minus": sgd, "minus_schedule": best[sgd] if s == "best" else s,
                             "Δ test accuracy": effect_text(e)})
    columns = ["schedule", "adaptive", "adaptive_schedule", "minus", "minus_schedule",
               "Δ test accuracy"]
    return pd.DataFrame(rows, columns=columns), words


def _seeds(seeds: Sequence[int]) -> str:
    """'5-9' for a run of consecutive seeds, else '0, 2, 7'."""
    seeds = list(seeds)
    if len(seeds) > 2 and seeds == list(range(seeds[0], seeds[-1] + 1)):
        return f"{seeds[0]}-{seeds[-1]}"
    return ", ".join(map(str, seeds))


def _seeds_in(rows: pd.DataFrame, seeds: Sequence[int]) -> pd.DataFrame:
    return rows[rows["seed"].isin(seeds)]


def _all_word(words: list[str]) -> str:
    """The verdict of a claim that must hold in every comparison."""
    if not words:
        return "not tested"
    if all(w == "confirmed" for w in words):
        return "confirmed"
    if "refuted" in words:
        return f"refuted ({words.count('refuted')} of {len(words)} go the other way)"
    return f"not resolved ({words.count('confirmed')} of {len(words)} resolved)"


def _a2_word(words: list[str]) -> str:
    if not words:
        return "not tested"
    worse, better = words.count("confirmed"), words.count("refuted")
    if worse == better == 0:
        return "not confirmed (no resolvable difference)"
    if better == 0 and worse == len(words):
        return "confirmed"
    if better == 0:
        return (f"mostly confirmed ({worse} of {len(words)} resolved, none reversed)"
                if worse > len(words) / 2 else f"partly ({worse} of {len(words)})")
    return "refuted (adaptive as good or better)" if worse == 0 else "mixed"


def analyze_architectures(results: report.Results) -> tuple[dict, dict, str, dict, dict]:
    """Part B: which depth-20 MLPs train, their loss distributions; claims B1-B3 (tables,
    plots, verdict, published rows, {claim: outcome})."""
    loss = part(results.final("train/loss"), MLP)
    acc = part(results.final("train/accuracy"), MLP)
    test = part(results.final("test/accuracy"), MLP)
    failed = part(results.failed, MLP)
    if loss.empty and failed.empty:
        return {}, {}, "**Part B (architectures):** no trial done.", {}, {}
    acc_curves = curve_rows(results, "train/accuracy", MLP)
    counts = trains_count(acc, acc_curves, failed)
    effects = architecture_effects(loss.assign(value=np.log10(loss["value"])))
    tables = {
        f"B. Seeds that train (final train accuracy > {TRAINS_ABOVE:g}; diverged: not)":
            pd.DataFrame([{"config": c, "seeds that train": n.text(), "diverged": n.diverged,
                           "trained, then collapsed": n.collapsed}
                          for c, n in counts.items()]),
        "B. Final train accuracy per configuration (over seeds)": distribution(acc, ["config"]),
        "B. Final train loss per configuration (over seeds)":
            distribution(loss, ["config"], digits=4),
        "B. Final test accuracy per configuration (over seeds)": distribution(test, ["config"]),
        "B. Paired effects on log10 final train loss": pd.DataFrame(
            [{"comparison": name, "Δ log10 train loss": effect_text(e, log=True)}
             for name, e in effects.values() if e is not None])}
    notes = {c: f"{n.diverged} diverged" for c, n in counts.items() if n.diverged}
    plots = {
        "B. Final train accuracy, every seed": strip_plot(
            acc.assign(group=acc["config"]), list(counts), "train accuracy",
            f"MLP width {WIDTH}: final train accuracy (a seed trains above {TRAINS_ABOVE:g})",
            notes=notes, hline=TRAINS_ABOVE),
        "B. Final train loss, every seed": strip_plot(
            loss.assign(group=loss["config"]), list(counts), "train loss",
            f"MLP width {WIDTH}: final train loss (log scale; dots: seeds)", log=True,
            notes=notes),
        "B. Learning curves (train loss)": _architecture_curves(results)}
    plots = {name: fig for name, fig in plots.items() if fig is not None}
    verdict, published, said = architecture_verdict(
        counts, {k: e for k, (_, e) in effects.items()}, steps_to_train(acc_curves))
    return tables, plots, verdict, published, said


def architecture_effects(logs: pd.DataFrame) -> dict[str, tuple[str, pd.Series | None]]:
    """The paired comparisons of log10 final train loss that the claims read: {key: (its
    name, the effect of going from the first configuration to the second)}."""
    d, s = DEPTH, SHALLOW
    pairs = {
        "xavier": ("B1. He minus Xavier (plain, d20)", f"plain, xavier, d{d}", f"plain, he, d{d}"),
        "xavier_deepest": (f"B1. He minus Xavier (plain, d{DEEPEST})",
                           f"plain, xavier, d{DEEPEST}", f"plain, he, d{DEEPEST}"),
        "bn": ("B2. +BN (plain, he, d20)", f"plain, he, d{d}", f"plain+BN, he, d{d}"),
        "residual": ("B3. residual+BN minus plain+BN (he, d20)", f"plain+BN, he, d{d}",
                     f"residual+BN, he, d{d}"),
        "plain_depth": (f"B3. plain+BN: depth {d} minus depth {s} (he)",
                        f"plain+BN, he, d{s}", f"plain+BN, he, d{d}"),
        "residual_depth": (f"B3. residual+BN: depth {d} minus depth {s} (he)",
                           f"residual+BN, he, d{s}", f"residual+BN, he, d{d}")}
    return {key: (name, paired(logs, "config", a, b)) for key, (name, a, b) in pairs.items()}


def architecture_verdict(counts: dict[str, Count], effects: dict[str, pd.Series | None],
                         steps: dict[str, list[float]] | None = None
                         ) -> tuple[str, dict, dict]:
    """The verdicts of B1-B3, the published-vs-ours rows and {claim: outcome}, from the
    seed counts, the paired effects of `architecture_effects` (by key) and, for the
    text only, each seed's first step above the threshold (`steps_to_train`)."""
    d, s, none = DEPTH, SHALLOW, Count(0, 0, 0, 0)
    bn, res = effects["bn"], effects["residual"]
    plain_depth, res_depth = effects["plain_depth"], effects["residual_depth"]
    he, naive, xavier = f"plain, he, d{d}", f"plain, naive, d{d}", f"plain, xavier, d{d}"
    he_deep, xavier_deep = f"plain, he, d{DEEPEST}", f"plain, xavier, d{DEEPEST}"
    bn_naive = (f"plain+BN, naive, d{d}", f"residual+BN, naive, d{d}")
    res_he, res_naive = f"residual, he, d{d}", f"residual, naive, d{d}"
    seeds = lambda config: counts.get(config, none).text()

    def trains(config: str, every: bool) -> bool | None:
        n = counts.get(config, none)
        return None if n.runs == 0 else (n.trains == n.runs if every else n.trains == 0)

    p_he, p_bn = (more_train(counts.get(naive), counts.get(c)) for c in (he, bn_naive[0]))
    p_deep = more_train(counts.get(xavier_deep), counts.get(he_deep))
    collapsed = counts.get(bn_naive[0], none).collapsed
    both_train = _both(trains(he, True), trains(xavier, True))
    said = {"B1": _both(trains(he_deep, True), trains(xavier_deep, False)),
            # He et al.'s 22 layers: both converge (else refuted), He's loss lower
            "B1 d20": sign_word(effects["xavier"]) if both_train == "confirmed" else both_train,
            "B2 init": _p_word(p_bn),
            "B2 speed": sign_word(bn), "B3 residual": sign_word(res),
            "B3 degradation": sign_word(plain_depth, "above")}
    naive_word = _both(trains(he, True), trains(naive, False))  # a second row: not a claim
    verdict = (
        f"**B1. He init trains a {DEEPEST}-layer plain ReLU net that Xavier's init stalls "
        f"(refuted if some He seed does not train or some Xavier seed does): {said['B1']}.** "
        f"Seeds that train at depth {DEEPEST}: He {seeds(he_deep)}, Xavier "
        f"{seeds(xavier_deep)} (one-sided Fisher exact p = {_p(p_deep)})"
        f"{_stalls(steps or {}, (he_deep, 'He'), (xavier_deep, 'Xavier'))}. **At depth {d} (He "
        f"et al.'s 22 layers) both inits train and He's ends at the lower train loss (refuted "
        f"if some seed of either does not train, or He's loss is resolvably higher): "
        f"{said['B1 d20']}.** Seeds that train: He {seeds(he)}, Xavier {seeds(xavier)}; "
        f"paired change of log10 train loss from Xavier to He: "
        f"{effect_text(effects['xavier'], log=True)}. A second row, not He et al.'s "
        f"comparison: the naive N(0, 0.01²) init trains the depth-{d} plain net on "
        f"{seeds(naive)} seeds (He: {seeds(he)}, p = {_p(p_he)}; He trains it, the naive init "
        f"stalls it: {naive_word}).\n\n"
        f"**B2. Batch norm makes the naive init train (more seeds train with it than "
        f"without, Fisher exact p < 0.05): {said['B2 init']}.** Seeds that train at the naive "
        f"init: plain {seeds(naive)}, plain+BN {seeds(bn_naive[0])} (p = {_p(p_bn)}"
        f"{f'; {collapsed} trained, then collapsed by the last evaluation' if collapsed else ''}"
        f"), residual+BN {seeds(bn_naive[1])}. **Batch norm speeds training (a lower train loss "
        f"after the same steps; plain net, He init): {said['B2 speed']}.** Paired change of "
        f"log10 train loss with BN: {effect_text(bn, log=True)}.\n\n"
        f"**B3. Residual connections optimize the deep net better than a plain one (both "
        f"with BN, He init): {said['B3 residual']}.** Paired change of log10 train loss: "
        f"{effect_text(res, log=True)}. **A deeper plain net trains worse (degradation): "
        f"{said['B3 degradation']}.** Depth {s} -> {d}, plain+BN: "
        f"{effect_text(plain_depth, log=True)}; residual+BN: "
        f"{effect_text(res_depth, log=True)}.\n\n"
        f"Observed, not a published claim here: without BN the residual net diverges at He "
        f"init ({counts.get(res_he, none).diverged} of {counts.get(res_he, none).runs} "
        f"seeds): each block h + relu(Wh) about doubles the signal's variance, 2^19 over the "
        f"net, which is why unnormalized residual nets scale their branches down (Fixup, "
        f"Zhang et al. 2019). At the naive init, whose branches start near zero, it trains "
        f"({seeds(res_naive)}).")
    published = {
        "plain-18 -> plain-34 (He et al. 2016), top-1 error": (
            PUBLISHED["ImageNet top-1 error, plain-18 / plain-34 (He et al. 2016)"],
            f"plain+BN d{s} -> d{d}: Δ log10 train loss {effect_text(plain_depth, log=True)}"
            f" (degradation: {said['B3 degradation']})"),
        "ResNet-18 -> ResNet-34 (He et al. 2016), top-1 error": (
            PUBLISHED["ImageNet top-1 error, ResNet-18 / ResNet-34 (He et al. 2016)"],
            f"residual+BN d{s} -> d{d}: Δ log10 train loss {effect_text(res_depth, log=True)}"
            f"; residual+BN minus plain+BN at d{d}: {effect_text(res, log=True)} (residual "
            f"optimizes better: {said['B3 residual']})"),
        "BN-Inception vs Inception (Ioffe & Szegedy 2015)": (
            "72.2% in 14x fewer steps; trains with sigmoids",
            f"naive init: {seeds(bn_naive[0])} seeds train with BN, {seeds(naive)} without "
            f"(p = {_p(p_bn)}: {said['B2 init']}); He init: Δ log10 train loss with BN "
            f"{effect_text(bn, log=True)} (speeds training: {said['B2 speed']})"),
        "ReLU net, He vs Xavier init at 30 layers (He et al. 2015)": (
            PUBLISHED["30-layer ReLU net: He init vs Xavier (He et al. 2015)"],
            f"depth {DEEPEST}, plain: He {seeds(he_deep)}, Xavier {seeds(xavier_deep)} seeds "
            f"train (Fisher p = {_p(p_deep)}; every He seed and no Xavier seed: {said['B1']})"),
        "ReLU net, He vs Xavier init at 22 layers (He et al. 2015)": (
            PUBLISHED["22-layer ReLU net: He init vs Xavier (He et al. 2015)"],
            f"depth {d}, plain: He {seeds(he)}, Xavier {seeds(xavier)} seeds train; Δ log10 "
            f"train loss, Xavier to He: {effect_text(effects['xavier'], log=True)} "
            f"({said['B1 d20']})")}
    return verdict, published, {k: outcome(w) for k, w in said.items()}


def _architecture_curves(results: report.Results) -> Figure | None:
    rows = curve_rows(results, "train/loss", MLP)
    rows = rows[rows["model.depth"] >= DEPTH]
    if rows.empty:  # e.g. a shard whose deep trials all diverged
        return None
    rows = rows.assign(init=rows["config"].str.split(", ").str[1] + " init")
    return curves_plot(rows, "init", "config", "train loss",
                       f"depth-{DEPTH} and -{DEEPEST} MLP train loss: seeds (thin), median "
                       f"(thick); diverged seeds absent")


def _stalls(steps: dict[str, list[float]], good: tuple[str, str], bad: tuple[str, str]
            ) -> str:
    """'; first evaluation above 0.2: He's seeds by step 250, Xavier's at step 1500' —
    how long the seeds that train under config `bad` stalled; '' without curves. `good`
    and `bad` are (configuration, name)."""
    first = {c: [int(x) for x in steps.get(c, []) if np.isfinite(x)] for c, _ in (good, bad)}
    if not first[good[0]]:
        return ""
    text = (f"; first evaluation above {TRAINS_ABOVE:g}: {good[1]}'s "
            f"{len(first[good[0]])} by step {max(first[good[0]])}")
    if first[bad[0]]:
        text += (f", {bad[1]}'s {len(first[bad[0]])} at step "
                 f"{', '.join(map(str, sorted(first[bad[0]])))}")
    return text


def _p(p: float | None) -> str:
    return "–" if p is None else f"{p:.2g}"


def _p_word(p: float | None, level: float = 0.05) -> str:
    if p is None:
        return "not tested"
    return "confirmed" if p < level else "not resolved"


def _both(*conditions: bool | None) -> str:
    """'confirmed' when every part holds, 'not tested' when a configuration is missing."""
    if any(c is None for c in conditions):
        return "not tested"
    return "confirmed" if all(conditions) else "refuted"
