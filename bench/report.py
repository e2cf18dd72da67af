"""Render the raw results of `python -m bench` (runs/bench/results.json) as BENCHMARKS.md.

Every number in the file comes from the results; each section names the command that
measured it and when, on which commit, under what machine load.
"""
from __future__ import annotations

import os
import tempfile

from bench import common

med, spread = common.median, common.spread

INTRO = """\
Written by `python -m bench` (`make bench` installs the `bench` extra, PyTorch CPU, then runs
it; `jaxdl bench` is the same). Re-measure one section with `python -m bench --only NAME`;
re-render from the raw numbers with `python -m bench --report-only`. Earlier measurements,
of earlier code, are in docs/benchmarks_history.md.

**Method.** Every figure is the median of the repeats of one section's run, next to their
min–max; every ratio divides two figures of the same section. Repeats alternate between the
implementations compared (round-robin processes, or interleaved windows in one process), so
that a load spike from another process hits them alike; the load average at the start and
end of each section is shown. *Steps/s* is steady-state training throughput: a window of
1000 steps after 200 warm-up steps, so compilation is excluded; for jaxdl the window drives
`run.train_chunk` of `loop.build(config)` with the driver's own per-chunk work (`int(step)`,
`device_get` of the metrics, the NaN checks) and no evaluation or checkpoints
(`bench/execution.py`). *Wall time* is a whole process, from its start to the printed test
accuracy: imports, MNIST-1D, compilation, training, evaluation every 1000 steps and (jaxdl)
checkpoints.

The peers: `bench/torch_mnist1d.py` (idiomatic PyTorch eager: `nn.Module`, `torch.optim.Adam`,
`zero_grad/backward/step`, a `randperm` per epoch) with its default threads and with
`torch.set_num_threads(1)`, and `bench/flax_loop.py` (`jax.jit(train_step)` fed numpy
batches from the host, the way most JAX research scripts are written): the same MNIST-1D
arrays (`jaxdl.data.load('mnist1d')`), models, LeCun-normal init, Adam 1e-2, batch 100,
6000 steps, evaluation on train and test every 1000 steps. The targets compare against
whichever PyTorch setting is faster in the same run.
"""


def section_header(results: dict, name: str, title: str) -> str:
    s = results["sections"][name]
    src = s.get("source", {})
    dirty = " (with uncommitted changes)" if src.get("dirty") else ""
    quick = " — **quick smoke run, not for the record**" if s.get("quick") else ""
    sha = f", jaxdl/ sha256 {src['sha256']}" if src.get("sha256") else ""
    return (f"## {title}\n\n`{s['command']}`, section `{name}`: started {s['started']}, "
            f"{s['minutes']:.1f} min, commit {src.get('commit', 'n/a')}{dirty}{sha}; load average "
            f"{s['load_start']} at start, {s['load_end']} at end; {s['repeats']} repeats{quick}.\n")


def section(results: dict, name: str, title: str, description: str, *body: str) -> str:
    """A section: its header (command, commit, load), what it measures, then its tables."""
    return "\n".join([section_header(results, name, title), description, "", *body, ""])


def render_targets(results: dict) -> str:
    from bench import targets
    d = results["sections"]["targets"]["data"]
    return "\n".join([
        section_header(results, "targets", "1. The MNIST-1D recipes against PyTorch and flax"),
        "### Training steps/s", "", targets.steps_table(d["steps_per_s"]), "",
        "### Whole-process wall time", "",
        "*warm caches*: a user's second run on a machine (the persistent compilation cache and "
        "the MNIST-1D disk cache filled by an untimed first run); *first run*: both caches off. "
        "The peers read MNIST-1D from the same warm disk cache.", "",
        targets.wall_table(d["wall_s"], d.get("steps", 6000)), "",
        "### Targets (issue #9, 2 CPU cores)", "",
        *[f"- {line}" for line in targets.verdicts(d["steps_per_s"], d["wall_s"])], ""])


