"""`make docs`: jaxdl's API reference, pdoc's HTML in docs/api/, refused on a broken reference.

    python docs/build.py [OUT]     # OUT defaults to docs/api (ignored by git)
    python docs/build.py --check   # the reference check alone, nothing written

What it documents (`public_modules`): the public API, `jaxdl` and the modules of its
`__all__` (config, data, gradients, models, objectives) with the modules under them (the
built-in models, data sources, objectives and gradient methods, whose options are config
sections), and the modules of what the public functions hand you: jaxdl.rng (the key of
`jaxdl.make_train`), jaxdl.training.pure (`make_train` itself) and jaxdl.training.opened
(what `jaxdl.load_run` returns). pdoc documents each module's members named in its
`__all__`, and the public methods and fields of those classes.

What a reference is. pdoc renders a broken name as plain code and says nothing, so the build
checks the docstrings it renders (each documented module's, and its documented members') first,
and fails with one line per broken reference, naming the docstring. In a docstring:

- Only text in single backticks is read (a Markdown code span, reStructuredText's
  interpreted text: a cross-reference). Double backticks (``config.model.width``) mark a
  literal: the way to write a config path or an expression that is not a reference.
- A dotted name anywhere in such a span that starts with `jaxdl.` is a reference
  (`jaxdl.rng.root_key` in `train(jaxdl.rng.root_key(seed))`).
- A span that is a dotted name (maybe called: `loop.build(config)`) whose first part the
  docstring's own module binds to a jaxdl module or class (`config.load` in jaxdl/__init__.py,
  where `config` is jaxdl.config) is a reference too, read as that module's or class's attribute.
  Inside a longer expression such a name is more likely a variable (`root_key(config.seed)`),
  and any other first part (`jax.jit`, `state.step`, `metrics.jsonl`) is not jaxdl's: neither
  is checked.
- A reference is broken unless the rendered page links it, which takes two things. It names
  an object this reference documents: a documented module, or a member it documents
  (`jaxdl.config.load`, `jaxdl.Hook.every`); a name that exists but is not documented
  (`jaxdl.training.loop.train`) is broken too, as the reader cannot follow it (write it as a
  ``literal``). And it is written as pdoc links names: in full, or as a member of the page's
  own module (`OpenedRun.metrics` on jaxdl.training.opened's page); through a module alias
  (`loop.build`) it is broken even where it resolves, and the message gives the full name.
- A guide named by its path (`docs/guide/own_hook.md`, backticked or not) must exist.
"""
from __future__ import annotations

import argparse
import dataclasses
import importlib
import inspect
import os
import pathlib
import pkgutil
import re
import sys
import types
import warnings
from typing import Iterator

import pdoc
import pdoc.doc
import pdoc.extract
import pdoc.render

REPO = pathlib.Path(__file__).resolve().parents[1]
# The registries of jaxdl's `__all__`: their submodules are the built-in components, whose
# options (a model's fields, a source's keywords) a researcher sets in the config.
REGISTRIES = ("data", "gradients", "models", "objectives")
# What the public functions hand you: `jaxdl.make_train`'s key, itself, `jaxdl.load_run`'s run.
HANDED = ("jaxdl.rng", "jaxdl.training.pure", "jaxdl.training.opened")
OUT = REPO / "docs" / "api"

SPAN = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")  # single backticks, not ``literal``
DOTTED = r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+"
ABSOLUTE = re.compile(rf"(?<![\w.])jaxdl(?:\.[A-Za-z_]\w*)+")
WHOLE = re.compile(rf"({DOTTED})(?:\(.*\))?")  # `loop.build` or `loop.build(config)`
GUIDE_PATH = re.compile(r"(?<![\w/.])docs/[\w/.-]*\w\.(?:md|py|ipynb)")

Documented = dict[str, pdoc.doc.Module]


