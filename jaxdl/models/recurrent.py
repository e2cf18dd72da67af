"""Recurrent networks: the published MNIST-1D (bidirectional) GRU."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.models import layers

__all__ = ["READOUTS", "GRU", "check"]

READOUTS = ("flatten", "last", "mean")


class GRU(nn.Module):
    """A (bidirectional) GRU over the positions of a signal, then a linear head.

    Input (B, L) is L time steps of one feature; (B, L, C) of C features. The
    defaults are the published MNIST-1D GRU: hidden size 6, both directions,
    the outputs of all 40 steps flattened (480 features) into a linear layer.
    flax's cell carries only the non-redundant biases (b_ir, b_iz, b_in, b_hn;
    PyTorch also has b_hr, b_hz, which merely add to b_ir, b_iz), so it
    computes the same family of functions with 5,110 parameters for 10
    outputs instead of PyTorch's 5,134.

    Attributes:
        num_outputs: number of logits.
        hidden: size of the hidden state of each direction.
        bidirectional: also run a GRU from the end of the signal backwards and
            concatenate the two directions' features.
        readout: what the head sees: 'flatten' (the outputs of all steps, so it
            is tied to the training length), 'last' (each direction's final
            state) or 'mean' (outputs averaged over steps).
        weight_init: initialiser of the input-to-hidden kernels and of the head, a
            name from ``layers.INITS``; hidden-to-hidden kernels stay
            orthogonal, which keeps the recurrence well conditioned.
        init_scale: multiplies those initial weights' standard deviation.
    """
    num_outputs: int
    hidden: int = 6
    bidirectional: bool = True
    readout: str = "flatten"
    weight_init: str = "lecun"
    init_scale: float = 1.0

    def _rnn(self, name: str) -> nn.RNN:
        init = layers.kernel_init(self.weight_init, self.init_scale)
        return nn.RNN(nn.GRUCell(self.hidden, kernel_init=init, name=name))

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        layers.check_choice("readout", self.readout, READOUTS)
        if self.bidirectional:
            rnn = nn.Bidirectional(self._rnn("forward"), self._rnn("backward"))
        else:
            rnn = self._rnn("forward")
        seq = layers.as_sequence(x)
        # Zero initial state in the input's dtype (flax's default follows param_dtype,
        # which breaks float64 gradient checks and bf16 inputs).
        zero = jnp.zeros((seq.shape[0], self.hidden), seq.dtype)
        # The carry is each direction's final hidden state: 'last' for both.
        last, outputs = rnn(seq, initial_carry=(zero, zero) if self.bidirectional else zero,
                            return_carry=True)
        if self.readout == "flatten":
            features = layers.flatten(outputs)
        elif self.readout == "last":
            features = jnp.concatenate(last, axis=-1) if self.bidirectional else last
        else:
            features = outputs.mean(axis=1)
        return layers.dense(self.num_outputs, self.weight_init, self.init_scale)(features)


def check(options: dict, input_shape: tuple[int, ...] | None = None) -> None:
    """Raise `jaxdl.models.OptionError` naming the first GRU option not allowed."""
    layers.check_common(options)
    layers.check_int(options, "hidden", 1)
    layers.require(options["readout"] in READOUTS, "readout",
                   f"must be one of {', '.join(READOUTS)}", options["readout"])
