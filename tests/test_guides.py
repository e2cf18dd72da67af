"""The guides of docs/guide/ that have no test module of their own: each page's code runs
as the page says (script, `jaxdl train --config`, `jaxdl sweep`, `jaxdl report`), and each
page shows the files it runs. Subprocesses, so that the guides' registrations stay theirs."""
import glob
import json
import os
import re
import shutil
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GUIDE = os.path.join(REPO, "docs", "guide")


def python(*args, cwd, path=(REPO,)):
    """`python ARGS` with PYTHONPATH = `path` only: (exit status, stdout, stderr)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    p = subprocess.run([sys.executable, *args], capture_output=True, text=True, cwd=cwd,
                       env=env, timeout=600)
    return p.returncode, p.stdout, p.stderr


def guide(name):
    return os.path.join(GUIDE, name)


# ---------------------------------------------------------------- own_objective


def test_own_objective_script(tmp_path):
    """Trains the focal loss, checks config.json's record and gamma 0 = cross-entropy."""
    code, out, err = python(guide("own_objective.py"), str(tmp_path / "run"), cwd=tmp_path)
    assert code == 0, err[-3000:]
    assert "gamma 0 = cross-entropy: 20 step losses agree" in out
    saved = json.load(open(tmp_path / "run" / "config.json"))
    assert saved["objective"] == {"name": "focal", "gamma": 2.0}


def test_own_objective_command_line(tmp_path):
    """The page's commands: gamma and SAM from the command line, recorded in config.json;
    the run reopens (`jaxdl inspect`) only where the module is importable, else one line."""
    run = str(tmp_path / "run")
    code, out, err = python("-m", "jaxdl.cli", "train", "--config", guide("own_objective.py"),
                            "--config.objective.gamma=1.0", "--config.gradient.name=sam",
                            "--config.steps=20", "--config.eval_every=10",
                            "--config.checkpoint_every=20", "--workdir", run, "--no-progress",
                            cwd=tmp_path)
    assert code == 0, err[-3000:]
    saved = json.load(open(os.path.join(run, "config.json")))
    assert saved["objective"] == {"name": "focal", "gamma": 1.0}
    assert saved["gradient"]["name"] == "sam"
    record = saved["components"]["objective"]
    assert record["path"] == "focal_loss:focal" and record["digest"].startswith("sha256:")
    assert "gradient" not in saved["components"]  # SAM is built in

    code, _, err = python("-m", "jaxdl.cli", "inspect", run, "--out", str(tmp_path / "c.png"),
                          cwd=tmp_path)
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and "focal_loss:focal" in lines[0], err
    code, out, err = python("-m", "jaxdl.cli", "inspect", run, "--out", str(tmp_path / "c.png"),
                            cwd=tmp_path, path=(REPO, GUIDE))
    assert code == 0, err[-3000:]
    assert "objective focal" in out

    code, _, err = python("-m", "jaxdl.cli", "train", "--config", guide("own_objective.py"),
                          "--config.objective.gamma=-1.0", "--workdir", run + "-bad",
                          cwd=tmp_path)
    assert code == 2 and "config.objective.gamma: must be >= 0" in err, err
    assert len(err.strip().splitlines()) == 1 and not os.path.exists(run + "-bad")


# ---------------------------------------------------------------- own_study

PLANTED = 'open({marker!r}, "w").write("ran")\n'


def sweep_study(root):
    """The guide's study, copied with its model into `root`, swept with `jaxdl sweep`
    (which reports with the study file): (root, sweep dir, stdout)."""
    for name in ("own_study.py", "gated_mlp.py"):
        shutil.copyfile(guide(name), root / name)
    sweep_dir = str(root / "sweep")
    code, out, err = python("-m", "jaxdl.cli", "sweep", str(root / "own_study.py"),
                            "--workdir", sweep_dir, "--no-progress", cwd=root)
    assert code == 0, err[-3000:]
    return root, sweep_dir, out


def verdict(out):
    return [line for line in out.splitlines() if line.startswith("verdict: ")]


