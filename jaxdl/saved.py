"""A run's config as config.json and its checkpoints hold it, and back.

A run whose model or data source is the user's records it beside (not inside) the
config: {"components": {"model": {"name": "rescnn", "path": "mymod:ResCNN", "digest":
"sha256:..."}}}. Outside the config, a changed source is no config change (resume,
same_base): reopening warns instead (`source_changes`). Reading a saved config back
(`from_saved`, `reopen`) maps an older layout to today's (`upgrade`), imports its
components again and adds the keys jaxdl gained since at their defaults.
"""
from __future__ import annotations

from typing import Any, Iterable

import ml_collections

from jaxdl import data as data_lib
from jaxdl import gradients as gradients_lib
from jaxdl import models as models_lib
from jaxdl import objectives as objectives_lib
from jaxdl.config import (NAMED_SECTIONS, ConfigError, apply_overrides, default, named_section,
                          validate, with_sections)
from jaxdl.registry import ComponentImportError

__all__ = ["COMPONENTS", "components", "to_saved", "without_components", "import_components",
           "source_changes", "upgrade", "from_saved", "reopen"]

COMPONENTS = "components"  # config.json's record of the entries that are not built in
REGISTRIES = {"data": data_lib.SOURCES, "model": models_lib.REGISTRY,
              "objective": objectives_lib.REGISTRY, "gradient": gradients_lib.REGISTRY}


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
    saved = upgrade(saved)
    import_components(saved)
    defaults = default()
    for section in NAMED_SECTIONS:
        if (saved.get(section) or {}).get("name"):
            defaults[section] = named_section(section, saved[section]["name"])
    return with_sections(ml_collections.ConfigDict(_merge(defaults.to_dict(),
                                                         without_components(saved))))


def _merge(base: dict, values: dict) -> dict:
    """`base` with `values` written over it, nested dicts merged key by key."""
    for key, value in values.items():
        base[key] = (_merge(base[key], value) if isinstance(value, dict)
                     and isinstance(base.get(key), dict) else value)
    return base


def reopen(saved: dict[str, Any], overrides: Iterable[str] = ()) -> ml_collections.ConfigDict:
    """The config of a run directory's config.json, with `overrides`, validated: what
    `jaxdl train --workdir RUN` continues when no --config is given."""
    config = apply_overrides(from_saved(saved), overrides)
    validate(config)
    return config
