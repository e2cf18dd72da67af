"""One `Registry` class for every kind of component (models, data sources, ...).

A registry maps names to objects. Built-ins are listed by import path and imported
on first use, so `import jaxdl` stays light; user code adds its own with

    @jaxdl.models.register("rescnn")
    class ResCNN(nn.Module): ...

For a component that is not built in the registry records where it came from
(`module:qualname`) and a sha256 digest of its source file, so that a run that used
it describes itself and can import it again when reopened.
"""
from __future__ import annotations

import hashlib
import importlib
import inspect
import os
import sys
from typing import Any, Iterator

__all__ = ["Registry", "ComponentImportError", "OptionError", "require", "origin_of",
           "signature_options", "rule_of"]


class ComponentImportError(ImportError):
    """A recorded component's module cannot be imported, or does not register it."""


class OptionError(ValueError):
    """A component's option that is not allowed: `key` names it; the message is one line."""

    def __init__(self, key: str, rule: str, value: Any):
        super().__init__(f"{key}: {rule}, got {value!r}")
        self.key = key


def require(ok: bool, key: str, rule: str, value: Any) -> None:
    """OptionError(key, rule, value) unless `ok`: how a component's `check` states a rule."""
    if not ok:
        raise OptionError(key, rule, value)


def signature_options(fn: Any, skip: int = 0) -> dict[str, Any]:
    """{name: default} of `fn`'s parameters after the first `skip` (a data source's
    `load(**options)`, an objective's `make(setup, **options)`): the signature is the one
    place where a function component's options and defaults live."""
    params = list(inspect.signature(fn).parameters.values())[skip:]
    missing = [p.name for p in params if p.default is inspect.Parameter.empty
               and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
    if missing:
        raise TypeError(f"{_path(fn)}: options need defaults (they are the config section's "
                        f"values); {', '.join(missing)} has none")
    return {p.name: p.default for p in params if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}


def rule_of(obj: Any) -> Any:
    """A component's `check(options, ...)`: its own attribute (a class's static method, a
    function's `.check`), else a `check` function of its module (one component per file,
    as the built-ins); None when it declares none."""
    own = getattr(obj, "check", None)
    if callable(own):
        return own
    rule = getattr(sys.modules.get(getattr(obj, "__module__", "")), "check", None)
    return rule if callable(rule) and rule is not obj else None


class Registry:
    """Names -> components of one `kind` ("model", "data source"): built-ins by import
    path (`"jaxdl.models.mlp:MLP"`, imported on first use), user ones by `register`."""

    def __init__(self, kind: str, builtins: dict[str, str]):
        self.kind = kind
        self._paths = dict(builtins)  # built-in name -> "module:qualname"
        self._loaded: dict[str, Any] = {}  # name -> object (built-ins once imported)

    def register(self, name: str, obj: Any = None, *, replace: bool = False) -> Any:
        """Add `obj` as `name`: `@registry.register("x")` or `registry.register("x", obj)`.
        Registering a name again with another object is an error unless `replace=True`
        (the same object again is a no-op: a module imported twice, a notebook cell re-run
        with the same class)."""
        if obj is None:
            return lambda o: self.register(name, o, replace=replace)
        if not isinstance(name, str) or not name:
            raise ValueError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if name in self and not replace and not self._same(self.get(name), obj):
            raise ValueError(f"{self.kind} {name!r} is already registered "
                             f"({_path(self.get(name))}); pass replace=True to replace it")
        self._paths.pop(name, None)
        self._loaded[name] = obj
        return obj

    def get(self, name: str) -> Any:
        """The component registered as `name`; KeyError (one line listing the names)."""
        if name in self._loaded:
            return self._loaded[name]
        if name not in self._paths:
            raise KeyError(f"unknown {self.kind} {name!r}; choose one of {', '.join(self)}")
        module, _, qualname = self._paths[name].partition(":")
        obj = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
        self._loaded[name] = obj
        return obj

    def builtins(self) -> tuple[str, ...]:
        """The names that jaxdl itself provides."""
        return tuple(n for n in self if self.is_builtin(n))

    def is_builtin(self, name: str) -> bool:
        return name in self._paths  # register() takes a replaced built-in out of it

    def origin(self, name: str) -> dict[str, str] | None:
        """{"path": "module:qualname", "digest": sha256 of its source file} of a component
        that is not built in (None for a built-in: jaxdl's version describes it)."""
        return None if self.is_builtin(name) else origin_of(self.get(name))

    def import_recorded(self, name: str, path: str) -> None:
        """Import `path`'s module so that it registers `name` (a run reopened in a fresh
        process); nothing when `name` is registered already."""
        if name in self:
            return
        module = path.partition(":")[0]
        try:
            _import_here_too(module)
        except Exception as e:  # noqa: BLE001 - any failure of user code, in one line
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ComponentImportError(f"{name!r} was registered by {path}, which cannot be "
                                       f"imported ({reason})") from None
        if name not in self:
            raise ComponentImportError(f"{name!r} was registered by {path}, and importing "
                                       f"{module} no longer registers it")

    def _same(self, old: Any, new: Any) -> bool:
        # The same object, or the same definition re-executed (a module imported under two
        # names, a config file loaded twice): same path and same source.
        return old is new or (_path(old) == _path(new) and _source(old) == _source(new))

    def __contains__(self, name: object) -> bool:
        return name in self._paths or name in self._loaded

    def __iter__(self) -> Iterator[str]:
        return iter(list(self._paths) + [n for n in self._loaded if n not in self._paths])

    def __len__(self) -> int:
        return len(set(self._paths) | set(self._loaded))

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}: {', '.join(self)})"


def _import_here_too(module: str) -> None:
    """Import `module`; when it is not found, once more with the current directory on
    sys.path — as `python -m` and `python script.py` would find it, which the `jaxdl`
    console script (its sys.path starts at its own bin/) does not."""
    try:
        importlib.import_module(module)
    except ModuleNotFoundError as e:
        here = os.getcwd()
        if e.name != module.split(".")[0] or here in sys.path or "" in sys.path:
            raise
        sys.path.append(here)  # last: never shadows an installed package
        importlib.import_module(module)


def origin_of(obj: Any) -> dict[str, str]:
    """{"path": "module:qualname", "digest": "sha256:..." of its source file ("" when it has
    none, e.g. defined at a prompt)}."""
    try:
        source = inspect.getsourcefile(obj)
        with open(source, "rb") as f:
            digest = "sha256:" + hashlib.sha256(f.read()).hexdigest()
    except (TypeError, OSError):
        digest = ""
    return {"path": _path(obj), "digest": digest}


def _path(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}:{getattr(obj, '__qualname__', repr(obj))}"


def _source(obj: Any) -> str | None:
    try:
        return inspect.getsource(obj)
    except (TypeError, OSError):
        return None

