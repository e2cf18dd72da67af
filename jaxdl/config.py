"""Run configs: one `ml_collections.ConfigDict` describes one training run.

`default()` is the published MNIST-1D CNN recipe (3 stride-2 conv layers of
25 channels + a linear head, Adam 1e-2, batch 100, 6000 steps):

    jaxdl train                                   # test accuracy ~0.94
    jaxdl train --config.optimizer.lr=0.003 --config.model.name=mlp

The sections `data` and `model` are *named*: their keys besides `name` are the
keyword arguments of the data source registered as `<name>` (`jaxdl.data.register`)
and the fields of the model class registered as `<name>` (`jaxdl.models.register`).
Overriding a section's `name` resets the section to the new entry's defaults before
the other overrides apply, so `--config.model.name=mlp --config.model.width=256` works in one command.

Every check in `validate` runs before any compute and fails with one line
naming the key (`ConfigError`), which the CLI prints without a traceback.
"""
from __future__ import annotations

import ast
import importlib.util
import inspect
import math
import os
import sys
import traceback
from typing import Any, Iterable

import ml_collections

from jaxdl import data as data_lib
from jaxdl import gradients as gradients_lib
from jaxdl import models as models_lib
from jaxdl import objectives as objectives_lib
from jaxdl.registry import ComponentImportError, OptionError

OPTIMIZERS = ("sgd", "momentum", "nesterov", "adam", "adamw", "lars")
SCHEDULES = ("constant", "cosine", "step", "linear")
EXECUTIONS = ("auto", "scan", "loop")
PRECISIONS = ("float32", "bfloat16")  # models/precision.MixedPrecision
PARALLEL_MODES = ("jit", "pmap")
AUGMENTS = ("none", "mnist1d")
# The named sections: their keys besides `name` are the options of the registered entry.
NAMED_SECTIONS = {"data": data_lib.defaults, "model": models_lib.defaults,
                  "objective": objectives_lib.defaults, "gradient": gradients_lib.defaults}
REGISTRIES = {"data": data_lib.SOURCES, "model": models_lib.REGISTRY,
              "objective": objectives_lib.REGISTRY, "gradient": gradients_lib.REGISTRY}
CHECKS = {"objective": objectives_lib.check, "gradient": gradients_lib.check}  # option rules
SELF_SUPERVISED = ("simclr", "byol", "vicreg", "barlow_twins", "mae")  # built-ins without labels
COMPONENTS = "components"  # config.json's record of the entries that are not built in


class ConfigError(ValueError):
    """A config key or value that is not allowed; the message is one line."""


