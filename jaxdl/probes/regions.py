"""Linear regions of a ReLU network along a 1-D path, counted exactly.

    layers = mlp_layers(params)                 # [(W, b), ...] of a jaxdl `mlp` (relu)
    count_regions(layers, x0, x1)               # pieces of the path x(t) = x0 + t (x1 - x0)
    trajectory_lengths(layers, x0, x1)          # length of the path's image after each layer
    angular_lengths(layers, x0, x1)             # length of its direction h / |h| (radians)
    expected_breakpoints(layers, x0, x1)        # the count a zero-bias Gaussian init predicts
    along_segments(layers, starts, ends)        # all of the above for many segments

On the path, every pre-activation is piecewise linear in t. Layer by layer, each
linear piece is cut where a neuron's pre-activation crosses zero (solved exactly
for t), so the pieces after the last hidden layer are exactly the regions the
path crosses: count = breakpoints + 1 (consecutive pieces differ in the
activation pattern of at least one neuron). Hanin & Rolnick (2019) show the
expected count at initialization grows with the total number of neurons, not
exponentially with depth as the maximum does (Raghu et al. 2017).

Why the count is ~ linear in neurons at a zero-bias init (jaxdl's biases start at
0): a neuron of layer l with an isotropic Gaussian weight vector w switches along
the path once per crossing of w's great hypersphere by the direction
u(t) = h_{l-1}(t) / |h_{l-1}(t)|, and by Crofton's formula a curve of spherical
length Λ crosses a random great hypersphere Λ / π times on average. So
E[breakpoints] = Σ_l n_l Λ_{l-1} / π: linear in the number of neurons n_l, with a
per-layer weight Λ_{l-1} (the angle the path subtends after l-1 layers) that does
not grow with depth (ReLU layers contract angles). For one hidden layer and a
segment subtending the angle θ at the origin, E[count] = 1 + n θ / π. Rescaling
any layer's weights by c > 0 (the init scale σ_w) leaves every pattern unchanged
— ReLU is positively homogeneous — so at zero bias the count does not depend on
σ_w, while the trajectory length after l layers scales as (σ_w / σ_He)^l: the
exponential growth of Raghu et al. for σ_w above He's √2, decay below.
"""
from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

__all__ = ["Pieces", "mlp_layers", "hidden_pieces", "count_regions", "trajectory_lengths",
           "angular_lengths", "expected_breakpoints", "along_segments"]

Layer = tuple[np.ndarray, np.ndarray]


class Pieces(NamedTuple):
    """The image of the path after a layer: on t in [cuts[i], cuts[i+1]], it is
    offset[i] + t * slope[i]. cuts: (P + 1,), offset and slope: (P, features)."""
    cuts: np.ndarray
    offset: np.ndarray
    slope: np.ndarray

    def values(self, t: np.ndarray) -> np.ndarray:
        """h(t) of piece i at t[i] (one t per piece)."""
        return self.offset + t[:, None] * self.slope


def mlp_layers(params: Any) -> list[Layer]:
    """[(kernel, bias), ...] of a jaxdl MLP (Dense_0 ... Dense_depth), in float64."""
    names = sorted(params, key=lambda n: int(n.split("_")[-1]))
    return [(np.asarray(params[n]["kernel"], np.float64), np.asarray(params[n]["bias"], np.float64))
            for n in names]


def _cut(pieces: Pieces, kernel: np.ndarray, bias: np.ndarray) -> Pieces:
    """The image under relu(h W + b), every piece cut where a pre-activation crosses 0.

    A root strictly inside its own piece's interval is a breakpoint; the new pieces
    are the intervals between all old cuts and new breakpoints, each taking the
    pre-activation of the old piece that contains it, masked by the activation
    pattern at its midpoint.
    """
    z_off, z_slope = pieces.offset @ kernel + bias, pieces.slope @ kernel
    with np.errstate(divide="ignore", invalid="ignore"):
        roots = -z_off / z_slope
    t0, t1 = pieces.cuts[:-1, None], pieces.cuts[1:, None]
    inside = roots[(roots > t0) & (roots < t1) & np.isfinite(roots)]
    cuts = np.unique(np.concatenate([pieces.cuts, inside]))
    mid = 0.5 * (cuts[:-1] + cuts[1:])
    parent = np.searchsorted(pieces.cuts, mid) - 1
    z_off, z_slope = z_off[parent], z_slope[parent]
    active = (z_off + mid[:, None] * z_slope) > 0
    return Pieces(cuts, z_off * active, z_slope * active)


