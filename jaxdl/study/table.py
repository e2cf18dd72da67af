"""README's study table, generated from the committed reports' status.json files.

    python -m jaxdl.study.table                  # rewrite README.md's table from docs/studies/*/status.json
    python -m jaxdl.study.table --print          # print the table instead

One row per report directory with a status.json (written by `jaxdl report --study` when
the study's analyze() decides a status, jaxdl/study/report.py): the study, linked to its
report.md; each published claim with its published value; ours, per claim; the status.
Claims within a cell are separated by <br>. A quick report's status.json is refused: the
committed reports are full runs. The table sits in README.md between BEGIN and END.
"""
from __future__ import annotations

import argparse
import glob
import os
import sys
from typing import Sequence

import pandas as pd

from jaxdl.study import report

__all__ = ["BEGIN", "END", "COLUMNS", "TableError", "studies_table", "replace_block", "write_readme", "main"]

BEGIN = "<!-- studies:begin -->"  # README's table lies between BEGIN and END
END = "<!-- studies:end -->"
COLUMNS = ("study", "published claim: value", "ours (mean ± 95% CI, outcome)", "status")


class TableError(ValueError):
    """A status.json that the table does not take, or a README without the markers."""


def studies_table(root: str = "docs/studies", base: str = ".") -> str:
    """The markdown table of every `root`/<study>/status.json, in the order of the study
    directories' names; report links are relative to `base` (README's directory)."""
    rows = []
    for path in sorted(glob.glob(os.path.join(root, "*", report.STATUS_FILE))):
        directory = os.path.dirname(path)
        status = report.read_status(directory)
        if status.get("quick"):
            raise TableError(f"{path}: a quick report's status; the table lists full runs "
                             f"(regenerate the report from the full sweep)")
        if status.get("status") not in report.STATUSES:
            raise TableError(f"{path}: status {status.get('status')!r} is not one of "
                             f"{', '.join(report.STATUSES)}")
        link = os.path.relpath(os.path.join(directory, report.REPORT), base)
        rows.append((f"[{os.path.basename(directory)}]({link})",
                     "<br>".join(f"{claim}: {published}" for claim, published, _ in
                                 status["published"]),
                     "<br>".join(ours for _, _, ours in status["published"]),
                     status["status"]))
    return report.markdown(pd.DataFrame(rows, columns=list(COLUMNS)))


def replace_block(text: str, table: str) -> str:
    """`text` with what lies between BEGIN and END replaced by `table`."""
    start, stop = text.find(BEGIN), text.find(END)
    if start < 0 or stop < start:
        raise TableError(f"no {BEGIN} ... {END} block to put the table in")
    return text[:start + len(BEGIN)] + "\n" + table + "\n" + text[stop:]


def write_readme(readme: str = "README.md", root: str = "docs/studies") -> bool:
    """Rewrite `readme`'s table from `root`; True when its text changed."""
    with open(readme) as f:
        text = f.read()
    new = replace_block(text, studies_table(root, os.path.dirname(readme) or "."))
    if new != text:
        with open(readme + ".tmp", "w") as f:
            f.write(new)
        os.replace(readme + ".tmp", readme)
    return new != text


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m jaxdl.study.table", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--root", default="docs/studies", help="the report directories' parent")
    p.add_argument("--readme", default="README.md", help="the file whose block is rewritten")
    p.add_argument("--print", action="store_true", help="print the table, write nothing")
    args = p.parse_args(argv)
    try:
        if args.print:
            print(studies_table(args.root, os.path.dirname(args.readme) or "."))
        else:
            changed = write_readme(args.readme, args.root)
            print(f"{args.readme}: {'table rewritten' if changed else 'table up to date'}")
    except (TableError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
