"""Do two checkouts of jaxdl reach the same verdicts? Runs each study's `--quick` sweep with
each checkout's code and compares the verdict sections of the two reports.

    python -m bench.quick_verdicts OLD_CHECKOUT NEW_CHECKOUT [STUDY ...] [--out DIR]

OLD_CHECKOUT and NEW_CHECKOUT are directories holding a jaxdl source tree (e.g. a
`git worktree add --detach ../old c1cee8d`); STUDY names files of experiments/ (default:
every study). Sweeps go to DIR/<old|new>-<study> (default runs/quick-verdicts) and resume
there. A study's verdict is the "## Verdict" section of its report.md (the whole report
when it has none); lines equal up to the names of config keys (a renamed key, e.g.
`loss.jacobian` -> `objective.jacobian`, is no change of verdict) count as the same.
Prints one line per study: same | DIFFERENT | failed, and exits 1 unless all are the same.
"""
from __future__ import annotations

import argparse
import glob
import os
import re
import subprocess
import sys

KEY = re.compile(r"\b(loss|objective|gradient)\.[a-z_.]+")


def verdict(report: str) -> list[str]:
    """The verdict section's lines with config key names blanked."""
    text = open(report).read()
    match = re.search(r"^## Verdict\n(.*?)(?=^## |\Z)", text, re.S | re.M)
    section = match.group(1) if match else text
    return [KEY.sub("<key>", line) for line in section.strip().splitlines()]


def sweep(checkout: str, study: str, out: str) -> str | None:
    """report.md of `study`'s --quick sweep with `checkout`'s code, or None if it failed."""
    cmd = [sys.executable, "-m", "jaxdl.cli", "sweep", f"experiments/{study}.py", "--quick",
           "--workdir", out, "--no-progress"]
    done = subprocess.run(cmd, cwd=checkout, env={**os.environ, "PYTHONPATH": checkout},
                          capture_output=True, text=True)
    report = os.path.join(out, "report.md")
    return report if done.returncode == 0 and os.path.isfile(report) else None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("old"), p.add_argument("new"), p.add_argument("studies", nargs="*")
    p.add_argument("--out", default="runs/quick-verdicts")
    args = p.parse_args(argv)
    studies = args.studies or sorted(
        os.path.basename(f)[:-3] for f in glob.glob(os.path.join(args.new, "experiments", "*.py"))
        if "\nSWEEP" in open(f).read() or "\nSEARCH" in open(f).read())
    same = True
    for study in studies:
        reports = [sweep(os.path.abspath(c), study, os.path.abspath(f"{args.out}/{side}-{study}"))
                   for side, c in (("old", args.old), ("new", args.new))]
        if None in reports:
            line, same = "failed", False
        elif verdict(reports[0]) == verdict(reports[1]):
            line = "same"
        else:
            line, same = "DIFFERENT", False
        print(f"{study}: {line}", flush=True)
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