def default() -> ml_collections.ConfigDict:
    """The default run: the published MNIST-1D CNN recipe (test accuracy ~94%)."""
    c = RunConfig()
    c.seed = 0  # root of every key of the run: init, data order, dropout
    c.steps = 6000
    c.batch_size = 100
    c.eval_every = 1000  # 0: evaluate only at the end
    c.log_every = 100  # every N-th step's training metrics and lr to metrics.jsonl; 0: none
    c.eval_batch_size = 1000
    c.eval_train_examples = 10000  # full-train-set eval on at most this many examples
    # steps between checkpoints (0: only at the end; SIGTERM saves at once). 2000: each
    # save costs ~25 ms of 2 CPU cores, <= 2% of the default run (BENCHMARKS.md section 3)
    c.checkpoint_every = 2000
    c.keep_checkpoints = 3  # newest N kept; >= 2 lets a damaged newest one fall back
    c.chunk_size = 100  # steps per compiled call (a host sync, progress and NaN check each chunk)
    c.execution = "auto"  # scan | loop | auto (the measured fastest for the backend)
    c.precision = "float32"  # float32 | bfloat16 (float32 params and loss, bfloat16 compute)
    c.histograms = False  # TensorBoard histograms of activations, gradients, params at each eval
    c.parallel = ml_collections.ConfigDict(dict(
        mode="jit",  # jit: one program over the mesh (NamedSharding); pmap: per-device program
        data=0,  # devices on the data axis; 0: all devices not on the fsdp axis
        fsdp=1,  # devices that split large params and optimizer state (mode=jit only)
    ))
    c.data = named_section("data", "mnist1d")
    c.model = named_section("model", "cnn1d")
    c.optimizer = ml_collections.ConfigDict(dict(
        name="adam",
        lr=1e-2,
        momentum=0.9,  # sgd-family and lars
        b1=0.9, b2=0.999, eps=1e-8,  # adam, adamw
        weight_decay=0.0,  # L2 added to the gradient (sgd, adam); decoupled (adamw, lars)
        decay_biases_and_norms=False,  # False: no decay on 1-D params (biases, norm scales)
        clip_norm=0.0,  # clip gradients to this global norm; 0: off
        trust_coefficient=0.001,  # lars
        schedule=ml_collections.ConfigDict(dict(
            name="constant",
            warmup_steps=0,  # linear warmup from 0, before any schedule
            end_fraction=0.0,  # cosine and linear decay to lr * end_fraction
            boundaries=(0.5, 0.75),  # step: fractions of `steps` where lr *= decay_rate
            decay_rate=0.1,
        )),
    ))
    c.objective = named_section("objective", "supervised")  # what training minimizes
    c.gradient = named_section("gradient", "plain")  # how its gradient is taken: plain | adversarial | sam
    c.augment = augment_defaults()
    c.prune = ml_collections.ConfigDict(dict(
        mask="",  # .npz of 0/1 masks by param path ("Dense_0/kernel"), jaxdl.pruning; "": off
    ))
    return c


def augment_defaults() -> ml_collections.ConfigDict:
    """Views for the self-supervised objectives, and data augmentation of the supervised
    one (config.augment, jaxdl.data.augment): `none` (the default: no augmentation), or
    `mnist1d`: per signal a circular shift, a crop stretched back to full length, an
    amplitude scale, a linear trend and an offset, then Gaussian noise — the nuisances the
    MNIST-1D generator itself draws. An option at 0 (min_scale at 1) is off. With the
    supervised objective each training batch is replaced by one view of it."""
    return ml_collections.ConfigDict(dict(
        name="none",  # none | mnist1d
        max_shift=10,  # samples, uniform in [-max_shift, max_shift]
        min_scale=0.6,  # crop covering a fraction U[min_scale, 1] of the signal
        amplitude=0.2,  # scale by U[1 - amplitude, 1 + amplitude]
        max_slope=1.0,  # trend rising by U[-max_slope, max_slope] over the signal
        max_offset=0.2,  # offset U[-max_offset, max_offset]
        noise_std=0.2,  # i.i.d. Gaussian noise
    ))


class NamedSection(ml_collections.ConfigDict):
    """A named section (data, model, objective, gradient): setting its `name` — in Python
    as on the command line — resets it to the new entry's defaults, so `c.objective.name =
    "simclr"` gives simclr's options and no stale keys of the previous entry."""
    section = ""

    def __setitem__(self, key: str, value: Any) -> None:
        if key == "name" and "name" in self and value != self["name"]:
            fresh = named_section(self.section, value)
            for old in [k for k in self.keys() if k != "name"]:
                del self[old]
            for k, v in fresh.items():
                super().__setitem__(k, v)
            return
        super().__setitem__(key, value)


_SECTION_TYPES = {name: type(f"{name.title()}Section", (NamedSection,),
                              {"section": name, "__module__": __name__})
                  for name in NAMED_SECTIONS}
globals().update({t.__name__: t for t in _SECTION_TYPES.values()})  # picklable by name


def named_section(section: str, name: str) -> ml_collections.ConfigDict:
    """Section `section` (data, model, objective, gradient) with entry `name`'s defaults."""
    try:
        options = NAMED_SECTIONS[section](name)
    except KeyError as e:
        raise ConfigError(f"config.{section}.name: {e.args[0]}") from None
    return _SECTION_TYPES[section](dict(name=name, **options))


