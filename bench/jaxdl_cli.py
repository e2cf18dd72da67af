"""`jaxdl` as a bench process: it imports the bench run's snapshot of jaxdl (bench/__init__.py).

    python -m bench.jaxdl_cli [--hide-torch] -- train [jaxdl train args]

--hide-torch   make `import torch` fail, as in a venv made from requirements.lock:
               tensorboardX (which jaxdl/training/workdir.py imports) imports torch when it
               is installed, and the bench venv has torch for the PyTorch peer
"""
from __future__ import annotations

import sys


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    own, rest = argv[:split], argv[split + 1:]
    if "--hide-torch" in own:
        sys.modules["torch"] = None  # `import torch` raises ImportError
    from jaxdl import cli
    return cli.main(rest)


if __name__ == "__main__":
    sys.exit(main())
