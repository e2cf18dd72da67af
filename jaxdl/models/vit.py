"""A tiny Vision Transformer for images and 1-D signals."""
from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from jaxdl.models import layers

__all__ = ["POOLS", "POSITION_EMBEDDING_STD", "EncoderBlock", "ViT", "check"]

POOLS = ("cls", "mean")
# ViT's (and BERT's) scale for learned position embeddings.
POSITION_EMBEDDING_STD = 0.02


class EncoderBlock(nn.Module):
    """Pre-LayerNorm transformer block: x + MHA(LN(x)), then x + MLP(LN(x)).

    Attributes:
        heads: number of attention heads (must divide the token width).
        mlp_dim: hidden units of the MLP.
        dropout: rate of dropout on attention weights and after each sublayer.
        activation: MLP nonlinearity, a name from ``layers.ACTIVATIONS``.
        weight_init: kernel initialiser, a name from ``layers.INITS``.
        init_scale: multiplies the initial weights' standard deviation.
    """
    heads: int = 4
    mlp_dim: int = 128
    dropout: float = 0.0
    activation: str = "gelu"
    weight_init: str = "glorot"
    init_scale: float = 1.0

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        dim = x.shape[-1]
        init = layers.kernel_init(self.weight_init, self.init_scale)
        y = nn.MultiHeadDotProductAttention(
            num_heads=self.heads, dropout_rate=self.dropout, deterministic=not train,
            kernel_init=init)(nn.LayerNorm()(x))
        x = x + nn.Dropout(self.dropout, deterministic=not train)(y)
        y = layers.dense(self.mlp_dim, self.weight_init, self.init_scale)(nn.LayerNorm()(x))
        y = nn.Dropout(self.dropout, deterministic=not train)(layers.activation(self.activation)(y))
        y = layers.dense(dim, self.weight_init, self.init_scale)(y)
        return x + nn.Dropout(self.dropout, deterministic=not train)(y)


class ViT(nn.Module):
    """Patch embedding, learned positions, pre-LN transformer blocks, linear head.

    (B, H, W, C) images are cut into patch_size x patch_size patches and
    (B, L) or (B, L, C) signals into segments of patch_size positions
    (a rank-3 input is a signal, so grayscale images need their channel axis);
    every spatial size must be a multiple of patch_size. MNIST-1D's length 40
    gives 10 tokens at the default patch size, 8x8 digits 4 and CIFAR 64.

    Attributes:
        num_outputs: number of logits.
        patch_size: side of a patch, in positions or pixels.
        dim: width of every token.
        depth: number of transformer blocks.
        heads: attention heads per block (must divide ``dim``).
        mlp_dim: hidden units of each block's MLP.
        dropout: rate of dropout on the embedded tokens, the attention weights
            and after every sublayer ('dropout' rng).
        pool: 'cls' reads out a learned class token prepended to the patches;
            'mean' averages the patch tokens.
        activation: MLP nonlinearity, a name from ``layers.ACTIVATIONS``.
        weight_init: kernel initialiser of the patch embedding, attention, MLPs
            and head, a name from ``layers.INITS``.
        init_scale: multiplies those initial weights' standard deviation.
    """
    num_outputs: int
    patch_size: int = 4
    dim: int = 64
    depth: int = 2
    heads: int = 4
    mlp_dim: int = 128
    dropout: float = 0.0
    pool: str = "cls"
    activation: str = "gelu"
    weight_init: str = "glorot"
    init_scale: float = 1.0

    def _patches(self, x: jax.Array) -> jax.Array:
        """(B, *spatial, C) -> (B, tokens, dim) by a patch-sized, patch-strided conv."""
        spatial = x.shape[1:-1]
        if any(size % self.patch_size for size in spatial):
            raise ValueError(f"input size {spatial} is not a multiple of "
                             f"patch_size {self.patch_size}")
        embed = layers.conv(self.dim, self.patch_size, len(spatial), self.patch_size, 0,
                            self.weight_init, self.init_scale, name="patch_embedding")
        h = embed(x)
        return h.reshape(h.shape[0], -1, self.dim)

    @nn.compact
    def __call__(self, x: jax.Array, *, train: bool) -> jax.Array:
        layers.check_choice("pool", self.pool, POOLS)
        h = self._patches(layers.as_spatial(x))
        if self.pool == "cls":
            cls = self.param("cls", nn.initializers.zeros, (1, 1, self.dim))
            h = jnp.concatenate([jnp.broadcast_to(cls, (h.shape[0], 1, self.dim)), h], axis=1)
        positions = self.param("position_embedding",
                               nn.initializers.normal(POSITION_EMBEDDING_STD), (1, *h.shape[1:]))
        h = nn.Dropout(self.dropout, deterministic=not train)(h + positions)
        for _ in range(self.depth):
            h = EncoderBlock(self.heads, self.mlp_dim, self.dropout, self.activation,
                             self.weight_init, self.init_scale)(h, train=train)
        h = nn.LayerNorm()(h)
        h = h[:, 0] if self.pool == "cls" else h.mean(axis=1)
        return layers.dense(self.num_outputs, self.weight_init, self.init_scale)(h)


def check(options: dict, input_shape: tuple[int, ...] | None = None) -> None:
    """Raise `jaxdl.models.OptionError` naming the first ViT option not allowed; with
    `input_shape` (one example) also that the patches tile the input."""
    layers.check_common(options)
    for key in ("patch_size", "dim", "heads", "mlp_dim"):
        layers.check_int(options, key, 1)
    layers.check_int(options, "depth", 0)
    layers.require(options["dim"] % options["heads"] == 0, "heads",
                   f"must divide dim {options['dim']}", options["heads"])
    layers.require(options["pool"] in POOLS, "pool", f"must be one of {', '.join(POOLS)}",
                   options["pool"])
    spatial = layers.spatial_of(input_shape, None)
    if spatial is not None:
        layers.require(all(size % options["patch_size"] == 0 for size in spatial), "patch_size",
                       f"must divide every spatial size of the inputs {spatial}",
                       options["patch_size"])
