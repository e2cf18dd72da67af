"""Run configs: one `ml_collections.ConfigDict` describes one training run.

`default()` is the published MNIST-1D CNN recipe (3 stride-2 conv layers of 25 channels
+ a linear head, Adam 1e-2, batch 100, 6000 steps; test accuracy ~0.94):

    jaxdl train --config.optimizer.lr=0.003 --config.model.name=mlp

The sections data, model, objective and gradient are *named*: their keys besides `name`
are the options of the entry registered as `<name>` (`jaxdl.data.register`, ...).
Setting a section's `name` (also in Python) resets it to its defaults first (one command).
Components own their defaults and rules (``optim.defaults``/``check``, `jaxdl.models.check`, ...);
this module loads a config, applies overrides, checks structure and the run's own rules,
failing with one line naming the key (`ConfigError`). A saved run's config: ``jaxdl.saved``.
"""
from __future__ import annotations

import os
from typing import Any, Iterable

import ml_collections

from jaxdl import data as data_lib
from jaxdl import gradients as gradients_lib
from jaxdl import models as models_lib
from jaxdl import objectives as objectives_lib
from jaxdl import optim, schema, trackers, userfile
from jaxdl.models import ssl
from jaxdl.registry import require
from jaxdl.schema import MAX_INT, ConfigError  # noqa: F401 - config's own, re-exported

__all__ = ["ConfigError", "RunConfig", "NamedSection", "default", "load", "from_file", "validate",
           "apply_overrides", "named_section", "with_sections", "options", "check_model"]

EXECUTIONS = ("auto", "scan", "loop")
PRECISIONS = ("float32", "bfloat16")  # models/precision.MixedPrecision
PARALLEL_MODES = ("jit", "pmap")
# The named sections: their keys besides `name` are the options of the registered entry.
NAMED_SECTIONS = {"data": data_lib.section_defaults, "model": models_lib.defaults,
                  "objective": objectives_lib.defaults, "gradient": gradients_lib.defaults}
CHECKS = {"objective": objectives_lib.check, "gradient": gradients_lib.check}  # option rules


def default() -> ml_collections.ConfigDict:
    """The default run: the published MNIST-1D CNN recipe (test accuracy ~94%)."""
    c = RunConfig()
    c.seed = 0  # root of every key of the run: init, data order, dropout
    c.steps = 6000
    c.batch_size = 100
    c.eval_every = 1000  # 0: evaluate only at the end
    c.log_every = 100  # every N-th step's training metrics and lr to metrics.jsonl; 0: none
    c.log_grad_norm = False  # also the gradient's norm (~10% of a small MLP's steps/s on CPU)
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
    c.trackers = trackers.defaults()  # W&B, MLflow besides metrics.jsonl + TensorBoard: none
    c.parallel = ml_collections.ConfigDict(dict(
        mode="jit",  # jit: one program over the mesh (NamedSharding); pmap: per-device program
        data=0,  # devices on the data axis; 0: all devices not on the fsdp axis
        fsdp=1,  # devices that split large params and optimizer state (mode=jit only)
    ))
    c.data = named_section("data", "mnist1d")
    c.model = named_section("model", "cnn1d")
    c.optimizer = optim.defaults()  # Adam 1e-2, constant (jaxdl/optim.py)
    c.objective = named_section("objective", "supervised")  # what training minimizes
    c.gradient = named_section("gradient", "plain")  # how its gradient is taken: plain | adversarial | sam
    c.augment = ssl.augment_defaults()  # views and augmentation (models/ssl.py)
    # .npz of 0/1 masks by param path ("Dense_0/kernel"), jaxdl.pruning; "": off
    c.prune = ml_collections.ConfigDict(dict(mask=""))
    return c


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


