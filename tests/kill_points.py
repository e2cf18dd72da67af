"""Kill a `jaxdl` command at each point where it creates a file or directory.

    python tests/kill_points.py ROOT LIST_FILE KILL_AT -- train --workdir ROOT ...

runs `jaxdl.cli.main([...])` with a Python audit hook that sees every file and
directory the process creates under ROOT (open for writing, os.open with O_CREAT,
mkdir, mkstemp, rename/replace, copyfile — orbax's and TensorBoard's Python-side
writes included; tensorstore's C++ writes inside a checkpoint step directory are not
seen, but orbax's renames that finalise them are). Each creation is named by its
*point*: the event and its path relative to ROOT, with digits and random
temporary-name parts masked (`os.rename:checkpoints/N.orbax-checkpoint-tmp-N -> ...`).

- LIST_FILE (or '-'): every point seen is appended to it, in order.
- KILL_AT (or '-'): `POINT#K` sends SIGKILL to the process itself just before the K-th
  (1-based) creation at POINT, i.e. with every earlier file in place and this one not.

Tests first list the points of an uninterrupted command, then kill a fresh attempt at
each distinct point and check that re-running the command completes and equals the
uninterrupted run.
"""
from __future__ import annotations

import os
import re
import signal
import sys

WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC


def point(event: str, args: tuple, root: str) -> str | None:
    """The creation point of an audit event under `root`, or None for any other event."""
    if event == "open":
        path, mode, flags = args
        writes = (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            mode is None and isinstance(flags, int) and flags & WRITE_FLAGS)
        paths = [path] if writes else []
    elif event in ("os.mkdir", "tempfile.mkstemp", "tempfile.mkdtemp"):
        paths = [args[0]]
    elif event in ("os.rename", "shutil.copyfile"):
        paths = [args[0], args[1]]
    else:
        return None
    if not paths:
        return None
    names = []
    for p in paths:
        if isinstance(p, int) or p is None:
            return None
        p = os.path.abspath(os.fsdecode(p))
        if not (p + "/").startswith(root + "/"):
            return None
        names.append(mask(os.path.relpath(p, root)))
    return f"{event}:{' -> '.join(names)}"


def mask(relative: str) -> str:
    relative = re.sub(r"\.tmp-[A-Za-z0-9_]+", ".tmp-X", relative)  # mkstemp's random part
    relative = re.sub(r"(tfevents\.\d+)\..*", r"\1.HOST", relative)  # TensorBoard's host name
    relative = re.sub(r"^(trials|groups)/[0-9a-f]+", r"\1/ID", relative)  # a trial's hash
    relative = re.sub(r"\.partial-[0-9a-f]+", ".partial-ID", relative)  # ... in a TensorBoard export
    relative = re.sub(r"\d+", "N", relative)
    return re.sub(r"[a-z0-9]{8}(?=\.(json|jsonl|npz)$)", "X", relative)


def install(root: str, list_file: str | None, kill_at: str | None) -> None:
    root = os.path.abspath(root)
    target, _, nth = (kill_at or "").rpartition("#")
    seen: dict[str, int] = {}
    log = open(list_file, "a", buffering=1) if list_file else None  # opened before the hook

    def hook(event: str, args: tuple) -> None:
        if event not in ("open", "os.mkdir", "tempfile.mkstemp", "tempfile.mkdtemp",
                         "os.rename", "shutil.copyfile"):
            return
        name = point(event, args, root)
        if name is None:
            return
        seen[name] = seen.get(name, 0) + 1
        if log is not None:
            log.write(name + "\n")
        if name == target and seen[name] == int(nth):
            os.kill(os.getpid(), signal.SIGKILL)

    sys.addaudithook(hook)


if __name__ == "__main__":
    root, list_file, kill_at, sep, *argv = sys.argv[1:]
    assert sep == "--", sys.argv
    install(root, None if list_file == "-" else list_file, None if kill_at == "-" else kill_at)
    from jaxdl import cli
    sys.exit(cli.main(argv))
