"""BENCHMARKS.md is rendered from the raw results alone, with the targets judged from them."""
import json

from bench import report, targets


def rates(jaxdl_cnn: float) -> dict:
    torch = {"PyTorch eager (default threads)": [600.0, 610.0], "PyTorch eager (1 thread)": [550.0]}
    return {"cnn": {"jaxdl": [jaxdl_cnn], **torch, "flax per-step loop": [1300.0]},
            "mlp": {"jaxdl": [7000.0], "PyTorch eager (default threads)": [1700.0],
                    "PyTorch eager (1 thread)": [1800.0], "flax per-step loop": [5000.0]}}


CNN_WALLS = {"jaxdl train (warm caches)": [5.0, 5.2, 5.1],
             "jaxdl train (first run: caches off)": [9.0], "PyTorch eager (default threads)": [12.8],
             "PyTorch eager (1 thread)": [13.5], "flax per-step loop": [10.0]}
WALLS = {"cnn": CNN_WALLS, "mlp": {name: [t / 2 for t in v] for name, v in CNN_WALLS.items()}}


def test_targets_are_judged_against_the_faster_pytorch_setting():
    met = targets.verdicts(rates(1840.0), WALLS)  # 1840 / 605 (median of default threads) = 3.04
    assert met[0].startswith("CNN") and "**met** (3.04×)" in met[0]
    assert "**met** (3.89×)" in met[1]  # MLP: the 1-thread setting is the faster one
    assert "**met** for a run with warm caches (0.40×)" in met[2] and "is 0.70×" in met[2]
    slow = {**WALLS, "cnn": {**CNN_WALLS, "jaxdl train (warm caches)": [6.5]}}
    missed = targets.verdicts(rates(1800.0), slow)
    assert "**missed** (2.98×)" in missed[0] and "**missed** for a run with warm caches" in missed[2]


def section(data: dict) -> dict:
    return {"data": data, "command": "python -m bench", "repeats": 5, "quick": False,
            "started": "2026-12-01 15:00", "minutes": 7.0, "load_start": "1.0 1.0 1.0",
            "load_end": "1.1 1.0 1.0", "source": {"commit": "abc1234", "dirty": ""}}


def test_report_renders_the_sections_present_from_the_raw_results(tmp_path):
    results = {"machine": {"cpu": "Test CPU", "cores": 2, "os": "Linux",
                           "versions": {"python": "3.11.7", "jax": "0.10.2"}},
               "sections": {"targets": section({"steps_per_s": rates(1840.0), "wall_s": WALLS,
                                                "steps": 6000}),
                            "checkpoint": section({"checkpoint_every": 1000, "with": [9.2, 9.1],
                                                   "without": [9.0, 9.0], "waits": [0.03, 0.02]})}}
    path = tmp_path / "BENCHMARKS.md"
    report.write(json.loads(json.dumps(results)), str(path))  # as read back from results.json
    text = path.read_text()
    assert "## 1. The MNIST-1D recipes" in text and "## 3. Checkpoint save overhead" in text
    assert "## 2." not in text and "## 5." not in text  # sections not measured are left out
    assert "| CNN | jaxdl | 1,840 | — | 3.04× |" in text
    assert "| MLP | jaxdl train (warm caches) | 2.5 | 2.5–2.6 | 0.40× |" in text
    assert "commit abc1234" in text and "Overhead +1.7% (target ≤ 2%: **met**)" in text


def test_bench_processes_import_the_runs_snapshot_of_jaxdl(tmp_path):
    """A bench run measures its snapshot of jaxdl/, not the tree as edited meanwhile."""
    import os
    import subprocess
    import sys
    fake = tmp_path / "jaxdl"
    fake.mkdir()
    (fake / "__init__.py").write_text("SNAPSHOT = True\n")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    code = "import bench, jaxdl; print(getattr(jaxdl, 'SNAPSHOT', False))"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         env={**os.environ, "JAXDL_BENCH_SNAPSHOT": str(tmp_path)}, check=True)
    assert out.stdout.strip() == "True"
    out = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True,
                         env={k: v for k, v in os.environ.items() if k != "JAXDL_BENCH_SNAPSHOT"},
                         check=True)
    assert out.stdout.strip() == "False"


