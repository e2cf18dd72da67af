"""Reports: mean ± 95% CI over seeds, tables, plots with bands, the study's verdict.

    jaxdl report runs/quickstart_sweep                 # -> runs/quickstart_sweep/report.md + PNGs
    jaxdl report shard0/ shard1/ --out runs/merged     # shards of one sweep, merged
    jaxdl report runs/quickstart_sweep --study experiments/quickstart_sweep.py  # + its analyze()

Statistics: every number reported for an axis point is the mean over its seeds
with a 95% Student-t interval, mean ± t(0.975, n-1) · s / sqrt(n) — with the
5-10 seeds of a typical study a bootstrap interval is too narrow (it cannot see
more spread than the few values show). Effects of an axis are *paired*: the
difference between two values of the axis at the same seed and other axis values,
so the seed-to-seed variation that both share cancels (`paired_effect`).

A study's `analyze(results: Results) -> Analysis` adds its own tables, plots and
verdict — only when the study file is named by the user (`jaxdl sweep STUDY.py`,
`jaxdl report DIR --study STUDY.py`, `write_report(..., study=path)`): a sweep
directory is read as data and no code in it (not its study.py copy, not the path
its study.json records) is ever executed; its title and claim come from study.json,
and when the study has an analysis that did not run, the report says how to run it.
Every report also holds, per declared metric, a table of the final
value at each axis point and a line plot with CI bands, the published values
where the study states them, and the failed and missing trials. The report is
a function of the committed records only (no times, no paths of the machine),
so an interrupted and resumed sweep gives the same report as an uninterrupted one.
"""
from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import textwrap
from typing import Any, Callable, Sequence

import numpy as np
import pandas as pd
from matplotlib import ticker
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from scipy import stats

from jaxdl import saved as saved_lib
from jaxdl.study import paper
from jaxdl.study import store as store_lib
from jaxdl.study import sweep

__all__ = ["REPORT", "LEVEL", "MAX_LINE_POINTS", "MAX_LINES", "NOT_RUN", "NOTE", "mean_ci",
           "summarize", "paired_effect", "Results", "Analysis", "ci_text", "with_ci_column",
           "markdown", "metric_table", "line_plot", "scatter_fit", "load_results", "default_plot",
           "line_axes",
           "write_report", "read_notes", "changed_sources", "read_verdict", "variant_label",
           "not_run_note", "finite_mean_ci", "place_legend", "log_x_readable", "STATUSES", "STATUS_FILE", "status_of", "read_status"]

REPORT = "report.md"
LEVEL = 0.95
MAX_LINE_POINTS = 12  # an axis with more distinct values (a search) is plotted as a scatter
MAX_LINES = 8  # a default plot with more lines than this is left to the study's analyze()
LEGEND_INSIDE = 5  # a legend with more entries goes beside the axes
LEGEND_WRAP = 40  # characters per line of a legend beside the axes
NOT_RUN = "Analysis not run:"  # the report's line when the study's analyze() did not run
NOTE = "Note: "  # a report's one-line notes (a component's source changed), printed too
# What a study's code decides about its published result as a whole (issue 17: the README
# lists one per study). Ordered from the strongest to the weakest support.
STATUSES = ("reproduced", "reproduced in direction", "partly reproduced", "not reproduced",
            "refuted")
STATUS_FILE = "status.json"  # the status and the published-vs-ours rows, as data
CONFIRMED, REFUTED = "confirmed", "refuted"


# ---------------------------------------------------------------- statistics


