"""Where jaxdl's time goes: the phases of a whole `jaxdl train`, the pieces of a step,
and an XLA op-level profile of the compiled step.

    phases(recipe)       one `loop.train` with timers wrapped around its phases
    pieces(recipe)       microseconds per call of each piece of a training step
    op_profile(...)      jax.profiler trace (XLA:CPU thunk trace-me events) of K chunks,
                         summed per HLO op: the device time of one step, by op
Each runs in its own worker process (`bench/worker.py`).
"""
from __future__ import annotations

import collections
import contextlib
import dataclasses
import glob
import inspect
import os
import statistics
import sys
import tempfile
import time

T0 = time.perf_counter()


def _timed(totals: dict, name: str, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - t
    return wrapper


def phases(recipe: str, hide_torch: bool = True, variant: str = "", steps: int = 0,
           execution: str = "") -> dict:
    """Wall seconds of each phase of `loop.train` on `recipe` (cache as configured by env)."""
    if hide_torch:
        sys.modules["torch"] = None
    t_import = time.perf_counter()
    import jax
    from jaxdl.training import loop
    from jaxdl.training import workdir as workdir_lib
    from bench import execution as execution_lib
    from bench import variants
    totals: dict[str, float] = {"import jax + jaxdl": time.perf_counter() - t_import}
    if variant:
        variants.apply(variant)
    config = execution_lib.recipe_config(recipe)
    if steps:
        config.steps = steps
    if execution:
        config.execution = execution
    build, data_load = loop.build, loop.data_lib.load
    loop.data_lib.load = _timed(totals, "data (MNIST-1D: import + generate, or read the cache)", data_load)
    chunk_count = {"n": 0}

    def timed_build(config):
        t = time.perf_counter()
        run = build(config)
        totals["build (validate, trace shapes)"] = (time.perf_counter() - t
                                                    - totals["data (MNIST-1D: import + generate, or read the cache)"])
        inner = run.train_chunk

        def train_chunk(state, data, length):
            t = time.perf_counter()
            state, metrics = inner(state, data, length)
            metrics = jax.device_get(metrics)  # the driver's own device_get then costs ~0
            name = "first chunk (compile + 100 steps)" if chunk_count["n"] == 0 else "train chunks"
            chunk_count["n"] += 1
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - t
            return state, metrics
        return dataclasses.replace(run, train_chunk=train_chunk,
                                   init=_timed(totals, "init state (compile + run)", run.init))

    loop.build = timed_build
    from jaxdl.training import step as step_lib
    step_lib.params_finite = _timed(totals, "NaN check of params (eager ops)", step_lib.params_finite)
    for name, label in (("open_workdir", "open workdir (checkpoint manager, resume check)"),
                        ("eval_sets", "eval sets to device")):
        if hasattr(loop, name):
            setattr(loop, name, _timed(totals, label, getattr(loop, name)))
    loop.evaluate = _timed(totals, "evaluate (incl. its compile)", loop.evaluate)
    checkpoints = getattr(loop, "checkpoint_lib", None)
    if checkpoints is not None and hasattr(checkpoints, "Checkpoints"):
        for method in ("save", "wait", "close"):
            if hasattr(checkpoints.Checkpoints, method):
                setattr(checkpoints.Checkpoints, method,
                        _timed(totals, "checkpoints (save/wait)",
                               getattr(checkpoints.Checkpoints, method)))
    if hasattr(workdir_lib, "MetricsLog"):
        workdir_lib.MetricsLog.__init__ = _timed(totals, "metrics log open (tensorboardX import)",
                                                 workdir_lib.MetricsLog.__init__)
    with tempfile.TemporaryDirectory() as tmp:
        t = time.perf_counter()
        result = loop.train(config, f"{tmp}/run", progress=False)
        total = time.perf_counter() - t
    open_label = "open workdir (checkpoint manager, resume check)"
    if open_label in totals:  # exclusive of the init it calls
        totals[open_label] -= totals.get("init state (compile + run)", 0.0)
    accounted = sum(v for k, v in totals.items() if k != "import jax + jaxdl")
    totals["other (driver, progress, files)"] = total - accounted
    return {"phases": totals, "train_total_s": total, "steps": config.steps,
            "test_accuracy": result["test"].get("accuracy")}


def _per_call_us(fn, *args, calls: int = 200, repeats: int = 5) -> float:
    import jax
    jax.block_until_ready(fn(*args))
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        for _ in range(calls):
            out = fn(*args)
        jax.block_until_ready(out)
        times.append((time.perf_counter() - t) / calls * 1e6)
    return statistics.median(times)


def pieces(recipe: str) -> dict:
    """Microseconds per call of the pieces of one jaxdl training step (after compilation)."""
    import jax
    import jax.numpy as jnp
    from bench import execution
    from jaxdl import rng
    from jaxdl.data import pipeline
    from jaxdl.training import loop
    from jaxdl.training import step as step_lib

    config = execution.recipe_config(recipe)
    run = loop.build(config)
    data = run.device_data() if hasattr(run, "device_data") else pipeline.to_device(run.dataset)
    state = run.init(rng.root_key(0))
    bs, n = config.batch_size, data.x.shape[0]
    key = rng.purpose_key(state.key, rng.DATA_ORDER)
    out: dict[str, float] = {}
    out["dispatch: jitted no-op step on the TrainState"] = _per_call_us(
        jax.jit(lambda s: s.replace(step=s.step + 1)), state)
    out["batch order: pipeline.batch_indices (a 4000-permutation)"] = _per_call_us(
        jax.jit(lambda k, s: pipeline.batch_indices(k, s, n, bs)), key, state.step)
    out["  of which: sort of 4000 uint32 (XLA:CPU)"] = _per_call_us(
        jax.jit(jnp.argsort), jax.random.bits(key, (n,)))
    idx = jnp.arange(bs)
    out["batch gather: take 100 rows by index"] = _per_call_us(
        jax.jit(lambda d, i: (jnp.take(d.x, i, axis=0), jnp.take(d.y, i, axis=0))), data, idx)
    train_step = step_lib.make_train_step(run.model, run.optimizer, config.loss, True)
    batch = (data.x[:bs], data.y[:bs])
    out["train_step, fixed batch, one jitted call per step"] = _per_call_us(
        jax.jit(train_step), state, batch)
    n_scan = 200

    @jax.jit
    def scanned(state, batch):
        return jax.lax.scan(lambda s, _: train_step(s, batch), state, length=n_scan)
    out["train_step, fixed batch, inside lax.scan (per step)"] = _per_call_us(
        scanned, state, batch, calls=3) / n_scan
    old_step = jax.jit(lambda s, d: train_step(s, (lambda idx: (
        jnp.take(d.x, idx, axis=0), jnp.take(d.y, idx, axis=0)))(pipeline.batch_indices(
            rng.purpose_key(s.key, rng.DATA_ORDER), s.step, n, bs))))
    out["step before 18785c5: fresh permutation + gather + train_step, one call"] = _per_call_us(
        old_step, state, data)
    one_step = jax.jit(step_lib.make_one_step(train_step, bs))
    epoch = pipeline.epoch_at(data, rng.purpose_key(state.key, rng.DATA_ORDER), state.step, bs)

    def steps_at_head(count: int = 200):  # successive steps: the epoch-start recompute amortised
        s, o = state, epoch
        for _ in range(count):
            (s, metrics), o = one_step(s, data, o)
        return metrics
    out["step at HEAD: carried order + gather + train_step, per step (amortised)"] = _per_call_us(
        steps_at_head, calls=1) / 200
    history = [{"loss": jnp.float32(i), "accuracy": jnp.float32(i)} for i in range(100)]
    jax.block_until_ready(history)
    out["per chunk: jnp.stack of 100 steps' metrics (eager)"] = _per_call_us(
        lambda: jax.tree.map(lambda *xs: jnp.stack(xs), *history), calls=20)
    from bench import variants
    out["per chunk: params_finite, eager ops (before 18785c5)"] = _per_call_us(
        variants.params_finite_eager, state.params, calls=50)
    out["per chunk: params_finite, jitted (HEAD)"] = _per_call_us(
        step_lib.params_finite, state.params, calls=50)
    first_param = next(iter(inspect.signature(loop.eval_sets).parameters))
    sets = loop.eval_sets(run) if first_param == "run" else loop.eval_sets(config, run.dataset)
    t = time.perf_counter()
    jax.block_until_ready([run.evaluate(state, *arrays) for arrays in sets.values()])
    out["evaluate train+test, first call (compile)"] = (time.perf_counter() - t) * 1e6
    out["evaluate train+test, steady"] = _per_call_us(
        lambda: [run.evaluate(state, *arrays) for arrays in sets.values()], calls=5)
    return out


def op_profile(recipe: str, execution: str = "loop", variant: str = "", chunks: int = 3,
               top: int = 12) -> dict:
    """Device time per step by HLO op (XLA:CPU thunk trace-me events), from a jax.profiler
    trace of `chunks` chunks of 100 steps. Needs XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true.
    Times are summed over XLA's threads (2 on this machine), so they add up to more than
    the wall time of a step when ops run in parallel."""
    import jax
    from bench import execution as execution_lib
    from bench import variants
    from jaxdl import rng
    from jaxdl.training import loop

    with variants.applied(variant):
        config = execution_lib.recipe_config(recipe)
        config.execution = execution
        run = loop.build(config)
        data = run.device_data()
        state = run.init(rng.root_key(0))
        for _ in range(2):
            state, metrics = run.train_chunk(state, data, 100)
            jax.device_get(metrics)
        with tempfile.TemporaryDirectory() as tmp:
            t = time.perf_counter()
            with jax.profiler.trace(tmp):
                for _ in range(chunks):
                    state, metrics = run.train_chunk(state, data, 100)
                    jax.device_get(metrics)
            wall = time.perf_counter() - t
            path = glob.glob(os.path.join(tmp, "**", "*.xplane.pb"), recursive=True)[0]
            profile = jax.profiler.ProfileData.from_file(path)
    per_op: collections.Counter = collections.Counter()
    for plane in profile.planes:
        for line in plane.lines:
            if line.name == "python" or "PjRt" in line.name:
                continue
            for event in line.events:
                if not event.name.startswith("ThunkExecutor"):
                    per_op[event.name] += event.duration_ns
    steps = chunks * 100
    total = sum(per_op.values()) / 1e3 / steps
    return {"recipe": recipe, "execution": run.execution, "variant": variant,
            "wall_us_per_step_traced": wall / steps * 1e6, "op_us_per_step": total,
            "top": [(name, ns / 1e3 / steps) for name, ns in per_op.most_common(top)]}
