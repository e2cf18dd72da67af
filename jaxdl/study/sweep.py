"""Sweeps: axes of config values, trials (config, seed), and the study file.

A *sweep* is a list of points, each a dict `{dotted config key: value}`; the
axes build and combine them:

    grid({"optimizer.lr": [1e-3, 1e-2], "optimizer.weight_decay": [0.0, 1e-4]})   # 4 points
    zipped(axis("model.width", [64, 128]), axis("optimizer.lr", [1e-2, 5e-3]))     # 2 points
    random(20, seed=0, space={"optimizer.lr": log_uniform(1e-4, 1e-1),
                              "model.name": choice(["mlp", "cnn1d"])})             # 20 points

A *trial* is a point with a seed: the base config with the point's values and
`seed` set. Its id is a hash of (point, seed) — the same in every process and
on every machine — so a re-run finds its directory, and `--shard i/N` splits
the trials the same way everywhere.

A *study* is a Python file (see experiments/quickstart_sweep.py) defining

    get_config(name=None) -> ConfigDict   the base config (`jaxdl train --config FILE` trains it)
    SWEEP                                 a sweep (list of points), or
    SEARCH                                a `search.Search`: Bayesian optimisation (Optuna)
    SEEDS                                 seeds run at every point, e.g. range(5)
    METRICS                               e.g. ("test/accuracy", "test/loss"): split/metric
    measure(ctx) -> {name: value}         probes of each finished trial (optional; study/measure.py)
    analyze(results) -> report.Analysis   tables, plots and the verdict (optional)
    PUBLISHED                             {label: value} the paper reports (optional)
    QUICK                                 {"overrides": {...}, "seeds": ..., "sweep": [...]} for
                                          --quick (optional; "sweep": a smaller SWEEP)

`jaxdl sweep FILE --config.KEY=VALUE` makes a variant the same way: the overrides apply
to the base config (after QUICK's), and the variant has its own fingerprint and default
sweep directory (runs/<study>-KEY=VALUE).

and a docstring with its command, its claim and the published result it checks.
"""
from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import itertools
import json
import math
import os
from typing import Any, Callable, Iterable, Sequence

import ml_collections
import numpy as np

from jaxdl import config as config_lib
from jaxdl import schema, userfile

__all__ = ["STUDY_JSON", "SPLITS", "METRIC_NAMES", "StudyError", "axis", "grid", "product", "zipped",
           "concat", "Distribution", "log_uniform", "uniform", "int_uniform", "choice",
           "random", "check_space", "Trial", "trial_id", "trial_config", "overrides",
           "make_trials", "shard", "parse_shard", "short_name", "short_names", "Study", "load_module",
           "load_study", "variant_suffix", "default_workdir"]

Point = dict[str, Any]
Sweep = list[Point]
# A sweep directory's description (store.py writes it): here, so that the `jaxdl` command
# tells a sweep directory from a run without importing the store's stack (pandas).
STUDY_JSON = "study.json"
SPLITS = ("train", "test")
# knn and online_probe: self-supervised runs (the latter with objective.online_probe)
METRIC_NAMES = ("loss", "accuracy", "f1_macro", "knn_accuracy", "online_probe_accuracy",
                "online_probe_loss")


class StudyError(ValueError):
    """A study file, axis or option that cannot be run; the message is one line."""


# ---------------------------------------------------------------- axes


def axis(key: str, values: Iterable[Any]) -> Sweep:
    """One point per value of `key`."""
    values = list(values)
    if not values:
        raise StudyError(f"axis {key}: no values")
    return [{key: _plain(v)} for v in values]


def grid(axes: dict[str, Iterable[Any]]) -> Sweep:
    """Every combination of the axes' values (the first key varies slowest)."""
    return product(*(axis(k, v) for k, v in axes.items()))


def product(*sweeps: Sweep) -> Sweep:
    """Every combination of one point from each sweep."""
    return [_merge(points) for points in itertools.product(*sweeps)]


def zipped(*sweeps: Sweep) -> Sweep:
    """Point i of each sweep together; the sweeps must have the same length."""
    lengths = {len(s) for s in sweeps}
    if len(lengths) > 1:
        raise StudyError(f"zipped: sweeps of different lengths {sorted(lengths)}")
    return [_merge(points) for points in zip(*sweeps)]


