"""What a run writes into its workdir, and how (with writers.py, the only file I/O of training).

    config.json     the validated config, first (rewritten only by a declared intervention)
    metrics.jsonl   one JSON object per line: {"step", "split", <metric>: value, ...}: the
                    evaluations (splits train, test) and every `log_every`-th step's training
                    metrics and learning rate (split train_step), and a user hook's
                    scalars (split: the hook's name)
    events.out.*    TensorBoard scalars, `<split>/<metric>`, and `train_step/steps_per_s`
    trackers.json   with config.trackers (W&B, MLflow): the tracker runs a resume continues
    wandb/          with W&B: its files (the offline runs: `wandb sync runs/x/wandb/offline-*`)
    checkpoints/    orbax checkpoints of the whole train state (checkpoint.py)
    history.jsonl   what happened to the run: start, resume, intervention, interrupted, finish
    result.json     final metrics, written last and atomically: present means done

Nothing here is ever deleted: a result replaced by a declared intervention is
kept as `history/result-step-N.json`, unusable checkpoints set aside by
`--restart` are renamed, not removed.
"""
from __future__ import annotations

import fcntl
import json
import os
import socket
import sys
import tempfile
import time
from typing import Any, Callable, Iterable

import numpy as np
from jaxdl import saved as saved_lib
from jaxdl import trackers as trackers_lib
from jaxdl.training import writers as writers_lib

__all__ = ["RESULT", "CONFIG", "METRICS", "HISTORY", "TRACKERS", "LOCK", "SHARD_LOCK", "TMP_PREFIX",
           "TRAIN_STEP", "EVAL_SPLITS", "WorkdirError", "default_workdir", "prepare",
           "holds_run", "create", "Busy", "Lock", "write_json_atomic", "write_npz_atomic",
           "read_json_object", "RunFiles", "warn", "MetricsLog"]

RESULT = "result.json"
CONFIG = "config.json"
METRICS = "metrics.jsonl"
HISTORY = "history.jsonl"
TRACKERS = "trackers.json"  # the W&B / MLflow runs a resumed run continues (writers.py)
LOCK = "jaxdl.lock"
SHARD_LOCK = "jaxdl-shard-{}-of-{}.lock"  # a shard of a sweep: its own lock beside LOCK
TMP_PREFIX = ".tmp-"  # atomic writers' temporary files: never a user's
TRAIN_STEP = "train_step"  # the split of the rows that log one training step's metrics
EVAL_SPLITS = ("train", "test")  # the splits of evaluation rows (others: steps, user hooks)


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
    parent = os.path.dirname(os.path.abspath(workdir))
    if os.path.exists(parent) and not os.path.isdir(parent):
        raise WorkdirError(f"workdir {workdir}: its parent {parent} is a file, not a directory")
    if os.path.exists(workdir) and not os.path.isdir(workdir):
        raise WorkdirError(f"workdir {workdir} is a file, not a directory")
    if check and not holds_run(workdir):
        raise WorkdirError(f"workdir {workdir} is not empty and holds no jaxdl run "
                           f"({CONFIG} missing); choose another --workdir")
    try:
        os.makedirs(workdir, exist_ok=True)
    except OSError as e:
        raise WorkdirError(f"workdir {workdir}: cannot create it ({e.strerror})") from None
    return workdir


def holds_run(workdir: str) -> bool:
    """Whether `workdir` is absent, holds a jaxdl run (config.json), or holds nothing but
    what a run writes before its config.json (the lock, a temporary file): a run killed
    at any instant of its creation is resumed, never refused."""
    if not os.path.isdir(workdir):
        return True
    names = os.listdir(workdir)
    return CONFIG in names or all(n == LOCK or n.startswith(TMP_PREFIX) or (
        # an empty checkpoints/: what a kill left in older versions, which made it before
        # config.json
        n == "checkpoints" and not os.listdir(os.path.join(workdir, n))) for n in names)


def create(workdir: str, config: Any) -> None:
    """Write config.json into a workdir that has none yet (the run's first file after the
    lock): from then on the directory describes its run. Nothing else is written before
    it, so a kill at any instant leaves nothing, an empty directory or a resumable run."""
    if not os.path.isfile(os.path.join(workdir, CONFIG)):
        write_json_atomic(os.path.join(workdir, CONFIG), saved_lib.to_saved(config))


