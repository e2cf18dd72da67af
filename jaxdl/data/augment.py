"""Data augmentations: pure, key-driven, batched, jit-able, static shapes.

Every augmentation is ``aug(key, x, **options) -> x'`` on a whole batch. Example
i draws its randomness from ``fold_in(key, i)``, so an example's augmentation
depends only on (key, its index), not on the batch size. The caller derives the
key from the run's root key, never from a counter:

    from functools import partial
    from jaxdl import rng
    from jaxdl.data import augment

    aug = augment.compose(partial(augment.circular_shift, max_shift=4),
                          partial(augment.gaussian_noise, std=0.1))
    key = rng.step_key(state.key, rng.AUGMENT, state.step)
    x1, x2 = augment.two_views(key, x, aug)          # two views for SimCLR/BYOL/...

Each augmentation is jitted: a call compiles once per shape (and per value of
an option that sets a shape or a branch: padding, mode, kernel_size, clip; the
other options are traced, so sweeping them reuses the program) and is inlined
into an enclosing jit. Signals are (B, L) or (B, L, C) with time on axis 1;
images are NHWC floats in [0, 1] (as `jaxdl.data.tfds` and `digits` load them).
Integer inputs become float32.

1-D: `circular_shift`, `amplitude_scale`, `slope_offset`, `gaussian_noise`,
`crop_and_resize`, `remove_trend` and `gaussian_trend` (the MNIST-1D self-supervised
notebook's views: `remove_trend`, a one-sided `circular_shift`, `gaussian_trend`). 2-D: `random_crop` (with padding), `random_resized_crop`,
`horizontal_flip`, `color_jitter`, `random_grayscale`, `gaussian_blur`.
Combinators: `compose`, `random_apply`, `two_views`; `simclr_image` is the
published SimCLR CIFAR-10 recipe.
"""
from __future__ import annotations

import functools
from typing import Callable

import jax
import jax.numpy as jnp

__all__ = ["LUMA", "example_keys", "resample", "crop_positions", "circular_shift",
           "amplitude_scale", "slope_offset", "gaussian_noise", "crop_and_resize",
           "remove_trend", "gaussian_trend",
           "random_crop", "random_resized_crop", "horizontal_flip", "luma", "color_jitter",
           "random_grayscale", "gaussian_kernel", "gaussian_blur", "compose", "random_apply",
           "two_views", "simclr_image", "per_example"]

Array = jax.Array
Augment = Callable[[Array, Array], Array]
ExampleAugment = Callable[[Array, Array], Array]

# ITU-R 601-2 luma, as PIL and torchvision convert RGB to grayscale.
LUMA = (0.299, 0.587, 0.114)


# --- plumbing -----------------------------------------------------------------

def example_keys(key: Array, n: int) -> Array:
    """Keys of examples 0..n-1: fold_in(key, i), independent of the batch size."""
    return jax.vmap(functools.partial(jax.random.fold_in, key))(jnp.arange(n))


def _batched(one: ExampleAugment, key: Array, x: Array) -> Array:
    """`one(key_i, x_i)` for every example i of the batch x."""
    return jax.vmap(one)(example_keys(key, x.shape[0]), x)


def _as_float(x: Array) -> Array:
    x = jnp.asarray(x)
    return x if jnp.issubdtype(x.dtype, jnp.floating) else x.astype(jnp.float32)


def _signal(x: Array) -> Array:
    x = _as_float(x)
    if x.ndim not in (2, 3):
        raise ValueError(f"expected signals of shape (B, L) or (B, L, C), got {x.shape}")
    return x


def _image(x: Array) -> Array:
    x = _as_float(x)
    if x.ndim != 4:
        raise ValueError(f"expected images of shape (B, H, W, C), got {x.shape}")
    return x


def _along_axis0(v: Array, x: Array) -> Array:
    """(L,) values shaped to broadcast along axis 0 of an example x of shape (L, ...)."""
    return v.reshape(v.shape + (1,) * (x.ndim - 1))


def _uniform(key: Array, low: float, high: float, dtype=jnp.float32) -> Array:
    return jax.random.uniform(key, (), dtype, low, high)


def _coin(key: Array, p: float, n: int, ndim: int) -> Array:
    """Bernoulli(p) flag of each of n examples (from its own key), shaped (n, 1, ..., 1)
    to select among examples of rank `ndim`."""
    flags = jax.vmap(lambda k: jax.random.bernoulli(k, p))(example_keys(key, n))
    return flags.reshape((n,) + (1,) * (ndim - 1))