def hidden_pieces(layers: list[Layer], x0: np.ndarray, x1: np.ndarray) -> list[Pieces]:
    """Pieces of the path x0 + t (x1 - x0), t in [0, 1]: at the input and after each
    hidden layer (the last layer is the linear head, which cuts nothing)."""
    x0, x1 = np.asarray(x0, np.float64).ravel(), np.asarray(x1, np.float64).ravel()
    pieces = Pieces(np.array([0.0, 1.0]), x0[None], (x1 - x0)[None])
    history = [pieces]
    for kernel, bias in layers[:-1]:
        pieces = _cut(pieces, kernel, bias)
        history.append(pieces)
    return history


def count_regions(layers: list[Layer], x0: np.ndarray, x1: np.ndarray) -> int:
    """Number of linear regions the segment from x0 to x1 passes through."""
    return len(hidden_pieces(layers, x0, x1)[-1].slope)


def _length(pieces: Pieces) -> float:
    """Arc length: sum over pieces of |slope| (t1 - t0)."""
    return float(np.sum(np.linalg.norm(pieces.slope, axis=1) * np.diff(pieces.cuts)))


def _angular_length(pieces: Pieces) -> float:
    """Length of h / |h| on the unit sphere. A straight piece not through the origin
    sweeps the great-circle arc between its endpoints' directions, so each piece adds
    the angle between h(t0) and h(t1) (0 where h vanishes: no direction to turn)."""
    a, b = pieces.values(pieces.cuts[:-1]), pieces.values(pieces.cuts[1:])
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    cos = np.sum(a * b, axis=1) / np.where(norms > 0, norms, 1.0)
    return float(np.sum(np.where(norms > 0, np.arccos(np.clip(cos, -1.0, 1.0)), 0.0)))


def trajectory_lengths(layers: list[Layer], x0: np.ndarray, x1: np.ndarray) -> list[float]:
    """Arc length of the path's image: at the input, then after each hidden layer."""
    return [_length(p) for p in hidden_pieces(layers, x0, x1)]


def angular_lengths(layers: list[Layer], x0: np.ndarray, x1: np.ndarray) -> list[float]:
    """Spherical length (radians) of the image's direction h / |h|: at the input (the
    angle the segment subtends at the origin), then after each hidden layer."""
    return [_angular_length(p) for p in hidden_pieces(layers, x0, x1)]


def expected_breakpoints(layers: list[Layer], x0: np.ndarray, x1: np.ndarray) -> float:
    """Σ_l n_l Λ_{l-1} / π: the mean number of breakpoints over each hidden layer's
    weights drawn isotropic Gaussian with zero bias, given the layers below (Crofton's
    formula; see the module docstring). Exact in expectation for jaxdl's initialisations
    at step 0; after training (biases, correlated weights) only a reference."""
    return _crofton(layers, [_angular_length(p) for p in hidden_pieces(layers, x0, x1)])


def _crofton(layers: list[Layer], angular: list[float]) -> float:
    widths = [kernel.shape[1] for kernel, _ in layers[:-1]]
    return float(sum(n * angle for n, angle in zip(widths, angular)) / np.pi)


def along_segments(layers: list[Layer], starts: np.ndarray, ends: np.ndarray
                   ) -> dict[str, np.ndarray]:
    """Per segment i from starts[i] to ends[i]: `regions` (count), `breakpoints_expected`
    (the zero-bias prediction), `trajectory` (lengths at the input and after each hidden
    layer, shape (segments, depth + 1)) and `angular` (the same for h / |h|)."""
    out: dict[str, list] = {"regions": [], "breakpoints_expected": [], "trajectory": [],
                            "angular": []}
    for x0, x1 in zip(starts, ends):
        history = hidden_pieces(layers, x0, x1)
        angular = [_angular_length(p) for p in history]
        out["regions"].append(len(history[-1].slope))
        out["breakpoints_expected"].append(_crofton(layers, angular))
        out["trajectory"].append([_length(p) for p in history])
        out["angular"].append(angular)
    return {k: np.asarray(v, np.float64) for k, v in out.items()}