@pytest.mark.slow  # ~27 s (a sweep and its report); the page is checked to show its files
def test_own_study(tmp_path):
    """One sweep (6 short trials), then the reports: one test, so that parallel workers
    do not each run the sweep."""
    (tmp_path / "study").mkdir()
    swept = sweep_study(tmp_path / "study")
    root, sweep_dir, out = swept
    assert "6 of 6 trials done, 0 failed" in out
    assert len(verdict(out)) == 1 and re.match(
        r"verdict: \*\*(Confirmed|Not shown)\.\*\* Width 128 minus width 8: test accuracy "
        r"\S+ ± \S+ \(95% CI, 3 seeds, paired\); the interval (excludes|contains) 0\.$",
        verdict(out)[0])
    configs = glob.glob(os.path.join(sweep_dir, "trials", "*", "config.json"))
    assert len(configs) == 6
    for path in configs:
        assert json.load(open(path))["components"]["model"]["path"] == "gated_mlp:GatedMLP"
    study = json.load(open(os.path.join(sweep_dir, "study.json")))
    assert study["components"]["model"]["path"] == "gated_mlp:GatedMLP"
    # `jaxdl report DIR --study FILE` gives the sweep's verdict again, with no note.
    code, again, err = python("-m", "jaxdl.cli", "report", sweep_dir, "--study",
                              str(root / "own_study.py"), "--out", str(root / "again"),
                              cwd=root)
    assert code == 0, err[-3000:]
    assert verdict(again) == verdict(out) and "note:" not in again
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    check_report_reads_records_only(swept, tmp_path / "a")
    check_report_says_when_the_models_source_changed(swept, tmp_path / "b")


def check_report_reads_records_only(swept, tmp_path):
    """`jaxdl report DIR` needs no component: it works where gated_mlp cannot be imported,
    and a module of that name planted in the sweep directory or beside its study.py copy
    does not run."""
    _, sweep_dir, _ = swept
    copy = str(tmp_path / "sweep")
    shutil.copytree(sweep_dir, copy)
    marker = str(tmp_path / "marker")
    for where in (copy, os.path.join(copy, "trials")):
        with open(os.path.join(where, "gated_mlp.py"), "w") as f:
            f.write(PLANTED.format(marker=marker))
    code, out, err = python("-m", "jaxdl.cli", "report", copy, cwd=tmp_path)
    assert code == 0, err[-3000:]
    assert not os.path.exists(marker)
    text = open(os.path.join(copy, "report.md")).read()
    assert "## test/accuracy (final)" in text and "## Verdict" not in text
    assert "--study FILE" in out


def check_report_says_when_the_models_source_changed(swept, tmp_path):
    root, sweep_dir, _ = swept
    study_dir = tmp_path / "edited"
    shutil.copytree(root, study_dir, ignore=shutil.ignore_patterns("sweep", "again"))
    with open(study_dir / "gated_mlp.py", "a") as f:
        f.write("# edited after the sweep\n")
    code, out, err = python("-m", "jaxdl.cli", "report", sweep_dir, "--study",
                            str(study_dir / "own_study.py"), "--out", str(tmp_path / "r"),
                            cwd=tmp_path)
    assert code == 0, err[-3000:]
    notes = [line for line in out.splitlines() if line.startswith("note: ")]
    assert len(notes) == 1 and notes[0].startswith(
        "note: config.model.name: 'gated_mlp' (gated_mlp:GatedMLP) changed since the sweep ran")
    assert verdict(out)  # the analysis still runs, on the records
    text = open(tmp_path / "r" / "report.md").read()
    assert "Note: config.model.name: 'gated_mlp'" in text


# ---------------------------------------------------------------- own_loop


def test_own_loop(tmp_path):
    code, out, err = python(guide("own_loop.py"), str(tmp_path / "run"), cwd=tmp_path)
    assert code == 0, err[-3000:]  # its asserts: the params of jaxdl.train, bit for bit
    assert "make_train, chunks and steps: the params of jaxdl.train, bit for bit" in out
    assert [line.split(":")[0] for line in out.splitlines() if line.startswith("step ")] == [
        "step 100", "step 200", "step 300"]


# ---------------------------------------------------------------- streaming


def test_streaming(tmp_path):
    code, out, err = python(guide("streaming.py"), str(tmp_path / "run"), cwd=tmp_path)
    assert code == 0, err[-3000:]  # its assert: the streamed run's loss is the device path's
    assert "streamed: 60 steps, the same test loss as the device path: " in out
    saved = json.load(open(tmp_path / "run" / "stream" / "config.json"))
    assert saved["data"]["placement"] == "stream" and saved["data"]["workers"] == 2


# ---------------------------------------------------------------- the pages

PAGES = {"own_objective.md": ("focal_loss.py", "own_objective.py"),
         "own_study.md": ("gated_mlp.py", "own_study.py"),
         "own_loop.md": ("own_loop.py",), "streaming.md": ("streaming.py",)}


@pytest.mark.parametrize("page", sorted(PAGES))
def test_each_page_shows_the_files_it_runs(page):
    text = open(guide(page)).read()
    blocks = re.findall(r"^```python\n(.*?)^```$", text, flags=re.S | re.M)
    assert blocks == [open(guide(f)).read() for f in PAGES[page]]


def test_the_index_lists_every_page():
    index = open(guide("README.md")).read()
    pages = sorted(os.path.basename(p) for p in glob.glob(guide("*.md")))
    linked = sorted(set(re.findall(r"\]\(([\w.]+\.md)\)", index)))
    assert linked == [p for p in pages if p != "README.md"]
