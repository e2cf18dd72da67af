"""Edge of stability as a claim (experiments/edge_of_stability.py): the study's verdict
rule by hand, then the claim itself on the study's --quick variant at the study's own
band — and, once, that the test fails when the effect is removed.

    PYTHONPATH=. python -m pytest -q tests/test_edge_of_stability.py   # 4 passed, 17 s of CPU,
    # 25 s wall on the 2 busy cores of an Intel Xeon; the claim test ~10 s of CPU (was ~27)

`test_claim_sharpness_hovers_at_two_over_eta`: the --quick variant (η = 0.75 and 1.5,
3 seeds, 500 full-batch GD steps on 512 MNIST-1D examples, λ_max every 50 steps) must
be "confirmed" at every η: every seed reaches 2/η and the 95% CI of r (mean λ_max·η/2
after the crossing) lies within the study's BAND = [0.8, 1.2] — the same rule and band
as the full study. Measured when written (`jaxdl sweep ... --quick`, 21 s of CPU with
its report): r = 1.030 ± 0.021 (η = 0.75), 1.069 ± 0.021 (η = 1.5), CIs 0.11 or more
inside the band; the same bits with XLA_FLAGS=--xla_cpu_max_isa=AVX2, and 1.032 ± 0.015,
1.076 ± 0.009 with SSE4_2. Without the effect — η = 0.1, where 2/η = 20 is far above the
sharpness that 500 steps reach (2.3-2.6) — the same code says "refuted" (r = 0.123 ±
0.084): that is the second assertion, so the test cannot pass on a rule that confirms
anything.
"""
import importlib.util
import os

import numpy as np
import pytest

from jaxdl.study import report, run, sweep

PATH = "experiments/edge_of_stability.py"
SPEC = importlib.util.spec_from_file_location("eos", PATH)
eos = importlib.util.module_from_spec(SPEC)
SPEC.loader.exec_module(eos)


def test_crossing_is_counted_from_below():
    steps = np.arange(0, 70, 10)
    rising = eos.edge_statistics(steps, np.array([0.5, 0.7, 0.9, 1.05, 0.95, 1.0, 1.02]))
    assert rising["crossing_step"] == 30 and rising["ratio_at_edge"] == pytest.approx(
        np.mean([1.05, 0.95, 1.0, 1.02]))
    catapult = eos.edge_statistics(steps, np.array([2.0, 1.5, 0.8, 0.9, 1.1, 1.0, 0.98]))
    assert catapult["crossing_step"] == 40  # the return after the fall, not step 0
    never = eos.edge_statistics(steps, np.array([0.3, 0.4, 0.5, 0.55, 0.6, 0.62, 0.64]))
    assert never["crossed"] == 0 and never["ratio_at_edge"] == 0.64  # its last value


def test_verdict_rule_by_hand():
    crossed = np.ones(5)
    inside = np.array([0.98, 1.02, 1.0, 1.01, 0.99])
    assert eos.verdict_of(inside, crossed, 0)[0] == eos.CONFIRMED
    assert eos.verdict_of(inside, crossed, 1)[0] == eos.REFUTED  # a seed diverged
    assert eos.verdict_of(inside, np.array([1, 1, 1, 1, 0]), 0)[0] == eos.NOT_RESOLVED
    assert eos.verdict_of(inside * 0.5, np.zeros(5), 0)[0] == eos.REFUTED  # well below
    assert eos.verdict_of(inside * 1.5, crossed, 0)[0] == eos.REFUTED  # well above
    assert eos.verdict_of(np.array([0.7, 1.1, 0.9, 1.2, 0.8]), crossed, 0)[0] == eos.NOT_RESOLVED


def fake_results(ratios: dict, failed_lrs: tuple = ()) -> report.Results:
    """Results with measure/<name> rows per (η, seed): r from `ratios`, every seed crossed;
    every seed of `failed_lrs` failed (diverged)."""
    import pandas as pd
    names = ("ratio_at_edge", "crossed", "crossing_step", "initial_ratio", "final_ratio",
             "loss_at_crossing", "final_loss", "rises_after_crossing")
    rows = [{"trial": f"{lr}-{seed}", "optimizer.lr": lr, "seed": seed, "status": "done",
             "step": 100, "metric": f"measure/{n}", "value": r if n.endswith("ratio_at_edge")
             else 1.0} for lr, rs in ratios.items() for seed, r in enumerate(rs) for n in names]
    failed = pd.DataFrame([{"trial": f"{lr}-{s}", "optimizer.lr": lr, "seed": s,
                            "error": "loss became NaN/Inf at step 21"} for lr in failed_lrs
                           for s in range(3)], columns=["trial", "optimizer.lr", "seed", "error"])
    return report.Results(pd.DataFrame(rows), ["optimizer.lr"], eos.METRICS, {}, failed)


def test_the_table_has_a_row_per_eta_and_divergence_refutes():
    table = eos.per_lr_table(fake_results({0.75: [0.99, 1.01, 1.0]}, failed_lrs=(2.0,)))
    assert dict(zip(table["η"], table["verdict"])) == {0.75: eos.CONFIRMED, 2.0: eos.REFUTED}
    assert table.set_index("η").loc[2.0, "diverged"] == 3


CONTROL = """
import importlib.util
from jaxdl.study import sweep
spec = importlib.util.spec_from_file_location("eos", {path!r})
eos = importlib.util.module_from_spec(spec)
spec.loader.exec_module(eos)
SWEEP = sweep.axis("optimizer.lr", (0.1,))
SEEDS = (0, 1)
METRICS = eos.METRICS
measure = eos.measure
get_config = eos.get_config
QUICK = {{**eos.QUICK, "sweep": SWEEP, "seeds": SEEDS}}  # the --quick setting at η = 0.1
"""


def verdicts(study: sweep.Study, workdir: str) -> dict[float, str]:
    run.run_study(study, workdir, progress=False)
    _, results, missing = report.load_results([workdir])
    assert not missing
    table = eos.per_lr_table(results)
    return dict(zip(table["η"], table["verdict"]))


def test_claim_sharpness_hovers_at_two_over_eta(tmp_path):
    quick = verdicts(sweep.load_study(PATH, quick=True), str(tmp_path / "quick"))
    assert quick == {lr: eos.CONFIRMED for lr in (0.75, 1.5)}  # Cohen et al.: λ_max ≈ 2/η


@pytest.mark.slow  # ~5 s of CPU more; the default run keeps the claim itself (above)
def test_without_the_effect_the_rule_does_not_confirm(tmp_path):
    """The control of the module docstring: η = 0.1, where 2/η is never reached."""
    path = tmp_path / "control.py"
    path.write_text(CONTROL.format(path=os.path.abspath(PATH)))
    control = verdicts(sweep.load_study(str(path), quick=True), str(tmp_path / "control"))
    assert control == {0.1: eos.REFUTED}  # 2/η = 20 never reached: the rule does not confirm
