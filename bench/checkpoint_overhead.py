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


def measure(repeats: int = 5) -> dict:
    """Wall times with the default checkpoint interval and with the final save only (the
    arms interleaved, so drifting machine load hits both), and every save's blocking time."""
    default_interval = jaxdl.config.default().checkpoint_every
    timed_run(0)  # warm the compilation cache: both arms then compile nothing
    with_ckpt, without, waits = [], [], []
    for _ in range(repeats):
        t, w = timed_run(default_interval)
        with_ckpt.append(t)
        waits += w
        without.append(timed_run(0)[0])
    return {"checkpoint_every": default_interval, "with": with_ckpt, "without": without,
            "waits": waits, "repeats": repeats}


def markdown(r: dict) -> str:
    a, b = statistics.median(r["with"]), statistics.median(r["without"])
    overhead = 100 * (a - b) / b
    return "\n".join([
        f"| checkpoint_every | median training wall time (s) of {len(r['with'])} runs | min–max |",
        "|---|---|---|",
        f"| {r['checkpoint_every']} (default) | {a:.2f} | {min(r['with']):.2f}–{max(r['with']):.2f} |",
        f"| 0 (final save only) | {b:.2f} | {min(r['without']):.2f}–{max(r['without']):.2f} |",
        "",
        f"Overhead {overhead:+.1f}% (target ≤ 2%: **{'met' if overhead <= 2 else 'missed'}**); "
        f"the loop blocks a median {1000 * statistics.median(r['waits']):.1f} ms per save "
        f"({len(r['waits'])} saves): orbax copies the state to the host, then writes in the background."])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    print(markdown(measure(args.repeats)))


if __name__ == "__main__":
    main()
