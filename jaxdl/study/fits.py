"""Power-law fits of a loss or an error against a size (data, parameters, compute).

    power_law(n, err)                 # err ≈ a·n^(−b): a line on log–log axes
    power_law_with_floor(N, loss)     # loss ≈ a·N^(−b) + floor (Kaplan et al. 2020's form
                                      # with an irreducible term, as Hoffmann et al. 2022's E)

Both are fits of one curve; a study fits each seed's curve and puts a Student-t interval
over seeds on the exponent (report.mean_ci), so that the interval sees the seed-to-seed
spread rather than the residuals of one fit.
"""
from __future__ import annotations

import numpy as np
from scipy import optimize, stats

__all__ = ["power_law", "power_law_with_floor", "log_rms"]


def power_law(n: np.ndarray, err: np.ndarray) -> dict[str, float]:
    """Least squares of log err on log n: err ≈ a n^(−b); returns a, b, r and the
    half-width of b's 95% interval (Student t, len(n) − 2 degrees of freedom)."""
    fit = stats.linregress(np.log(n), np.log(err))
    half = float(stats.t.ppf(0.975, len(n) - 2) * fit.stderr) if len(n) > 2 else float("nan")
    return {"a": float(np.exp(fit.intercept)), "b": float(-fit.slope), "r": float(fit.rvalue),
            "b_ci": half}


def log_rms(y: np.ndarray, fitted: np.ndarray) -> float:
    """Root-mean-square of log y − log fitted: 0.1 means the fit misses a typical point by
    about 10% (the scale on which a loss spanning decades is judged)."""
    return float(np.sqrt(np.mean(np.square(np.log(y) - np.log(fitted)))))


def power_law_with_floor(x: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """y ≈ a·x^(−b) + floor, floor ≥ 0, by least squares on log y (every point weighs the
    same whatever its size; a loss over decades would otherwise be fitted at its largest
    values only). Returns a, b, floor and rms (log_rms of the fit).

    Started from the line on log–log axes (floor 0) and from floors at fractions of
    min(y), the best of those local fits is kept: the objective has flat valleys (a
    small a·x^(−b) trades against the floor), and a single start can stop in one.
    Constant y gives b = 0 exactly (no power law: a flat curve, not a fitted nearly-0)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.shape != y.shape or x.size < 3 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError(f"power_law_with_floor: needs >= 3 positive x and y of one shape, "
                         f"got {x.shape} and {y.shape}")
    if np.all(y == y[0]):
        return {"a": float(y[0]), "b": 0.0, "floor": 0.0, "rms": 0.0}
    u = np.log(x)

    def residuals(p: np.ndarray) -> np.ndarray:  # p = (log a, b, floor)
        return np.log(np.exp(p[0] - p[1] * u) + p[2]) - np.log(y)

    best = None
    for fraction in (0.0, 0.25, 0.5, 0.75, 0.9):
        floor = fraction * y.min()
        line = stats.linregress(u, np.log(y - floor))
        start = np.array([line.intercept, -line.slope, floor])
        if not np.all(np.isfinite(start)):  # y - floor constant: linregress's slope is NaN
            start = np.array([np.log(y.mean()), 0.0, 0.0])
        fit = optimize.least_squares(residuals, start, bounds=([-np.inf, -np.inf, 0.0], np.inf))
        if best is None or fit.cost < best.cost - 1e-15:
            best = fit
    log_a, b, floor = best.x
    a = float(np.exp(log_a))
    return {"a": a, "b": float(b), "floor": float(floor),
            "rms": log_rms(y, a * x ** -b + floor)}
