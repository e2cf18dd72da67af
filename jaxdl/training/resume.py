"""Continuing runs: resume, declared interventions, and warm starts.

A workdir's checkpoints describe themselves (each holds the config that made
its state), so resuming needs nothing but the workdir. A config that differs
from the checkpoint's is refused with the list of changed keys, unless the
change is declared an *intervention* (`--intervene`): then params whose path
and shape match are kept, new parts are initialized exactly as a fresh run of
the new config would initialize them, the optimizer state is kept only if the
optimizer section is unchanged, and the change is recorded in `history.jsonl`.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from flax import traverse_util

from jaxdl import config as config_lib
from jaxdl import saved as saved_lib
from jaxdl import data as data_lib
from jaxdl import trackers

__all__ = ["FREE_KEYS", "ParamsMismatch", "flatten_config", "config_changes",
           "topology_change", "describe_changes", "shape_mismatches", "transplant"]

# Keys that change how a run is executed, saved or watched, not what it computes (the
# execution strategy and the device layout change float rounding only): a run may resume
# under other values, e.g. on another machine, or with other trackers (W&B, MLflow).
FREE_KEYS = frozenset({"chunk_size", "checkpoint_every", "keep_checkpoints", "eval_batch_size",
                       "execution", "parallel.mode", "parallel.data", "parallel.fsdp",
                       "histograms", "log_every", "log_grad_norm", *trackers.keys(),
                       # where the batches are read: the same examples at every step
                       *(f"data.{key}" for key in data_lib.INPUT_OPTIONS)})


class ParamsMismatch(ValueError):
    """Params of two runs that cannot be matched; the message names each key."""


def flatten_config(config: dict, prefix: str = "") -> dict[str, Any]:
    flat = {}
    for key, value in config.items():
        if isinstance(value, dict):
            flat.update(flatten_config(value, f"{prefix}{key}."))
        else:
            flat[f"{prefix}{key}"] = list(value) if isinstance(value, tuple) else value
    return flat


def config_changes(old: dict, new: dict) -> dict[str, tuple[Any, Any]]:
    """{dotted key: (old value, new value)} for every key whose value differs.

    A key that `old` (a saved config) lacks and `new` holds at jaxdl's default is no
    change: the key was added to jaxdl after `old` was saved, and a new key's default
    keeps the old behaviour (the contract for adding config keys), so runs and sweeps
    started before an upgrade still resume."""
    # The components record (import paths, source digests) is not config: a changed
    # source is reported when the run is reopened, not refused. A config of an older
    # layout (the `loss` section) is compared in today's (`saved.upgrade`).
    old, new = saved_lib.upgrade(old), saved_lib.upgrade(new)
    a = flatten_config({k: v for k, v in old.items() if k != "components"})
    b = flatten_config({k: v for k, v in new.items() if k != "components"})
    missing = object()
    defaults = _defaults_like(new) if b.keys() - a.keys() else {}
    changes = {k: (a.get(k, missing), b.get(k, missing)) for k in sorted(a.keys() | b.keys())
               if a.get(k, missing) != b.get(k, missing) and k not in FREE_KEYS
               and not (k not in a and k in defaults and defaults[k] == b[k])}
    return {k: (None if o is missing else o, None if n is missing else n)
            for k, (o, n) in changes.items()}


def _defaults_like(config: dict) -> dict[str, Any]:
    """jaxdl's default config, flattened, with the named sections (data, model) of
    `config`'s names."""
    defaults = config_lib.default()
    for section in config_lib.NAMED_SECTIONS:
        name = (config.get(section) or {}).get("name")
        try:
            if name is not None:
                defaults[section] = config_lib.named_section(section, name)
        except config_lib.ConfigError:  # an unknown name: that key is a change anyway
            pass
    return flatten_config(defaults.to_dict())


def topology_change(saved: dict | None, now: dict) -> str | None:
    """What changed between the devices and processes a run last trained on (`saved`, from
    its history; None for a run from before they were recorded) and `now`, or None."""
    if not saved or all(saved.get(k) == v for k, v in now.items()):
        return None
    def describe(t: dict) -> str:
        return f"{t.get('devices')} device(s) in {t.get('processes')} process(es)"
    return (f"was trained on {describe(saved)} and this run has {describe(now)}, which "
            f"changes the bits (the gradient's all-reduce sums in another order)")


def describe_changes(changes: dict[str, tuple[Any, Any]]) -> str:
    return "; ".join(f"{k}: {o!r} -> {n!r}" for k, (o, n) in changes.items())


def _flat(tree: Any) -> dict[str, Any]:
    return {"/".join(map(str, k)): v for k, v in traverse_util.flatten_dict(dict(tree)).items()} \
        if tree else {}


def _unflat(flat: dict[str, Any]) -> dict:
    return traverse_util.unflatten_dict({tuple(k.split("/")): v for k, v in flat.items()})


def shape_mismatches(source: Any, target: Any, *, allow_missing: bool) -> list[str]:
    """One line per key whose shape differs, or that `source` lacks (unless allowed)."""
    src, tgt = _flat(source), _flat(target)
    problems = []
    for key, value in tgt.items():
        if key not in src:
            if not allow_missing:
                problems.append(f"{key}: missing in the source, shape {tuple(np.shape(value))} here")
        elif np.shape(src[key]) != np.shape(value):
            problems.append(f"{key}: shape {tuple(np.shape(src[key]))} in the source, "
                            f"{tuple(np.shape(value))} here")
    return problems


def transplant(source: Any, target: Any) -> tuple[Any, list[str], list[str]]:
    """`target` with every leaf that `source` has at the same path (and shape) taken from
    `source`; returns (tree, kept keys, newly initialized keys)."""
    src, tgt = _flat(source), _flat(target)
    out, kept, fresh = {}, [], []
    for key, value in tgt.items():
        if key in src and np.shape(src[key]) == np.shape(value):
            out[key] = np.asarray(src[key], dtype=value.dtype)  # placed on devices by the caller
            kept.append(key)
        else:
            out[key] = value
            fresh.append(key)
    return (_unflat(out) if out else target), kept, fresh
