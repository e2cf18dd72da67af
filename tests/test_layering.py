"""jaxdl's layering holds by test (issue 15, point 7).

Every module of the package is parsed (never imported) and its imports of other jaxdl
modules become the edges of a graph. Three rules:

- cycle:           no import cycle between jaxdl modules. Imports inside functions count
                   as edges too: a cycle that a late import hides is still a cycle.
- function-local:  no import inside a function, except of an optional heavy dependency
                   (OPTIONAL_HEAVY) or of a command's own stack in an entry point
                   (COMMAND_IMPORTS). A late import hides a cycle or a layering error and
                   makes the cost of importing a module depend on which function ran.
- upward:          a module imports only from its own layer or the layers below (LAYERS);
                   a module in no layer fails too ("no layer").

Each failure names the file, the line and the rule. What the files under rewrite still
break is listed in KNOWN, which only shrinks.
"""
from __future__ import annotations

import ast
import dataclasses
import pathlib
from typing import Iterable, Iterator

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = "jaxdl"

# Bottom to top: a module may import from its own layer and the layers below. A module
# belongs to the longest entry that is its name or a package above it.
LAYERS: tuple[tuple[str, ...], ...] = (
    # One Registry class for every kind of component: it knows none of them, all use it.
    ("jaxdl.registry",),
    ("jaxdl.rng", "jaxdl.losses", "jaxdl.models", "jaxdl.data"),
    ("jaxdl.objectives", "jaxdl.gradients", "jaxdl.optim"),
    # config reads the registries of models and data (and of objectives and gradient
    # methods) for their defaults and checks, and training loads it: between the two.
    # schema (structure checks, typed overrides) and userfile (a --config or study file
    # run) serve it; saved (a run's config as config.json holds it) builds on it.
    # trackers is config's section of the experiment trackers (W&B, MLflow).
    ("jaxdl.config", "jaxdl.schema", "jaxdl.userfile", "jaxdl.saved", "jaxdl.trackers"),
    # pruning trains under masks and runs lottery-ticket rounds of training: a training
    # module that lives at the top of the package.
    ("jaxdl.training", "jaxdl.pruning"),
    ("jaxdl.probes",),
    ("jaxdl.study",),
    ("jaxdl.cli",),
    # jaxdl/__init__.py is the public API (train, make_train, load_run): over everything.
    (PACKAGE,),
)

# Top-level names that a function may import late: the optional extras of pyproject.toml
# (optuna: studies' SEARCH; torch: the benchmarks; wandb and mlflow: the experiment
# trackers' writers, training/writers.py); tensorflow, which jaxdl never
# requires (tfds reads array_record files without it); and mnist1d, which only makes
# arrays not yet in the disk cache: importing it imports matplotlib.pyplot (~1 s), which
# every default run would pay (its whole process takes ~5 s, BENCHMARKS.md).
OPTIONAL_HEAVY = frozenset({"optuna", "torch", "tensorflow", "mnist1d", "wandb", "mlflow"})

# The entry points import the heavy stack of a command when it runs, so that `jaxdl
# train` (and `import jaxdl`) start without it: pandas, scipy and matplotlib cost ~1.3 s
# of a ~5 s whole-process run (measured importing them at the top instead). These
# edges still count for cycles and layers.
COMMAND_IMPORTS: frozenset[tuple[str, str]] = frozenset({
    ("jaxdl/__init__.py", "jaxdl.training.opened"),  # load_run: pandas
    ("jaxdl/cli.py", "jaxdl.training.opened"),  # inspect: pandas
    ("jaxdl/cli.py", "matplotlib.figure"),  # inspect: the curves
    *(("jaxdl/study/cli.py", f"jaxdl.study.{m}")  # sweep, report: pandas, scipy, matplotlib, submitit
      for m in ("launch", "measure", "report", "run", "search", "store")),
})

# The files that the objectives/driver rewrite of issue 15 is replacing now.
REWRITTEN = frozenset({
    "jaxdl/training/step.py", "jaxdl/config.py", "jaxdl/models/ssl.py",
    "jaxdl/training/distill.py", "jaxdl/probes/adversarial.py", "jaxdl/losses.py",
    "jaxdl/training/loop.py", "jaxdl/study/vectorize.py", "jaxdl/pruning.py",
    "jaxdl/training/histograms.py",
})