class RunConfig(ml_collections.ConfigDict):
    """A run's config: a named section assigned anew (`c.data = ConfigDict(...)` in a config
    file) becomes that section's NamedSection, so it resets on `name` too."""

    def __setitem__(self, key: str, value: Any) -> None:
        if key in _SECTION_TYPES and isinstance(value, (dict, ml_collections.ConfigDict)) \
                and not isinstance(value, NamedSection):
            value = _SECTION_TYPES[key](dict(value.to_dict() if hasattr(value, "to_dict")
                                             else value))
        super().__setitem__(key, value)


def with_sections(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A copy of `config` whose named sections reset themselves when their name is set."""
    copy = RunConfig()
    for key, value in config.to_dict().items():
        copy[key] = value
    return copy


def options(section: Any) -> dict[str, Any]:
    """A named section's options: its keys less `name` (the entry's keyword arguments)."""
    return {k: v for k, v in dict(section).items() if k != "name"}


# ---------------------------------------------------------------- user components
# A run whose model or data source is the user's records it in config.json and in its
# checkpoints, beside (not inside) the config: {"components": {"model": {"name": "rescnn",
# "path": "mymod:ResCNN", "digest": "sha256:..."}}}. Outside the config, a changed source
# is no config change (resume, same_base): reopening warns instead.


def components(config: ml_collections.ConfigDict) -> dict[str, dict[str, str]]:
    """{section: {"name", "path", "digest"}} for each named section whose entry is not
    built in."""
    found = {}
    for section, registry in REGISTRIES.items():
        if section not in config:  # a config of an older layout
            continue
        name = config[section].name
        origin = registry.origin(name)
        if origin is not None:
            found[section] = {"name": name, **origin}
    return found


def to_saved(config: ml_collections.ConfigDict) -> dict[str, Any]:
    """The config as config.json and checkpoints hold it: its keys, and `components` when a
    named section's entry is not built in."""
    recorded = components(config)
    return {**config.to_dict(), **({COMPONENTS: recorded} if recorded else {})}


