"""Render the raw results of `python -m bench` as BENCHMARKS.md."""
from __future__ import annotations

import json
import statistics
from typing import Any

from bench import common

WORKER = "python -m bench.worker"
RECIPE_NAMES = {"cnn": "CNN (jaxdl.config.default())", "mlp": "MLP (experiments/mnist1d_baselines.py:mlp)"}


def _med(values) -> float:
    return statistics.median(values) if values else float("nan")


def _f(x: float, digits: int = 0) -> str:
    if x is None or x != x:
        return "n/a"
    return f"{x:,.{digits}f}"


def _ratio(a: float, b: float) -> str:
    if not a or not b or a != a or b != b:
        return "n/a"
    return f"{a / b:.2f}×"


def find(results: dict, recipe: str, execution: str, chunk: int, variant: str = "") -> dict | None:
    """A jaxdl throughput result; execution is the resolved one ('auto' is 'loop' on CPU)."""
    for run in results["jaxdl"].get(recipe, []):
        if run["execution"] == execution and run["chunk_size"] == chunk and run["variant"] == variant:
            return run
    return None


def steps(run: dict | None) -> float:
    return run["steps_per_s"] if run else float("nan")


def torch_best(results: dict, recipe: str) -> tuple[float, str]:
    options = {("default threads" if key.endswith("/0") else "1 thread"): value["steps_per_s"]
               for key, value in results["torch"].items() if key.startswith(recipe + "/")}
    if not options:
        return float("nan"), "n/a"
    name = max(options, key=options.get)
    return options[name], name


def best_torch_wall(walls: dict, data_cache: bool) -> tuple[str, float]:
    """The faster PyTorch wall command (with or without the data cache) and its median."""
    options = {k: _med(v) for k, v in walls.items()
               if k.startswith("PyTorch") and v and ("data cache" in k) == data_cache}
    if not options:
        return "n/a", float("nan")
    name = min(options, key=options.get)
    return name, options[name]


def verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("**met**" if ok else "**missed**")


def write(results: dict, path: str) -> None:
    text = render(results)
    with open(path, "w") as f:
        f.write(text)


