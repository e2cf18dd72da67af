"""Linear regions of a ReLU network along a 1-D path, counted exactly.

    layers = mlp_layers(params)                 # [(W, b), ...] of a jaxdl `mlp` (relu)
    count_regions(layers, x0, x1)               # pieces of the path x(t) = x0 + t (x1 - x0)
    trajectory_lengths(layers, x0, x1)          # length of the path's image after each layer

On the path, every pre-activation is piecewise linear in t. Layer by layer, each
linear piece is cut where a neuron's pre-activation crosses zero (solved exactly
for t), so the pieces after the last hidden layer are exactly the regions the
path crosses: count = breakpoints + 1. Hanin & Rolnick (2019) show the expected
count at initialization grows with the total number of neurons, not
exponentially with depth as the maximum does (Raghu et al. 2017).
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

Layer = tuple[np.ndarray, np.ndarray]


class Piece(NamedTuple):
    """On t in [t0, t1], a layer's output is offset + t * slope."""
    t0: float
    t1: float
    offset: np.ndarray
    slope: np.ndarray


def mlp_layers(params: Any) -> list[Layer]:
    """[(kernel, bias), ...] of a jaxdl MLP (Dense_0 ... Dense_depth), in float64."""
    names = sorted(params, key=lambda n: int(n.split("_")[-1]))
    return [(np.asarray(params[n]["kernel"], np.float64), np.asarray(params[n]["bias"], np.float64))
            for n in names]


def _cut(piece: Piece, kernel: np.ndarray, bias: np.ndarray) -> list[Piece]:
    """The piece's image under relu(x W + b), cut where any pre-activation crosses 0."""
    z_off, z_slope = piece.offset @ kernel + bias, piece.slope @ kernel
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = -z_off / z_slope
    inside = roots[(roots > piece.t0) & (roots < piece.t1) & np.isfinite(roots)]
    cuts = np.concatenate([[piece.t0], np.unique(inside), [piece.t1]])
    out = []
    for u0, u1 in zip(cuts[:-1], cuts[1:]):
        active = (z_off + 0.5 * (u0 + u1) * z_slope) > 0  # pattern at the midpoint
        out.append(Piece(float(u0), float(u1), z_off * active, z_slope * active))
    return out


def hidden_pieces(layers: list[Layer], x0: np.ndarray, x1: np.ndarray) -> list[list[Piece]]:
    """Pieces of the path after the input and after each hidden layer (not the head)."""
    x0, x1 = np.asarray(x0, np.float64).ravel(), np.asarray(x1, np.float64).ravel()
    pieces = [Piece(0.0, 1.0, x0, x1 - x0)]
    history = [pieces]
    for kernel, bias in layers[:-1]:
        pieces = [p for piece in pieces for p in _cut(piece, kernel, bias)]
        history.append(pieces)
    return history


def count_regions(layers: list[Layer], x0: np.ndarray, x1: np.ndarray) -> int:
    """Number of linear regions the segment from x0 to x1 passes through."""
    return len(hidden_pieces(layers, x0, x1)[-1])


def trajectory_lengths(layers: list[Layer], x0: np.ndarray, x1: np.ndarray) -> list[float]:
    """Arc length of the path's image: at the input, then after each hidden layer."""
    return [float(sum(np.linalg.norm(p.slope) * (p.t1 - p.t0) for p in pieces))
            for pieces in hidden_pieces(layers, x0, x1)]
