"""Issue #9's three CPU targets, measured side by side in one short run (~10 min on 2 cores).

    python -m bench.targets                  # markdown table on stdout, raw numbers in runs/bench/targets.json
    python -m bench.targets --repeats 7      # more rounds (default 5)

1. Training steps/s of the MNIST-1D CNN and MLP recipes: jaxdl as it is (`execution=auto`,
   chunk 100, the driver's per-chunk work: `bench.execution`) vs idiomatic PyTorch eager with
   its default threads and with 1 thread (`bench.torch_mnist1d`) and a plain per-step flax
   loop (`bench.flax_loop`: jit(train_step) fed numpy batches from the host). Each round runs one fresh
   process per implementation that times one 1000-step window after 200 warm-up steps; rounds
   alternate the implementations, so a load spike from another process hits them alike.
   Target: jaxdl ≥ 3× the faster PyTorch setting.
2. Whole-process wall time of the 6000-step CNN and MLP recipes, process start to the printed test
   accuracy (imports, data, compilation, training, evaluation every 1000 steps, jaxdl's
   checkpoints): `jaxdl train --no-progress` as a user's second run (compilation and MNIST-1D
   disk caches warm, filled by an untimed first run) and as a first run (both caches off), in
   the environment of requirements.lock (`--hide-torch`: what a torch-free venv gives; the
   jaxdl of older commits imported torch through tensorboardX), vs the PyTorch script (1 thread and default threads) reading MNIST-1D from the
   same warm disk cache, and the flax loop likewise. Runs alternate round-robin. Target (CNN):
   jaxdl ≤ 0.5× the faster PyTorch.

Every figure is a median over the rounds, shown with its min–max; every ratio divides two
medians of this one run. The machine's load average is printed at start and end.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import tempfile
import time

from bench import common

RECIPES = ("cnn", "mlp")
TORCH_THREADS = {"PyTorch eager (default threads)": 0, "PyTorch eager (1 thread)": 1}


def steps_per_s(repeats: int, log, warmup: int = 200, window: int = 1000) -> dict[str, dict[str, list[float]]]:
    """recipe -> implementation -> one steps/s figure per round."""
    window = dict(warmup=warmup, window=window, windows=1)
    rates: dict[str, dict[str, list[float]]] = {r: {} for r in RECIPES}
    for round_ in range(repeats):
        for recipe in RECIPES:
            jaxdl = common.run_worker("bench.execution:measure", dict(
                recipe=recipe, runs=[dict(execution="auto", chunk_size=100)], **window))
            rates[recipe].setdefault("jaxdl", []).append(jaxdl[0]["steps_per_s"])
            for name, threads in TORCH_THREADS.items():
                out = common.run_worker("bench.torch_mnist1d:window_steps_per_s",
                                        dict(model_name=recipe, threads=threads, **window))
                rates[recipe].setdefault(name, []).append(out["steps_per_s"])
            out = common.run_worker("bench.flax_loop:window_steps_per_s",
                                    dict(model_name=recipe, **window))
            rates[recipe].setdefault("flax per-step loop", []).append(out["steps_per_s"])
            log(f"steps/s round {round_ + 1}/{repeats} {recipe}: "
                + ", ".join(f"{k} {v[-1]:.0f}" for k, v in rates[recipe].items()))
    return rates


def wall_commands(recipe: str, workdir: str, compile_cache: str, data_cache: str,
                  steps: int = 6000) -> dict[str, tuple]:
    """name -> (argv, env) of the whole-process runs of `recipe`."""
    from bench import execution
    py = common.PYTHON
    train = ([py, "-m", "bench.jaxdl_cli", "--hide-torch", "--", "train", "--no-progress",
              "--workdir", workdir] + execution.recipe_cli_args(recipe)
             + ([f"--config.steps={steps}"] if steps != 6000 else []))
    peer = ["--model", recipe, "--steps", str(steps)]
    warm = {"JAXDL_COMPILATION_CACHE": compile_cache, "JAXDL_DATA_CACHE": data_cache}
    return {
        "jaxdl train (warm caches)": (train, warm),
        "jaxdl train (first run: caches off)": (train, {"JAXDL_COMPILATION_CACHE": "",
                                                        "JAXDL_DATA_CACHE": ""}),
        **{name: ([py, "-m", "bench.torch_mnist1d", *peer, "--threads", str(t)],
                  {"JAXDL_DATA_CACHE": data_cache}) for name, t in TORCH_THREADS.items()},
        "flax per-step loop": ([py, "-m", "bench.flax_loop", *peer], {"JAXDL_DATA_CACHE": data_cache}),
    }


def wall_times(repeats: int, log, steps: int = 6000) -> dict[str, dict[str, list[float]]]:
    """recipe -> name -> one wall time per round (round 0, untimed, fills the warm caches)."""
    caches = [tempfile.mkdtemp(prefix="jaxdl-targets-") for _ in range(2)]
    times: dict[str, dict[str, list[float]]] = {r: {} for r in RECIPES}
    try:
        for round_ in range(repeats + 1):
            for recipe in RECIPES:
                names = list(wall_commands(recipe, "x", *caches))
                for name in names if round_ else names[:1]:
                    with tempfile.TemporaryDirectory() as tmp:
                        argv, env = wall_commands(recipe, f"{tmp}/run", *caches, steps=steps)[name]
                        wall = common.time_process(argv, env)["wall_s"]
                    if round_:
                        times[recipe].setdefault(name, []).append(wall)
                    log(f"wall round {round_}/{repeats} {recipe}: {name}: {wall:.1f} s")
    finally:
        for cache in caches:
            shutil.rmtree(cache, ignore_errors=True)
    return times


def steps_table(rates: dict[str, dict[str, list[float]]]) -> str:
    med, spread = common.median, common.spread
    rows = []
    for recipe in RECIPES:
        figures = rates[recipe]
        best_torch = max(med(figures[name]) for name in TORCH_THREADS)
        for name, values in figures.items():
            rows.append((recipe.upper(), name, f"{med(values):,.0f}", spread(values),
                         f"{med(values) / best_torch:.2f}×"))
    return common.table(("recipe", "implementation", "steps/s", "min–max", "÷ faster PyTorch"), rows)


def wall_table(walls: dict[str, dict[str, list[float]]], steps: int = 6000) -> str:
    med, spread = common.median, common.spread
    rows = []
    for recipe in RECIPES:
        best_torch = min(med(walls[recipe][name]) for name in TORCH_THREADS)
        rows += [(recipe.upper(), name, f"{med(v):.1f}", spread(v), f"{med(v) / best_torch:.2f}×")
                 for name, v in walls[recipe].items()]
    return common.table(("recipe", f"{steps} steps, process start to printed accuracy",
                         "wall s", "min–max", "÷ faster PyTorch"), rows)


def verdicts(rates: dict, walls: dict) -> list[str]:
    """One line per target of issue #9: met or missed, with the ratio."""
    med = common.median
    lines = []
    for recipe in RECIPES:
        best = max(med(rates[recipe][name]) for name in TORCH_THREADS)
        ratio = med(rates[recipe]["jaxdl"]) / best
        lines.append(f"{recipe.upper()} training steps/s ≥ 3× the faster PyTorch: "
                     f"**{'met' if ratio >= 3 else 'missed'}** ({ratio:.2f}×).")
    cnn = walls["cnn"]
    best = min(med(cnn[name]) for name in TORCH_THREADS)
    warm = med(cnn["jaxdl train (warm caches)"]) / best
    cold = med(cnn["jaxdl train (first run: caches off)"]) / best
    lines.append(f"CNN whole-process wall time ≤ 0.5× the faster PyTorch's: "
                 f"**{'met' if warm <= 0.5 else 'missed'}** for a run with warm caches ({warm:.2f}×); "
                 f"a machine's first run (compilation and data caches empty) is {cold:.2f}×.")
    return lines


