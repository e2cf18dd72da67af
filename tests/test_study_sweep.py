"""Sweep axes, trials, shards, study files and vectorized groups: no training here."""
import math

import pandas as pd
import pytest

from jaxdl import config as config_lib
from jaxdl.study import report, sweep, vectorize

STUDY = """
from jaxdl import config as config_lib
from jaxdl.study import sweep
SWEEP = sweep.grid({{"optimizer.lr": [1e-3, 1e-2], "optimizer.weight_decay": [0.0, 1e-4]}})
SEEDS = range(3)
METRICS = {metrics}
def get_config(name=None):
    return config_lib.default()
"""


def test_grid_is_the_product_in_declaration_order():
    points = sweep.grid({"optimizer.lr": [1, 2], "model.width": [8, 16, 32]})
    assert len(points) == 6
    assert points[0] == {"optimizer.lr": 1, "model.width": 8}
    assert points[1] == {"optimizer.lr": 1, "model.width": 16}  # the first key varies slowest
    assert points[-1] == {"optimizer.lr": 2, "model.width": 32}


def test_zipped_pairs_points_and_refuses_unequal_lengths():
    a, b = sweep.axis("model.width", [8, 16]), sweep.axis("optimizer.lr", [0.1, 0.2])
    assert sweep.zipped(a, b) == [{"model.width": 8, "optimizer.lr": 0.1},
                                  {"model.width": 16, "optimizer.lr": 0.2}]
    with pytest.raises(sweep.StudyError, match="different lengths"):
        sweep.zipped(a, sweep.axis("optimizer.lr", [0.1]))
    with pytest.raises(sweep.StudyError, match="model.width: set by two"):
        sweep.product(a, sweep.axis("model.width", [1]))
    assert len(sweep.concat(a, b)) == 4


def test_random_search_is_deterministic_in_its_seed_and_follows_its_distributions():
    space = {"optimizer.lr": sweep.log_uniform(1e-4, 1e-1),
             "model.width": sweep.choice([8, 16]),
             "model.depth": sweep.int_uniform(1, 3),
             "optimizer.b1": sweep.uniform(0.8, 0.95)}
    points = sweep.random(400, seed=7, space=space)
    assert points == sweep.random(400, seed=7, space=space)
    assert points != sweep.random(400, seed=8, space=space)
    lrs = [p["optimizer.lr"] for p in points]
    assert all(1e-4 <= lr <= 1e-1 for lr in lrs)
    # log-uniform: half the mass below the geometric mean of the bounds
    below = sum(lr < math.sqrt(1e-4 * 1e-1) for lr in lrs) / len(lrs)
    assert 0.4 < below < 0.6
    assert {p["model.width"] for p in points} == {8, 16}
    assert {p["model.depth"] for p in points} == {1, 2, 3}
    assert all(0.8 <= p["optimizer.b1"] <= 0.95 for p in points)
    with pytest.raises(sweep.StudyError, match="needs 0 < low < high"):
        sweep.log_uniform(0.0, 1.0)


def test_short_names_keep_keys_that_share_a_last_part_apart():
    """Labels and table headers: 'model.name | objective.name', never 'name | name'."""
    keys = ["model.name", "objective.name", "optimizer.lr", "seed"]
    assert sweep.short_names(keys) == ["model.name", "objective.name", "lr", "seed"]
    assert sweep.short_names(["a.b.c", "x.b.c", "c"]) == ["a.b.c", "x.b.c", "c"]
    point = {"model.name": "mlp", "objective.name": "simclr"}
    trial = sweep.Trial(id="t", point=point, seed=0, config=config_lib.default())
    assert trial.label == "model.name=mlp objective.name=simclr seed=0"
    header = report.markdown(pd.DataFrame({"model.name": ["mlp"], "augment.name": ["crop"],
                                           "optimizer.lr": [0.1]})).splitlines()[0]
    assert header == "| model.name | augment.name | lr |"


def test_trial_ids_are_deterministic_and_distinct():
    base = config_lib.default()
    points = sweep.grid({"optimizer.lr": [1e-3, 1e-2], "optimizer.weight_decay": [0.0, 1e-4]})
    trials = sweep.make_trials(base, points, range(3))
    again = sweep.make_trials(base, list(reversed(points)), range(3))
    assert len({t.id for t in trials}) == 12
    assert {t.id for t in trials} == {t.id for t in again}
    assert sweep.trial_id({"a": 1, "b": 2}, 0) == sweep.trial_id({"b": 2, "a": 1}, 0)
    t = trials[4]  # lr 1e-3, wd 1e-4, seed 1
    assert (t.config.optimizer.lr, t.config.optimizer.weight_decay, t.config.seed) == (1e-3, 1e-4, 1)
    assert t.label == "lr=0.001 weight_decay=0.0001 seed=1"


def test_bad_axis_values_fail_before_any_compute_naming_trial_and_key():
    base = config_lib.default()
    with pytest.raises(config_lib.ConfigError, match=r"seed=0: config.optimizer.lr: must be"):
        sweep.make_trials(base, sweep.axis("optimizer.lr", [1e-3, -1.0]), [0])
    with pytest.raises(config_lib.ConfigError, match="config.optimizer.lrr: unknown key"):
        sweep.make_trials(base, sweep.axis("optimizer.lrr", [1e-3]), [0])
    with pytest.raises(sweep.StudyError, match="seeds are set by SEEDS"):
        sweep.make_trials(base, sweep.axis("seed", [1]), [0])


