"""Self-supervised networks: a registered backbone without its head, then a projector.

    net = objectives.build("simclr", setup).model   # jaxdl.objectives.self_supervised
    out = net.apply(variables, x, train=False)
    out["representation"]   # (B, 125) for the MNIST-1D CNN: what probes read
    out["projection"]       # (B, 64): what the criterion sees (mae: the reconstruction)
    out["prediction"]       # byol only: the online predictor's output
    out["prototypes"]       # dino only: (B, out_dim) cosines of the unit projection with
                            # out_dim unit prototypes (the student's and teacher's logits)
    out["online_probe"]     # objective.online_probe only: (B, classes) logits of a linear
                            # classifier on stop_gradient(representation)

The backbone is any model of `jaxdl.models` (its config section is unchanged) with
its classification head cut off: the *representation* is the input of the
backbone's last top-level Dense layer, found by tracing the backbone once
(`head_name`) and skipped at every call with a flax method interceptor, so the
head never gets params and no model needs a `features` method. For the MNIST-1D
CNN it is the flattened output of the last convolution (5 x 25 = 125 features),
the layer the MNIST-1D self-supervised notebook probes as its "layer 3"; for an
MLP the last hidden layer; for a linear model (MLP depth 0) the input itself.

The projector (and mae's decoder) is Dense-BN-ReLU per hidden width, then Dense,
as in SimCLR/BYOL (simclr's `projector_bn=False` drops the BN and `projector=()` the
projector, as the MNIST-1D notebook's arms do; the projector initialises its weights
as the backbone's model does, `config.model.weight_init` at scale 1); byol adds a predictor Dense-BN-ReLU-Dense back to the
projection's width; dino (Caron et al. 2021) puts the projection (its bottleneck) on the
unit sphere and scores it against `out_dim` prototypes, a bias-free Dense layer whose
columns are weight-normalised with the gain fixed at 1 (`prototypes`; DINO's
norm_last_layer), and keeps the center of its teacher's outputs as a non-param variable
`model_state["dino"]["center"]` (`CENTER`) that its criterion reads and writes, so
checkpoints, resume, interventions and vmap carry it like batch-norm statistics.
Probing the representation rather than the projection is the "guillotine" (Bordes et
al. 2023): the projector specialises to the pretext task. The network also carries its
`Method` (the method's numbers, the views), which its objective
(`jaxdl.objectives.simclr`, ...) reads.

The online probe (`objective.online_probe`) is one Dense layer `online_probe` on
`stop_gradient(representation)`: its params are part of the network's (so checkpoints,
resume, interventions and vmap carry them), and no gradient flows from it into the
backbone. Off, the network has no such layer and its params are those without the option.
"""
from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp
import ml_collections

from jaxdl import losses, rng
from jaxdl.data import augment as augment_lib
from jaxdl.models import layers
from jaxdl.registry import require

__all__ = ["AUGMENTS", "IMAGE_AUGMENTS", "CENTER", "HostViews", "Views", "Method", "views_of",
           "augment_defaults", "check_augment", "augmentation", "segment_masks", "head_name",
           "MLPHead", "prototypes", "SSLNet"]

AUGMENTS = ("none", "mnist1d", "mnist1d_notebook", "crop_flip",
            "resized_crop_flip")  # config.augment.name: presets
IMAGE_AUGMENTS = ("crop_flip", "resized_crop_flip")  # per example: on the host when streamed
CENTER = "dino"  # model_state[CENTER]["center"]: dino's center of the teacher's outputs

@dataclasses.dataclass(frozen=True)
class Views:
    """config.augment as a frozen value (hashable: it is a field of a flax module)."""
    name: str = "none"
    max_shift: int = 0
    min_scale: float = 1.0
    amplitude: float = 0.0
    max_slope: float = 0.0
    max_offset: float = 0.0
    noise_std: float = 0.0
    slope_std: float = 0.0
    offset_std: float = 0.0
    padding: int = 4
    flip: float = 0.5
    min_area: float = 0.08


