"""Checkpoint overhead of the default run: wall time with checkpoints every
`checkpoint_every` (default 1000) steps vs only the final save, and the time the
training loop waits in each (asynchronous) save.

    python -m bench.checkpoint_overhead --repeats 5      # prints a markdown table
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import jaxdl
from jaxdl.training import checkpoint


def timed_run(checkpoint_every: int) -> tuple[float, list[float]]:
    """(training wall time, blocking time of each save) of one default run."""
    waits = []
    save = checkpoint.Checkpoints.save

    def timed_save(self, state, config):
        t = time.perf_counter()
        save(self, state, config)
        waits.append(time.perf_counter() - t)

    checkpoint.Checkpoints.save = timed_save
    try:
        config = jaxdl.config.default()
        config.checkpoint_every = checkpoint_every
        with tempfile.TemporaryDirectory() as workdir:
            result = jaxdl.train(config, f"{workdir}/run", progress=False)
    finally:
        checkpoint.Checkpoints.save = save
    return result["wall_time_s"], waits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    default_interval = jaxdl.config.default().checkpoint_every
    timed_run(0)  # warm the compilation cache: both arms then compile nothing
    with_ckpt, without, waits = [], [], []
    for _ in range(args.repeats):  # interleaved, so drifting machine load hits both arms
        t, w = timed_run(default_interval)
        with_ckpt.append(t)
        waits += w
        without.append(timed_run(0)[0])
    a, b = statistics.median(with_ckpt), statistics.median(without)
    print(f"| checkpoint_every | median wall time (s) of {args.repeats} runs |")
    print("|---|---|")
    print(f"| {default_interval} (default) | {a:.2f} |")
    print(f"| 0 (final save only) | {b:.2f} |")
    print(f"\noverhead {100 * (a - b) / b:+.1f}% ; median blocking time per save "
          f"{1000 * statistics.median(waits):.1f} ms over {len(waits)} saves")


if __name__ == "__main__":
    main()
