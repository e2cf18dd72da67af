"""Measurements on models and trained runs: pure functions of params and data."""

__all__ = []
