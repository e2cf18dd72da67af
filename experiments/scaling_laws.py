"""Scaling laws: test loss falls as a power law in parameters and in data, and the
compute-optimal model and data both grow with compute.

Claims (Kaplan, McCandlish, Henighan, Brown, Chess, Child, Gray, Radford, Wu & Amodei,
"Scaling Laws for Neural Language Models", arXiv 2001.08361, 2020; Hoffmann et al.,
"Training Compute-Optimal Large Language Models", arXiv 2203.15556, 2022): (1) with data
not limiting, test loss falls as a power law in the parameter count N, L(N) = a·N^(−α_N)
(+ an irreducible floor); (2) with the model not limiting, it falls as a power law in the
number of training examples D, L(D) = b·D^(−α_D) (+ floor); (3) for a compute budget
C ≈ 6·N·D FLOPs, the loss-minimising model size and data both grow with C,
N_opt ∝ C^a and D_opt ∝ C^b (a + b = 1 since C = 6ND); (4) the split is Hoffmann et
al.'s equal scaling, a ≈ b ≈ 0.5, not Kaplan et al.'s a ≈ 0.73.

    jaxdl sweep experiments/scaling_laws.py           # 6 widths x 8 data sizes x 5 seeds
    jaxdl sweep experiments/scaling_laws.py --quick   # claims 1-2 on an L-shaped grid, 3 seeds

Setting. Data: jaxdl's teacher source (jaxdl/data/teacher.py), a fixed random tanh network
8-32-32-1 (`data.seed` 0) labelling standard Gaussian inputs in R^8; regression with mean
squared error, no label noise, so the Bayes loss is 0 and any floor is the student's, not
the data's. Unlimited data lets a run be a language model's: one pass over D distinct
examples (steps = D / batch; the D-example sets are nested, and the same for every seed),
so C = 6·N·D exactly as in both papers, and a run of D examples is its own run with its
own schedule (Hoffmann et al.'s correction of Kaplan et al.: a cosine decay set to each
run's length, not one schedule cut short). Model: a ReLU MLP 8-w-w-1 with w in WIDTHS =
4, 11, 27, 59, 123, 251: N = w² + 11w + 1 = 61, 243, 1,027, 4,131, 16,483, 65,763
parameters (≈ 61·4^i within 6%; 3.0 decades). D in SIZES = 8,192 .. 1,048,576 in
factors of 2 (8 sizes, 2.1 decades). Adam, lr 3e-3 cosine-decayed to 0, batch 16 (not
32: the runs of few examples need the steps), steps = D / 16 (512 .. 65,536), in one
compiled chunk per run.
Seeds 0-4 vary the init and the batch order; the teacher, the training inputs and the
test set (8,192 fresh examples) are shared. Measured: the test MSE at the end of the run
(one pass over fresh examples sees no example twice: there is nothing to early-stop
against). Why these sizes: the largest that fit the time allowed (the full grid is 240
trials, 48 compiled programs); the verdicts hold at this scale, 61-65,763 parameters and
up to 1,048,576 examples (C up to 4·10^11 FLOPs), not at the papers' 10^9 parameters and
more.

The verdicts, decided by code (`verdicts`), stated before the numbers. Every exponent is
fitted per seed, then given its 95% Student-t interval over the seeds ("CI").
1. L(N): at the largest D, per seed, L = a·N^(−α_N) + floor (fits.power_law_with_floor,
   least squares on log L). Confirmed if α_N's CI lies above 0 and the power law fits: the
   fit's RMS log residual (0.1 = it misses a typical point by 10%) has its CI upper bound
   at most RMS_TOL = 0.1; refuted if α_N's CI lies at or below 0 (loss does not fall with
   N) or the RMS residual's CI lies above RMS_TOL (not a power law); otherwise not
   resolved.
2. L(D): the same at the largest N, in D.
3. The compute-optimal frontier (Hoffmann et al.'s Approach 2, IsoFLOP profiles): N grows
   by ≈ 4 per width and D by 2, so the cells whose N·D agree (within 7%: one diagonal of
   the grid, `with_budget`) form the IsoFLOP profile of one budget C (the geometric mean
   of their 6ND), with N 4 times larger and D 4 times smaller from cell to cell. Per seed
   and budget with at least 3 cells, the budget counts when its lowest loss is not at
   either end of the profile; then N_opt(C) is the vertex of the parabola in log N
   through log L of the lowest cell and its two neighbours, and D_opt = C / (6 N_opt).
   Per seed with at least MIN_BUDGETS = 3 such budgets, a = the slope of log N_opt on
   log C, and b = 1 − a. Confirmed if a's CI lies inside (0, 1) (N_opt and D_opt both
   grow); refuted if it lies at or below 0 or at or above 1; otherwise not resolved.
4. Which published frontier: confirmed (Hoffmann et al.'s) if a's CI includes 0.5 and
   excludes Kaplan et al.'s 0.73; refuted if it excludes 0.5 (the report then says
   whether it includes 0.73, i.e. agrees with Kaplan et al., or neither); not resolved if
   it includes both. This is the study's check against a published number, the tolerance
   being our 95% CI.
What would refute the claims here: a loss that does not fall with N or D, or falls in a
way a power law with a floor misses by more than 10%; a compute-optimal N or D that does
not grow with the budget.

Published results it checks: Kaplan et al. 2020, Fig. 1 and eqs. 1.1-1.2 (language
models: α_N ≈ 0.076, α_D ≈ 0.095; the exponents depend on the task, so the claim checked
is the power-law form and the direction, not those values) and §6 / eq. 1.7
(N_opt ∝ C^0.73, D ∝ C^0.27); Hoffmann et al. 2022, Table 2 (a = 0.49, 95% CI 0.462-0.534
by Approach 2; 0.46-0.50 by the three approaches; b ≈ 0.5).

Measured (the full sweep: 240 trials, 534 s of sweep, 599 s wall with its report, on 2 CPU
cores shared with other jobs; report in docs/studies/scaling_laws/report.md; mean ± 95% CI
over 5 seeds). 1: confirmed — at D = 1,048,576, α_N = 0.967 ± 0.027 with a floor of
0.00085 (the largest students are limited by D there: 0.00090 at N = 65,763 against 0.053
at N = 61), RMS log residual 0.024 ± 0.005. 2: confirmed — at N = 65,763, α_D = 1.064 ±
0.017, floor 0.00066, RMS log residual 0.050 ± 0.012; the loss falls from 0.032 at D =
8,192. Both exponents are more than ten times the language models' (0.076, 0.095): the
form and direction reproduce, the values are the task's. 3: confirmed — IsoFLOP budgets
from 4.9·10^7 to 2.6·10^10 FLOPs, 7-9 with an interior optimum per seed: N_opt from 193
to 3,479 parameters and D_opt from 42,139 to 310,276 examples (geometric means over
seeds, budgets 4.9·10^7 to 6.5·10^9); a = 0.605 ± 0.038 (per seed 0.556-0.631), b = 0.395 ±
0.038: both grow. 4: refuted — a's CI, 0.567-0.643, excludes Hoffmann et al.'s 0.5 and
Kaplan et al.'s 0.73 alike: here the compute-optimal model grows faster than the data, as
Kaplan et al. found, but less so; neither published split is reproduced. A cross-check,
not a claim: the separable form's a = α_D / (α_N + α_D) = 0.524 ± 0.008, near equal
scaling, disagrees with the IsoFLOP estimate (Hoffmann et al.'s own approaches disagree
by less, 0.46-0.50): L(N, D) here is not the sum of a term in N and one in D. Status
(report.status_of): partly reproduced.
--quick: an L-shaped grid (QUICK; tests/test_scaling_laws.py): widths 11, 27, 59, 123 at
D = 65,536, and D = 8,192, 16,384, 32,768 (and 65,536) at width 123; 3 seeds, 21 trials;
claims 1-2 only (no IsoFLOP profile has 3 cells: claims 3-4 are not resolved there).
`jaxdl sweep experiments/scaling_laws.py --quick` on the busy 2-core Xeon: 13 s of sweep
(31 s wall, 16 s CPU with its report) with the compilation cache filled, 47 s of sweep
(63 s wall, 34 s CPU) with an empty one — its 7 programs' compiles, as many as with 5
seeds. Measured: α_N = 0.665 ± 0.215 (RMS log residual 0.022 ± 0.007), α_D = 1.123 ±
0.432 (0.015 ± 0.023): both confirmed, with the same numbers to 3 digits under
XLA_FLAGS=--xla_cpu_max_isa=AVX2 and SSE4_2. With 5 seeds (35 trials): α_N = 0.667 ±
0.092, α_D = 1.058 ± 0.195. Not fewer examples: with D = 4,096 .. 32,768 (3 seeds) the L(D)
fit misses: RMS log residual 0.067 ± 0.040, its CI's upper bound past 0.1 (not resolved).
"""
from __future__ import annotations

