"""Run one measurement in this (fresh) process and print it as `BENCH {json}`.

    python -m bench.worker '{"fn": "bench.execution:measure", "kwargs": {"recipe": "cnn"}}'
"""
from __future__ import annotations

import importlib
import json
import sys


def main() -> None:
    task = json.loads(sys.argv[1])
    module, _, name = task["fn"].partition(":")
    result = getattr(importlib.import_module(module), name)(**task.get("kwargs", {}))
    print("BENCH " + json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
