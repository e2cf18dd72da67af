"""Flax linen models, looked up by name.

Every model is an ``nn.Module`` dataclass whose fields (besides
``num_outputs``) *are* the config section ``config.model``; the dataclass is
the single place where a model's options and defaults live. Every model is
called as ``model.apply(variables, x, train=bool, rngs=...)`` and returns
logits of shape (batch, num_outputs).

        >>> from jaxdl import models
        >>> model = models.build("cnn1d", num_outputs=10)
"""
from __future__ import annotations

import dataclasses
import importlib
from typing import Any

import flax.linen as nn

from jaxdl.models.layers import OptionError  # noqa: F401 - raised by check()

# name -> (module, class); registries by module name, as in big_vision.
REGISTRY = {
        "mlp": ("mlp", "MLP"),
        "cnn1d": ("cnn", "CNN1D"),
        "cnn2d": ("cnn", "CNN2D"),
        "gru": ("recurrent", "GRU"),
        "resnet": ("resnet", "ResNet"),
        "vit": ("vit", "ViT"),
}
_FLAX_FIELDS = {"parent", "name", "num_outputs"}


def model_class(name: str) -> type[nn.Module]:
    """The class registered as ``name``, imported on first use."""
    if name not in REGISTRY:
        raise KeyError(f"unknown model {name!r}; choose one of {', '.join(REGISTRY)}")
    module, cls = REGISTRY[name]
    return getattr(importlib.import_module(f"jaxdl.models.{module}"), cls)


def defaults(name: str) -> dict[str, Any]:
    """The options of model ``name`` with their default values."""
    return {f.name: f.default for f in dataclasses.fields(model_class(name))
                    if f.name not in _FLAX_FIELDS and f.init}


def check(name: str, options: dict[str, Any],
          input_shape: tuple[int, ...] | None = None) -> None:
    """Raise ``layers.OptionError`` (its ``key`` an option of model ``name``) for the first
    option not allowed; with ``input_shape`` (one example, no batch axis) also shape
    rules, e.g. a convolution longer than its input. Nothing is traced."""
    module, _ = REGISTRY[name]
    importlib.import_module(f"jaxdl.models.{module}").check(options, input_shape)


def build(name: str, num_outputs: int, **options: Any) -> nn.Module:
    """Model ``name`` with ``options`` overriding its defaults."""
    unknown = sorted(set(options) - set(defaults(name)))
    if unknown:
        raise TypeError(f"unknown options {unknown} for model {name!r}; "
                        f"choose from {', '.join(defaults(name))}")
    return model_class(name)(num_outputs=num_outputs, **options)
