"""A pytest plugin for bench/test_suite.py: what XLA compiles during each test, written per
worker process to $JAXDL_BENCH_COMPILE_LOG/<worker>.json at the session's end:

- "per_test": {test: seconds of XLA compiling} (jax's backend-compile events);
- with $JAXDL_BENCH_PROGRAMS=1 (`python -m bench.test_suite --programs`; it slows the run:
  every program's IR is printed), "programs": [[name, exact, constants, seconds]] for every
  program jax asked for (`compile_or_get_cached`: a compile, or a read from the persistent
  cache): hashes of its IR without debug info (what the cache key hashes) and of that IR
  with every literal constant blanked — the programs that would be one if hyperparameters
  (a learning rate, a step count in a schedule) were run-time values.
"""
from __future__ import annotations

import collections
import hashlib
import json
import os
import re
import time

import pytest

_EVENT = "/jax/core/compile/backend_compile_duration"
_seconds: collections.Counter = collections.Counter()
_programs: list[list] = []
_current = ["(outside a test)"]
_CONSTANT = re.compile(r"dense<[^>]*>")


def _listen(event: str, duration: float, **_: object) -> None:
    if event == _EVENT:
        _seconds[_current[0]] += duration


def _digest(text: str) -> str:
    return hashlib.sha1(text.encode()).hexdigest()[:16]


def _log_programs() -> None:
    """Wrap jax's compile_or_get_cached (private; skipped where a jax lacks it)."""
    try:
        from jax._src import compiler
        from jax._src.lib.mlir import passmanager
    except ImportError:
        return
    original = getattr(compiler, "compile_or_get_cached", None)
    if original is None or hasattr(original, "__wrapped__"):  # absent, or logged already
        return

    def logged(backend, module, *args, **kwargs):
        start = time.perf_counter()
        out = original(backend, module, *args, **kwargs)
        seconds = time.perf_counter() - start
        with module.context:
            stripped = module.operation.clone()
            passmanager.PassManager.parse("builtin.module(strip-debuginfo)").run(stripped)
            text = str(stripped)
        name = str(module.operation.attributes["sym_name"]).strip('"')
        _programs.append([name, _digest(text), _digest(_CONSTANT.sub("dense<C>", text)),
                          seconds])
        return out

    logged.__wrapped__ = original
    compiler.compile_or_get_cached = logged


def pytest_configure(config) -> None:
    import jax.monitoring
    jax.monitoring.register_event_duration_secs_listener(_listen)
    if os.environ.get("JAXDL_BENCH_PROGRAMS") == "1":
        _log_programs()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _current[0] = item.nodeid
    yield
    _current[0] = "(outside a test)"


def pytest_sessionfinish(session) -> None:
    directory = os.environ.get("JAXDL_BENCH_COMPILE_LOG")
    if directory:
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        with open(os.path.join(directory, f"{worker}.json"), "w") as f:
            json.dump({"per_test": dict(_seconds), "programs": _programs}, f)
