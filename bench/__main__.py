"""Benchmarks of jaxdl against its peers on this machine; writes BENCHMARKS.md.

    python -m bench                  # full run (~45 min on 2 CPU cores), writes BENCHMARKS.md
    python -m bench --repeats 7      # more repeats per figure (default 5)
    python -m bench --quick          # smoke run (< 3 min): few steps, 1-2 repeats;
                                     # writes runs/bench-quick/BENCHMARKS.md unless --out
    python -m bench --report-only runs/bench/results.json   # re-render from saved raw results

Every figure is a median over repeats measured in this one invocation, and every
ratio divides two figures of the same invocation. Raw results go to
runs/bench/results.json (runs/bench-quick/ for --quick).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time

from bench import common, report

RECIPES = ("cnn", "mlp")
# jaxdl before commit 18785c5 (which carried the epoch order and jitted the NaN check).
BEFORE = "per_step_order,eager_finite"
# The remaining exact change: bitwise-identical training, `loop` strategy kept.
EXACT = "host_stack"
# The proposal: im2col 1-D convolutions, run under `scan` (float-rounding changes only).
PROPOSED = "patch_conv"
CHUNKS = (1, 10, 100, 500)


def jaxdl_runs(quick: bool) -> list[dict]:
    """Everything measured in-process per recipe: headline, strategy table, candidates.
    (On CPU `auto` is `loop`: the table's loop/100/as-is figure is the headline one.)"""
    runs = [dict(execution="auto", chunk_size=100, variant=""),
            dict(execution="loop", chunk_size=100, variant=BEFORE),
            dict(execution="loop", chunk_size=100, variant=EXACT),
            dict(execution="scan", chunk_size=100, variant=PROPOSED),
            dict(execution="scan", chunk_size=100, variant="")]
    if quick:
        return [run for run in runs if run["variant"] == ""]
    for chunk in CHUNKS:
        for execution in ("loop", "scan"):
            if not (chunk == 100 and execution == "loop"):
                runs.append(dict(execution=execution, chunk_size=chunk, variant=""))
            runs.append(dict(execution=execution, chunk_size=chunk,
                             variant=EXACT if execution == "loop" else PROPOSED))
    candidates = [("scan", BEFORE), ("loop", "patch_conv"), ("loop", EXACT + ",patch_conv"),
                  ("loop", "swap_or_not," + EXACT), ("scan", "swap_or_not," + PROPOSED),
                  ("scan", PROPOSED + ",unroll=4")]
    runs += [dict(execution=e, chunk_size=100, variant=v) for e, v in candidates]
    unique, seen = [], set()
    for run in runs:
        key = (run["execution"], run["chunk_size"], run["variant"])
        if key not in seen:
            seen.add(key)
            unique.append(run)
    return unique


ENV_CANDIDATES = {
    "XLA_FLAGS=--xla_cpu_multi_thread_eigen=false": ({"XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false"}, None),
    "jax_cpu_enable_async_dispatch=False": ({}, {"jax_cpu_enable_async_dispatch": False}),
    "jax_default_matmul_precision=bfloat16": ({}, {"jax_default_matmul_precision": "bfloat16"}),
}


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {common.load_average()}] {msg}", flush=True)


HEADLINE = [dict(execution="auto", chunk_size=100, variant=""),
            dict(execution="loop", chunk_size=100, variant=BEFORE),
            dict(execution="loop", chunk_size=100, variant=EXACT),
            dict(execution="scan", chunk_size=100, variant=PROPOSED)]


def measure_headline(args, results: dict) -> None:
    """Steps/s of jaxdl (headline configs), PyTorch (default threads, 1 thread) and flax:
    `repeats` rounds, each a fresh process per implementation and recipe timing one window,
    the implementations interleaved round by round (a load spike hits them alike)."""
    one = dict(warmup=args.warmup, window=args.window, windows=1)
    threads = (1,) if args.quick else (0, 1)
    results["headline_jaxdl"], results["torch"], results["flax"] = {}, {}, {}
    for round_ in range(args.rounds):
        for recipe in RECIPES:
            log(f"{recipe}: headline round {round_ + 1}/{args.rounds}: jaxdl")
            for run in common.run_worker("bench.execution:measure",
                                         dict(recipe=recipe, runs=HEADLINE, **one)):
                key = (run["execution"], run["variant"])
                entry = results["headline_jaxdl"].setdefault(recipe, {}).setdefault(
                    "|".join(key), dict(run, rates=[]))
                entry["rates"] += run["rates"]
                entry["steps_per_s"] = common.median(entry["rates"])
            for t in threads:
                log(f"{recipe}: headline round {round_ + 1}/{args.rounds}: PyTorch threads={t or 'default'}")
                out = common.run_worker("bench.torch_mnist1d:window_steps_per_s",
                                        dict(model_name=recipe, threads=t, **one))
                entry = results["torch"].setdefault(f"{recipe}/{t}", dict(out, rates=[]))
                entry["rates"] += out["rates"]
                entry["steps_per_s"] = common.median(entry["rates"])
            log(f"{recipe}: headline round {round_ + 1}/{args.rounds}: flax")
            out = common.run_worker("bench.flax_loop:window_steps_per_s", dict(model_name=recipe, **one))
            entry = results["flax"].setdefault(recipe, dict(out, rates=[]))
            entry["rates"] += out["rates"]
            entry["steps_per_s"] = common.median(entry["rates"])


