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


WAYS = ("vectorized", "one by one", "16 processes")


def measure(steps: int, root: str, ways: tuple[str, ...] = WAYS) -> dict[str, float]:
    """Wall time of each way, in seconds."""
    study = os.path.join(root, "bench_sweep.py")
    with open(study, "w") as f:
        f.write(STUDY.format(lrs=LRS, seeds=SEEDS, steps=steps))
    jaxdl = [sys.executable, "-m", "bench.jaxdl_cli", "--"]  # `jaxdl`, of a bench run's snapshot
    times = {}
    for way in ways:
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


def measure_rounds(steps: int, repeats: int, ways: tuple[str, ...] = WAYS[:2]) -> dict:
    """`repeats` rounds of every way, each round in a fresh directory (cold compilation
    caches): way -> one wall time per round, plus the device the trials ran on."""
    times: dict[str, list[float]] = {way: [] for way in ways}
    for _ in range(repeats):
        with tempfile.TemporaryDirectory() as root:
            for way, t in measure(steps, root, ways).items():
                times[way].append(t)
    device = jax.devices()[0]
    return {"steps": steps, "times": times,
            "device": f"{device.platform} ({device.device_kind}, {os.cpu_count()} cores)"}


def table(r: dict) -> str:
    """The markdown table of `measure_rounds`' result (medians, min–max, ratios)."""
    from bench import common
    n, steps, times = len(LRS) * len(SEEDS), r["steps"], r["times"]
    med = {way: common.median(t) for way, t in times.items()}
    base_name = "one by one"
    rows = [(way, f"{med[way]:.1f} s", common.spread(t), f"{med[way] / n:.2f} s",
             f"{n * steps / med[way]:.0f}", f"{med[base_name] / med[way]:.2f}×")
            for way, t in times.items()]
    return (f"16-trial sweep (lr × 4 seeds of the MNIST-1D CNN, {steps} steps each) on "
            f"{r['device']}, cold compilation cache, medians of {len(times[base_name])} rounds:\n\n"
            + common.table(("way", "wall time", "min–max", "per trial", "trial-steps/s",
                            f"÷ {base_name}"), rows))


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=1000, help="steps per trial")
    parser.add_argument("--repeats", type=int, default=1, help="rounds of every way")
    parser.add_argument("--ways", default=",".join(WAYS), help="comma list of: " + ", ".join(WAYS))
    args = parser.parse_args()
    ways = tuple(w for w in args.ways.split(",") if w)
    unknown = sorted(set(ways) - set(WAYS))
    if unknown:
        parser.error(f"--ways: unknown {unknown}; choose from {', '.join(WAYS)}")
    print(table(measure_rounds(args.steps, args.repeats, ways)))
