"""Seed-to-seed noise of the short runs that tests/test_parallel.py compares across device
and process counts: the yardstick for "within seed noise" there.

    python -m bench.seed_noise          # ~1 min on 2 CPU cores; prints the two tables

1. The two-process test's run (`--config.steps=100 --config.eval_every=50`, default
   CNN recipe): mean and standard deviation over seeds 0-4 of each eval row's loss and
   accuracy.
2. The device-count test's curve (batch 80, chunks of 10): per-step training loss over
   seeds 0-4 on one device; the relative standard deviation at steps 10, 20 and 30.
"""
from __future__ import annotations

import json
import os
import tempfile

import jax
import numpy as np

SEEDS = range(5)


def eval_rows_over_seeds(root: str) -> dict[tuple[int, str], np.ndarray]:
    import jaxdl
    from jaxdl import config as config_lib
    rows: dict[tuple[int, str], list] = {}
    for seed in SEEDS:
        c = config_lib.load(None, ["steps=100", "eval_every=50", "checkpoint_every=25",
                                   "chunk_size=10", "log_every=0", f"seed={seed}"])
        jaxdl.train(c, os.path.join(root, f"seed{seed}"), progress=False)
        for line in open(os.path.join(root, f"seed{seed}", "metrics.jsonl")):
            r = json.loads(line)
            rows.setdefault((r["step"], r["split"]), []).append((r["loss"], r["accuracy"]))
    return {k: np.array(v) for k, v in rows.items()}


def train_curves_over_seeds(steps: int = 30) -> np.ndarray:
    from jaxdl import config as config_lib, rng
    from jaxdl.training import loop
    curves = []
    for seed in SEEDS:
        c = config_lib.default()
        c.steps, c.chunk_size, c.batch_size, c.seed = steps, 10, 80, seed
        run = loop.build(c)
        state, data, losses = run.init(rng.root_key(seed)), run.device_data(), []
        for length, _ in loop.chunks(0, [steps], c.chunk_size):
            state, metrics = run.train_chunk(state, data, length)
            losses += np.asarray(jax.device_get(metrics["loss"])).tolist()
        curves.append(losses)
    return np.array(curves)


def main() -> None:
    with tempfile.TemporaryDirectory() as root:
        rows = eval_rows_over_seeds(root)
    print("| step | split | loss mean | loss std | accuracy mean | accuracy std |")
    print("|---|---|---|---|---|---|")
    for (step, split), v in sorted(rows.items()):
        print(f"| {step} | {split} | {v[:, 0].mean():.4f} | {v[:, 0].std(ddof=1):.4f} | "
              f"{v[:, 1].mean():.4f} | {v[:, 1].std(ddof=1):.4f} |")
    curves = train_curves_over_seeds()
    relative = curves.std(axis=0, ddof=1) / curves.mean(axis=0)
    print("\n| step | training loss: std / mean over seeds |\n|---|---|")
    for step in (10, 20, 30):
        print(f"| {step} | {relative[step - 1]:.3f} |")


if __name__ == "__main__":
    main()