@dataclasses.dataclass(frozen=True)
class HostViews:
    """The image presets' views computed on the host (grain's workers, `jaxdl.data.stream`)
    for a process's part of a batch: `views(root_key, step, x, first)` = what the device
    path computes for the examples at positions first, first + 1, ... of the global batch
    at `step` (keys from step_key(root, AUGMENT, step), as on the device)."""
    views: Views

    def __call__(self, root_key: Any, step: int, x: Any, first: int) -> Any:
        with jax.default_device(jax.local_devices(backend="cpu")[0]):
            return _host_views(self.views, first, root_key, step, x)


@functools.partial(jax.jit, static_argnums=(0, 1))
def _host_views(views: Views, first: int, root_key: jax.Array, step: jax.Array,
                x: jax.Array) -> jax.Array:
    return augmentation(views, first)(rng.step_key(root_key, rng.AUGMENT, step), x)


@dataclasses.dataclass(frozen=True)
class Method:
    """A self-supervised method's numbers (its objective's options, `jaxdl.objectives`) and
    the run's length, which sets byol's and dino's momentum schedule."""
    name: str
    steps: int
    temperature: float = 0.5
    loss: str = "nt_xent"  # simclr: nt_xent | info_nce (jaxdl.losses)
    ema_base: float = 0.996
    sim_weight: float = 25.0
    var_weight: float = 25.0
    cov_weight: float = 1.0
    lambd: float = 5e-3
    mask_segments: int = 2
    mask_length: int = 8
    out_dim: int = 256
    student_temperature: float = 0.1
    teacher_temperature: float = 0.04
    center_momentum: float = 0.9
    views: Views = Views()


def views_of(augment: Any) -> Views:
    """config.augment as a frozen `Views`."""
    return Views(**{f.name: augment[f.name] for f in dataclasses.fields(Views)})


def augment_defaults() -> ml_collections.ConfigDict:
    """The section config.augment: views for the self-supervised objectives, and data
    augmentation of the supervised one (`augmentation`): `none` (the default: no
    augmentation), or `mnist1d`: per signal a circular shift, a crop stretched back to full
    length, an amplitude scale, a linear trend and an offset, then Gaussian noise — the
    nuisances the MNIST-1D generator itself draws. An option at 0 (min_scale at 1) is off.
    `mnist1d_notebook` is the views of the MNIST-1D self-supervised notebook (greydanus/
    mnist1d, notebooks/self-supervised-learning.ipynb, its `augment`): the signal's mean
    and least-squares trend removed, a circular shift by U{0, ..., max_shift - 1}, then a
    trend N(0, slope_std^2) per sample and an offset N(0, offset_std^2); it reads only
    max_shift, slope_std and offset_std.
    With the supervised objective each training batch is replaced by one view of it."""
    return ml_collections.ConfigDict(dict(
        name="none",  # none | mnist1d
        max_shift=10,  # samples, uniform in [-max_shift, max_shift]
        min_scale=0.6,  # crop covering a fraction U[min_scale, 1] of the signal
        amplitude=0.2,  # scale by U[1 - amplitude, 1 + amplitude]
        max_slope=1.0,  # trend rising by U[-max_slope, max_slope] over the signal
        max_offset=0.2,  # offset U[-max_offset, max_offset]
        noise_std=0.2,  # i.i.d. Gaussian noise
        slope_std=0.04,  # mnist1d_notebook: trend N(0, slope_std^2) per sample
        offset_std=0.3,  # mnist1d_notebook: offset N(0, offset_std^2)
        # images (B, H, W, C): crop_flip = zero-pad `padding` pixels, crop the original size
        # at a random offset, mirror with probability `flip` (the CIFAR recipe);
        # resized_crop_flip = a crop of area U[min_area, 1] and aspect in [3/4, 4/3]
        # resized to the image size, then the mirror (the ImageNet recipe)
        padding=4,
        flip=0.5,
        min_area=0.08,
    ))


