"""Reports ready for a paper: every figure as PNG, PDF and SVG, every table as CSV and LaTeX,
two-axis tables as grids, one summary page, the same bytes from the same records; default
plots never pool arms into one fit, never label a line `=nan`, keep legends in the figure."""
import os
import re

import numpy as np
import pandas as pd
import pytest

from jaxdl.study import paper, report, run, sweep

STUDY = """
from jaxdl import config as config_lib
from jaxdl.study import sweep
SWEEP = sweep.grid({"optimizer.lr": (0.01, 0.03, 0.1), "optimizer.weight_decay": (0.0, 0.001)})
SEEDS = (0, 1)
METRICS = ("test/accuracy",)
def get_config(name=None):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 20, 10, 20, 10
    return c
"""


@pytest.fixture(scope="module")
def reported(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("paper")
    (tmp / "s.py").write_text(STUDY)
    root = str(tmp / "sweep")
    run.run_study(sweep.load_study(str(tmp / "s.py")), root, vectorize_mode="no", progress=False)
    path = report.write_report([root])
    return root, open(path).read()


def files(root: str) -> dict[str, bytes]:
    out = {}
    for base, _, names in os.walk(root):
        for name in names:
            if name.endswith((".png", ".pdf", ".svg", ".csv", ".tex", ".md")):
                out[os.path.relpath(os.path.join(base, name), root)] = open(
                    os.path.join(base, name), "rb").read()
    return out


def test_every_figure_in_three_formats_and_every_table_as_csv_and_latex(reported):
    root, text = reported
    names = set(os.listdir(root))
    for stem in ("test_accuracy", "summary"):
        assert {f"{stem}.png", f"{stem}.pdf", f"{stem}.svg"} <= names
        assert f"[PDF]({stem}.pdf) · [SVG]({stem}.svg)" in text
    assert open(os.path.join(root, "summary.pdf"), "rb").read(5) == b"%PDF-"
    assert b"<svg" in open(os.path.join(root, "summary.svg"), "rb").read()
    csv = pd.read_csv(os.path.join(root, "tables", "test_accuracy.csv"))
    assert list(csv.columns) == ["optimizer.lr", "optimizer.weight_decay", "mean", "low", "high", "n"]
    assert len(csv) == 6 and (csv["n"] == 2).all() and (csv["low"] <= csv["mean"]).all()
    tex = open(os.path.join(root, "tables", "test_accuracy.tex")).read()
    assert tex.startswith("\\begin{tabular}") and "weight\\_decay=0.001" in tex
    assert "[CSV](tables/test_accuracy.csv) · [LaTeX](tables/test_accuracy.tex)" in text


def test_two_axes_are_a_grid(reported):
    _, text = reported
    table = text.split("## test/accuracy (final)")[1].split("\n\n")[1]
    header, _, *rows = table.splitlines()
    assert header == "| lr | weight_decay=0.0 | weight_decay=0.001 |"
    assert len(rows) == 3 and all(row.count("±") == 2 for row in rows)


def test_the_same_records_give_the_same_bytes(reported, tmp_path):
    root, _ = reported
    report.write_report([root], out=str(tmp_path / "again"))
    first, second = files(root), files(str(tmp_path / "again"))
    first = {k: v for k, v in first.items() if not k.startswith("trials")}
    assert first.keys() == second.keys()
    assert [k for k in first if first[k] != second[k]] == []


def test_arms_are_never_pooled_into_one_fit():
    rng = np.random.default_rng(0)
    x = np.tile(np.arange(11, 31), 2).astype(float)  # spans < 10x: a linear axis
    noise = np.repeat([0.0, 0.15], 20)
    y = np.where(noise == 0, x, -x) + rng.normal(0, 0.1, 40)  # opposite slopes per arm
    df = pd.DataFrame({"model.width": x, "data.noise": noise, "value": y})
    fig, _ = report.scatter_fit(df, "model.width", hue=["data.noise"])
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert len(labels) == 2 and labels[0].startswith("noise=0:") and labels[1].startswith("noise=0.15:")
    slopes = [float(re.search(r"slope (-?[\d.]+)", label).group(1)) for label in labels]
    assert slopes == pytest.approx([1.0, -1.0], abs=0.02)  # each arm its own line


def test_no_nan_labels_and_legends_stay_in_the_figure():
    summary = pd.DataFrame({"x": list(range(3)) * 8, "arm": np.repeat([f"a{i}" for i in range(8)], 3),
                            "hidden": np.repeat([np.nan] * 4 + [10.0, 20.0, 30.0, 40.0], 3)})
    summary["mean"], summary["low"], summary["high"] = 1.0, 0.9, 1.1
    fig = report.line_plot(summary, "x", hue=["arm", "hidden"])
    labels = fig.axes[0].get_legend_handles_labels()[1]
    assert "arm=a0" in labels and "arm=a7, hidden=40" in labels
    assert not any("nan" in label for label in labels)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    renderer = FigureCanvasAgg(fig).get_renderer()
    fig.draw(renderer)
    box, page = fig.axes[0].get_legend().get_window_extent(renderer), fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1


def test_an_arm_without_the_hue_axes_is_named_and_a_log_x_is_ticked_at_its_values():
    """ssl_more_data's default plot: the plain arm lacks both mix axes (NaN), so its line
    had no label and no legend entry; the x ticks of a log axis over 1.2 decades read
    '3×10⁴4×10⁴'."""
    summary = pd.DataFrame({"n": [5000, 17000, 65000, 5000], "mix": [np.nan] * 3 + [12000.0],
                            "mean": 0.7, "low": 0.6, "high": 0.8})
    fig = report.line_plot(summary, "n", hue=["mix"])
    ax = fig.axes[0]
    assert ax.get_legend_handles_labels()[1] == ["mix=12000", "without mix"]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["5000", "17000", "65000"]
    assert ax.get_xscale() == "log"


def test_a_legend_that_would_cover_a_line_goes_beside_the_axes():
    """deep_bootstrap's default plot: three lines from corner to corner leave 'best' no
    empty corner, and its legend sat on the top line. Lines that leave a corner free keep
    the legend inside."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    def legend_inside(summary):
        fig = report.line_plot(summary, "x", hue=["arm"])
        ax = fig.axes[0]
        renderer = FigureCanvasAgg(fig).get_renderer()
        fig.draw(renderer)
        box, axes = ax.get_legend().get_window_extent(renderer), ax.get_window_extent(renderer)
        return axes.x0 <= box.x0 and box.x1 <= axes.x1

    x = np.linspace(1.0, 10.0, 12)
    crossing = pd.DataFrame({"x": np.tile(x, 3), "arm": np.repeat(["a", "b", "c"], 12),
                             "mean": np.concatenate([x, 11 - x, np.full(12, 5.5)])})
    crossing["low"], crossing["high"] = crossing["mean"] - 0.1, crossing["mean"] + 0.1
    assert not legend_inside(crossing)
    low = crossing.assign(mean=np.concatenate([x / 10, x / 10 + 0.2, x / 10 + 0.4]) - 10)
    low = low.assign(low=low["mean"] - 0.1, high=low["mean"] + 0.1)
    low.loc[0, "mean"] = 10.0  # one high point at the left: the upper right stays empty
    assert legend_inside(low)


def test_a_wide_table_orders_tuple_and_number_axes_by_value():
    """double_descent_cnn's channels, recorded as text, sorted '(64, 64, 64)' before
    '(8, 8, 8)'."""
    table = pd.DataFrame({"channels": ["(64, 64, 64)", "(8, 8, 8)", "(16, 16, 16)"] * 2,
                          "noise": [0.15] * 3 + [0.0] * 3, "cell": list("abcdef")})
    grid = paper.wide(table, "channels", "noise", "cell")
    assert list(grid["channels"]) == ["(8, 8, 8)", "(16, 16, 16)", "(64, 64, 64)"]
    assert list(grid.columns) == ["channels", "noise=0.0", "noise=0.15"]
    assert list(grid["noise=0.15"]) == ["b", "c", "a"]


def test_no_default_plot_over_an_axis_of_two_values(tmp_path):
    """A line through two points per arm says no more than the table beside it
    (double_descent_cnn's label noise): the report keeps the table and draws no plot."""
    (tmp_path / "s.py").write_text(STUDY.replace('(0.01, 0.03, 0.1)', '(0.01, 0.1)')
                                   .replace("SEEDS = (0, 1)", "SEEDS = (0,)"))
    root = str(tmp_path / "sweep")
    run.run_study(sweep.load_study(str(tmp_path / "s.py")), root, vectorize_mode="no",
                  progress=False)
    text = open(report.write_report([root])).read()
    assert "## test/accuracy (final)" in text and "tables/test_accuracy.csv" in text
    assert not os.path.exists(os.path.join(root, "test_accuracy.png"))


def test_markdown_tables_of_an_analysis_become_frames():
    text = "| claim | ours |\n|---|---|\n| a \\| b | 0.5 ± 0.1 |\n| c | 0.7 |"
    frame = paper.parse_markdown_table(text)
    assert list(frame.columns) == ["claim", "ours"] and frame.iloc[0, 0] == "a | b"
    assert paper.parse_markdown_table("no table here") is None


def test_a_long_verdict_on_the_summary_page_says_where_the_rest_is():
    from jaxdl.study import paper
    long = "\n".join(f"Claim {i}: " + "a measured difference of 0.1 ± 0.02 " * 6 for i in range(9))
    lines = paper.verdict_lines(long).splitlines()
    assert len(lines) == paper.SUMMARY_LINES
    assert lines[-1].endswith("… (the rest in report.md)") and len(lines[-1]) <= 110
    assert paper.verdict_lines("Claim: confirmed.") == "Claim: confirmed."  # short: whole


def test_default_plot_splits_arms_over_disjoint_x_and_joins_a_relabelling_of_x():
    """Two arms swept over disjoint widths at their own lr are two lines (lr is constant
    per width, yet joining them would draw one curve through both arms); train_split set
    by num_samples (one value per x and back) is no line of its own."""
    arms = pd.DataFrame({"model.width": [8, 16, 32, 64, 128, 256],
                         "optimizer.lr": [0.1] * 3 + [0.01] * 3,
                         "data.train_split": [0.5, 0.6, 0.7, 0.8, 0.9, 0.95]})
    varying = list(arms.columns)
    assert report.line_axes(arms, "model.width", varying) == ["optimizer.lr"]
    grid = pd.DataFrame({"model.width": [8, 16, 32] * 2, "optimizer.lr": [0.1] * 3 + [0.01] * 3})
    assert report.line_axes(grid, "model.width", list(grid.columns)) == ["optimizer.lr"]
