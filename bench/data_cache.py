"""A disk cache for jaxdl's MNIST-1D arrays (the `data_cache` candidate; imports no jax).

`install()` wraps `jaxdl.data.mnist1d._generate` so that the arrays of each set of
generator options are read from `$JAXDL_BENCH_DATA_CACHE/mnist1d-<hash>.npz`
(default ~/.cache/jaxdl-bench) after the first process made them. The generator is
seeded, so the cached arrays are exactly the ones it makes; the hash covers the
options and the mnist1d version.
"""
from __future__ import annotations

import hashlib
import os
from importlib import metadata

import numpy as np


def _cached(generate):
    from jaxdl.data import _util

    def cached(options):
        key = hashlib.sha256(repr((options, metadata.version("mnist1d"))).encode()).hexdigest()[:16]
        directory = os.environ.get("JAXDL_BENCH_DATA_CACHE",
                                   os.path.join(os.path.expanduser("~"), ".cache", "jaxdl-bench"))
        path = os.path.join(directory, f"mnist1d-{key}.npz")
        if os.path.exists(path):
            with np.load(path) as f:
                return {k: _util.frozen(f[k]) for k in f.files}
        arrays = generate(options)
        os.makedirs(directory, exist_ok=True)
        tmp = f"{path}.{os.getpid()}.tmp.npz"
        np.savez(tmp, **arrays)
        os.replace(tmp, path)
        return arrays
    cached.uncached = generate
    return cached


def install() -> None:
    from jaxdl.data import mnist1d
    if not hasattr(mnist1d._generate, "uncached"):
        mnist1d._generate = _cached(mnist1d._generate)


def uninstall() -> None:
    from jaxdl.data import mnist1d
    mnist1d._generate = getattr(mnist1d._generate, "uncached", mnist1d._generate)
