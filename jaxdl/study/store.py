"""The results store of a sweep: one committed record per trial, in files.

    <sweep dir>/
      study.json               the study: file, base config, axes, metrics, trials (checked on
                               re-run), its docstring's title and claim, whether it has an analyze()
      study.py                 a copy of the study file as it ran, for people to read: jaxdl never
                               executes it (`jaxdl report DIR --study FILE` runs a file you name)
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

A sweep directory is data, never code: reading it (`read_study`, `read_record`,
`records`) parses JSON and checks its shape, and executes and unpickles nothing, so
a shard received from another machine is safe to report on. A damaged study.json
or record.json is refused in one line naming the file (`StoreError`), by `jaxdl
report` and by `jaxdl sweep` before anything runs; it is never repaired or
overwritten automatically. Records are written atomically, so damage comes from
outside (a torn copy, a hand edit): a report that silently left out a trial could
state a wrong verdict, and a sweep that re-ran it would overwrite the evidence.
"""
from __future__ import annotations

import ast
import glob
import itertools
import json
import os
import shutil
import time
from typing import Any, Iterable, Sequence

import pandas as pd

from jaxdl import saved as saved_lib
from jaxdl.study import sweep
from jaxdl.training import resume
from jaxdl.training import workdir as workdir_lib

__all__ = ["STUDY", "STUDY_COPY", "RECORD", "ARRAYS", "StoreError", "Store", "metric_rows",
           "describe", "title_and_claim", "read_study", "read_record", "check_directory",
           "records", "axis_values", "frame", "check_variant", "variant_difference",
           "same_base"]

STUDY = sweep.STUDY_JSON
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
        """The trial's committed record (checked, see `read_record`); None if it has none."""
        path = os.path.join(self.trial_dir(trial_id), RECORD)
        return read_record(path) if os.path.lexists(path) else None

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
        if os.path.lexists(path):
            saved = check_directory(self.root)  # a damaged study.json or record: refused
            check_variant(self.root, saved, study)
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
        # A copy of the study file as it ran, for people to read; never executed by jaxdl.
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
    """[step, 'split/metric', value] for every value in the run's metrics.jsonl (a torn
    last line of a killed run left out; a damaged file is WorkdirError naming it)."""
    rows = []
    for _, row in workdir_lib.RunFiles(workdir).metrics_rows() or []:
        rows += [[row["step"], f"{row['split']}/{k}", v] for k, v in row.items()
                 if k not in ("step", "split")]
    return rows


def describe(study: sweep.Study) -> dict:
    """The sweep's study.json: plain data, all that `jaxdl report DIR` needs (the
    docstring's title and claim, and whether an analyze() exists, are read from the
    study file's source without running it a second time)."""
    doc, analysis = _source_facts(study.path)
    return {"study": study.path, "name": study.name, "quick": study.quick,
            # a variant's --config overrides ({key: value}): its directory holds only it
            "overrides": study.overrides,
            "fingerprint": study.fingerprint(), "base": study.base.to_dict(),
            "axes": list(study.axes), "metrics": list(study.metrics),
            "published": study.published, "doc": doc, "analysis": analysis,
            # The user components of the base config (import path, source digest): data
            # for `jaxdl report --study` to compare with, never imported from here.
            "components": saved_lib.components(study.base),
            "trials": [{"trial": t.id, "point": t.point, "seed": t.seed} for t in study.trials]}


def title_and_claim(docstring: str | None) -> str:
    """A study docstring's paragraphs before its first command block: its title and claim."""
    paragraphs = (docstring or "").strip().split("\n\n")
    return "\n\n".join(itertools.takewhile(lambda p: not p.startswith(" "), paragraphs))


