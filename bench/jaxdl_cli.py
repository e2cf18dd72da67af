"""`jaxdl` as a bench process: it imports the bench run's snapshot of jaxdl (bench/__init__.py).

    python -m bench.jaxdl_cli [--hide-torch] -- train [jaxdl train args]

--hide-torch   make `import torch` fail, as in a venv made from requirements.lock (the
               bench venv has torch for the PyTorch peer). It mattered while jaxdl wrote
               TensorBoard files with tensorboardX, which imports torch when it is
               installed; jaxdl now writes them with tensorboard's own writer and imports
               no torch, so the flag is kept for comparisons with older commits only
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
