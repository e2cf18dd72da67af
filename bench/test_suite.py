"""The default test suite's wall time on this machine, with a cold and a warm compilation cache.

    python -m bench.test_suite                 # ~25 min on 2 idle cores: cold, then warm
    python -m bench.test_suite --only warm     # one of them (warm fills its cache first)
    python -m bench.test_suite tests/test_models.py   # some tests only (pytest's arguments)
    python -m bench.test_suite --only cold --programs  # + the distinct programs (slower)

`make test` runs `pytest -q -n auto`, and jaxdl keeps XLA's compiled programs in a persistent
cache (~/.cache/jaxdl/xla, `jaxdl.training.build.enable_compilation_cache`). A fresh machine
starts with that cache empty (*cold*); a second run of the same code finds every program there
(*warm*). The project's limit is 10 minutes for the default run on an idle machine, and a fresh
clone on a fresh machine is the cold case, so both are measured. Each run gets its own data
cache and compilation cache in a temporary directory (`JAXDL_DATA_CACHE`,
`JAXDL_COMPILATION_CACHE`), so what the user's caches hold does not matter.

Prints a markdown block: wall time, CPU time (user + system of pytest and everything it
started), tests passed, the slowest tests, a fixed reference timing of the machine, and
the seconds XLA spent compiling in the test processes (jax's
`/jax/core/compile/backend_compile_duration` events; processes the tests start are not
counted), with the tests that compiled most. With --programs, for the cold run: how many
distinct programs the tests asked for and what compiling each once costs — as they are
and with every literal constant blanked (had hyperparameters been run-time values, which
programs would be one). Expected on a 2-core AMD EPYC (Zen 4), idle: cold ~1,100 s wall,
warm ~470 s (2,371 tests at d06ed3e; earlier sessions in BUILD.md's Tests).
"""
from __future__ import annotations

import argparse
import collections
import glob
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time

from bench import common

PLUGIN = "bench.suite_compile_log"
DURATION = re.compile(r"\d+\.\d+s (setup|call|teardown) ")  # a line of pytest --durations


def run_suite(cache: str, data: str, log_dir: str, tests: list[str], programs: bool = False
              ) -> dict:
    """One `pytest -q -n auto` (make test's command) with the given caches; `programs`:
    also log every program (slower: not for the times)."""
    env = {**os.environ, "JAXDL_COMPILATION_CACHE": cache, "JAXDL_DATA_CACHE": data,
           "JAXDL_BENCH_COMPILE_LOG": log_dir, "JAXDL_BENCH_PROGRAMS": "1" if programs else ""}
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    command = [sys.executable, "-m", "pytest", "-q", "-rf", "--durations=15", "-n", "auto",
               "-p", PLUGIN, *tests]
    proc = subprocess.run(command, cwd=common.ROOT, env=env, capture_output=True, text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    tail = proc.stdout.strip().splitlines()[-1] if proc.stdout.strip() else proc.stderr[-500:]
    failed = [line for line in proc.stdout.splitlines() if line.startswith("FAILED ")]
    slowest = [line for line in proc.stdout.splitlines() if DURATION.match(line)]
    per_test: collections.Counter = collections.Counter()
    programs = []
    for path in glob.glob(os.path.join(log_dir, "*.json")):
        log = json.load(open(path))
        per_test.update(log["per_test"])
        programs += log.get("programs", [])
    return {"wall_s": wall, "cpu_s": (after.ru_utime - before.ru_utime) +
            (after.ru_stime - before.ru_stime), "returncode": proc.returncode,
            "summary": tail, "failed": failed, "slowest": slowest,
            "compile_s": sum(per_test.values()), "top": per_test.most_common(10),
            "programs": distinct_programs(programs)}


def distinct_programs(programs: list[list]) -> dict:
    """How many distinct programs the run asked for, and the seconds of compiling each once
    (its slowest request: the compile, not a later cache read) — as they are, and if every
    literal constant were a run-time value (a learning rate, a schedule's step count)."""
    def once(column: int) -> tuple[int, float]:
        slowest: dict[str, float] = {}
        for row in programs:
            slowest[row[column]] = max(slowest.get(row[column], 0.0), row[3])
        return len(slowest), sum(slowest.values())
    (exact, exact_s), (blanked, blanked_s) = once(1), once(2)
    return {"requests": len(programs), "distinct": exact, "distinct_s": exact_s,
            "without_constants": blanked, "without_constants_s": blanked_s}


def machine_reference() -> float:
    """Seconds of a fixed pure-Python loop (the best of 3): the same on every day for the
    same machine, whatever the code — so a change of the suite's time between two runs
    can be told apart from a change of the machine's speed."""
    def loop() -> float:
        start, total = time.perf_counter(), 0
        for i in range(5_000_000):
            total += i * i % 7
        return time.perf_counter() - start
    return min(loop() for _ in range(3))


def render(results: dict[str, dict], reference: float) -> str:
    lines = [f"CPU: {common.cpu_model()}, {os.cpu_count()} cores; load average at the end "
             f"{common.load_average()}; machine reference (a fixed pure-Python loop, "
             f"best of 3) {reference:.2f} s", "",
             "| cache | wall | CPU (user+sys) | XLA compile in the test processes | result |",
             "|---|---|---|---|---|"]
    for name, r in results.items():
        lines.append(f"| {name} | {r['wall_s']:.0f} s | {r['cpu_s']:.0f} s | "
                     f"{r['compile_s']:.0f} s | {r['summary']} |")
    p = results["cold"]["programs"] if "cold" in results else {"distinct": 0}
    if p["distinct"]:
        lines += ["", f"Programs, cold cache: {p['requests']:,} requests, {p['distinct']:,} "
                  f"distinct, {p['distinct_s']:.0f} s to compile each once; with every "
                  f"constant a run-time value {p['without_constants']:,} distinct, "
                  f"{p['without_constants_s']:.0f} s "
                  f"({1 - p['without_constants_s'] / p['distinct_s']:.0%} less)."]
    for name, r in results.items():
        if r["failed"]:
            lines += ["", f"Failed, {name} cache:", ""] + [f"- {f}" for f in r["failed"]]
        lines += ["", f"Slowest tests (pytest --durations), {name} cache:", ""]
        lines += [f"- {line}" for line in r["slowest"]]
        lines += ["", f"Most compile time, {name} cache:", ""]
        lines += [f"- {s:.1f} s {test}" for test, s in r["top"]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=("cold", "warm"), help="measure one of the two")
    parser.add_argument("--programs", action="store_true",
                        help="also count the distinct programs and what blanking constants "
                             "would merge (prints every program's IR: slows the run, so its "
                             "times are not make test's)")
    parser.add_argument("tests", nargs="*", help="pytest's arguments (default: the whole run)")
    args = parser.parse_args(argv)
    root = tempfile.mkdtemp(prefix="jaxdl-bench-suite-")
    cache, data = os.path.join(root, "xla"), os.path.join(root, "data")
    results, reference = {}, machine_reference()
    try:
        # warm means a cache some run filled: --only warm still runs the cold one first
        for name in ("cold",) if args.only == "cold" else ("cold", "warm"):
            print(f"[bench.test_suite {time.strftime('%H:%M:%S')}] {name} cache: pytest -n auto",
                  flush=True)
            result = run_suite(cache, data, tempfile.mkdtemp(dir=root), args.tests,
                               args.programs)
            if args.only in (None, name):
                results[name] = result
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(render(results, reference))
    return 0 if all(r["returncode"] == 0 for r in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
