"""Is a change of jaxdl slower? Two checkouts measured side by side, in paired rounds.

    python -m bench.versus OLD_CHECKOUT [NEW_CHECKOUT] [--repeats 9]

e.g. `git worktree add --detach ../old c1cee8d; python -m bench.versus ../old .` (about 2 min a
round on 2 cores). Each checkout is measured with its own code (a fresh process whose working
directory is that checkout, so its `bench/` and `jaxdl/` are imported) on the rows of
`python -m bench --only targets` that measure jaxdl:

    steps/s              MNIST-1D CNN and MLP recipes: one 1000-step window after 200 warm-up
                         steps (`bench.execution.measure`, chunk 100, the driver's per-chunk work)
    wall, warm caches    `jaxdl train` of the 6000-step recipe, process start to printed test
                         accuracy, with the compilation and data caches filled by an untimed run
    wall, first run      the same with both caches off

Why paired rounds: on a shared 2-core machine one process's figure moves by ±20% with the
load, far more than the 5% a change is allowed to cost. Every round measures old and new back
to back (which goes first alternates), so a load spike hits both; the verdict is on the
median over rounds of the per-round ratio new/old, with a 95% bootstrap interval of that median.
A row shows *no loss* when that median ratio is ≥ 0.95 for steps/s (≤ 1.05 for wall time).
"""
from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import tempfile
import time

from bench import common, targets

RECIPES = targets.RECIPES
WALL = {"jaxdl train (warm caches)": "warm caches",  # targets.wall_commands name -> row label
        "jaxdl train (first run: caches off)": "first run, caches off"}
TOLERANCE = 0.05


def checkout_env(checkout: str) -> dict[str, str]:
    # Only `checkout` on the path, and no bench snapshot that would shadow its jaxdl/.
    return {"PYTHONPATH": checkout, "JAXDL_BENCH_SNAPSHOT": ""}


def steps_per_s(checkout: str, recipe: str, warmup: int, window: int) -> float:
    out = common.run_worker("bench.execution:measure", dict(
        recipe=recipe, runs=[dict(execution="auto", chunk_size=100)], warmup=warmup,
        window=window, windows=1), env=checkout_env(checkout), cwd=checkout)
    return out[0]["steps_per_s"]


