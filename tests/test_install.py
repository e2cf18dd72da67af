"""jaxdl installs under its own name: no install command can pull the package index's
unrelated `jaxdl`; the license and citation files match pyproject; the built wheel works in a
fresh virtual environment from another directory (slow)."""
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tomllib

import pytest
import yaml

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PROJECT = tomllib.load(open(os.path.join(REPO, "pyproject.toml"), "rb"))["project"]
PIP_INSTALL = re.compile(r"pip install ([^`\n\"]+)")


def install_commands() -> list[tuple[str, str]]:
    """(file, the arguments of `pip install`) for every install command a user reads:
    README, BUILD, the guides and the docs, and jaxdl's own messages and docstrings."""
    files = [os.path.join(REPO, f) for f in ("README.md", "BUILD.md", "Makefile")]
    for pattern in ("docs/**/*.md", "docs/**/*.py", "jaxdl/**/*.py", "experiments/*.py"):
        files += glob.glob(os.path.join(REPO, pattern), recursive=True)
    return [(os.path.relpath(f, REPO), m.group(1)) for f in files
            for m in PIP_INSTALL.finditer(open(f).read())]


def requirement_names(args: str) -> list[str]:
    """The package names a `pip install ARGS` asks the index for (not paths, files, flags)."""
    try:
        words = shlex.split(args.split("#")[0])
    except ValueError:  # an unbalanced quote: a line cut inside a sentence
        words = args.split()
    names, skip = [], False
    for word in words:
        if skip or word.startswith("-"):
            skip = word in ("-r", "-c", "--target", "--python", "-t")  # their value is a file
            continue
        if word.startswith((".", "/", "$")) or word.endswith((".whl", ".lock", ".txt")):
            continue
        names.append(re.split(r"[\[<>=!~;@ ]", word, maxsplit=1)[0].lower().replace("_", "-"))
    return names


def test_the_distribution_is_not_named_jaxdl():
    assert PROJECT["name"] != "jaxdl"  # the index's `jaxdl` is an unrelated 2021 RL library
    assert PROJECT["scripts"]["jaxdl"] == "jaxdl.cli:main"  # the command keeps its name


def test_no_install_command_can_pull_the_unrelated_package():
    commands = install_commands()
    assert len(commands) >= 5, commands  # the scan finds the commands it is meant to check
    offending = [(f, args) for f, args in commands if "jaxdl" in requirement_names(args)]
    assert not offending, f"pip install of the index's unrelated `jaxdl`: {offending}"


def test_the_scan_catches_the_unrelated_package():
    assert requirement_names("'jaxdl[optuna]'") == ["jaxdl"]
    assert requirement_names("jaxdl==0.0.4 numpy") == ["jaxdl", "numpy"]
    assert requirement_names("-e '.[optuna]'") == []
    assert requirement_names("-r requirements.lock") == []
    assert requirement_names("--no-deps dist/jaxdl_science-0.1.0-py3-none-any.whl") == []


def test_license_and_citation_match_pyproject():
    assert PROJECT["license"] == "Apache-2.0" and PROJECT["license-files"] == ["LICENSE"]
    text = open(os.path.join(REPO, "LICENSE")).read()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text  # the whole license, not a pointer to it
    cff = yaml.safe_load(open(os.path.join(REPO, "CITATION.cff")))
    assert cff["cff-version"] == "1.2.0"
    assert cff["license"] == PROJECT["license"] and str(cff["version"]) == PROJECT["version"]
    assert cff["title"].startswith("jaxdl") and cff["authors"] and cff["message"]


@pytest.mark.slow
def test_the_wheel_works_in_a_fresh_venv_from_another_directory(tmp_path):
    """Build the wheel, install it (no dependencies) into a new venv that sees this venv's
    dependencies through a .pth file (not its editable jaxdl: a .pth on a non-site
    directory is not processed), then run a guide's example from a directory of its own."""
    source, wheels = tmp_path / "source", tmp_path / "wheels"  # setuptools builds in its source
    shutil.copytree(os.path.join(REPO, "jaxdl"), source / "jaxdl",
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(os.path.join(REPO, name), source)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(wheels), str(source)], check=True, timeout=600)
    (wheel,) = glob.glob(str(wheels / "jaxdl_science-*.whl"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = str(venv / "bin" / "python")
    subprocess.run([sys.executable, "-m", "pip", "--python", python, "install", "-q",
                    "--no-deps", wheel], check=True, timeout=600)
    site = subprocess.run([python, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                          capture_output=True, text=True, check=True).stdout.strip()
    with open(os.path.join(site, "deps.pth"), "w") as f:
        f.write(sysconfig.get_path("purelib") + "\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    shutil.copy(os.path.join(REPO, "docs", "guide", "own_model_and_data.py"), elsewhere)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    where = subprocess.run(
        [python, "-c", "import importlib.metadata as m, jaxdl; "
                       "print(jaxdl.__file__); print(m.version('jaxdl-science'))"],
        capture_output=True, text=True, cwd=elsewhere, env=env)
    assert where.returncode == 0, where.stderr[-2000:]
    path, version = where.stdout.split()
    assert path.startswith(site) and version == PROJECT["version"]
    run = subprocess.run([python, "own_model_and_data.py", "--config.steps=50",
                          "--config.eval_every=50"],
                         capture_output=True, text=True, cwd=elsewhere, env=env, timeout=600)
    assert run.returncode == 0, run.stderr[-3000:]
    assert "test accuracy" in run.stdout
    cli = subprocess.run([str(venv / "bin" / "jaxdl"), "train", "--help"], capture_output=True,
                         text=True, cwd=elsewhere, env=env)
    assert cli.returncode == 0 and "--config" in cli.stdout