def resample(x: Array, positions: Array, axis: int = 0) -> Array:
    """Linear interpolation of x along `axis` at fractional indices `positions`.

    x'_j = (1 - f) x[i] + f x[i + 1] with i = floor(p_j), f = p_j - i; positions
    are clamped to [0, n - 1], so the ends repeat rather than wrap.
    """
    n = x.shape[axis]
    p = jnp.clip(positions, 0.0, n - 1.0)
    i0 = jnp.clip(jnp.floor(p).astype(jnp.int32), 0, n - 1)
    i1 = jnp.minimum(i0 + 1, n - 1)
    shape = [1] * x.ndim
    shape[axis] = -1
    f = (p - i0).astype(x.dtype).reshape(shape)
    return (1 - f) * jnp.take(x, i0, axis=axis) + f * jnp.take(x, i1, axis=axis)


def crop_positions(fraction: Array, where: Array, n: int) -> Array:
    """Source indices of n output samples spread evenly over a window of the axis.

    The window spans e = fraction (n - 1) index units from a = where (n - 1 - e):
    p_j = a + j e / (n - 1), so its first and last samples land on its ends (no
    clamping inside [0, n - 1]) and fraction 1 is the identity p_j = j.
    """
    extent = fraction * (n - 1)
    return where * (n - 1 - extent) + jnp.arange(n) * extent / max(n - 1, 1)


# --- 1-D signals ----------------------------------------------------------------

@jax.jit
def circular_shift(key: Array, x: Array, max_shift: int, min_shift: int | None = None) -> Array:
    """x'_t = x_{(t - s) mod L}, s uniform in {min_shift, ..., max_shift} (min_shift None:
    -max_shift): a rotation, so every example keeps exactly its values (in another
    order). The MNIST-1D notebook's shift is min_shift 0, max_shift maxshift - 1."""
    low = -max_shift if min_shift is None else min_shift

    def one(k, xi):
        return jnp.roll(xi, jax.random.randint(k, (), low, max_shift + 1), axis=0)
    return _batched(one, key, _signal(x))


@jax.jit
def amplitude_scale(key: Array, x: Array, low: float = 0.8, high: float = 1.2) -> Array:
    """x' = a x, a ~ U[low, high] per example."""
    x = _signal(x)
    return _batched(lambda k, xi: _uniform(k, low, high, xi.dtype) * xi, key, x)


@jax.jit
def slope_offset(key: Array, x: Array, max_slope: float, max_offset: float) -> Array:
    """x'_t = x_t + a t / (L - 1) + b, a ~ U[-max_slope, max_slope], b ~ U[-max_offset,
    max_offset]: a linear trend (rising by a over the signal) and a constant shift."""
    def one(k, xi):
        ka, kb = jax.random.split(k)
        t = _along_axis0(jnp.linspace(0.0, 1.0, xi.shape[0], dtype=xi.dtype), xi)
        a = _uniform(ka, -max_slope, max_slope, xi.dtype)
        return xi + a * t + _uniform(kb, -max_offset, max_offset, xi.dtype)
    return _batched(one, key, _signal(x))


def _centred_time(xi: Array) -> Array:
    """t - (L - 1) / 2 for t = 0..L-1, shaped to broadcast along axis 0 of example xi."""
    n = xi.shape[0]
    return _along_axis0(jnp.arange(n, dtype=xi.dtype) - (n - 1) / 2, xi)


@jax.jit
def remove_trend(key: Array, x: Array) -> Array:
    """x minus its own mean and least-squares line along time, per example and channel
    (the key is unused: an `Augment` for `compose`). The MNIST-1D notebook starts its
    views from these residuals, so a view's trend and offset are `gaussian_trend`'s alone."""
    del key

    def one(xi):
        t = _centred_time(xi)
        xi = xi - jnp.mean(xi, axis=0, keepdims=True)
        slope = jnp.sum(xi * t, axis=0, keepdims=True) / jnp.sum(jnp.square(t))
        return xi - slope * t
    return jax.vmap(one)(_signal(x))


@jax.jit
def gaussian_trend(key: Array, x: Array, slope_std: float, offset_std: float) -> Array:
    """x'_t = x_t + a (t - (L - 1) / 2) + b, a ~ N(0, slope_std^2) per sample, b ~ N(0,
    offset_std^2), per example: the MNIST-1D notebook's random trend and offset (it sets
    their stds to the spread of the data's own: 0.04 and 0.3)."""
    def one(k, xi):
        ka, kb = jax.random.split(k)
        a = slope_std * jax.random.normal(ka, (), xi.dtype)
        return xi + a * _centred_time(xi) + offset_std * jax.random.normal(kb, (), xi.dtype)
    return _batched(one, key, _signal(x))


@jax.jit
def gaussian_noise(key: Array, x: Array, std: float) -> Array:
    """x' = x + std * e, e ~ N(0, I), independently per entry. Works on any shape."""
    x = _as_float(x)
    return _batched(lambda k, xi: xi + std * jax.random.normal(k, xi.shape, xi.dtype), key, x)


