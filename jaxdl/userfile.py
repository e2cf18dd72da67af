"""A user's Python file run as a module (a `--config` file, a study file): errors in one line.

As Python does for a script, the file's directory is importable from it (`import
mymodel` beside it). Anything the file raises becomes one line of the caller's error
type naming the file and line, which the CLI prints without a traceback.
"""
from __future__ import annotations

import importlib.util
import inspect
import os
import sys
import traceback
from typing import Any

import ml_collections

__all__ = ["exec_file", "call_get_config"]


def exec_file(path: str, module_name: str, label: str, error: type[Exception]) -> Any:
    """The module of Python file `path`, executed; any exception it raises becomes one
    line `error(f"{label}: {path}:LINE: ...")` naming where in the file it was raised.
    The file's directory goes on sys.path first, so it imports modules beside it."""
    directory = os.path.dirname(os.path.abspath(path))
    if directory not in sys.path:  # as Python does for a script: `import mymodel` beside it
        sys.path.insert(0, directory)
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    module = importlib.util.module_from_spec(module_spec)
    # In sys.modules while it runs, as an import would put it: a dataclass (a flax model
    # defined in the file) looks its module up there, and fails without it.
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except SyntaxError as e:
        sys.modules.pop(module_name, None)
        raise error(f"{label}: {path}:{e.lineno}: syntax error: {e.msg}") from None
    except Exception as e:  # noqa: BLE001 - any error of user code, reported in one line
        sys.modules.pop(module_name, None)
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