def check_augment(a: Any) -> None:
    """The rules of section config.augment: OptionError naming the key."""
    require(a.name in AUGMENTS, "name", f"must be one of {', '.join(AUGMENTS)}", a.name)
    require(a.max_shift >= 0, "max_shift", "must be >= 0", a.max_shift)
    require(0 < a.min_scale <= 1, "min_scale", "must be in (0, 1]", a.min_scale)
    require(0 <= a.amplitude < 1, "amplitude", "must be in [0, 1)", a.amplitude)
    require(a.padding >= 0, "padding", "must be >= 0", a.padding)
    require(0 <= a.flip <= 1, "flip", "must be in [0, 1]", a.flip)
    require(0 < a.min_area <= 1, "min_area", "must be in (0, 1]", a.min_area)
    for name in ("max_slope", "max_offset", "noise_std", "slope_std", "offset_std"):
        require(math.isfinite(a[name]) and a[name] >= 0, name, "must be a finite number >= 0",
                a[name])


# ---------------------------------------------------------------- views


def augmentation(views: Views, first: int = 0) -> augment_lib.Augment:
    """aug(key, x) -> x' of `views` (the identity for 'none'): the `mnist1d` preset
    composes, in this order, each enabled nuisance of the MNIST-1D generator;
    `mnist1d_notebook` the notebook's de-trend, shift and new trend; the image presets are
    per example (`jaxdl.data.augment.per_example`: example j of x is the one at position
    first + j of its batch)."""
    if views.name == "none":
        return lambda key, x: layers.as_float(x)
    if views.name == "mnist1d_notebook":
        return _notebook_views(views)
    if views.name in IMAGE_AUGMENTS:
        crop = (functools.partial(augment_lib.random_crop, padding=views.padding)
                if views.name == "crop_flip" else
                functools.partial(augment_lib.random_resized_crop, scale=(views.min_area, 1.0)))
        flip = functools.partial(augment_lib.horizontal_flip, p=views.flip)
        return augment_lib.per_example(augment_lib.compose(crop, flip), first)
    parts = []
    if views.max_shift > 0:
        parts.append(functools.partial(augment_lib.circular_shift, max_shift=views.max_shift))
    if views.min_scale < 1:
        parts.append(functools.partial(augment_lib.crop_and_resize, min_scale=views.min_scale))
    if views.amplitude > 0:
        parts.append(functools.partial(augment_lib.amplitude_scale, low=1 - views.amplitude,
                                       high=1 + views.amplitude))
    if views.max_slope > 0 or views.max_offset > 0:
        parts.append(functools.partial(augment_lib.slope_offset, max_slope=views.max_slope,
                                       max_offset=views.max_offset))
    if views.noise_std > 0:
        parts.append(functools.partial(augment_lib.gaussian_noise, std=views.noise_std))
    return augment_lib.compose(*parts)


def _notebook_views(views: Views) -> augment_lib.Augment:
    """The notebook's `augment(x, slopes_std, offsets_std, maxshift)`: de-trend, roll by
    np.random.randint(0, maxshift) (0 .. max_shift - 1), add a Gaussian trend and offset."""
    parts = [augment_lib.remove_trend]
    if views.max_shift > 1:
        parts.append(functools.partial(augment_lib.circular_shift, min_shift=0,
                                       max_shift=views.max_shift - 1))
    parts.append(functools.partial(augment_lib.gaussian_trend, slope_std=views.slope_std,
                                   offset_std=views.offset_std))
    return augment_lib.compose(*parts)


def segment_masks(key: jax.Array, x: jax.Array, n_segments: int, segment_len: int) -> jax.Array:
    """(B, L) bool: per example (key fold_in(key, i)) the union of `n_segments` windows of
    `segment_len` samples along axis 1 (``jaxdl.losses.segment_mask``)."""
    keys = augment_lib.example_keys(key, x.shape[0])
    return jax.vmap(lambda k: losses.segment_mask(k, x.shape[1], n_segments, segment_len))(keys)


# ---------------------------------------------------------------- the network