def concat(*sweeps: Sweep) -> Sweep:
    """The points of each sweep, one after the other (e.g. two separate grids)."""
    return [dict(p) for s in sweeps for p in s]


def _merge(points: Sequence[Point]) -> Point:
    merged: Point = {}
    for p in points:
        for key in p.keys() & merged.keys():
            raise StudyError(f"axis {key}: set by two combined sweeps")
        merged.update(p)
    return merged


def _plain(value: Any) -> Any:
    """numpy scalars as Python values, so ids and JSON files do not depend on numpy."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list):
        return tuple(value)
    return value


# ---------------------------------------------------------------- random search


@dataclasses.dataclass(frozen=True)
class Distribution:
    """A distribution of one axis of a search: `sample(rng) -> value`; `kind` and
    `args` describe it to other samplers (search.py hands them to Optuna)."""
    sample: Callable[[np.random.Generator], Any]
    kind: str  # log_uniform | uniform | int_uniform | choice
    args: tuple


def log_uniform(low: float, high: float) -> Distribution:
    """exp(U(log low, log high)): the usual prior for learning rates and decay rates."""
    if not 0 < low < high:
        raise StudyError(f"log_uniform({low}, {high}): needs 0 < low < high")
    return Distribution(lambda r: float(math.exp(r.uniform(math.log(low), math.log(high)))),
                        "log_uniform", (low, high))


def uniform(low: float, high: float) -> Distribution:
    if not low < high:
        raise StudyError(f"uniform({low}, {high}): needs low < high")
    return Distribution(lambda r: float(r.uniform(low, high)), "uniform", (low, high))


def int_uniform(low: int, high: int) -> Distribution:
    """An integer in [low, high], both included."""
    if not low <= high:
        raise StudyError(f"int_uniform({low}, {high}): needs low <= high")
    return Distribution(lambda r: int(r.integers(low, high + 1)), "int_uniform", (low, high))


def choice(values: Sequence[Any]) -> Distribution:
    values = [_plain(v) for v in values]
    if not values:
        raise StudyError("choice([]): no values")
    return Distribution(lambda r: values[int(r.integers(len(values)))], "choice", tuple(values))


def random(n: int, seed: int, space: dict[str, Distribution]) -> Sweep:
    """`n` points drawn from `space` by a generator of its own `seed` (not the trials'
    seeds), axis by axis in the order given: the same points on every machine."""
    if n < 1:
        raise StudyError(f"random: n must be >= 1, got {n}")
    check_space(space)
    generator = np.random.default_rng(seed)
    return [{key: dist.sample(generator) for key, dist in space.items()} for _ in range(n)]


def check_space(space: dict[str, Distribution]) -> None:
    if not space:
        raise StudyError("a search space needs at least one axis")
    for key, dist in space.items():
        if not isinstance(dist, Distribution):
            raise StudyError(f"search space axis {key} needs a distribution (log_uniform, "
                             f"uniform, int_uniform, choice), got {dist!r}")


# ---------------------------------------------------------------- trials


@dataclasses.dataclass(frozen=True)
class Trial:
    """One training run of a study: the base config at `point`, with `seed`."""
    id: str
    point: Point
    seed: int
    config: ml_collections.ConfigDict

    @property
    def label(self) -> str:
        values = " ".join(f"{name}={v}" for name, v in zip(short_names(self.point),
                                                             self.point.values()))
        return f"{values} seed={self.seed}".strip()


def trial_id(point: Point, seed: int) -> str:
    """A hash of (point, seed): deterministic, so every process finds the same trial."""
    text = json.dumps({"point": point, "seed": seed}, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def trial_config(base: ml_collections.ConfigDict, point: Point, seed: int
                 ) -> ml_collections.ConfigDict:
    """`base` with the point's values and `seed`, validated (ConfigError names the key).

    The values go through the core's override parser, so a sweep accepts exactly
    what `--config.KEY=VALUE` accepts, and section names (`model.name`) apply first.
    """
    config = config_lib.apply_overrides(base, [*overrides(point), f"seed={seed}"])
    config_lib.validate(config)
    return config


def overrides(point: Point) -> list[str]:
    """`key=value` strings that the core's `config.apply_overrides` parses back to `point`."""
    return [f"{k}={v if isinstance(v, str) else repr(v)}" for k, v in point.items()]


