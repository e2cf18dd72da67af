"""A pytest plugin for bench/test_suite.py: the seconds XLA spends compiling during each test,
written per worker process to $JAXDL_BENCH_COMPILE_LOG/<worker>.json at the session's end."""
from __future__ import annotations

import collections
import json
import os

import pytest

_EVENT = "/jax/core/compile/backend_compile_duration"
_seconds: collections.Counter = collections.Counter()
_current = ["(outside a test)"]


def _listen(event: str, duration: float, **_: object) -> None:
    if event == _EVENT:
        _seconds[_current[0]] += duration


def pytest_configure(config) -> None:
    import jax.monitoring
    jax.monitoring.register_event_duration_secs_listener(_listen)


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
            json.dump(dict(_seconds), f)