def render(r: dict) -> str:
    m = r["machine"]
    v = m["versions"]
    out: list[str] = []
    add = out.append
    exact, proposed = r["exact"], r["proposed"]
    win = f"{r['window']} steps after {r['warmup']} warm-up steps"
    add("# Benchmarks\n")
    add(f"Written by `{r['command'].strip()}` ({'QUICK smoke run: few steps and repeats, not a record' if r['quick'] else 'full run'}), "
        f"started {r['started']}, {r.get('elapsed_s', 0) / 60:.0f} min. Re-run with `make bench` "
        "(installs `.[bench]`, then `python -m bench`). Raw numbers: `runs/bench/results.json`; "
        "re-render with `python -m bench --report-only runs/bench/results.json`.\n")
    add(common.table(["machine", ""], [
        ["CPU", f"{m['cpu']}, {m['cores']} cores (`os.cpu_count()`), no GPU"],
        ["OS", m["os"]],
        ["versions", ", ".join(f"{k} {val}" for k, val in v.items())],
        ["load average (1/5/15 min) at start / end", f"{m['load_average_start']} / {m.get('load_average_end', 'n/a')}"],
    ]))
    add("")
    add("**Method.** Every figure is the median of the repeats of this one run, next to their "
        "min–max; every ratio divides two figures of this same run. *Steps/s* is training "
        f"throughput in a steady state: the median of {r['repeats']} timed windows of {win} "
        "(so compilation is excluded), one fresh process per implementation and recipe. For jaxdl "
        "the window drives `run.train_chunk` from `loop.build(config)` with the driver's own per-chunk "
        "work (`int(state.step)`, `device_get` of the metrics, the NaN check of metrics and params) "
        "and without evaluation or checkpoints (`bench/execution.py`). *Wall time* is a whole "
        "process, from its start to the line with the test accuracy, including imports, MNIST-1D "
        f"generation, compilation, {r['steps']} training steps, evaluation every 1000 steps and (jaxdl) "
        f"checkpoints; median of {r['wall_repeats']} runs interleaved round-robin across the commands. "
        "Another process may share the 2 cores (the load average above says how much): that is why "
        "min–max is shown; a ratio is only as good as the spread of its two figures.\n")
    add("The peers: `bench/torch_mnist1d.py` (idiomatic PyTorch eager: `nn.Module`, `torch.optim.Adam`, "
        "`zero_grad/backward/step`, a `randperm` per epoch) and `bench/flax_loop.py` "
        "(`jax.jit(train_step)` fed numpy batches from the host, the way most JAX research scripts "
        "do it): same MNIST-1D arrays (`jaxdl.data.load('mnist1d')`), same models, LeCun-normal "
        "init, Adam 1e-2, batch 100, 6000 steps, evaluation on train and test every 1000 steps. "
        "PyTorch is run with its default threads (2 here) and with `torch.set_num_threads(1)`; "
        "**the targets compare against whichever PyTorch setting is faster in this run.**\n")
    add(f"Names used below: **as-is** = jaxdl unchanged (`execution=auto` = `loop` on CPU, chunk 100); "
        f"**exact** = as-is + `{exact}` (bench/variants.py; bitwise-identical training); "
        f"**proposed** = `execution=scan` + `{proposed}` (same math, float-rounding differences "
        "only). Section 5 defines each variant.\n")

    add(summary(r))

    # ------------------------------------------------------------ 1. headline
    add("## 1. Headline: the MNIST-1D recipes\n")
    add("### Training steps/s (steady state, compilation excluded)\n")
    rows = []
    best = {rec: torch_best(r, rec) for rec in ("cnn", "mlp")}
    jaxdl_rows = [("jaxdl as-is (`auto`=loop, chunk 100)", "loop", ""),
                  ("jaxdl + exact (loop, chunk 100)", "loop", exact),
                  ("jaxdl + proposed (scan, chunk 100)", "scan", proposed)]
    for name, execution, variant in jaxdl_rows:
        row = [name]
        for rec in ("cnn", "mlp"):
            run = find(r, rec, execution, 100, variant)
            row += [_f(steps(run)), common.spread(run["rates"]) if run else "n/a",
                    _ratio(steps(run), best[rec][0])]
        rows.append(row)
    for key, name in (("0", "PyTorch eager, default threads"), ("1", "PyTorch eager, 1 thread")):
        if not any(f"{rec}/{key}" in r["torch"] for rec in ("cnn", "mlp")):
            continue
        row = [name]
        for rec in ("cnn", "mlp"):
            t = r["torch"].get(f"{rec}/{key}")
            row += [_f(t["steps_per_s"]) if t else "n/a", common.spread(t["rates"]) if t else "n/a",
                    _ratio(t["steps_per_s"], best[rec][0]) if t else "n/a"]
        rows.append(row)
    row = ["flax per-step loop (jit step, host numpy batches)"]
    for rec in ("cnn", "mlp"):
        fl = r["flax"].get(rec)
        row += [_f(fl["steps_per_s"]) if fl else "n/a", common.spread(fl["rates"]) if fl else "n/a",
                _ratio(fl["steps_per_s"], best[rec][0]) if fl else "n/a"]
    rows.append(row)
    add(common.table(["implementation", "CNN steps/s", "CNN min–max", "CNN ÷ best PyTorch",
                      "MLP steps/s", "MLP min–max", "MLP ÷ best PyTorch"], rows))
    add("")
    add(f"Commands (each in a fresh process): jaxdl `{WORKER} "
        "'{\"fn\": \"bench.execution:measure\", \"kwargs\": {\"recipe\": \"cnn\", \"runs\": "
        "[{\"execution\": \"auto\", \"chunk_size\": 100, \"variant\": \"\"}]}}'`; PyTorch "
        f"`{WORKER} '{{\"fn\": \"bench.torch_mnist1d:window_steps_per_s\", \"kwargs\": "
        f"{{\"model_name\": \"cnn\", \"warmup\": {r['warmup']}, \"window\": {r['window']}, \"windows\": {r['repeats']}, \"threads\": 0}}}}'` "
        "(`threads: 1` for one thread); flax `bench.flax_loop:window_steps_per_s` likewise; "
        "`\"mlp\"` for the MLP. `python -m bench` runs them all.\n")

    add(f"### Whole-process wall time ({r['steps']} steps, process start to printed accuracy)\n")
    for rec, walls in r["wall"].items():
        lines = r["wall_lines"].get(rec, {})
        rows = []
        for name, values in walls.items():
            if not values:
                continue
            ref_name, ref = best_torch_wall(walls, "data cache" in name)
            rows.append([name, _f(_med(values), 1), common.spread(values), _ratio(_med(values), ref),
                         f"`{lines.get(name, '')}`"])
        add(f"**{RECIPE_NAMES[rec]}** — ratio column: ÷ the faster PyTorch run "
            f"({best_torch_wall(walls, False)[0]}; rows with the data cache ÷ PyTorch with it)\n")
        add(common.table(["command", "wall s (median)", "min–max", "÷ best PyTorch", "printed"], rows))
        add("")
        if r.get("wall_skipped", {}).get(rec):
            add(f"Not run: {r['wall_skipped'][rec]}.\n")
    add("The commands: `jaxdl train --no-progress --workdir TMP [--config experiments/mnist1d_baselines.py:mlp]` "
        "(literally, in the bench venv); `python -m bench.jaxdl_cli --hide-torch -- train ...` (the same CLI with "
        "`import torch` made to fail, as in a venv from requirements.lock: with torch installed, tensorboardX, "
        "which jaxdl's metrics log imports, imports torch too); `... --variant "
        f"{proposed} -- train ... --config.execution=scan` (the proposal); "
        "`python -m bench.torch_mnist1d --model cnn [--threads 1]`; `python -m bench.flax_loop --model cnn`. "
        "*Warm cache*: jaxdl's persistent compilation cache (`JAXDL_COMPILATION_CACHE`, a fresh "
        "directory filled by one untimed run first): every run after the first on a machine. "
        "*Cold*: `JAXDL_COMPILATION_CACHE=` (off): a first run.\n")

    add("### Targets (issue: 2 CPU cores)\n")
    rows = []
    for rec in ("cnn", "mlp"):
        ref, ref_name = best[rec]
        for name, execution, variant in jaxdl_rows:
            s = steps(find(r, rec, execution, 100, variant))
            ok = None if s != s or ref != ref else s >= 3 * ref
            rows.append([f"{rec.upper()} steps/s ≥ 3× PyTorch eager", name,
                         f"{_f(s)} vs 3 × {_f(ref)} ({ref_name}) = {_f(3 * ref)}",
                         _ratio(s, ref), verdict(ok)])
    walls = r["wall"].get("cnn", {})
    for name, values in walls.items():
        if name.startswith("jaxdl") and values:
            ref_name, ref_wall = best_torch_wall(walls, "data cache" in name)
            w = _med(values)
            rows.append([f"CNN {r['steps']}-step wall ≤ 0.5× PyTorch", name,
                         f"{_f(w, 1)} s vs 0.5 × {_f(ref_wall, 1)} s ({ref_name}) = {_f(ref_wall / 2, 1)} s",
                         _ratio(w, ref_wall), verdict(w <= 0.5 * ref_wall)])
    add(common.table(["target", "jaxdl", "measured", "ratio", "verdict"], rows))
    add("")

    # ------------------------------------------------------------ 2. strategies
    add("## 2. jaxdl's execution strategies on CPU (`config.execution` × `config.chunk_size`)\n")
    add(f"Steps/s, steady state ({win}, median of {r['repeats']} windows). `loop` = one jitted step "
        "called K times per chunk; `scan` = one `lax.scan` of K steps per chunk. The last two columns "
        "are the same strategies with the candidate changes of section 5.\n")
    chunks = sorted({run["chunk_size"] for runs in r["jaxdl"].values() for run in runs})
    for rec in ("cnn", "mlp"):
        rows = []
        for chunk in chunks:
            lo, sc = find(r, rec, "loop", chunk), find(r, rec, "scan", chunk)
            le, sp = find(r, rec, "loop", chunk, exact), find(r, rec, "scan", chunk, proposed)
            if not any((lo, sc, le, sp)):
                continue
            rows.append([chunk, _f(steps(lo)), _f(steps(sc)), _ratio(steps(lo), steps(sc)),
                         _f(steps(le)), _f(steps(sp)), _ratio(steps(le), steps(sp))])
        add(f"**{RECIPE_NAMES[rec]}**\n")
        add(common.table(["chunk_size", "loop (as-is)", "scan (as-is)", "loop ÷ scan",
                          "loop + exact", "scan + proposed", "loop+exact ÷ scan+proposed"], rows))
        add("")
    add(strategy_verdict(r))
    add("Command: `python -m bench` (section 2), or one cell: "
        f"`{WORKER} '{{\"fn\": \"bench.execution:measure\", \"kwargs\": {{\"recipe\": \"cnn\", "
        "\"runs\": [{\"execution\": \"scan\", \"chunk_size\": 10, \"variant\": \"\"}]}}'`.\n")

    # ------------------------------------------------------------ 3. compile
    add("## 3. Compile time of the train chunk\n")
    add("First call of a chunk minus a steady call of the same length (tracing + lowering + XLA "
        "compilation; persistent cache off), from the runs of section 2. `scan` compiles once per "
        "distinct chunk length (the last chunk before an eval point may be shorter: one more "
        "compile); `loop` compiles one step whatever the length.\n")
    rows = []
    for rec in ("cnn", "mlp"):
        for chunk in (100, 500):
            cells = []
            for execution, variant in (("loop", ""), ("scan", ""), ("loop", exact), ("scan", proposed)):
                run = find(r, rec, execution, chunk, variant)
                cells.append(_f(run["compile_s"], 2) if run else "n/a")
            rows.append([rec.upper(), chunk] + cells)
    add(common.table(["recipe", "chunk", "loop (as-is) s", "scan (as-is) s", "loop + exact s",
                      "scan + proposed s"], rows))
    add("")

    # ------------------------------------------------------------ 4. profile
    add("## 4. Profile: where the time goes\n")
    add(profile_section(r))

    # ------------------------------------------------------------ 5. candidates
    add("## 5. Candidate speed-ups, measured (chunk 100)\n")
    add(VARIANTS_TEXT)
    rows = []
    seen = set()
    for rec in ("cnn",):
        for run in r["jaxdl"].get(rec, []):
            key = (run["execution"], run["variant"])
            if run["chunk_size"] != 100 or key in seen:
                continue
            seen.add(key)
            cells = [f"`{run['execution']}`", f"`{run['variant'] or 'as-is'}`"]
            for rec2 in ("cnn", "mlp"):
                other = find(r, rec2, run["execution"], 100, run["variant"])
                base = find(r, rec2, "loop", 100, "")
                cells += [_f(steps(other)), _ratio(steps(other), steps(base)),
                          _f(other["compile_s"], 1) if other else "n/a"]
            rows.append(cells)
    add(common.table(["execution", "variant", "CNN steps/s", "CNN × as-is", "CNN compile s",
                      "MLP steps/s", "MLP × as-is", "MLP compile s"], rows))
    add("")
    if r["env"]:
        add("Environment-level candidates (each in its own process, at another time than the "
            "baseline column, which is the same config without the setting, from the table "
            "above). `jax_default_matmul_precision=bfloat16` maps to the DEFAULT precision that "
            "f32 matmuls already have, so on CPU it compiles the same program: **its rows measure "
            "the noise between two processes run minutes apart on this shared machine**, and any "
            "other row within that band is no evidence of a gain.\n")
        rows = []
        for key, runs in r["env"].items():
            rec, name = key.split("/", 1)
            for run in runs:
                base = find(r, rec, run["execution"], 100, run["variant"])
                rows.append([f"`{name}`", rec.upper(), f"{run['execution']} `{run['variant'] or 'as-is'}`",
                             _f(steps(run)), _f(steps(base)), _ratio(steps(run), steps(base))])
        add(common.table(["setting", "recipe", "config", "steps/s", "without", "ratio"], rows))
        add("")
    add(PROPOSALS_TEXT.format(**proposal_numbers(r)))
    return "\n".join(out) + "\n"


