"""Orbax checkpoints of the whole TrainState plus the config that made it.

    checkpoints = Checkpoints(f"{workdir}/checkpoints", keep=3)
    checkpoints.save(state, config)                 # async: returns once arrays are on the host
    state, config, step = checkpoints.restore_latest(abstract_state)

`orbax.checkpoint.CheckpointManager` (not the experimental v1 Checkpointer):
stable API, async saves, keep-N, and atomic finalisation — a step directory
is written under a temporary name and renamed only when complete, so a save
killed at any moment is never listed, and never loaded. The state is stored as
arrays (tensorstore) and the config as JSON: reading a workdir never unpickles
or executes anything.
"""
from __future__ import annotations

import contextlib
import logging
import os
import sys
from typing import Any, Callable

import jax
import ml_collections
import orbax.checkpoint as ocp

# orbax logs every save at INFO through absl; keep the run's output readable.
logging.getLogger("absl").setLevel(logging.WARNING)


class NoUsableCheckpoint(RuntimeError):
    """Checkpoints exist but none of them can be restored."""


def _args_save(state: Any, config: ml_collections.ConfigDict) -> ocp.args.Composite:
    return ocp.args.Composite(state=ocp.args.StandardSave(state),
                              config=ocp.args.JsonSave(config.to_dict()))


@contextlib.contextmanager
def _quiet_absl():
    """orbax warns on every read-only manager that its directory is read-only: we asked."""
    logger = logging.getLogger("absl")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


class Checkpoints:
    """The checkpoints of one run directory."""

    def __init__(self, directory: str, keep: int = 3, *, read_only: bool = False):
        self.directory = os.path.abspath(directory)
        options = ocp.CheckpointManagerOptions(
            # read-only: the values orbax would force (and warn about) given up front
            max_to_keep=None if read_only else keep, create=not read_only,
            read_only=read_only, save_interval_steps=0 if read_only else 1,
            cleanup_tmp_directories=not read_only,  # partial saves of a killed run
            enable_async_checkpointing=True)
        with _quiet_absl() if read_only else contextlib.nullcontext():
            self._manager = ocp.CheckpointManager(self.directory, options=options)

    def steps(self) -> list[int]:
        """Steps of the complete checkpoints, oldest first."""
        return sorted(self._manager.all_steps())

    def save(self, state: Any, config: ml_collections.ConfigDict) -> None:
        """Start saving `state` at its step; training continues while files are written."""
        step = int(jax.device_get(state.step))
        if step in self._manager.all_steps():  # e.g. a final save right after a periodic one
            return
        self._manager.save(step, args=_args_save(state, config), force=True)

    def wait(self) -> None:
        self._manager.wait_until_finished()

    def close(self) -> None:
        self._manager.close()

    def saved_config(self, step: int) -> dict:
        """The config stored with the checkpoint at `step` (JSON only: no arrays read)."""
        return self._manager.restore(
            step, args=ocp.args.Composite(config=ocp.args.JsonRestore())).config

    def restore(self, step: int, abstract_state: Any | None = None) -> tuple[Any, dict]:
        """(state, config dict) at `step`; without `abstract_state`, plain nested dicts."""
        restore = (ocp.args.StandardRestore(abstract_state) if abstract_state is not None
                   else ocp.args.StandardRestore())
        restored = self._manager.restore(
            step, args=ocp.args.Composite(state=restore, config=ocp.args.JsonRestore()))
        return restored.state, restored.config

    def restore_latest(self, abstract_for: Callable[[dict], Any] | None = None
                       ) -> tuple[Any, dict, int] | None:
        """(state, config, step) of the newest checkpoint that restores; warns about
        each newer one that does not. `abstract_for(config)` gives the state's shapes
        for the config saved with a checkpoint (None: restore plain nested dicts).

        Returns None when there are no checkpoints; raises NoUsableCheckpoint when
        there are some but none restores.
        """
        steps = self.steps()
        for step in reversed(steps):
            try:
                abstract = abstract_for(self.saved_config(step)) if abstract_for else None
                state, config = self.restore(step, abstract)
            except Exception as e:  # orbax/tensorstore raise many types for damaged files
                print(f"jaxdl: warning: checkpoint at step {step} in {self.directory} is "
                      f"unreadable ({type(e).__name__}: {str(e).splitlines()[0][:200]}); "
                      f"falling back to the previous one", file=sys.stderr)
                continue
            return state, config, step
        if steps:
            raise NoUsableCheckpoint(
                f"none of the checkpoints in {self.directory} (steps {steps}) can be restored")
        return None


def read_latest(run_dir: str) -> tuple[Any, dict, int] | None:
    """(state as plain nested dicts, config, step) of the newest checkpoint that restores
    in the run directory `run_dir` (None: none saved), read-only and closed again: how
    another run's weights are read (warm starts, distillation teachers, pruning rounds)."""
    checkpoints = Checkpoints(os.path.join(run_dir, "checkpoints"), read_only=True)
    try:
        return checkpoints.restore_latest(None)
    finally:
        checkpoints.close()
