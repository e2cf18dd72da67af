"""A small CIFAR-style ResNet that runs on 1-D signals and on images."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxdl.models import layers

__all__ = ["BasicBlock", "ResNet", "check"]


class BasicBlock(nn.Module):
    """Two 3-wide convolutions and a shortcut: act(x + BN(conv(act(BN(conv(x)))))).

    The shortcut is a 1-wide strided convolution (plus batch norm) when the
    block changes the number of channels or the resolution, else identity.

    Attributes:
        features: output channels.
        stride: stride of the first convolution and of the shortcut.
        batch_norm: batch norm after each convolution; without it the
            convolutions get biases instead.
        activation: nonlinearity, a name from ``layers.ACTIVATIONS``.
        weight_init: kernel initialiser, a name from ``layers.INITS``.
        init_scale: multiplies the initial weights' standard deviation.
    """
    features: int
    stride: int = 1
    batch_norm: bool = True
    activation: str = "relu"
    weight_init: str = "he"
    init_scale: float = 1.0

    def _conv(self, x: jax.Array, size: int, stride: int, train: bool) -> jax.Array:
        """conv followed by batch norm when enabled."""
        y = layers.conv(self.features, size, layers.spatial_ndim(x), stride, size // 2,
                        self.weight_init, self.init_scale, use_bias=not self.batch_norm)(x)
        return layers.batch_norm(train)(y) if self.batch_norm else y

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        act = layers.activation(self.activation)
        y = act(self._conv(x, 3, self.stride, train))
        y = self._conv(y, 3, 1, train)
        if self.stride != 1 or x.shape[-1] != self.features:
            x = self._conv(x, 1, self.stride, train)
        return act(x + y)


class ResNet(nn.Module):
    """Standard (post-activation) ResNet with basic blocks, as He et al. use on CIFAR.

    A 3-wide stem convolution, then one stage per entry of ``stage_sizes``
    with width * width_multiplier * 2**i channels and stride 2 at the start
    of every stage but the first, global average pooling, and a linear head.
    (B, L) and (B, L, C) inputs get 1-D convolutions, (B, H, W, C) 2-D ones,
    so one config runs on MNIST-1D and on CIFAR. stage_sizes=(3, 3, 3) is
    ResNet-20 except for its projection (not zero-padding) shortcuts.

    Attributes:
        num_outputs: number of logits.
        stage_sizes: number of basic blocks in each stage.
        width: channels of the stem and of the first stage.
        width_multiplier: multiplies the channels of every stage (wide ResNet).
        batch_norm: batch norm after every convolution (statistics in the
            ``batch_stats`` collection).
        activation: nonlinearity, a name from ``layers.ACTIVATIONS``.
        weight_init: kernel initialiser of every layer, a name from ``layers.INITS``.
        init_scale: multiplies the initial weights' standard deviation.
    """
    num_outputs: int
    stage_sizes: tuple[int, ...] = (2, 2, 2)
    width: int = 16
    width_multiplier: int = 1
    batch_norm: bool = True
    activation: str = "relu"
    weight_init: str = "he"
    init_scale: float = 1.0

    def _block(self, features: int, stride: int) -> BasicBlock:
        return BasicBlock(features, stride, self.batch_norm, self.activation,
                          self.weight_init, self.init_scale)

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        x = layers.as_spatial(x)
        h = layers.conv(self.width, 3, layers.spatial_ndim(x), 1, 1, self.weight_init,
                        self.init_scale, use_bias=not self.batch_norm)(x)
        if self.batch_norm:
            h = layers.batch_norm(train)(h)
        h = layers.activation(self.activation)(h)
        for stage, num_blocks in enumerate(self.stage_sizes):
            features = self.width * self.width_multiplier * 2 ** stage
            for block in range(num_blocks):
                stride = 2 if stage > 0 and block == 0 else 1
                h = self._block(features, stride)(h, train=train)
        h = layers.global_average_pool(h)
        return layers.dense(self.num_outputs, self.weight_init, self.init_scale)(h)


def check(options: dict, input_shape: tuple[int, ...] | None = None) -> None:
    """Raise `jaxdl.models.OptionError` naming the first ResNet option not allowed (any input
    size works: 3-wide convolutions with padding 1 and stride <= 2 never shrink to 0)."""
    layers.check_common(options)
    layers.check_ints(options, "stage_sizes", 0)
    layers.check_int(options, "width", 1)
    layers.check_int(options, "width_multiplier", 1)