def summary(r: dict) -> str:
    """The verdicts in a few lines, from the numbers of this run."""
    lines = ["## Summary\n"]
    for rec in ("cnn", "mlp"):
        ref, ref_name = torch_best(r, rec)
        base = steps(find(r, rec, "loop", 100))
        prop = steps(find(r, rec, "scan", 100, r["proposed"]))
        fl = r["flax"].get(rec, {}).get("steps_per_s", float("nan"))
        lines.append(f"- **{rec.upper()} steps/s** (target ≥ 3× PyTorch eager = {_f(3 * ref)}; "
                     f"PyTorch's best here: {_f(ref)}, {ref_name}): jaxdl as-is {_f(base)} "
                     f"({_ratio(base, ref)}) — {verdict(base >= 3 * ref) if ref == ref else 'n/a'}; "
                     f"with the proposed changes {_f(prop)} ({_ratio(prop, ref)}) — "
                     f"{verdict(prop >= 3 * ref) if ref == ref and prop == prop else 'n/a'}. "
                     f"A plain flax loop: {_f(fl)}.")
    walls = r["wall"].get("cnn", {})
    for name in ("jaxdl train (no torch, warm cache)", "jaxdl train (no torch, cold: no cache)",
                 "jaxdl + proposed (no torch, warm cache)",
                 "jaxdl + proposed + data cache (no torch, warm cache)"):
        if walls.get(name):
            ref_name, ref = best_torch_wall(walls, "data cache" in name)
            w = _med(walls[name])
            lines.append(f"- **CNN {r['steps']}-step wall** (target ≤ 0.5× {ref_name} = {_f(ref / 2, 1)} s): "
                         f"{name}: {_f(w, 1)} s ({_ratio(w, ref)}) — {verdict(w <= ref / 2)}.")
    lines.append("")
    return "\n".join(lines)