import math

import ml_collections
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from jaxdl import config as config_lib
from jaxdl.study import fits, report, sweep

TEACHER = {"d": 8, "teacher_width": 32, "teacher_depth": 2, "num_classes": 0, "outputs": 1,
           "noise": 0.0, "test_size": 8192, "seed": 0}
DEPTH, BATCH, LR = 2, 16, 3e-3
WIDTHS = (4, 11, 27, 59, 123, 251)  # N = w² + 11w + 1 ≈ 61·4^i
SIZES = tuple(2 ** k for k in range(13, 21))  # D = 8,192 .. 1,048,576
RMS_TOL = 0.1  # claims 1-2: the power law misses a typical point by at most 10%
MIN_BUDGETS = 3  # claim 3: IsoFLOP budgets with an interior optimum per seed's slope
HOFFMANN_A, KAPLAN_A = 0.5, 0.73
CONFIRMED, REFUTED, NOT_RESOLVED = "confirmed", "refuted", "not resolved"
WIDTH, SIZE, LOSS = "model.width", "data.n", "test/loss"


def size_point(n: int) -> dict[str, int]:
    """One pass over n examples: the sweep point of data size n."""
    if n % BATCH:
        raise ValueError(f"data.n {n}: must be a multiple of the batch size {BATCH}")
    return {SIZE: n, "steps": n // BATCH}


def grid(widths: tuple[int, ...], sizes: tuple[int, ...]) -> list[dict]:
    """Every width at every data size."""
    return sweep.product(sweep.axis(WIDTH, widths), [size_point(n) for n in sizes])


SWEEP = grid(WIDTHS, SIZES)
SEEDS = range(5)
METRICS = (LOSS,)
PUBLISHED = {
    "L(N) a power law, α_N (Kaplan et al. 2020, Fig. 1, eq. 1.1)": "α_N ≈ 0.076 (language)",
    "L(D) a power law, α_D (Kaplan et al. 2020, Fig. 1, eq. 1.2)": "α_D ≈ 0.095 (language)",
    "N_opt ∝ C^a, D_opt ∝ C^b, both grow (Kaplan §6; Hoffmann Table 2)": "a, b > 0",
    "a (Hoffmann et al. 2022, Table 2; Kaplan et al. 2020, §6)": "0.49 (0.46-0.53); Kaplan: 0.73",
}
QUICK_WIDTHS, QUICK_SIZES = (11, 27, 59, 123), (8192, 16384, 32768, 65536)
QUICK = {"sweep": sweep.concat(grid(QUICK_WIDTHS, QUICK_SIZES[-1:]),
                               grid(QUICK_WIDTHS[-1:], QUICK_SIZES[:-1])),
         "seeds": range(3)}


def get_config(name: str | None = None) -> ml_collections.ConfigDict:
    """The student 8-123-123-1 on one pass over 65,536 teacher examples (a grid cell);
    the sweep sets the width and D."""
    c = config_lib.default()
    c.data = config_lib.named_section("data", "teacher")
    c.data.update(TEACHER)
    c.data.n = 65536
    c.model = config_lib.named_section("model", "mlp")
    c.model.width, c.model.depth = 123, DEPTH
    c.objective.loss = "mse"
    c.optimizer.name, c.optimizer.lr = "adam", LR
    c.optimizer.schedule.name = "cosine"
    c.steps, c.batch_size = c.data.n // BATCH, BATCH
    c.eval_every = c.checkpoint_every = 0  # at the end only
    c.eval_train_examples, c.log_every = 1024, 0
    # One chunk per run: a chunk starts by re-deriving its epoch's order (a sort of all n
    # examples), which with short chunks dominated the runs of large n.
    c.chunk_size = SIZES[-1] // BATCH
    return c


def parameter_count(width: int, inputs: int = TEACHER["d"], depth: int = DEPTH) -> int:
    """Weights and biases of the MLP inputs-width^depth-1 (tests check it against flax's)."""
    sizes = [inputs, *[width] * depth, 1]
    return sum((a + 1) * b for a, b in zip(sizes, sizes[1:]))


# ---------------------------------------------------------------- the table and fits


def trial_table(results: report.Results) -> pd.DataFrame:
    """One row per done trial: width, N, D, C = 6ND, seed and its test loss."""
    final = results.final(LOSS)
    table = pd.DataFrame({"width": final[WIDTH].astype(int), "D": final[SIZE].astype(float),
                          "seed": final["seed"].astype(int), "loss": final["value"]})
    table["N"] = table["width"].map(parameter_count).astype(float)
    table["C"] = 6.0 * table["N"] * table["D"]
    return table.sort_values(["N", "D", "seed"], ignore_index=True)


def exponent_fits(table: pd.DataFrame, along: str) -> pd.DataFrame:
    """Per seed, L = a·x^(−α) + floor along x = "N" (at the largest D) or "D" (at the
    largest N); NaN where a seed has fewer than 4 points (a 3-parameter fit needs one
    more to have a residual)."""
    other = "D" if along == "N" else "N"
    cut = table[table[other] == table[other].max()]
    rows = []
    for seed, g in cut.groupby("seed"):
        fit = (fits.power_law_with_floor(g[along].to_numpy(), g["loss"].to_numpy())
               if len(g) >= 4 else dict.fromkeys(("a", "b", "floor", "rms"), math.nan))
        rows.append({"seed": seed, "points": len(g), "a": fit["a"], "alpha": fit["b"],
                     "floor": fit["floor"], "rms": fit["rms"],
                     "at": float(g[other].iloc[0])})
    return pd.DataFrame(rows, columns=["seed", "points", "a", "alpha", "floor", "rms", "at"])


def with_budget(table: pd.DataFrame) -> pd.DataFrame:
    """The table with column "budget": round(log2(N·D)). N grows by ≈ 4 per width (within
    7%) and D by 2, so the cells of one budget are a diagonal of the grid: N 4 times
    larger and D 4 times smaller from cell to cell, N·D equal within 7%."""
    return table.assign(budget=np.round(np.log2(table["N"] * table["D"])).astype(int))


def isoflop_profiles(table: pd.DataFrame) -> pd.DataFrame:
    """Per seed and budget with at least 3 cells (`with_budget`: one diagonal of the
    grid): C, its cells, whether the optimum is interior, N_opt, D_opt and the loss at
    the vertex (NaN where not interior)."""
    rows = []
    for (seed, _), g in with_budget(table).groupby(["seed", "budget"]):
        if len(g) < 3:
            continue
        g = g.sort_values("N")
        c = float(np.exp(np.mean(np.log(g["C"]))))
        vertex = _parabola_vertex(np.log(g["N"].to_numpy()), np.log(g["loss"].to_numpy()))
        n_opt = math.exp(vertex[0]) if vertex else math.nan
        rows.append({"seed": seed, "C": c, "cells": len(g), "interior": vertex is not None,
                     "N_opt": n_opt, "D_opt": c / (6 * n_opt),
                     "L_opt": math.exp(vertex[1]) if vertex else math.nan})
    return pd.DataFrame(rows, columns=["seed", "C", "cells", "interior", "N_opt", "D_opt",
                                       "L_opt"])


def interior(profiles: pd.DataFrame) -> pd.DataFrame:
    """The rows of budgets with an interior optimum (also of an empty table)."""
    return profiles[profiles["interior"].astype(bool)]


def _parabola_vertex(u: np.ndarray, v: np.ndarray) -> tuple[float, float] | None:
    """(u*, v*): the vertex of the parabola through the lowest point and its two
    neighbours, when the lowest point is not at either end. Only the three nearest the
    optimum: a profile log L(log N) is not a parabola, and one fitted to all its cells
    moves the vertex (on L = 3·N^(−0.6) + 40·D^(−0.8) on this grid, whose a is 0.571, all
    cells gave a = 0.551, the three 0.571: tests/test_scaling_laws.py)."""
    lowest = int(np.argmin(v))
    if lowest in (0, len(v) - 1):
        return None
    p2, p1, p0 = np.polyfit(u[lowest - 1:lowest + 2], v[lowest - 1:lowest + 2], 2)
    u_star = -p1 / (2 * p2)  # p2 > 0: the middle of three points is the lowest
    return float(u_star), float(p0 + p1 * u_star + p2 * u_star ** 2)


def frontier_fits(profiles: pd.DataFrame) -> pd.DataFrame:
    """Per seed: a (slope of log N_opt on log C over its interior budgets), b = 1 − a,
    and α_C (the frontier's loss L_opt ∝ C^(−α_C)); NaN with fewer than MIN_BUDGETS."""
    rows = []
    for seed, g in interior(profiles).groupby("seed"):
        if len(g) < MIN_BUDGETS:
            rows.append({"seed": seed, "budgets": len(g), "a": math.nan, "b": math.nan,
                         "alpha_C": math.nan})
            continue
        a = -fits.power_law(g["C"].to_numpy(), g["N_opt"].to_numpy())["b"]
        alpha_c = fits.power_law(g["C"].to_numpy(), g["L_opt"].to_numpy())["b"]
        rows.append({"seed": seed, "budgets": len(g), "a": a, "b": 1 - a, "alpha_C": alpha_c})
    return pd.DataFrame(rows, columns=["seed", "budgets", "a", "b", "alpha_C"])


_ci = report.finite_mean_ci


# ---------------------------------------------------------------- the verdicts


def power_law_verdict(per_seed: pd.DataFrame) -> str:
    """Claims 1-2 (module docstring): α's CI above 0 and the RMS residual's CI within
    RMS_TOL; refuted below 0 or beyond RMS_TOL."""
    _, low, high = _ci(per_seed["alpha"])
    _, rms_low, rms_high = _ci(per_seed["rms"])
    if high <= 0 or rms_low > RMS_TOL:
        return REFUTED
    if low > 0 and rms_high <= RMS_TOL:
        return CONFIRMED
    return NOT_RESOLVED


def frontier_verdict(per_seed: pd.DataFrame) -> str:
    """Claim 3: a's CI inside (0, 1) (N_opt and D_opt = C/(6 N_opt) both grow)."""
    _, low, high = _ci(per_seed["a"])
    if high <= 0 or low >= 1:
        return REFUTED
    if low > 0 and high < 1:
        return CONFIRMED
    return NOT_RESOLVED


def published_split_verdict(per_seed: pd.DataFrame) -> str:
    """Claim 4: a's CI includes Hoffmann et al.'s 0.5 and excludes Kaplan et al.'s 0.73."""
    _, low, high = _ci(per_seed["a"])
    if not (np.isfinite(low) and np.isfinite(high)):
        return NOT_RESOLVED
    if not low <= HOFFMANN_A <= high:
        return REFUTED
    return NOT_RESOLVED if low <= KAPLAN_A <= high else CONFIRMED


def verdicts(table: pd.DataFrame) -> dict[str, str]:
    """The four claims' outcomes: {"N", "D", "frontier", "split"}."""
    frontier = frontier_fits(isoflop_profiles(table))
    return {"N": power_law_verdict(exponent_fits(table, "N")),
            "D": power_law_verdict(exponent_fits(table, "D")),
            "frontier": frontier_verdict(frontier), "split": published_split_verdict(frontier)}


# ---------------------------------------------------------------- analysis


def loss_table(table: pd.DataFrame) -> pd.DataFrame:
    """Test loss, mean ± 95% CI over seeds: one row per N, one column per D."""
    rows = []
    for (width, n), g in table.groupby(["width", "N"]):
        row = {"width": width, "N": int(n)}
        for d, h in g.groupby("D"):
            row[f"D={int(d)}"] = report.ci_text(*_ci(h["loss"]), digits=5)
        rows.append(row)
    return pd.DataFrame(rows)


def fits_table(by_n: pd.DataFrame, by_d: pd.DataFrame, outcomes: dict[str, str]) -> pd.DataFrame:
    """Claims 1-2: the per-seed power-law fits, mean ± 95% CI over seeds."""
    rows = []
    for name, per_seed, key, at in (("L(N), α_N", by_n, "N", "D"), ("L(D), α_D", by_d, "D", "N")):
        rows.append({"fit": name, "at": f"{at} = {per_seed['at'].max():,.0f}",
                     "points": int(per_seed["points"].max()), "seeds": len(per_seed),
                     "exponent": report.ci_text(*_ci(per_seed["alpha"]), 3),
                     "a": report.ci_text(*_ci(per_seed["a"]), 3),
                     "floor": report.ci_text(*_ci(per_seed["floor"]), 6),
                     "RMS log residual": report.ci_text(*_ci(per_seed["rms"]), 3),
                     "outcome": outcomes[key]})
    return pd.DataFrame(rows)


def budgets_table(profiles: pd.DataFrame) -> pd.DataFrame:
    """Per IsoFLOP budget: its cells, the seeds with an interior optimum, and N_opt,
    D_opt (geometric means over those seeds, with the 95% CI of the mean log)."""
    rows = []
    for c, g in profiles.groupby("C"):
        inner = interior(g)
        rows.append({"C (FLOPs)": f"{c:.3g}", "cells": int(g["cells"].max()),
                     "seeds with an interior optimum": f"{len(inner)}/{len(g)}",
                     "N_opt": _geometric_text(inner["N_opt"]),
                     "D_opt": _geometric_text(inner["D_opt"]),
                     "loss at the optimum": _geometric_text(inner["L_opt"], "{:.5f}")})
    return pd.DataFrame(rows)


def _geometric_text(values: pd.Series, form: str = "{:,.0f}") -> str:
    """'1,234 (1,100–1,390)': the geometric mean and its 95% CI (a t-interval on logs)."""
    if not len(values):
        return "–"
    mean, low, high = np.exp(_ci(np.log(values.to_numpy(float))))
    return form.format(mean) if not np.isfinite(low) else \
        f"{form.format(mean)} ({form.format(low)}–{form.format(high)})"


def separable_a(by_n: pd.DataFrame, by_d: pd.DataFrame) -> pd.Series:
    """Per seed, α_D / (α_N + α_D): the a that Hoffmann et al.'s form L = E + A·N^(−α) +
    B·D^(−β) implies (Approach 3), with α = α_N and β = α_D of claims 1-2 (at the largest
    D the D-term is a constant, absorbed in L(N)'s floor, and vice versa). A cross-check
    of the IsoFLOP estimate, not a claim."""
    both = by_n.merge(by_d, on="seed", suffixes=("_n", "_d"))
    return both["alpha_d"] / (both["alpha_n"] + both["alpha_d"])


def frontier_table(frontier: pd.DataFrame, separable: pd.Series,
                   outcomes: dict[str, str]) -> pd.DataFrame:
    """Claims 3-4: a, b and α_C, mean ± 95% CI over the seeds with MIN_BUDGETS budgets;
    and the separable form's a (a cross-check)."""
    rows = [("a: N_opt ∝ C^a", frontier["a"], f"{outcomes['frontier']}; {split_text(frontier)}",
             "Hoffmann Table 2: 0.49 (0.462–0.534), Approach 2; Kaplan §6: 0.73"),
            ("b = 1 − a: D_opt ∝ C^b", frontier["b"], outcomes["frontier"],
             "Hoffmann: 0.51 (0.483–0.529); Kaplan: 0.27"),
            ("α_C: loss at the optimum ∝ C^(−α_C)", frontier["alpha_C"], "(not a claim)",
             "0.050 (Kaplan eq. 1.3, language)"),
            ("a = α_D / (α_N + α_D): the separable form's", separable, "(a cross-check)",
             "Hoffmann Table 2: 0.46 (0.454–0.455), Approach 3")]
    return pd.DataFrame([{"exponent": name, "seeds": int(values.notna().sum()),
                          "mean ± 95% CI": report.ci_text(*_ci(values), 3),
                          "outcome": outcome, "published": published}
                         for name, values, outcome, published in rows])


def split_text(frontier: pd.DataFrame) -> str:
    """Which of the published a's the CI of ours includes."""
    _, low, high = _ci(frontier["a"])
    if not (np.isfinite(low) and np.isfinite(high)):
        return "no interval"
    inside = [f"{name}'s {value}" for name, value in (("Hoffmann et al.", HOFFMANN_A),
                                                      ("Kaplan et al.", KAPLAN_A))
              if low <= value <= high]
    return f"the CI includes {' and '.join(inside)}" if inside else \
        f"the CI includes neither {HOFFMANN_A} nor {KAPLAN_A}"


def verdict_text(outcomes: dict[str, str], fits_rows: pd.DataFrame,
                 frontier: pd.DataFrame) -> str:
    """The verdict paragraph: each rule, then its outcome and numbers."""
    n, d = (fits_rows.iloc[i] for i in (0, 1))
    rule = (f"Rule: per-seed fits of a·x^(−α) + floor; confirmed if α's 95% CI over seeds "
            f"lies above 0 and the RMS log residual's CI upper bound is at most {RMS_TOL:g}; "
            f"refuted if α's CI is at or below 0 or the residual's CI is above {RMS_TOL:g}.")
    seeds = int(frontier["a"].notna().sum())
    a = report.ci_text(*_ci(frontier["a"]), 3) if seeds else \
        f"none (no seed has {MIN_BUDGETS} budgets with an interior optimum)"
    return (f"**1. Test loss falls as a power law in N: {outcomes['N']}.** {rule} Measured at "
            f"{n['at']}: α_N = {n['exponent']}, RMS log residual {n['RMS log residual']}.\n\n"
            f"**2. Test loss falls as a power law in D: {outcomes['D']}.** The same rule. "
            f"Measured at {d['at']}: α_D = {d['exponent']}, RMS log residual "
            f"{d['RMS log residual']}.\n\n"
            f"**3. The compute-optimal N and D both grow with C: {outcomes['frontier']}.** "
            f"Rule: IsoFLOP profiles (cells of equal 6ND), N_opt at the vertex of a parabola "
            f"in log N through the lowest cell and its neighbours, a = slope of log N_opt on "
            f"log C per seed (≥ {MIN_BUDGETS} budgets), b = 1 − a; confirmed if a's CI lies "
            f"inside (0, 1), refuted if at or below 0 or at or above 1. Measured: a = {a}"
            + (f" over {seeds} seeds, b = {report.ci_text(*_ci(frontier['b']), 3)}.\n\n"
               if seeds else ".\n\n") +
            f"**4. The split is Hoffmann et al.'s a ≈ {HOFFMANN_A}, not Kaplan et al.'s "
            f"{KAPLAN_A}: {outcomes['split']}.** Rule: confirmed if a's CI includes "
            f"{HOFFMANN_A} and excludes {KAPLAN_A}; refuted if it excludes {HOFFMANN_A}; not "
            f"resolved if it includes both. Measured: "
            + (f"a = {a}: {split_text(frontier)}." if seeds else "no a (claim 3)."))


def analyze(results: report.Results) -> report.Analysis:
    table = trial_table(results)
    by_n, by_d = exponent_fits(table, "N"), exponent_fits(table, "D")
    profiles = isoflop_profiles(table)
    frontier = frontier_fits(profiles)
    outcomes = verdicts(table)
    fits_rows = fits_table(by_n, by_d, outcomes)
    a_text = (f"a = {report.ci_text(*_ci(frontier['a']), 3)}, b = "
              f"{report.ci_text(*_ci(frontier['b']), 3)}" if frontier["a"].notna().any()
              else "no IsoFLOP budget")
    ours = [f"α_N = {fits_rows['exponent'][0]} ({outcomes['N']})",
            f"α_D = {fits_rows['exponent'][1]} ({outcomes['D']})",
            f"{a_text} ({outcomes['frontier']})",
            f"{a_text.split(',')[0]}: {split_text(frontier)} ({outcomes['split']})"]
    tables = {"Test loss (MSE) per N and D, mean ± 95% CI over seeds": loss_table(table),
              "Power-law fits, per seed then mean ± 95% CI (claims 1-2)": fits_rows}
    plots = {"Test loss against parameters N, one line per D": size_plot(table, by_n, "N"),
             "Test loss against examples D, one line per N": size_plot(table, by_d, "D")}
    if len(interior(profiles)):  # not on an L-shaped grid (--quick): no IsoFLOP profile
        tables["IsoFLOP budgets: the compute-optimal N and D (claim 3)"] = budgets_table(profiles)
        tables["The compute-optimal frontier's exponents (claims 3-4)"] = frontier_table(
            frontier, separable_a(by_n, by_d), outcomes)
        plots["IsoFLOP profiles: test loss against N at a fixed compute budget"] = \
            isoflop_plot(table, profiles)
        plots["Compute-optimal N and D against the budget C"] = frontier_plot(profiles, frontier)
    plots["Test loss against compute C = 6ND, one line per N, with the frontier"] = \
        compute_plot(table, profiles)
    return report.Analysis(
        tables=tables, plots=plots, verdict=verdict_text(outcomes, fits_rows, frontier),
        published={k: (v, o) for (k, v), o in zip(PUBLISHED.items(), ours)},
        status=report.status_of(list(outcomes.values()),
                                matches_published=outcomes["split"] == CONFIRMED))


# ---------------------------------------------------------------- plots


def _figure(width: float = 6.8) -> tuple[Figure, object]:
    fig = Figure(figsize=(width, 4.0), dpi=120, layout="constrained")
    ax = fig.subplots()
    ax.set(xscale="log", yscale="log")
    ax.grid(alpha=0.3, which="both", lw=0.5)
    return fig, ax


def _beside(ax) -> None:
    """The legend beside the axes, never over the data."""
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)