def wall_s(checkout: str, recipe: str, name: str, caches: tuple[str, str], steps: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        argv, env = targets.wall_commands(recipe, f"{tmp}/run", *caches, steps=steps)[name]
        return common.time_process(argv, {**env, **checkout_env(checkout)}, cwd=checkout)["wall_s"]


def measure(checkouts: dict[str, str], repeats: int, log, warmup: int = 200, window: int = 1000,
            steps: int = 6000) -> dict[str, dict[str, list[float]]]:
    """row -> side -> one figure per round. Round 0 (untimed) fills each side's warm caches."""
    data_cache = tempfile.mkdtemp(prefix="jaxdl-versus-data-")
    compile_caches = {side: tempfile.mkdtemp(prefix=f"jaxdl-versus-{side}-") for side in checkouts}
    figures: dict[str, dict[str, list[float]]] = {}
    try:
        for round_ in range(repeats + 1):
            sides = list(checkouts) if round_ % 2 else list(checkouts)[::-1]
            for recipe in RECIPES:
                for side in sides:
                    caches = (compile_caches[side], data_cache)
                    if not round_:
                        wall_s(checkouts[side], recipe, next(iter(WALL)), caches, steps)
                        continue
                    row = figures.setdefault(f"{recipe.upper()} steps/s", {})
                    row.setdefault(side, []).append(
                        steps_per_s(checkouts[side], recipe, warmup, window))
                    for name, label in WALL.items():
                        row = figures.setdefault(f"{recipe.upper()} wall s, {label}", {})
                        row.setdefault(side, []).append(
                            wall_s(checkouts[side], recipe, name, caches, steps))
            if round_:
                log(f"round {round_}/{repeats}: " + "; ".join(
                    f"{row} {v['new'][-1] / v['old'][-1]:.3f}" for row, v in figures.items()))
    finally:
        for cache in (data_cache, *compile_caches.values()):
            shutil.rmtree(cache, ignore_errors=True)
    return figures


# Runs in each checkout with its own jaxdl: the optimized HLO of the 100-step train chunk,
# without metadata (source lines and names of Python frames, which any edit moves).
HLO = """
import hashlib, re, sys
from bench import execution
from jaxdl import rng
from jaxdl.training import loop
config = execution.recipe_config(sys.argv[1])
run = loop.build(config)
state = run.init(rng.root_key(config.seed))
text = run.train_chunk.lower(state, run.device_data(), 100).compile().as_text()
body = text[text.index("\\n%", text.index("\\nStackFrames")) if "StackFrames" in text else 0:]
body = re.sub(r", metadata=\\{[^}]*\\}", "", body)
print(hashlib.sha256(body.encode()).hexdigest())
"""


def same_program(checkouts: dict[str, str], recipe: str) -> bool:
    """Whether both checkouts compile the recipe's train chunk to the same XLA program (then
    their steps/s can differ only by the host work between chunks)."""
    digests = set()
    for checkout in checkouts.values():
        env = common.env_with({**checkout_env(checkout), "JAXDL_COMPILATION_CACHE": ""})
        out = subprocess.run([common.PYTHON, "-c", HLO, recipe], cwd=checkout, env=env,
                             capture_output=True, text=True, timeout=600)
        if out.returncode:
            raise RuntimeError(f"{checkout}: {out.stderr[-2000:]}")
        digests.add(out.stdout.split()[-1])
    return len(digests) == 1


def median_interval(values: list[float], draws: int = 10_000, seed: int = 0) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the median (a fixed seed: the same numbers give
    the same interval)."""
    rng = random.Random(seed)
    medians = sorted(statistics.median(rng.choices(values, k=len(values))) for _ in range(draws))
    return medians[int(0.025 * draws)], medians[int(0.975 * draws) - 1]


def verdict(row: str, ratios: list[float]) -> str:
    """'no loss' (at most 5% slower, or faster) or 'slower by > 5%', decided on the median
    of the paired ratios new/old."""
    ratio = statistics.median(ratios)
    faster_is_higher = "steps/s" in row
    ok = ratio >= 1 - TOLERANCE if faster_is_higher else ratio <= 1 + TOLERANCE
    return "no loss" if ok else "slower by > 5%"


def markdown(figures: dict[str, dict[str, list[float]]]) -> str:
    rows = []
    for row, sides in figures.items():
        ratios = [n / o for n, o in zip(sides["new"], sides["old"])]
        low, high = median_interval(ratios)
        rows.append((row, f"{common.median(sides['old']):,.1f}", f"{common.median(sides['new']):,.1f}",
                     f"{common.median(ratios):.3f}", f"{low:.3f}–{high:.3f}", verdict(row, ratios)))
    return common.table(("row", "old (median)", "new (median)", "new ÷ old (median of rounds)",
                         "95% interval", "verdict"), rows)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.versus", description=__doc__.splitlines()[0],
                                epilog=__doc__.split("\n\n", 2)[2],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("old", help="checkout of the old code (a directory with jaxdl/ and bench/)")
    p.add_argument("new", nargs="?", default=common.ROOT, help="checkout of the new code (default: this one)")
    p.add_argument("--repeats", type=int, default=9, help="paired rounds (default 9)")
    p.add_argument("--steps", type=int, default=6000, help="steps of the wall-time runs")
    p.add_argument("--window", type=int, default=1000, help="timed steps of a steps/s figure")
    p.add_argument("--results", default=os.path.join(common.ROOT, "runs", "bench", "results.json"),
                   help="raw results of `python -m bench`, to which this run is saved as section "
                        "`versus` (BENCHMARKS.md section 7: `python -m bench --report-only`)")
    p.add_argument("--old-name", help="how the report names the old code (default: its commit)")
    args = p.parse_args(argv)
    checkouts = {"old": os.path.abspath(args.old), "new": os.path.abspath(args.new)}
    for side, path in checkouts.items():
        if not os.path.isfile(os.path.join(path, "bench", "execution.py")):
            p.error(f"{side} checkout {path}: no bench/execution.py (not a jaxdl checkout)")
    log = lambda msg: print(f"[versus {time.strftime('%H:%M:%S')} load {common.load_average()}] {msg}",
                            flush=True)
    t0, load_start = time.perf_counter(), common.load_average()
    started = time.strftime("%Y-%m-%d %H:%M")
    programs = {recipe: same_program(checkouts, recipe) for recipe in RECIPES}
    figures = measure(checkouts, args.repeats, log, window=args.window, steps=args.steps)
    data = {"figures": figures, "same_program": programs, **{side: args.old_name if side == "old" and args.old_name
                                   else commit_of(path) for side, path in checkouts.items()}}
    common.save_section(args.results, "versus", {
        "data": data, "command": "python -m bench.versus " + " ".join(argv or []),
        "repeats": args.repeats, "quick": False, "started": started,
        "minutes": (time.perf_counter() - t0) / 60, "load_start": load_start,
        "load_end": common.load_average(), "source": common.source_version()})
    print(markdown(figures))
    return 0


def commit_of(checkout: str) -> str:
    """'commit abc1234' of a git checkout (with '+ changes' when jaxdl/ or bench/ differ)."""
    def git(*args):
        return subprocess.run(["git", "-C", checkout, *args], capture_output=True, text=True).stdout
    dirty = " + uncommitted changes" if git("status", "--porcelain", "--", "jaxdl", "bench") else ""
    return f"commit {git('rev-parse', '--short', 'HEAD').strip() or 'n/a'}{dirty}"


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
