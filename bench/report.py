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


def find_headline(r: dict, recipe: str, execution: str, variant: str = "") -> dict | None:
    """A headline jaxdl figure (round-robin processes), else the in-process one."""
    entries = r.get("headline_jaxdl", {}).get(recipe)
    if entries:
        return entries.get(f"{execution}|{variant}")
    return find(r, recipe, execution, 100, variant)


def steps(run: dict | None) -> float:
    return run["steps_per_s"] if run else float("nan")


def torch_best(results: dict, recipe: str) -> tuple[float, str]:
    options = {("default threads" if key.endswith("/0") else "1 thread"): value["steps_per_s"]
               for key, value in results["torch"].items() if key.startswith(recipe + "/")}
    if not options:
        return float("nan"), "n/a"
    name = max(options, key=options.get)
    return options[name], name


def source_line(r: dict) -> str:
    src = r.get("jaxdl_source")
    if not src:
        return "n/a"
    dirty = src.get("dirty") or ""
    return (f"commit {src['commit']}" + (f" with uncommitted changes in jaxdl/ ({dirty.count(chr(10)) + 1} files)"
                                         if dirty else ", jaxdl/ clean")
            + f"; a snapshot of jaxdl/ (sha256 {src['sha256']}) was imported by every process of the run")


def jaxdl_headline_rows(r: dict) -> list[tuple[str, str, str]]:
    rows = [("jaxdl before 18785c5 (loop, chunk 100)", "loop", r.get("before", "per_step_order,eager_finite")),
            ("jaxdl as-is (`auto`=loop, chunk 100)", "loop", ""),
            (f"jaxdl + exact `{r['exact']}` (loop, chunk 100)", "loop", r["exact"]),
            (f"jaxdl + proposed `{r['proposed']}` (scan, chunk 100)", "scan", r["proposed"])]
    return [row for row in rows if any(find_headline(r, rec, row[1], row[2]) for rec in ("cnn", "mlp"))]


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
    exact, proposed, before = r["exact"], r["proposed"], r.get("before", "per_step_order,eager_finite")
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
        ["jaxdl measured", source_line(r)],
    ]))
    add("")
    rounds = r.get("rounds", r["repeats"])
    add("**Method.** Every figure is the median of the repeats of this one run, next to their "
        "min–max; every ratio divides two figures of this same run. *Steps/s* is training "
        f"throughput in a steady state: timed windows of {win} (so compilation is excluded). "
        f"Headline figures (section 1): {rounds} rounds, each starting one fresh process per "
        "implementation and recipe that times one window, the implementations interleaved round "
        "by round, so a burst of load from another process hits all of them alike. Strategy and "
        f"candidate figures (sections 2, 3, 5): one process per recipe builds every configuration, "
        f"then times {r['repeats']} windows of each, interleaved the same way. For jaxdl a window "
        "drives `run.train_chunk` from `loop.build(config)` with the driver's own per-chunk work "
        "(`int(state.step)`, `device_get` of the metrics, the NaN check of metrics and params), "
        "without evaluation or checkpoints (`bench/execution.py`). *Wall time* is a whole "
        "process, from its start to the line with the test accuracy, including imports, MNIST-1D "
        f"generation, compilation, {r['steps']} training steps, evaluation every 1000 steps and (jaxdl) "
        f"checkpoints; median of {r['wall_repeats']} runs interleaved round-robin across the commands. "
        "Other processes shared the 2 cores during the run (the load average above): min–max "
        "shows the noise, and a ratio is only as good as the spread of its two figures.\n")
    add("The peers: `bench/torch_mnist1d.py` (idiomatic PyTorch eager: `nn.Module`, `torch.optim.Adam`, "
        "`zero_grad/backward/step`, a `randperm` per epoch) and `bench/flax_loop.py` "
        "(`jax.jit(train_step)` fed numpy batches from the host, the way most JAX research scripts "
        "do it): same MNIST-1D arrays (`jaxdl.data.load('mnist1d')`), same models, LeCun-normal "
        "init, Adam 1e-2, batch 100, 6000 steps, evaluation on train and test every 1000 steps. "
        "PyTorch is run with its default threads (2 here) and with `torch.set_num_threads(1)`; "
        "**the targets compare against whichever PyTorch setting is faster in this run.**\n")
    add(f"Names used below: **as-is** = jaxdl at the commit above, unchanged (`execution=auto` = "
        f"`loop` on CPU, chunk 100); **before** = as-is + `{before}`: jaxdl as it was before commit "
        "18785c5 (a fresh permutation of the training set in every step, an eager NaN check), "
        "applied from the first run of this benchmark; "
        f"**exact** = as-is + `{exact}` (bitwise-identical training); "
        f"**proposed** = `execution=scan` + `{proposed}` (the same math; float-rounding "
        "differences only). Section 5 defines each variant (`bench/variants.py`).\n")

    add(summary(r))

    # ------------------------------------------------------------ 1. headline
    add("## 1. Headline: the MNIST-1D recipes\n")
    add("### Training steps/s (steady state, compilation excluded)\n")
    rows = []
    best = {rec: torch_best(r, rec) for rec in ("cnn", "mlp")}
    jaxdl_rows = jaxdl_headline_rows(r)
    for name, execution, variant in jaxdl_rows:
        row = [name]
        for rec in ("cnn", "mlp"):
            run = find_headline(r, rec, execution, variant)
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
    add(f"Commands of one round (each a fresh process): jaxdl `{WORKER} "
        "'{\"fn\": \"bench.execution:measure\", \"kwargs\": {\"recipe\": \"cnn\", \"windows\": 1, \"runs\": "
        "[{\"execution\": \"auto\", \"chunk_size\": 100, \"variant\": \"\"}, ...]}}'` (the four "
        "jaxdl rows); PyTorch "
        f"`{WORKER} '{{\"fn\": \"bench.torch_mnist1d:window_steps_per_s\", \"kwargs\": "
        f"{{\"model_name\": \"cnn\", \"warmup\": {r['warmup']}, \"window\": {r['window']}, \"windows\": 1, \"threads\": 0}}}}'` "
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
            s = steps(find_headline(r, rec, execution, variant))
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
        "are the same strategies with the exact and the proposed change (section 5).\n")
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
                          f"loop + {exact}", f"scan + {proposed}", "ratio of the last two"], rows))
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
    add(common.table(["recipe", "chunk", "loop (as-is) s", "scan (as-is) s", f"loop + {exact} s",
                      f"scan + {proposed} s"], rows))
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
        base = steps(find_headline(r, rec, "loop", ""))
        old = steps(find_headline(r, rec, "loop", r.get("before", "per_step_order,eager_finite")))
        prop = steps(find_headline(r, rec, "scan", r["proposed"]))
        fl = r["flax"].get(rec, {}).get("steps_per_s", float("nan"))
        lines.append(f"- **{rec.upper()} steps/s** (target ≥ 3× PyTorch eager = {_f(3 * ref)}; "
                     f"PyTorch's best here: {_f(ref)}, {ref_name}): jaxdl before 18785c5 {_f(old)} "
                     f"({_ratio(old, ref)}); jaxdl as-is {_f(base)} "
                     f"({_ratio(base, ref)}) — {verdict(base >= 3 * ref) if ref == ref else 'n/a'}; "
                     f"with the proposed changes {_f(prop)} ({_ratio(prop, ref)}) — "
                     f"{verdict(prop >= 3 * ref) if ref == ref and prop == prop else 'n/a'}. "
                     f"A plain flax loop: {_f(fl)}.")
    walls = r["wall"].get("cnn", {})
    for name in ("jaxdl before 18785c5 (no torch, warm cache)",
                 "jaxdl train (no torch, warm cache)", "jaxdl train (no torch, cold: no cache)",
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
        text.append("So **yes**, for the code as it is, at the default chunk 100: decisively for "
                    "the CNN (XLA:CPU runs the backward convolutions inside a `while` body on a "
                    "slow path: section 4). ")
    elif at100["cnn"]:
        text.append("So **only for the CNN**, decisively (XLA:CPU runs the backward convolutions "
                    "inside a `while` body on a slow path: section 4); for the MLP, which has no "
                    "convolution, `scan` is faster at chunk 100 as well: per-call overhead "
                    "(section 4). ")
    else:
        text.append(f"So **not as a rule**: at the default chunk 100 `loop` wins for "
                    f"{', '.join(k.upper() for k, v in at100.items() if v) or 'neither recipe'}. ")
    after = [(rec, steps(find(r, rec, "loop", 100)),
              steps(find(r, rec, "scan", 100, r["proposed"]))) for rec in ("cnn", "mlp")]
    if all(sp > lo for _, lo, sp in after if lo == lo and sp == sp):
        text.append(f"**With `{r['proposed']}` the ranking flips**: at chunk 100 `scan` + "
                    f"`{r['proposed']}` beats `loop` (" + "; ".join(
                        f"{rec.upper()} {_f(sp)} vs {_f(lo)} steps/s" for rec, lo, sp in after)
                    + "). Once the im2col 1-D convolution lands, `auto` should be `scan` on CPU "
                    "as well — for the models measured here; models with native 2-D "
                    "convolutions (cnn2d, resnet) keep the slow backward-convolution path inside "
                    "`scan` and need measuring before the switch. Small chunks (1, 10) are slow "
                    "under every strategy: a host sync, a NaN check and one permutation (the "
                    "chunk's first epoch order) per chunk.")
    else:
        text.append(f"With `{r['proposed']}`: " + "; ".join(
            f"{rec.upper()} scan {_f(sp)} vs loop (as-is) {_f(lo)}" for rec, lo, sp in after) + ".")
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
    before, exact, proposed = r.get("before", "per_step_order,eager_finite"), r["exact"], r["proposed"]
    nums: dict[str, Any] = {}
    for rec in ("cnn", "mlp"):
        base = steps(find(r, rec, "loop", 100))
        for key, (execution, variant) in {
                "before": ("loop", before), "before_scan": ("scan", before),
                "exact": ("loop", exact), "proposed": ("scan", proposed), "scan": ("scan", ""),
                "sw_loop": ("loop", "swap_or_not," + exact), "sw_scan": ("scan", "swap_or_not," + proposed),
                "pc_loop": ("loop", "patch_conv"), "unroll": ("scan", proposed + ",unroll=4")}.items():
            run = find(r, rec, execution, 100, variant)
            nums[f"{rec}_{key}"] = _f(steps(run))
            nums[f"{rec}_{key}_x"] = _ratio(steps(run), base)
            nums[f"{rec}_{key}_c"] = _f(run["compile_s"], 1) if run else "n/a"
        nums[f"{rec}_base"] = _f(base)
        nums[f"{rec}_base_vs_before"] = _ratio(base, steps(find(r, rec, "loop", 100, before)))
        nums[f"{rec}_proposed_vs_scan"] = _ratio(steps(find(r, rec, "scan", 100, proposed)),
                                                  steps(find(r, rec, "scan", 100)))
        run = find(r, rec, "loop", 100)
        nums[f"{rec}_base_c"] = _f(run["compile_s"], 1) if run else "n/a"
        for key, label in (
                ("perm", "batch order: pipeline.batch_indices (a 4000-permutation)"),
                ("sort", "  of which: sort of 4000 uint32 (XLA:CPU)"),
                ("step_call", "train_step, fixed batch, one jitted call per step"),
                ("step_scan", "train_step, fixed batch, inside lax.scan (per step)"),
                ("oldstep", "step before 18785c5: fresh permutation + gather + train_step, one call"),
                ("headstep", "step at HEAD: carried order + gather + train_step, per step (amortised)"),
                ("stack", "per chunk: jnp.stack of 100 steps' metrics (eager)"),
                ("finite_eager", "per chunk: params_finite, eager ops (before 18785c5)"),
                ("finite_jit", "per chunk: params_finite, jitted (HEAD)"),
                ("dispatch", "dispatch: jitted no-op step on the TrainState")):
            nums[f"{rec}_{key}"] = _f(piece(rec, label))
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
    walls = r["wall"].get("cnn", {})
    w = lambda name: _med(walls.get(name, []))  # noqa: E731
    nums["wall_before"] = _f(w("jaxdl before 18785c5 (no torch, warm cache)"), 1)
    nums["wall_cold"] = _f(w("jaxdl train (no torch, cold: no cache)"), 1)
    nums["wall_warm"] = _f(w("jaxdl train (no torch, warm cache)"), 1)
    nums["wall_prop"] = _f(w("jaxdl + proposed (no torch, warm cache)"), 1)
    nums["wall_prop_cache"] = _f(w("jaxdl + proposed + data cache (no torch, warm cache)"), 1)
    nums["wall_lit"] = _f(w("jaxdl train (bench venv, warm cache)"), 1)
    name, ref = best_torch_wall(walls, False)
    nums["wall_torch"], nums["wall_torch_half"] = _f(ref, 1), _f(ref / 2, 1)
    nums["wall_warm_x"] = _ratio(w("jaxdl train (no torch, warm cache)"), ref)
    nums["wall_prop_x"] = _ratio(w("jaxdl + proposed (no torch, warm cache)"), ref)
    _, ref_c = best_torch_wall(walls, True)
    nums["wall_torch_cache"], nums["wall_torch_cache_half"] = _f(ref_c, 1), _f(ref_c / 2, 1)
    nums["wall_prop_cache_x"] = _ratio(w("jaxdl + proposed + data cache (no torch, warm cache)"), ref_c)
    ph = r["phases"].get("cnn proposed + data cache, warm", {}).get("phases", {})
    cold = r["phases"].get("cnn", {}).get("phases", {})
    for prefix, source in (("ph", ph), ("cold", cold)):
        for key, label in (("import", "import jax + jaxdl"),
                           ("data", "data (MNIST-1D: import + generate, or read the cache)"),
                           ("init", "init state (compile + run)"),
                           ("first", "first chunk (compile + 100 steps)"), ("train", "train chunks"),
                           ("eval", "evaluate (incl. its compile)"), ("ckpt", "checkpoints (save/wait)")):
            nums[f"{prefix}_{key}"] = _f(source.get(label, float("nan")), 1)
    return nums


VARIANTS_TEXT = """Each variant is a bench-local replacement of one jaxdl function (`bench/variants.py`),
patched in before `loop.build`; nothing under `jaxdl/` is edited. Compile time (first chunk
minus a steady one) is shown because some variants trade it for speed.

| variant | what it changes | bits |
|---|---|---|
| `per_step_order` | (reference: jaxdl before 18785c5) a full `jax.random.permutation(fold_in(key, epoch), 4000)` inside every step (`pipeline.batch_indices`) instead of the epoch's order carried from step to step | identical batches |
| `eager_finite` | (reference: jaxdl before 18785c5) `params_finite` as ~2 eager ops per parameter leaf instead of one jitted call | identical |
| `host_stack` | `loop` chunks return the per-step metrics stacked on the host (one `device_get` of the list, `np.stack`) instead of an eager `jnp.stack` of K device scalars per metric | identical |
| `patch_conv` | `layers.conv` returns a `Conv(nn.Conv)` whose 1-D `__call__` is pad + K strided slices + one matmul (im2col); same param names, shapes and init | float rounding |
| `unroll=4` | `lax.scan(..., unroll=4)` | float rounding |
| `swap_or_not` | a sort-free order: the epoch's permutation is a 12-round swap-or-not shuffle evaluated only at the step's 100 positions | a different order |
| `data_cache` | MNIST-1D arrays read from an `.npz` on disk after the first process made them (`bench/data_cache.py`; wall time only) | identical arrays |
"""

FINDINGS_TEXT = """### What the profile shows

1. **The batch order cost more than the model — fixed in 18785c5.** Before that commit
   `pipeline.batch_indices` computed a full `jax.random.permutation` of the 4000 training
   examples *in every step* to take 100 of them: {cnn_perm} µs per call, of which one
   4000-element sort on XLA:CPU is {cnn_sort} µs (the permutation sorts twice). The CNN's train
   step on a fixed batch costs {cnn_step_call} µs per call and the MLP's {mlp_step_call} µs, so
   the permutation was most of a step ({cnn_oldstep} µs CNN, {mlp_oldstep} µs MLP), and a plain
   flax loop that shuffles with numpy on the host beat jaxdl. Carrying the epoch's order from
   step to step (now in jaxdl; bitwise-identical batches) brings a step to {cnn_headstep} µs
   (CNN) and {mlp_headstep} µs (MLP), amortised, and the `loop` throughput from {cnn_before} to
   {cnn_base} steps/s on the CNN ({cnn_base_vs_before}) and from {mlp_before} to {mlp_base} on
   the MLP ({mlp_base_vs_before}), in this run.
2. **Native convolutions inside `scan` are slow on XLA:CPU.** In the `loop` program XLA
   rewrites the backward convolutions (input gradient `lhs_dilate=2`, kernel gradient
   `rhs_dilate=2`) into its canonical `b0f_0io->b0f` form and runs them on its fast
   convolution path; in the `scan` (while-loop) program the same convolutions keep the
   dimension orders JAX's transpose rule gave them (`b0f_0oi->b0f`, `f0b_i0o->0bf`, read from
   the optimized HLO with `XLA_FLAGS=--xla_dump_to=...`) and run on a slow generic path: in
   4d the `conv_general_dilated` ops dominate the as-is `scan` profile. The CNN train step on
   a fixed batch costs {cnn_step_scan} µs per step inside `lax.scan` against {cnn_step_call} µs
   per jitted call. Writing the 1-D convolution as im2col + matmul (`patch_conv`) leaves no
   convolution in the program — its gradient is matmuls, pads and slices, which XLA runs as
   well inside a loop body: CNN `scan` {cnn_scan} → {cnn_proposed} steps/s
   ({cnn_proposed_vs_scan}). Under `loop`, `patch_conv` brings nothing ({cnn_pc_loop} vs
   {cnn_base}).
3. **Per-call cost grows with the outputs.** A jitted no-op returning the `TrainState` (28
   arrays for the CNN) costs {cnn_dispatch} µs per call, against ~10-30 µs for a one-output call:
   every output buffer is allocated and wrapped. `loop` pays it every step, `scan` once a chunk;
   it is most of the gap between `loop` and `scan` + `patch_conv` on the MLP ({mlp_base} vs
   {mlp_proposed} steps/s).
4. **Per-chunk host work is small.** The eager `jnp.stack` of 100 steps' metrics costs
   {cnn_stack} µs per chunk (`host_stack` removes it) and the NaN check {cnn_finite_jit} µs jitted
   ({cnn_finite_eager} µs as the eager ops it was before 18785c5, plus their first-use
   compiles) — ~1-2% of a 100-step chunk.
5. **PyTorch's default threads collapse when the machine is shared.** With its 2 OpenMP
   threads on 2 cores and another process running, PyTorch ran the CNN at {cnn_torch0} steps/s
   against {cnn_torch1} with one thread (MLP {mlp_torch0} vs {mlp_torch1}); the targets use the
   faster of the two.
6. **Start-up is half of a fast run.** Cold (4b, CNN): MNIST-1D import + generation
   {cold_data} s, compiling + running the init {cold_init} s, the first chunk (compile) {cold_first} s,
   evaluation incl. its compile {cold_eval} s; jaxdl's persistent compilation cache removes the
   compiles from later runs. With the proposal and warm caches (4b, last column) the CNN run
   spends {ph_import} s importing jax + jaxdl (after the interpreter starts), {ph_data} s on data,
   {ph_init} s on the init, {ph_first} s on the first chunk, {ph_train} s training, {ph_eval} s
   evaluating and {ph_ckpt} s on checkpoints. In the bench venv (torch installed) tensorboardX
   imports torch: {tbx_torch} s instead of {tbx_notorch} s (4c).

### What would close the gap

- **Steps/s.** The im2col 1-D convolution under `scan` takes the CNN from {cnn_base} to
  {cnn_proposed} steps/s ({cnn_proposed_x}; target {cnn_torch3}) and the MLP from {mlp_base} to
  {mlp_proposed} ({mlp_proposed_x}; target {mlp_torch3}). What is left per step is XLA:CPU's cost
  per op (each fusion, dot and copy is a thunk of a few µs on this VM, 4d), the permutation
  amortised over 40 steps (one more at each chunk start) and a host sync per chunk. Measured
  and *not* worth it: a sort-free order (`swap_or_not`: {mlp_sw_scan} MLP / {cnn_sw_scan} CNN
  steps/s under `scan` with `patch_conv`, compile +2-6 s, and a different order); `unroll=4`
  (MLP {mlp_unroll}, CNN {cnn_unroll}; compile +2-3 s); the XLA/JAX settings of the environment
  table (within the noise band its matmul-precision rows show; synchronous dispatch hurts
  `loop`). Larger chunks (500) help `scan` on the MLP a little (section 2).
- **Wall time.** PyTorch's run takes {wall_torch} s here, so the target is {wall_torch_half} s.
  jaxdl as-is takes {wall_warm} s ({wall_warm_x}; before 18785c5: {wall_before} s), the proposal
  {wall_prop} s ({wall_prop_x}). A disk cache of the generated MNIST-1D arrays (exact) helps both
  sides, since PyTorch's script loads through `jaxdl.data.load` too: jaxdl + proposed + cache
  {wall_prop_cache} s vs PyTorch + cache {wall_torch_cache} s ({wall_prop_cache_x}; target
  {wall_torch_cache_half} s). The rest is imports and the training itself.
"""

PROPOSALS_TEXT = """## 6. Proposed changes to jaxdl (for the lead to apply; each measured above)

Already applied (commit 18785c5, measured here as **before** → **as-is**): the carried epoch
order and the jitted NaN check; CNN {cnn_before} → {cnn_base}, MLP {mlp_before} → {mlp_base}
steps/s (loop, chunk 100); CNN wall {wall_before} → {wall_warm} s.

1. **1-D convolution as im2col + matmul** (`patch_conv`; float rounding only; same params
   and init, so checkpoints stay compatible). In `jaxdl/models/layers.py`, `conv` returns a
   `nn.Conv` subclass named `Conv` (so flax still names the layers `Conv_0`, ...) whose
   `__call__` for (B, L, C) input is `jnp.pad`, K strided slices concatenated on the feature
   axis, and `patches @ kernel.reshape(K * C_in, F)` + bias; other ranks fall back to
   `nn.Conv`. Code: `bench/variants.py:Conv`. CNN under `scan`: {cnn_scan} → {cnn_proposed}
   steps/s. 2-D convolutions (cnn2d, resnet) are untouched: measure them under `scan` before
   relying on it.
2. **`auto` = `scan` on CPU too, once 1 is in** (`resolve_execution` in
   `jaxdl/training/loop.py`, its docstring, the decision record in docs/architecture.md and
   BUILD.md): at chunk 100 `scan` + `patch_conv` vs `loop` (as-is) is CNN {cnn_proposed} vs
   {cnn_base}, MLP {mlp_proposed} vs {mlp_base} steps/s (section 2); compile time is similar
   (section 3). Keep `loop` selectable.
3. **Small and exact:** stack a `loop` chunk's metrics on the host (`host_stack`): CNN
   {cnn_exact} / MLP {mlp_exact} vs {cnn_base} / {mlp_base} steps/s — within noise; worth it only
   if `loop` stays the CPU default.
4. **Start-up:** cache the generated MNIST-1D arrays on disk (exact: the generator is seeded;
   key the file by the options and the mnist1d version; code: `bench/data_cache.py`): CNN wall
   {wall_prop} → {wall_prop_cache} s with the proposal. And keep tensorboardX from importing
   torch when torch happens to be installed ({tbx_torch} s vs {tbx_notorch} s): write the few
   scalar event files without tensorboardX, or import it only when TensorBoard output is on.
"""


def main() -> None:  # pragma: no cover - convenience
    import sys
    results = json.load(open(sys.argv[1]))
    print(render(results))


if __name__ == "__main__":
    main()