@pytest.mark.parametrize("count", [1, 2, 3, 5, 7])
def test_shards_are_disjoint_and_cover_the_sweep(count):
    trials = sweep.make_trials(config_lib.default(),
                               sweep.axis("optimizer.lr", [1e-3, 2e-3, 5e-3]), range(4))
    shards = [sweep.shard(trials, f"{i}/{count}") for i in range(count)]
    ids = [t.id for s in shards for t in s]
    assert sorted(ids) == sorted(t.id for t in trials) and len(ids) == len(set(ids))
    assert max(map(len, shards)) - min(map(len, shards)) <= 1
    assert shards == [sweep.shard(trials, f"{i}/{count}") for i in range(count)]


@pytest.mark.parametrize("spec", ["2/2", "1", "a/b", "-1/3"])
def test_bad_shard_spec_is_one_line(spec):
    with pytest.raises(sweep.StudyError, match=r"--shard"):
        sweep.parse_shard(spec)


def test_study_file_loads_and_bad_files_fail_in_one_line(tmp_path):
    path = tmp_path / "s.py"
    path.write_text(STUDY.format(metrics='("test/accuracy",)'))
    study = sweep.load_study(str(path))
    assert len(study.trials) == 12 and study.axes == ("optimizer.lr", "optimizer.weight_decay")
    assert study.name == "s" and study.metrics == ("test/accuracy",)
    path.write_text(STUDY.format(metrics='("test/acc",)'))
    with pytest.raises(sweep.StudyError, match="METRICS entry 'test/acc'"):
        sweep.load_study(str(path))
    path.write_text("SEEDS = [0]\n")
    with pytest.raises(sweep.StudyError, match="defines no get_config"):
        sweep.load_study(str(path))
    with pytest.raises(sweep.StudyError, match="no such file"):
        sweep.load_study(str(tmp_path / "missing.py"))


def test_quickstart_study_loads_with_and_without_quick():
    full = sweep.load_study("experiments/quickstart_sweep.py")
    quick = sweep.load_study("experiments/quickstart_sweep.py", quick=True)
    assert len(full.trials) == 30 and len(quick.trials) == 12
    assert quick.base.steps < full.base.steps
    assert full.fingerprint() != quick.fingerprint()


def test_config_overrides_make_a_variant_like_quick():
    path = "experiments/quickstart_sweep.py"
    full = sweep.load_study(path)
    short = sweep.load_study(path, config_overrides=["--config.steps=100",
                                                     "--config.model.channels=(8, 8, 8)"])
    assert short.base.steps == 100 and all(t.config.steps == 100 for t in short.trials)
    assert short.overrides == {"steps": 100, "model.channels": (8, 8, 8)}
    assert [t.id for t in short.trials] == [t.id for t in full.trials]  # same points and seeds
    assert full.overrides == {} and short.fingerprint() != full.fingerprint()
    # an override that repeats the base's value is still a variant of its own
    same = sweep.load_study(path, config_overrides=[f"--config.steps={full.base.steps}"])
    assert same.base.to_dict() == full.base.to_dict() and same.fingerprint() != full.fingerprint()
    both = sweep.load_study(path, quick=True, config_overrides=["--config.steps=50"])
    assert both.base.steps == 50 and len(both.trials) == 12  # after QUICK's own overrides
    assert sweep.default_workdir(path, False, full.overrides) == "runs/quickstart_sweep"
    assert sweep.default_workdir(path, True, {"steps": 50}) == "runs/quickstart_sweep-quick-steps=50"
    assert sweep.default_workdir(path, False, {"steps": 100, "optimizer.b1": 0.8}) == \
        "runs/quickstart_sweep-optimizer.b1=0.8,steps=100"  # keys sorted: flag order is not a name
    odd = sweep.default_workdir(path, False, {"model.channels": (8, 8, 8)})
    assert odd.startswith("runs/quickstart_sweep-config-") and len(odd) == 41  # a hash: no spaces


@pytest.mark.parametrize("override, message", [
    ("--config.optimizer.lr=0.1", "--config.optimizer.lr: an axis of the study"),
    ("--config.seed=3", "--config.seed: a sweep's seeds come from its SEEDS"),
    ("--config.steps=-1", "config.steps: must be in"),
    ("--config.nope=1", "config.nope: unknown key")])
def test_an_override_the_trials_would_undo_or_a_bad_one_is_refused(override, message):
    with pytest.raises((sweep.StudyError, config_lib.ConfigError), match=message):
        sweep.load_study("experiments/quickstart_sweep.py", config_overrides=[override])


def test_an_override_inside_a_section_whose_name_is_an_axis_is_refused(tmp_path):
    path = tmp_path / "s.py"
    path.write_text("from jaxdl import config as config_lib\nfrom jaxdl.study import sweep\n"
                    "SWEEP = sweep.axis('model.name', ['mlp', 'cnn1d'])\nSEEDS = [0]\n"
                    "METRICS = ('test/accuracy',)\n"
                    "def get_config(name=None):\n    return config_lib.default()\n")
    with pytest.raises(sweep.StudyError, match="model.name is an axis of the study"):
        sweep.load_study(str(path), config_overrides=["--config.model.dropout=0.1"])
    assert sweep.load_study(str(path), config_overrides=["--config.steps=7"]).base.steps == 7


def test_trials_that_differ_only_in_values_share_a_group():
    base = config_lib.default()
    points = sweep.concat(
        sweep.grid({"optimizer.lr": [1e-3, 1e-2], "optimizer.weight_decay": [0.0, 1e-4]}),
        sweep.axis("model.channels", [(8, 8, 8)]))
    trials = sweep.make_trials(base, points, range(3))
    groups = vectorize.make_groups(trials, max_size=32)
    assert [len(g) for g in groups] == [12, 3]  # seed, lr and wd are values; channels are shapes
    assert [len(g) for g in vectorize.make_groups(trials, max_size=5)] == [5, 5, 2, 3]
    assert all(len(g) == 1 for g in vectorize.make_groups(trials, max_size=1))