class Busy(WorkdirError):
    """Another process holds the directory's lock."""


class Lock:
    """An exclusive OS lock (`flock`) on `directory/jaxdl.lock`: one writer per run or sweep
    directory. The kernel releases it when the process dies, however it dies, so a
    killed run never leaves a stale lock; the file itself stays (it is only a handle).

        with Lock(workdir, "workdir"):   # a second process: Busy, naming the holder's pid
            ...
    """

    def __init__(self, directory: str, what: str = "workdir", shared: bool = False,
                 name: str = LOCK):
        self.directory, self.what, self.shared, self.name = directory, what, shared, name
        self._path: str | None = None

    # Locks this process holds, by path: taking one again (a search's successive sweeps)
    # nests instead of blocking on itself, since flock conflicts across descriptors.
    _held: dict[str, list] = {}

    def acquire(self) -> "Lock":
        path = os.path.realpath(os.path.join(self.directory, self.name))
        if path in Lock._held:
            Lock._held[path][1] += 1
            self._path = path
            return self
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
        except OSError as e:
            raise WorkdirError(f"{self.what} {self.directory}: cannot open its lock file "
                               f"{path} ({e.strerror}); is the directory writable?") from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if self.shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise Busy(f"{self.what} {self.directory} is in use by another jaxdl process "
                       f"({holder}); wait for it to end or stop it") from None
        if not self.shared:  # who holds it, for the message a second process prints
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {socket.gethostname()} since "
                          f"{time.strftime('%Y-%m-%dT%H:%M:%S')}".encode(), 0)
        Lock._held[path] = [fd, 1]
        self._path = path
        return self

    def release(self) -> None:
        held = Lock._held.get(self._path)
        if held is None:
            return
        held[1] -= 1
        if held[1] == 0:
            os.close(held[0])  # closing the descriptor releases the flock
            del Lock._held[self._path]
        self._path = None

    def __enter__(self) -> "Lock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _write_atomic(path: str, suffix: str, mode: str, write: Callable[[Any], None]) -> str:
    """`write(file)` into a temporary file beside `path`, synced, then renamed onto it:
    a reader sees the old file or the whole new one, never a part."""
    directory = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=TMP_PREFIX, suffix=suffix)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp's 0600 would hide results from collaborators
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


