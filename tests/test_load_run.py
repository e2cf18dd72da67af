"""`jaxdl.load_run(dir)` and `jaxdl inspect DIR`: a finished or interrupted run opened for
reading — the same numbers as the run logged, from the same checkpoints, and not one
byte of the run directory changed."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import jax
import numpy as np
import pytest

import jaxdl
from jaxdl import config as C
from jaxdl import saved as saved_lib
from jaxdl.training import checkpoint, state as state_lib, workdir

REPO = os.path.dirname(os.path.dirname(os.path.abspath(jaxdl.__file__)))


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> str:
    """A finished 20-step run, checkpointed and evaluated at steps 10 and 20."""
    c = C.default()
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 20, 10, 10, 10
    directory = str(tmp_path_factory.mktemp("load_run") / "run")
    jaxdl.train(c, directory, progress=False)
    return directory


def snapshot(directory: str) -> dict[str, bytes]:
    """Every file below `directory` by relative path, with its bytes."""
    files = {}
    for root, _, names in os.walk(directory):
        for name in names:
            path = os.path.join(root, name)
            with open(path, "rb") as f:
                files[os.path.relpath(path, directory)] = f.read()
    return files


def result_of(directory: str) -> dict:
    with open(os.path.join(directory, workdir.RESULT)) as f:
        return json.load(f)


def bitwise_equal(a, b) -> bool:
    same = jax.tree.map(lambda x, y: np.array_equal(np.asarray(x), np.asarray(y)), a, b)
    return jax.tree.structure(a) == jax.tree.structure(b) and all(jax.tree.leaves(same))


def test_evaluate_gives_the_result_exactly(run_dir):
    before = snapshot(run_dir)
    run = jaxdl.load_run(run_dir)
    result = result_of(run_dir)
    assert run.evaluate("test") == result["test"]
    assert run.evaluate("train") == result["train"]
    assert run.result == result
    with pytest.raises(ValueError, match="split 'val'"):
        run.evaluate("val")
    assert snapshot(run_dir) == before


def test_state_is_the_checkpoint_bit_for_bit(run_dir):
    run = jaxdl.load_run(run_dir)
    state = run.state()
    assert isinstance(state, state_lib.TrainState) and int(state.step) == 20
    saved, _, step = checkpoint.read_latest(run_dir)
    assert step == 20 and bitwise_equal(state.params, saved["params"])
    assert run.steps == [10, 20]


def test_state_at_a_checkpointed_step(run_dir):
    run = jaxdl.load_run(run_dir)
    state = run.state(10)
    assert int(state.step) == 10
    saved = checkpoint.read(os.path.join(run_dir, "checkpoints"), None, 10)[0]
    assert bitwise_equal(state.params, saved["params"])
    assert not bitwise_equal(state.params, run.state().params)
    with pytest.raises(workdir.WorkdirError, match="no checkpoint of step 15 .*saved: \\[10, 20\\]"):
        run.state(15)


def test_apply_gives_the_logged_accuracy(run_dir):
    run = jaxdl.load_run(run_dir)
    data = run.built.dataset
    logged = {row["step"]: row["accuracy"] for row in map(json.loads, open(
        os.path.join(run_dir, workdir.METRICS))) if row["split"] == "test"}
    for step in (None, 10):
        outputs = np.asarray(run.apply(data.x_test, step=step))
        assert outputs.shape == (len(data.x_test), data.num_outputs)
        accuracy = np.sum(outputs.argmax(-1) == data.y_test) / len(data.y_test)
        assert accuracy == logged[step or 20]
    assert logged[20] == result_of(run_dir)["test"]["accuracy"]


def test_metrics_history_and_config_are_the_files(run_dir):
    run = jaxdl.load_run(run_dir)
    with open(os.path.join(run_dir, workdir.METRICS)) as f:
        rows = [json.loads(line) for line in f]
    frame = run.metrics
    assert list(frame.columns[:2]) == ["step", "split"]
    assert frame.to_dict("records") == rows and len(rows) == 4
    with open(os.path.join(run_dir, workdir.HISTORY)) as f:
        assert run.history == [json.loads(line) for line in f]
    assert [row["event"] for row in run.history] == ["start", "finish"]
    with open(os.path.join(run_dir, workdir.CONFIG)) as f:
        assert run.config.to_dict() == saved_lib.without_components(json.load(f))


def test_reading_writes_nothing_and_leaves_the_lock_alone(run_dir):
    with workdir.Lock(run_dir):  # a writer holds the run: reading neither waits nor breaks it
        before = snapshot(run_dir)  # taking the lock wrote its holder into jaxdl.lock
        run = jaxdl.load_run(run_dir)
        run.state(10), run.evaluate("test"), run.metrics, run.history, run.steps
        out = subprocess.run([sys.executable, "-m", "jaxdl.cli", "inspect", run_dir,
                              "--out", os.path.join(os.path.dirname(run_dir), "c.png")],
                             capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO})
        assert out.returncode == 0, out.stderr[-2000:]
        assert os.path.realpath(os.path.join(run_dir, workdir.LOCK)) in workdir.Lock._held
        assert snapshot(run_dir) == before


def test_not_a_run(tmp_path):
    with pytest.raises(workdir.WorkdirError, match="no such directory"):
        jaxdl.load_run(str(tmp_path / "missing"))
    with pytest.raises(workdir.WorkdirError, match="holds no jaxdl run .config.json missing"):
        jaxdl.load_run(str(tmp_path))
    (tmp_path / workdir.CONFIG).write_text("[1, 2")
    with pytest.raises(workdir.WorkdirError, match="config.json is damaged"):
        jaxdl.load_run(str(tmp_path))


# ---------------------------------------------------------------- jaxdl inspect


def inspect(*args: str, cwd: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "jaxdl.cli", "inspect", *args],
                          capture_output=True, text=True, cwd=cwd,
                          env={**os.environ, "PYTHONPATH": REPO})


def test_inspect_prints_the_summary_and_plots_the_curves(run_dir, tmp_path):
    before = snapshot(run_dir)
    out = inspect(run_dir, cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    test = result_of(run_dir)["test"]
    assert out.stdout.splitlines() == [
        f"run {run_dir}: model cnn1d, data mnist1d, objective supervised",
        "steps: 20 of 20, finished",
        "test: " + ", ".join(f"{k} {v:.4f}" for k, v in sorted(test.items())),
        "history: start at 0, finish at 20",
        "checkpoints: 10, 20",
        "curves: run-curves.png"]
    with open(tmp_path / "run-curves.png", "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"
    elsewhere = tmp_path / "plots" / "curves.png"
    elsewhere.parent.mkdir()
    out = inspect(run_dir, "--out", str(elsewhere), cwd=str(tmp_path))
    assert out.returncode == 0 and elsewhere.is_file()
    out = inspect(run_dir, "--out", os.path.join(run_dir, "curves.png"), cwd=str(tmp_path))
    assert out.returncode == 2 and "never writes into" in out.stderr
    assert snapshot(run_dir) == before


def test_inspect_an_interrupted_run(run_dir, tmp_path):
    copy = str(tmp_path / "cut")
    shutil.copytree(run_dir, copy)
    os.remove(os.path.join(copy, workdir.RESULT))
    shutil.rmtree(os.path.join(copy, "checkpoints", "20"))
    out = inspect(copy, "--out", str(tmp_path / "c.png"), cwd=str(tmp_path))
    assert out.returncode == 0, out.stderr[-2000:]
    assert "steps: 10 of 20, interrupted at step 10" in out.stdout
    assert "test:" not in out.stdout and "checkpoints: 10\n" in out.stdout
    assert int(jaxdl.load_run(copy).state().step) == 10 and jaxdl.load_run(copy).result is None


def test_inspect_of_a_missing_or_non_run_dir_is_one_line(tmp_path):
    for directory, message in ((tmp_path / "missing", "no such directory"),
                               (tmp_path, "holds no jaxdl run")):
        out = inspect(str(directory), cwd=str(tmp_path))
        assert out.returncode == 2 and message in out.stderr
        assert len(out.stderr.strip().splitlines()) == 1 and not out.stdout
    assert os.listdir(tmp_path) == []


def test_report_on_a_run_does_what_inspect_does(run_dir, tmp_path, monkeypatch, capsys):
    """`jaxdl report RUN_DIR` (no study.json: a run, not a sweep): inspect's summary and
    curves, the PNG outside the run directory; the run directory is only read."""
    from jaxdl import cli
    before = snapshot(run_dir)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a").mkdir()
    assert cli.main(["inspect", run_dir, "--out", str(tmp_path / "a" / "run-curves.png")]) == 0
    inspected = capsys.readouterr().out.splitlines()
    assert cli.main(["report", run_dir]) == 0
    reported = capsys.readouterr().out.splitlines()
    assert reported[:-1] == inspected[:-1] and reported[-1] == "curves: run-curves.png"
    assert (tmp_path / "run-curves.png").read_bytes() == \
        (tmp_path / "a" / "run-curves.png").read_bytes()
    assert cli.main(["report", run_dir, "--out", "plots/run"]) == 0  # --out: a directory
    assert capsys.readouterr().out.splitlines()[-1] == "curves: plots/run/run-curves.png"
    assert (tmp_path / "plots" / "run" / "run-curves.png").is_file()
    assert cli.main(["report", run_dir, "--out", run_dir]) == 2  # never into the run
    assert "inside the run directory" in capsys.readouterr().err
    assert snapshot(run_dir) == before


def test_report_on_a_run_refuses_what_only_sweeps_take(run_dir, tmp_path, monkeypatch, capsys):
    from jaxdl import cli
    monkeypatch.chdir(tmp_path)
    (tmp_path / "sweep").mkdir()
    (tmp_path / "sweep" / "study.json").write_text("{}")
    for argv, message in (
            (["report", run_dir, "--study", "s.py"], f"--study s.py: {run_dir} is a single run"),
            (["report", "sweep", run_dir], f"{run_dir}: a single run of jaxdl train, not a sweep "
                                           f"directory; report it alone"),
            (["inspect", "sweep"], "sweep: a sweep directory (it holds study.json), not a run; "
                                   "its report: jaxdl report sweep")):
        assert cli.main(argv) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert sorted(os.listdir(tmp_path)) == ["sweep"]  # nothing written


def test_inspect_help_explains():
    out = subprocess.run([sys.executable, "-m", "jaxdl.cli", "inspect", "--help"],
                         capture_output=True, text=True, env={**os.environ, "PYTHONPATH": REPO})
    assert out.returncode == 0 and "--out FILE" in out.stdout and "load_run" in out.stdout


# ---------------------------------------------------------------- the guide


def test_the_guide_runs(run_dir, tmp_path):
    before = snapshot(run_dir)
    guide = os.path.join(REPO, "docs", "guide", "opening_a_run.py")
    out = subprocess.run([sys.executable, guide, run_dir], capture_output=True, text=True,
                         cwd=tmp_path, env={**os.environ, "PYTHONPATH": REPO})
    assert out.returncode == 0, out.stderr[-3000:]
    assert "step 20: test accuracy" in out.stdout and "newest state: step 20" in out.stdout
    assert snapshot(run_dir) == before


def test_the_guide_page_shows_the_file_it_runs():
    page = open(os.path.join(REPO, "docs", "guide", "opening_a_run.md")).read()
    code = open(os.path.join(REPO, "docs", "guide", "opening_a_run.py")).read()
    assert page.split("```python\n", 1)[1].rsplit("```", 1)[0] == code


# ---------------------------------------------------------------- a run of a user's model

USER_MODULE = '''
import flax.linen as nn
import jaxdl


@jaxdl.models.register("openedmlp")
class OpenedMLP(nn.Module):
    num_outputs: int
    width: int = 8

    @nn.compact
    def __call__(self, x, train: bool = False):
        return nn.Dense(self.num_outputs)(nn.relu(nn.Dense(self.width)(x.reshape(x.shape[0], -1))))
'''

TRAIN = '''
import opened_mod, jaxdl
from jaxdl import config as C
c = C.load(None, ["--config.model.name=openedmlp", "--config.steps=20",
                  "--config.eval_every=10", "--config.chunk_size=10"])
jaxdl.train(c, "run", progress=False)
'''

OPEN = '''
import json, jaxdl
run = jaxdl.load_run("run")  # a fresh process: opened_mod is imported again from the record
assert run.evaluate("test") == json.load(open("run/result.json"))["test"]
print(run.config.model.name)
'''


def test_a_run_of_a_user_model_opens_in_a_fresh_process(tmp_path):
    (tmp_path / "opened_mod.py").write_text(USER_MODULE)
    python = lambda code, cwd: subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=cwd,
        env={**os.environ, "PYTHONPATH": REPO})
    made = python(TRAIN, tmp_path)
    assert made.returncode == 0, made.stderr[-3000:]
    opened = python(OPEN, tmp_path)
    assert opened.returncode == 0 and opened.stdout == "openedmlp\n", opened.stderr[-3000:]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    out = inspect(str(tmp_path / "run"), cwd=str(elsewhere))
    assert out.returncode == 2 and len(out.stderr.strip().splitlines()) == 1
    assert "opened_mod:OpenedMLP, which cannot be imported" in out.stderr