def without_components(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved config's keys, less the components record."""
    return {k: v for k, v in saved.items() if k != COMPONENTS}


def import_components(saved: dict[str, Any]) -> None:
    """Import each component recorded in `saved` that is not registered yet (a run reopened
    in a fresh process); ConfigError in one line naming the section and path if it fails."""
    for section, record in (saved.get(COMPONENTS) or {}).items():
        if section in REGISTRIES and isinstance(record, dict):
            try:
                REGISTRIES[section].import_recorded(record.get("name"), record.get("path", ""))
            except ComponentImportError as e:
                raise ConfigError(f"config.{section}.name: {e}; run from the directory that "
                                  f"holds it or put it on PYTHONPATH") from None


def source_changes(saved: dict[str, Any], config: ml_collections.ConfigDict) -> list[str]:
    """One line per recorded component whose source (path or file digest) is not what
    `saved` recorded: the code changed since the run was made."""
    now, lines = components(config), []
    for section, old in (saved.get(COMPONENTS) or {}).items():
        new = now.get(section)
        if new and old.get("name") == new["name"] and \
                (old.get("path"), old.get("digest")) != (new["path"], new["digest"]):
            lines.append(f"config.{section}.name: {new['name']!r} ({new['path']}) changed "
                         f"since the run was made (recorded: {old.get('path')}, "
                         f"{str(old.get('digest'))[:19]}); continuing with the current source")
    return lines


def upgrade(saved: dict[str, Any]) -> dict[str, Any]:
    """A saved config in today's layout. Before objectives and gradient methods were
    registered components, `loss` held the supervised loss, its regularizers, the
    adversarial training (`loss.adversarial`) and distillation (`loss.distill`), and
    `objective` every self-supervised method's numbers: they map to `objective` (the
    entry's own options) and `gradient`. Today's configs are returned as they are."""
    if not isinstance(saved.get("loss"), dict):
        return saved
    saved = dict(saved)
    loss, old = saved.pop("loss"), dict(saved.get("objective") or {})
    name = old.get("name", "supervised")
    renamed = {"loss": loss.get("name", "cross_entropy"), **loss}
    distill = loss.get("distill") or {}
    if distill.get("teacher"):
        name, renamed = "distill", {**renamed, **distill}
    source = renamed if name in ("supervised", "distill") else {**old, **renamed}
    saved["objective"] = {"name": name, **{k: source[k] for k in NAMED_SECTIONS["objective"](name)
                                            if k in source}}
    attack = loss.get("adversarial") or {}
    saved["gradient"] = {"name": "plain"}
    if attack.get("attack", "none") != "none":
        saved["gradient"] = {"name": "adversarial", **{
            k: attack[k] for k in NAMED_SECTIONS["gradient"]("adversarial") if k in attack}}
    return saved


def from_saved(saved: dict[str, Any]) -> ml_collections.ConfigDict:
    """A saved config (config.json, a checkpoint's) as a ConfigDict: its components imported
    again, and the keys added to jaxdl since at their defaults (which keep the old
    behaviour), so that it validates and builds the state it saved."""
    def merge(base: dict, values: dict) -> dict:
        for key, value in values.items():
            base[key] = (merge(base[key], value) if isinstance(value, dict)
                         and isinstance(base.get(key), dict) else value)
        return base

    saved = upgrade(saved)
    import_components(saved)
    defaults = default()
    for section in NAMED_SECTIONS:
        if (saved.get(section) or {}).get("name"):
            defaults[section] = named_section(section, saved[section]["name"])
    return with_sections(ml_collections.ConfigDict(merge(defaults.to_dict(),
                                                         without_components(saved))))


def reopen(saved: dict[str, Any], overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
    """The config of a run directory's config.json, with `overrides`, validated: what
    `jaxdl train --workdir RUN` continues when no --config is given."""
    config = apply_overrides(from_saved(saved), overrides)
    validate(config)
    return config


# ---------------------------------------------------------------- loading


def load(spec: str | None = None, overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
    """Config from `FILE[:NAME]` (or the default) with `key=value` overrides applied.

    A config file defines `get_config(name: str | None) -> ConfigDict`; NAME is
    passed through, so one file can hold several named configs.
    """
    config = default() if spec is None else from_file(spec)
    config = apply_overrides(config, overrides)
    validate(config)
    return config


def from_file(spec: str) -> ml_collections.ConfigDict:
    path, _, name = spec.partition(":")
    if not os.path.isfile(path):
        raise ConfigError(f"--config {spec}: no such file {path!r}")
    module = exec_file(path, "jaxdl_user_config", f"--config {spec}", ConfigError)
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ConfigError(f"--config {spec}: {path} defines no get_config(name)")
    return call_get_config(get_config, name or None, f"--config {spec}", ConfigError)


def exec_file(path: str, module_name: str, label: str, error: type[Exception]) -> Any:
    """The module of Python file `path`, executed; any exception it raises becomes one
    line `error(f"{label}: {path}:LINE: ...")` naming where in the file it was raised.
    The file's directory goes on sys.path first, so it imports modules beside it."""
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:  # as Python does for a script: `import mymodel` beside it
        sys.path.insert(0, directory)
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as e:
        raise error(f"{label}: {path}:{e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 - any error of user code, reported in one line
        raise error(f"{label}: {_where(e, path)}: {_one_line(e)}") from None
    return module


def call_get_config(get_config: Any, name: str | None, label: str,
                    error: type[Exception]) -> ml_collections.ConfigDict:
    """`get_config(name)` of a config or study file, checked: it takes the one argument
    `name` and returns a ConfigDict; anything it raises becomes one line naming the file."""
    try:
        inspect.signature(get_config).bind(name)
    except TypeError:
        raise error(f"{label}: get_config must take one argument, the config's name "
                    f"(def get_config(name=None)); got get_config{inspect.signature(get_config)}"
                    ) from None
    except ValueError:  # no signature to inspect (a builtin): call it and see
        pass
    try:
        config = get_config(name)
    except KeyError as e:  # an unknown NAME, by convention
        raise error(f"{label}: {e.args[0] if e.args else 'KeyError'}") from None
    except Exception as e:  # noqa: BLE001 - any error of user code, reported in one line
        path = inspect.getsourcefile(get_config) if inspect.isfunction(get_config) else None
        raise error(f"{label}: get_config raised at {_where(e, path)}: {_one_line(e)}") from None
    if not isinstance(config, ml_collections.ConfigDict):
        raise error(f"{label}: get_config must return an ml_collections.ConfigDict, "
                    f"got {type(config).__name__}")
    return config


def _where(e: BaseException, path: str | None) -> str:
    """`path:LINE` of the innermost frame of `e`'s traceback in file `path` (the last
    frame if none is in that file)."""
    frames = traceback.extract_tb(e.__traceback__)
    here = [f for f in frames if path and os.path.abspath(f.filename) == os.path.abspath(path)]
    frame = (here or frames or [None])[-1]
    return f"{frame.filename}:{frame.lineno}" if frame else str(path)


def _one_line(e: BaseException) -> str:
    text = str(e).strip().splitlines()
    return f"{type(e).__name__}: {text[0]}" if text else type(e).__name__


def apply_overrides(config: ml_collections.ConfigDict, overrides: Iterable[str]) -> ml_collections.ConfigDict:
    """Apply `a.b=value` strings; values are parsed to the type of the current value.

    Section names go first so that a section switched to another entry gets
    that entry's defaults before its other keys are set.
    """
    config = with_sections(config)
    pairs = [_split_override(o) for o in overrides]
    for key, raw in sorted(pairs, key=lambda kv: not _is_section_name(kv[0])):
        if _is_section_name(key):
            section = key.split(".")[0]
            config[section] = named_section(section, _parse(raw, str, key))
        else:
            _set(config, key, raw)
    return config


def _split_override(override: str) -> tuple[str, str]:
    key, sep, raw = override.removeprefix("--").removeprefix("config.").partition("=")
    if not sep:
        raise ConfigError(f"--config.{key}: expected --config.{key}=VALUE")
    return key, raw


def _is_section_name(key: str) -> bool:
    parts = key.split(".")
    return len(parts) == 2 and parts[0] in NAMED_SECTIONS and parts[1] == "name"


def _set(config: ml_collections.ConfigDict, key: str, raw: str) -> None:
    *parents, leaf = key.split(".")
    node = config
    for i, part in enumerate(parents):
        if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
            raise ConfigError(f"config.{'.'.join(parents[:i + 1])}: unknown section; "
                              f"allowed: {_keys(node)}")
        node = node[part]
    if leaf not in node:
        raise ConfigError(f"config.{key}: unknown key; allowed: {_keys(node)}")
    if isinstance(node[leaf], ml_collections.ConfigDict):
        raise ConfigError(f"config.{key}: is a section, not a value; set its keys "
                          f"(--config.{key}.KEY=VALUE; keys: {_keys(node[leaf])})")
    value = _parse(raw, type(node[leaf]), key)
    try:
        node[leaf] = value
    except (TypeError, ValueError):  # ConfigDict refuses a value of another type
        raise ConfigError(f"config.{key}: expected {type(node[leaf]).__name__}, "
                          f"got {raw!r}") from None


def _parse(raw: str, kind: type, key: str) -> Any:
    """Parse `raw` as a value of type `kind` (the type of the default)."""
    try:
        if kind is bool:
            if raw.lower() in ("true", "1", "yes"):
                return True
            if raw.lower() in ("false", "0", "no"):
                return False
            raise ValueError
        if kind is str:
            return raw
        if kind is int:
            return int(raw)
        if kind is float:
            return float(raw)
        value = ast.literal_eval(raw)
        if kind is tuple:
            return tuple(value) if isinstance(value, (list, tuple)) else (value,)
        return value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ConfigError(f"config.{key}: expected {kind.__name__}, got {raw!r}") from None


def _keys(node: ml_collections.ConfigDict) -> str:
    return ", ".join(sorted(node.keys()))


# ---------------------------------------------------------------- validation


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise `ConfigError` (one line naming the key) for any key or value not allowed."""
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"config: expected an ml_collections.ConfigDict, got {type(config).__name__}")
    for section in NAMED_SECTIONS:
        if section not in config:
            raise ConfigError(f"config.{section}: missing")
        if not isinstance(config[section], ml_collections.ConfigDict):
            raise ConfigError(f"config.{section}: expected a section, got {config[section]!r}")
        if "name" not in config[section]:
            raise ConfigError(f"config.{section}.name: missing")
        if not isinstance(config[section].name, str):
            raise ConfigError(f"config.{section}.name: expected str, got {config[section].name!r}")
    schema = default()
    for section in NAMED_SECTIONS:
        schema[section] = named_section(section, config[section].name)
    _check_structure(config, schema, "config")
    _check_values(config)


def _check_structure(node: Any, schema: Any, path: str) -> None:
    for key in node.keys():
        if key not in schema:
            raise ConfigError(f"{path}.{key}: unknown key; allowed: {_keys(schema)}")
    for key in schema.keys():
        if key not in node:
            raise ConfigError(f"{path}.{key}: missing")
        value, expected = node[key], schema[key]
        if isinstance(expected, ml_collections.ConfigDict):
            if not isinstance(value, ml_collections.ConfigDict):
                raise ConfigError(f"{path}.{key}: expected a section, got {value!r}")
            _check_structure(value, expected, f"{path}.{key}")
        elif not _same_kind(value, expected):
            raise ConfigError(f"{path}.{key}: expected {type(expected).__name__}, "
                              f"got {type(value).__name__} {value!r}")
        else:
            _check_numbers(value, f"{path}.{key}")


# No config value needs more: seeds are uint32 (jax.random.PRNGKey, np.random.seed) and
# every count fits the int32 step counter; larger ints overflow C longs on the way.
MAX_INT = 2**32 - 1
MAX_STEPS = 2**31 - 1  # TrainState.step is an int32
MAX_FLOAT = 3.4028234663852886e38  # float32's largest: the run computes in float32 (or less)
MAX_EVALUATIONS = 10**6  # evaluation, checkpoint or log points per run (held in host memory)


def _check_numbers(value: Any, key: str) -> None:
    """Every number, also inside a tuple: floats finite (NaN and inf mean nothing as an
    option) and within float32's range, ints within +-MAX_INT."""
    for v in value if isinstance(value, (tuple, list)) else (value,):
        if isinstance(v, float) and not (math.isfinite(v) and abs(v) <= MAX_FLOAT):
            raise ConfigError(f"{key}: must be a finite number within float32's range "
                              f"(|x| <= {MAX_FLOAT:.2e}), got {value!r}")
        if isinstance(v, int) and not isinstance(v, bool) and abs(v) > MAX_INT:
            raise ConfigError(f"{key}: must be an integer of magnitude <= {MAX_INT}, "
                              f"got {value!r}")


def _same_kind(value: Any, expected: Any) -> bool:
    if expected is None:
        return True
    if isinstance(expected, bool) or isinstance(value, bool):
        return isinstance(value, bool) and isinstance(expected, bool)
    if isinstance(expected, float):
        return isinstance(value, (int, float))
    if isinstance(expected, (tuple, list)):
        return isinstance(value, (tuple, list))
    return isinstance(value, type(expected))


def _check_values(c: ml_collections.ConfigDict) -> None:
    _require(0 <= c.seed <= MAX_INT, "seed", f"must be in [0, {MAX_INT}] (a uint32 PRNG seed)",
             c.seed)
    _require(0 < c.steps <= MAX_STEPS, "steps", f"must be in [1, {MAX_STEPS}]", c.steps)
    _require(c.batch_size > 0, "batch_size", "must be > 0", c.batch_size)
    _require(c.eval_batch_size > 0, "eval_batch_size", "must be > 0", c.eval_batch_size)
    _require(c.eval_train_examples >= 0, "eval_train_examples", "must be >= 0", c.eval_train_examples)
    for key, zero in (("eval_every", "only at the end"), ("checkpoint_every", "only at the end"),
                      ("log_every", "never")):
        _require(c[key] >= 0, key, f"must be >= 0 (0: {zero})", c[key])
        _require(c[key] == 0 or c.steps // c[key] <= MAX_EVALUATIONS, key,
                 f"must be 0 or >= steps / {MAX_EVALUATIONS} = {-(-c.steps // MAX_EVALUATIONS)} "
                 f"(at most {MAX_EVALUATIONS} points per run)", c[key])
    _require(c.keep_checkpoints >= 1, "keep_checkpoints", "must be >= 1", c.keep_checkpoints)
    _require(c.chunk_size > 0, "chunk_size", "must be > 0", c.chunk_size)
    _require(c.execution in EXECUTIONS, "execution", f"must be one of {', '.join(EXECUTIONS)}", c.execution)
    _require(c.precision in PRECISIONS, "precision", f"must be one of {', '.join(PRECISIONS)}",
             c.precision)
    par = c.parallel
    _require(par.mode in PARALLEL_MODES, "parallel.mode", f"must be one of {', '.join(PARALLEL_MODES)}",
             par.mode)
    _require(par.data >= 0, "parallel.data", "must be >= 0 (0: all devices)", par.data)
    _require(par.fsdp >= 1, "parallel.fsdp", "must be >= 1", par.fsdp)
    check_model(c)
    o = c.optimizer
    _require(o.name in OPTIMIZERS, "optimizer.name", f"must be one of {', '.join(OPTIMIZERS)}", o.name)
    _require(math.isfinite(o.lr) and o.lr > 0, "optimizer.lr", "must be a finite number > 0", o.lr)
    _require(0 <= o.momentum < 1, "optimizer.momentum", "must be in [0, 1)", o.momentum)
    _require(0 <= o.b1 < 1, "optimizer.b1", "must be in [0, 1)", o.b1)
    _require(0 <= o.b2 < 1, "optimizer.b2", "must be in [0, 1)", o.b2)
    _require(o.eps >= 0, "optimizer.eps", "must be >= 0", o.eps)
    _require(o.weight_decay >= 0, "optimizer.weight_decay", "must be >= 0", o.weight_decay)
    _require(o.clip_norm >= 0, "optimizer.clip_norm", "must be >= 0 (0: off)", o.clip_norm)
    _require(o.trust_coefficient > 0, "optimizer.trust_coefficient", "must be > 0", o.trust_coefficient)
    s = o.schedule
    _require(s.name in SCHEDULES, "optimizer.schedule.name", f"must be one of {', '.join(SCHEDULES)}", s.name)
    _require(0 <= s.warmup_steps < c.steps, "optimizer.schedule.warmup_steps",
             f"must be in [0, steps={c.steps})", s.warmup_steps)
    _require(0 <= s.end_fraction <= 1, "optimizer.schedule.end_fraction", "must be in [0, 1]", s.end_fraction)
    _require(all(isinstance(b, (int, float)) and 0 < b < 1 for b in s.boundaries)
             and list(s.boundaries) == sorted(s.boundaries),
             "optimizer.schedule.boundaries", "must be increasing fractions of steps in (0, 1)", s.boundaries)
    _require(s.decay_rate > 0, "optimizer.schedule.decay_rate", "must be > 0", s.decay_rate)
    for section in CHECKS:
        check_component(c, section)
    _require(not c.objective.get("online_probe", False) or c.optimizer.clip_norm == 0,
             "optimizer.clip_norm", "must be 0 with objective.online_probe (the global norm "
             "would include the probe's gradient and change the backbone's updates)",
             c.optimizer.clip_norm)
    _require(c.objective.name != "distill" or c.objective.inputs == "train"
             or c.data.name == "mnist1d", "objective.inputs",
             f"'generated' needs data.name 'mnist1d' (the generator), not {c.data.name!r}",
             c.objective.get("inputs"))
    _check_augment(c.augment)
    _require(not c.prune.mask or os.path.isfile(c.prune.mask), "prune.mask",
             "no such file", c.prune.mask)


def check_model(config: ml_collections.ConfigDict,
                input_shape: tuple[int, ...] | None = None) -> None:
    """The model's own rules on its options (models.check); with `input_shape` (one
    example: after loading data, before tracing) also its shape rules, e.g. a kernel
    longer than the signal. ConfigError names the option."""
    try:
        models_lib.check(config.model.name, options(config.model),
                         None if input_shape is None else tuple(input_shape))
    except models_lib.OptionError as e:
        data = "" if input_shape is None else f" (data {config.data.name!r})"
        raise ConfigError(f"config.model.{e}{data}") from None


def check_component(config: ml_collections.ConfigDict, section: str) -> None:
    """The rules of the objective or gradient method on its options (its `check`);
    ConfigError names the option."""
    try:
        CHECKS[section](config[section].name, options(config[section]))
    except OptionError as e:
        raise ConfigError(f"config.{section}.{e}") from None


def _check_augment(a: ml_collections.ConfigDict) -> None:
    key = "augment."
    _require(a.name in AUGMENTS, key + "name", f"must be one of {', '.join(AUGMENTS)}", a.name)
    _require(a.max_shift >= 0, key + "max_shift", "must be >= 0", a.max_shift)
    _require(0 < a.min_scale <= 1, key + "min_scale", "must be in (0, 1]", a.min_scale)
    _require(0 <= a.amplitude < 1, key + "amplitude", "must be in [0, 1)", a.amplitude)
    for name in ("max_slope", "max_offset", "noise_std"):
        _require(math.isfinite(a[name]) and a[name] >= 0, key + name,
                 "must be a finite number >= 0", a[name])


def _require(ok: bool, key: str, rule: str, value: Any) -> None:
    if not ok:
        raise ConfigError(f"config.{key}: {rule}, got {value!r}")


def check_against_data(config: ml_collections.ConfigDict, num_train: int, num_classes: int,
                       num_test: int | None = None) -> None:
    """Checks that need the dataset's size (run after loading data, before compiling)."""
    split_key = "data.train_split" if "train_split" in config.data else "data"
    for split, count in (("training", num_train), ("test", num_test)):
        _require(count is None or count > 0, split_key,
                 f"must leave a non-empty {split} set (data {config.data.name!r})",
                 config.data.get("train_split", config.data.name))
    _require(config.batch_size <= num_train, "batch_size",
             f"must be <= the training set size ({num_train} examples)", config.batch_size)
    if num_classes == 0:
        o = config.objective
        _require(o.name != "supervised" or o.loss == "mse", "objective.loss",
                 "must be 'mse' for a regression dataset (num_classes = 0)", o.get("loss"))
        _require(o.name not in SELF_SUPERVISED + ("distill",), "objective.name",
                 "must not be a self-supervised or distillation objective for a regression "
                 "dataset (the self-supervised evaluation is a kNN classifier; distillation "
                 "matches class probabilities)", o.name)
