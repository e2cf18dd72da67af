"""README's study table (issue 17): generated from the committed reports' status.json by
jaxdl/study/table.py; every study with an analysis has a full run's status.json."""
import ast
import glob
import json
import os
import pathlib
import re

import pytest

from jaxdl.study import report, table

REPO = pathlib.Path(__file__).resolve().parents[1]

# Studies with an analyze() that are not a published claim, so not in the table.
NOT_PUBLISHED_CLAIMS = {
    "quickstart_sweep": "the README's demo: its claim (lr 1e-2 wins at 1500 steps) is the "
                        "project's own, and its report is not committed under docs/studies",
    "regularization_tuning": "picks experiments/regularization.py's strengths on one seed; "
                             "its table is docs/studies/regularization/tuning.md",
}
# Their full sweeps are re-running; the coordinator regenerates their reports (with the
# status their study files now decide) and then removes them from this set.
AWAITING_REGENERATION: set[str] = set()


def defines_analyze(path: str) -> bool:
    """A module-level `def analyze` or `analyze = ...` (double_descent_cnn takes its
    study's), read from the source: study files are not imported here."""
    names = set()
    for node in ast.parse(pathlib.Path(path).read_text()).body:
        if isinstance(node, ast.FunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign):
            names |= {n.id for target in node.targets for n in ast.walk(target)
                      if isinstance(n, ast.Name)}
    return "analyze" in names


def studies_with_analysis() -> list[str]:
    return sorted(pathlib.Path(p).stem for p in glob.glob(str(REPO / "experiments" / "*.py"))
                  if defines_analyze(p))


def test_readme_block_is_the_table_of_the_committed_status_files(monkeypatch):
    monkeypatch.chdir(REPO)
    text = (REPO / "README.md").read_text()
    assert table.replace_block(text, table.studies_table()) == text, \
        "README's study table is stale: run `python -m jaxdl.study.table`"


@pytest.mark.parametrize("study", studies_with_analysis())
def test_every_study_with_an_analysis_has_a_full_status(study):
    if study in NOT_PUBLISHED_CLAIMS:
        pytest.skip(NOT_PUBLISHED_CLAIMS[study])
    directory = REPO / "docs" / "studies" / study
    status = report.read_status(str(directory))
    if study in AWAITING_REGENERATION:
        assert status is None, f"{study}'s report is regenerated: remove it from AWAITING_REGENERATION"
        pytest.skip("its report awaits regeneration from the full sweep")
    assert status is not None, f"docs/studies/{study}/status.json: missing (jaxdl report --study)"
    assert status["quick"] is False and status["study"] == study
    assert status["status"] in report.STATUSES and status["published"]
    # The report's status line says what status.json says.
    assert f"**Status: {status['status']}**" in (directory / report.REPORT).read_text()


def write_status(root, name, status="reproduced", quick=False, published=(("c", "p", "o"),)):
    os.makedirs(root / name)
    (root / name / report.STATUS_FILE).write_text(json.dumps(
        {"study": name, "quick": quick, "status": status, "published": [list(p) for p in published]}))


def test_table_one_row_per_study_in_name_order_claims_joined_by_br(tmp_path):
    root = tmp_path / "docs" / "studies"
    write_status(root, "zeta", "refuted", published=[("a | b", "1%", "0.5 ± 0.1 (refuted)")])
    write_status(root, "alpha", "partly reproduced",
                 published=[("c1", "p1", "o1 (confirmed)"), ("c2", "p2", "o2 (not resolved)")])
    lines = table.studies_table(str(root), str(tmp_path)).splitlines()
    assert lines[0] == "| " + " | ".join(table.COLUMNS) + " |"
    assert lines[2] == ("| [alpha](docs/studies/alpha/report.md) | c1: p1<br>c2: p2 | "
                        "o1 (confirmed)<br>o2 (not resolved) | partly reproduced |")
    assert lines[3] == ("| [zeta](docs/studies/zeta/report.md) | a \\| b: 1% | "
                        "0.5 ± 0.1 (refuted) | refuted |")  # a | in a cell is escaped
    assert len(lines) == 4


def test_a_quick_status_is_refused_in_one_line_naming_the_file(tmp_path, capsys):
    write_status(tmp_path, "full")
    write_status(tmp_path, "smoke", quick=True)
    with pytest.raises(table.TableError, match=re.escape(str(tmp_path / "smoke" / "status.json"))):
        table.studies_table(str(tmp_path))
    assert table.main(["--root", str(tmp_path), "--print"]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "quick" in err and "smoke" in err


def test_an_unknown_status_is_refused(tmp_path):
    write_status(tmp_path, "odd", status="mostly confirmed")
    with pytest.raises(table.TableError, match="not one of"):
        table.studies_table(str(tmp_path))


def test_readme_block_rewritten_between_the_markers_and_only_there(tmp_path):
    root = tmp_path / "docs" / "studies"
    write_status(root, "one")
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n\n{table.BEGIN}\nold table\n{table.END}\n\nafter\n")
    assert table.write_readme(str(readme), str(root)) is True
    text = readme.read_text()
    assert text.startswith("intro\n\n" + table.BEGIN + "\n| study |") and text.endswith(
        table.END + "\n\nafter\n")
    assert "old table" not in text and "[one](docs/studies/one/report.md)" in text
    assert table.write_readme(str(readme), str(root)) is False  # idempotent
    readme.write_text("no markers\n")
    with pytest.raises(table.TableError, match="studies:begin"):
        table.write_readme(str(readme), str(root))


def test_help_names_the_command():
    with pytest.raises(SystemExit) as exit_:
        table.main(["--help"])
    assert exit_.value.code == 0
