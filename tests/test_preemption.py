"""Real preemption: a `jaxdl train` process killed with SIGKILL (at random moments,
some during a save) or stopped with SIGTERM, then resumed by the same command,
ends with the same metrics and params, bit for bit, as a run never stopped."""
import os
import random
import shlex
import signal
import subprocess
import sys
import time

import jax
import numpy as np
import pytest

from jaxdl.training import checkpoint

# ~600 steps of the default CNN, saving every 20 steps: a kill often lands in a save.
ARGS = ["--config.steps=600", "--config.eval_every=100", "--config.checkpoint_every=20",
        "--config.chunk_size=10", "--no-progress"]
# SIGTERM saves where it lands, so a short run with few saves is enough.
SIGTERM_ARGS = ["--config.steps=200", "--config.eval_every=100", "--config.checkpoint_every=100",
                "--config.chunk_size=10", "--no-progress"]


def command(workdir, args=ARGS):
    return [sys.executable, "-m", "jaxdl.cli", "train", *args, "--workdir", str(workdir)]


def start(workdir, args=ARGS):
    return subprocess.Popen(command(workdir, args), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def wait_until_training(proc, workdir, timeout=120):
    """Until the run has opened its workdir (its history says so), or the process ended."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(workdir / "history.jsonl"):
            return
        time.sleep(0.05)


def wait_until_saving(proc, workdir, timeout=60):
    """Until orbax has a save in flight (its temporary step directory exists)."""
    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None:
        try:
            if any("tmp" in name for name in os.listdir(workdir / "checkpoints")):
                return True
        except FileNotFoundError:
            pass
        time.sleep(0.002)
    return False


def finish(workdir):
    out = subprocess.run(command(workdir), capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return out


def timed_training(workdir, args=ARGS) -> float:
    """Runs to the end; seconds from the workdir's opening to the process's end. Kill
    moments are drawn as fractions of it, so they land mid-run on fast and slow machines."""
    proc = start(workdir, args)
    wait_until_training(proc, workdir)
    t = time.monotonic()
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    return time.monotonic() - t


def final_state(workdir):
    ckpt = checkpoint.Checkpoints(f"{workdir}/checkpoints", read_only=True)
    state, _, step = ckpt.restore_latest(None)
    return step, jax.device_get(state)


def assert_same(a, b, steps=600):
    assert (a / "metrics.jsonl").read_text() == (b / "metrics.jsonl").read_text()
    step_a, state_a = final_state(a)
    step_b, state_b = final_state(b)
    assert step_a == step_b == steps
    jax.tree.map(np.testing.assert_array_equal, state_a, state_b)


# ~20 s (a reference run and up to 4 killed ones), over the budget of the default run;
# there, tests/test_reliability.py kills `jaxdl train` at each of its file-creation points.
@pytest.mark.slow
def test_sigkill_at_random_moments_then_resume_is_bitwise_identical(tmp_path):
    training = timed_training(tmp_path / "reference")
    workdir = tmp_path / "killed"
    rand = random.Random(0)
    kills, mid_save = 0, 0
    for trial in range(4):
        proc = start(workdir)
        wait_until_training(proc, workdir)
        if trial % 2:  # odd trials: kill while a checkpoint is being written
            mid_save += wait_until_saving(proc, workdir)
        else:
            time.sleep(rand.uniform(0.0, 0.3) * training)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            kills += 1
        proc.communicate()
        if (workdir / "result.json").exists():
            break
    assert kills >= 2 and mid_save >= 1
    finish(workdir)
    assert_same(tmp_path / "reference", workdir)


def test_sigterm_saves_exits_zero_and_resumes_bitwise_identical(tmp_path):
    training = timed_training(tmp_path / "reference", SIGTERM_ARGS)
    workdir = tmp_path / "stopped"
    proc = start(workdir, SIGTERM_ARGS)
    wait_until_training(proc, workdir)
    time.sleep(0.2 * training)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert "interrupted at step" in err and "resume with: jaxdl train" in err
    resume = err.split("resume with: ")[1].strip()
    assert "--workdir" in resume
    argv = shlex.split(resume)[1:]
    out = subprocess.run([sys.executable, "-m", "jaxdl.cli", *argv], capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stderr
    assert_same(tmp_path / "reference", workdir, steps=200)