def public_modules() -> tuple[str, ...]:
    """The modules the reference renders (pdoc adds a package's submodules in its `__all__`)."""
    names = ["jaxdl"]
    for registry in REGISTRIES:
        package = importlib.import_module(f"jaxdl.{registry}")
        names += [m.name for m in pkgutil.iter_modules(package.__path__, f"{package.__name__}.")
                  if not m.name.rpartition(".")[2].startswith("_")]
    return (*names, *HANDED)


def documented(modules: tuple[str, ...]) -> Documented:
    """pdoc's model of the reference: every module it renders, by name."""
    pdoc.doc.Module.from_name.cache_clear()  # pdoc caches docstrings; they may have changed
    return {name: pdoc.doc.Module.from_name(name) for name in pdoc.extract.walk_specs(modules)}


@dataclasses.dataclass(frozen=True)
class Docstring:
    name: str                # the documented object's full name: jaxdl.config.load
    text: str
    home: types.ModuleType   # the module it is written in, whose names relative ones use
    file: pathlib.Path | None
    lines: tuple[int, int]   # the object's source lines, where the docstring is

    def where(self, needle: str) -> str:
        """file:line of the first line of the object's source that holds `needle`."""
        if self.file is None:
            return "?"
        start, end = self.lines
        source = self.file.read_text().splitlines()
        found = next((i + 1 for i in range(max(start - 1, 0), min(end, len(source)))
                      if needle in source[i]), max(start, 1))
        shown = self.file.relative_to(REPO) if self.file.is_relative_to(REPO) else self.file
        return f"{shown}:{found}"


def docstrings(module: pdoc.doc.Module) -> Iterator[Docstring]:
    """What pdoc renders of `module`: its own docstring and its members', into its classes."""
    yield Docstring(module.fullname, module.docstring, module.obj, *_source(module))
    yield from _member_docstrings(module)


def _member_docstrings(namespace: pdoc.doc.Namespace) -> Iterator[Docstring]:
    for member in namespace.members.values():
        if member.name.startswith("_") or (isinstance(namespace, pdoc.doc.Class)
                                           and member.is_inherited):
            continue  # private, or documented where it is defined (often not jaxdl's)
        home = sys.modules.get(member.taken_from[0]) or sys.modules[namespace.modulename]
        yield Docstring(member.fullname, member.docstring, home, *_source(member, namespace))
        if isinstance(member, pdoc.doc.Class):
            yield from _member_docstrings(member)


def _source(doc: pdoc.doc.Doc, parent: pdoc.doc.Doc | None = None
            ) -> tuple[pathlib.Path | None, tuple[int, int]]:
    """A documented object's file and lines (its parent's when pdoc has no source for it:
    a variable's docstring lies in its module or class)."""
    for d in (doc, parent):
        if d is not None and d.source_file:
            return pathlib.Path(d.source_file), d.source_lines or (1, 10**9)
    return None, (1, 1)


@dataclasses.dataclass(frozen=True)
class Reference:
    written: str   # as in the docstring: jaxdl.config.load, loop.build, OpenedRun.metrics
    name: str      # in full: jaxdl.config.load, jaxdl.training.loop.build, ...
    via: str       # "full", "module" (alias) or "class" (the first part is a class)


def references(text: str, home: types.ModuleType) -> Iterator[Reference]:
    """The references in a docstring written in module `home` (the rules above)."""
    for span in SPAN.findall(text):
        for name in ABSOLUTE.findall(span):
            yield Reference(name, name, "full")
        whole = WHOLE.fullmatch(span.strip())
        if whole and not whole.group(1).startswith("jaxdl."):
            head, _, rest = whole.group(1).partition(".")
            bound = vars(home).get(head)
            if (target := _jaxdl_name(bound)) is not None:
                via = "module" if isinstance(bound, types.ModuleType) else "class"
                yield Reference(whole.group(1), f"{target}.{rest}", via)


