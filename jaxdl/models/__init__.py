"""Flax linen models, looked up by name.

Every model is an ``nn.Module`` dataclass whose fields (besides
``num_outputs``) *are* the config section ``config.model``; the dataclass is
the single place where a model's options and defaults live. Every model is
called as ``model.apply(variables, x, train=bool, rngs=...)`` and returns
logits of shape (batch, num_outputs). A model may declare its rules on its
options as ``check(options, input_shape)``: a static/class method, or a function
of its module (as the built-ins do).

        >>> from jaxdl import models
        >>> model = models.build("cnn1d", num_outputs=10)

Your own model joins the same way (then ``--config.model.name=rescnn`` works):

        @models.register("rescnn")
        class ResCNN(nn.Module):
            num_outputs: int
            width: int = 32          # config.model.width
"""
from __future__ import annotations

import dataclasses
from typing import Any, Callable

import flax.linen as nn

from jaxdl.models.layers import OptionError  # noqa: F401 - raised by check()
from jaxdl.registry import Registry, rule_of

__all__ = ["REGISTRY", "register", "model_class", "defaults", "check", "build", "apply",
           "OptionError"]

# Built-ins by import path, imported on first use (as in big_vision).
REGISTRY = Registry("model", {
        "mlp": "jaxdl.models.mlp:MLP",
        "cnn1d": "jaxdl.models.cnn:CNN1D",
        "cnn2d": "jaxdl.models.cnn:CNN2D",
        "gru": "jaxdl.models.recurrent:GRU",
        "resnet": "jaxdl.models.resnet:ResNet",
        "vit": "jaxdl.models.vit:ViT",
})
register = REGISTRY.register
_FLAX_FIELDS = {"parent", "name", "num_outputs"}


def model_class(name: str) -> type[nn.Module]:
    """The class registered as ``name``, imported on first use."""
    return REGISTRY.get(name)


def defaults(name: str) -> dict[str, Any]:
    """The options of model ``name`` with their default values."""
    return {f.name: f.default for f in dataclasses.fields(model_class(name))
                    if f.name not in _FLAX_FIELDS and f.init}


def check(name: str, options: dict[str, Any],
          input_shape: tuple[int, ...] | None = None) -> None:
    """Raise ``layers.OptionError`` (its ``key`` an option of model ``name``) for the first
    option not allowed; with ``input_shape`` (one example, no batch axis) also shape
    rules, e.g. a convolution longer than its input. Nothing is traced."""
    rule = rule_of(model_class(name))
    if rule is not None:
        rule(options, input_shape)




def build(name: str, num_outputs: int, **options: Any) -> nn.Module:
    """Model ``name`` with ``options`` overriding its defaults."""
    unknown = sorted(set(options) - set(defaults(name)))
    if unknown:
        raise TypeError(f"unknown options {unknown} for model {name!r}; "
                        f"choose from {', '.join(defaults(name))}")
    return model_class(name)(num_outputs=num_outputs, **options)


def apply(model: nn.Module, params: Any, model_state: Any, x: Any, *, train: bool,
          key: Any = None) -> tuple[Any, Any]:
    """(outputs, updated model state) of `model` on `x`: batch-norm statistics change only
    in training; `key` draws dropout."""
    variables = {"params": params, **model_state}
    rngs = {"dropout": key} if key is not None else {}
    if train and model_state:
        outputs, new_state = model.apply(variables, x, train=True, rngs=rngs,
                                         mutable=list(model_state))
        return outputs, dict(new_state)
    return model.apply(variables, x, train=train, rngs=rngs), model_state