def _source_facts(path: str) -> tuple[str, bool]:
    """(title and claim, whether it binds `analyze` at module level) of a study file the
    user named (`jaxdl sweep STUDY.py`), from its syntax tree."""
    try:
        with open(path, encoding="utf-8") as f:
            tree = ast.parse(f.read(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return "", False
    def binds(node: ast.AST) -> bool:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return node.name == "analyze"
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            return any((a.asname or a.name) == "analyze" for a in node.names)
        if isinstance(node, ast.Name):
            return node.id == "analyze" and isinstance(node.ctx, ast.Store)
        return any(binds(child) for child in ast.iter_child_nodes(node))
    return title_and_claim(ast.get_docstring(tree, clean=False)), binds(tree)


# ---------------------------------------------------------------- reading


def read_study(root: str) -> dict:
    """The sweep description (study.json) of the sweep directory `root`, checked; a
    StoreError in one line (`<path>: <what is wrong>; <what to do>`) otherwise."""
    if not os.path.isdir(root):
        what = "is a file" if os.path.lexists(root) else "does not exist"
        raise StoreError(f"{root}: {what}, not a sweep directory; give the directory that "
                         f"`jaxdl sweep` wrote (it holds {STUDY})")
    path = os.path.join(root, STUDY)
    if not os.path.lexists(path):
        raise StoreError(f"{root}: no {STUDY}: not a sweep directory; give the directory "
                         f"that `jaxdl sweep` wrote (it holds {STUDY})")
    data = _read_json(path, _STUDY_FIX)
    problem = _study_problem(data)
    if problem:
        raise StoreError(f"{path}: {problem}, not a sweep description; {_STUDY_FIX}")
    return data


def read_record(path: str) -> dict:
    """The committed record of a trial (trials/<id>/record.json), checked: a JSON object
    with its trial id (the directory's name, a hash of its point and seed), point, seed,
    status and metric rows; a StoreError in one line otherwise."""
    trial_dir = os.path.dirname(path)
    fix = _RECORD_FIX.format(aside=os.path.join(os.path.dirname(os.path.dirname(trial_dir)),
                                                "damaged", os.path.basename(trial_dir)))
    data = _read_json(path, fix)
    problem = _record_problem(data, os.path.basename(trial_dir))
    if problem:
        raise StoreError(f"{path}: {problem}, not a trial's record; {fix}")
    return data


def check_directory(root: str) -> dict:
    """The study.json of `root`, after checking it and every trial's record: what a
    sweep checks before it runs anything (nothing damaged is overwritten)."""
    info = read_study(root)
    for path in sorted(glob.glob(os.path.join(root, "trials", "*", RECORD))):
        read_record(path)
    return info


def records(roots: Sequence[str]) -> list[dict]:
    """The committed records of one or more sweep directories (shards of one sweep),
    one per trial id (the first found), each checked (`read_record`)."""
    seen: dict[str, dict] = {}
    for root in roots:
        for path in sorted(glob.glob(os.path.join(root, "trials", "*", RECORD))):
            record = read_record(path)
            record["_dir"] = os.path.dirname(path)  # where its measures.npz is (not stored)
            seen.setdefault(record["trial"], record)
    return list(seen.values())


_STUDY_FIX = ("restore it from a copy of the sweep directory (`jaxdl sweep` writes it; "
              "it is never repaired automatically), or run the sweep into another --workdir")
_RECORD_FIX = ("move it aside (e.g. to {aside}/) so that `jaxdl sweep` redoes that trial, "
               "or restore it from a copy of the sweep directory")


def _read_json(path: str, fix: str) -> Any:
    if os.path.isdir(path):
        raise StoreError(f"{path}: is a directory, not a file; {fix}")
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as e:
        raise StoreError(f"{path}: cannot be read ({e.strerror or e}); {fix}") from None
    except ValueError:  # not UTF-8: bytes of something else
        raise StoreError(f"{path}: is not text (not UTF-8 JSON); {fix}") from None
    if not text.strip():
        raise StoreError(f"{path}: is empty; {fix}")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as e:
        reason = f"{e.msg} at line {e.lineno}" if isinstance(e, json.JSONDecodeError) else "too deep"
        raise StoreError(f"{path}: is not valid JSON ({reason}); {fix}") from None


def _json_kind(value: Any) -> str:
    if isinstance(value, dict):
        return "an empty object {}" if not value else "an object"
    if isinstance(value, list):
        return "an empty list []" if not value else "a list"
    return "null" if value is None else f"a {type(value).__name__}"


def _scalar(value: Any) -> bool:
    return value is None or isinstance(value, (str, int, float, bool))


def _point_problem(point: Any, owner: str) -> str | None:
    if not isinstance(point, dict):
        return f"{owner} point is {_json_kind(point)}, not an object"
    for key, value in point.items():
        if not (_scalar(value) or isinstance(value, list) and all(map(_scalar, value))):
            return f"{owner} point's {key!r} is {_json_kind(value)}, not a value or a list"
    return None


def _trial_problem(entry: Any, owner: str) -> str | None:
    """What is wrong with {trial, point, seed} (None: nothing); `owner` is "its" or
    "trial 3's". The id must be the hash of the point and seed (`sweep.trial_id`)."""
    if not isinstance(entry, dict):
        return f"{owner} entry is {_json_kind(entry)}, not an object"
    tid, point, seed = entry.get("trial"), entry.get("point"), entry.get("seed")
    if not isinstance(tid, str):
        return f"{owner} trial id is missing"
    problem = _point_problem(point, owner)
    if problem:
        return problem
    if not isinstance(seed, int) or isinstance(seed, bool):
        return f"{owner} seed is missing or not an integer"
    if sweep.trial_id(point, seed) != tid:
        return f"{owner} point and seed do not hash to its trial id {tid!r}"
    return None


def _study_problem(data: Any) -> str | None:
    if not isinstance(data, dict) or not data:
        return f"holds {_json_kind(data)}"
    for key, kind, what in (("name", str, "a text"), ("axes", list, "a list"),
                            ("metrics", list, "a list"), ("trials", list, "a list")):
        if not isinstance(data.get(key), kind):
            return f"has no {key} ({what})" if key not in data else \
                f"its {key} is {_json_kind(data[key])}, not {what}"
    for key in ("axes", "metrics"):
        if not all(isinstance(v, str) for v in data[key]):
            return f"its {key} are not all texts"
    for key, kind in (("published", dict), ("base", dict), ("quick", bool), ("study", str),
                      ("overrides", dict),
                      ("fingerprint", str), ("doc", str), ("analysis", bool)):
        if data.get(key) is not None and not isinstance(data[key], kind):
            return f"its {key} is {_json_kind(data[key])}"
    for i, entry in enumerate(data["trials"]):
        problem = _trial_problem(entry, f"trial {i}'s")
        if problem:
            return problem
    return None


def _record_problem(data: Any, directory: str) -> str | None:
    if not isinstance(data, dict) or not data:
        return f"holds {_json_kind(data)}"
    problem = _trial_problem(data, "its")
    if problem:
        return problem
    if data["trial"] != directory:
        return f"it is the record of trial {data['trial']!r}, not of {directory!r}"
    if data.get("status") not in (DONE, FAILED):
        return f"its status is {data.get('status')!r}, not {DONE!r} or {FAILED!r}"
    if data.get("error") is not None and not isinstance(data["error"], str):
        return f"its error is {_json_kind(data['error'])}, not a text"
    rows = data.get("rows")
    if not isinstance(rows, list):
        return "it has no rows (a list of [step, metric, value])"
    for row in rows:
        if not (isinstance(row, list) and len(row) == 3 and _number(row[0])
                and isinstance(row[1], str) and (row[2] is None or _number(row[2]))):
            return f"its rows hold {str(row)[:40]}, not [step, metric, value]"
    arrays = data.get("arrays", [])
    if not (isinstance(arrays, list) and all(isinstance(a, str) for a in arrays)):
        return "its arrays are not a list of names"
    return None


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


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


def check_variant(root: str, saved: dict, study: sweep.Study) -> None:
    """Refuse the sweep directory `root` (its study.json: `saved`) when it was swept with
    other --config overrides than `study`'s, naming the first key that differs."""
    difference = variant_difference(saved, {"overrides": study.overrides})
    if difference:
        raise StoreError(f"sweep directory {root} holds a sweep {difference}; give the same "
                         f"--config overrides to continue it, or choose another --workdir")


def variant_difference(saved: dict, other: dict) -> str | None:
    """How the --config overrides of two sweep descriptions (study.json) differ, naming
    the first key that differs ('with --config.steps=100, not --config.steps=200'); None
    when they agree (no overrides: a directory from before variants existed, or a plain
    study). Values are compared as JSON holds them (0.1 and 1e-1 agree)."""
    theirs, ours = (json.loads(json.dumps(d.get("overrides") or {}, default=list))
                    for d in (saved, other))
    for key in sorted(theirs.keys() | ours.keys()):
        if theirs.get(key, _UNSET) != ours.get(key, _UNSET):
            return f"{_given(key, theirs)}, not {_given(key, ours)}"
    return None


_UNSET = object()


def _given(key: str, overrides: dict) -> str:
    if key not in overrides:
        return f"without --config.{key}"
    value = overrides[key]
    return f"with --config.{key}={value if isinstance(value, str) else repr(value)}"


def same_base(saved: dict, other: dict) -> bool:
    """Whether two sweep descriptions (study.json) hold one base config: the same
    fingerprint, or bases that differ only in keys added to jaxdl later and held at their
    defaults (either may be the older one), so sweeps started before an upgrade resume
    and merge with shards run after it."""
    if saved.get("fingerprint") == other.get("fingerprint"):
        return True
    if not (saved.get("base") and other.get("base")):
        return False  # a description from before bases were recorded: nothing to compare
    return not (resume.config_changes(saved["base"], other["base"])
                and resume.config_changes(other["base"], saved["base"]))