# (file, imported module, rule) of the violations still in REWRITTEN files. Owned by the
# objectives/driver rewrite; remove when fixed. The test fails when an entry no longer
# occurs, so this list only shrinks.
KNOWN: frozenset[tuple[str, str, str]] = frozenset({
})


@dataclasses.dataclass(frozen=True)
class Import:
    """One import statement's target, as written in `path` at `line`."""
    path: str
    line: int
    module: str  # the dotted name imported (a submodule when `from pkg import submodule`)
    in_function: bool


@dataclasses.dataclass(frozen=True)
class Violation:
    path: str
    line: int
    imported: str
    rule: str  # "cycle", "function-local", "upward" or "no layer"
    why: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}: {self.rule}: imports {self.imported} ({self.why})"

    @property
    def key(self) -> tuple[str, str, str]:
        return self.path, self.imported, self.rule


def module_name(path: str) -> str:
    """'jaxdl/study/cli.py' -> 'jaxdl.study.cli'; a package's __init__.py -> the package."""
    parts = pathlib.PurePosixPath(path).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: str, source: str, modules: set[str]) -> Iterator[Import]:
    """Every import in `source`; `from pkg import name` is an import of `pkg.name` when
    that is one of `modules`, else of `pkg`."""
    own = module_name(path)
    package = own if path.endswith("__init__.py") else own.rpartition(".")[0]
    for node, in_function in _import_nodes(ast.parse(source, path)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield Import(path, node.lineno, alias.name, in_function)
            continue
        base = _absolute(node, package)
        for alias in node.names:
            name = f"{base}.{alias.name}"
            yield Import(path, node.lineno, name if name in modules else base, in_function)


def _import_nodes(tree: ast.AST, in_function: bool = False
                  ) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node, in_function
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.Lambda))
        yield from _import_nodes(node, inner)


def _absolute(node: ast.ImportFrom, package: str) -> str:
    """The absolute module of `from X import ...`, relative ones (`from ..x`) resolved."""
    if not node.level:
        return node.module or ""
    parts = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join(parts + ([node.module] if node.module else []))


def layer_of(module: str, layers: Iterable[tuple[str, ...]] = LAYERS) -> int | None:
    """The index of `module`'s layer (its longest matching entry); None when it has none.
    The package itself matches only its own name, not every module below it."""
    best: tuple[int, int] | None = None
    for index, entries in enumerate(layers):
        for entry in entries:
            below = entry != PACKAGE and module.startswith(entry + ".")
            if (module == entry or below) and (best is None or len(entry) > best[0]):
                best = (len(entry), index)
    return None if best is None else best[1]


def edges(found: Iterable[Import], modules: set[str]) -> Iterator[tuple[str, str, Import]]:
    """(importer, imported, import) between modules of the package. Importing `a.b.c`
    also runs the packages `a.b` and `a` (except the importer's own packages, already
    running), so they are edges too."""
    for imp in found:
        importer = module_name(imp.path)
        name = imp.module
        while name:
            if name in modules and not (importer + ".").startswith(name + "."):
                yield importer, name, imp
            name = name.rpartition(".")[0]


