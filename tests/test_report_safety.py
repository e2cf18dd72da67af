"""A sweep directory is data (issue 14, points 6 and 8): `jaxdl report DIR` never runs
code found in or named by DIR, runs a study's analyze() only from a file named with
--study, and refuses a damaged study.json or record.json in one line, writing nothing;
`jaxdl sweep` refuses them too, before anything runs."""
import json
import os
import shutil
import subprocess
import sys

import pytest

from jaxdl import cli
from jaxdl.study import run, store, sweep

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

STUDY = '''"""Tiny study: the learning rate of a small MLP.

Claim: a title and claim recorded at sweep time.

    jaxdl sweep tiny.py
"""
from jaxdl import config as config_lib
from jaxdl.study import report, sweep
SWEEP = sweep.axis("optimizer.lr", (1e-2,))
SEEDS = (0, 1)
METRICS = ("test/accuracy",)
def get_config(name=None):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 10, 10, 10, 10
    return c
def analyze(results):
    n = len(results.final("test/accuracy"))
    return report.Analysis(verdict=f"VERDICT from the named file, {n} trials")
'''

PLANTED = '''
open({marker!r}, "w").write("module code ran")
def analyze(results):
    open({marker!r}, "w").write("analyze ran")
'''


@pytest.fixture(scope="module")
def swept(tmp_path_factory):
    """A finished two-trial sweep (no report yet) and its study file."""
    root = tmp_path_factory.mktemp("swept")
    path = root / "tiny.py"
    path.write_text(STUDY)
    run.run_study(sweep.load_study(str(path)), str(root / "sweep"), vectorize_mode="no",
                  progress=False)
    return str(path), str(root / "sweep")


@pytest.fixture
def sweep_dir(swept, tmp_path):
    """A fresh copy of the sweep directory (the study file stays where it is)."""
    copy = str(tmp_path / "sweep")
    shutil.copytree(swept[1], copy)
    return copy


def snapshot(root):
    """Every directory and the bytes of every file under root."""
    out = {}
    for d, dirs, files in os.walk(root):
        for name in dirs:
            out[os.path.relpath(os.path.join(d, name), root) + "/"] = None
        for name in files:
            with open(os.path.join(d, name), "rb") as f:
                out[os.path.relpath(os.path.join(d, name), root)] = f.read()
    return out


def jaxdl(*args):
    """`python -m jaxdl.cli ARGS` in a subprocess: (exit status, stdout, stderr)."""
    p = subprocess.run([sys.executable, "-m", "jaxdl.cli", *args], cwd=ROOT,
                       capture_output=True, text=True, timeout=300)
    return p.returncode, p.stdout, p.stderr


def a_record(root):
    return sorted(os.path.join(root, "trials", t, store.RECORD)
                  for t in os.listdir(os.path.join(root, "trials")))[0]


def test_report_runs_no_code_from_the_sweep_directory(sweep_dir, tmp_path):
    marker = str(tmp_path / "marker")
    planted = tmp_path / "planted.py"  # the file study.json names
    planted.write_text(PLANTED.format(marker=marker))
    with open(os.path.join(sweep_dir, store.STUDY_COPY), "w") as f:
        f.write(PLANTED.format(marker=marker))
    info = json.load(open(os.path.join(sweep_dir, store.STUDY)))
    info["study"] = str(planted)
    with open(os.path.join(sweep_dir, store.STUDY), "w") as f:
        json.dump(info, f)
    code, out, err = jaxdl("report", sweep_dir)
    assert code == 0, err
    assert not os.path.exists(marker)  # neither file ran, at import or as analyze()
    text = open(os.path.join(sweep_dir, "report.md")).read()
    # From the records and what study.json recorded at sweep time:
    assert "Tiny study: the learning rate of a small MLP." in text
    assert "Claim: a title and claim recorded at sweep time." in text
    assert "Trials: 2 done, 0 failed, 0 missing of 2" in text
    assert "## test/accuracy (final)" in text and "VERDICT" not in text
    notes = [line for line in text.splitlines() if "--study FILE" in line]
    assert len(notes) == 1 and notes[0].startswith("Analysis not run:")
    assert "--study FILE" in out and "verdict:" not in out


def test_report_with_study_runs_the_named_files_analysis(swept, sweep_dir, tmp_path):
    os.remove(os.path.join(sweep_dir, store.STUDY_COPY))  # not needed: the file is named
    assert cli.main(["report", sweep_dir, "--study", swept[0]]) == 0
    text = open(os.path.join(sweep_dir, "report.md")).read()
    assert "## Verdict\n\nVERDICT from the named file, 2 trials" in text
    assert "Analysis not run" not in text
    out = str(tmp_path / "elsewhere")
    assert cli.main(["report", sweep_dir, "--study", swept[0], "--out", out]) == 0
    assert open(os.path.join(out, "report.md")).read() == text


