"""Candidates for the CNN steps/s target (#9), timed against jaxdl as it is in one process.

    python -m bench.cnn_candidates                 # ~3 min on 2 idle CPU cores
    python -m bench.cnn_candidates --recipe mlp    # the same candidates on the MLP

Each candidate is built and compiled like the driver's chunk (`bench.execution.Prepared`),
then all are timed in `--windows` rounds of 1000 steps that visit every candidate once, in a
rotating order (a load spike hits them alike). Candidates, each alone on top of jaxdl as it is
(`execution=auto` = `scan`, chunk 100):

    chunk 500        five times longer compiled chunks (fewer host syncs)
    unroll 2 / 4     `lax.scan(..., unroll=k)`: k steps per while-loop iteration
    flat adam        `optax.flatten` around the optimizer: one concatenated vector instead
                     of one update chain per parameter leaf
"""
from __future__ import annotations

import argparse
import contextlib
import functools
import statistics

import jax
import optax

from bench import common, execution
from jaxdl import optim


@contextlib.contextmanager
def unrolled(k: int):
    scan = jax.lax.scan
    jax.lax.scan = functools.partial(scan, unroll=k)
    try:
        yield
    finally:
        jax.lax.scan = scan


@contextlib.contextmanager
def flat_optimizer():
    make = optim.make_optimizer
    optim.make_optimizer = lambda opt, steps: optax.flatten(make(opt, steps))
    try:
        yield
    finally:
        optim.make_optimizer = make


CANDIDATES = {
    "jaxdl as it is": (dict(), contextlib.nullcontext),
    "chunk 500": (dict(chunk_size=500), contextlib.nullcontext),
    "unroll 2": (dict(), lambda: unrolled(2)),
    "unroll 4": (dict(), lambda: unrolled(4)),
    "flat adam": (dict(), flat_optimizer),
}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cnn_candidates", description=__doc__.splitlines()[0])
    p.add_argument("--recipe", choices=("cnn", "mlp"), default="cnn")
    p.add_argument("--windows", type=int, default=7)
    args = p.parse_args(argv)
    start = common.load_average()
    prepared = {}
    for name, (kwargs, patch) in CANDIDATES.items():
        with patch():  # build, trace and compile under the candidate
            prepared[name] = execution.Prepared(args.recipe, **{"chunk_size": 100, **kwargs})
    rates: dict[str, list[float]] = {name: [] for name in prepared}
    names = list(prepared)
    for w in range(args.windows):
        for name in names[w % len(names):] + names[:w % len(names)]:
            rates[name].append(prepared[name].window(1000))
    base = statistics.median(rates[names[0]])
    rows = [(name, f"{statistics.median(r):,.0f}", common.spread(r), f"{statistics.median(r) / base:.3f}×")
            for name, r in rates.items()]
    print(f"{args.recipe}: load average {start} at start, {common.load_average()} at end; "
          f"medians of {args.windows} windows of 1000 steps\n")
    print(common.table(("candidate", "steps/s", "min–max", "÷ as it is"), rows))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
