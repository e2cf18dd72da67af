"""The results store of a sweep: one committed record per trial, in files.

    <sweep dir>/
      study.json               the study: file, base config, axes, metrics, trials (checked on re-run)
      study.py                 a copy of the study file (the report uses it when the original is gone)
      trials/<id>/             the trial's run: an ordinary jaxdl workdir (config.json,
                               metrics.jsonl, checkpoints/, result.json) — `jaxdl train` resumes it
      trials/<id>/record.json  the trial's record, written last and atomically: present = committed
      groups/<id>/             vectorized groups: stacked checkpoints (vectorize.py)

A record is {trial, label, point, seed, status: done | failed, error, mode, group,
rows: [[step, metric, value], ...]}; `frame(dirs)` reads the records of one or
more sweep directories (shards) into one long DataFrame of (trial, axis values,
seed, step, metric, value).

Why files and not SQLite: each trial already is a directory whose result.json is
written atomically, and a record beside it, written by write-then-rename, is
committed the instant it appears — a kill at any moment leaves the old state or the
new one. Shards on different machines write disjoint directories that merge by
copying (or by `jaxdl report DIR...`); SQLite's WAL mode needs shared memory that
network filesystems do not provide, and one database file would serialise the
writers. A record is plain JSON, readable without jaxdl.
"""
from __future__ import annotations

import glob
import json
import os
import shutil
import time
from typing import Any, Iterable, Sequence

import pandas as pd

from jaxdl.study import sweep
from jaxdl.training import workdir as workdir_lib

STUDY = "study.json"
STUDY_COPY = "study.py"
RECORD = "record.json"
ARRAYS = "measures.npz"  # arrays a study's measure() returned, per trial
DONE, FAILED = "done", "failed"


class StoreError(RuntimeError):
    """A sweep directory that cannot be used for this study; the message is one line."""


class Store:
    """The records of the trials in one sweep directory."""

    def __init__(self, root: str):
        self.root = root

    def trial_dir(self, trial_id: str) -> str:
        return os.path.join(self.root, "trials", trial_id)

    def record(self, trial_id: str) -> dict | None:
        path = os.path.join(self.trial_dir(trial_id), RECORD)
        return json.load(open(path)) if os.path.isfile(path) else None

    def pending(self, trial: sweep.Trial) -> bool:
        """Not committed and not finished: it still needs training."""
        return (self.record(trial.id) is None and
                not workdir_lib.RunFiles(self.trial_dir(trial.id)).finished())

    # ------------------------------------------------------------ the study

    def check_location(self) -> None:
        """Refuse a sweep directory that is a file, or whose parent is one."""
        parent = os.path.dirname(os.path.abspath(self.root))
        if os.path.exists(parent) and not os.path.isdir(parent):
            raise StoreError(f"sweep directory {self.root}: its parent {parent} is a file, "
                             f"not a directory; choose another --workdir")
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise StoreError(f"sweep directory {self.root} is a file; choose another --workdir")

    def open(self, study: sweep.Study) -> None:
        """Create the directory for `study`, or check that it holds this study's sweep
        (same base config); refuses anything else in one line, before any compute."""
        path = os.path.join(self.root, STUDY)
        if os.path.exists(self.root) and not os.path.isdir(self.root):
            raise StoreError(f"sweep directory {self.root} is a file; choose another --workdir")
        if os.path.isfile(path):
            saved = json.load(open(path))
            from jaxdl.training import resume
            current = {"fingerprint": study.fingerprint(), "base": study.base.to_dict()}
            if not same_base(saved, current):
                changes = resume.config_changes(saved.get("base") or {}, current["base"])
                raise StoreError(
                    f"sweep directory {self.root} holds a sweep of another base config "
                    f"({resume.describe_changes(changes) or 'different study'}); "
                    f"choose another --workdir")
        elif not _holds_nothing_yet(self.root):
            raise StoreError(f"sweep directory {self.root} is not empty and holds no sweep "
                             f"({STUDY} missing); choose another --workdir")
        os.makedirs(self.root, exist_ok=True)
        # Rewritten each time: a study may add seeds or points (old trials keep their ids).
        # Written before anything else, so a kill at any instant leaves a sweep to resume.
        workdir_lib.write_json_atomic(path, describe(study))
        os.makedirs(os.path.join(self.root, "trials"), exist_ok=True)
        # A copy of the study file, for the record and for reports merged on another machine.
        shutil.copyfile(study.path, os.path.join(self.root, STUDY_COPY))

    # ------------------------------------------------------------ commits

    def commit(self, record: dict) -> None:
        """Write the trial's record atomically: from this moment the trial is committed."""
        os.makedirs(self.trial_dir(record["trial"]), exist_ok=True)
        workdir_lib.write_json_atomic(os.path.join(self.trial_dir(record["trial"]), RECORD),
                                      {**record, "committed": time.strftime("%Y-%m-%dT%H:%M:%S")})

    def commit_done(self, trial: sweep.Trial, mode: str, group: str | None = None) -> dict:
        """Commit a trial whose run finished (its result.json exists): its metric rows."""
        record = _record(trial, DONE, None, mode, group, metric_rows(self.trial_dir(trial.id)))
        self.commit(record)
        return record

    def commit_failed(self, trial: sweep.Trial, error: str, mode: str,
                      group: str | None = None) -> dict:
        """Commit a trial that failed, with its error and the rows it logged before."""
        record = _record(trial, FAILED, error, mode, group, metric_rows(self.trial_dir(trial.id)))
        self.commit(record)
        return record


