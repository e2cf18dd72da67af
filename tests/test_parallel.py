"""Scale-out: 1, 2, 4 and 8 devices (jit and pmap modes, and fsdp) train as one device
does, to the stated tolerance; two `jaxdl train` processes under jax.distributed match
one process to the same tolerance, resume after both are killed, and stop together when
only one of them is told to.

Device count is part of a run's identity: N devices sum the gradient in another order
than one, so the bits differ from the first step on (by rounding, ~1e-7 relative), and
training amplifies rounding until the curves differ by up to seed noise. How far depends
on the CPU (XLA:CPU's code differs between AVX-512 and AVX2, Intel and AMD): after 100
steps of the CNN the eval loss differed by 0.008 on one AMD machine and not at all on the
Intel Xeon (AVX-512) where the figures below were measured. The stated tolerance is:
- over the first 10 steps, every per-step loss within 1e-5 relative of one device's
  (rounding only; measured <= 2.6e-7);
- after that, within seed noise: per-step loss within 0.02 relative (the seed-to-seed
  standard deviation of this curve is 0.045-0.048 of the loss at steps 10-30), and eval
  rows within 0.03 in loss and 0.02 in accuracy (seed-to-seed standard deviations at steps
  50 and 100: loss 0.066-0.095, accuracy 0.023-0.043). `python -m bench.seed_noise`
  measures these standard deviations.
A resume on another device or process count is therefore an intervention (test_reliability.py).
"""
import json
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import pytest

ROUNDING = 1e-5  # relative, per-step loss over the first 10 steps (SCRIPT)
SEED_NOISE_RELATIVE = 0.02  # per-step loss after those, relative
SEED_NOISE_LOSS, SEED_NOISE_ACCURACY = 0.03, 0.02  # eval rows, absolute

SCRIPT = textwrap.dedent("""
    import json, jax, numpy as np
    from jaxdl import config as C
    from jaxdl.training import loop

    def curve(mode, devices, fsdp=1, steps=30):
        c = C.default()
        c.steps, c.chunk_size, c.batch_size = steps, 10, 80  # 80 splits over 1, 2, 4, 8
        c.parallel.mode, c.parallel.data, c.parallel.fsdp = mode, devices, fsdp
        run = loop.build(c)
        state, data, losses = run.init(jax.random.PRNGKey(0)), run.device_data(), []
        for length, _ in loop.chunks(0, [steps], c.chunk_size):  # syncs every 10 steps
            state, metrics = run.train_chunk(state, data, length)
            losses += np.asarray(jax.device_get(metrics["loss"])).tolist()
        return np.array(losses)

    reference = curve("jit", 1)
    out = {"devices": jax.device_count()}
    for mode, n, fsdp in [("jit", 2, 1), ("jit", 4, 1), ("jit", 8, 1), ("pmap", 2, 1),
                          ("pmap", 4, 1), ("pmap", 8, 1), ("jit", 4, 2)]:
        c = curve(mode, n, fsdp)
        relative = np.abs(c - reference) / np.abs(reference)
        out[f"{mode}-{n}x{fsdp}"] = [float(relative[:10].max()), float(relative.max())]
    out["learned"] = bool(reference[-1] < 0.8 * reference[0])
    try:
        bad = C.default(); bad.batch_size = 100; bad.parallel.data = 8
        loop.build(bad)
    except C.ConfigError as e:
        out["error"] = str(e)
    print("RESULT " + json.dumps(out))
""")


def test_one_to_eight_devices_jit_and_pmap_match_single_device():
    env = {**os.environ, "XLA_FLAGS": "--xla_force_host_platform_device_count=8"}
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True,
                         env=env, timeout=600)
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.split("RESULT ")[1])
    assert result["devices"] == 8 and result["learned"]
    for case in ("jit-2x1", "jit-4x1", "jit-8x1", "pmap-2x1", "pmap-4x1", "pmap-8x1", "jit-4x2"):
        first, all_steps = result[case]
        assert first < ROUNDING and all_steps < SEED_NOISE_RELATIVE, (case, result[case])
    assert result["error"] == ("config.batch_size: 100 does not divide over 8 devices "
                               "(data=8 x fsdp=1)")


ARGS = ["--config.steps=100", "--config.eval_every=50", "--config.checkpoint_every=25",
        "--config.chunk_size=10", "--no-progress"]
# The SIGTERM test's shorter run: three two-process runs of it are the default run's
# costliest multi-process test, and a two-process step is ~3x a one-process one here.
STOP_STEPS, STOP_CHECKPOINT = 50, 10
STOP_ARGS = [f"--config.steps={STOP_STEPS}", "--config.eval_every=25",
             f"--config.checkpoint_every={STOP_CHECKPOINT}", "--config.chunk_size=10",
             "--no-progress"]