def strategy_verdict(r: dict) -> str:
    chunks = sorted({run["chunk_size"] for runs in r["jaxdl"].values() for run in runs})

    def wins(rec, a, b):  # chunk sizes where config a beats config b, of those measured
        out = []
        for chunk in chunks:
            x, y = steps(find(r, rec, a[0], chunk, a[1])), steps(find(r, rec, b[0], chunk, b[1]))
            if x == x and y == y:
                out.append((chunk, x, y, x >= y))
        return out

    text = ["**Does this support `auto` = `loop` on CPU?** For jaxdl as it is: "]
    for rec in ("cnn", "mlp"):
        res = wins(rec, ("loop", ""), ("scan", ""))
        won = [c for c, _, _, ok in res if ok]
        lost = [f"{c} ({_f(x)} vs {_f(y)})" for c, x, y, ok in res if not ok]
        text.append(f"{rec.upper()}: `loop` ≥ `scan` at chunk sizes {', '.join(map(str, won)) or 'none'}"
                    + (f"; `scan` ahead at {', '.join(lost)}" if lost else "") + ". ")
    at100 = {rec: dict((c, ok) for c, _, _, ok in wins(rec, ("loop", ""), ("scan", ""))).get(100)
             for rec in ("cnn", "mlp")}
    if at100["cnn"] and at100["mlp"]:
        text.append("So **yes**, at the default chunk 100: decisively for the CNN (XLA:CPU runs the "
                    "backward convolutions inside a `while` body on a slow path: section 4), narrowly "
                    "for the MLP, where both strategies are held down by the per-step permutation "
                    "and `scan` is ahead at small chunks. ")
    else:
        text.append(f"So **not as a rule**: at the default chunk 100 `loop` wins for "
                    f"{', '.join(k.upper() for k, v in at100.items() if v) or 'neither recipe'}. ")
    after = [(rec, steps(find(r, rec, "loop", 100, r["exact"])),
              steps(find(r, rec, "scan", 100, r["proposed"]))) for rec in ("cnn", "mlp")]
    if all(sp > le for _, le, sp in after if le == le and sp == sp):
        text.append("**With the candidate changes the ranking flips**: at chunk 100 `scan` + "
                    "proposed beats `loop` + exact (" + "; ".join(
                        f"{rec.upper()} {_f(sp)} vs {_f(le)} steps/s" for rec, le, sp in after)
                    + "). Once the im2col 1-D convolution and the per-epoch order land, `auto` "
                    "should be `scan` on CPU as well — for the models measured here; models with "
                    "native 2-D convolutions (cnn2d, resnet) keep the slow backward-convolution "
                    "path inside `scan` and need measuring before the switch. Small chunks "
                    "(1, 10) are slow under every strategy: a host sync and NaN check per chunk, "
                    "and with `epoch_order` one permutation per chunk start.")
    else:
        text.append("With the candidate changes: " + "; ".join(
            f"{rec.upper()} scan+proposed {_f(sp)} vs loop+exact {_f(le)}" for rec, le, sp in after) + ".")
    return "".join(text) + "\n"


