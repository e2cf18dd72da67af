"""Benchmarks of jaxdl against its peers (`python -m bench`); see bench/__main__.py.

Every process of a bench run imports this package first (`python -m bench.worker`,
`python -m bench.jaxdl_cli`, ...), so that the run's snapshot of jaxdl/ (set by
`python -m bench` in $JAXDL_BENCH_SNAPSHOT) shadows the working tree's: the whole run
measures one version even while the tree is edited.
"""
import os as _os
import sys as _sys

_snapshot = _os.environ.get("JAXDL_BENCH_SNAPSHOT")
if _snapshot and _snapshot not in _sys.path:
    _sys.path.insert(0, _snapshot)