def markdown(results: dict) -> str:
    m = results["machine"]
    return (f"`{results['command']}` — started {results['started']}, {results['elapsed_s'] / 60:.0f} min; "
            f"{m['cpu']}, {m['cores']} cores; load average {m['load_average_start']} at start, "
            f"{results['load_average_end']} at end; medians of {results['repeats']} rounds.\n\n"
            f"{steps_table(results['steps_per_s'])}\n\n{wall_table(results['wall_s'])}\n\n"
            + "\n".join(f"- {line}" for line in verdicts(results["steps_per_s"], results["wall_s"]))
            + "\n")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.targets", description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5, help="rounds per figure (>= 5 for the record)")
    p.add_argument("--json", default=os.path.join(common.ROOT, "runs", "bench", "targets.json"),
                   help="where the raw numbers go")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    log = lambda msg: print(f"[targets {time.strftime('%H:%M:%S')} load {common.load_average()}] {msg}",
                            flush=True)
    results = {"command": "python -m bench.targets" + "".join(f" {a}" for a in (argv or [])),
               "started": time.strftime("%Y-%m-%d %H:%M"), "machine": common.machine(),
               "repeats": args.repeats}
    results["steps_per_s"] = steps_per_s(args.repeats, log)
    results["wall_s"] = wall_times(args.repeats, log)
    results["load_average_end"] = common.load_average()
    results["elapsed_s"] = time.perf_counter() - t0
    os.makedirs(os.path.dirname(args.json), exist_ok=True)
    with open(args.json, "w") as f:
        json.dump(results, f, indent=1)
    print(markdown(results))
    return 0


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv[1:]))
