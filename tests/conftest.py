"""Shared fixtures: small, fast configs on the offline default data."""
from __future__ import annotations

import os

import pytest

# Tests must never touch the network: tfds and friends are told so too.
os.environ.setdefault("NO_GCE_CHECK", "true")


@pytest.fixture
def small_config():
    """The default recipe shortened: 200 steps of the MNIST-1D CNN."""
    from jaxdl import config as config_lib
    c = config_lib.default()
    c.steps = 200
    c.eval_every = 100
    c.chunk_size = 50
    return c