@jax.jit
def crop_and_resize(key: Array, x: Array, min_scale: float = 0.75) -> Array:
    """A random window stretched back to the full length L by linear interpolation.

    The window covers a fraction u ~ U[min_scale, 1] of the signal's extent at a
    uniform position (continuous, so shapes stay static; `crop_positions`), so a
    ramp stays a ramp with its slope times u; min_scale = 1 is the identity.
    """
    def one(k, xi):
        ks, kp = jax.random.split(k)
        where = _uniform(kp, 0.0, 1.0)
        return resample(xi, crop_positions(_uniform(ks, min_scale, 1.0), where, xi.shape[0]))
    return _batched(one, key, _signal(x))


# --- 2-D images (NHWC) --------------------------------------------------------------

@functools.partial(jax.jit, static_argnames=("padding", "mode"))
def random_crop(key: Array, x: Array, padding: int, mode: str = "constant") -> Array:
    """Pad `padding` pixels on every side (zeros, or a `jnp.pad` mode) and crop the
    original size at an offset uniform in {0..2 padding}^2: a random translation."""
    x = _image(x)
    h, w, c = x.shape[1:]
    padded = jnp.pad(x, ((0, 0), (padding, padding), (padding, padding), (0, 0)), mode=mode)

    def one(k, xi):
        dy, dx = jax.random.randint(k, (2,), 0, 2 * padding + 1)
        return jax.lax.dynamic_slice(xi, (dy, dx, 0), (h, w, c))
    return _batched(one, key, padded)


@jax.jit
def random_resized_crop(key: Array, x: Array, scale: tuple[float, float] = (0.08, 1.0),
                        ratio: tuple[float, float] = (3 / 4, 4 / 3)) -> Array:
    """A crop of area fraction s ~ U[scale] and aspect w/h = r (log r uniform on
    log ratio), bilinearly resized to the input size (Inception / SimCLR).

    In pixels the crop is h = sqrt(s H W / r) by w = sqrt(s H W r), each side
    clipped to the image (torchvision retries instead), placed uniformly where
    it fits; `crop_positions` samples it, so scale = ratio = (1, 1) on a square
    image is the identity.
    """
    x = _image(x)
    height, width = x.shape[1:3]

    def one(k, xi):
        ks, kr, ky, kx = jax.random.split(k, 4)
        area = _uniform(ks, *scale) * height * width
        r = jnp.exp(_uniform(kr, jnp.log(ratio[0]), jnp.log(ratio[1])))
        fh = jnp.minimum(jnp.sqrt(area / r) / height, 1.0)
        fw = jnp.minimum(jnp.sqrt(area * r) / width, 1.0)
        rows = resample(xi, crop_positions(fh, _uniform(ky, 0.0, 1.0), height), axis=0)
        return resample(rows, crop_positions(fw, _uniform(kx, 0.0, 1.0), width), axis=1)
    return _batched(one, key, x)


@jax.jit
def horizontal_flip(key: Array, x: Array, p: float = 0.5) -> Array:
    """Each image mirrored left-right with probability p."""
    x = _image(x)
    return jnp.where(_coin(key, p, x.shape[0], x.ndim), x[:, :, ::-1], x)


def luma(x: Array) -> Array:
    """Grayscale (H, W, 1) of an (H, W, C) image: 0.299 R + 0.587 G + 0.114 B; C = 1 as is."""
    if x.shape[-1] == 1:
        return x
    if x.shape[-1] != 3:
        raise ValueError(f"grayscale needs 1 or 3 channels, got {x.shape[-1]}")
    return jnp.tensordot(x, jnp.asarray(LUMA, x.dtype), axes=([-1], [0]))[..., None]


def _blend(a: Array, b: Array, ratio: Array, clip: bool) -> Array:
    """ratio a + (1 - ratio) b, clamped to [0, 1] when `clip` (torchvision's _blend)."""
    out = ratio * a + (1 - ratio) * b
    return jnp.clip(out, 0.0, 1.0) if clip else out


@functools.partial(jax.jit, static_argnames=("clip",))
def color_jitter(key: Array, x: Array, brightness: float = 0.4, contrast: float = 0.4,
                 saturation: float = 0.4, clip: bool = True) -> Array:
    """Brightness, then contrast, then saturation, each by a factor f ~ U[max(0, 1 - s), 1 + s].

    brightness: f x; contrast: f x + (1 - f) mean(luma(x)); saturation:
    f x + (1 - f) luma(x) per pixel. With `clip`, each result is clamped to [0, 1]
    as torchvision does for float images. The order is fixed (torchvision
    draws a random order); hue is not jittered.
    """
    def factor(k, s, dtype):
        return _uniform(k, jnp.maximum(0.0, 1.0 - s), 1.0 + s, dtype)

    def one(k, xi):
        kb, kc, ks = jax.random.split(k, 3)
        xi = _blend(xi, jnp.zeros_like(xi), factor(kb, brightness, xi.dtype), clip)
        xi = _blend(xi, jnp.mean(luma(xi)), factor(kc, contrast, xi.dtype), clip)
        return _blend(xi, luma(xi), factor(ks, saturation, xi.dtype), clip)
    return _batched(one, key, _image(x))