def _umask() -> int:
    """The process's umask (read by setting it, so set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_json_atomic(path: str, obj: Any) -> None:
    """`obj` as JSON, atomically (write-then-rename)."""
    _write_atomic(path, ".json", "w",
                  lambda f: json.dump(obj, f, indent=2, sort_keys=True, default=_jsonable))


def write_npz_atomic(path: str, arrays: dict[str, np.ndarray]) -> str:
    """`arrays` as an .npz, atomically (write-then-rename), creating its directory;
    returns `path`."""
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    return _write_atomic(path, ".npz", "wb", lambda f: np.savez(f, **arrays))


def read_json_object(path: str, fix: str) -> dict:
    """A JSON object from `path`, or WorkdirError in one line naming the file and `fix`."""
    try:
        with open(path, "rb") as f:
            value = json.loads(f.read().decode("utf-8"))
    except IsADirectoryError:
        raise WorkdirError(f"{path} is a directory, not a file; {fix}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise WorkdirError(f"{path} is damaged (not JSON: {str(e).splitlines()[0][:80]}); "
                           f"{fix}") from None
    except OSError as e:
        raise WorkdirError(f"{path} cannot be read ({e.strerror}); {fix}") from None
    if not isinstance(value, dict) or not value:
        raise WorkdirError(f"{path} is damaged (holds {json.dumps(value)[:40]}, not the "
                           f"object jaxdl wrote); {fix}")
    return value


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
        return read_json_object(path, "it is the run's config: restore it, or train into "
                                      "another --workdir") if os.path.exists(path) else None

    @_writer
    def write_config(self, config: Any) -> None:
        write_json_atomic(self._path(CONFIG), saved_lib.to_saved(config))

    def finished(self) -> bool:
        return os.path.exists(self._path(RESULT))

    def result(self) -> dict:
        return read_json_object(self._path(RESULT), "move it aside and re-run: the run "
                                                    "finishes again from its checkpoints")

    def check(self) -> None:
        """Refuse, in one line naming the file, a run directory whose files are of the
        wrong kind or damaged, before anything in it is written."""
        for name in (CONFIG, RESULT, METRICS, HISTORY, TRACKERS, LOCK):
            path = self._path(name)
            if os.path.exists(path) and not os.path.isfile(path):
                raise WorkdirError(f"{path} is a directory, not a file; move it out of the "
                                   f"way and re-run")
        checkpoints = self._path("checkpoints")
        if os.path.exists(checkpoints) and not os.path.isdir(checkpoints):
            raise WorkdirError(f"{checkpoints} is a file, not the run's checkpoint directory; "
                               f"move it out of the way and re-run")
        self.saved_config()
        if self.finished():
            self.result()
        self.metrics_rows()

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

    def topology(self) -> dict | None:
        """The devices and processes the run last trained on, from history.jsonl (None
        when not recorded: a run from before they were)."""
        found = None
        for row in self.history_rows():
            if "devices" in row:
                found = {k: row.get(k) for k in ("devices", "processes")}
        return found

    def history_rows(self) -> list[dict]:
        """The events of history.jsonl, oldest first ([]: no file). A line that is not a
        JSON object (a torn append) is skipped: the log is a record, not a checked file."""
        path, rows = self._path(HISTORY), []
        if not os.path.isfile(path):
            return rows
        with open(path, "rb") as f:
            for line in f:
                try:
                    row = json.loads(line.decode("utf-8"))
                except (UnicodeDecodeError, json.JSONDecodeError):
                    continue
                if isinstance(row, dict):
                    rows.append(row)
        return rows

    @_writer
    def set_aside(self, path: str) -> str:
        """Rename `path` out of the way (never delete); returns the new name."""
        aside = f"{path}.unusable-{time.strftime('%Y%m%d-%H%M%S')}"
        os.replace(path, aside)
        return aside

    @_writer
    def truncate_metrics(self, step: int, evals: Iterable[int] = ()) -> None:
        """Drop rows after `step` (and a torn last line): a resumed run writes them again,
        bit for bit, so the file ends as an uninterrupted run's would. Rows that cannot
        be regenerated are never dropped silently: a damaged line is refused (`check`),
        and eval steps up to `step` with no row (deleted, overwritten) are named in a
        warning."""
        path = self._path(METRICS)
        expected = {s for s in evals if s <= step}
        rows = self.metrics_rows()
        if rows is None:
            if expected:
                warn(f"{path} is missing: the rows of steps {_steps(expected)} are lost "
                     f"(a resumed run writes only the steps after {step})")
            return
        keep = [line for line, row in rows if row["step"] <= step]
        missing = expected - {row["step"] for _, row in rows if row.get("split") in EVAL_SPLITS}
        if missing:
            warn(f"{path} has no rows for steps {_steps(missing)} (deleted or overwritten?): "
                 f"they are lost; a resumed run writes only the steps after {step}")
        _write_atomic(path, ".jsonl", "wb", lambda f: f.writelines(keep))

    def metrics_rows(self) -> list[tuple[bytes, dict]] | None:
        """(line, row) of each metrics.jsonl row (None: no file). A torn last line — a kill
        in the middle of a write — is left out; any other line that is not a row is
        WorkdirError naming the file and the line."""
        path = self._path(METRICS)
        if not os.path.isfile(path):
            return None
        with open(path, "rb") as f:
            lines = f.read().splitlines(keepends=True)
        rows = []
        for i, line in enumerate(lines):
            row = _metrics_row(line)
            if row is not None:
                rows.append((line if line.endswith(b"\n") else line + b"\n", row))
            elif i < len(lines) - 1 or line.endswith(b"\n"):
                raise WorkdirError(f"{path} is damaged (line {i + 1} is not a metrics row); "
                                   f"repair or move it aside, then re-run")
        return rows


def _metrics_row(line: bytes) -> dict | None:
    """A metrics.jsonl line as a dict with an integer step, or None if it is not one."""
    try:
        row = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        return None
    ok = isinstance(row, dict) and isinstance(row.get("step"), int)
    return row if ok else None


def _steps(steps: set[int]) -> str:
    steps = sorted(steps)
    return ", ".join(map(str, steps[:8])) + (f", ... ({len(steps)} in all)" if len(steps) > 8 else "")


def warn(message: str) -> None:
    print(f"jaxdl: warning: {message}", file=sys.stderr)


class MetricsLog:
    """Where a run's scalars go (`write=False`: nowhere): metrics.jsonl and TensorBoard
    event files in `workdir`, and, with `config`, the trackers `config.trackers` chooses
    (W&B, MLflow), each a `writers.Writer`. The trackers' run ids are kept in trackers.json,
    so that a resumed run continues the same tracker runs. Entered as a context, it closes
    its writers on leaving, as finished, failed or killed (`writers.end_status`)."""

    def __init__(self, workdir: str, resumed_from: int = 0, write: bool = True,
                 config: Any = None, name: str | None = None):
        self.write, self.writers = write, []
        if not write:
            return
        self.writers = [writers_lib.JsonlWriter(os.path.join(workdir, METRICS)),
                        writers_lib.TensorBoardWriter(workdir, resumed_from)]
        if config is not None and trackers_lib.chosen(config.trackers):
            try:
                self.writers += self._trackers(workdir, config, name)
            except BaseException:
                self.close(writers_lib.FAILED)
                raise

    @staticmethod
    def _trackers(workdir: str, config: Any, name: str | None) -> list[writers_lib.Writer]:
        """The config's trackers, continuing the runs trackers.json names (rewritten with
        the runs they write to now), handed the rows metrics.jsonl already holds (a resumed
        run's, up to its step): each logs those it lacks — all of them for a tracker
        chosen only now, a batch lost with a killed process — and skips the others."""
        path = os.path.join(workdir, TRACKERS)
        previous = read_json_object(path, "move it aside to start new tracker runs") \
            if os.path.exists(path) else {}
        name = name or os.path.basename(os.path.normpath(os.path.abspath(workdir)))
        opened = writers_lib.open_trackers(config.trackers, config.to_dict(), workdir, name,
                                           previous)
        try:
            write_json_atomic(path, {**previous, **{w.name: w.state for w in opened}})
            for _, row in RunFiles(workdir).metrics_rows() or []:
                values = {k: float(v) for k, v in row.items() if k not in ("step", "split")}
                for writer in opened:
                    writer.scalars(row["step"], str(row.get("split")), values)
        except BaseException:
            for writer in opened:
                writer.close(writers_lib.FAILED)
            raise
        return opened

    @_writer
    def log(self, step: int, split: str, metrics: dict[str, float],
            measured: dict[str, float] | None = None) -> None:
        """`metrics` to every writer; `measured` (wall-clock values such as steps/s) to all
        but metrics.jsonl, so that it stays a function of the config and the step: a
        resumed run rewrites it bit for bit."""
        values = {k: float(v) for k, v in metrics.items()}
        every = {**values, **{k: float(v) for k, v in (measured or {}).items()}}
        for writer in self.writers:
            writer.scalars(int(step), split, every if writer.measured else values)

    @_writer
    def histograms(self, step: int, values: dict[str, Any]) -> None:
        """Histograms (tag -> array of values) at `step`: TensorBoard's."""
        for writer in self.writers:
            writer.histograms(int(step), values)

    @_writer
    def close(self, status: str = writers_lib.FINISHED) -> None:
        """Close every writer (each, even if one fails); `status`: how the run ended."""
        errors = []
        for writer in self.writers:
            try:
                writer.close(status)
            except Exception as e:  # noqa: BLE001 - raised below, once all are closed
                errors.append(e)
        self.writers = []
        if errors:
            raise errors[0]

    def __enter__(self) -> "MetricsLog":
        return self

    def __exit__(self, kind: Any, error: BaseException | None, traceback: Any) -> None:
        self.close(writers_lib.end_status(error))
