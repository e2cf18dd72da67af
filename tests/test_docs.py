"""The docs a researcher reads (issue 18, point 5): the API reference (`make docs`,
docs/build.py) builds and is refused on a broken reference; the tutorial notebook runs from
top to bottom without writing into the repository; README's first example runs."""
from __future__ import annotations

import importlib.util
import os
import pathlib
import re
import subprocess
import sys
import types

import jax
import nbformat
import pytest
from nbclient import NotebookClient

import jaxdl

REPO = pathlib.Path(__file__).resolve().parents[1]


def _load_build() -> types.ModuleType:
    """docs/build.py, which is a script, not a module of the package."""
    spec = importlib.util.spec_from_file_location("docs_build", REPO / "docs" / "build.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # its dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


build = _load_build()

# ---------------------------------------------------------------- the API reference


def test_the_reference_builds_and_links(tmp_path):
    out = tmp_path / "api"
    assert build.build(out) == 0
    for page in ("index.html", "jaxdl.html", "jaxdl/config.html", "jaxdl/models/cnn.html",
                 "jaxdl/rng.html", "jaxdl/training/opened.html"):
        assert (out / page).is_file(), page
    # A reference the check accepts is a link on the rendered page (jaxdl.make_train's).
    link = '<a href="jaxdl/rng.html#root_key">jaxdl.rng.root_key</a>'
    assert link in (out / "jaxdl.html").read_text()


def test_planted_broken_references_fail_the_build(tmp_path, monkeypatch, capsys):
    def plant(obj, text):
        monkeypatch.setattr(obj, "__doc__", f"{obj.__doc__}\n\n{text}")

    plant(jaxdl.config.load, "See `jaxdl.config.no_such_function` and docs/guide/no_such_page.md.")
    plant(jaxdl.train, "Its options: `jaxdl.training.loop.train`, and see `config.load`.")
    plant(jaxdl.data, "Fields: `jaxdl.data.Dataset.no_such_field`.")  # a module's docstring
    out = tmp_path / "api"
    assert build.build(out) == 1
    assert not out.exists()  # nothing rendered
    lines = capsys.readouterr().err.splitlines()
    expected = [
        r"jaxdl/config\.py:\d+: jaxdl\.config\.load: `jaxdl\.config\.no_such_function` names nothing",
        r"jaxdl/config\.py:\d+: jaxdl\.config\.load: docs/guide/no_such_page\.md does not exist",
        r"jaxdl/__init__\.py:\d+: jaxdl\.train: `jaxdl\.training\.loop\.train` exists but is not in"
        r" the API reference",
        r"jaxdl/__init__\.py:\d+: jaxdl\.train: `config\.load` is `jaxdl\.config\.load`: write it so",
        r"jaxdl/data/__init__\.py:\d+: jaxdl\.data: `jaxdl\.data\.Dataset\.no_such_field` names nothing",
    ]
    for pattern in expected:
        assert any(re.match(pattern, line) for line in lines), (pattern, lines)
    assert lines[-1].startswith(f"docs: {len(expected)} broken reference(s)"), lines


def test_what_counts_as_a_reference():
    """Single backticks only; `jaxdl.` names anywhere in a span; a span that is a dotted name
    through a jaxdl module the docstring's module binds; nothing else."""
    home = types.ModuleType("jaxdl.example")
    home.config, home.jax = jaxdl.config, jax
    text = ("`jaxdl.rng.root_key` and `train(jaxdl.rng.root_key(config.seed))`; "
            "``jaxdl.no_such`` is a literal; `jax.jit`, `state.step` and `metrics.jsonl` are "
            "not jaxdl's; `config.load(None, [])` is, and so is `config.optimizer.lr` here")
    found = [(r.written, r.name, r.via) for r in build.references(text, home)]
    assert found == [
        ("jaxdl.rng.root_key", "jaxdl.rng.root_key", "full"),
        ("jaxdl.rng.root_key", "jaxdl.rng.root_key", "full"),
        ("config.load", "jaxdl.config.load", "module"),
        ("config.optimizer.lr", "jaxdl.config.optimizer.lr", "module"),
    ]


def test_make_docs_runs_the_build_into_an_ignored_directory():
    makefile = (REPO / "Makefile").read_text()
    assert re.search(r"^\.PHONY:.* docs\b", makefile, re.M)
    assert re.search(r"^docs: \$\(STAMP\)\n\t\$\(BIN\)/python docs/build\.py$", makefile, re.M)
    assert "/docs/api/" in (REPO / ".gitignore").read_text().splitlines()
    assert build.OUT == REPO / "docs" / "api"

# ---------------------------------------------------------------- the tutorial notebook


def _snapshot() -> set[str]:
    """The repository's top-level entries and every file under docs/ (but the reference)."""
    files = {f"/{name}" for name in os.listdir(REPO)}
    for root, dirs, names in os.walk(REPO / "docs"):
        dirs[:] = [d for d in dirs if d not in ("__pycache__", "api")]
        files |= {os.path.relpath(os.path.join(root, n), REPO) for n in names}
    return files


def test_the_tutorial_notebook_runs(tmp_path, monkeypatch):
    notebook = nbformat.read(REPO / "docs" / "tutorial.ipynb", as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(not c.outputs and c.execution_count is None for c in code)  # committed clean
    monkeypatch.setenv("TMPDIR", str(tmp_path))  # what the notebook leaves lands here
    before = _snapshot()
    # The kernel starts in docs/, where a reader opens the notebook; the notebook is run
    # in memory and never saved, so the committed file stays as it is.
    NotebookClient(notebook, timeout=600, kernel_name="python3",
                   resources={"metadata": {"path": str(REPO / "docs")}}).execute()
    assert _snapshot() == before, "the notebook wrote into the repository"
    printed = "".join(o.get("text", "") for c in code for o in c.outputs)
    assert "4 of 4 trials done, 0 failed" in printed
    assert "gated MLP: {'loss'" in printed
    assert not list(tmp_path.glob("jaxdl-tutorial-*"))  # its last cell removed its files

# ---------------------------------------------------------------- README


def test_readme_opens_with_purpose_example_commands_then_links():
    text = (REPO / "README.md").read_text()
    example = text.index("```python")
    order = [text.index("science of deep learning"), example, text.index("## Two commands"),
             text.index("docs/guide/README.md"), text.index("`make docs`"),
             text.index("docs/tutorial.ipynb"), text.index("Fast on a laptop")]
    assert order == sorted(order)
    assert text.index("## Two commands") < text.index("BENCHMARKS.md section 1")  # numbers later
    assert "```bash\nmake run" in text[:text.index("## Read next")]


def test_readme_example_runs(tmp_path):
    """README's first Python block as it stands, from an empty directory (its runs/ lands
    there); it trains 1500 steps of the CNN (~10 s on 2 CPU cores)."""
    block = re.search(r"```python\n(.*?)```", (REPO / "README.md").read_text(), re.S).group(1)
    assert len(block.strip().splitlines()) <= 11  # a ~10-line example
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", block], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    accuracy = float(done.stdout.splitlines()[0])
    assert 0.7 < accuracy <= 1.0  # ~0.86 (README)
    assert "test" in done.stdout and (tmp_path / "runs" / "lr3e-3" / "result.json").is_file()