def _jaxdl_name(obj: object) -> str | None:
    """The full name of a jaxdl module or class, else None (not jaxdl's, or a value)."""
    if isinstance(obj, types.ModuleType):
        name = obj.__name__
    elif inspect.isclass(obj):
        name = f"{obj.__module__}.{obj.__qualname__}"
    else:
        return None
    return name if name.split(".")[0] == "jaxdl" else None


def why_broken(ref: Reference, page: pdoc.doc.Module, modules: Documented) -> str | None:
    """Why the page cannot link `ref`, or None if it can."""
    if why := problem(ref.name, modules):
        return why
    if ref.via == "module" or (ref.via == "class" and page.get(ref.written) is None):
        return f"is `{ref.name}`: write it so, pdoc links no alias"
    return None


def problem(name: str, modules: Documented) -> str | None:
    """Why the absolute `name` is not something the reference documents, or None if it is."""
    if name in modules:
        return None
    parts = name.split(".")
    for cut in range(len(parts) - 1, 0, -1):  # the longest documented module first
        module = ".".join(parts[:cut])
        if module in modules:
            if modules[module].get(".".join(parts[cut:])) is not None:
                return None
            break
    try:
        _import_attribute(name)
    except (ImportError, AttributeError):
        return "names nothing"
    return ("exists but is not in the API reference (not a documented module, or not in "
            "its module's `__all__`)")


def _import_attribute(name: str) -> object:
    """The object `name` names, importing its longest importable module prefix."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj = __import__(".".join(parts[:cut]), fromlist=["_"])
        except ImportError:
            continue
        for part in parts[cut:]:
            obj = getattr(obj, part)
        return obj
    raise ImportError(name)


def _shown(ref: Reference, why: str) -> str:
    """`loop.buidl` (`jaxdl.training.loop.buidl`) names nothing: the full name where it helps."""
    full = ref.written != ref.name and not why.startswith("is ")  # else the reason gives it
    return f"`{ref.written}`{f' (`{ref.name}`)' if full else ''} {why}"


def broken(modules: Documented) -> list[str]:
    """One line per broken reference in the docstrings the reference renders."""
    lines = []
    for module in modules.values():
        for doc in docstrings(module):
            for ref in references(doc.text, doc.home):
                if why := why_broken(ref, module, modules):
                    lines.append(f"{doc.where(f'`{ref.written}')}: {doc.name}: {_shown(ref, why)}")
            for path in GUIDE_PATH.findall(doc.text):
                if not (REPO / path).exists():
                    lines.append(f"{doc.where(path)}: {doc.name}: {path} does not exist")
    return list(dict.fromkeys(lines))  # a docstring pdoc shows twice is reported once


def build(out: pathlib.Path | None, modules: tuple[str, ...] | None = None) -> int:
    """Check the references, then render into `out` (None: check only). Exit status."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # third-party imports' noise
        # pdoc shows an annotation it cannot evaluate as written: nothing to act on.
        warnings.filterwarnings("ignore", "Error parsing type annotation", UserWarning)
        modules = modules or public_modules()
        model = documented(modules)
        if lines := broken(model):
            print(*lines, sep="\n", file=sys.stderr)
            print(f"docs: {len(lines)} broken reference(s) (rules: docs/build.py)",
                  file=sys.stderr)
            return 1
        if out is not None:
            pdoc.render.configure(docformat="restructuredtext", search=True, show_source=True)
            pdoc.pdoc(*modules, output_directory=out)
            print(f"docs: {len(model)} modules, no broken reference; open {out / 'index.html'}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", nargs="?", type=pathlib.Path, default=OUT)
    parser.add_argument("--check", action="store_true", help="check references, write nothing")
    args = parser.parse_args(argv)
    os.environ.setdefault("JAX_PLATFORMS", "cpu")  # importing jaxdl needs no accelerator
    sys.path.insert(0, str(REPO))  # this checkout's jaxdl, not a copy installed elsewhere
    return build(None if args.check else args.out)


if __name__ == "__main__":
    sys.exit(main())
