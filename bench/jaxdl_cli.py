"""`jaxdl train` with bench-local changes: the whole-process timing of a candidate.

    python -m bench.jaxdl_cli [--variant SPEC] [--hide-torch] -- train [jaxdl train args]

--variant      patch jaxdl with `bench.variants` (e.g. epoch_order,host_stack) first
--hide-torch   make `import torch` fail, as in a venv made from requirements.lock:
               tensorboardX (which jaxdl's MetricsLog imports) imports torch when it
               is installed, and the bench venv has torch for the PyTorch peer
"""
from __future__ import annotations

import sys


def main() -> int:
    argv = sys.argv[1:]
    split = argv.index("--") if "--" in argv else len(argv)
    own, rest = argv[:split], argv[split + 1:]
    variant = ""
    if "--variant" in own:
        variant = own[own.index("--variant") + 1]
    if "--hide-torch" in own:
        sys.modules["torch"] = None  # `import torch` raises ImportError
    if variant:
        from bench import variants
        variants.apply(variant)
    from jaxdl import cli
    return cli.main(rest)


if __name__ == "__main__":
    sys.exit(main())
