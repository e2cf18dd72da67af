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

Besides its source's options, every ``config.data`` holds the input options
(`INPUT_OPTIONS`): where the training batches come from — the training set on the
device (`jaxdl.data.pipeline`) or streamed from the host (`jaxdl.data.stream`) — with
the same batch at every step either way.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import numpy as np

from jaxdl.registry import Registry, require, signature_options

__all__ = ["Dataset", "SOURCES", "INPUT_OPTIONS", "PLACEMENTS", "register", "source",
           "defaults", "section_defaults", "source_options", "check_input", "load"]

# Built-ins by import path, imported on first use.
SOURCES = Registry("data source", {name: f"jaxdl.data.{name}:load" for name in
                                   ("mnist1d", "sphere", "teacher", "digits", "tfds", "modular")})
register = SOURCES.register

PLACEMENTS = ("auto", "device", "stream")
# How the training batches are fed, the same for every source (not its options):
#   placement: device = the training set on every device, batches gathered there;
#     stream = read on the host by grain, each process only its part of each batch;
#     auto = device when the training arrays take at most device_budget_mb, else stream.
#   workers: grain worker processes that read (and decode) when streaming; 0 = in the
#     main process. The batches do not depend on it.
#   prefetch: chunks of batches read ahead while the device computes.
INPUT_OPTIONS = {"placement": "auto", "device_budget_mb": 1024, "workers": 0, "prefetch": 2}


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


def section_defaults(name: str) -> dict[str, Any]:
    """The keys of a ``config.data`` of source ``name`` with their defaults: the source's
    options, then the input options (`INPUT_OPTIONS`)."""
    options = defaults(name)
    clash = options.keys() & INPUT_OPTIONS.keys()
    if clash:
        raise ValueError(f"data source {name!r}: option {sorted(clash)[0]!r} is reserved "
                         f"for the input pipeline ({', '.join(INPUT_OPTIONS)})")
    return {**options, **INPUT_OPTIONS}


def source_options(options: dict[str, Any]) -> dict[str, Any]:
    """The source's own options among a ``config.data``'s keys (less the input options)."""
    return {k: v for k, v in options.items() if k not in INPUT_OPTIONS}


def check_input(section: Any) -> None:
    """The rules of a ``config.data``'s input options: OptionError naming the key."""
    require(section.placement in PLACEMENTS, "placement",
            f"must be one of {', '.join(map(repr, PLACEMENTS))}", section.placement)
    require(section.device_budget_mb >= 0, "device_budget_mb", "must be >= 0",
            section.device_budget_mb)
    require(section.workers >= 0, "workers", "must be >= 0 (0: read in the main process)",
            section.workers)
    require(section.prefetch >= 1, "prefetch", "must be >= 1", section.prefetch)


def load(name: str, **options: Any) -> Dataset:
    """Dataset of source `name` with `options` (see `defaults(name)`); bad values raise ValueError."""
    return source(name)(**source_options(options))
