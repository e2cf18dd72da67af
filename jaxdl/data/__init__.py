"""Datasets, one module per source, looked up by name.

Every source is a function ``load(**options) -> Dataset``; its keyword
arguments *are* the config section ``config.data`` (besides ``name``), so the
signature is the single place where a source's options and defaults live.

        >>> from jaxdl import data
        >>> ds = data.load("mnist1d")            # the published MNIST-1D arrays
        >>> ds.x_train.shape, ds.num_classes
        ((4000, 40), 10)

Your own source joins the same way (then ``--config.data.name=moons`` works):

        @data.register("moons")
        def load(n: int = 1000, noise: float = 0.1, seed: int = 0) -> data.Dataset: ...
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from jaxdl.registry import Registry, signature_options

__all__ = ["Dataset", "SOURCES", "register", "source", "defaults", "load"]

# Built-ins by import path, imported on first use.
SOURCES = Registry("data source", {name: f"jaxdl.data.{name}:load" for name in
                                   ("mnist1d", "sphere", "teacher", "digits", "tfds")})
register = SOURCES.register


@dataclasses.dataclass(frozen=True)
class Dataset:
    """Arrays of one dataset, held on the host as numpy.

    ``y_*`` are int32 class ids when ``num_classes > 0`` and float32 regression
    targets of shape (n, k) when ``num_classes == 0``.
    """
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    num_classes: int
    name: str

    @property
    def num_outputs(self) -> int:
        return self.num_classes or int(self.y_train.shape[-1])


def source(name: str) -> Callable[..., Dataset]:
    """The ``load`` function of data source ``name``."""
    return SOURCES.get(name)


def defaults(name: str) -> dict[str, Any]:
    """The options of source ``name`` with their default values."""
    return signature_options(source(name))


def load(name: str, **options: Any) -> Dataset:
    """Dataset of source `name` with `options` (see `defaults(name)`); bad values raise ValueError."""
    return source(name)(**options)
