"""What a run writes into its workdir, and how (the only file I/O of training).

    config.json     the validated config, first (rewritten only by a declared intervention)
    metrics.jsonl   one JSON object per line: {"step", "split", <metric>: value, ...}
    events.out.*    TensorBoard scalars, `<split>/<metric>`
    checkpoints/    orbax checkpoints of the whole train state (checkpoint.py)
    history.jsonl   what happened to the run: start, resume, intervention, interrupted, finish
    result.json     final metrics, written last and atomically: present means done

Nothing here is ever deleted: a result replaced by a declared intervention is
kept as `history/result-step-N.json`, unusable checkpoints set aside by
`--restart` are renamed, not removed.
"""
from __future__ import annotations

import json
import os
import tempfile
import time
from typing import Any, Callable

import numpy as np

RESULT = "result.json"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
HISTORY = "history.jsonl"


class WorkdirError(RuntimeError):
    """A workdir that cannot be used without losing what is in it."""


def default_workdir(root: str = "runs") -> str:
    """A fresh `runs/<date>-<time>[-N]` that no earlier run used."""
    base = os.path.join(root, time.strftime("%Y%m%d-%H%M%S"))
    path, n = base, 1
    while os.path.exists(path):
        path, n = f"{base}-{n}", n + 1
    return path


def prepare(workdir: str, check: bool = True) -> str:
    """Create `workdir`, or accept one that holds a jaxdl run (to resume it); refuse any
    other non-empty directory, so nothing unrelated is ever written over. Only the
    writing process checks (`check`): the others may see process 0's first files
    before its config.json."""
    if os.path.isfile(workdir):
        raise WorkdirError(f"workdir {workdir} is a file, not a directory")
    if check and os.path.isdir(workdir) and os.listdir(workdir) and not os.path.isfile(
            os.path.join(workdir, CONFIG)):
        raise WorkdirError(f"workdir {workdir} is not empty and holds no jaxdl run "
                           f"({CONFIG} missing); choose another --workdir")
    os.makedirs(workdir, exist_ok=True)
    return workdir


def _write_atomic(path: str, suffix: str, mode: str, write: Callable[[Any], None]) -> str:
    """`write(file)` into a temporary file beside `path`, synced, then renamed onto it:
    a reader sees the old file or the whole new one, never a part."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=suffix)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise
    return path


def write_json_atomic(path: str, obj: Any) -> None:
    """`obj` as JSON, atomically (write-then-rename)."""
    _write_atomic(path, ".json", "w",
                  lambda f: json.dump(obj, f, indent=2, sort_keys=True, default=_jsonable))


def write_npz_atomic(path: str, arrays: dict[str, np.ndarray]) -> str:
    """`arrays` as an .npz, atomically (write-then-rename), creating its directory;
    returns `path`."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return _write_atomic(path, ".npz", "wb", lambda f: np.savez(f, **arrays))


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _writer(method):
    """Only the process that writes (process 0 of a multi-process run) touches files."""
    def guarded(self, *args, **kwargs):
        return method(self, *args, **kwargs) if self.write else None
    return guarded


class RunFiles:
    """The small files of one run directory; `write=False` (processes other than 0 of a
    multi-process run) reads but never writes."""

    def __init__(self, workdir: str, write: bool = True):
        self.workdir, self.write = workdir, write

    def _path(self, name: str) -> str:
        return os.path.join(self.workdir, name)

    def saved_config(self) -> dict | None:
        path = self._path(CONFIG)
        return json.load(open(path)) if os.path.isfile(path) else None

    @_writer
    def write_config(self, config: Any) -> None:
        write_json_atomic(self._path(CONFIG), config.to_dict())

    def finished(self) -> bool:
        return os.path.isfile(self._path(RESULT))

    def result(self) -> dict:
        return json.load(open(self._path(RESULT)))

    @_writer
    def write_result(self, result: dict) -> None:
        write_json_atomic(self._path(RESULT), result)

    @_writer
    def archive_result(self, step: int) -> None:
        """Keep a result that an intervention is about to replace."""
        if self.finished():
            os.makedirs(self._path("history"), exist_ok=True)
            os.replace(self._path(RESULT), self._path(f"history/result-step-{step}.json"))

    @_writer
    def record(self, event: str, step: int, **info: Any) -> None:
        row = {"event": event, "step": step, "time": time.strftime("%Y-%m-%dT%H:%M:%S"), **info}
        with open(self._path(HISTORY), "a") as f:
            f.write(json.dumps(row, default=_jsonable) + "\n")

    @_writer
    def set_aside(self, path: str) -> str:
        """Rename `path` out of the way (never delete); returns the new name."""
        aside = f"{path}.unusable-{time.strftime('%Y%m%d-%H%M%S')}"
        os.replace(path, aside)
        return aside

    @_writer
    def truncate_metrics(self, step: int) -> None:
        """Drop rows after `step` (and a torn last line): a resumed run writes them again,
        bit for bit, so the file ends as an uninterrupted run's would."""
        path = self._path(METRICS)
        if not os.path.isfile(path):
            return
        keep = []
        for line in open(path):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue
            if row.get("step", 0) <= step:
                keep.append(line if line.endswith("\n") else line + "\n")
        fd, tmp = tempfile.mkstemp(dir=self.workdir, prefix=".tmp-")
        with os.fdopen(fd, "w") as f:
            f.writelines(keep)
        os.replace(tmp, path)


class MetricsLog:
    """metrics.jsonl plus TensorBoard event files in one workdir (`write=False`: nothing)."""

    def __init__(self, workdir: str, purge_step: int = 0, write: bool = True):
        self.write = write
        if not write:
            return
        from tensorboardX import SummaryWriter  # imported late: slow, and only the driver needs it
        self._jsonl = open(os.path.join(workdir, METRICS), "a")
        # purge_step: TensorBoard drops events a killed earlier attempt logged after it
        self._tb = SummaryWriter(logdir=workdir, flush_secs=30, purge_step=purge_step or None)

    @_writer
    def log(self, step: int, split: str, metrics: dict[str, float]) -> None:
        row = {"step": int(step), "split": split, **{k: float(v) for k, v in metrics.items()}}
        self._jsonl.write(json.dumps(row) + "\n")
        self._jsonl.flush()
        for name, value in metrics.items():
            self._tb.add_scalar(f"{split}/{name}", float(value), int(step))

    @_writer
    def histograms(self, step: int, values: dict[str, Any]) -> None:
        """TensorBoard histograms (tag -> array of values) at `step`."""
        for tag, array in values.items():
            self._tb.add_histogram(tag, array, int(step))

    @_writer
    def close(self) -> None:
        self._jsonl.close()
        self._tb.close()
