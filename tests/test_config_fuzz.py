"""Every bad value is refused before compute (issue 14, point 7).

Hundreds of generated malformed inputs — bad values for every numeric config key
(NaN, inf, negatives, zeros where not allowed, 10**30, wrong types, strings), malformed
override strings, broken config files and broken study files — each run through the
command in process. Each must end with exit status != 0 and exactly one stderr line
`jaxdl: error: ...` naming the key or the file, without a traceback, and leave the
--workdir uncreated. `workdir.prepare` (the first write of a run) and `run_study` are
replaced by tripwires, so an accepted case fails at once instead of training.
"""
from __future__ import annotations

import textwrap

import pytest

from jaxdl import cli
from jaxdl import config as config_lib
from jaxdl import data as data_lib
from jaxdl import models as models_lib
from jaxdl import gradients as gradients_lib
from jaxdl import objectives as objectives_lib


def _leaves(node, prefix=""):
    for key, value in node.items():
        if hasattr(value, "items"):
            yield from _leaves(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


# Keys (of the default config, or "<section>.<key>" of a named entry) where 0 is allowed.
ZERO_OK = {
    "data.workers", "data.device_budget_mb",  # read in the main process; always stream
    "augment.padding", "augment.flip",  # no padding, no mirror
    "seed", "eval_every", "eval_train_examples", "checkpoint_every", "log_every", "parallel.data",
    "optimizer.momentum", "optimizer.b1", "optimizer.b2", "optimizer.eps",
    "optimizer.weight_decay", "optimizer.clip_norm", "optimizer.schedule.warmup_steps",
    "optimizer.schedule.end_fraction", "objective.label_smoothing", "objective.l1", "objective.l2",
    "objective.jacobian", "objective.input_noise", "objective.weight_noise", "gradient.fraction",
    "gradient.rho", "objective.inputs_seed", "objective.ema_base", "objective.center_momentum",  # dino: the centre is the batch mean
    "objective.sim_weight", "objective.var_weight", "objective.cov_weight", "objective.lambd",
    "augment.max_shift", "augment.amplitude", "augment.max_slope", "augment.max_offset",
    "augment.noise_std", "augment.slope_std", "augment.offset_std", "data.corr_noise_scale", "data.iid_noise_scale", "data.label_noise",
    "data.label_noise_seed", "data.mix_samples", "data.mix_seed", "data.scale_coeff",
    "data.seed", "data.shear_scale", "data.test_size", "data.teacher_depth",
    "data.num_classes", "data.noise", "model.dropout", "model.padding", "model.depth",
    "data.train_split",  # refused later, by the data's size: 0 leaves no training set
}


def _value_cases():
    """(overrides, key named in the error) for every numeric key of the default config
    and of every model, data source (besides tfds, which needs prepared files), objective
    (besides distill, which needs a teacher run) and gradient method."""
    entries = [((), k, v) for k, v in _leaves(config_lib.default())
               if not k.startswith(("model.", "data.", "objective.", "gradient."))]
    entries += [((f"{section}.name={n}",), f"{section}.{k}", v)
                for section, registry in (("objective", objectives_lib), ("gradient", gradients_lib))
                for n in registry.REGISTRY.builtins() if n != "distill"
                for k, v in registry.defaults(n).items()]
    entries += [((f"model.name={m}",), f"model.{k}", v)
                for m in models_lib.REGISTRY.builtins() for k, v in models_lib.defaults(m).items()]
    entries += [((f"data.name={d}",), f"data.{k}", v)
                for d in ("mnist1d", "sphere", "teacher", "digits", "modular")
                for k, v in data_lib.section_defaults(d).items()]
    for prefix, key, default in entries:
        if _is_number(default):
            bad = ["nan", "inf", "-inf", "-1", "abc", ""]
            # floats: beyond float32 (the run's precision); 10**30 is a float32 and is
            # refused only where the key has an upper bound (e.g. rates, fractions)
            bad += ["1e39"] if isinstance(default, float) else [str(10**30), "1.5"]
            bad += [] if key in ZERO_OK else ["0"]
        elif isinstance(default, tuple) and default and all(_is_number(v) for v in default):
            bad = ["(nan,)", "(1e39,)", f"({10**30},)", "('a',)", "(-1,)"]
        else:
            continue
        for raw in bad:
            yield (*prefix, f"{key}={raw}"), f"config.{key}"


# Overrides that are malformed as strings, and cross-key/shape errors found before compute.
OVERRIDE_CASES = [
    (("steps",), "--config.steps"),  # no '='
    (("model.channels",), "--config.model.channels"),
    (("=3",), "config."),  # empty key
    (("nosuchkey=1",), "config.nosuchkey"),
    (("optimizer.nosuchkey=1",), "config.optimizer.nosuchkey"),
    (("nosuchsection.lr=1",), "config.nosuchsection"),
    (("steps.sub=1",), "config.steps"),  # a value used as a section
    (("optimizer=1",), "config.optimizer"),  # a section overridden by a scalar
    (("optimizer=",), "config.optimizer"),
    (("optimizer.schedule=cosine",), "config.optimizer.schedule"),
    (("loss.adversarial=pgd",), "config.loss"),  # a section of old configs: gone
    (("gradient=adversarial",), "config.gradient"),
    (("model.name=",), "config.model.name"),
    (("model.name=transformer",), "config.model.name"),
    (("data.name=imagenet",), "config.data.name"),
    (("model.channels=(1,",), "config.model.channels"),
    (("model.channels=[1,2",), "config.model.channels"),
    (("model.channels=(",), "config.model.channels"),
    (("model.channels=()",), "config.model.channels"),
    (("model.channels={1:2}",), "config.model.channels"),
    (("model.channels=(1.5,2,3)",), "config.model.channels"),
    (("model.channels=" + "(" * 200 + ")" * 200,), "config.model.channels"),
    (("model.kernel_sizes=(0,3,3)",), "config.model.kernel_sizes"),
    (("model.kernel_sizes=(50,3,3)",), "config.model.kernel_sizes"),
    (("model.channels=(25,25,25,25,25)", "model.kernel_sizes=(5,5,5,5,5)"),
     "config.model.kernel_sizes"),  # too many stride-2 layers for length 40
    (("model.channels=(25,25)",), "config.model.kernel_sizes"),  # lengths differ
    (("model.stride=0",), "config.model.stride"),
    (("model.activation=sigmoidal",), "config.model.activation"),
    (("model.weight_init=zeros",), "config.model.weight_init"),
    (("model.name=cnn2d",), "config.model.name"),  # images only; MNIST-1D is signals
    (("model.name=vit", "model.patch_size=7"), "config.model.patch_size"),
    (("model.name=vit", "model.heads=5"), "config.model.heads"),
    (("model.name=vit", "model.pool=max"), "config.model.pool"),
    (("model.name=gru", "model.readout=bad"), "config.model.readout"),
    (("data.final_seq_length=1",), "config.model.kernel_sizes"),
    (("data.train_split=1.0",), "config.data.train_split"),  # no test set
    (("data.train_split=0.0",), "config.data.train_split"),  # no training set
    (("data.num_samples=7",), "config.data.num_samples"),
    (("data.padding=(5,1)",), "config.data.padding"),
    (("steps=1000000000000",), "config.steps"),
    (("steps=3000000000",), "config.steps"),
    (("steps=2000000000",), "config.eval_every"),  # 2e6 evaluations
    (("steps=100000000", "eval_every=1"), "config.eval_every"),
    (("steps=100000000", "eval_every=0", "checkpoint_every=1"), "config.checkpoint_every"),
    (("steps=100000000", "log_every=1"), "config.log_every"),
    (("seed=4294967296",), "config.seed"),
    (("optimizer.schedule.warmup_steps=6000",), "config.optimizer.schedule.warmup_steps"),
    (("optimizer.schedule.boundaries=(0.8,0.2)",), "config.optimizer.schedule.boundaries"),
    (("batch_size=5000",), "config.batch_size"),
    (("histograms=maybe",), "config.histograms"),
    (("execution=fast",), "config.execution"),
    (("precision=float16",), "config.precision"),
    (("objective.name=simclr", "objective.input_noise=0.1"), "config.objective.input_noise"),
    (("objective.name=focal",), "config.objective.name"),
    (("gradient.name=sam", "gradient.rho=-0.1"), "config.gradient.rho"),
    (("gradient.name=adversarial", "gradient.attack=none"), "config.gradient.attack"),
    (("prune.mask=/nonexistent/mask.npz",), "config.prune.mask"),
    (("objective.name=distill", "objective.teacher=/nonexistent/run"), "config.objective.teacher"),
    (("objective.name=distill",), "config.objective.teacher"),  # no teacher given
]


def _cases():
    cases = [(tuple(f"--config.{o}" for o in overrides), named)
             for overrides, named in _value_cases()]
    cases += [(tuple(f"--config.{o}" for o in overrides), named)
              for overrides, named in OVERRIDE_CASES]
    return cases


CASES = _cases()


@pytest.fixture
def tripwires(monkeypatch):
    """An accepted case would reach the workdir or run the sweep: fail it at once."""
    from jaxdl.study import run as run_lib
    from jaxdl.training import workdir as workdir_lib

    def refuse(*args, **kwargs):
        raise AssertionError("a bad input reached the workdir: it was not refused")

    monkeypatch.setattr(workdir_lib, "prepare", refuse)
    monkeypatch.setattr(run_lib, "run_study", refuse)


def assert_refused(code, capsys, workdir, named):
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert code not in (0, None), captured
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("jaxdl: error: "), lines[0]
    assert named in lines[0], (named, lines[0])
    assert "Traceback" not in captured.err + captured.out
    assert not workdir.exists()


def test_there_are_hundreds_of_cases():
    assert len(CASES) + len(FILE_CASES) + len(STUDY_CASES) >= 300


@pytest.mark.parametrize("args,named", CASES, ids=[" ".join(a)[:80] for a, _ in CASES])
def test_bad_override_is_one_line_before_the_workdir(args, named, tmp_path, capsys, tripwires):
    workdir = tmp_path / "w"
    code = cli.main(["train", "--workdir", str(workdir), "--no-progress", *args])
    assert_refused(code, capsys, workdir, named)


# ---------------------------------------------------------------- config files

GOOD_BODY = "from jaxdl import config\n\ndef get_config(name=None):\n    return config.default()\n"

FILE_CASES = {
    "syntax_error": ("def get_config(name=None)\n    return 1\n", ":1:"),
    "indentation": ("def get_config(name=None):\nreturn 1\n", ":2:"),
    "missing_import": ("import jaxdl_no_such_module\n" + GOOD_BODY, ":1:"),
    "raises_at_import": ("x = 1 / 0\n" + GOOD_BODY, ":1:"),
    "no_get_config": ("X = 1\n", "get_config"),
    "get_config_not_callable": ("get_config = 3\n", "get_config"),
    "get_config_raises": ("def get_config(name=None):\n    raise RuntimeError('boom')\n", ":2:"),
    "get_config_raises_key": ("def get_config(name=None):\n    raise KeyError('no config x')\n",
                              "no config x"),
    "get_config_returns_dict": ("def get_config(name=None):\n    return {'steps': 1}\n",
                                "ConfigDict"),
    "get_config_returns_none": ("def get_config(name=None):\n    pass\n", "ConfigDict"),
    "get_config_no_argument": ("from jaxdl import config\ndef get_config():\n"
                               "    return config.default()\n", "get_config"),
    "get_config_two_arguments": ("from jaxdl import config\ndef get_config(a, b):\n"
                                 "    return config.default()\n", "get_config"),
    "section_is_scalar": ("from jaxdl import config\ndef get_config(name=None):\n"
                          "    c = config.default()\n    c.optimizer = 1\n    return c\n",
                          ":4:"),  # ConfigDict refuses the assignment in the file
    "model_is_scalar": ("from jaxdl import config\nimport ml_collections\n"
                        "def get_config(name=None):\n    d = config.default().to_dict()\n"
                        "    d['model'] = 3\n    return ml_collections.ConfigDict(d)\n",
                        "config.model"),
    "model_name_not_str": ("from jaxdl import config\nimport ml_collections\n"
                           "def get_config(name=None):\n    d = config.default().to_dict()\n"
                           "    d['model']['name'] = [1]\n    return ml_collections.ConfigDict(d)\n",
                           "config.model.name"),
    "missing_key": ("from jaxdl import config\nimport ml_collections\n"
                    "def get_config(name=None):\n    d = config.default().to_dict()\n"
                    "    del d['steps']\n    return ml_collections.ConfigDict(d)\n",
                    "config.steps"),
    "nan_lr": ("from jaxdl import config\ndef get_config(name=None):\n"
               "    c = config.default()\n    c.optimizer.lr = float('nan')\n    return c\n",
               "config.optimizer.lr"),
    "huge_seed": ("from jaxdl import config\ndef get_config(name=None):\n"
                  "    c = config.default()\n    c.seed = 10**30\n    return c\n", "config.seed"),
}


@pytest.mark.parametrize("case", sorted(FILE_CASES))
def test_bad_config_file_is_one_line_before_the_workdir(case, tmp_path, capsys, tripwires):
    body, named = FILE_CASES[case]
    path = tmp_path / f"{case}.py"
    path.write_text(body)
    workdir = tmp_path / "w"
    code = cli.main(["train", "--config", str(path), "--workdir", str(workdir)])
    # an error raised in the file: the message names the file and line (path:LINE:)
    assert_refused(code, capsys, workdir, f"{path}{named}" if named.startswith(":") else named)


def test_config_file_error_names_file_and_line(tmp_path, capsys, tripwires):
    path = tmp_path / "broken.py"
    path.write_text("from jaxdl import config\n\ndef get_config(name=None):\n"
                    "    c = config.default()\n    return c.nope\n")
    workdir = tmp_path / "w"
    code = cli.main(["train", "--config", str(path), "--workdir", str(workdir)])
    err = capsys.readouterr().err
    assert code == 2 and f"{path}:5" in err and "AttributeError" in err, err
    assert err.count("\n") == 1 and not workdir.exists()


# ---------------------------------------------------------------- study files

STUDY_BASE = textwrap.dedent("""\
    from jaxdl import config
    def get_config(name=None):
        c = config.default()
        c.steps = 10
        return c
    METRICS = ("test/accuracy",)
    """)

STUDY_CASES = {
    "sweep_not_iterable": (STUDY_BASE + "SWEEP = 3\nSEEDS = range(2)\n", "SWEEP"),
    "sweep_a_string": (STUDY_BASE + "SWEEP = 'optimizer.lr'\nSEEDS = range(2)\n", "SWEEP"),
    "sweep_a_dict": (STUDY_BASE + "SWEEP = {'optimizer.lr': 0.1}\nSEEDS = range(2)\n", "SWEEP"),
    "sweep_points_not_dicts": (STUDY_BASE + "SWEEP = [1, 2]\nSEEDS = range(2)\n", "SWEEP"),
    "sweep_key_not_str": (STUDY_BASE + "SWEEP = [{1: 2}]\nSEEDS = range(2)\n", "SWEEP"),
    "sweep_empty": (STUDY_BASE + "SWEEP = []\nSEEDS = range(2)\n", "no trials"),
    "sweep_bad_value": (STUDY_BASE + "SWEEP = [{'optimizer.lr': float('nan')}]\n"
                        "SEEDS = range(2)\n", "config.optimizer.lr"),
    "sweep_unknown_key": (STUDY_BASE + "SWEEP = [{'optimizer.nope': 1}]\nSEEDS = range(2)\n",
                          "config.optimizer.nope"),
    "seeds_not_iterable": (STUDY_BASE + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = 5\n", "SEEDS"),
    "seeds_a_string": (STUDY_BASE + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = '01'\n", "SEEDS"),
    "seeds_not_ints": (STUDY_BASE + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = [0.5]\n", "SEEDS"),
    "seeds_negative": (STUDY_BASE + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = [-1]\n", "SEEDS"),
    "seeds_huge": (STUDY_BASE + f"SWEEP = [{{'optimizer.lr': 0.1}}]\nSEEDS = [{10**30}]\n",
                   "SEEDS"),
    "seeds_none": (STUDY_BASE + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = None\n", "SEEDS"),
    "metrics_not_iterable": (STUDY_BASE.replace('("test/accuracy",)', "3")
                             + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = range(2)\n", "METRICS"),
    "metrics_not_str": (STUDY_BASE.replace('("test/accuracy",)', "[1]")
                        + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = range(2)\n", "METRICS"),
    "syntax_error": (STUDY_BASE + "SWEEP = [\nSEEDS = range(2)\n", "syntax error"),
    "missing_import": ("import jaxdl_no_such_module\n" + STUDY_BASE, ":1:"),
    "raises_at_import": (STUDY_BASE + "SWEEP = [{'optimizer.lr': 1 / 0}]\nSEEDS = range(2)\n",
                         "ZeroDivisionError"),
    "no_seeds": (STUDY_BASE + "SWEEP = [{'optimizer.lr': 0.1}]\n", "SEEDS"),
    "sweep_and_search": (STUDY_BASE + "SWEEP = []\nSEARCH = None\nSEEDS = range(2)\n", "SEARCH"),
    "search_not_a_search": (STUDY_BASE + "SEARCH = 3\nSEEDS = range(2)\n", "SEARCH"),
    "get_config_raises": (STUDY_BASE.replace("c.steps = 10", "raise ValueError('boom')")
                          + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = range(2)\n", "boom"),
    "get_config_returns_dict": (STUDY_BASE.replace("return c", "return {}")
                                + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = range(2)\n",
                                "ConfigDict"),
    "get_config_no_argument": (STUDY_BASE.replace("def get_config(name=None)", "def get_config()")
                               + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = range(2)\n",
                               "get_config"),
    "base_invalid": (STUDY_BASE.replace("c.steps = 10", "c.steps = -1")
                     + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = range(2)\n", "config.steps"),
    "published_not_dict": (STUDY_BASE + "SWEEP = [{'optimizer.lr': 0.1}]\nSEEDS = range(2)\n"
                           "PUBLISHED = [1]\n", "PUBLISHED"),
}


@pytest.mark.parametrize("case", sorted(STUDY_CASES))
def test_bad_study_file_is_one_line_before_the_workdir(case, tmp_path, capsys, tripwires):
    body, named = STUDY_CASES[case]
    path = tmp_path / f"{case}.py"
    path.write_text(body)
    workdir = tmp_path / "w"
    code = cli.main(["sweep", str(path), "--workdir", str(workdir), "--no-progress"])
    assert_refused(code, capsys, workdir, f"{path}{named}" if named.startswith(":") else named)


def test_study_error_names_the_file(tmp_path, capsys, tripwires):
    path = tmp_path / "study.py"
    path.write_text(STUDY_CASES["seeds_not_iterable"][0])
    code = cli.main(["sweep", str(path), "--workdir", str(tmp_path / "w")])
    err = capsys.readouterr().err
    assert code == 2 and str(path) in err and "SEEDS" in err, err