def head_name(backbone: nn.Module, sample_x: Any) -> str:
    """Name of the backbone's classification head: its last Dense layer called at the top
    level (traced on abstract values; nothing is computed)."""
    calls = []

    def record(next_fun, args, kwargs, context):
        module = context.module
        if (isinstance(module, nn.Dense) and context.method_name == "__call__"
                and len(module.path) == 1):
            calls.append(module.name)
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(record):
        jax.eval_shape(lambda: backbone.init(jax.random.PRNGKey(0), jnp.asarray(sample_x),
                                             train=False))
    if not calls:
        raise ValueError(f"{type(backbone).__name__} has no top-level Dense head to cut off "
                         f"for a self-supervised objective")
    return calls[-1]


class MLPHead(nn.Module):
    """Dense-BN-ReLU per hidden width, then Dense (no activation): SimCLR's projector;
    without `batch_norm`, Dense-ReLU (the MNIST-1D notebook's projector). `init`: the
    weight initialiser (`jaxdl.models.layers.INITS`), at scale 1."""
    widths: tuple[int, ...]
    batch_norm: bool = True
    init: str = "lecun"

    @nn.compact
    def __call__(self, h: jax.Array, *, train: bool) -> jax.Array:
        for width in self.widths[:-1]:
            h = layers.dense(width, self.init, 1.0)(h)
            h = nn.relu(layers.batch_norm(train)(h) if self.batch_norm else h)
        return layers.dense(self.widths[-1], self.init, 1.0)(h)


def prototypes(count: int, name: str = "prototypes") -> nn.Module:
    """DINO's last layer: Dense(count) without bias, each kernel column divided by its norm
    (weight norm, gain fixed at 1): on a unit input the outputs are cosines in [-1, 1]."""
    return nn.WeightNorm(layers.dense(count, "lecun", 1.0, use_bias=False, name=name),
                         use_scale=False)


class SSLNet(nn.Module):
    """backbone (head cut off) -> projector [-> predictor | prototypes]; returns a dict of
    representation, projection, (byol) prediction and (dino) prototypes. mae: the
    projection is the reconstruction, shaped like the input."""
    backbone: nn.Module
    head: str  # the backbone's layer skipped (`head_name`)
    projector: tuple[int, ...]  # () (simclr only): none, the projection is the representation
    predictor: int
    method: Method
    online_probe: int = 0  # classes of the online linear probe; 0: no probe
    projector_bn: bool = True  # batch norm in the projector's hidden layers

    @property
    def ema_target(self) -> bool:
        """Whether the train state keeps an EMA target of this network (byol; dino's
        teacher)."""
        return self.method.name in ("byol", "dino")

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> dict[str, jax.Array]:
        h = self._representation(x, train)
        widths = self.projector
        if self.method.name == "mae":
            widths = (*widths[:-1], int(x[0].size))
        # The projector starts as the backbone's layers do (its model's weight_init).
        init = getattr(self.backbone, "weight_init", "lecun")
        z = (MLPHead(widths, self.projector_bn, init, name="projector")(h, train=train)
             if widths else h)
        out = {"representation": h, "projection": z}
        if self.online_probe:  # a classifier that reads the representation, never trains it
            out["online_probe"] = layers.dense(self.online_probe, "lecun", 1.0,
                                               name="online_probe")(jax.lax.stop_gradient(h))
        if self.method.name == "mae":
            out["projection"] = z.reshape(layers.as_float(x).shape)
        if self.method.name == "byol":
            out["prediction"] = MLPHead((self.predictor, widths[-1]), name="predictor")(
                z, train=train)
        if self.method.name == "dino":
            out["prototypes"] = prototypes(self.method.out_dim)(losses.unit(z))
            self.variable(CENTER, "center", jnp.zeros, (self.method.out_dim,), jnp.float32)
        return out

    def _representation(self, x: jax.Array, train: bool) -> jax.Array:
        """The backbone's output with its head skipped: the head's input, flattened."""
        path = (*self.backbone.path, self.head)

        def skip_head(next_fun, args, kwargs, context):
            if context.method_name == "__call__" and context.module.path == path:
                return args[0]
            return next_fun(*args, **kwargs)

        with nn.intercept_methods(skip_head):
            h = self.backbone(x, train=train)
        return h.reshape(h.shape[0], -1)