def profile_section(r: dict) -> str:
    out = []
    if r["pieces"]:
        out.append("### 4a. The pieces of one step (µs per call, after compilation)\n")
        out.append("`python -m bench.worker '{\"fn\": \"bench.profile:pieces\", \"kwargs\": {\"recipe\": \"cnn\"}}'`\n")
        names = list(next(iter(r["pieces"].values())).keys())
        rows = [[name] + [_f(r["pieces"].get(rec, {}).get(name, float("nan")), 1) for rec in ("cnn", "mlp")]
                for name in names]
        out.append(common.table(["piece", "CNN µs", "MLP µs"], rows))
        out.append("")
    if r["phases"]:
        out.append("### 4b. The phases of one whole `loop.train` (no torch, persistent cache off)\n")
        out.append("`python -m bench.worker '{\"fn\": \"bench.profile:phases\", \"kwargs\": {\"recipe\": \"cnn\"}}'` "
                   "(timers wrapped around jaxdl's own functions; the process start and interpreter "
                   "are not in it)\n")
        cols = list(r["phases"])
        keys = []
        for col in cols:
            for k in r["phases"][col].get("phases", {}):
                if k not in keys:
                    keys.append(k)
        rows = [[k] + [_f(r["phases"][col].get("phases", {}).get(k, float("nan")), 2) for col in cols]
                for k in keys]
        rows.append(["**sum (imports + loop.train)**"] + [
            _f(r["phases"][col].get("train_total_s", float("nan"))
               + r["phases"][col].get("phases", {}).get("import jax + jaxdl", 0.0), 2) for col in cols])
        out.append(common.table(["phase"] + [f"{c.upper() if c in ('cnn', 'mlp') else c} s" for c in cols], rows))
        out.append("")
    if r["imports"]:
        out.append("### 4c. Start-up: seconds to import / generate in a fresh interpreter (median)\n")
        rows = [[k, _f(_med(v), 2), common.spread(v)] for k, v in r["imports"].items()]
        out.append(common.table(["python -c ...", "s", "min–max"], rows))
        out.append("")
    if r["ops"]:
        out.append("### 4d. XLA op profile of the CNN step (device µs per step by HLO op)\n")
        out.append("`XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true python -m bench.worker "
                   "'{\"fn\": \"bench.profile:op_profile\", \"kwargs\": {\"recipe\": \"cnn\", \"execution\": \"scan\"}}'`: "
                   "a `jax.profiler` trace of 300 steps, XLA:CPU thunk events summed per op over both "
                   "threads (so the sum can exceed the wall time), tracing overhead included.\n")
        for prof in r["ops"]:
            top = ", ".join(f"`{name}` {us:.0f}" for name, us in prof["top"][:8])
            out.append(f"- **{prof['execution']} `{prof['variant'] or 'as-is'}`**: all ops "
                       f"{prof['op_us_per_step']:.0f} µs/step (traced wall {prof['wall_us_per_step_traced']:.0f} µs/step); "
                       f"top: {top}")
        out.append("")
    out.append(FINDINGS_TEXT.format(**proposal_numbers(r)))
    return "\n".join(out)


