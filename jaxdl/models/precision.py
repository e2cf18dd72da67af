"""Mixed precision around any model: float32 params, bfloat16 compute.

    config.precision = "bfloat16"    # jaxdl train --config.precision=bfloat16

`MixedPrecision(model)` is the model with `apply` computing in bfloat16: the float params
and float inputs are cast to bfloat16 on the way in, the float outputs (logits, and any
updated state such as batch-norm statistics) cast back to float32 on the way out. So
params, optimizer state, checkpoints and the loss stay float32, and the gradient of the
float32 params flows back through the casts (the usual "bf16 compute, f32 master weights"
recipe, as in jmp or big_vision's `dtype` options, without a `dtype` field on every model).
Integer inputs (token ids, uint8 pixels) are left to the model's own conversion.

Why: on GPUs and TPUs bfloat16 matmuls and convolutions run several times faster than
float32 ones and move half the bytes; on CPU they are usually slower (measure first).
"""
from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

__all__ = ["cast_floating", "MixedPrecision", "apply_policy", "unwrap"]


def cast_floating(tree: Any, dtype: Any) -> Any:
    """Every floating leaf of `tree` as `dtype`; other leaves unchanged."""
    return jax.tree.map(
        lambda a: a.astype(dtype) if hasattr(a, "dtype") and jnp.issubdtype(a.dtype, jnp.floating)
        else a, tree)


class MixedPrecision:
    """`model` with its `apply` computed in `dtype`; everything else is the model's own."""

    def __init__(self, model: Any, dtype: Any = jnp.bfloat16):
        self.model, self.dtype = model, jnp.dtype(dtype)

    def __getattr__(self, name: str) -> Any:  # fields, methods, `init`: the model's
        return getattr(self.model, name)

    def apply(self, variables: dict, *args: Any, **kwargs: Any) -> Any:
        variables = {**variables}
        if "params" in variables:
            variables["params"] = cast_floating(variables["params"], self.dtype)
        out = self.model.apply(variables, *cast_floating(args, self.dtype), **kwargs)
        return cast_floating(out, jnp.float32)

    def __hash__(self) -> int:
        return hash((self.model, self.dtype))

    def __eq__(self, other: Any) -> bool:
        return (isinstance(other, MixedPrecision) and other.model == self.model
                and other.dtype == self.dtype)

    def __repr__(self) -> str:
        return f"MixedPrecision({self.model!r}, {self.dtype})"


def apply_policy(model: Any, precision: str) -> Any:
    """The model that config.precision (one of config.PRECISIONS, validated there) asks
    for: `float32` is the model itself."""
    return model if precision == "float32" else MixedPrecision(model, precision)


def unwrap(model: Any) -> Any:
    """The flax module inside (for type checks)."""
    return model.model if isinstance(model, MixedPrecision) else model