def make_trials(base: ml_collections.ConfigDict, points: Sweep, seeds: Iterable[int]
                ) -> list[Trial]:
    """Every (point, seed), in declaration order (points, then seeds); each config validated."""
    seeds = list(seeds)
    if not points or not seeds:
        raise StudyError("the sweep has no trials (no points or no seeds)")
    trials, seen = [], {}
    for point in points:
        for seed in seeds:
            if "seed" in point:
                raise StudyError("axis seed: seeds are set by SEEDS, not by an axis")
            tid = trial_id(point, seed)
            if tid in seen:
                raise StudyError(f"trial {point} seed={seed} appears twice in the sweep")
            try:
                config = trial_config(base, point, seed)
            except config_lib.ConfigError as e:
                raise config_lib.ConfigError(f"trial {point} seed={seed}: {e}") from None
            seen[tid] = True
            trials.append(Trial(tid, dict(point), int(seed), config))
    return trials


def shard(trials: Sequence[Trial], spec: str | None) -> list[Trial]:
    """The trials of shard `i/N` (0 <= i < N): every N-th one from the i-th, so the N
    shards are disjoint, cover the sweep and are balanced; None: all trials."""
    if spec is None:
        return list(trials)
    index, count = parse_shard(spec)
    return list(trials[index::count])


def parse_shard(spec: str) -> tuple[int, int]:
    try:
        index, count = (int(x) for x in spec.split("/"))
    except ValueError:
        raise StudyError(f"--shard {spec}: expected i/N, e.g. 0/4") from None
    if not 0 <= index < count:
        raise StudyError(f"--shard {spec}: needs 0 <= i < N")
    return index, count


def short_name(key: str) -> str:
    """The last part of a dotted key ('optimizer.lr' -> 'lr'), for labels."""
    return key.rsplit(".", 1)[-1]


def short_names(keys: Sequence[str]) -> list[str]:
    """Each key's shortest dotted suffix that no other key in `keys` ends with, so labels
    that share a last part stay apart: ['model.name', 'objective.name', 'optimizer.lr'] ->
    ['model.name', 'objective.name', 'lr']."""
    keys = [str(k) for k in keys]

    def suffix(key: str, parts: int) -> str:
        return ".".join(key.split(".")[-parts:])

    out = []
    for key in keys:
        others = [k for k in keys if k != key]
        parts = 1
        while parts < key.count(".") + 1 and any(
                k == suffix(key, parts) or k.endswith("." + suffix(key, parts)) for k in others):
            parts += 1
        out.append(suffix(key, parts))
    return out


# ---------------------------------------------------------------- the study file


@dataclasses.dataclass(frozen=True)
class Study:
    """A study file, loaded: the trials to run, and the executed module (its `analyze` runs
    only from a file the user named: `jaxdl sweep FILE`, `jaxdl report DIR --study FILE`)."""
    path: str
    name: str
    base: ml_collections.ConfigDict
    axes: tuple[str, ...]
    trials: tuple[Trial, ...]  # a search's grow as it asks for points
    seeds: tuple[int, ...]
    search: Any  # search.Search, or None for a sweep
    metrics: tuple[str, ...]
    published: dict[str, Any]
    quick: bool
    # A variant's `--config.KEY=VALUE` overrides of the base, as {key: the value set}
    overrides: dict[str, Any] = dataclasses.field(default_factory=dict)
    module: Any = dataclasses.field(default=None, repr=False, compare=False)

    def fingerprint(self) -> str:
        """What a sweep directory must agree on: the study's base config (trials are
        added or dropped freely: a trial's id fixes its config given the base) and, for a
        variant, its overrides: its own even where an override repeats the base's value."""
        text = json.dumps(self.base.to_dict(), sort_keys=True, default=list)
        if self.overrides:  # only then: a plain study's fingerprint is the one it always had
            text += json.dumps(self.overrides, sort_keys=True, default=list)
        return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_module(path: str) -> Any:
    """The study file's module, executed; an error in it is a StudyError naming the line."""
    if not os.path.isfile(path):
        raise StudyError(f"study {path}: no such file")
    name = f"jaxdl_study_{os.path.splitext(os.path.basename(path))[0]}"
    return userfile.exec_file(path, name, "study", StudyError)