def proposal_numbers(r: dict) -> dict[str, str]:
    """Numbers quoted in the prose, from this run (n/a where a section was skipped)."""
    def piece(rec, name):
        return r["pieces"].get(rec, {}).get(name, float("nan"))
    nums: dict[str, Any] = {}
    for rec in ("cnn", "mlp"):
        base = steps(find(r, rec, "loop", 100))
        for key, (execution, variant) in {
                "eo_loop": ("loop", "epoch_order"), "eo_scan": ("scan", "epoch_order"),
                "exact": ("loop", r["exact"]), "proposed": ("scan", r["proposed"]),
                "scan": ("scan", ""), "sw_loop": ("loop", "swap_or_not,host_stack,jit_finite"),
                "sw_scan": ("scan", "swap_or_not,jit_finite,patch_conv"),
                "eohs": ("loop", "epoch_order,host_stack"),
                "pc_loop": ("loop", r["exact"] + ",patch_conv"),
                "unroll": ("scan", r["proposed"] + ",unroll=4")}.items():
            run = find(r, rec, execution, 100, variant)
            nums[f"{rec}_{key}"] = _f(steps(run))
            nums[f"{rec}_{key}_x"] = _ratio(steps(run), base)
            nums[f"{rec}_{key}_c"] = _f(run["compile_s"], 1) if run else "n/a"
        nums[f"{rec}_base"] = _f(base)
        nums[f"{rec}_base_c"] = _f(find(r, rec, "loop", 100)["compile_s"], 1) if find(r, rec, "loop", 100) else "n/a"
        nums[f"{rec}_perm"] = _f(piece(rec, "batch order: pipeline.batch_indices (a 4000-permutation)"))
        nums[f"{rec}_sort"] = _f(piece(rec, "  of which: sort of 4000 uint32 (XLA:CPU)"))
        nums[f"{rec}_step_call"] = _f(piece(rec, "train_step, fixed batch, one jitted call per step"))
        nums[f"{rec}_step_scan"] = _f(piece(rec, "train_step, fixed batch, inside lax.scan (per step)"))
        nums[f"{rec}_loopstep"] = _f(piece(rec, "jaxdl loop step: batch_at + train_step, one call"))
        nums[f"{rec}_stack"] = _f(piece(rec, "per chunk: jnp.stack of 100 steps' metrics (eager)"))
        nums[f"{rec}_finite"] = _f(piece(rec, "per chunk: params_finite (eager ops)"))
        nums[f"{rec}_dispatch"] = _f(piece(rec, "dispatch: jitted no-op step on the TrainState"))
        best, _ = torch_best(r, rec)
        nums[f"{rec}_torch"] = _f(best)
        nums[f"{rec}_torch3"] = _f(3 * best)
        for t in ("0", "1"):
            nums[f"{rec}_torch{t}"] = _f(r["torch"].get(f"{rec}/{t}", {}).get("steps_per_s", float("nan")))
        nums[f"{rec}_flax"] = _f(r["flax"].get(rec, {}).get("steps_per_s", float("nan")))
    imports = r.get("imports", {})
    nums["tbx_torch"] = _f(_med(imports.get("tensorboardX (torch installed: it imports torch)", [])), 2)
    nums["tbx_notorch"] = _f(_med(imports.get("tensorboardX (no torch)", [])), 2)
    nums["gen"] = _f(_med(imports.get("jaxdl.data.load('mnist1d') (import + generate)", [])), 1)
    nums["loop_import"] = _f(_med(imports.get("jaxdl.training.loop (no torch)", [])), 1)
    nums["torch_import"] = _f(_med(imports.get("torch", [])), 1)
    walls = r["wall"].get("cnn", {})
    w = lambda name: _med(walls.get(name, []))  # noqa: E731
    nums["wall_cold"] = _f(w("jaxdl train (no torch, cold: no cache)"), 1)
    nums["wall_warm"] = _f(w("jaxdl train (no torch, warm cache)"), 1)
    nums["wall_prop"] = _f(w("jaxdl + proposed (no torch, warm cache)"), 1)
    nums["wall_prop_cache"] = _f(w("jaxdl + proposed + data cache (no torch, warm cache)"), 1)
    nums["wall_lit"] = _f(w("jaxdl train (bench venv, warm cache)"), 1)
    nums["wall_flax"] = _f(w("flax per-step loop"), 1)
    name, ref = best_torch_wall(walls, False)
    nums["wall_torch"], nums["wall_torch_half"], nums["wall_torch_name"] = _f(ref, 1), _f(ref / 2, 1), name
    _, ref_c = best_torch_wall(walls, True)
    nums["wall_torch_cache"], nums["wall_torch_cache_half"] = _f(ref_c, 1), _f(ref_c / 2, 1)
    nums["wall_prop_x"] = _ratio(w("jaxdl + proposed (no torch, warm cache)"), ref)
    nums["wall_prop_cache_x"] = _ratio(w("jaxdl + proposed + data cache (no torch, warm cache)"), ref_c)
    ph = r["phases"].get("cnn proposed + data cache, warm", {}).get("phases", {})
    for key, label in (("import", "import jax + jaxdl"),
                       ("data", "data (MNIST-1D: import + generate, or read the cache)"),
                       ("init", "init state (compile + run)"),
                       ("first", "first chunk (compile + 100 steps)"), ("train", "train chunks"),
                       ("eval", "evaluate (incl. its compile)"), ("ckpt", "checkpoints (save/wait)")):
        nums[f"ph_{key}"] = _f(ph.get(label, float("nan")), 2)
    cold = r["phases"].get("cnn", {}).get("phases", {})
    nums["cold_init"] = _f(cold.get("init state (compile + run)", float("nan")), 1)
    nums["cold_first"] = _f(cold.get("first chunk (compile + 100 steps)", float("nan")), 1)
    nums["cold_eval"] = _f(cold.get("evaluate (incl. its compile)", float("nan")), 1)
    nums["cold_data"] = _f(cold.get("data (MNIST-1D: import + generate, or read the cache)",
                                    cold.get("data (MNIST-1D generation)", float("nan"))), 1)
    return nums


