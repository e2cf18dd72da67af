"""Plain convolutional networks: the published MNIST-1D CNN and a 2-D analogue."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxdl.models import layers

__all__ = ["READOUTS", "CNN1D", "CNN2D", "check"]

READOUTS = ("flatten", "mean")


class CNN1D(nn.Module):
    """conv -> [batch norm] -> act per layer, flatten, linear head, on signals.

    The defaults are the published MNIST-1D CNN: three convolutions (kernel
    5, 3, 3; stride 2; padding 1; 25 channels) with ReLU take length 40 to
    5 x 25 = 125 features, then a linear layer: 5,210 parameters for 10
    outputs.

    Attributes:
        num_outputs: number of logits.
        channels: output channels of each convolution.
        kernel_sizes: kernel size of each convolution (same length as channels).
        stride: stride of every convolution.
        padding: zeros added on both ends of every convolution's input.
        batch_norm: batch norm between each convolution and its activation
            (statistics in the ``batch_stats`` collection).
        activation: nonlinearity, a name from ``layers.ACTIVATIONS``.
        dropout: rate of dropout on the flattened features before the linear head
            ('dropout' rng); 0: none, the network of before.
        weight_init: kernel initialiser of every layer, a name from ``layers.INITS``.
        init_scale: multiplies the initial weights' standard deviation.
    """
    num_outputs: int
    channels: tuple[int, ...] = (25, 25, 25)
    kernel_sizes: tuple[int, ...] = (5, 3, 3)
    stride: int = 2
    padding: int = 1
    batch_norm: bool = False
    activation: str = "relu"
    dropout: float = 0.0
    weight_init: str = "lecun"
    init_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        h = layers.conv_stack(layers.as_sequence(x), self.channels, self.kernel_sizes,
                              self.stride, self.padding, self.batch_norm,
                              layers.activation(self.activation), self.weight_init,
                              self.init_scale, train)
        h = nn.Dropout(self.dropout, deterministic=not train)(layers.flatten(h))
        return layers.dense(self.num_outputs, self.weight_init, self.init_scale)(h)


class CNN2D(nn.Module):
    """conv -> [batch norm] -> act per layer, then a linear head, on images.

    Input (B, H, W) or (B, H, W, C). With the defaults a 32x32 image becomes
    8x8x64 features and an 8x8 one 2x2x64.

    Attributes:
        num_outputs: number of logits.
        channels: output channels of each convolution.
        kernel_sizes: kernel size (square) of each convolution.
        stride: stride of every convolution.
        padding: zeros added on every side of every convolution's input.
        batch_norm: batch norm between each convolution and its activation
            (statistics in the ``batch_stats`` collection).
        readout: 'flatten' feeds every position to the head; 'mean' global
            average pools first, which makes the head independent of image size.
        activation: nonlinearity, a name from ``layers.ACTIVATIONS``.
        weight_init: kernel initialiser of every layer, a name from ``layers.INITS``.
        init_scale: multiplies the initial weights' standard deviation.
    """
    num_outputs: int
    channels: tuple[int, ...] = (32, 64)
    kernel_sizes: tuple[int, ...] = (3, 3)
    stride: int = 2
    padding: int = 1
    batch_norm: bool = False
    readout: str = "flatten"
    activation: str = "relu"
    weight_init: str = "lecun"
    init_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        layers.check_choice("readout", self.readout, READOUTS)
        h = layers.conv_stack(layers.as_image(x), self.channels, self.kernel_sizes,
                              self.stride, self.padding, self.batch_norm,
                              layers.activation(self.activation), self.weight_init,
                              self.init_scale, train)
        h = layers.flatten(h) if self.readout == "flatten" else layers.global_average_pool(h)
        return layers.dense(self.num_outputs, self.weight_init, self.init_scale)(h)


def check(options: dict, input_shape: tuple[int, ...] | None = None) -> None:
    """Raise `jaxdl.models.OptionError` naming the first CNN1D/CNN2D option not allowed;
    with `input_shape` (one example) also the layer lengths (both CNNs' fields)."""
    layers.check_common(options)
    image = "readout" in options  # CNN2D has a readout; CNN1D reads signals
    if image:
        layers.require(options["readout"] in READOUTS, "readout",
                       f"must be one of {', '.join(READOUTS)}", options["readout"])
    layers.check_conv_stack(options, layers.spatial_of(input_shape, image))
