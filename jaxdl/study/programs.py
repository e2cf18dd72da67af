"""Vectorized programs by group key, built once per process.

A search's successive points, or several sweeps in one notebook, reuse the compiled
program of a group; the sweep driver (run.py) trains with it and measure.py restores a
group's stacked checkpoint with its shapes, so it lives below both.
"""
from __future__ import annotations

from jaxdl.study import vectorize
from jaxdl.training import loop

__all__ = ["program_for"]

_PROGRAMS: dict[str, vectorize.Program] = {}


def program_for(key: str, run: loop.Run) -> vectorize.Program:
    """The vectorized program of group key `key`, built once per process."""
    if key not in _PROGRAMS:
        _PROGRAMS[key] = vectorize.build_program(run)
    return _PROGRAMS[key]
