"""A run that dies as `kill -9` would (no save), in-process: for tests of what a resumed
run shows (tests/test_trackers.py, tests/test_tensorboard.py)."""
from jaxdl.training import hooks


class Crash(Exception):
    """Raised in place of the process's death."""


def crash_in_chunk(monkeypatch, start: int) -> None:
    """Make the run die (no save: kill -9) in the chunk that starts at step `start`, before
    logging it."""
    real = hooks.check_finite

    def check(chunk_start, metrics, ok):
        real(chunk_start, metrics, ok)
        if chunk_start == start:
            raise Crash(start)

    monkeypatch.setattr(hooks, "check_finite", check)