def render_strategies(results: dict) -> str:
    d = results["sections"]["strategies"]["data"]
    rows = []
    for recipe in ("cnn", "mlp"):
        auto = d.get(recipe + "/auto", "?")
        for run in d[recipe]:
            mark = " ← `auto`" if run["execution"] == auto and run["chunk_size"] == 100 else ""
            rows.append((recipe.upper(), run["execution"] + mark, run["chunk_size"],
                         f"{run['steps_per_s']:,.0f}", spread(run["rates"]),
                         f"{run['compile_s']:.2f}"))
    return section(
        results, "strategies",
        "2. jaxdl's execution strategies and the compile time of the train chunk",
        "`config.execution`: `scan` compiles a chunk of K = `config.chunk_size` steps into one "
        "`lax.scan`; `loop` calls one compiled step K times (asynchronous dispatch, one host "
        "sync per chunk). Both give bitwise-identical results for any chunk size. *compile s* = "
        "the first chunk minus the median steady chunk of the same length (tracing, XLA "
        "compilation and first-call setup; persistent compilation cache off). All runs of a "
        "recipe are timed in one process, their windows interleaved.",
        common.table(("recipe", "execution", "chunk", "steps/s", "min–max", "compile s"), rows))


CHECKPOINT = ("3. Checkpoint save overhead",
              "The default CNN run in-process (`jaxdl.train`, warm compilation cache), with a "
              "checkpoint every `checkpoint_every` steps and with only the final save, the two "
              "arms interleaved.")
SWEEP = ("4. A 16-trial sweep: vectorized vs one by one",
         "`jaxdl sweep --vectorize yes` (the 16 trials as one vmapped program) against "
         "`--vectorize no` (`jaxdl.train` per trial in one process), each round in a fresh "
         "process with an empty compilation cache; `python -m bench.sweep --ways` adds 16 "
         "separate `jaxdl train` processes.")


def render_checkpoint(results: dict) -> str:
    from bench import checkpoint_overhead
    data = results["sections"]["checkpoint"]["data"]
    return section(results, "checkpoint", *CHECKPOINT, checkpoint_overhead.markdown(data))


def render_sweep(results: dict) -> str:
    from bench import sweep
    return section(results, "sweep", *SWEEP, sweep.table(results["sections"]["sweep"]["data"]))


def render_resnet(results: dict) -> str:
    from bench import resnet_mfu
    d = results["sections"]["resnet"]["data"]
    return section(
        results, "resnet", "5. A CIFAR-shaped ResNet: images/s and MFU",
        "Speed only, on synthetic data (uniform [0, 1) float32 32×32×3 images, random labels; "
        "nothing downloaded): jaxdl's own `loop.build` of a CIFAR-10 config (batch 128, Adam), "
        "its `jaxdl.data.load` patched to return the synthetic arrays. *resnet*: 3×3 stem, stages "
        "(2, 2, 2) of basic blocks at 16/32/64 channels, batch norm, global average pool "
        "(ResNet-14); *cnn2d*: two 3×3 stride-2 convs (32, 64) and a linear head. "
        "*convolutions*: `native` = jaxdl as it is (`lax.conv`); `im2col` = a bench-local "
        "candidate extending `layers.Conv`'s im2col + one matmul to 2-D. *MFU* = XLA "
        "`cost_analysis()` FLOPs of one compiled step (the native program's, for every row of "
        "a model) × steps/s ÷ the machine's measured peak matmul FLOP/s in the row's precision "
        "(bench/resnet_mfu.py says how each is taken). On a GPU or TPU the rows are native "
        "convolutions in float32 and with `config.precision=bfloat16`; on CPU float32 only.",
        resnet_mfu.table(d), "", resnet_mfu.summary(d))