VARIANTS_TEXT = """Each variant is a bench-local replacement of one jaxdl function (`bench/variants.py`),
patched in before `loop.build`; nothing under `jaxdl/` is edited. Compile time (first chunk
minus a steady one) is shown because some variants trade it for speed.

| variant | what it changes | bits |
|---|---|---|
| `epoch_order` | `make_train_chunk`: the epoch's permutation is computed when a step starts an epoch (`lax.cond(step % steps_per_epoch == 0, ...)`) and carried to the next step (`loop`: an extra argument and result of the jitted step, donated; `scan`: part of the carry) instead of `jax.random.permutation(fold_in(key, epoch), 4000)` inside every step; plus one permutation at each chunk start | identical: same permutation, same batches |
| `host_stack` | `loop` chunks return the per-step metrics stacked on the host (one `device_get` of the list, `np.stack`) instead of an eager `jnp.stack` of K device scalars per metric | identical |
| `jit_finite` | `params_finite` (the NaN check after each chunk) as one jitted function instead of ~2 eager ops per parameter leaf | identical |
| `patch_conv` | `layers.conv` returns a `Conv(nn.Conv)` whose 1-D `__call__` is pad + K strided slices + one matmul (im2col); same param names, shapes and init | float rounding |
| `unroll=4` | `lax.scan(..., unroll=4)` | float rounding |
| `swap_or_not` | a sort-free order: the epoch's permutation is a 12-round swap-or-not shuffle evaluated only at the step's 100 positions | a different order |
| `data_cache` | MNIST-1D arrays read from an `.npz` on disk after the first process made them (`bench/data_cache.py`; wall time only) | identical arrays |
"""

FINDINGS_TEXT = """### What the profile shows

1. **The batch order costs more than the model.** `pipeline.batch_indices` computes a full
   `jax.random.permutation` of the 4000 training examples *in every step* to take 100 of them:
   {cnn_perm} µs per call, of which one 4000-element sort on XLA:CPU is {cnn_sort} µs (the
   permutation sorts twice). The CNN's train step on a fixed batch costs {cnn_step_call} µs per
   call and the MLP's {mlp_step_call} µs, so the permutation is most of an as-is step
   ({cnn_loopstep} µs CNN, {mlp_loopstep} µs MLP for one call of `batch_at` + `train_step`).
   Computing the permutation once per epoch and carrying it (`epoch_order`, bitwise-identical)
   takes the as-is `loop` from {cnn_base} to {cnn_eo_loop} steps/s on the CNN ({cnn_eo_loop_x})
   and from {mlp_base} to {mlp_eo_loop} on the MLP ({mlp_eo_loop_x}). It is also why a plain flax
   loop that shuffles with numpy on the host beats jaxdl as it is ({cnn_flax} and {mlp_flax}
   steps/s).
2. **Native convolutions inside `scan` are slow on XLA:CPU.** In the `loop` program XLA
   rewrites the backward convolutions (input gradient `lhs_dilate=2`, kernel gradient
   `rhs_dilate=2`) into its canonical `b0f_0io->b0f` form and runs them on its fast
   convolution path; in the `scan` (while-loop) program the same convolutions keep the
   dimension orders JAX's transpose rule gave them (`b0f_0oi->b0f`, `f0b_i0o->0bf`, read from
   the optimized HLO with `XLA_FLAGS=--xla_dump_to=...`) and run on a slow generic path
   (4d: the convolutions dominate the `scan` profile). The CNN train step on a fixed batch
   costs {cnn_step_scan} µs per step inside `lax.scan` against {cnn_step_call} µs per jitted
   call. Writing the 1-D convolution as im2col + matmul (`patch_conv`) leaves no convolution
   in the program: its gradient is matmuls, pads and slices, which XLA runs as well inside a
   loop body (CNN `scan` + `epoch_order` {cnn_eo_scan} → + `patch_conv` {cnn_proposed} steps/s).
   Under `loop` `patch_conv` brings nothing ({cnn_pc_loop} vs {cnn_exact}).
3. **Per-call cost grows with the outputs.** A jitted no-op returning the `TrainState`
   (28 arrays for the CNN) costs {cnn_dispatch} µs per call, against ~10 µs for a one-output
   call: every output buffer is allocated and wrapped. `loop` pays this each step, `scan`
   once a chunk; with the batch order fixed, that is the gap between `loop` + exact and
   `scan` + proposed on the MLP ({mlp_exact} vs {mlp_proposed} steps/s).
4. **Per-chunk host work** is small: the eager `jnp.stack` of 100 steps' metrics costs
   {cnn_stack} µs per chunk and the eager `params_finite` {cnn_finite} µs once its ops are
   compiled (their first-use compilation is in 4b) — ~1-2% of a 100-step chunk.
5. **PyTorch's default threads collapse when the machine is shared.** With its 2 OpenMP
   threads on 2 cores and another process running, PyTorch ran the CNN at {cnn_torch0} steps/s
   against {cnn_torch1} with one thread (MLP {mlp_torch0} vs {mlp_torch1}); hence the targets use
   the faster of the two.
6. **Start-up is half of the fast run.** Cold (4b, CNN): MNIST-1D import + generation
   {cold_data} s, compiling + running init {cold_init} s, the first chunk (compile) {cold_first} s,
   evaluation incl. its compile {cold_eval} s. The persistent compilation cache removes the
   compiles. With the proposal and warm caches (4b, last column) the process spends
   {ph_import} s importing jax + jaxdl (after the interpreter starts), {ph_data} s on data, {ph_init} s
   on init, {ph_first} s on the first chunk, {ph_train} s training, {ph_eval} s evaluating and
   {ph_ckpt} s on checkpoints. In the bench venv (torch installed) tensorboardX imports torch:
   {tbx_torch} s instead of {tbx_notorch} s (4c).

### What would close the gap

- **Steps/s.** Per-epoch order + im2col 1-D convolution + `scan` take the CNN from {cnn_base} to
  {cnn_proposed} steps/s ({cnn_proposed_x}; target {cnn_torch3}) and the MLP from {mlp_base} to
  {mlp_proposed} ({mlp_proposed_x}; target {mlp_torch3}). The MLP is then short of 3× PyTorch;
  what is left per step is XLA:CPU's cost per op (each fusion, dot and copy is a thunk of a few
  µs on this VM, 4d) plus the permutation amortised over 40 steps and a host sync per chunk.
  Measured and *not* worth it: a sort-free order (`swap_or_not`: {mlp_sw_scan} MLP /
  {cnn_sw_scan} CNN steps/s under `scan`, within the noise of `epoch_order`, compile +2-6 s, and
  a different order); `unroll=4` (MLP {mlp_unroll}, CNN {cnn_unroll}: noise-level, mixed, compile
  +2-3 s); the XLA/JAX settings of the environment table (no robust gain; synchronous dispatch
  hurts `loop`). Larger chunks (500) help `scan` on the MLP a little (section 2).
- **Wall time.** PyTorch's run takes {wall_torch} s here, so the target is {wall_torch_half} s; the
  proposal runs in {wall_prop} s ({wall_prop_x}). A disk cache of the generated MNIST-1D arrays
  (exact) helps both sides (PyTorch's script loads through `jaxdl.data.load` too): jaxdl +
  proposed + cache {wall_prop_cache} s vs PyTorch + cache {wall_torch_cache} s ({wall_prop_cache_x};
  target {wall_torch_cache_half} s). The rest is imports and the training itself.
"""

