"""Pieces shared by the models: activations, initialisers, layers, input shapes.

Each idea lives here once so that every model reads the same config options
(``activation``, ``weight_init``, ``init_scale``) the same way. The
initialiser option is ``weight_init`` because a field called ``init`` would
shadow ``nn.Module.init``.
"""
from __future__ import annotations

from typing import Callable, Sequence

import math

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.registry import OptionError, require  # noqa: F401 - the models' checks raise it

__all__ = ["ACTIVATIONS", "INITS", "BATCH_NORM_MOMENTUM", "BATCH_NORM_EPSILON", "activation",
           "kernel_init", "fan_in_uniform", "dense", "Dense", "conv", "Conv", "conv_patches", "batch_norm", "as_float",
           "flatten", "as_sequence", "as_image", "as_spatial", "spatial_ndim",
           "global_average_pool", "conv_stack", "check_choice", "check_int", "check_ints",
           "check_common", "check_conv_stack", "spatial_of"]

Array = jax.Array
Initializer = Callable[..., Array]

ACTIVATIONS: dict[str, Callable[[Array], Array]] = {
    "relu": nn.relu,
    "gelu": nn.gelu,
    "tanh": jnp.tanh,
    "sigmoid": nn.sigmoid,
    "silu": nn.silu,
    "elu": nn.elu,
    "leaky_relu": nn.leaky_relu,
    "identity": lambda x: x,
}
INITS = ("lecun", "glorot", "he", "normal", "torch")

# PyTorch's default (momentum 0.1 there, 0.9 here): flax's 0.99 makes the
# running statistics lag badly behind the short runs typical of this codebase.
BATCH_NORM_MOMENTUM = 0.9
BATCH_NORM_EPSILON = 1e-5


def activation(name: str) -> Callable[[Array], Array]:
    """The elementwise nonlinearity called ``name``."""
    check_choice("activation", name, tuple(ACTIVATIONS))
    return ACTIVATIONS[name]


def kernel_init(name: str, scale: float = 1.0) -> Initializer:
    """A weight initialiser whose standard deviation is multiplied by ``scale``.

    'lecun' (var 1/fan_in), 'glorot' (var 2/(fan_in+fan_out)) and 'he'
    (var 2/fan_in) are untruncated normals, so the variance is exactly the
    formula times ``scale**2``; 'normal' is N(0, scale**2) regardless of fan.
    'torch' is PyTorch's default for nn.Linear and nn.Conv (kaiming_uniform with
    a = sqrt(5)): U(-scale/sqrt(fan_in), scale/sqrt(fan_in)), var 1/(3 fan_in); with
    it `dense` and 1-D `conv` also draw their biases as PyTorch does (`fan_in_uniform`).
    Fans count the receptive field, so the same names work for convolutions.
    """
    check_choice("init", name, INITS)
    variance = scale ** 2
    if name == "lecun":
        return nn.initializers.variance_scaling(variance, "fan_in", "normal")
    if name == "glorot":
        return nn.initializers.variance_scaling(variance, "fan_avg", "normal")
    if name == "he":
        return nn.initializers.variance_scaling(2.0 * variance, "fan_in", "normal")
    if name == "torch":
        return nn.initializers.variance_scaling(variance / 3.0, "fan_in", "uniform")
    return nn.initializers.normal(stddev=scale)


def fan_in_uniform(fan_in: int, scale: float = 1.0) -> Initializer:
    """U(-scale/sqrt(fan_in), scale/sqrt(fan_in)): PyTorch's default bias of nn.Linear and
    nn.Conv, which depends on the layer's fan-in (its input width times the kernel's taps)."""
    bound = scale / math.sqrt(fan_in)
    return lambda key, shape, dtype=jnp.float32: jax.random.uniform(key, shape, dtype,
                                                                      -bound, bound)


def dense(features: int, init: str, scale: float, use_bias: bool = True,
          name: str | None = None) -> nn.Dense:
    """A Dense layer with the chosen kernel init and zero bias ('torch': PyTorch's bias,
    `Dense`)."""
    if init == "torch":
        return Dense(features, use_bias=use_bias, kernel_init=kernel_init(init, scale),
                     fan_in_bias=scale, name=name)
    return nn.Dense(features, use_bias=use_bias, kernel_init=kernel_init(init, scale),
                    bias_init=nn.initializers.zeros, name=name)


