"""Benchmarks of jaxdl against what researchers use instead, on this machine; writes BENCHMARKS.md.

    python -m bench                      # everything (~30 min on 2 idle CPU cores) -> BENCHMARKS.md
    python -m bench --only targets       # one section (or a comma list); the others are kept
                                         # from runs/bench/results.json if it has them
    python -m bench --quick              # smoke run (< 5 min): few steps and repeats;
                                         # writes runs/bench-quick/BENCHMARKS.md
    python -m bench --report-only        # re-render BENCHMARKS.md from runs/bench/results.json

Sections (each a function of bench/ run in fresh worker processes; `--only NAME`):

    targets      issue #9's targets: training steps/s of the MNIST-1D CNN and MLP recipes for
                 jaxdl, PyTorch eager (default threads, 1 thread) and a per-step flax loop,
                 and the CNN recipe's whole-process wall time (bench/targets.py)
    strategies   jaxdl's execution strategies (`loop`, `scan`) x chunk sizes, with the
                 compile time of the train chunk (bench/execution.py)
    checkpoint   checkpoint save overhead of the default run (bench/checkpoint_overhead.py)
    sweep        a 16-trial sweep vectorized vs one by one (bench/sweep.py)
    resnet       a CIFAR-shaped ResNet and a 2-D CNN on synthetic 32x32x3 data: images/s and
                 model FLOPs utilization (bench/resnet_mfu.py)
    profile      where the CNN recipe's time goes: the phases of a run (first run and warm)
                 and XLA's op profile of the step (bench/profile.py)

Every figure is a median of >= 5 repeats (--repeats) measured in this one invocation, shown
with its min–max, and every ratio divides two figures of the same section. Raw results go to
runs/bench/results.json after each section, so an interrupted run loses at most one section.
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

SECTIONS = ("targets", "strategies", "checkpoint", "sweep", "resnet", "profile")
FORMAT = 2  # of runs/bench/results.json; sections saved by another format are not merged
CHUNKS = (10, 100, 500)


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')} load {common.load_average()}] {msg}", flush=True)


def measure_targets(args) -> dict:
    from bench import targets
    rates = targets.steps_per_s(args.repeats, log, warmup=args.warmup, window=args.window)
    walls = targets.wall_times(args.repeats, log, steps=args.steps)
    return {"steps_per_s": rates, "wall_s": walls, "steps": args.steps}


def measure_strategies(args) -> dict:
    runs = [dict(execution=e, chunk_size=c) for e in ("loop", "scan") for c in CHUNKS]
    out = {}
    for recipe in ("cnn", "mlp"):
        log(f"strategies: {recipe}, {len(runs)} runs, {args.repeats} interleaved windows each")
        out[recipe] = common.run_worker("bench.execution:measure", dict(
            recipe=recipe, runs=runs, warmup=args.warmup, window=args.window,
            windows=args.repeats))
        out[recipe + "/auto"] = common.run_worker("bench.execution:resolved_execution",
                                                  dict(recipe=recipe))
    return out


def measure_checkpoint(args) -> dict:
    # ~3% run-to-run noise on 2 cores: more repeats than elsewhere for a 2% target
    repeats = args.repeats if args.quick else max(args.repeats, 9)
    log(f"checkpoint overhead: {2 * repeats + 1} default runs")
    cache = tempfile.mkdtemp(prefix="jaxdl-bench-ckpt-")
    try:  # a persistent compilation cache, warmed by the first run: the runs compile nothing
        return common.run_worker("bench.checkpoint_overhead:measure", dict(repeats=repeats),
                                 env={"JAXDL_COMPILATION_CACHE": cache})
    finally:
        shutil.rmtree(cache, ignore_errors=True)


def measure_sweep(args) -> dict:
    log(f"sweep: 16 trials x {args.sweep_steps} steps, vectorized and one by one, "
        f"{args.repeats} rounds")
    return common.run_worker("bench.sweep:measure_rounds",
                             dict(steps=args.sweep_steps, repeats=args.repeats))


def measure_resnet(args) -> dict:
    from bench import resnet_mfu
    rows = resnet_mfu.QUICK_ROWS if args.quick else resnet_mfu.BENCH_ROWS
    return resnet_mfu.measure(quick=args.quick, repeats=args.repeats, rows=rows, log=log)


def measure_profile(args) -> dict:
    out = {}
    caches = tempfile.mkdtemp(prefix="jaxdl-bench-profile-")
    try:
        warm = {"JAXDL_COMPILATION_CACHE": os.path.join(caches, "xla"),
                "JAXDL_DATA_CACHE": os.path.join(caches, "data")}
        cold = {"JAXDL_COMPILATION_CACHE": "", "JAXDL_DATA_CACHE": ""}
        kwargs = dict(recipe="cnn", steps=args.steps)
        log("profile: phases of a first run (caches off)")
        out["phases_cold"] = common.run_worker("bench.profile:phases", kwargs, env=cold)
        common.run_worker("bench.profile:phases", kwargs, env=warm)  # fills the caches
        log("profile: phases of a run with warm caches")
        out["phases_warm"] = common.run_worker("bench.profile:phases", kwargs, env=warm)
    finally:
        shutil.rmtree(caches, ignore_errors=True)
    log("profile: XLA op profile of the CNN step")
    out["ops"] = common.run_worker(
        "bench.profile:op_profile", dict(recipe="cnn", execution="auto", top=15),
        env={"XLA_FLAGS": "--xla_cpu_enable_xprof_traceme=true"})
    return out


MEASURE = {"targets": measure_targets, "strategies": measure_strategies,
           "checkpoint": measure_checkpoint, "sweep": measure_sweep,
           "resnet": measure_resnet, "profile": measure_profile}


def snapshot_jaxdl(raw_dir: str) -> str:
    """Copy jaxdl/ for every worker to import instead of the tree's (bench/__init__.py), so
    that the whole run measures one version even while the tree is edited; its sha256."""
    import hashlib
    snap = os.path.join(raw_dir, "snapshot")
    shutil.rmtree(snap, ignore_errors=True)
    shutil.copytree(os.path.join(common.ROOT, "jaxdl"), os.path.join(snap, "jaxdl"),
                    ignore=shutil.ignore_patterns("__pycache__"))
    os.environ["JAXDL_BENCH_SNAPSHOT"] = snap  # read by bench/__init__.py in every worker
    digest = hashlib.sha256()
    for folder, _, files in sorted(os.walk(os.path.join(snap, "jaxdl"))):
        for name in sorted(files):
            digest.update(open(os.path.join(folder, name), "rb").read())
    return digest.hexdigest()[:12]


def parse_sections(p: argparse.ArgumentParser, value: str) -> list[str]:
    names = [s for s in value.split(",") if s]
    unknown = sorted(set(names) - set(SECTIONS))
    if unknown:
        p.error(f"--only: unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    return names


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__.splitlines()[0],
                                epilog=__doc__.split("\n\n", 1)[1],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--repeats", type=int, default=5, help="repeats per figure (>= 5 for the record)")
    p.add_argument("--only", default=",".join(SECTIONS), metavar="SECTIONS",
                   help="comma list of sections to measure (default: all): " + ", ".join(SECTIONS))
    p.add_argument("--quick", action="store_true", help="smoke run: few steps and repeats")
    p.add_argument("--out", help="markdown to write (default BENCHMARKS.md; quick: runs/bench-quick/BENCHMARKS.md)")
    p.add_argument("--report-only", action="store_true",
                   help="only re-render the markdown from the saved raw results")
    args = p.parse_args(argv)
    sections = parse_sections(p, args.only)
    if args.repeats < 1:
        p.error(f"--repeats: must be >= 1, got {args.repeats}")
    raw_dir = os.path.join(common.ROOT, "runs", "bench-quick" if args.quick else "bench")
    raw_path = os.path.join(raw_dir, "results.json")
    out = args.out or (os.path.join(raw_dir, "BENCHMARKS.md") if args.quick
                       else os.path.join(common.ROOT, "BENCHMARKS.md"))
    if args.report_only:
        if not os.path.exists(raw_path):
            p.error(f"--report-only: no saved results at {os.path.relpath(raw_path, common.ROOT)}")
        report.write(json.load(open(raw_path)), out)
        print(f"wrote {out}")
        return 0
    if args.quick:
        args.repeats, args.warmup, args.window, args.steps, args.sweep_steps = 1, 100, 200, 600, 50
    else:
        args.warmup, args.window, args.steps, args.sweep_steps = 200, 1000, 6000, 300
    results = json.load(open(raw_path)) if os.path.exists(raw_path) else {}
    if results and results.get("format") != FORMAT:  # raw results of an older harness
        print(f"bench: {os.path.relpath(raw_path, common.ROOT)} is from an older harness; its "
              f"sections are dropped (re-measure them)", file=sys.stderr)
        results = {}
    results.setdefault("sections", {})
    results["format"] = FORMAT
    os.makedirs(raw_dir, exist_ok=True)
    source = {**common.source_version(), "sha256": snapshot_jaxdl(raw_dir)}
    command = "python -m bench" + "".join(f" {a}" for a in (argv if argv is not None else sys.argv[1:]))
    for name in sections:
        t0, start_load = time.perf_counter(), common.load_average()
        log(f"section {name}")
        data = MEASURE[name](args)
        repeats = data.get("repeats", args.repeats) if isinstance(data, dict) else args.repeats
        results["sections"][name] = {
            "data": data, "command": command, "repeats": repeats, "quick": args.quick,
            "started": time.strftime("%Y-%m-%d %H:%M", time.localtime(time.time() - (time.perf_counter() - t0))),
            "minutes": (time.perf_counter() - t0) / 60, "load_start": start_load,
            "load_end": common.load_average(), "source": source}
        results["machine"] = common.machine()
        with open(raw_path + ".tmp", "w") as f:  # never a half-written results file
            json.dump(results, f, indent=1)
        os.replace(raw_path + ".tmp", raw_path)
        report.write(results, out)
        log(f"section {name} done in {results['sections'][name]['minutes']:.1f} min; wrote {out}")
    print(f"wrote {out} (raw: {os.path.relpath(raw_path, common.ROOT)})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