def _holds_nothing_yet(root: str) -> bool:
    """Absent, or holding only what a sweep makes before its study.json (its lock, a
    temporary file, and an empty trials/ left by versions that made it first)."""
    if not os.path.isdir(root):
        return True
    return all(n in (workdir_lib.LOCK,) or n.startswith(
        workdir_lib.TMP_PREFIX) or n.startswith(
        workdir_lib.SHARD_LOCK.split("{")[0]) or (
        n == "trials" and not os.listdir(os.path.join(root, n))) for n in os.listdir(root))


def _record(trial: sweep.Trial, status: str, error: str | None, mode: str, group: str | None,
            rows: list) -> dict:
    return {"trial": trial.id, "label": trial.label, "point": trial.point, "seed": trial.seed,
            "status": status, "error": error, "mode": mode, "group": group, "rows": rows}


def metric_rows(workdir: str) -> list[list]:
    """[step, 'split/metric', value] for every value in the run's metrics.jsonl."""
    path = os.path.join(workdir, workdir_lib.METRICS)
    rows = []
    if os.path.isfile(path):
        for line in open(path):
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a torn last line of a killed run
                continue
            rows += [[row["step"], f"{row['split']}/{k}", v] for k, v in row.items()
                     if k not in ("step", "split")]
    return rows


def describe(study: sweep.Study) -> dict:
    return {"study": study.path, "name": study.name, "quick": study.quick,
            "fingerprint": study.fingerprint(), "base": study.base.to_dict(),
            "axes": list(study.axes), "metrics": list(study.metrics),
            "published": study.published,
            "trials": [{"trial": t.id, "point": t.point, "seed": t.seed} for t in study.trials]}


# ---------------------------------------------------------------- reading


def read_study(root: str) -> dict:
    path = os.path.join(root, STUDY)
    if not os.path.isfile(path):
        raise StoreError(f"{root}: no {STUDY}: not a sweep directory")
    return json.load(open(path))


def records(roots: Sequence[str]) -> list[dict]:
    """The committed records of one or more sweep directories (shards of one sweep),
    one per trial id (the first found)."""
    seen: dict[str, dict] = {}
    for root in roots:
        for path in sorted(glob.glob(os.path.join(root, "trials", "*", RECORD))):
            record = json.load(open(path))
            record["_dir"] = os.path.dirname(path)  # where its measures.npz is (not stored)
            seen.setdefault(record["trial"], record)
    return list(seen.values())


def axis_values(record: dict, axes: Sequence[str]) -> dict[str, Any]:
    """The record's value on each axis, as a table cell: sequences (e.g. conv channels,
    stored as JSON lists) become their tuple's text "(8, 8, 8)" so that pandas can
    group and sort by them; an axis the point does not set is None."""
    point = record["point"]
    return {a: str(tuple(point[a])) if isinstance(point.get(a), (list, tuple)) else point.get(a)
            for a in axes}


def frame(recs: Iterable[dict], axes: Sequence[str]) -> pd.DataFrame:
    """Long rows (trial, <axes>, seed, status, step, metric, value) of the records."""
    rows = []
    for r in recs:
        head = {"trial": r["trial"], **axis_values(r, axes), "seed": r["seed"],
                "status": r["status"]}
        rows += [{**head, "step": step, "metric": metric, "value": value}
                 for step, metric, value in r["rows"]]
    columns = ["trial", *axes, "seed", "status", "step", "metric", "value"]
    return pd.DataFrame(rows, columns=columns)


def same_base(saved: dict, other: dict) -> bool:
    """Whether two sweep descriptions (study.json) hold one base config: the same
    fingerprint, or bases that differ only in keys added to jaxdl later and held at their
    defaults (either may be the older one), so sweeps started before an upgrade resume
    and merge with shards run after it."""
    if saved.get("fingerprint") == other.get("fingerprint"):
        return True
    if not (saved.get("base") and other.get("base")):
        return False  # a description from before bases were recorded: nothing to compare
    from jaxdl.training import resume
    return not (resume.config_changes(saved["base"], other["base"])
                and resume.config_changes(other["base"], saved["base"]))