def measure_throughput(args, results: dict) -> None:
    """jaxdl's strategies and candidates (one process per recipe, windows interleaved),
    then the environment-level candidates (one process each)."""
    kw = dict(warmup=args.warmup, window=args.window, windows=args.repeats)
    results["jaxdl"], results["env"] = {}, {}
    for recipe in RECIPES:
        log(f"{recipe}: jaxdl strategies and candidates")
        results["jaxdl"][recipe] = common.run_worker(
            "bench.execution:measure", dict(recipe=recipe, runs=jaxdl_runs(args.quick), **kw))
    envs = [] if args.quick else list(ENV_CANDIDATES.items())
    for name, (env, jax_config) in envs:
        for recipe in RECIPES:
            log(f"{recipe}: environment candidate {name}")
            runs = [dict(execution="auto", chunk_size=100, variant=""),
                    dict(execution="scan", chunk_size=100, variant=PROPOSED)]
            results["env"][f"{recipe}/{name}"] = common.run_worker(
                "bench.execution:measure",
                dict(recipe=recipe, runs=runs, jax_config=jax_config, **kw), env=env)


def wall_commands(recipe: str, steps: int, workdir: str, cache: str,
                  data_cache: str = "") -> dict[str, tuple]:
    """name -> (argv, env): the whole-process runs timed from start to printed accuracy."""
    from bench import execution
    py = common.PYTHON
    jaxdl_exe = os.path.join(os.path.dirname(py), "jaxdl")
    config = execution.recipe_cli_args(recipe) + ([f"--config.steps={steps}"] if steps != 6000 else [])
    train = ["train", "--no-progress", "--workdir", workdir] + config
    literal = [jaxdl_exe] + train if os.path.exists(jaxdl_exe) else [py, "-m", "jaxdl.cli"] + train
    warm, cold = {"JAXDL_COMPILATION_CACHE": cache}, {"JAXDL_COMPILATION_CACHE": ""}
    data = {"JAXDL_BENCH_DATA_CACHE": data_cache}
    steps_args = ["--steps", str(steps)]
    return {
        "jaxdl train (bench venv, warm cache)": (literal, warm),
        "jaxdl train (no torch, warm cache)": ([py, "-m", "bench.jaxdl_cli", "--hide-torch", "--"] + train, warm),
        "jaxdl train (no torch, cold: no cache)": ([py, "-m", "bench.jaxdl_cli", "--hide-torch", "--"] + train, cold),
        "jaxdl before 18785c5 (no torch, warm cache)": (
            [py, "-m", "bench.jaxdl_cli", "--hide-torch", "--variant", BEFORE, "--"] + train, warm),
        "jaxdl + proposed (no torch, warm cache)": (
            [py, "-m", "bench.jaxdl_cli", "--hide-torch", "--variant", PROPOSED, "--"] + train
            + ["--config.execution=scan"], warm),
        "jaxdl + proposed + data cache (no torch, warm cache)": (
            [py, "-m", "bench.jaxdl_cli", "--hide-torch", "--variant", PROPOSED + ",data_cache", "--"]
            + train + ["--config.execution=scan"], {**warm, **data}),
        "PyTorch eager (1 thread) + data cache": (
            [py, "-m", "bench.torch_mnist1d", "--model", recipe, "--threads", "1", "--data-cache"]
            + steps_args, data),
        "PyTorch eager (default threads)": ([py, "-m", "bench.torch_mnist1d", "--model", recipe] + steps_args, {}),
        "PyTorch eager (1 thread)": ([py, "-m", "bench.torch_mnist1d", "--model", recipe, "--threads", "1"] + steps_args, {}),
        "flax per-step loop": ([py, "-m", "bench.flax_loop", "--model", recipe] + steps_args, {}),
    }


QUICK_WALL = ("jaxdl train (no torch, warm cache)", "PyTorch eager (1 thread)",
              "flax per-step loop")