def mean_ci(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the Student-t interval of the mean; NaN bounds for one value."""
    x = np.asarray(values, dtype=float)
    mean = float(np.mean(x)) if x.size else math.nan
    if x.size < 2:
        return mean, math.nan, math.nan
    half = float(stats.t.ppf(0.5 + level / 2, x.size - 1) * np.std(x, ddof=1) / math.sqrt(x.size))
    return mean, mean - half, mean + half


def finite_mean_ci(values: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """`mean_ci` of the finite values only (a trial without a time to fit has NaN)."""
    x = np.asarray(values, dtype=float)
    return mean_ci(x[np.isfinite(x)], level)


def summarize(df: pd.DataFrame, by: Sequence[str], value: str = "value") -> pd.DataFrame:
    """Per distinct `by` values: mean, low, high (95% CI) and n of `value`."""
    by = list(by)
    groups = df.groupby(by, sort=True, dropna=False) if by else [((), df)]
    rows = []
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        mean, low, high = mean_ci(g[value])
        rows.append({**dict(zip(by, key)), "mean": mean, "low": low, "high": high, "n": len(g)})
    return pd.DataFrame(rows, columns=[*by, "mean", "low", "high", "n"])


def paired_effect(final: pd.DataFrame, axis: str, a: Any, b: Any,
                  by: Sequence[str] = ()) -> pd.DataFrame:
    """The effect of `axis` going from `a` to `b`: value(b) - value(a) at the same seed and
    other axis values, summarized (mean, 95% CI, n pairs) per `by` (default: overall)."""
    others = [c for c in final.columns if c not in ("trial", "value", axis)]
    wide = final.pivot_table(index=others, columns=axis, values="value").reset_index()
    if a not in wide.columns or b not in wide.columns:
        raise KeyError(f"paired_effect: {axis} has no trials at {a!r} and {b!r}")
    wide["value"] = wide[b] - wide[a]
    return summarize(wide.dropna(subset=["value"]), by)


# ---------------------------------------------------------------- results


class Results:
    """What a study's `analyze` receives: the committed trials of a sweep."""

    def __init__(self, rows: pd.DataFrame, axes: Sequence[str], metrics: Sequence[str],
                 published: dict[str, Any], failed: pd.DataFrame,
                 records: Sequence[dict] = ()):
        self.rows = rows  # long: trial, <axes>, seed, status, step, metric, value
        self.axes = list(axes)
        self.metrics = list(metrics)
        self.published = published
        self.failed = failed  # trial, <axes>, seed, error
        self._records = list(records)

    def arrays(self, name: str) -> pd.DataFrame:
        """One row per done trial whose measure() returned array `name`: trial, <axes>,
        seed, value (the np.ndarray), in trial-id order."""
        rows = []
        for r in sorted(self._records, key=lambda r: r["trial"]):
            if r["status"] == store_lib.DONE and name in r.get("arrays", ()):
                with np.load(os.path.join(r["_dir"], store_lib.ARRAYS)) as saved:
                    value = saved[name]
                rows.append({"trial": r["trial"], **store_lib.axis_values(r, self.axes),
                             "seed": r["seed"], "value": value})
        return pd.DataFrame(rows, columns=["trial", *self.axes, "seed", "value"])

    def final(self, metric: str) -> pd.DataFrame:
        """One row per done trial: its axis values, seed and `metric` at its last step."""
        df = self.rows[(self.rows.status == store_lib.DONE) & (self.rows.metric == metric)]
        last = df.loc[df.groupby("trial")["step"].idxmax()] if len(df) else df
        return last[["trial", *self.axes, "seed", "value"]].reset_index(drop=True)

    def summary(self, metric: str, by: Sequence[str] | None = None) -> pd.DataFrame:
        """Mean and 95% CI over seeds of the final `metric` per point of `by` (all axes)."""
        return summarize(self.final(metric), self.axes if by is None else by)

    def curves(self, metric: str, by: Sequence[str] | None = None) -> pd.DataFrame:
        """Mean and 95% CI over seeds of `metric` at every evaluated step."""
        df = self.rows[(self.rows.status == store_lib.DONE) & (self.rows.metric == metric)]
        return summarize(df, [*(self.axes if by is None else by), "step"])

    def select(self, keep: Callable[[dict], bool],
               derived: dict[str, Callable[[dict], Any]] | None = None) -> Results:
        """The results of the trials whose point `keep(point)` accepts (one arm of a
        study), with axes `derived` computed from each point (e.g. a CNN's channel count
        as its width) set on it, so that an analysis written for one axis serves another."""
        derived = derived or {}
        recs = [dict(r, point={**r["point"], **{a: f(r["point"]) for a, f in derived.items()}})
                for r in self._records if keep(r["point"])]
        axes = list(dict.fromkeys([*self.axes, *derived]))
        kept = {r["trial"] for r in recs}
        return Results(store_lib.frame(recs, axes), axes, self.metrics, self.published,
                       self.failed[self.failed["trial"].isin(kept)], recs)


@dataclasses.dataclass
class Analysis:
    """What `analyze(results)` returns: named tables and figures, a verdict, and for
    each published claim (published value, ours as text)."""
    tables: dict[str, pd.DataFrame | str] = dataclasses.field(default_factory=dict)
    plots: dict[str, Figure] = dataclasses.field(default_factory=dict)
    verdict: str = ""
    published: dict[str, tuple[Any, str]] = dataclasses.field(default_factory=dict)
    status: str = ""  # one of STATUSES, decided by the study's code (status_of); "" = none

    def __post_init__(self) -> None:
        if self.status and self.status not in STATUSES:
            raise sweep.StudyError(f"Analysis.status {self.status!r}: not one of "
                                   f"{', '.join(STATUSES)}")


def status_of(outcomes: Sequence[str], matches_published: bool = False) -> str:
    """A study's status from its claims' outcomes ("confirmed", "refuted", anything else:
    not resolved). Every claim confirmed: "reproduced" when the study's code also found
    its numbers within the published ones' tolerance (`matches_published`), else
    "reproduced in direction"; some confirmed: "partly reproduced"; none confirmed but
    some refuted: "refuted"; none either way: "not reproduced".

        status_of(["confirmed", "not resolved"])  # -> 'partly reproduced'
    """
    outcomes = [str(o).strip().lower() for o in outcomes]
    if not outcomes:
        raise ValueError("status_of: no outcomes")
    confirmed = sum(o == CONFIRMED for o in outcomes)
    if confirmed == len(outcomes):
        return STATUSES[0] if matches_published else STATUSES[1]
    if confirmed:
        return STATUSES[2]
    return STATUSES[4] if REFUTED in outcomes else STATUSES[3]


def read_status(directory: str) -> dict[str, Any] | None:
    """The status.json of a written report directory (None if it has none): {"study",
    "quick", "status", "published": [[claim, published, ours], ...]}."""
    path = os.path.join(directory, STATUS_FILE)
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return json.load(f)


# ---------------------------------------------------------------- formatting and plots


def ci_text(mean: float, low: float, high: float, digits: int = 4) -> str:
    """'0.9123 ± 0.0101' ('0.9123' alone when the interval is undefined)."""
    if math.isnan(low):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {(high - low) / 2:.{digits}f}"


def with_ci_column(summary: pd.DataFrame, name: str = "mean ± 95% CI") -> pd.DataFrame:
    """The summary with mean/low/high replaced by one text column."""
    out = summary.drop(columns=["mean", "low", "high"])
    out.insert(len(out.columns) - 1, name,
               [ci_text(m, lo, hi) for m, lo, hi in summary[["mean", "low", "high"]].values])
    return out


def markdown(df: pd.DataFrame) -> str:
    """A GitHub markdown table; axis columns named by their last key part."""
    def cell(v: Any) -> str:
        if isinstance(v, float):
            return "–" if math.isnan(v) else f"{v:g}"
        return str(v).replace("|", "\\|").replace("\n", " ")
    # A config key is shortened ('optimizer.lr' -> 'lr', but 'model.name' and
    # 'objective.name' stay apart); a wide table's 'noise=0.15' is not.
    keys = [str(c) for c in df.columns if "=" not in str(c)]
    short = dict(zip(keys, sweep.short_names(keys)))
    header = [short.get(str(c), str(c)) for c in df.columns]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def metric_table(summary: pd.DataFrame) -> pd.DataFrame:
    """A metric's final values for the report: mean ± 95% CI per axis point; with exactly
    two axes that vary, a grid (the first as rows, the second as columns), else one row
    per point with n."""
    table = with_ci_column(summary)
    varying = [c for c in summary.columns[:-4] if summary[c].nunique(dropna=False) > 1]
    if len(varying) == 2 and not summary.duplicated(varying).any():
        return paper.wide(table, varying[0], varying[1], table.columns[-2])
    return table


def _is_log(values: Sequence[Any]) -> bool:
    v = [x for x in values if isinstance(x, (int, float)) and not isinstance(x, bool)]
    return len(v) == len(values) and min(v) > 0 and max(v) / min(v) >= 10


def line_plot(summary: pd.DataFrame, x: str, hue: Sequence[str] = (), ylabel: str = "",
              title: str = "") -> Figure:
    """Mean against `x` with its 95% CI as a band, one line per value of `hue`;
    log-scaled x when the values are positive and span a factor of 10 or more."""
    fig = Figure(figsize=(5.5, 3.8), dpi=120, layout="constrained")
    ax = fig.subplots()
    hue = list(hue)
    groups = summary.groupby(hue, sort=True, dropna=False) if hue else [((), summary)]
    for key, g in groups:
        key = key if isinstance(key, tuple) else (key,)
        g = g.sort_values(x)
        label = _label(hue, key) or None
        line, = ax.plot(g[x], g["mean"], marker="o", label=label)
        ax.fill_between(g[x], g["low"], g["high"], color=line.get_color(), alpha=0.2,
                        linewidth=0)
    if _is_log(list(summary[x])):
        _log_x_at(ax, summary[x].unique())
    ax.set_xlabel(sweep.short_name(x))
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    if hue:
        place_legend(ax)
    return fig


def _log_x_at(ax: Any, values: Sequence[float]) -> None:
    """A log x axis ticked at the swept values ('4000', '16000'), not at matplotlib's
    minor ticks, whose labels ('3×10⁴4×10⁴') run into each other over a decade or two."""
    ax.set_xscale("log")
    values = sorted(float(v) for v in values)
    if len(values) <= MAX_LINE_POINTS:
        ax.set_xticks(values, _spaced_labels(values))
        ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def log_x_readable(ax: Any) -> None:
    """A log x axis of scattered values labelled at 1, 2 and 5 per decade in plain numbers
    ('0.2', '0.5', '1'), never at matplotlib's minor ticks ('3×10⁻¹4×10⁻¹' ran together)."""
    ax.set_xscale("log")
    ax.xaxis.set_major_locator(ticker.LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    ax.xaxis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(ticker.NullFormatter())


def _spaced_labels(values: Sequence[float], gap: float = 0.1) -> list[str]:
    """'{v:g}' for each value of a log axis, '' for one closer than `gap` of the span (in
    log10) to the last labelled one (1024 and 1274 on an axis to 17024 would overlap)."""
    logs = np.log10(values)
    span, last, labels = max(logs[-1] - logs[0], 1e-12), -np.inf, []
    for v, lv in zip(values, logs):
        keep = lv - last >= gap * span
        labels.append(f"{v:g}" if keep else "")
        last = lv if keep else last
    return labels


def _label(hue: Sequence[str], key: Sequence[Any]) -> str:
    """'lr=0.01, noise=0.1' for a line; an axis a trial does not have (NaN: another arm's
    axis) is left out, not printed as `=nan`; an arm that has none of them is 'without
    lr, noise' (an unlabelled line would be missing from the legend)."""
    def value(v: Any) -> str:
        return f"{v:g}" if isinstance(v, float) else str(v)  # 0.996678, not 0.9966777408637874
    names = sweep.short_names(hue)
    if hue and all(pd.isna(v) for v in key):
        return "without " + ", ".join(names)
    return ", ".join(f"{name}={value(v)}" for name, v in zip(names, key) if not pd.isna(v))


def place_legend(ax: Any) -> None:
    """Inside the axes while it is small and covers no data; beside them when it has more
    than LEGEND_INSIDE entries or every place inside would cover a line, its labels
    wrapped and the figure widened for it (once per axes), so that it stays inside the
    figure and the axes keep their size. A study's own figure calls it after adding its
    last line."""
    handles, labels = ax.get_legend_handles_labels()
    if ax.get_legend() is not None:
        ax.get_legend().remove()
    if len(labels) <= LEGEND_INSIDE:
        legend = ax.legend(fontsize=8)
        if not _covers_data(ax, legend):
            return
        legend.remove()
    labels = [textwrap.fill(label, LEGEND_WRAP) for label in labels]
    if not getattr(ax, "_legend_beside", False):
        width, height = ax.figure.get_size_inches()
        ax.figure.set_size_inches(width + LEGEND_WRAP * 0.07, height)  # ~0.07 in per char at 7 pt
        ax._legend_beside = True
    ax.legend(handles, labels, fontsize=7, loc="upper left", bbox_to_anchor=(1.02, 1),
              borderaxespad=0)


def _covers_data(ax: Any, legend: Any, samples: int = 25) -> bool:
    """Whether the legend, where matplotlib's 'best' put it, lies over a plotted line or
    point (its markers and `samples` points along each segment, in display space)."""
    box = legend.get_window_extent(FigureCanvasAgg(ax.figure).get_renderer())
    for line in ax.get_lines():
        xy = ax.transData.transform(np.asarray(line.get_xydata(), dtype=float))
        xy = xy[np.isfinite(xy).all(axis=1)]
        t = np.linspace(0.0, 1.0, samples)[:, None]
        along = [a + t * (b - a) for a, b in zip(xy[:-1], xy[1:])]
        points = np.concatenate([xy, *along]) if along else xy
        if len(points) and box.count_contains(points):
            return True
    return False


def scatter_fit(df: pd.DataFrame, x: str, y: str = "value", xlabel: str = "", ylabel: str = "",
                title: str = "", hue: Sequence[str] = ()) -> tuple[Figure, dict[str, float]]:
    """Every trial as a point and the least-squares line of y on x (on log10 x when x
    spans a factor of 10), one colour and one fit per value of `hue` (different arms are
    never pooled into one fit); returns the figure and {slope, intercept, r, p} of the
    fit of all points when `hue` is empty, of the first group's otherwise."""
    log = _is_log(list(df[x]))
    fig = Figure(figsize=(5.5, 3.8), dpi=120, layout="constrained")
    ax = fig.subplots()
    hue = list(hue)
    groups = df.groupby(hue, sort=True, dropna=False) if hue else [((), df)]
    fits = [_scatter_one(ax, g, x, y, log, _label(hue, k if isinstance(k, tuple) else (k,)),
                         f"C{i % 10}") for i, (k, g) in enumerate(groups)]
    if log:
        log_x_readable(ax)
    ax.set(xlabel=xlabel or sweep.short_name(x), ylabel=ylabel or y)
    ax.set_title(title, fontsize=10)
    ax.grid(alpha=0.3)
    place_legend(ax)
    fit = fits[0]
    if fit is None:
        return fig, dict.fromkeys(("slope", "intercept", "r", "p"), math.nan)
    return fig, {"slope": fit.slope, "intercept": fit.intercept, "r": fit.rvalue, "p": fit.pvalue}


def _scatter_one(ax: Any, df: pd.DataFrame, x: str, y: str, log: bool, label: str,
                 color: str) -> Any:
    xs = np.log10(df[x].to_numpy(float)) if log else df[x].to_numpy(float)
    ys = df[y].to_numpy(float)
    ax.scatter(df[x], ys, s=14, alpha=0.7, color=color, label=label if len(set(xs)) < 2 else None)
    if len(set(xs)) < 2:
        return None  # a line needs two distinct x
    fit = stats.linregress(xs, ys)
    grid = np.linspace(xs.min(), xs.max(), 50)
    line = f"slope {fit.slope:.3g}{' per decade' if log else ''}, r = {fit.rvalue:.2f}"
    ax.plot(10 ** grid if log else grid, fit.intercept + fit.slope * grid,
            color="C3" if not label else color, label=f"{label}: {line}" if label else f"fit: {line}")
    return fit


# ---------------------------------------------------------------- the report


def load_results(roots: Sequence[str]) -> tuple[dict, Results, list[dict]]:
    """(study description, results, trials without a record) of one or more sweep
    directories, which must be shards of one sweep (same study, same base config)."""
    infos = [store_lib.read_study(r) for r in roots]
    for root, info in zip(roots[1:], infos[1:]):
        difference = store_lib.variant_difference(infos[0], info)
        if difference:  # variants of one study are separate sweeps, never merged
            raise store_lib.StoreError(f"{root} holds another variant than {roots[0]} (a sweep "
                                       f"{difference}); cannot merge them")
        if not store_lib.same_base(infos[0], info):
            raise store_lib.StoreError(f"{root} holds another sweep than {roots[0]} "
                                       f"(base config differs); cannot merge them")
    info = infos[0]
    expected = {t["trial"]: t for i in infos for t in i["trials"]}
    recs = [r for r in store_lib.records(roots) if r["trial"] in expected]
    axes = info["axes"]
    failed = pd.DataFrame(
        [{"trial": r["trial"], **store_lib.axis_values(r, axes), "seed": r["seed"],
          "error": ((r["error"] or "").strip().splitlines() or [""])[-1]} for r in recs
         if r["status"] == store_lib.FAILED], columns=["trial", *axes, "seed", "error"])
    results = Results(store_lib.frame(recs, axes), axes, info["metrics"],
                      info.get("published", {}), failed, recs)
    committed = {r["trial"] for r in recs}
    missing = [t for tid, t in expected.items() if tid not in committed]
    return info, results, missing


def default_plot(results: Results, metric: str) -> Figure | None:
    """`metric` against the first numeric axis that varies: one line per other varying
    axes with CI bands for a grid, every trial with a fit for a search's scattered points."""
    summary = results.summary(metric)
    varying = [a for a in results.axes if summary[a].nunique(dropna=False) > 1]
    # An x that some arms lack (NaN) would drop those arms from the plot without a word.
    numeric = [a for a in varying
               if pd.api.types.is_numeric_dtype(summary[a]) and summary[a].notna().all()]
    if summary.empty or not numeric:
        return None
    # The first numeric axis with three values or more is the x: over two, a line says no
    # more than the table beside it (double_descent_cnn: 8 channel widths as lines over 2
    # label-noise levels).
    numeric = [a for a in numeric if summary[a].nunique() >= 3]
    if not numeric:
        return None
    x = numeric[0]
    hue = line_axes(summary, x, varying)
    if hue and len(summary.groupby(hue, dropna=False)) > MAX_LINES:
        return None  # unreadable; the study's own analyze() plots what matters
    if summary[x].nunique() > MAX_LINE_POINTS:
        return scatter_fit(results.final(metric), x, ylabel=metric, hue=hue,
                           title=f"{metric} of every trial")[0]
    return line_plot(summary, x, hue, ylabel=metric,
                     title=f"{metric}: mean and 95% CI over seeds")


def line_axes(summary: pd.DataFrame, x: str, varying: Sequence[str]) -> list[str]:
    """The axes of `varying` that split default_plot's lines over `x`: all but x and those
    that only relabel it — one value per x and one x per value (train_split with
    num_samples), which would split every line into points. An axis that is constant per
    x but spans several x (two arms swept over disjoint widths) still splits: joined,
    the arms would read as one curve."""
    def relabels_x(axis: str) -> bool:
        pairs = summary[[x, axis]].drop_duplicates()
        return len(pairs) == pairs[x].nunique(dropna=False) == pairs[axis].nunique(dropna=False)
    return [a for a in varying if a != x and not relabels_x(a)]


def write_report(roots: Sequence[str], out: str | None = None, study: str | None = None) -> str:
    """Write report.md and its PNGs into `out` (default: the first directory); returns
    the report's path. The records are read as data; `study`, a study file the caller
    names, is executed for its analyze(). Every input is checked before anything is
    written (StoreError, StudyError: one line)."""
    out = out or roots[0]
    info, results, missing = load_results(roots)
    if os.path.exists(out) and not os.path.isdir(out):
        raise store_lib.StoreError(f"{out}: is a file; the report goes into a directory "
                                   f"(choose another --out)")
    if study is not None and not os.path.isfile(study):
        raise sweep.StudyError(f"--study {study}: no such file; name the study file whose "
                               f"analyze() should run")
    n_done = results.rows.loc[results.rows.status == store_lib.DONE, "trial"].nunique()
    total = n_done + len(results.failed) + len(missing)
    notes: list[str] = []
    if study is not None:
        doc, analysis, analysis_error, notes = _analyze(study, info, results)
    else:  # the records alone: no component is imported, no code from the directory runs
        doc, analysis, analysis_error = info.get("doc") or "", None, None
    os.makedirs(out, exist_ok=True)
    lines = [f"# Study: {info['name']}{variant_label(info)}", ""]
    if doc:
        lines += [doc, ""]
    lines += [f"Trials: {n_done} done, {len(results.failed)} failed, {len(missing)} missing "
              f"of {total}. Numbers are means over seeds with 95% Student-t intervals.", ""]
    if study is None and info.get("analysis"):
        lines += [not_run_note(info), ""]
    lines += [line for note in notes for line in (NOTE + note, "")]
    if analysis is not None and (analysis.verdict or analysis.status):
        lines += ["## Verdict", ""]
        if analysis.status:
            lines += [f"**Status: {analysis.status}** (decided by the study's code from its "
                      f"claims' verdicts below).", ""]
        lines += [analysis.verdict, ""]
    if analysis_error:
        lines += ["## Verdict", "", f"analyze() could not run: {analysis_error}", ""]
    if analysis is not None and analysis.published:
        rows = pd.DataFrame([(k, p, o) for k, (p, o) in analysis.published.items()],
                            columns=["claim", "published", "ours"])
        lines += ["## Published vs ours", "", markdown(rows), ""]
    elif results.published:
        lines += ["## Published", "", markdown(pd.DataFrame(
            list(results.published.items()), columns=["claim", "published"])), ""]
    figures: list[tuple[str, Figure]] = []
    for metric in results.metrics:
        summary = results.summary(metric)
        if summary.empty:
            continue
        lines += [f"## {metric} (final)", "", markdown(metric_table(summary)), "",
                  paper.save_table(metric_table(summary), metric, out, numbers=summary), ""]
        figure = default_plot(results, metric)
        if figure is not None:
            figures.append((metric, figure))
            lines += [paper.save_figure(figure, metric, out), ""]
    if analysis is not None:
        for name, table in analysis.tables.items():
            lines += [f"## {name}", "", table if isinstance(table, str) else markdown(table), ""]
            frame = paper.parse_markdown_table(table) if isinstance(table, str) else table
            if frame is not None:
                lines += [paper.save_table(frame, name, out), ""]
        for name, figure in analysis.plots.items():
            figures.append((name, figure))
            lines += [f"## {name}", "", paper.save_figure(figure, name, out), ""]
    if figures:
        verdict = analysis.verdict if analysis is not None else ""
        page = paper.summary_page(lines[0][2:], verdict, figures)
        lines += ["## On one page", "", paper.save_figure(page, "summary", out), ""]
    if len(results.failed):
        lines += ["## Failed trials", "", markdown(results.failed), ""]
    if missing:
        lines += ["## Missing trials", "",
                  f"{len(missing)} trials have no record yet: run the sweep (or its other "
                  f"shards) to finish, then merge shards with `jaxdl report DIR DIR...`.", "",
                  markdown(pd.DataFrame([{"trial": t["trial"], **t["point"], "seed": t["seed"]}
                                         for t in missing[:50]])), ""]
    _write_status(out, info, analysis)
    path = os.path.join(out, REPORT)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write("\n".join(lines).rstrip() + "\n")
    os.replace(tmp, path)
    return path


def _write_status(out: str, info: dict, analysis: Analysis | None) -> None:
    """status.json beside the report when the analysis decided a status; a stale one from
    an earlier report into `out` is removed (it would speak for numbers no longer there)."""
    path = os.path.join(out, STATUS_FILE)
    if analysis is None or not analysis.status:
        if os.path.exists(path):
            os.remove(path)
        return
    data = {"study": info["name"], "quick": bool(info.get("quick")), "status": analysis.status,
            "published": [[k, str(p), str(o)] for k, (p, o) in analysis.published.items()]}
    with open(path + ".tmp", "w") as f:
        json.dump(data, f, indent=1, ensure_ascii=False)
        f.write("\n")
    os.replace(path + ".tmp", path)


def read_notes(path: str) -> list[str]:
    """The one-line notes of a written report.md (a component's source that changed since
    the sweep ran), for the command line to print."""
    with open(path) as f:
        return [line[len(NOTE):] for line in f.read().splitlines() if line.startswith(NOTE)]


def changed_sources(info: dict, base: Any) -> list[str]:
    """One line per user component of `base` (the study file's config, its components
    imported by that file) whose import path or source digest is not what the sweep
    recorded in study.json: the analysis judges trials trained with other code."""
    now, lines = saved_lib.components(base), []
    for section, old in (info.get("components") or {}).items():
        new = now.get(section)
        if isinstance(old, dict) and new and old.get("name") == new["name"] and \
                (old.get("path"), old.get("digest")) != (new["path"], new["digest"]):
            lines.append(f"config.{section}.name: {new['name']!r} ({new['path']}) changed "
                         f"since the sweep ran (recorded: {old.get('path')}, "
                         f"{str(old.get('digest'))[:19]}); the trials were trained with the "
                         f"recorded source")
    return lines


def read_verdict(path: str) -> str:
    """The verdict section of a written report.md ('' if it has none), for the command
    line to print after the report's path."""
    with open(path) as f:
        text = f.read()
    match = re.search(r"^## Verdict\n\n(.*?)(?=\n## |\Z)", text, flags=re.S | re.M)
    return match.group(1).strip() if match else ""


def variant_label(info: dict) -> str:
    """' (quick; --config.steps=100)': which variant of its study a sweep description is
    ('' for the plain study)."""
    parts = ["quick"] if info.get("quick") else []
    parts += [f"--config.{o}" for o in sweep.overrides(info.get("overrides") or {})]
    return f" ({'; '.join(parts)})" if parts else ""


def not_run_note(info: dict) -> str:
    """The report's line for a study whose analyze() was not run (no --study)."""
    return (f"{NOT_RUN} the study's analyze() (its verdict, tables and plots) runs only from "
            f"a study file you name: `jaxdl report DIR --study FILE` (FILE: your "
            f"{_plain_name(info['name'])}.py; code in a sweep directory is never run).")


def _plain_name(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _analyze(path: str, info: dict, results: Results
             ) -> tuple[str, Analysis | None, str | None, list[str]]:
    """(the docstring's title and claim, the study's analysis, why it could not run, notes)
    of the study file `path`, which the user named; it must be the study of the records
    (the same base config), or its analysis would judge another sweep's numbers. The
    notes say which of its components' sources changed since the sweep ran."""
    try:
        study = sweep.load_study(path, quick=bool(info.get("quick")),
                                 config_overrides=sweep.overrides(info.get("overrides") or {}))
    except (sweep.StudyError, OSError) as e:
        return "", None, str(e), []
    if not store_lib.same_base(info, {"fingerprint": study.fingerprint(),
                                      "base": study.base.to_dict()}):
        raise sweep.StudyError(f"--study {path}: not the study of these records (its base "
                               f"config differs from the sweep's); name the file the sweep "
                               f"ran ({info.get('study')})")
    module, notes = study.module, changed_sources(info, study.base)
    doc = store_lib.title_and_claim(module.__doc__)
    if not hasattr(module, "analyze"):
        return doc, None, None, notes
    if results.rows.empty:
        return doc, None, "no trial is done yet", notes
    try:
        analysis = module.analyze(results)
    except Exception as e:  # a partial sweep (a shard) may lack what the analysis needs
        return doc, None, f"{type(e).__name__}: {e}", notes
    return doc, analysis, None, notes
