"""A 16-trial sweep three ways: vectorized, one by one in one process, 16 processes.

    python -m bench.sweep                   # 16 trials x 1000 steps of the MNIST-1D CNN; prints a table
    python -m bench.sweep --steps 300       # shorter

The sweep is lr in {1e-3, 2e-3, 5e-3, 1e-2} x seeds {0, 1, 2, 3} of the default CNN
recipe (Adam, batch 100), evaluated and checkpointed once, at the end. Each way
runs in a fresh process with an empty persistent compilation cache of its own
(a first run on a machine; later runs load compiled programs from the cache):

    vectorized     jaxdl sweep --vectorize yes: the 16 trials as one vmapped program
    one by one     jaxdl sweep --vectorize no: jaxdl.train per trial, in one process
    16 processes   16 `jaxdl train` commands, one after the other (a shell loop)

and the table reports wall time, per trial, and throughput in trial-steps/s.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import textwrap
import time

import jax

LRS = (1e-3, 2e-3, 5e-3, 1e-2)
SEEDS = (0, 1, 2, 3)

STUDY = textwrap.dedent("""
    from jaxdl import config as config_lib
    from jaxdl.study import sweep

    SWEEP = sweep.axis("optimizer.lr", {lrs})
    SEEDS = {seeds}
    METRICS = ("test/accuracy",)

    def get_config(name=None):
        c = config_lib.default()
        c.steps = c.eval_every = c.checkpoint_every = {steps}
        return c
""")


def _timed(command: list[str], env: dict[str, str]) -> float:
    t = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def measure(steps: int, root: str) -> dict[str, float]:
    """Wall time of each way, in seconds."""
    study = os.path.join(root, "bench_sweep.py")
    with open(study, "w") as f:
        f.write(STUDY.format(lrs=LRS, seeds=SEEDS, steps=steps))
    jaxdl = [sys.executable, "-m", "jaxdl.cli"]
    times = {}
    for way in ("vectorized", "one by one", "16 processes"):
        env = {**os.environ, "JAXDL_COMPILATION_CACHE": os.path.join(root, f"cache-{way}")}
        workdir = os.path.join(root, way.replace(" ", "-"))
        if way == "16 processes":
            t = time.perf_counter()
            for lr in LRS:
                for seed in SEEDS:
                    subprocess.run(
                        [*jaxdl, "train", f"--config.optimizer.lr={lr}", f"--config.seed={seed}",
                         *(f"--config.{k}={steps}" for k in ("steps", "eval_every",
                                                             "checkpoint_every")),
                         "--no-progress", "--workdir", f"{workdir}/{lr}-{seed}"],
                        check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            times[way] = time.perf_counter() - t
        else:
            flag = "yes" if way == "vectorized" else "no"
            times[way] = _timed([*jaxdl, "sweep", study, "--workdir", workdir, "--vectorize",
                                 flag, "--no-progress", "--no-report"], env)
        print(f"{way}: {times[way]:.1f} s", file=sys.stderr, flush=True)
    return times


def table(times: dict[str, float], steps: int) -> str:
    n = len(LRS) * len(SEEDS)
    device = jax.devices()[0]
    cores = os.cpu_count()
    lines = [f"16-trial sweep (lr x 4 seeds, MNIST-1D CNN, {steps} steps each), "
             f"{device.platform} ({device.device_kind}, {cores} cores), cold compilation cache:",
             "", "| way | wall time | per trial | trial-steps/s | vs 16 processes |",
             "|---|---|---|---|---|"]
    base = times["16 processes"]
    for way, t in times.items():
        lines.append(f"| {way} | {t:.1f} s | {t / n:.2f} s | {n * steps / t:.0f} | "
                     f"{base / t:.2f}x |")
    return "\n".join(lines)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="steps per trial")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        print(table(measure(args.steps, root), args.steps))