def torch_default_pathological(results: dict, recipe: str) -> str:
    """Why the default-threads PyTorch wall runs are skipped ('' = run them): when section 1
    measured them at under half the 1-thread speed, 6000 steps would take minutes per run
    and the 1-thread setting is the faster PyTorch reference anyway."""
    default, single = (results["torch"].get(f"{recipe}/{t}") for t in (0, 1))
    if not default or not single or default["steps_per_s"] >= 0.5 * single["steps_per_s"]:
        return ""
    return (f"PyTorch with its default threads ran at {default['steps_per_s']:.0f} steps/s in section 1 "
            f"vs {single['steps_per_s']:.0f} with 1 thread (OpenMP threads on a shared 2-core machine); "
            f"its wall runs were skipped (each would take ~{6000 / default['steps_per_s']:.0f} s of training)")


def measure_wall(args, results: dict) -> None:
    """Whole-process wall time, repeats interleaved round-robin over the commands."""
    cache = tempfile.mkdtemp(prefix="jaxdl-bench-cache-")
    data_cache = tempfile.mkdtemp(prefix="jaxdl-bench-data-")
    try:
        recipes = ("cnn",) if args.quick else RECIPES
        for recipe in recipes:
            names = list(wall_commands(recipe, args.steps, "x", cache))
            if args.quick:
                names = [n for n in names if n in QUICK_WALL]
            slow = torch_default_pathological(results, recipe)
            if slow:  # under CPU contention torch's 2 OpenMP threads can collapse (section 1)
                names.remove("PyTorch eager (default threads)")
                results.setdefault("wall_skipped", {})[recipe] = slow
            results["wall"][recipe] = {name: [] for name in names}
            results["wall_lines"][recipe] = {}
            # round 0 (untimed) fills the compilation cache and the OS file cache
            for round_ in range(args.wall_repeats + 1):
                for name in names:
                    if round_ == 0 and not ("warm cache" in name or "data cache" in name):
                        continue
                    with tempfile.TemporaryDirectory() as tmp:
                        argv, env = wall_commands(recipe, args.steps, f"{tmp}/run", cache,
                                                  data_cache)[name]
                        out = common.time_process(argv, env)
                    if round_:
                        results["wall"][recipe][name].append(out["wall_s"])
                        results["wall_lines"][recipe][name] = out["line"]
                    log(f"{recipe} wall round {round_}: {name}: {out['wall_s']:.1f} s")
    finally:
        shutil.rmtree(cache, ignore_errors=True)
        shutil.rmtree(data_cache, ignore_errors=True)


def measure_profile(args, results: dict) -> None:
    results["ops"], results["phases"], results["pieces"] = [], {}, {}
    for recipe in RECIPES:
        log(f"{recipe}: pieces of a step")
        results["pieces"][recipe] = common.run_worker("bench.profile:pieces", dict(recipe=recipe))
        log(f"{recipe}: phases of a whole run (no torch, cold)")
        results["phases"][recipe] = common.run_worker(
            "bench.profile:phases", dict(recipe=recipe, steps=args.steps))
    cache = tempfile.mkdtemp(prefix="jaxdl-bench-cache-")
    try:
        env = {"JAXDL_COMPILATION_CACHE": cache, "JAXDL_BENCH_DATA_CACHE": cache}
        kwargs = dict(recipe="cnn", steps=args.steps, variant=PROPOSED + ",data_cache", execution="scan")
        log("cnn: phases of a whole run, proposed + data cache (first run fills the caches)")
        common.run_worker("bench.profile:phases", kwargs, env=env)
        log("cnn: phases of a whole run, proposed + data cache, warm caches")
        results["phases"]["cnn proposed + data cache, warm"] = common.run_worker(
            "bench.profile:phases", kwargs, env=env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)
    trace = {"XLA_FLAGS": "--xla_cpu_enable_xprof_traceme=true"}
    for execution, variant in (("loop", BEFORE), ("loop", ""), ("scan", ""), ("scan", PROPOSED)):
        log(f"cnn: op profile {execution} [{variant}]")
        results["ops"].append(common.run_worker(
            "bench.profile:op_profile", dict(recipe="cnn", execution=execution, variant=variant),
            env=trace))


def imports(results: dict, repeats: int) -> None:
    """Seconds to import each module in a fresh interpreter (median), torch hidden or not."""
    import subprocess
    cases = {
        "python (no imports)": "pass",
        "jax": "import jax",
        "flax.linen + optax": "import flax.linen, optax",
        "jaxdl.training.loop (no torch)": "import sys; sys.modules['torch'] = None; import jaxdl.training.loop",
        "tensorboardX (no torch)": "import sys; sys.modules['torch'] = None; import tensorboardX",
        "tensorboardX (torch installed: it imports torch)": "import tensorboardX",
        "torch": "import torch",
        "mnist1d.data (matplotlib, scipy)": "import mnist1d.data",
        "jaxdl.data.load('mnist1d') (import + generate)": "from jaxdl import data; data.load('mnist1d')",
    }
    for name, code in cases.items():
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            subprocess.run([common.PYTHON, "-c", code], cwd=common.ROOT, env=common.env_with(),
                           check=True, capture_output=True)
            times.append(time.perf_counter() - t)
        results["imports"][name] = times


