"""Where jaxdl's time goes: the phases of a whole `jaxdl train` and an XLA op-level
profile of the compiled step.

    phases(recipe)       one `loop.train` with timers wrapped around its phases
    op_profile(...)      jax.profiler trace (XLA:CPU thunk trace-me events) of K chunks,
                         summed per HLO op: the device time of one step, by op
Each runs in its own worker process (`bench/worker.py`).
"""
from __future__ import annotations

import collections
import dataclasses
import glob
import os
import sys
import tempfile
import time

def _timed(totals: dict, name: str, fn):
    def wrapper(*args, **kwargs):
        t = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            totals[name] = totals.get(name, 0.0) + time.perf_counter() - t
    return wrapper


def phases(recipe: str, hide_torch: bool = True, steps: int = 0, execution: str = "") -> dict:
    """Wall seconds of each phase of `loop.train` on `recipe` (cache as configured by env)."""
    if hide_torch:
        sys.modules["torch"] = None
    t_import = time.perf_counter()
    import jax
    from jaxdl import data as data_lib
    from jaxdl.training import loop
    from jaxdl.training import workdir as workdir_lib
    from bench import execution as execution_lib
    totals: dict[str, float] = {"import jax + jaxdl": time.perf_counter() - t_import}
    config = execution_lib.recipe_config(recipe)
    if steps:
        config.steps = steps
    if execution:
        config.execution = execution
    build, data_load = loop.build, data_lib.load
    data_lib.load = _timed(totals, "data (MNIST-1D: import + generate, or read the cache)", data_load)
    chunk_count = {"n": 0}

    def timed_build(config, **options):
        t = time.perf_counter()
        run = build(config, **options)
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
    step_lib.params_finite = _timed(totals, "NaN check of params (one jitted call)", step_lib.params_finite)
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
        workdir_lib.MetricsLog.__init__ = _timed(totals, "metrics log open",
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


def op_profile(recipe: str, execution: str = "loop", chunks: int = 3, top: int = 12) -> dict:
    """Device time per step by HLO op (XLA:CPU thunk trace-me events), from a jax.profiler
    trace of `chunks` chunks of 100 steps. Needs XLA_FLAGS=--xla_cpu_enable_xprof_traceme=true.
    Times are summed over XLA's threads (2 on this machine), so they add up to more than
    the wall time of a step when ops run in parallel."""
    import jax
    from bench import execution as execution_lib
    from jaxdl import rng
    from jaxdl.training import loop

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
    return {"recipe": recipe, "execution": run.execution,
            "wall_us_per_step_traced": wall / steps * 1e6, "op_us_per_step": total,
            "top": [(name, ns / 1e3 / steps) for name, ns in per_op.most_common(top)]}
