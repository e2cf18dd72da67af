"""A `jaxdl sweep` process killed with SIGKILL at random moments, several times, then
re-run until done: every trial is in the store exactly once, ran to its end once, and
the store and report.md equal an uninterrupted sweep's, value for value."""
import json
import os
import random
import signal
import subprocess
import sys
import time

import pytest

from jaxdl.study import store

STUDY = """
from jaxdl import config as config_lib
from jaxdl.study import sweep
SWEEP = sweep.axis("optimizer.lr", (3e-3, 1e-2))
SEEDS = (0, 1)
METRICS = ("test/accuracy", "test/loss")
def get_config(name=None):
    c = config_lib.default()
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 200, 100, 40, 20
    return c
"""


def command(study, workdir, vectorize):
    return [sys.executable, "-m", "jaxdl.cli", "sweep", study, "--workdir", str(workdir),
            "--vectorize", vectorize, "--no-progress"]


def finish(study, workdir, vectorize):
    out = subprocess.run(command(study, workdir, vectorize), capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr
    return out


def timed_training(study, workdir, vectorize) -> float:
    """Runs the sweep to its end; seconds from its first trial's start to the process's end."""
    proc = subprocess.Popen(command(study, workdir, vectorize),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_until_training(proc, workdir)
    t = time.monotonic()
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return time.monotonic() - t


def history_events(workdir):
    """All events the trials' runs recorded (start, resume, interrupted, finish)."""
    return sum(len(open(p).readlines()) for p in workdir.glob("trials/*/history.jsonl"))


def wait_until_training(proc, workdir, timeout=120):
    """Until this process has started or resumed a trial (a new history event), or ended."""
    before = history_events(workdir)
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if history_events(workdir) > before:
            return
        time.sleep(0.05)


def rows(workdir):
    df = store.frame(store.records([str(workdir)]), ["optimizer.lr"])
    return df.sort_values(["trial", "step", "metric"]).reset_index(drop=True)


def events(workdir, trial, name):
    path = workdir / "trials" / trial / "history.jsonl"
    return [e for e in map(json.loads, open(path)) if e["event"] == name]


# ~40 s each (a reference sweep, then up to 4 killed ones), over the budget of the default
# run; there, tests/test_reliability.py kills a sweep at each of its file-creation points.
@pytest.mark.slow
@pytest.mark.parametrize("vectorize", ["yes", "no"])
def test_sweep_killed_at_random_moments_then_rerun_equals_uninterrupted(tmp_path, vectorize):
    study = tmp_path / "study.py"
    study.write_text(STUDY)
    # Kill moments scale with this machine's speed: each attempt lives 10-40% of an
    # uninterrupted run's training time, so at least two kills land before the end on a
    # fast machine and a slow one alike.
    training = timed_training(str(study), tmp_path / "reference", vectorize)
    workdir = tmp_path / "killed"
    rand = random.Random(1)
    kills = 0
    for attempt in range(4):
        proc = subprocess.Popen(command(str(study), workdir, vectorize),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        wait_until_training(proc, workdir)
        time.sleep(rand.uniform(0.1, 0.4) * training)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate()
        if proc.returncode == 0:  # finished before the kill
            break
    assert kills >= 2
    out = finish(str(study), workdir, vectorize)
    assert "4 of 4 trials done" in out.stdout
    recs = store.records([str(workdir)])
    assert sorted(r["trial"] for r in recs) == sorted(os.listdir(workdir / "trials"))
    assert len(recs) == 4 and all(r["status"] == "done" for r in recs)
    for r in recs:  # each trial ran to its end exactly once
        assert len(events(workdir, r["trial"], "finish")) == 1
    assert rows(workdir).equals(rows(tmp_path / "reference"))
    assert (workdir / "report.md").read_text() == (tmp_path / "reference" / "report.md").read_text()
    committed = {r["trial"]: r["committed"] for r in recs}
    again = finish(str(study), workdir, vectorize)  # done: nothing runs, nothing is rewritten
    assert "(0 run now" in again.stdout
    assert {r["trial"]: r["committed"] for r in store.records([str(workdir)])} == committed