class Dense(nn.Dense):
    """`nn.Dense` (named Dense_i, the same params and math) whose bias, with `fan_in_bias`
    s > 0, starts at U(-s/sqrt(fan_in), s/sqrt(fan_in)): its init needs the input's width,
    which flax's bias_init is not given. At 0 it is `nn.Dense`."""
    fan_in_bias: float = 0.0

    @nn.compact
    def __call__(self, inputs: jax.Array) -> jax.Array:
        if not self.fan_in_bias:
            return super().__call__(inputs)
        fan_in = inputs.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (fan_in, self.features),
                            self.param_dtype)
        bias = (self.param("bias", fan_in_uniform(fan_in, self.fan_in_bias), (self.features,),
                           self.param_dtype) if self.use_bias else None)
        inputs, kernel, bias = nn.dtypes.promote_dtype(inputs, kernel, bias, dtype=self.dtype)
        y = jax.lax.dot_general(inputs, kernel, (((inputs.ndim - 1,), (0,)), ((), ())),
                                precision=self.precision)
        return y if bias is None else y + bias


def conv(features: int, kernel_size: int, ndim: int, stride: int, padding: int,
         init: str, scale: float, use_bias: bool = True, name: str | None = None) -> "Conv":
    """An ``ndim``-D convolution with the same size, stride and padding on every axis.

    Padding is explicit and symmetric (as in PyTorch) rather than 'SAME',
    which pads asymmetrically for even inputs and stride 2 and would change
    the published architectures' output lengths.
    """
    return Conv(features, kernel_size=(kernel_size,) * ndim, strides=(stride,) * ndim,
                padding=((padding, padding),) * ndim, use_bias=use_bias,
                kernel_init=kernel_init(init, scale), bias_init=nn.initializers.zeros,
                fan_in_bias=scale if init == "torch" else 0.0, name=name)


class Conv(nn.Conv):
    """`nn.Conv`, with 1-D convolutions computed as im2col + one matmul.

    Why: XLA:CPU runs small 1-D convolutions — and above all their gradients —
    inside `lax.scan` several times slower than as slices and a matmul
    (BENCHMARKS.md: the MNIST-1D CNN trains 1.3x faster per step this way, and
    makes `scan` the fastest strategy on CPU). Same parameters (the class is named
    `Conv`, so flax names it `Conv_0, ...` as before, with the same shapes and
    initial values) and the same math; the result differs from `lax.conv` only by
    float rounding (summation order). 2-D convolutions, groups, dilations and string
    paddings go to `nn.Conv` unchanged. `fan_in_bias` s > 0 (the 'torch' init) draws a
    1-D convolution's bias from U(-s/sqrt(fan_in), s/sqrt(fan_in)), fan_in = taps x input
    channels, as PyTorch does; other convolutions keep `bias_init`.
    """
    fan_in_bias: float = 0.0

    @nn.compact
    def __call__(self, x: jax.Array) -> jax.Array:
        dilated = any(d != 1 for d in _tuple(self.kernel_dilation) + _tuple(self.input_dilation))
        if (x.ndim != 3 or self.feature_group_count != 1 or isinstance(self.padding, str)
                or dilated):
            return super().__call__(x)
        (k,), (s,) = self.kernel_size, self.strides or (1,)
        (low, high), = self.padding
        channels = x.shape[-1]
        kernel = self.param("kernel", self.kernel_init, (k, channels, self.features),
                            self.param_dtype)
        padded = jnp.pad(x, ((0, 0), (low, high), (0, 0)))
        patches = conv_patches(padded, k, s)
        bias_init = (fan_in_uniform(k * channels, self.fan_in_bias) if self.fan_in_bias
                     else self.bias_init)
        bias = (self.param("bias", bias_init, (self.features,), self.param_dtype)
                if self.use_bias else None)
        patches, kernel, bias = nn.dtypes.promote_dtype(patches, kernel, bias, dtype=self.dtype)
        # One 2-D matmul over all (example, position) rows: the same products and sums as
        # the 3-D one, but XLA:CPU then computes the kernel's gradient without transposing
        # the output gradient first (BENCHMARKS.md: the MNIST-1D CNN step 14% faster).
        batch, outputs, taps = patches.shape
        y = jnp.matmul(patches.reshape(batch * outputs, taps),
                       kernel.reshape(k * channels, self.features),
                       precision=self.precision).reshape(batch, outputs, self.features)
        return y if bias is None else y + bias