def free_port():
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def processes(workdir, port, logs, args=ARGS):
    """Two processes of one run; output to files (a full pipe would block a process)."""
    return [subprocess.Popen(
        [sys.executable, "-m", "jaxdl.cli", "train", *args, "--workdir", str(workdir),
         "--coordinator", f"localhost:{port}", "--num-processes", "2", "--process-id", str(i)],
        stdout=open(logs / f"out{i}-{port}.log", "w"), stderr=subprocess.STDOUT)
        for i in range(2)]


def rows(workdir):
    return [json.loads(line) for line in open(workdir / "metrics.jsonl")]


def assert_rows_close(a, b):
    assert [(r["step"], r["split"]) for r in a] == [(r["step"], r["split"]) for r in b]
    for x, y in zip(a, b):  # within seed noise (module docstring)
        assert abs(x["loss"] - y["loss"]) <= SEED_NOISE_LOSS, (x, y)
        assert abs(x["accuracy"] - y["accuracy"]) <= SEED_NOISE_ACCURACY, (x, y)


@pytest.mark.slow  # ~30 s; the SIGTERM test below runs two processes in the default run
def test_two_processes_match_one_within_seed_noise_and_resume_after_both_are_killed(tmp_path):
    single = subprocess.run([sys.executable, "-m", "jaxdl.cli", "train", *ARGS, "--workdir",
                             str(tmp_path / "single")], capture_output=True, text=True,
                            timeout=300)
    assert single.returncode == 0, single.stderr[-3000:]

    workdir = tmp_path / "two"
    procs = processes(workdir, free_port(), tmp_path)
    # Kill both as soon as the first checkpoint is complete (gloo makes each step slow).
    deadline = time.time() + 600
    while (time.time() < deadline and all(p.poll() is None for p in procs)
           and not (workdir / "checkpoints" / "25").exists()):
        time.sleep(0.05)
    for p in procs:
        p.send_signal(signal.SIGKILL)
        p.wait()
    assert (workdir / "checkpoints" / "25").exists()
    assert not (workdir / "result.json").exists()

    procs = processes(workdir, free_port(), tmp_path)
    for i, p in enumerate(procs):
        assert p.wait(timeout=300) == 0, list(tmp_path.glob(f"out{i}-*.log"))[-1].read_text()[-3000:]
    history = [json.loads(line)["event"] for line in open(workdir / "history.jsonl")]
    assert history[0] == "start" and "resume" in history and history[-1] == "finish"
    assert_rows_close(rows(workdir), rows(tmp_path / "single"))


def final_digest(workdir, step):
    """The digest saved with the run's checkpoint at `step`: per array, weighted and plain
    uint32 sums of its bits (training/checkpoint.py). Read as JSON, since this
    one-process test cannot restore arrays saved across two processes."""
    return json.loads((workdir / "checkpoints" / str(step) / "digest" / "metadata").read_text())


def test_sigterm_to_one_of_two_processes_stops_both_at_one_step_and_resumes_bit_for_bit(
        tmp_path):
    """A preemption notice may reach one host only: both processes agree on one stop step
    (an all-gather of the flag after every chunk), save there and exit 0, and the same
    command resumes to the bits of a two-process run never stopped."""
    reference = tmp_path / "reference"
    for i, p in enumerate(processes(reference, free_port(), tmp_path, STOP_ARGS)):
        assert p.wait(timeout=300) == 0
    workdir = tmp_path / "stopped"
    procs = processes(workdir, free_port(), tmp_path, STOP_ARGS)
    deadline = time.time() + 600
    while (time.time() < deadline and all(p.poll() is None for p in procs)
           and not (workdir / "checkpoints" / str(STOP_CHECKPOINT)).exists()):
        time.sleep(0.05)
    procs[1].send_signal(signal.SIGTERM)  # process 1 only
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    history = [json.loads(line) for line in open(workdir / "history.jsonl")]
    assert history[-1]["event"] == "interrupted"
    stop = history[-1]["step"]
    assert STOP_CHECKPOINT < stop < STOP_STEPS and (workdir / "checkpoints" / str(stop)).exists()
    assert not (workdir / "result.json").exists()
    for p in processes(workdir, free_port(), tmp_path, STOP_ARGS):
        assert p.wait(timeout=300) == 0
    assert rows(workdir) == rows(reference)
    assert final_digest(workdir, STOP_STEPS) == final_digest(reference, STOP_STEPS)
