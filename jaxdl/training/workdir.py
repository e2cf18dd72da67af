"""What a run writes into its workdir, and how (the only file I/O of training).

    config.json     the validated config, first
    metrics.jsonl   one JSON object per line: {"step", "split", <metric>: value, ...}
    events.out.*    TensorBoard scalars, `<split>/<metric>`
    result.json     final metrics, written last and atomically: present means done
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any

import numpy as np

RESULT = "result.json"


class WorkdirError(RuntimeError):
    """A workdir that cannot be used without losing what is in it."""


def default_workdir(root: str = "runs") -> str:
    """A fresh `runs/<date>-<time>[-N]` that no earlier run used."""
    base = os.path.join(root, time.strftime("%Y%m%d-%H%M%S"))
    path, n = base, 1
    while os.path.exists(path):
        path, n = f"{base}-{n}", n + 1
    return path


def prepare(workdir: str) -> str:
    """Create `workdir`; refuse one that already holds files, so nothing is overwritten."""
    if os.path.isfile(os.path.join(workdir, RESULT)):
        raise WorkdirError(f"workdir {workdir} holds a finished run ({RESULT}); "
                           f"choose another --workdir")
    if os.path.isdir(workdir) and os.listdir(workdir):
        raise WorkdirError(f"workdir {workdir} is not empty; choose another --workdir")
    os.makedirs(workdir, exist_ok=True)
    return workdir


def write_json_atomic(path: str, obj: Any) -> None:
    """Write-then-rename: a reader sees the old file or the whole new one, never a part."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(obj, f, indent=2, sort_keys=True, default=_jsonable)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


class MetricsLog:
    """metrics.jsonl plus TensorBoard event files in one workdir."""

    def __init__(self, workdir: str):
        from tensorboardX import SummaryWriter  # imported late: slow, and only the driver needs it
        self._jsonl = open(os.path.join(workdir, "metrics.jsonl"), "a")
        self._tb = SummaryWriter(logdir=workdir, flush_secs=30)

    def write(self, step: int, split: str, metrics: dict[str, float]) -> None:
        row = {"step": int(step), "split": split, **{k: float(v) for k, v in metrics.items()}}
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        for name, value in metrics.items():
            self._tb.add_scalar(f"{split}/{name}", float(value), int(step))

    def close(self) -> None:
        self._jsonl.close()
        self._tb.close()