def test_a_study_without_analysis_needs_no_note(swept, tmp_path, capsys):
    path = tmp_path / "plain.py"
    path.write_text(STUDY.split("def analyze")[0])
    root = str(tmp_path / "sweep")
    run.run_study(sweep.load_study(str(path)), root, vectorize_mode="no", progress=False)
    assert json.load(open(os.path.join(root, store.STUDY)))["analysis"] is False
    assert cli.main(["report", root]) == 0
    assert "--study" not in capsys.readouterr().out
    assert "Analysis not run" not in open(os.path.join(root, "report.md")).read()


# ---------------------------------------------------------------- damaged inputs

DAMAGE = {
    "garbage": lambda p: open(p, "wb").write(b"\x00{not json\xff"),
    "truncated": lambda p: open(p, "w").write('{"trial": "ab'),
    "empty": lambda p: open(p, "w").close(),
    "list": lambda p: open(p, "w").write("[]"),
    "object": lambda p: open(p, "w").write("{}"),
    "directory": lambda p: os.mkdir(p),
}


def damage(path, how):
    os.remove(path)
    DAMAGE[how](path)


def one_error_line(err, path):
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith(f"jaxdl: error: {path}: ") and "; " in lines[0], err


@pytest.mark.parametrize("how", sorted(DAMAGE))
@pytest.mark.parametrize("what", ["study", "record"])
def test_a_damaged_file_is_refused_in_one_line_and_nothing_is_written(
        sweep_dir, swept, what, how, capsys):
    path = os.path.join(sweep_dir, store.STUDY) if what == "study" else a_record(sweep_dir)
    damage(path, how)
    before = snapshot(sweep_dir)
    assert cli.main(["report", sweep_dir]) != 0
    one_error_line(capsys.readouterr().err, path)
    assert cli.main(["sweep", swept[0], "--workdir", sweep_dir, "--no-progress"]) != 0
    one_error_line(capsys.readouterr().err, path)  # refused before anything ran
    assert snapshot(sweep_dir) == before


# Two `jaxdl` processes each (~4 s apiece); the in-process test above covers both files
# with every damage, so the study file's case is left to the slow run.
@pytest.mark.parametrize("what", [pytest.param("study", marks=pytest.mark.slow), "record"])
def test_the_command_line_shows_no_traceback(sweep_dir, swept, what):
    path = os.path.join(sweep_dir, store.STUDY) if what == "study" else a_record(sweep_dir)
    damage(path, "garbage")
    before = snapshot(sweep_dir)
    code, _, err = jaxdl("report", sweep_dir)
    assert code != 0
    one_error_line(err, path)
    code, _, err = jaxdl("sweep", swept[0], "--workdir", sweep_dir, "--no-progress")
    assert code != 0
    one_error_line(err, path)
    assert snapshot(sweep_dir) == before


def test_a_path_that_is_no_sweep_directory_is_refused_in_one_line(sweep_dir, tmp_path, capsys):
    a_file = str(tmp_path / "notes.txt")
    open(a_file, "w").write("not a sweep")
    code, _, err = jaxdl("report", a_file)
    assert code != 0
    one_error_line(err, a_file)
    assert open(a_file).read() == "not a sweep"
    empty = str(tmp_path / "empty")
    os.mkdir(empty)
    for path in (empty, str(tmp_path / "absent")):
        assert cli.main(["report", path]) != 0
        one_error_line(capsys.readouterr().err, path)
    assert os.listdir(empty) == [] and not os.path.exists(tmp_path / "absent")
    before = snapshot(str(tmp_path))  # one bad directory among shards: nothing written
    assert cli.main(["report", sweep_dir, empty]) != 0
    one_error_line(capsys.readouterr().err, empty)
    assert snapshot(str(tmp_path)) == before


def test_a_record_that_does_not_match_its_trial_is_refused(sweep_dir, capsys):
    path = a_record(sweep_dir)
    record = json.load(open(path))
    record["point"]["optimizer.lr"] = 0.5  # edited: no longer the trial its id hashes
    with open(path, "w") as f:
        json.dump(record, f)
    assert cli.main(["report", sweep_dir]) != 0
    err = capsys.readouterr().err
    one_error_line(err, path)
    assert "do not hash to its trial id" in err
    assert not os.path.exists(os.path.join(sweep_dir, "report.md"))


def test_a_study_file_of_another_sweep_is_refused_before_its_analysis_runs(
        sweep_dir, tmp_path, capsys):
    """--study must name the study of the records: another base config's analysis would
    judge numbers it was not written for."""
    other = tmp_path / "other.py"
    other.write_text(STUDY.replace("= 10, 10, 10, 10", "= 20, 10, 10, 10"))  # 20 steps
    before = snapshot(sweep_dir)
    assert cli.main(["report", sweep_dir, "--study", str(other)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"jaxdl: error: --study {other}: not the "
                                               f"study of these records"), err
    assert snapshot(sweep_dir) == before