def load(spec: str | None = None, overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
    """Config from `FILE[:NAME]` (or the default) with `key=value` overrides, validated.
    A config file defines `get_config(name: str | None) -> ConfigDict`; NAME is passed
    through, so one file can hold several named configs."""
    config = default() if spec is None else from_file(spec)
    config = apply_overrides(config, overrides)
    validate(config)
    return config


def from_file(spec: str) -> ml_collections.ConfigDict:
    path, _, name = spec.partition(":")
    if not os.path.isfile(path):
        raise ConfigError(f"--config {spec}: no such file {path!r}")
    module = userfile.exec_file(path, "jaxdl_user_config", f"--config {spec}", ConfigError)
    get_config = getattr(module, "get_config", None)
    if not callable(get_config):
        raise ConfigError(f"--config {spec}: {path} defines no get_config(name)")
    return userfile.call_get_config(get_config, name or None, f"--config {spec}", ConfigError)


def apply_overrides(config: ml_collections.ConfigDict, overrides: Iterable[str]) -> ml_collections.ConfigDict:
    """Apply `a.b=value` strings, each parsed to the type of the value it replaces. Section
    names go first: a section switched to another entry gets that entry's defaults before
    its other keys are set; naming the entry it already has keeps its options (a sweep point
    `objective.name=simclr` over a simclr base), as `c.objective.name = "simclr"` does."""
    config = with_sections(config)
    pairs = [schema.split_override(o) for o in overrides]
    for key, raw in sorted(pairs, key=lambda kv: not _is_section_name(kv[0])):
        if _is_section_name(key):
            config[key.split(".")[0]].name = schema.parse(raw, str, key)  # resets if new
        else:
            schema.set_value(config, key, raw)
    return config


def _is_section_name(key: str) -> bool:
    parts = key.split(".")
    return len(parts) == 2 and parts[0] in NAMED_SECTIONS and parts[1] == "name"


def validate(config: ml_collections.ConfigDict) -> None:
    """Raise `ConfigError` (one line naming the key) for any key or value not allowed."""
    schema.check_named(config, NAMED_SECTIONS)  # their names choose the schema of the rest
    expected = default()
    for section in NAMED_SECTIONS:
        expected[section] = named_section(section, config[section].name)
    schema.check_structure(config, expected, "config")
    _check_values(config)


MAX_STEPS = 2**31 - 1  # TrainState.step is an int32
MAX_EVALUATIONS = 10**6  # evaluation, checkpoint or log points per run (held in host memory)


def _check_values(c: ml_collections.ConfigDict) -> None:
    """The run's own rules, then each component's (its `check`), then those between them."""
    with schema.rules():
        _check_run(c)
    check_model(c)
    with schema.rules("optimizer"):
        optim.check(c.optimizer, c.steps)
    for section, check in CHECKS.items():
        with schema.rules(section):
            check(c[section].name, options(c[section]))
    with schema.rules():
        require(not c.objective.get("online_probe", False) or c.optimizer.clip_norm == 0,
                "optimizer.clip_norm", "must be 0 with objective.online_probe (the global "
                "norm would include the probe's gradient and change the backbone's updates)",
                c.optimizer.clip_norm)
        require(c.objective.name != "distill" or c.objective.inputs == "train"
                or c.data.name == "mnist1d", "objective.inputs",
                f"'generated' needs data.name 'mnist1d' (the generator), not {c.data.name!r}",
                c.objective.get("inputs"))
        require(not c.prune.mask or os.path.isfile(c.prune.mask), "prune.mask",
                "no such file", c.prune.mask)
    for section, check in (("augment", ssl.check_augment), ("trackers", trackers.check), ("data", data_lib.check_input)):
        with schema.rules(section):
            check(c[section])


def _check_run(c: ml_collections.ConfigDict) -> None:
    """Seed, length, batch sizes, intervals and execution of the run (OptionError)."""
    require(0 <= c.seed <= MAX_INT, "seed", f"must be in [0, {MAX_INT}] (a uint32 PRNG seed)",
            c.seed)
    require(0 < c.steps <= MAX_STEPS, "steps", f"must be in [1, {MAX_STEPS}]", c.steps)
    for key in ("batch_size", "eval_batch_size", "chunk_size"):
        require(c[key] > 0, key, "must be > 0", c[key])
    require(c.eval_train_examples >= 0, "eval_train_examples", "must be >= 0",
            c.eval_train_examples)
    for key, zero in (("eval_every", "only at the end"), ("checkpoint_every", "only at the end"),
                      ("log_every", "never")):
        require(c[key] >= 0, key, f"must be >= 0 (0: {zero})", c[key])
        require(c[key] == 0 or c.steps // c[key] <= MAX_EVALUATIONS, key,
                f"must be 0 or >= steps / {MAX_EVALUATIONS} = {-(-c.steps // MAX_EVALUATIONS)} "
                f"(at most {MAX_EVALUATIONS} points per run)", c[key])
    require(c.keep_checkpoints >= 1, "keep_checkpoints", "must be >= 1", c.keep_checkpoints)
    for key, allowed in (("execution", EXECUTIONS), ("precision", PRECISIONS)):
        require(c[key] in allowed, key, f"must be one of {', '.join(allowed)}", c[key])
    par = c.parallel
    require(par.mode in PARALLEL_MODES, "parallel.mode",
            f"must be one of {', '.join(PARALLEL_MODES)}", par.mode)
    require(par.data >= 0, "parallel.data", "must be >= 0 (0: all devices)", par.data)
    require(par.fsdp >= 1, "parallel.fsdp", "must be >= 1", par.fsdp)


def check_model(config: ml_collections.ConfigDict,
                input_shape: tuple[int, ...] | None = None) -> None:
    """The model's own rules on its options (models.check); with `input_shape` (one
    example: after loading data, before tracing) also its shape rules, e.g. a kernel
    longer than the signal. ConfigError names the option."""
    with schema.rules("model", "" if input_shape is None else f" (data {config.data.name!r})"):
        models_lib.check(config.model.name, options(config.model),
                         None if input_shape is None else tuple(input_shape))