def cycles(graph: dict[str, set[str]]) -> list[set[str]]:
    """The strongly connected components of more than one module, or with a self-import
    (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[set[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for successor in sorted(graph.get(node, ())):
            if successor not in index:
                visit(successor)
                low[node] = min(low[node], low[successor])
            elif successor in stack:
                low[node] = min(low[node], index[successor])
        if low[node] == index[node]:
            component = {stack.pop()}
            while node not in component:
                component.add(stack.pop())
            if len(component) > 1 or node in graph.get(node, ()):
                found.append(component)

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def check(sources: dict[str, str], layers: tuple[tuple[str, ...], ...] = LAYERS) -> list[Violation]:
    """The violations of the three rules in `sources` ({path: Python source})."""
    modules = {module_name(path) for path in sources}
    found = [imp for path, source in sources.items() for imp in imports(path, source, modules)]
    internal = list(edges(found, modules))
    out = [Violation(imp.path, imp.line, imp.module, "function-local",
                     "imports inside a function hide cycles and layering; import at the top")
           for imp in found if imp.in_function and not _may_be_late(imp)]
    out += _upward(internal, layers)
    out += _in_cycles(internal)
    return sorted(out, key=lambda v: (v.path, v.line, v.rule, v.imported))


def _may_be_late(imp: Import) -> bool:
    return (imp.module.partition(".")[0] in OPTIONAL_HEAVY
            or (imp.path, imp.module) in COMMAND_IMPORTS)


def _upward(internal: list[tuple[str, str, Import]], layers: tuple[tuple[str, ...], ...]
            ) -> Iterator[Violation]:
    for importer, imported, imp in internal:
        if imported != imp.module:
            continue  # a package run on the way to its module: in that module's layer
        low, high = layer_of(importer, layers), layer_of(imported, layers)
        if low is None or high is None:
            nameless = importer if low is None else imported
            yield Violation(imp.path, imp.line, imported, "no layer",
                            f"{nameless} is in no layer: add it to LAYERS")
        elif high > low:
            yield Violation(imp.path, imp.line, imported, "upward",
                            f"layer {high} {layers[high]} is above layer {low} {layers[low]}")


def _in_cycles(internal: list[tuple[str, str, Import]]) -> Iterator[Violation]:
    graph: dict[str, set[str]] = {}
    for importer, imported, _ in internal:
        graph.setdefault(importer, set()).add(imported)
    for component in cycles(graph):
        members = " <-> ".join(sorted(component))
        for importer, imported, imp in internal:
            if importer in component and imported in component:
                yield Violation(imp.path, imp.line, imported, "cycle", f"cycle {members}")


def package_sources() -> dict[str, str]:
    """{'jaxdl/...py': source} of every module of the package."""
    return {path.relative_to(ROOT).as_posix(): path.read_text()
            for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


# --- the package ---------------------------------------------------------------------

def test_jaxdl_keeps_its_layering() -> None:
    found = check(package_sources())
    new = [str(v) for v in found if v.key not in KNOWN]
    assert not new, "layering violations:\n" + "\n".join(new)


def test_known_violations_still_occur() -> None:
    """An entry of KNOWN that was fixed must leave the list: it only shrinks."""
    occurring = {v.key for v in check(package_sources())}
    fixed = sorted(KNOWN - occurring)
    assert not fixed, f"fixed, remove from KNOWN in {__file__}: {fixed}"


def test_command_imports_are_still_late() -> None:
    """An entry of COMMAND_IMPORTS whose import moved to the top must leave the list."""
    sources = package_sources()
    modules = {module_name(path) for path in sources}
    late = {(imp.path, imp.module) for path, source in sources.items()
            for imp in imports(path, source, modules) if imp.in_function}
    assert not COMMAND_IMPORTS - late, f"not late any more: {sorted(COMMAND_IMPORTS - late)}"


def test_known_violations_are_only_in_rewritten_files() -> None:
    assert {path for path, _, _ in KNOWN} <= REWRITTEN


def test_every_module_has_a_layer() -> None:
    homeless = [m for m in map(module_name, package_sources()) if layer_of(m) is None]
    assert not homeless, f"modules in no layer of LAYERS: {homeless}"


# --- the checker, on planted violations ------------------------------------------------

def _rules(sources: dict[str, str]) -> set[tuple[str, int, str, str]]:
    return {(v.path, v.line, v.imported, v.rule) for v in check({"jaxdl/__init__.py": "",
                                                                 **sources})}


def test_checker_finds_a_cycle_hidden_by_a_function_local_import() -> None:
    found = _rules({
        "jaxdl/study/__init__.py": "",
        "jaxdl/study/a.py": "import os\nfrom jaxdl.study import b\n",
        "jaxdl/study/b.py": "def f():\n    from jaxdl.study import a\n    return a\n",
    })
    assert found == {
        ("jaxdl/study/a.py", 2, "jaxdl.study.b", "cycle"),
        ("jaxdl/study/b.py", 2, "jaxdl.study.a", "cycle"),
        ("jaxdl/study/b.py", 2, "jaxdl.study.a", "function-local"),
    }


def test_checker_finds_function_local_imports_but_allows_optional_heavy_ones() -> None:
    found = _rules({"jaxdl/rng.py": (
        "def f():\n    import hashlib\n"
        "async def g():\n    import optuna\n    from torch import nn\n"
        "class C:\n    import json\n    def m(self):\n        import scipy.stats\n")})
    assert found == {("jaxdl/rng.py", 2, "hashlib", "function-local"),
                     ("jaxdl/rng.py", 9, "scipy.stats", "function-local")}


def test_checker_allows_a_command_import_only_where_it_is_listed() -> None:
    late = "def main():\n    from jaxdl.study import report\n"
    found = _rules({"jaxdl/study/__init__.py": "", "jaxdl/study/report.py": "",
                    "jaxdl/study/cli.py": late, "jaxdl/study/run.py": late})
    assert found == {("jaxdl/study/run.py", 2, "jaxdl.study.report", "function-local")}


def test_checker_finds_upward_imports_in_every_spelling() -> None:
    found = _rules({
        "jaxdl/cli.py": "",
        "jaxdl/rng.py": "",
        "jaxdl/training/__init__.py": "",
        "jaxdl/training/step.py": "",
        "jaxdl/probes/__init__.py": "from . import knn\n",
        "jaxdl/probes/knn.py": "from ..training import step\nfrom .. import rng\n",
        "jaxdl/models/__init__.py": "import jaxdl.training.step\nfrom jaxdl import cli\n",
        "jaxdl/config.py": "from jaxdl.probes.knn import f\n",
    })
    assert found == {
        ("jaxdl/models/__init__.py", 1, "jaxdl.training.step", "upward"),
        ("jaxdl/models/__init__.py", 2, "jaxdl.cli", "upward"),
        ("jaxdl/config.py", 1, "jaxdl.probes.knn", "upward"),
    }


def test_checker_counts_an_imported_package_as_an_edge() -> None:
    """Importing `jaxdl.data.pipeline` runs jaxdl/data/__init__.py: a cycle through it."""
    found = _rules({
        "jaxdl/data/__init__.py": "from jaxdl.models import layers\n",
        "jaxdl/data/pipeline.py": "",
        "jaxdl/models/__init__.py": "",
        "jaxdl/models/layers.py": "from jaxdl.data import pipeline\n",
    })
    assert {rule for *_, rule in found} == {"cycle"}
    assert ("jaxdl/models/layers.py", 1, "jaxdl.data", "cycle") in {
        (p, line, m, rule) for p, line, m, rule in found}


def test_checker_names_modules_without_a_layer() -> None:
    found = _rules({"jaxdl/extras.py": "", "jaxdl/rng.py": "from jaxdl import extras\n"})
    assert found == {("jaxdl/rng.py", 1, "jaxdl.extras", "no layer")}


@pytest.mark.parametrize("module, layer", [("jaxdl", 8), ("jaxdl.registry", 0),
                                           ("jaxdl.models.ssl", 1), ("jaxdl.config", 3),
                                           ("jaxdl.pruning", 4), ("jaxdl.study.cli", 6),
                                           ("jaxdl.cli", 7), ("jaxdl.other", None)])
def test_layer_of(module: str, layer: int | None) -> None:
    assert layer_of(module) == layer


# --- sizes (issue 15: "config.py keeps loading, overrides and structure checks (target
# under 250 lines)"; "no function over 60 lines in training/") --------------------------

CONFIG_MAX_LINES = 250  # components own their defaults and rules, not config.py
FUNCTION_MAX_LINES = 60


def function_lengths(source: str, path: str) -> Iterator[tuple[str, int, int]]:
    """(name, line of its `def`, lines from the `def` to the last line of its body) of
    every function in `source`, nested ones too; decorators are not counted."""
    def walk(node: ast.AST, prefix: str) -> Iterator[tuple[str, int, int]]:
        for child in ast.iter_child_nodes(node):
            name = prefix
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                name = f"{prefix}{child.name}."
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield name[:-1], child.lineno, child.end_lineno - child.lineno + 1
            yield from walk(child, name)
    yield from walk(ast.parse(source, path), "")


def test_config_py_stays_under_250_lines() -> None:
    lines = len((ROOT / PACKAGE / "config.py").read_text().splitlines())
    assert lines < CONFIG_MAX_LINES, (
        f"jaxdl/config.py has {lines} lines (limit {CONFIG_MAX_LINES}): a component's "
        f"defaults and rules belong beside it (optim.defaults/check, models/ssl.py's "
        f"augment_defaults/check_augment), a saved config's to jaxdl/saved.py")


STEP_MAX_LINES = 200  # issue 15: the step is a function of (objective, gradient, optimizer)


def test_the_train_step_module_stays_under_200_lines() -> None:
    lines = len((ROOT / PACKAGE / "training" / "step.py").read_text().splitlines())
    assert lines < STEP_MAX_LINES, (
        f"jaxdl/training/step.py has {lines} lines (limit {STEP_MAX_LINES}): an objective "
        f"belongs in jaxdl/objectives/, a way of taking gradients in jaxdl/gradients/")


def chunk_loops(source: str) -> list[int]:
    """Lines of the `for`/`while` loops whose body calls a compiled chunk (a callable named
    `*chunk`, e.g. `run.train_chunk`, `group_chunk`): a driver loop. A loop inside a
    function named `*chunk` is that chunk's own execution strategy (K calls of one
    compiled step), not a driver."""
    found = []

    def calls_a_chunk(loop: ast.AST) -> bool:
        for call in ast.walk(loop):
            if isinstance(call, ast.Call):
                f = call.func
                if (f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")).endswith("chunk"):
                    return True
        return False

    def visit(node: ast.AST, in_chunk: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                visit(child, in_chunk or child.name.endswith("chunk"))
            elif isinstance(child, (ast.For, ast.While)) and not in_chunk and calls_a_chunk(child):
                found.append(child.lineno)
            else:
                visit(child, in_chunk)

    visit(ast.parse(source), False)
    return found


def test_one_driver_loop() -> None:
    """The loop over compiled chunks exists once, in training/driver.py: jaxdl.train,
    vectorized groups and pruning rounds pass their chunk to `driver.run`."""
    loops = {path: chunk_loops(source) for path, source in package_sources().items()}
    assert {p for p, lines in loops.items() if lines} == {"jaxdl/training/driver.py"}, loops
    assert chunk_loops("for n in lengths:\n    state, m = run.train_chunk(state, data, n)\n")


def test_no_function_in_training_is_over_60_lines() -> None:
    long = [f"{path}:{line}: {name} has {length} lines"
            for path, source in package_sources().items() if path.startswith("jaxdl/training/")
            for name, line, length in function_lengths(source, path)
            if length > FUNCTION_MAX_LINES]
    assert not long, (f"functions over {FUNCTION_MAX_LINES} lines (def to the end of the "
                      f"body): split them into named steps\n" + "\n".join(long))


def test_function_lengths_count_from_def_to_the_body_without_decorators() -> None:
    source = ("import functools\n\n@functools.cache\n@functools.wraps(print)\n"
              "def f(x):\n    def g():\n        return 1\n\n    return x\n\n\n"
              "class C:\n    async def m(self):\n        pass\n")
    assert list(function_lengths(source, "t.py")) == [("f", 5, 5), ("f.g", 6, 2),
                                                       ("C.m", 13, 2)]


def test_every_module_declares_its_public_names() -> None:
    """`__all__` in every module of the package (issue 15: a public API that a reader can
    find), each name in it bound in the module (defined or imported there)."""
    problems = []
    for path, source in package_sources().items():
        tree = ast.parse(source)
        declared = [n for n in tree.body if isinstance(n, ast.Assign) and
                    any(isinstance(t, ast.Name) and t.id == "__all__" for t in n.targets)]
        if not declared:
            problems.append(f"{path}: no __all__")
            continue
        bound = {a.asname or a.name.split(".")[0] for n in ast.walk(tree)
                 if isinstance(n, (ast.Import, ast.ImportFrom)) for a in n.names}
        for n in tree.body:
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                bound.add(n.name)
            for t in getattr(n, "targets", [getattr(n, "target", None)]):
                if isinstance(t, ast.Name):
                    bound.add(t.id)
        names = ast.literal_eval(declared[0].value)
        problems += [f"{path}: __all__ names {name!r}, which it does not bind"
                     for name in names if name not in bound and not name in _SUBMODULES(path)]
    assert not problems, "\n".join(problems)


def _SUBMODULES(path: str) -> set[str]:
    """A package's `__all__` may name its submodules."""
    if not path.endswith("__init__.py"):
        return set()
    return {p.stem for p in (ROOT / path).parent.glob("*.py")}
