"""A ConfigDict checked against its schema, and command-line values parsed to its types.

The schema is a ConfigDict of defaults (`config.default()` with the named sections of
the config's entries, which `check_named` finds first): `check_structure` wants the same
keys, values of the default's kind and numbers in range; `set_value` parses
`--config.a.b=VALUE` to the type of the value it replaces. Every failure is one
`ConfigError` line naming the key; `rules()` makes one of a broken rule of a component
or of the run (`registry.require`'s OptionError).
"""
from __future__ import annotations

import ast
import contextlib
import math
from typing import Any, Iterable, Iterator

import ml_collections

from jaxdl.registry import OptionError

__all__ = ["ConfigError", "MAX_INT", "MAX_FLOAT", "check_named", "check_structure",
           "split_override", "set_value", "parse", "keys", "rules"]


class ConfigError(ValueError):
    """A config key or value that is not allowed; the message is one line."""


# No config value needs more: seeds are uint32 (jax.random.PRNGKey, np.random.seed) and
# every count fits the int32 step counter; larger ints overflow C longs on the way.
MAX_INT = 2**32 - 1
MAX_FLOAT = 3.4028234663852886e38  # float32's largest: the run computes in float32 (or less)


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


def check_named(config: Any, sections: Iterable[str]) -> None:
    """Each of `sections` is a section of `config` with a str `name` (the entry whose
    options are the rest of the section: the schema depends on it)."""
    if not isinstance(config, ml_collections.ConfigDict):
        raise ConfigError(f"config: expected an ml_collections.ConfigDict, got {type(config).__name__}")
    for section in sections:
        if section not in config:
            raise ConfigError(f"config.{section}: missing")
        if not isinstance(config[section], ml_collections.ConfigDict):
            raise ConfigError(f"config.{section}: expected a section, got {config[section]!r}")
        if "name" not in config[section]:
            raise ConfigError(f"config.{section}.name: missing")
        if not isinstance(config[section].name, str):
            raise ConfigError(f"config.{section}.name: expected str, got {config[section].name!r}")


def check_structure(node: Any, schema: Any, path: str) -> None:
    """`node` has the keys of `schema` (recursively), each of the default's kind."""
    for key in node.keys():
        if key not in schema:
            raise ConfigError(f"{path}.{key}: unknown key; allowed: {keys(schema)}")
    for key in schema.keys():
        if key not in node:
            raise ConfigError(f"{path}.{key}: missing")
        value, expected = node[key], schema[key]
        if isinstance(expected, ml_collections.ConfigDict):
            if not isinstance(value, ml_collections.ConfigDict):
                raise ConfigError(f"{path}.{key}: expected a section, got {value!r}")
            check_structure(value, expected, f"{path}.{key}")
        elif not _same_kind(value, expected):
            raise ConfigError(f"{path}.{key}: expected {type(expected).__name__}, "
                              f"got {type(value).__name__} {value!r}")
        else:
            _check_numbers(value, f"{path}.{key}")


def split_override(override: str) -> tuple[str, str]:
    """`--config.a.b=VALUE` (or `a.b=VALUE`) -> ("a.b", "VALUE")."""
    key, sep, raw = override.removeprefix("--").removeprefix("config.").partition("=")
    if not sep:
        raise ConfigError(f"--config.{key}: expected --config.{key}=VALUE")
    return key, raw


def set_value(config: ml_collections.ConfigDict, key: str, raw: str) -> None:
    """`config.<key> = raw` parsed to the type of the value it replaces (`a.b.c`: nested)."""
    *parents, leaf = key.split(".")
    node = config
    for i, part in enumerate(parents):
        if part not in node or not isinstance(node[part], ml_collections.ConfigDict):
            raise ConfigError(f"config.{'.'.join(parents[:i + 1])}: unknown section; "
                              f"allowed: {keys(node)}")
        node = node[part]
    if leaf not in node:
        raise ConfigError(f"config.{key}: unknown key; allowed: {keys(node)}")
    if isinstance(node[leaf], ml_collections.ConfigDict):
        raise ConfigError(f"config.{key}: is a section, not a value; set its keys "
                          f"(--config.{key}.KEY=VALUE; keys: {keys(node[leaf])})")
    value = parse(raw, type(node[leaf]), key)
    try:
        node[leaf] = value
    except (TypeError, ValueError):  # ConfigDict refuses a value of another type
        raise ConfigError(f"config.{key}: expected {type(node[leaf]).__name__}, "
                          f"got {raw!r}") from None


def parse(raw: str, kind: type, key: str) -> Any:
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


def keys(node: ml_collections.ConfigDict) -> str:
    """The keys of `node`, sorted: the `allowed:` list of an error."""
    return ", ".join(sorted(node.keys()))


@contextlib.contextmanager
def rules(section: str = "", suffix: str = "") -> Iterator[None]:
    """A rule broken inside (`registry.require`: a component's `check`, or the run's) as one
    ConfigError line naming the key: `config.[<section>.]<key>: <rule>, got <value>`."""
    try:
        yield
    except OptionError as e:
        raise ConfigError(f"config.{section + '.' if section else ''}{e}{suffix}") from None