def _tuple(value) -> tuple:
    if value is None:
        return ()
    return tuple(value) if isinstance(value, (tuple, list)) else (value,)


def conv_patches(padded: Array, k: int, s: int) -> Array:
    """(B, L, C) -> (B, T, k*C) with patches[b, t, j*C + c] = padded[b, t*s + j, c]:
    the k taps of each of the T = (L - k) // s + 1 outputs side by side.

    Positions are grouped s at a time (a free reshape to (B, L/s, s*C)), so tap
    j = q*s + r is block t + q at offset r: ceil(k/s) contiguous slices instead of k
    strided ones. The values are the same either way; the step (and its gradient, a
    sum of the slices' transposes) has fewer, cheaper ops (BENCHMARKS.md: +4% for the
    MNIST-1D CNN on CPU).
    """
    batch, length, channels = padded.shape
    outputs = (length - k) // s + 1
    groups = -(-k // s)  # blocks of s positions that a patch spans
    blocks = max(-(-length // s), outputs + groups - 1)
    padded = jnp.pad(padded, ((0, 0), (0, blocks * s - length), (0, 0)))
    grouped = padded.reshape(batch, blocks, s * channels)
    pieces = [grouped[:, q:q + outputs, :min(s, k - q * s) * channels] for q in range(groups)]
    return pieces[0] if groups == 1 else jnp.concatenate(pieces, axis=-1)


def batch_norm(train: bool, name: str | None = None) -> nn.BatchNorm:
    """Batch norm over all but the last axis; running statistics in ``batch_stats``."""
    return nn.BatchNorm(use_running_average=not train, momentum=BATCH_NORM_MOMENTUM,
                        epsilon=BATCH_NORM_EPSILON, name=name)


def as_float(x: Array) -> Array:
    """Integer inputs (e.g. uint8 pixels) as float32; float inputs keep their precision
    (float64 for gradient checks, bfloat16 for mixed precision)."""
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def flatten(x: Array) -> Array:
    """(B, ...) -> (B, prod(...))."""
    return as_float(x).reshape(x.shape[0], -1)


def as_sequence(x: Array) -> Array:
    """(B, L) -> (B, L, 1); (B, L, C) unchanged: one feature vector per position."""
    x = as_float(x)
    if x.ndim == 2:
        return x[..., None]
    if x.ndim == 3:
        return x
    raise ValueError(f"expected a signal of shape (B, L) or (B, L, C), got {x.shape}")


def as_image(x: Array) -> Array:
    """(B, H, W) -> (B, H, W, 1); (B, H, W, C) unchanged."""
    x = as_float(x)
    if x.ndim == 3:
        return x[..., None]
    if x.ndim == 4:
        return x
    raise ValueError(f"expected an image of shape (B, H, W) or (B, H, W, C), got {x.shape}")


def as_spatial(x: Array) -> Array:
    """Channels-last input of a model that handles both signals and images.

    (B, L) and (B, L, C) are 1-D signals and (B, H, W, C) are images; a
    rank-3 input is read as a signal, so grayscale images need their channel
    axis, as in (B, 8, 8, 1).
    """
    if jnp.ndim(x) in (2, 3):
        return as_sequence(x)
    return as_image(x)


def spatial_ndim(x: Array) -> int:
    """Number of spatial axes of a channels-last (B, *spatial, C) array."""
    return x.ndim - 2


def global_average_pool(x: Array) -> Array:
    """(B, *spatial, C) -> (B, C)."""
    return x.mean(axis=tuple(range(1, x.ndim - 1)))


def conv_stack(x: Array, channels: Sequence[int], kernel_sizes: Sequence[int], stride: int,
               padding: int, use_batch_norm: bool, act: Callable[[Array], Array],
               init: str, scale: float, train: bool) -> Array:
    """conv -> [batch norm] -> act, once per entry of ``channels``.

    Called from inside a compact ``__call__`` so the layers belong to the
    calling model; shared by the 1-D and 2-D CNNs. The conv bias is dropped
    under batch norm, whose shift makes it redundant.
    """
    if len(channels) != len(kernel_sizes):
        raise ValueError(f"channels {tuple(channels)} and kernel_sizes {tuple(kernel_sizes)} "
                         "must have the same length")
    ndim = spatial_ndim(x)
    for features, size in zip(channels, kernel_sizes):
        x = conv(features, size, ndim, stride, padding, init, scale,
                 use_bias=not use_batch_norm)(x)
        if use_batch_norm:
            x = batch_norm(train)(x)
        x = act(x)
    return x


def check_choice(option: str, value: str, allowed: Sequence[str]) -> None:
    """Raise a ValueError naming the allowed values when ``value`` is not one."""
    if value not in allowed:
        raise ValueError(f"unknown {option} {value!r}; choose one of {', '.join(allowed)}")


# ---------------------------------------------------------------- option checks
# Each model module defines `check(options, input_shape=None)`: the values of its fields
# (config.model), and with the data's input shape (one example, no batch axis) the
# lengths its layers produce, so a bad option is named before anything is traced.




def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def check_int(options: dict, key: str, low: int) -> None:
    value = options[key]
    require(_is_int(value) and value >= low, key, f"must be an integer >= {low}", value)


def check_ints(options: dict, key: str, low: int, allow_empty: bool = False) -> None:
    """A tuple of integers >= low (non-empty unless `allow_empty`)."""
    value = options[key]
    ok = isinstance(value, (tuple, list)) and (allow_empty or len(value) > 0)
    ok = ok and all(_is_int(v) and v >= low for v in value)
    require(ok, key, f"must be a {'' if allow_empty else 'non-empty '}tuple of integers "
                     f">= {low}", value)


def check_common(options: dict) -> None:
    """The options that several models share, where the model has them."""
    if "activation" in options:
        require(options["activation"] in ACTIVATIONS, "activation",
                f"must be one of {', '.join(ACTIVATIONS)}", options["activation"])
    if "weight_init" in options:
        require(options["weight_init"] in INITS, "weight_init",
                f"must be one of {', '.join(INITS)}", options["weight_init"])
    if "init_scale" in options:
        value = options["init_scale"]
        require(_is_number(value) and value == value and 0 < value < float("inf"),
                "init_scale", "must be a finite number > 0", value)
    if "dropout" in options:
        value = options["dropout"]
        require(_is_number(value) and 0 <= value < 1, "dropout",
                "must be a rate in [0, 1)", value)
    for key in ("batch_norm", "residual", "bidirectional"):
        if key in options:
            require(isinstance(options[key], bool), key, "must be True or False", options[key])


def check_conv_stack(options: dict, spatial: Sequence[int] | None) -> None:
    """`channels`/`kernel_sizes`/`stride`/`padding` of a conv_stack, and (given the
    inputs' spatial size) that every layer has an output of length >= 1."""
    check_ints(options, "channels", 1)
    check_ints(options, "kernel_sizes", 1)
    check_int(options, "stride", 1)
    check_int(options, "padding", 0)
    if spatial is None:
        return
    channels, kernels = options["channels"], options["kernel_sizes"]
    require(len(channels) == len(kernels), "kernel_sizes",
            f"must have one entry per entry of channels {tuple(channels)}", tuple(kernels))
    stride, padding = options["stride"], options["padding"]
    what = f"the inputs are {'x'.join(map(str, spatial))}"
    sizes = list(spatial)
    for i, k in enumerate(kernels):
        for size in sizes:
            require(size + 2 * padding >= k, "kernel_sizes",
                    f"layer {i}'s kernel {k} is longer than its input ({size} positions + "
                    f"2 x padding {padding}; {what}, and stride {stride} divides each layer's "
                    f"length): use smaller kernels, fewer layers, a smaller stride or larger "
                    f"inputs", tuple(kernels))
        sizes = [(size + 2 * padding - k) // stride + 1 for size in sizes]


def spatial_of(input_shape: Sequence[int] | None, image: bool | None) -> tuple[int, ...] | None:
    """The spatial sizes of one example of shape `input_shape` (no batch axis) as the
    model reads it: `image` True as_image, False as_sequence, None as_spatial; an
    OptionError naming `name` for a rank the model does not take."""
    if input_shape is None:
        return None
    shape = tuple(input_shape)
    if image is None:
        image = len(shape) == 3
    ranks, what = ((2, 3), "images (H, W) or (H, W, C)") if image else \
        ((1, 2), "signals (L,) or (L, C)")
    require(len(shape) in ranks, "name", f"takes {what}, not inputs of the data's shape",
            shape)
    return shape[:2] if image else shape[:1]
