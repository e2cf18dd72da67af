"""Every study in experiments/ loads, full and --quick: its configs validate, its
quick variant is smaller, and its docstring carries the command that runs it."""
import glob
import os

import pytest

from jaxdl.study import sweep

STUDIES = [p for p in sorted(glob.glob("experiments/*.py"))
           if any(k in open(p).read() for k in ("\nSWEEP", "\nSEARCH"))]


@pytest.mark.parametrize("path", STUDIES, ids=os.path.basename)
def test_study_loads_full_and_quick(path):
    full = sweep.load_study(path)
    quick = sweep.load_study(path, quick=True)
    if full.search is None:
        assert 0 < len(quick.trials) <= len(full.trials)
        assert len(quick.trials) < len(full.trials) or quick.base.steps < full.base.steps
    doc = sweep.load_module(path).__doc__ or ""
    assert f"jaxdl sweep {path}" in doc, "the docstring must give the command"
    assert f"jaxdl sweep {path} --quick" in doc