def test_versus_decides_on_the_median_of_paired_ratios():
    from bench import versus
    # Round 3 is a load spike on "new" alone: one round may not decide the row.
    old, new = [1000.0, 1010.0, 990.0, 1000.0, 1005.0], [980.0, 1000.0, 500.0, 990.0, 1000.0]
    table = versus.markdown({"CNN steps/s": {"old": old, "new": new},
                             "CNN wall s, warm caches": {"old": [5.0, 5.0, 5.0], "new": [5.5, 5.4, 5.0]}})
    rows = {line.split(" | ")[0][2:]: line for line in table.splitlines()[2:]}
    assert rows["CNN steps/s"].endswith("| no loss |")
    assert "| 0.990 |" in rows["CNN steps/s"]  # median of 0.98, 0.99, 0.505, 0.99, 0.995
    assert rows["CNN wall s, warm caches"].endswith("| slower by > 5% |")  # median 1.08
    assert versus.verdict("MLP steps/s", [0.94, 0.94, 0.96]) == "slower by > 5%"
    assert versus.verdict("MLP wall s, warm caches", [1.04, 1.06, 1.05]) == "no loss"


def test_versus_section_renders_from_the_raw_results():
    figures = {"CNN steps/s": {"old": [1000.0, 1000.0], "new": [900.0, 880.0]}}
    results = {"machine": {"cpu": "Test CPU", "cores": 2, "os": "Linux", "versions": {}},
               "sections": {"versus": section({"figures": figures, "old": "commit a", "new": "commit b",
                                               "same_program": {"cnn": False}})}}
    text = report.markdown(results)
    assert "## 7. A change's cost" in text and "| slower by > 5% |" in text
    assert "**a different XLA program**" in text and "Old: `commit a`; new: `commit b`" in text


def test_input_pipeline_section_renders_from_the_raw_results():
    """Section 8 from its raw numbers: per-core rates divide by the workers, and the memory
    line states how far doubling the data moved the peak."""
    rows = [{"kind": "cifar", "path": "stream", "images_per_s": 4000.0, "workers": 2},
            {"kind": "cifar", "path": "device", "images_per_s": 9000.0, "workers": None}]
    memory = [{"placement": "stream", "dataset_mb": 147.0, "budget_mb": 32, "before_mb": 400.0,
               "peak_mb": 900.0, "growth_mb": 500.0, "steps": 300},
              {"placement": "stream", "dataset_mb": 294.0, "budget_mb": 32, "before_mb": 400.0,
               "peak_mb": 910.0, "growth_mb": 510.0, "steps": 300}]
    data = {"machine": "Test CPU, 2 cores", "started": "now", "rows": rows, "memory": memory,
            "resnet": {"wait_fraction": 0.012, "wall_s": 30.0, "steps": 40, "step_s": 0.75}}
    results = {"machine": {"cpu": "Test CPU", "cores": 2, "os": "Linux", "versions": {}},
               "sections": {"input_pipeline": section(data)}}
    text = report.markdown(results)
    assert "## 8. The input pipeline" in text
    assert "| stream | 2 | 4,000 | 2,000 |" in text and "| device | – | 9,000 | – |" in text
    assert "1.20% of 30.0 s waiting for input" in text
    assert "(4.6x the budget)" in text and "moved the peak by +10 MB" in text


def test_suite_compile_log_tells_programs_that_differ_only_in_a_constant():
    """bench.test_suite's count of programs 'if hyperparameters were run-time values': two
    programs that differ only in a compiled-in learning rate are two as they are and one
    with constants blanked; a different shape stays a program of its own."""
    import jax
    import jax.numpy as jnp
    from jax._src import compiler

    from bench import suite_compile_log, test_suite

    original = compiler.compile_or_get_cached  # logged already under --programs
    start = len(suite_compile_log._programs)
    try:
        suite_compile_log._log_programs()
        for lr, n in ((0.1, 3), (0.2, 3), (0.1, 5)):
            jax.jit(lambda w, lr=lr: w - lr * jnp.sin(w))(jnp.ones(n)).block_until_ready()
    finally:
        compiler.compile_or_get_cached = original
    rows = [row for row in suite_compile_log._programs[start:] if row[0] == "jit__lambda"]
    del suite_compile_log._programs[start:]
    assert len(rows) == 3  # (and jnp.ones's own programs, left out)
    counts = test_suite.distinct_programs(rows)
    assert (counts["distinct"], counts["without_constants"]) == (3, 2)
    assert counts["without_constants_s"] < counts["distinct_s"]
