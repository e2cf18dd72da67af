"""Multilayer perceptron, including the published MNIST-1D MLP."""
from __future__ import annotations

import flax.linen as nn
import jax

from jaxdl.models import layers

__all__ = ["MLP", "check"]


class MLP(nn.Module):
    """Fully connected network on the flattened input.

    ``MLP(10, residual=True)`` is the published MNIST-1D MLP
    ``h = relu(W1 x); h = h + relu(W2 h); logits = W3 h`` (15,210 parameters
    for 40 inputs); ``depth=0`` is a linear model (logistic regression).

    With ``batch_norm`` every hidden layer is Dense -> BN -> activation (Ioffe &
    Szegedy 2015), so a hidden layer's pre-activations are standardized over the
    batch whatever the scale of its weights: ``BN(a W h) = BN(W h)`` for a > 0
    (up to epsilon), which is why BN tolerates a badly scaled initialization. The
    Dense bias is dropped there, as BN's shift replaces it.

    Attributes:
        num_outputs: number of logits.
        width: units of every hidden layer.
        depth: number of hidden layers; 0 maps the input straight to logits.
        activation: hidden nonlinearity, a name from ``layers.ACTIVATIONS``.
        residual: add each hidden layer's input to its output, for every hidden
            layer after the first (the first changes the width, so it cannot).
        dropout: rate of dropout after every hidden layer ('dropout' rng).
        batch_norm: batch norm between each hidden layer's Dense and its activation
            (statistics in the ``batch_stats`` collection); off: the layers of before.
        weight_init: kernel initialiser of every layer, a name from ``layers.INITS``.
        init_scale: multiplies the initial weights' standard deviation.
    """
    num_outputs: int
    width: int = 100
    depth: int = 2
    activation: str = "relu"
    residual: bool = False
    dropout: float = 0.0
    batch_norm: bool = False
    weight_init: str = "lecun"
    init_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        act = layers.activation(self.activation)
        h = layers.flatten(x)
        for i in range(self.depth):
            pre = layers.dense(self.width, self.weight_init, self.init_scale,
                               use_bias=not self.batch_norm)(h)
            out = act(layers.batch_norm(train)(pre) if self.batch_norm else pre)
            h = h + out if self.residual and i > 0 else out
            h = nn.Dropout(self.dropout, deterministic=not train)(h)
        return layers.dense(self.num_outputs, self.weight_init, self.init_scale)(h)


def check(options: dict, input_shape: tuple[int, ...] | None = None) -> None:
    """Raise `jaxdl.models.OptionError` naming the first MLP option not allowed."""
    layers.check_common(options)
    layers.check_int(options, "width", 1)
    layers.check_int(options, "depth", 0)