def snapshot_jaxdl(raw_dir: str) -> dict:
    """Copy jaxdl/ and put the copy first on every worker's PYTHONPATH, so that the whole
    run measures one version even while others edit the tree; record which version."""
    import hashlib
    import subprocess
    snap = os.path.join(raw_dir, "snapshot")
    shutil.rmtree(snap, ignore_errors=True)
    shutil.copytree(os.path.join(common.ROOT, "jaxdl"), os.path.join(snap, "jaxdl"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    os.environ["PYTHONPATH"] = snap
    digest = hashlib.sha256()
    for folder, _, files in sorted(os.walk(os.path.join(snap, "jaxdl"))):
        for name in sorted(files):
            digest.update(open(os.path.join(folder, name), "rb").read())

    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=common.ROOT, capture_output=True,
                                  text=True, timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "n/a"
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "dirty": git("status", "--porcelain", "--", "jaxdl"),
            "sha256": digest.hexdigest()[:12]}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="timed windows / runs per figure (>= 5 for the record)")
    p.add_argument("--quick", action="store_true", help="smoke run: few steps and repeats, < 3 min")
    p.add_argument("--out", help="markdown to write (default BENCHMARKS.md; quick: runs/bench-quick/BENCHMARKS.md)")
    p.add_argument("--report-only", metavar="RESULTS_JSON", help="re-render a saved results.json")
    p.add_argument("--skip", default="", help="comma list of sections to skip: headline,throughput,wall,profile,imports")
    p.add_argument("--merge", metavar="RESULTS_JSON",
                   help="start from a saved results.json (e.g. with --skip throughput to redo the rest)")
    args = p.parse_args(argv)
    raw_dir = os.path.join(common.ROOT, "runs", "bench-quick" if args.quick else "bench")
    out = args.out or (os.path.join(raw_dir, "BENCHMARKS.md") if args.quick
                       else os.path.join(common.ROOT, "BENCHMARKS.md"))
    if args.report_only:
        results = json.load(open(args.report_only))
        report.write(results, out)
        print(f"wrote {out}")
        return 0
    if args.quick:
        args.repeats, args.wall_repeats, args.rounds = 2, 1, 1
        args.warmup, args.window, args.steps = 100, 200, 600
    else:
        args.wall_repeats = args.rounds = args.repeats
        args.warmup, args.window, args.steps = 200, 1000, 6000
    results = {"machine": common.machine(), "quick": args.quick, "repeats": args.repeats,
               "wall_repeats": args.wall_repeats, "rounds": args.rounds, "warmup": args.warmup, "window": args.window,
               "steps": args.steps, "exact": EXACT, "proposed": PROPOSED, "before": BEFORE,
               "command": "python -m bench" + "".join(f" {a}" for a in (argv or sys.argv[1:])),
               "jaxdl": {}, "headline_jaxdl": {}, "torch": {}, "flax": {}, "env": {}, "wall": {}, "wall_lines": {},
               "pieces": {}, "phases": {}, "ops": [], "imports": {}, "started": time.strftime("%Y-%m-%d %H:%M")}
    if args.merge:
        saved = json.load(open(args.merge))
        for key, value in saved.items():
            if key not in ("command", "started", "machine"):
                results[key] = value
        results["command"] += f"  (sections {args.skip or 'none'} skipped: from {saved['command'].strip()}, started {saved['started']})"
    results["jaxdl_source"] = snapshot_jaxdl(raw_dir)
    skip = set(filter(None, args.skip.split(",")))
    t0 = time.perf_counter()
    os.makedirs(raw_dir, exist_ok=True)
    sections = [("headline", lambda: measure_headline(args, results)),
                ("throughput", lambda: measure_throughput(args, results)),
                ("wall", lambda: measure_wall(args, results)),
                ("profile", lambda: None if args.quick else measure_profile(args, results)),
                ("imports", lambda: None if args.quick else imports(results, args.repeats))]
    for name, section in sections:
        if name in skip:
            continue
        section()
        results["machine"]["load_average_end"] = common.load_average()
        results["elapsed_s"] = time.perf_counter() - t0
        json.dump(results, open(os.path.join(raw_dir, "results.json"), "w"), indent=1)
    report.write(results, out)
    log(f"wrote {out} and {raw_dir}/results.json in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
