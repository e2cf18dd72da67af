"""Shared fixtures: small, fast configs on the offline default data."""
from __future__ import annotations

import os

import pytest

# Tests must never touch the network: tfds and friends are told so too.
os.environ.setdefault("NO_GCE_CHECK", "true")


def pytest_configure(config):
    """XLA's persistent compilation cache for every test, not only those that build a run
    (which switches it on): otherwise whether a test's programs are cached depends on
    which tests ran before it in the same worker, and tests that call models directly
    (gradcheck, models, probes) compile everything again on every run. Same executables,
    same bits; `JAXDL_COMPILATION_CACHE=` (empty) turns it off as for any run."""
    from jaxdl.training import build
    build.enable_compilation_cache()


@pytest.fixture
def small_config():
    """The default recipe shortened: 200 steps of the MNIST-1D CNN."""
    from jaxdl import config as config_lib
    c = config_lib.default()
    c.steps = 200
    c.eval_every = 100
    c.chunk_size = 50
    return c
