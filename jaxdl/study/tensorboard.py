"""A sweep in TensorBoard: one run per finished trial, named by its axis values and seed, with
the HParams plugin's data, so that the trials can be compared in TensorBoard's HParams view.

    jaxdl sweep experiments/quickstart_sweep.py
    tensorboard --logdir runs/quickstart_sweep/tensorboard
    # runs `lr=0.01 weight_decay=0.0001 seed=0`, ...; HParams: lr, weight_decay, seed
    # against test/accuracy, test/loss, ... at the last step

Each trial's directory (`trials/<id>/`) keeps its own event files, named by the hash of its
point; this is a copy, made from the trial's metrics.jsonl once the trial is done. A trial's
copy is written once, into a temporary directory renamed into place, so shards writing
their own trials side by side never see a half-written run.
"""
from __future__ import annotations

import json
import os
import shutil
from typing import Any, Sequence

from tensorboard.compat.proto import summary_pb2
from tensorboard.plugins.hparams import api_pb2, plugin_data_pb2
from tensorboard.plugins.hparams import metadata as hparams_metadata
from tensorboard.plugins.hparams import summary_v2 as hparams_summary

from jaxdl.study import store as store_lib
from jaxdl.study import sweep
from jaxdl.training import workdir as workdir_lib
from jaxdl.training import writers

__all__ = ["DIRECTORY", "run_name", "hparams_of", "export"]

DIRECTORY = "tensorboard"


def run_name(trial: sweep.Trial, labels: Sequence[str]) -> str:
    """The trial's label ('lr=0.01 seed=0') as a directory name; a label that two trials
    share (two axes with one short name) gets the trial id too."""
    name = trial.label.replace(os.sep, "∕") or f"seed={trial.seed}"
    return name if list(labels).count(trial.label) == 1 else f"{name} ({trial.id})"


def hparams_of(trial: sweep.Trial) -> dict[str, Any]:
    """The trial's axis values and seed as HParams values: numbers, strings and booleans as
    they are, anything else (a list, None) as its JSON text."""
    values = {**trial.point, "seed": trial.seed}
    return {k: v if isinstance(v, (bool, int, float, str)) else json.dumps(v)
            for k, v in values.items()}


def _rows(trial_dir: str) -> list[dict]:
    path = os.path.join(trial_dir, workdir_lib.METRICS)
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def _session_end() -> summary_pb2.Summary:
    """The HParams plugin's "this session ended, successfully" (only done trials are runs)."""
    end = plugin_data_pb2.HParamsPluginData(
        session_end_info=plugin_data_pb2.SessionEndInfo(status=api_pb2.STATUS_SUCCESS))
    return summary_pb2.Summary(value=[summary_pb2.Summary.Value(
        tag=hparams_metadata.SESSION_END_INFO_TAG,
        metadata=hparams_metadata.create_summary_metadata(end))])


def _write(directory: str, trial: sweep.Trial, rows: list[dict]) -> None:
    writer = writers.EventFile(directory)
    try:
        # No experiment summary: the plugin then builds the experiment from every run's
        # session info, so all trials' hparams and metrics appear, not only one trial's.
        writer.add(hparams_summary.hparams_pb(hparams_of(trial), trial_id=trial.id))
        for row in rows:
            for name, value in row.items():
                if name not in ("step", "split"):
                    tag = f"{row['split']}/{name}"
                    writer.add(writers.scalar_summary(tag, value), int(row["step"]))
        writer.add(_session_end())
    finally:
        writer.close()


def export(trials: Sequence[sweep.Trial], store: store_lib.Store) -> int:
    """Write the TensorBoard run of every done trial that has none yet; returns how many."""
    root = os.path.join(store.root, DIRECTORY)
    labels = [t.label for t in trials]
    written = 0
    for trial in trials:
        if (store.record(trial.id) or {}).get("status") != store_lib.DONE:
            continue
        target = os.path.join(root, run_name(trial, labels))
        if os.path.isdir(target):
            continue
        partial = os.path.join(root, f".partial-{trial.id}")
        shutil.rmtree(partial, ignore_errors=True)  # a killed earlier export's leftovers
        os.makedirs(partial)
        _write(partial, trial, _rows(store.trial_dir(trial.id)))
        os.replace(partial, target)
        written += 1
    return written
