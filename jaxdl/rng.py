"""The one way keys are made: purpose keys folded from a trial's root key.

Contract (docs/architecture.md): `purpose = fold_in(root, PURPOSE)` and
`key at step s = fold_in(purpose, s)`. No key is ever split and carried in a
Python variable across steps, so chunking, resuming and vectorizing a run
cannot change any random number it draws.
"""
from __future__ import annotations

import jax

__all__ = ["INIT", "DATA_ORDER", "DROPOUT", "AUGMENT", "ADVERSARIAL", "MEASURE", "NOISE",
           "PRUNE", "root_key", "purpose_key", "step_key"]

# Purposes: fixed integers, never reordered (changing one changes every result).
INIT = 0
DATA_ORDER = 1
DROPOUT = 2
AUGMENT = 3
ADVERSARIAL = 4  # attacks inside adversarial training (random starts)
MEASURE = 5  # a study's measurements of a finished trial (probes, attacks)
NOISE = 6  # input and weight noise as regularizers
PRUNE = 7  # random pruning masks


def root_key(seed: int) -> jax.Array:
    """Raw uint32 key of a trial: a plain array, so checkpoints store it as data."""
    return jax.random.PRNGKey(seed)


def purpose_key(root: jax.Array, purpose: int) -> jax.Array:
    return jax.random.fold_in(root, purpose)


def step_key(root: jax.Array, purpose: int, step: jax.Array | int) -> jax.Array:
    """The key of `purpose` at training step `step` (a traced int is fine)."""
    return jax.random.fold_in(purpose_key(root, purpose), step)
