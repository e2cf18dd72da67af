"""A report's figures and tables in the formats a paper draft takes.

    jaxdl report runs/quickstart_sweep
    # report.md, and beside it: every figure as NAME.png, NAME.pdf and NAME.svg;
    # every table as tables/NAME.csv (numbers: mean, low, high, n) and tables/NAME.tex;
    # summary.png/.pdf/.svg: the study on one page (title, verdict, every figure)

Every file is a function of the figure or table alone (no dates, no software versions, a
fixed SVG id salt), so the same records give the same bytes, as report.md promises.
"""
from __future__ import annotations

import ast
import io
import math
import os
import textwrap
from typing import Any, Sequence

import matplotlib
import matplotlib.image
import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from jaxdl.study import sweep

__all__ = ["FORMATS", "TABLES", "file_stem", "save_figure", "save_table",
           "parse_markdown_table", "wide", "summary_page"]

FORMATS = ("png", "pdf", "svg")
TABLES = "tables"  # subdirectory of the report's CSV and LaTeX tables
# Without these the files carry the date and the software version, and SVG ids are random.
_METADATA = {"png": {"Software": None},
             "pdf": {"Creator": None, "Producer": None, "CreationDate": None},
             "svg": {"Creator": None, "Date": None}}
_PAGE = (8.27, 11.69)  # A4 portrait, inches


def file_stem(name: str) -> str:
    """A file name for a figure or table title: letters, digits, '-' and '_' kept."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


def save_figure(figure: Figure, name: str, out: str) -> str:
    """`figure` as PNG, PDF and SVG in `out`; returns the report's markdown for it."""
    stem = file_stem(name)
    with matplotlib.rc_context({"svg.hashsalt": "jaxdl"}):
        for fmt in FORMATS:
            figure.savefig(os.path.join(out, f"{stem}.{fmt}"), metadata=_METADATA[fmt])
    return f"![{name}]({stem}.png)\n\n[PDF]({stem}.pdf) · [SVG]({stem}.svg)"


def save_table(table: pd.DataFrame, name: str, out: str,
               numbers: pd.DataFrame | None = None) -> str:
    """`table` as LaTeX and `numbers` (default: `table`) as CSV, in `out`/tables/; returns
    the report's markdown links. `numbers` keeps the values a text cell rounds
    (mean ± half-width) as columns, for a plotting script or a significance test."""
    stem = file_stem(name)
    os.makedirs(os.path.join(out, TABLES), exist_ok=True)
    (table if numbers is None else numbers).to_csv(
        os.path.join(out, TABLES, f"{stem}.csv"), index=False, lineterminator="\n")
    latex = table.to_latex(index=False, escape=True, na_rep="–",
                           float_format=lambda v: f"{v:g}")
    with open(os.path.join(out, TABLES, f"{stem}.tex"), "w") as f:
        f.write(latex)
    return f"[CSV]({TABLES}/{stem}.csv) · [LaTeX]({TABLES}/{stem}.tex)"


def parse_markdown_table(text: str) -> pd.DataFrame | None:
    """The first pipe table of `text` as a DataFrame of strings (None if it has none): a
    study's analyze() may return a table already written as markdown."""
    lines = [line.strip() for line in text.splitlines() if line.strip().startswith("|")]
    if len(lines) < 2 or set(lines[1].replace("|", "").strip()) - set("-: "):
        return None

    def cells(line: str) -> list[str]:
        return [c.strip().replace("\\|", "|") for c in line.strip("|").split(" | ")]
    header = cells(lines[0])
    rows = [cells(line) for line in lines[2:]]
    if any(len(row) != len(header) for row in rows):
        return None
    return pd.DataFrame(rows, columns=header)


def wide(table: pd.DataFrame, index: str, columns: str, value: str) -> pd.DataFrame:
    """`table` (one row per (index, columns) pair) with `columns`' values as columns of
    `value` cells: a study with two axes read as a grid, not as a list of 32 rows."""
    grid = table.pivot(index=index, columns=columns, values=value)
    grid = grid.loc[sorted(grid.index, key=_natural), sorted(grid.columns, key=_natural)]
    grid.columns = [f"{sweep.short_name(columns)}={c}" for c in grid.columns]
    return grid.reset_index()


def _natural(value: Any) -> tuple:
    """A sort key that orders numbers and tuples of numbers (an axis of channel widths
    recorded as '(8, 8, 8)') by value, not as text: '(8, 8, 8)' before '(64, 64, 64)'."""
    parsed = value
    if isinstance(value, str):
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            return (1, value)
    if isinstance(parsed, (int, float)) and not isinstance(parsed, bool):
        return (0, (parsed,))
    if isinstance(parsed, (tuple, list)) and all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in parsed):
        return (0, tuple(parsed))
    return (1, str(value))


def _raster(figure: Figure) -> np.ndarray:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, metadata=_METADATA["png"])
    buffer.seek(0)
    return matplotlib.image.imread(buffer)


SUMMARY_LINES = 12  # of the verdict, at 110 characters, above a summary page's figures


def verdict_lines(verdict: str, lines: int = SUMMARY_LINES, width: int = 110) -> str:
    """The verdict wrapped at `width`, its first `lines` lines; a cut one says where the
    rest is (never a sentence silently cut off)."""
    wrapped = "\n".join(textwrap.fill(p.replace("**", ""), width)
                        for p in verdict.split("\n") if p).splitlines()
    if len(wrapped) <= lines:
        return "\n".join(wrapped)
    last = textwrap.shorten(wrapped[lines - 1], width - 30, placeholder="")
    return "\n".join(wrapped[:lines - 1] + [last + " … (the rest in report.md)"])


def summary_page(title: str, verdict: str, figures: Sequence[tuple[str, Figure]]) -> Figure:
    """One A4 page: the title, the verdict's first lines, and every figure in a grid (as
    pictures: a study's own figures cannot be re-drawn on another page's axes)."""
    text = verdict_lines(verdict)
    pictures = [(name, _raster(figure)) for name, figure in figures]
    n = max(1, len(pictures))
    cols = 1 if n == 1 else 2
    # Each row as tall as its tallest picture at the column width (plus its title), the
    # page as tall as its rows and text, at most A4.
    rows = [pictures[i:i + cols] for i in range(0, n, cols)] or [[]]
    heights = [0.3 + _PAGE[0] / cols * max((p.shape[0] / p.shape[1] for _, p in row), default=0.7)
               for row in rows]
    height = 0.6 + 0.12 * (text.count("\n") + 3) + sum(heights)
    page = Figure(figsize=(_PAGE[0], min(_PAGE[1], height)), dpi=100, layout="constrained")
    page.suptitle(f"{title}\n\n{text}" if text else title, fontsize=7, ha="left", x=0.02,
                  multialignment="left")
    axes = np.atleast_1d(page.subplots(len(rows), cols, squeeze=False,
                                       gridspec_kw={"height_ratios": heights})).ravel()
    for ax, (name, picture) in zip(axes, pictures):
        ax.imshow(picture, interpolation="antialiased")
        ax.set_title(textwrap.shorten(name, 70), fontsize=7)
    for ax in axes:
        ax.set_axis_off()
    return page