def _iterable(value: Any, what: str, path: str) -> list:
    """`value` (SWEEP, SEEDS, METRICS, ...) as a list; a StudyError if it is not iterable
    (a string is not: it would be iterated by character)."""
    if isinstance(value, (str, bytes, dict)) or not hasattr(value, "__iter__"):
        raise StudyError(f"study {path}: {what} must be a list or range, got "
                         f"{type(value).__name__} {value!r}"[:300])
    try:
        return list(value)
    except Exception as e:  # noqa: BLE001 - a broken iterable of user code
        raise StudyError(f"study {path}: {what}: {type(e).__name__}: {e}".splitlines()[0]) from None


def _seeds(value: Any, what: str, path: str) -> tuple[int, ...]:
    seeds = _iterable(value, what, path)
    for seed in seeds:
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or \
                not 0 <= seed <= config_lib.MAX_INT:
            raise StudyError(f"study {path}: {what} must hold integer seeds in "
                             f"[0, {config_lib.MAX_INT}], got {seed!r}")
    return tuple(int(seed) for seed in seeds)


def _points(value: Any, what: str, path: str) -> Sweep:
    points = _iterable(value, what, path)
    for point in points:
        if not isinstance(point, dict) or not all(isinstance(k, str) for k in point):
            raise StudyError(f"study {path}: {what} must be a list of points "
                             f"{{'dotted.key': value}} (see sweep.grid, sweep.axis), got "
                             f"{point!r}"[:300])
    return points


def load_study(path: str, quick: bool = False, config_overrides: Sequence[str] = ()) -> Study:
    """The study in `path`, every trial config validated; StudyError/ConfigError name the
    file and the key. Nothing is computed. `config_overrides` (`--config.KEY=VALUE`, as
    `jaxdl sweep FILE --config.steps=100` gives them) make a variant: they apply to the
    base config, after the QUICK variant's own, like those."""
    module = load_module(path)
    for name in ("get_config", "SEEDS", "METRICS"):
        if not hasattr(module, name):
            raise StudyError(f"study {path}: defines no {name} (see jaxdl/study/sweep.py)")
    if hasattr(module, "SWEEP") == hasattr(module, "SEARCH"):
        raise StudyError(f"study {path}: defines {'both' if hasattr(module, 'SWEEP') else 'neither'}"
                         f" SWEEP and SEARCH; a study has one of them")
    if not callable(module.get_config):
        raise StudyError(f"study {path}: get_config must be a function get_config(name=None)")
    base = userfile.call_get_config(module.get_config, None, f"study {path}", StudyError)
    config_lib.validate(base)
    seeds = _seeds(module.SEEDS, "SEEDS", path)
    if quick:
        spec = getattr(module, "QUICK", None)
        if not isinstance(spec, dict) or not set(spec) <= {"overrides", "seeds", "sweep"} \
                or not isinstance(spec.get("overrides", {}), dict):
            raise StudyError(f"study {path}: --quick needs QUICK = "
                             f"{{'overrides': {{...}}, 'seeds': ..., 'sweep': [...] (optional)}}")
        base = config_lib.apply_overrides(base, overrides(spec.get("overrides", {})))
        seeds = _seeds(spec.get("seeds", seeds), "QUICK['seeds']", path)
    if config_overrides:
        base = config_lib.apply_overrides(base, config_overrides)
        config_lib.validate(base)  # a bad value named by its key, not by the first trial
    variant = {key: _value(base, key) for key, _ in map(schema.split_override, config_overrides)}
    search = getattr(module, "SEARCH", None)
    if search is not None:
        if not isinstance(getattr(search, "space", None), dict):
            raise StudyError(f"study {path}: SEARCH must be a search.Search, got {search!r}"[:300])
        check_space(search.space)
        points = []
        if not seeds:
            raise StudyError(f"study {path}: SEEDS is empty")
        trials = []
        _check_variant(variant, tuple(search.space))
    else:
        quick_points = spec.get("sweep") if quick else None
        points = _points(quick_points, "QUICK['sweep']", path) if quick_points else \
            _points(module.SWEEP, "SWEEP", path)
        _check_variant(variant, tuple(dict.fromkeys(k for p in points for k in p)))
        trials = make_trials(base, points, seeds)
    metrics = tuple(_iterable(module.METRICS, "METRICS", path))
    for metric in metrics:
        if not isinstance(metric, str):
            raise StudyError(f"study {path}: METRICS entries must be strings like "
                             f"'test/accuracy', got {metric!r}")
        split, _, name = metric.partition("/")
        measured = split == "measure" and name and "/" not in name  # a name measure() returns
        if not measured and (split not in SPLITS or name not in METRIC_NAMES):
            raise StudyError(f"study {path}: METRICS entry {metric!r} is not split/metric with "
                             f"split in {SPLITS} and metric in {METRIC_NAMES}, or measure/<name> "
                             f"for a value its measure() returns")
    if any(m.startswith("measure/") for m in metrics) and not callable(getattr(module, "measure", None)):
        raise StudyError(f"study {path}: METRICS names measure/... but the study defines no "
                         f"measure(ctx) function")
    published = getattr(module, "PUBLISHED", None) or {}
    if not isinstance(published, dict):
        raise StudyError(f"study {path}: PUBLISHED must be a dict {{label: value}}, got "
                         f"{type(published).__name__}")
    axes = tuple(search.space if search is not None else
                 dict.fromkeys(k for p in points for k in p))
    stem = os.path.splitext(os.path.basename(path))[0]
    return Study(path=os.path.abspath(path), name=stem, base=base, axes=axes,
                 trials=tuple(trials), seeds=seeds, search=search, metrics=metrics,
                 published=dict(published), quick=quick, overrides=variant, module=module)