def render_profile(results: dict) -> str:
    d = results["sections"]["profile"]["data"]
    cold, warm = d["phases_cold"], d["phases_warm"]
    names = list(cold["phases"])
    rows = [(name, f"{cold['phases'][name]:.2f}", f"{warm['phases'].get(name, float('nan')):.2f}")
            for name in names]
    rows.append(("**loop.train total**", f"**{cold['train_total_s']:.2f}**",
                 f"**{warm['train_total_s']:.2f}**"))
    ops = d["ops"]
    top = ", ".join(f"`{name}` {us:.0f}" for name, us in ops["top"])
    one_off = sum(cold["phases"][n] - warm["phases"].get(n, 0.0) for n in names)
    return "\n".join([
        section_header(results, "profile", "6. Profile: where the CNN recipe's time goes"),
        "### The phases of one whole `loop.train` (seconds; timers around jaxdl's own functions, "
        "torch hidden; the interpreter start is not in it)", "",
        common.table(("phase", "first run (caches off)", "warm caches"), rows), "",
        f"A first run spends {one_off:.1f} s more than a warm one, all of it in one-off work "
        "that the disk caches keep for later runs: generating MNIST-1D (`data`) and compiling "
        "(`init state`, `first chunk`, `evaluate`, the NaN check).", "",
        "### XLA op profile of the CNN train step", "",
        f"`bench.profile:op_profile` (a `jax.profiler` trace of 300 steps under `scan`, XLA:CPU "
        f"thunk events summed per HLO op over both threads, tracing overhead included): all ops "
        f"{ops['op_us_per_step']:.0f} µs per step (traced wall {ops['wall_us_per_step_traced']:.0f} "
        f"µs per step). Top ops, µs per step: {top}.", ""])


def render_versus(results: dict) -> str:
    from bench import versus
    s = results["sections"]["versus"]
    d = s["data"]
    return section(
        results, "versus", "7. A change's cost: old and new code in paired rounds",
        f"Old: `{d['old']}`; new: `{d['new']}`. The jaxdl rows of section 1, measured for each "
        f"checkout with its own code in {s['repeats']} paired rounds (old and new back to back, "
        "alternating which goes first). The verdict is on the median over rounds of the "
        "per-round ratio new ÷ old, with a 95% bootstrap interval of that median "
        "(`bench/versus.py`): *no loss* when it is ≥ 0.95 for steps/s, ≤ 1.05 for wall time. "
        "An interval wider than ±5% means the machine's noise, not the code, sets the limit "
        "of what these rounds can resolve.", versus.markdown(d["figures"]), "",
        *[f"- {recipe.upper()}: the compiled 100-step train chunk is "
          f"{'**the same XLA program**' if same else '**a different XLA program**'} in both "
          "(optimized HLO without metadata, `versus.same_program`)"
          + (": steps/s can differ only by the host work between chunks." if same else ".")
          for recipe, same in d.get("same_program", {}).items()])


def render_input_pipeline(results: dict) -> str:
    from bench import input_pipeline
    return section(
        results, "input_pipeline", "8. The input pipeline: streamed against on the device",
        "Batches of 128 read by `jaxdl.data.stream` (grain) on the host, with the image "
        "augmentation there, against the on-device path drawing the same batches and views "
        "in one jitted scan; a streamed ResNet's time waiting for input; peak host memory "
        "streaming datasets several times the memory budget (`bench/input_pipeline.py` "
        "says how each is measured). The device rows start from images already decoded on "
        "the device; the stream rows of varied-size images include decoding the PNGs and the "
        "resize. On this 2-core machine the grain workers share the cores with the main "
        "process and the device (XLA:CPU), so more workers can be slower; the load average "
        "shows what else ran. Targets (issue 16): input wait under 5% of a ResNet step; peak "
        "memory not growing with the dataset (under the budget plus a constant: the peak of "
        "the smaller run).",
        input_pipeline.render(results["sections"]["input_pipeline"]["data"]))


RENDER = {"targets": render_targets, "strategies": render_strategies,
          "checkpoint": render_checkpoint, "sweep": render_sweep, "resnet": render_resnet,
          "profile": render_profile, "versus": render_versus,
          "input_pipeline": render_input_pipeline}


def machine_table(m: dict) -> str:
    v = m["versions"]
    return common.table(("machine", ""), [
        ("CPU", f"{m['cpu']}, {m['cores']} cores (`os.cpu_count()`)"),
        ("OS", m["os"]),
        ("versions", ", ".join(f"{k} {v[k]}" for k in v))])


def markdown(results: dict) -> str:
    parts = ["# Benchmarks", "", machine_table(results["machine"]), "", INTRO]
    for name, render in RENDER.items():
        if name in results.get("sections", {}):
            parts.append(render(results))
    return "\n".join(parts).rstrip() + "\n"


def write(results: dict, path: str) -> None:
    """The markdown at `path`, written atomically (a reader never sees half a file)."""
    text = markdown(results)
    folder = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("w", dir=folder, delete=False, suffix=".tmp") as f:
        f.write(text)
    os.replace(f.name, path)