def _band(ax, s: pd.DataFrame, x: str, label: str, color: str, marker: str = "o") -> None:
    if s.empty:  # e.g. no budget with an interior optimum (the --quick grid)
        return
    ax.plot(s[x], s["mean"], marker=marker, ms=4, color=color, label=label)
    ax.fill_between(s[x], s["low"], s["high"], color=color, alpha=0.2, linewidth=0)


def size_plot(table: pd.DataFrame, per_seed: pd.DataFrame, along: str) -> Figure:
    """Loss against N (or D), mean and 95% CI per value of the other, and the mean of the
    per-seed fitted curves where the fit was made."""
    other = "D" if along == "N" else "N"
    fig, ax = _figure()
    summary = report.summarize(table, [other, along], "loss")
    for i, (value, s) in enumerate(summary.groupby(other)):
        _band(ax, s, along, f"{other} = {value:,.0f}", f"C{i % 10}")
    x = np.geomspace(table[along].min(), table[along].max(), 100)
    fitted = per_seed.dropna(subset=["alpha"])
    if len(fitted):
        curve = np.mean([r.a * x ** -r.alpha + r.floor for r in fitted.itertuples()], axis=0)
        alpha = report.ci_text(*_ci(fitted["alpha"]), 2)
        ax.plot(x, curve, "k--", lw=1, label=f"fit at {other} = {fitted['at'].max():,.0f}:\n"
                                            f"α_{along} = {alpha}")
    ax.set(xlabel="parameters N" if along == "N" else "training examples D (one pass)",
           ylabel="test MSE")
    _beside(ax)
    return fig


