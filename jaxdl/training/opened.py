"""A finished (or interrupted) run, opened for reading: `jaxdl.load_run(dir)`.

    run = jaxdl.load_run("runs/cnn")
    run.config.model.name, run.steps        # 'cnn1d', [2000, 4000, 6000]: checkpointed steps
    run.result["test"]["accuracy"]          # result.json (None: the run did not finish)
    run.metrics                             # DataFrame: one row per (step, split), a column per metric
    run.evaluate("test")                    # {'loss': ..., 'accuracy': ..., 'f1_macro': ...}
    run.apply(x)                            # the model's outputs (inference mode), newest checkpoint
    run.state(step=2000)                    # the TrainState checkpointed at step 2000

Reading never writes into the run directory (checkpoints are opened read-only, the lock
is neither taken nor touched, so a run still training can be opened) and executes no
code from it: the only code run is the import of the user components its config.json
records (`saved.reopen`), as `jaxdl train --workdir RUN` does. Problems are one line
naming the file: `WorkdirError`, or `ConfigError` for a config that no longer builds.
"""
from __future__ import annotations

import functools
import os
import sys
from typing import Any

import jax
import ml_collections
import numpy as np
import pandas as pd

from jaxdl import saved as saved_lib
from jaxdl import models
from jaxdl.training import checkpoint as checkpoint_lib
from jaxdl.training import loop
from jaxdl.training import state as state_lib
from jaxdl.training import workdir as workdir_lib

__all__ = ["OpenedRun", "load_run"]


def load_run(directory: str) -> "OpenedRun":
    """The run in `directory`, opened for reading; WorkdirError (one line) when it holds
    none. Its config and files are read now; data, model and states only when asked for.
    A user component whose source changed since the run was made is named in one warning
    line on stderr (the run is opened with the current source)."""
    if not os.path.isdir(directory):
        raise workdir_lib.WorkdirError(f"{directory}: no such directory")
    files = workdir_lib.RunFiles(directory, write=False)
    saved = files.saved_config()
    if saved is None:
        raise workdir_lib.WorkdirError(f"{directory} holds no jaxdl run "
                                       f"({workdir_lib.CONFIG} missing)")
    config = saved_lib.reopen(saved)
    for line in saved_lib.source_changes(saved, config):
        print(f"jaxdl: warning: {directory}: {line}", file=sys.stderr)
    return OpenedRun(directory, files, config)


class OpenedRun:
    """A view of one run directory. Attributes read its files as they are when asked
    (a run still training shows its progress); states are restored from its checkpoints."""

    def __init__(self, directory: str, files: workdir_lib.RunFiles,
                 config: ml_collections.ConfigDict):
        self.directory, self._files, self.config = directory, files, config

    def __repr__(self) -> str:
        return f"OpenedRun({self.directory!r})"

    @property
    def name(self) -> str:
        """The directory's own name: `runs/cnn` -> 'cnn'."""
        return os.path.basename(os.path.normpath(os.path.abspath(self.directory)))

    @property
    def steps(self) -> list[int]:
        """The steps of the complete checkpoints, oldest first."""
        directory = self._checkpoints()
        if not os.path.isdir(directory):
            return []
        checkpoints = checkpoint_lib.Checkpoints(directory, read_only=True)
        try:
            return checkpoints.steps()
        finally:
            checkpoints.close()

    @property
    def result(self) -> dict | None:
        """result.json (the final metrics), or None: the run did not finish."""
        return self._files.result() if self._files.finished() else None

    @property
    def metrics(self) -> pd.DataFrame:
        """metrics.jsonl as it is written, wide: one row per line — `step`, `split`
        ('train', 'test') and a column per metric (NaN where a split lacks one)."""
        rows = [row for _, row in self._files.metrics_rows() or []]
        return pd.DataFrame(rows, columns=None if rows else ["step", "split"])

    @property
    def history(self) -> list[dict]:
        """history.jsonl's events (start, resume, intervention, interrupted, finish)."""
        return self._files.history_rows()

    @functools.cached_property
    def built(self) -> loop.Run:
        """The run's data, model and compiled functions (`jaxdl.build`), built once; its
        trackers (W&B, MLflow) are not needed to read it."""
        return loop.build(loop.untracked(self.config))

    def state(self, step: int | None = None) -> state_lib.TrainState:
        """The TrainState at checkpointed `step` (None: the newest that restores), on
        the run's devices; WorkdirError when there is no such checkpoint."""
        run = self.built
        try:  # `_abstract_for`: a checkpoint from before an intervention has its own shapes
            restored = checkpoint_lib.read(self._checkpoints(),
                                           lambda saved: loop._abstract_for(run, saved), step)
        except (checkpoint_lib.NoCheckpointAt, checkpoint_lib.NoUsableCheckpoint) as e:
            raise workdir_lib.WorkdirError(str(e)) from None
        if restored is None:
            raise workdir_lib.WorkdirError(f"{self._checkpoints()}: no checkpoint saved")
        return loop.as_train_state(restored[0])

    def apply(self, x: Any, step: int | None = None) -> jax.Array:
        """The model's outputs on inputs `x` in inference mode (no dropout, batch-norm
        statistics as trained), with the state at `step` (None: the newest)."""
        state = self.state(step)
        return self._apply(state.params, state.model_state, np.asarray(x))

    def evaluate(self, split: str = "test", step: int | None = None) -> dict[str, float]:
        """The scalars the run logs for `split` ('train' or 'test'), of the state at `step`
        (None: the newest) — at the last step, result.json's, bit for bit on the same machine."""
        run = self.built
        sets = loop.eval_sets(run)
        if split not in sets:
            raise ValueError(f"split {split!r}: choose one of {', '.join(sets)}")
        return loop.evaluate(run, self.state(step), {split: sets[split]})[split][0]

    @functools.cached_property
    def _apply(self) -> Any:
        """`models.apply` in inference mode, compiled once per opened run."""
        model = self.built.model
        return jax.jit(lambda params, model_state, x: models.apply(
            model, params, model_state, x, train=False)[0])

    def _checkpoints(self) -> str:
        return os.path.join(self.directory, "checkpoints")