def _value(config: ml_collections.ConfigDict, key: str) -> Any:
    """The value at dotted `key` of `config` (one that apply_overrides just set)."""
    for part in key.split("."):
        config = config[part]
    return _plain(config)


def _check_variant(variant: Point, axes: Sequence[str]) -> None:
    """Refuse an override that the trials would silently undo: the seed (SEEDS sets it),
    an axis (each trial sets its own value), or a key of a section whose name is an axis
    (setting the name resets the section)."""
    for key in variant:
        section = key.split(".")[0]
        if key == "seed":
            raise StudyError("--config.seed: a sweep's seeds come from its SEEDS (each trial "
                             "sets its own); override the base config's other keys")
        if key in axes:
            raise StudyError(f"--config.{key}: an axis of the study (each trial sets its own "
                             f"value); a variant overrides the base config's other keys")
        if f"{section}.name" in axes and key != f"{section}.name":
            raise StudyError(f"--config.{key}: {section}.name is an axis of the study, and "
                             f"each trial's {section}.name resets the {section} section")


def variant_suffix(variant: Point) -> str:
    """'-steps=100,optimizer.lr=0.1' (keys sorted): what a variant adds to the name of its
    default sweep directory; '-config-<hash>' when that would be long or hold characters
    that do not belong in a file name. '' for no overrides."""
    if not variant:
        return ""
    text = ",".join(f"{k}={v if isinstance(v, str) else repr(v)}" for k, v in sorted(variant.items()))
    if len(text) <= 80 and all(c in _NAME_CHARS for c in text):
        return "-" + text
    digest = json.dumps(variant, sort_keys=True, default=list)
    return "-config-" + hashlib.sha256(digest.encode()).hexdigest()[:12]


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._=,+-")


def default_workdir(study_path: str, quick: bool, variant: Point | None = None) -> str:
    """runs/<study>[-quick][-<overrides>]: the same for every run of the same command, so
    re-running continues the sweep, and a variant never shares the plain study's directory."""
    stem = os.path.splitext(os.path.basename(study_path))[0]
    return os.path.join("runs", stem + ("-quick" if quick else "") + variant_suffix(variant or {}))