def isoflop_plot(table: pd.DataFrame, profiles: pd.DataFrame) -> Figure:
    """Per budget with at least 3 cells, the loss along its profile (mean and CI over
    seeds) and the per-seed optima (crosses)."""
    fig, ax = _figure()
    budgets = with_budget(table)
    counts = budgets.groupby("budget")["N"].nunique()
    for i, k in enumerate(counts[counts >= 3].index):
        g = budgets[budgets["budget"] == k]
        c = float(np.exp(np.mean(np.log(g["C"].unique()))))
        color = f"C{i % 10}"
        _band(ax, report.summarize(g, ["N"], "loss"), "N", f"C ≈ {c:.2g}", color)
        optima = interior(profiles[np.isclose(profiles["C"], c, rtol=1e-6)])
        ax.scatter(optima["N_opt"], optima["L_opt"], marker="x", s=18, color=color, zorder=3)
    ax.scatter([], [], marker="x", color="grey", label="optimum (one seed)")
    ax.set(xlabel="parameters N (D = C / 6N)", ylabel="test MSE")
    _beside(ax)
    return fig


def frontier_plot(profiles: pd.DataFrame, frontier: pd.DataFrame) -> Figure:
    """N_opt and D_opt against C: geometric mean and CI over seeds per budget, the fitted
    slopes, and the published a's for comparison (through our N_opt's centre)."""
    fig, ax = _figure()
    inner = interior(profiles)
    for column, label, color in (("N_opt", "N_opt", "C0"), ("D_opt", "D_opt", "C1")):
        s = report.summarize(inner.assign(log=np.log(inner[column])), ["C"], "log")
        s[["mean", "low", "high"]] = np.exp(s[["mean", "low", "high"]])
        _band(ax, s, "C", label, color)
    if frontier["a"].notna().any() and len(inner):
        c = np.geomspace(inner["C"].min(), inner["C"].max(), 50)
        c0, n0 = np.exp(np.mean(np.log(inner["C"]))), np.exp(np.mean(np.log(inner["N_opt"])))
        d0 = c0 / (6 * n0)
        a, b = _ci(frontier["a"])[0], _ci(frontier["b"])[0]
        ax.plot(c, n0 * (c / c0) ** a, color="C0", lw=1, ls="--", label=f"ours: a = {a:.2f}")
        ax.plot(c, d0 * (c / c0) ** b, color="C1", lw=1, ls="--", label=f"ours: b = {b:.2f}")
        for value, name, style in ((HOFFMANN_A, "Hoffmann", ":"), (KAPLAN_A, "Kaplan", "-.")):
            ax.plot(c, n0 * (c / c0) ** value, color="k", lw=0.8, ls=style,
                    label=f"{name} et al.: a = {value}")
    ax.set(xlabel="compute C = 6ND (FLOPs)", ylabel="compute-optimal N or D")
    _beside(ax)
    return fig


def compute_plot(table: pd.DataFrame, profiles: pd.DataFrame) -> Figure:
    """Every cell's loss against its compute, one line per N across D, and the
    compute-optimal loss of each budget (black)."""
    fig, ax = _figure()
    for i, (n, g) in enumerate(table.groupby("N")):
        _band(ax, report.summarize(g, ["C"], "loss"), "C", f"N = {n:,.0f}", f"C{i % 10}")
    inner = interior(profiles)
    if len(inner):
        s = report.summarize(inner.assign(log=np.log(inner["L_opt"])), ["C"], "log")
        s[["mean", "low", "high"]] = np.exp(s[["mean", "low", "high"]])
        ax.plot(s["C"], s["mean"], "k-", marker="s", ms=4, lw=1.5, label="compute-optimal")
    ax.set(xlabel="compute C = 6ND (FLOPs)", ylabel="test MSE")
    _beside(ax)
    return fig
