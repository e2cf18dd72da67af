"""A CIFAR-shaped ResNet on synthetic 32x32x3 data: training images/s and model FLOPs utilization.

    python -m bench.resnet_mfu                # full run (~11 min on 2 shared CPU cores)
    python -m bench.resnet_mfu --repeats 7    # more timed windows per figure (default 5)
    python -m bench.resnet_mfu --quick        # smoke run (< 3 min): short chunks, 1 window,
                                              # 5 of the 8 rows (QUICK_ROWS)

Speed only: the labels are random, nothing is learnt. What runs is jaxdl's own
`loop.build(config)` for a CIFAR-10 config (`config.data` = tfds `cifar10`, batch
128, Adam) whose arrays are replaced by synthetic ones: inside the bench worker
`jaxdl.data.load` is patched to return
`SYNTHETIC_TRAIN` uniform [0, 1) float32 images of 32x32x3 with uniform labels in
0..9 -- the shapes and dtypes the tfds source gives for CIFAR-10 -- so nothing is
downloaded and no other line of jaxdl changes. Models, at their defaults:

    resnet  jaxdl.models.resnet.ResNet: a 3x3 stem (16 channels), stages (2, 2, 2) of
            basic blocks at 16/32/64 channels (stride 2 at stages 2 and 3, with
            1x1 projection shortcuts), batch norm after every convolution, global
            average pooling, a linear head (ResNet-14 by He et al.'s count: stem, 12
            block convolutions, head; plus two 1x1 shortcuts), 175,258 parameters
    cnn2d   jaxdl.models.cnn.CNN2D: two 3x3 stride-2 convolutions (32, 64), no batch
            norm, flatten, a linear head: the other model with 2-D convolutions

Each model is measured per execution strategy (`config.execution` = loop | scan)
and per convolution: `native` (jaxdl as it is: 2-D convolutions are
`lax.conv_general_dilated`, via `nn.Conv`) and `im2col` (a bench-local candidate:
`layers.Conv` extended to compute 2-D convolutions as strided slices + one
matmul, as it already does for 1-D ones; same parameters, same math, float
rounding differs). Per row:

    images/s     batch x steps/s; steps/s is the median of `repeats` timed windows
                 (`bench.execution.Prepared`: the driver's per-chunk work, compile
                 excluded: the first chunk and one more are warm-up), each window
                 whole chunks lasting >= `MIN_WINDOW_S`, the rows' windows
                 interleaved round by round in one worker process per model
    FLOPs/step   `cost_analysis()["flops"]` of the compiled program that the `loop`
                 strategy dispatches once per step: `jax.jit(make_one_step(train_step))`
                 lowered on (state, data, order) -- batch gather, forward, backward and
                 Adam update of one step. (The `scan` chunk's program reports the same
                 number whatever its length: XLA's cost analysis counts a while body
                 once, so it gives no per-step figure by itself.) The native program's
                 FLOPs are the model's FLOPs for every row of a model.
    peak         the machine's measured matmul FLOP/s: a jitted `PEAK_N` x `PEAK_N`
                 float32 matmul, 2 n^3 / (best time of `PEAK_REPEATS` calls), measured
                 in a fresh worker before and after the throughput workers; the larger
    MFU          FLOPs/step x steps/s / peak

On a GPU or TPU the same command measures `ACCELERATOR_ROWS` instead: native convolutions
under `loop` and `scan`, each in float32 and with `config.precision=bfloat16` (bfloat16
compute, float32 params: models/precision.py), in chunks of 100 steps; each precision's MFU
is against the measured peak matmul of that dtype.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import sys
import time

from bench import common

MODELS = ("resnet", "cnn2d")
BATCH_SIZE = 128
IMAGE_SHAPE = (32, 32, 3)
NUM_CLASSES = 10
SYNTHETIC_TRAIN = 2560  # 20 batches of 128: an epoch boundary (a permutation) every 20 steps
SYNTHETIC_TEST = 256
LEARNING_RATE = 1e-3
# Steps per compiled chunk: short, since the ResNet's native-conv `scan` takes ~20 s a step
# on 2 CPU cores (a length-2 scan is still a `while` loop in the compiled HLO: not unrolled).
CHUNKS = {"resnet": 2, "cnn2d": 10}
QUICK_CHUNKS = {"resnet": 2, "cnn2d": 5}
MIN_WINDOW_S = 4.0
PEAK_N = 2048
PEAK_REPEATS = 10
ROWS = tuple((conv, execution) for conv in ("native", "im2col") for execution in ("loop", "scan"))
# --quick: every path once, within 3 min on 2 loaded cores: no ResNet native scan (~20 s a
# step) and no im2col loop.
QUICK_ROWS = {"resnet": (("native", "loop"), ("im2col", "scan")),
              "cnn2d": (("native", "loop"), ("native", "scan"), ("im2col", "scan"))}


# ---------------------------------------------------------------- the run under test


def synthetic_cifar(seed: int = 0):
    """A `jaxdl.data.Dataset` shaped like tfds' CIFAR-10: x float32 (n, 32, 32, 3) uniform
    in [0, 1) (what `jaxdl.data.tfds` returns for uint8 pixels), y int32 uniform in 0..9."""
    import numpy as np

    from jaxdl import data as data_lib
    gen = np.random.default_rng(seed)

    def split(n: int):
        return (gen.random((n, *IMAGE_SHAPE), dtype=np.float32),
                gen.integers(0, NUM_CLASSES, n).astype(np.int32))
    (x_train, y_train), (x_test, y_test) = split(SYNTHETIC_TRAIN), split(SYNTHETIC_TEST)
    return data_lib.Dataset(x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test,
                            num_classes=NUM_CLASSES, name="synthetic-cifar10")


def cifar_config(model: str, execution: str = "auto", chunk_size: int = 100,
                 precision: str = "float32"):
    """jaxdl's default config made a CIFAR-10 run of `model` at its defaults: tfds cifar10,
    batch 128, Adam (jaxdl's default optimizer) at lr 1e-3; `config.precision`."""
    from jaxdl import config as config_lib
    config = config_lib.default()
    config.data = config_lib.named_section("data", "tfds")
    config.data.dataset = "cifar10"
    config.model = config_lib.named_section("model", model)
    config.batch_size = BATCH_SIZE
    config.optimizer.lr = LEARNING_RATE
    config.execution, config.chunk_size = execution, chunk_size
    config.precision = precision
    return config


def im2col_conv_class():
    """`jaxdl.models.layers.Conv` with 2-D convolutions as im2col + one matmul too.

    out[b, i, j, :] = sum_{u, v, c} padded[b, i*sh + u, j*sw + v, c] kernel[u, v, c, :], i.e.
    patches (B, H', W', kh*kw*C) (the taps side by side, (u, v, c) order = the kernel's
    row-major order) times the kernel reshaped to (kh*kw*C, F). Same param names, shapes
    and initial values as `nn.Conv`; the gradient is matmuls, pads and slices."""
    import flax.linen as nn
    import jax
    import jax.numpy as jnp

    from jaxdl.models import layers

    class Conv(layers.Conv):
        @nn.compact
        def __call__(self, x: jax.Array) -> jax.Array:
            if x.ndim != 4 or self.feature_group_count != 1 or isinstance(self.padding, str):
                return super().__call__(x)
            (kh, kw), (sh, sw) = self.kernel_size, self.strides or (1, 1)
            channels = x.shape[-1]
            kernel = self.param("kernel", self.kernel_init, (kh, kw, channels, self.features),
                                self.param_dtype)
            padded = jnp.pad(x, ((0, 0), *self.padding, (0, 0)))
            height = (padded.shape[1] - kh) // sh + 1
            width = (padded.shape[2] - kw) // sw + 1
            patches = jnp.concatenate(
                [padded[:, u:u + sh * (height - 1) + 1:sh, v:v + sw * (width - 1) + 1:sw, :]
                 for u in range(kh) for v in range(kw)], axis=-1)
            bias = (self.param("bias", self.bias_init, (self.features,), self.param_dtype)
                    if self.use_bias else None)
            patches, kernel, bias = nn.dtypes.promote_dtype(patches, kernel, bias,
                                                            dtype=self.dtype)
            # one 2-D matmul over all (example, position) rows, as layers.Conv does in 1-D
            batch, taps = patches.shape[0], patches.shape[-1]
            y = jnp.matmul(patches.reshape(-1, taps),
                           kernel.reshape(kh * kw * channels, self.features),
                           precision=self.precision).reshape(batch, height, width, self.features)
            return y if bias is None else y + bias

    return Conv


@contextlib.contextmanager
def cifar_run(model: str, conv: str = "native", precision: str = "float32"):
    """While the block runs (build, trace and compile must happen inside it): `jaxdl.data.load`
    of the tfds source returns `synthetic_cifar()`, `bench.execution.recipe_config(model)` is
    `cifar_config(model)` (so `execution.Prepared` builds it), and with conv='im2col'
    `layers.Conv` is `im2col_conv_class()`."""
    from bench import execution
    from jaxdl import data as data_lib
    from jaxdl.models import layers
    if conv not in ("native", "im2col"):
        raise ValueError(f"unknown conv {conv!r}; choose native or im2col")
    saved = data_lib.load, execution.recipe_config, layers.Conv
    original_load, original_recipe = saved[0], saved[1]
    data_lib.load = lambda name, **options: (synthetic_cifar() if name == "tfds"
                                             else original_load(name, **options))
    execution.recipe_config = lambda recipe: (cifar_config(recipe, precision=precision)
                                              if recipe in MODELS
                                              else original_recipe(recipe))
    if conv == "im2col":
        layers.Conv = im2col_conv_class()
    try:
        yield
    finally:
        data_lib.load, execution.recipe_config, layers.Conv = saved


# ---------------------------------------------------------------- worker functions


def throughput(model: str, rows: list[list[str]], chunk_size: int, windows: int,
               min_window_s: float = MIN_WINDOW_S) -> list[dict]:
    """Steps/s of each (conv, execution) in `rows`: each built, compiled and warmed up (the
    first chunk and one more), then `windows` rounds visiting every row once in a rotating
    order (a load spike hits all rows alike), each window whole chunks >= `min_window_s`."""
    from bench import execution as bench_execution
    prepared, per_window = [], []
    for conv, execution, *rest in rows:
        precision = rest[0] if rest else "float32"
        with cifar_run(model, conv, precision):
            p = bench_execution.Prepared(model, execution=execution, chunk_size=chunk_size,
                                         warmup=chunk_size)
            t = time.perf_counter()
            p.window(chunk_size)  # one more warm-up chunk, which also sizes the windows
            chunk_s = time.perf_counter() - t
            per_window.append(chunk_size * max(1, math.ceil(min_window_s / chunk_s)))
        p.conv, p.precision = conv, precision
        prepared.append(p)
    rates: list[list[float]] = [[] for _ in prepared]
    for w in range(windows):
        order = list(range(len(prepared)))
        shift = w % len(order)
        for i in order[shift:] + order[:shift]:
            rates[i].append(prepared[i].window(per_window[i]))
    return [dict(p.result(r), conv=p.conv, precision=p.precision, window_steps=n,
                 load_average=common.load_average())
            for p, r, n in zip(prepared, rates, per_window)]


def costs(model: str, convs: list[str]) -> dict:
    """Per conv: XLA's FLOPs of one train step (the `loop` strategy's per-step program,
    see the module doc) and of one forward pass of the batch in training mode; the
    parameter count."""
    import jax
    import jax.numpy as jnp

    from jaxdl import rng
    from jaxdl.data import pipeline
    from jaxdl.training import loop
    from jaxdl.training import step as step_lib
    out = {}
    for conv in convs:
        with cifar_run(model, conv):
            config = cifar_config(model)
            run = loop.build(config)
            data = run.device_data()
            state = run.init(rng.root_key(config.seed))
            one_step = step_lib.make_one_step(run.train_step, config.batch_size)
            epoch = pipeline.Epoch(jnp.arange(data.x.shape[0]), None)  # the gather per step
            step_flops = flops(jax.jit(one_step).lower(state, data, epoch))
            variables = {"params": state.params, **state.model_state}
            forward = jax.jit(lambda v, x: run.model.apply(v, x, train=True,
                                                           mutable=list(state.model_state)))
            forward_flops = flops(forward.lower(variables, data.x[:config.batch_size]))
        out[conv] = {"step_flops": step_flops, "forward_flops": forward_flops,
                     "params": int(sum(leaf.size for leaf in jax.tree.leaves(state.params)))}
    return out


def flops(lowered) -> float:
    """`cost_analysis()["flops"]` of a lowered program, compiled (a list in older jax)."""
    analysis = lowered.compile().cost_analysis()
    if isinstance(analysis, (list, tuple)):
        analysis = analysis[0]
    return float(analysis["flops"])


def backend() -> str:
    import jax
    return jax.default_backend()


def peak_matmul(n: int = PEAK_N, repeats: int = PEAK_REPEATS, dtype: str = "float32") -> dict:
    """Measured matmul FLOP/s: 2 n^3 / the best of `repeats` timed calls of a jitted
    `dtype` (n, n) @ (n, n), after one untimed call that compiles."""
    import jax

    from jaxdl import rng
    a_key, b_key = jax.random.split(rng.purpose_key(rng.root_key(0), rng.MEASURE))
    a, b = (jax.random.normal(k, (n, n), dtype) for k in (a_key, b_key))
    matmul = jax.jit(jax.numpy.matmul)
    jax.block_until_ready(matmul(a, b))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        jax.block_until_ready(matmul(a, b))
        times.append(time.perf_counter() - t)
    device = jax.devices()[0]
    return {"flops_per_s": 2 * n ** 3 / min(times), "n": n, "repeats": repeats, "dtype": dtype,
            "median_flops_per_s": 2 * n ** 3 / common.median(times),
            "device": f"{device.platform}: {device.device_kind}",
            "load_average": common.load_average()}


# ---------------------------------------------------------------- report


def peaks(results: dict) -> dict[str, float]:
    """dtype -> the larger of the peak measured before and after the throughput workers."""
    out: dict[str, float] = {}
    for p in results["peak"]:
        dtype = p.get("dtype", "float32")
        out[dtype] = max(out.get(dtype, 0.0), p["flops_per_s"])
    return out


def table(results: dict) -> str:
    """The markdown table: one row per model x conv x execution x precision; MFU against
    the measured peak of the row's precision."""
    peak = peaks(results)
    rows = []
    for model in results["models"]:
        cost = results["costs"][model]
        model_flops = cost["native"]["step_flops"]
        for row in results["throughput"][model]:
            steps = row["steps_per_s"]
            images = [r * BATCH_SIZE for r in row["rates"]]
            achieved = model_flops * steps
            precision = row.get("precision", "float32")
            rows.append([
                model, row["conv"], row["execution"], precision, row["chunk_size"],
                f"**{steps * BATCH_SIZE:,.0f}**", common.spread(images), f"{1000 / steps:,.1f}",
                f"{row['compile_s']:.1f}", f"{achieved / 1e9:.1f}",
                f"{100 * achieved / peak[precision]:.1f}%", row["load_average"]])
    return common.table(
        ["model", "convolutions", "execution", "precision", "chunk", "images/s", "min–max",
         "ms/step", "compile s", "model GFLOP/s", "MFU", "load avg (worker end)"], rows)


def summary(results: dict) -> str:
    """The lines around the table: peak, per-model FLOPs, the scan/loop ratios."""
    lines = []
    for dtype, best in peaks(results).items():
        measured = [p for p in results["peak"] if p.get("dtype", "float32") == dtype]
        lines.append(
            f"Peak {dtype}: {best / 1e9:,.1f} GFLOP/s measured ({measured[0]['device']}; "
            f"{dtype} {PEAK_N}x{PEAK_N} matmul, best of {PEAK_REPEATS}: "
            + ", ".join(f"{p['flops_per_s'] / 1e9:,.1f} {when} (load {p['load_average']})"
                        for p, when in zip(measured, ("before", "after"))) + ").")
    for model in results["models"]:
        cost, rates = results["costs"][model], {}
        for row in results["throughput"][model]:
            if row.get("precision", "float32") == "float32":
                rates[row["conv"], row["execution"]] = row["steps_per_s"]
        native = cost["native"]
        line = (f"{model}: {native['params']:,} parameters; XLA FLOPs per train step "
                f"{native['step_flops'] / 1e9:.2f} G "
                f"(forward {native['forward_flops'] / 1e9:.2f} G, "
                f"{native['forward_flops'] / BATCH_SIZE / 1e6:.1f} M per image)")
        if "im2col" in cost:
            line += f"; im2col program {cost['im2col']['step_flops'] / 1e9:.2f} G"
        ratios = [f"scan/loop {conv} {rates[conv, 'scan'] / rates[conv, 'loop']:.2f}x"
                  for conv in ("native", "im2col")
                  if (conv, "scan") in rates and (conv, "loop") in rates]
        lines.append(line + (" — " + ", ".join(ratios) if ratios else "") + ".")
    return "\n".join(lines)


# `python -m bench`: the rows that matter at a fraction of the time (no ResNet native `scan`,
# ~20 s a step: cnn2d shows the same scan penalty at ~1 s a step).
BENCH_ROWS = {"resnet": (("native", "loop"), ("im2col", "loop"), ("im2col", "scan")),
              "cnn2d": ROWS}
# On an accelerator: native convolutions (XLA's own are fast there), both strategies, float32
# and bfloat16 compute (config.precision), chunks long enough that dispatch is negligible.
ACCELERATOR_ROWS = {m: tuple((("native", e, p) for p in ("float32", "bfloat16")
                              for e in ("loop", "scan"))) for m in MODELS}
ACCELERATOR_CHUNKS = {"resnet": 100, "cnn2d": 100}


def measure(models=MODELS, quick: bool = False, repeats: int = 5, rows: dict | None = None,
            log=None) -> dict:
    """Peak before, per model the step's FLOPs and the rows' throughput, peak after."""
    log = log or (lambda msg: print(f"[resnet_mfu {time.strftime('%H:%M:%S')} load "
                                    f"{common.load_average()}] {msg}", file=sys.stderr, flush=True))
    accelerator = common.run_worker("bench.resnet_mfu:backend", {}) != "cpu"
    chunks = ACCELERATOR_CHUNKS if accelerator else QUICK_CHUNKS if quick else CHUNKS
    windows = 1 if quick else repeats
    min_window_s = 1.0 if quick else MIN_WINDOW_S
    if accelerator:
        rows = ACCELERATOR_ROWS
    rows = rows or (QUICK_ROWS if quick else {m: ROWS for m in MODELS})
    dtypes = sorted({r[2] if len(r) > 2 else "float32" for m in models for r in rows[m]},
                    key=("float32", "bfloat16").index)
    results = {"machine": common.machine(), "models": list(models), "quick": quick,
               "windows": windows, "costs": {}, "throughput": {}, "peak": []}
    t0 = time.perf_counter()
    log(f"peak matmul (before): {', '.join(dtypes)}")
    results["peak"] += [common.run_worker("bench.resnet_mfu:peak_matmul", dict(dtype=d))
                        for d in dtypes]
    for model in models:
        model_rows = [list(r) for r in rows[model]]
        convs = sorted({row[0] for row in model_rows} | {"native"}, key=("native", "im2col").index)
        log(f"{model}: FLOPs of the compiled step ({', '.join(convs)})")
        results["costs"][model] = common.run_worker("bench.resnet_mfu:costs",
                                                    dict(model=model, convs=convs))
        log(f"{model}: throughput of {len(model_rows)} rows, chunk {chunks[model]}, {windows} windows")
        results["throughput"][model] = common.run_worker(
            "bench.resnet_mfu:throughput",
            dict(model=model, rows=model_rows, chunk_size=chunks[model], windows=windows,
                 min_window_s=min_window_s))
    log(f"peak matmul (after): {', '.join(dtypes)}")
    results["peak"] += [common.run_worker("bench.resnet_mfu:peak_matmul", dict(dtype=d))
                        for d in dtypes]
    results["peak_flops_per_s"] = peaks(results)["float32"]
    results["machine"]["load_average_end"] = common.load_average()
    results["elapsed_s"] = time.perf_counter() - t0
    return results


def main(argv=None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.resnet_mfu",
                                description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5,
                   help="timed windows per row (>= 5 for the record)")
    p.add_argument("--quick", action="store_true",
                   help="smoke run (< 3 min): short chunks, 1 window, fewer rows (QUICK_ROWS)")
    p.add_argument("--models", default=",".join(MODELS), help="comma list of: " + ", ".join(MODELS))
    args = p.parse_args(argv)
    models = [m for m in args.models.split(",") if m]
    unknown = sorted(set(models) - set(MODELS))
    if unknown:
        p.error(f"--models: unknown {unknown}; choose from {', '.join(MODELS)}")
    raw = os.path.join(common.ROOT, "runs", "bench-quick" if args.quick else "bench",
                       "resnet_mfu.json")
    results = measure(models, args.quick, args.repeats)
    results["command"] = "python -m bench.resnet_mfu" + "".join(f" {a}" for a in (argv or sys.argv[1:]))
    os.makedirs(os.path.dirname(raw), exist_ok=True)
    with open(raw, "w") as f:
        json.dump(results, f, indent=1)
    print(f"`{results['command']}` ({results['elapsed_s'] / 60:.1f} min; load average "
          f"{results['machine']['load_average_start']} at start, "
          f"{results['machine']['load_average_end']} at end; "
          f"raw: {os.path.relpath(raw, common.ROOT)})\n")
    print(table(results) + "\n")
    print(summary(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
