"""Shared pieces of the harness: the machine, subprocesses, medians, tables."""
from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from typing import Any, Sequence

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PYTHON = sys.executable


def load_average() -> str:
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "n/a"


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def versions() -> dict[str, str]:
    from importlib import metadata
    out = {"python": platform.python_version()}
    for name in ("jax", "jaxlib", "flax", "optax", "numpy", "torch", "mnist1d"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def machine() -> dict[str, Any]:
    return {"cpu": cpu_model(), "cores": os.cpu_count(), "os": platform.platform(),
            "versions": versions(), "load_average_start": load_average()}


def source_version() -> dict[str, str]:
    """The commit measured, and whether jaxdl/ or bench/ had uncommitted changes."""
    def git(*args):
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True,
                                  timeout=30).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            return "n/a"
    return {"commit": git("rev-parse", "--short", "HEAD"),
            "dirty": git("status", "--porcelain", "--", "jaxdl", "bench")}


def save_section(path: str, name: str, section: dict) -> None:
    """Into `python -m bench`'s raw results (runs/bench/results.json) as section `name`,
    atomically, for `python -m bench --report-only`; the machine is recorded as that file's
    other sections' (another machine's results are replaced)."""
    results = json.load(open(path)) if os.path.exists(path) else {}
    here = machine()
    if results.get("machine", {}).get("cpu") not in (None, here["cpu"]):
        results = {}
    results.setdefault("sections", {})[name] = section
    results.setdefault("format", 2)
    results["machine"] = results.get("machine") or here
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(results, f, indent=1)
    os.replace(path + ".tmp", path)


def env_with(extra: dict[str, str] | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # whatever PYTHONPATH the caller set first, then this repository
    env["PYTHONPATH"] = (env["PYTHONPATH"] + os.pathsep if env.get("PYTHONPATH") else "") + ROOT
    env.setdefault("JAXDL_COMPILATION_CACHE", "")  # workers: no persistent compilation cache
    env.update(extra or {})
    return env


def run_worker(fn: str, kwargs: dict, env: dict[str, str] | None = None,
               timeout: float = 3600, cwd: str = ROOT) -> Any:
    """Run `fn(**kwargs)` in a fresh Python process; return what it returned (JSON).
    `cwd`: the checkout whose bench/ and jaxdl/ the process imports (`-m` puts it first)."""
    task = json.dumps({"fn": fn, "kwargs": kwargs})
    proc = subprocess.run([PYTHON, "-m", "bench.worker", task], cwd=cwd, env=env_with(env),
                          capture_output=True, text=True, timeout=timeout)
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith("BENCH "):
            return json.loads(line[6:])
    raise RuntimeError(f"worker {fn}({kwargs}) failed (rc {proc.returncode}):\n"
                       f"{proc.stderr[-3000:]}")


def time_process(argv: Sequence[str], env: dict[str, str] | None = None,
                 marker: str = "test accuracy", timeout: float = 1800,
                 cwd: str = ROOT) -> dict[str, Any]:
    """Wall seconds from process start to the first stdout line containing `marker`."""
    import tempfile
    with tempfile.TemporaryFile("w+") as err:  # a file, not a pipe: a chatty stderr cannot block
        t0 = time.perf_counter()
        proc = subprocess.Popen(list(argv), cwd=cwd, env=env_with(env), stdout=subprocess.PIPE,
                                stderr=err, text=True)
        wall, line_seen = None, ""
        for line in proc.stdout:
            if wall is None and marker in line:
                wall, line_seen = time.perf_counter() - t0, line.strip()
        proc.wait(timeout=timeout)
        if wall is None or proc.returncode != 0:
            err.seek(0)
            raise RuntimeError(f"{' '.join(argv)} failed (rc {proc.returncode}):\n{err.read()[-3000:]}")
    return {"wall_s": wall, "line": line_seen.split("; results in")[0]}


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def spread(values: Sequence[float]) -> str:
    """'min–max' of the repeats, to show the noise next to a median."""
    if len(values) < 2:
        return "—"
    digits = 1 if max(values) < 100 else 0
    return f"{min(values):,.{digits}f}–{max(values):,.{digits}f}"


def table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)