PROPOSALS_TEXT = """## 6. Proposed changes to jaxdl (for the lead to apply; each measured above)

1. **Per-epoch batch order, carried** (`epoch_order`; bitwise-identical; `loop` CNN
   {cnn_eo_loop_x}, MLP {mlp_eo_loop_x}). In `jaxdl/training/step.py` (`make_one_step` /
   `make_train_chunk`): a small jitted `order_at(data, key, step) =
   jax.random.permutation(fold_in(key, step // steps_per_epoch), n)` called once at the chunk
   start; the jitted step becomes `one_step(state, data, order) -> ((state, metrics), order)`
   with `order = lax.cond(step % steps_per_epoch == 0, lambda: order_at(...), lambda: order)`
   and `idx = lax.dynamic_slice_in_dim(order, position * batch_size, batch_size)`, `order`
   donated with the state (`donate_argnums=(0, 2)`); `scan` carries `(state, order)`.
   `pipeline.batch_indices` stays the definition (a test can assert the carried order equals
   it for a few hundred steps across epoch boundaries and chunkings). The pmap path slices its
   shard from the same `idx`. Code: `bench/variants.py:make_train_chunk(epoch_order=True)`.
   Compile time +0.5-1 s under `loop` (the permutation is now inside the step program).
2. **1-D convolution as im2col + matmul** (`patch_conv`; float rounding only; same params
   and init, so checkpoints stay compatible). In `jaxdl/models/layers.py`, `conv` returns a
   `nn.Conv` subclass named `Conv` (flax names it `Conv_0`, ... as before) whose `__call__` for
   (B, L, C) input is `jnp.pad`, K strided slices concatenated on the feature axis, and
   `patches @ kernel.reshape(K * C_in, F)` + bias; other ranks fall back to `nn.Conv`. Code:
   `bench/variants.py:Conv`. CNN under `scan`: {cnn_scan} → {cnn_proposed} steps/s (with 1).
   2-D convolutions (cnn2d, resnet) are untouched: measure them under `scan` before relying on it.
3. **`auto` = `scan` on CPU too, after 1 and 2** (`resolve_execution` in
   `jaxdl/training/loop.py`, its docstring, the decision record in docs/architecture.md and
   BUILD.md): at chunk 100, `scan` + proposed vs `loop` + exact is CNN {cnn_proposed} vs
   {cnn_exact}, MLP {mlp_proposed} vs {mlp_exact} steps/s (section 2). Keep `loop` available.
4. **Small and exact:** metrics of a `loop` chunk stacked on the host (`host_stack`: `loop` +
   `epoch_order,host_stack` CNN {cnn_eohs} / MLP {mlp_eohs} vs `epoch_order` alone {cnn_eo_loop} /
   {mlp_eo_loop} steps/s) and a jitted `params_finite` (`jit_finite`: saves its first-use
   compiles, 4b).
5. **Start-up:** cache the generated MNIST-1D arrays on disk (exact: the generator is seeded;
   key the file by the options and the mnist1d version; code: `bench/data_cache.py`):
   CNN wall {wall_prop} → {wall_prop_cache} s with the proposal. And keep tensorboardX from
   importing torch when torch happens to be installed ({tbx_torch} s vs {tbx_notorch} s):
   e.g. write the scalar event files without tensorboardX, or import it only where
   TensorBoard output is wanted.
"""


def main() -> None:  # pragma: no cover - convenience
    import sys
    results = json.load(open(sys.argv[1]))
    print(render(results))


if __name__ == "__main__":
    main()