@jax.jit
def random_grayscale(key: Array, x: Array, p: float = 0.2) -> Array:
    """Each image replaced, with probability p, by its luma in every channel."""
    x = _image(x)
    gray = jnp.broadcast_to(jax.vmap(luma)(x), x.shape)
    return jnp.where(_coin(key, p, x.shape[0], x.ndim), gray, x)


def gaussian_kernel(sigma: Array, size: int) -> Array:
    """k_t proportional to exp(-(t - r)^2 / (2 sigma^2)), t = 0..size-1, r = size // 2, sum 1."""
    t = jnp.arange(size) - size // 2
    k = jnp.exp(-jnp.square(t) / (2 * jnp.square(sigma)))
    return k / jnp.sum(k)


def _convolve_axis(x: Array, kernel: Array, axis: int) -> Array:
    """sum_t kernel[t] x[i + t - r] along `axis`, reflect-padded (same size out)."""
    size, n = kernel.shape[0], x.shape[axis]
    pad = [(0, 0)] * x.ndim
    pad[axis] = (size // 2, size // 2)
    padded = jnp.pad(x, pad, mode="reflect")
    return sum(kernel[t] * jax.lax.slice_in_dim(padded, t, t + n, axis=axis) for t in range(size))


@functools.partial(jax.jit, static_argnames=("kernel_size",))
def gaussian_blur(key: Array, x: Array, sigma: tuple[float, float] = (0.1, 2.0),
                  kernel_size: int = 3) -> Array:
    """Separable Gaussian blur, sigma ~ U[sigma] per image, odd `kernel_size` taps,
    reflect padding (SimCLR: 10% of the image side, applied with p = 0.5)."""
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd integer, got {kernel_size!r}")

    def one(k, xi):
        kernel = gaussian_kernel(_uniform(k, *sigma, xi.dtype), kernel_size)
        return _convolve_axis(_convolve_axis(xi, kernel, 0), kernel, 1)
    return _batched(one, key, _image(x))


# --- combinators ------------------------------------------------------------------

def per_example(aug: Augment, first: int = 0) -> Augment:
    """`aug` applied to each example on its own, example j of the batch with key
    fold_in(key, first + j): a view depends only on the key and the example's position in
    the global batch, so a process holding positions first, first + 1, ... of it computes
    exactly their views (the host augmentation of `jaxdl.data.stream`)."""
    def each(key: Array, x: Array) -> Array:
        keys = jax.vmap(functools.partial(jax.random.fold_in, key))(first + jnp.arange(x.shape[0]))
        return jax.vmap(lambda k, xi: aug(k, xi[None])[0])(keys, x)
    return each


def compose(*augs: Augment) -> Augment:
    """Apply augs in order; the i-th draws from fold_in(key, i)."""
    def composed(key: Array, x: Array) -> Array:
        for i, aug in enumerate(augs):
            x = aug(jax.random.fold_in(key, i), x)
        return x
    return composed


def random_apply(aug: Augment, p: float) -> Augment:
    """`aug` applied to each example with probability p (others unchanged)."""
    def maybe(key: Array, x: Array) -> Array:
        x = _as_float(x)
        out = aug(jax.random.fold_in(key, 0), x)
        return jnp.where(_coin(jax.random.fold_in(key, 1), p, x.shape[0], x.ndim), out, x)
    return maybe


def two_views(key: Array, x: Array, aug: Augment) -> tuple[Array, Array]:
    """Two independent augmentations of the same batch, from fold_in(key, 0) and (key, 1)."""
    return aug(jax.random.fold_in(key, 0), x), aug(jax.random.fold_in(key, 1), x)


def simclr_image(crop_scale: tuple[float, float] = (0.08, 1.0), jitter: float = 0.4,
                 jitter_p: float = 0.8, grayscale_p: float = 0.2) -> Augment:
    """SimCLR's CIFAR-10 views (Chen et al. 2020, appendix on CIFAR-10): resized crop,
    flip, colour jitter of strength s = 0.5 (0.8 s = 0.4 brightness, contrast and
    saturation; the 0.2 s hue is not implemented) with p = 0.8, grayscale with
    p = 0.2; no blur at 32x32."""
    return compose(
        functools.partial(random_resized_crop, scale=crop_scale),
        horizontal_flip,
        random_apply(functools.partial(color_jitter, brightness=jitter, contrast=jitter,
                                       saturation=jitter), jitter_p),
        functools.partial(random_grayscale, p=grayscale_p),
    )
