"""Lipschitz bounds checked by hand, and the law of robustness as a claim: on the study's
--quick variant (d = 400) networks that memorise random labels on the sphere have
Lip >= ε·sqrt(nd/p) where that asks more than the sample's own floor, the wider
interpolator is the smoother one, and with the label noise removed the same rule says
refuted; the study's verdict rules on hand-made numbers.

    PYTHONPATH=. python -m pytest -q -p no:xdist tests/test_lipschitz.py
    # 11 passed; 41-48 s wall, 19-20 s CPU on the busy 2-core Xeon (was 54-75 s, 20-33 s)"""
import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import threadpoolctl

from jaxdl import data
from jaxdl.data import sphere
from jaxdl.probes import lipschitz
from jaxdl.study import report, run, sweep

LAW = "experiments/law_of_robustness.py"


def test_linear_map_bounds_equal_its_norm():
    w = jnp.array([[3.0, 0.0], [4.0, 0.0], [0.0, 1.0]])  # singular values 5 and 1
    x = jax.random.normal(jax.random.PRNGKey(0), (7, 3))
    norms = lipschitz.jacobian_norms(lambda v: v @ w, x)
    np.testing.assert_allclose(norms, 5.0, rtol=1e-6)  # Jacobian w.T everywhere: ||.||_2 = 5
    scalar = lipschitz.jacobian_norms(lambda v: v @ w[:, 0], x)
    np.testing.assert_allclose(scalar, 5.0, rtol=1e-6)  # gradient (3, 4, 0)
    assert lipschitz.spectral_norm(w) == pytest.approx(5.0)


def test_relu_network_gradient_and_upper_bound_by_hand():
    # f(x) = [-1, 1] . (V relu(W x)): at x = (1, 1) only unit 0 is active.
    w = np.array([[1.0, 2.0], [-3.0, -1.0]])   # kernel layout (in, out): h = relu(x @ w)
    v = np.array([[2.0, -1.0], [0.5, 0.5]])     # (hidden, 2 logits)
    params = {"Dense_0": {"kernel": w, "bias": np.zeros(2)},
              "Dense_1": {"kernel": v, "bias": np.zeros(2)}}
    def apply(x):
        return jnp.maximum(x @ w, 0) @ v
    f = lipschitz.margin(apply)
    x = jnp.array([[1.0, 1.0]])  # pre-activations (-2, 1): unit 1 active
    grad = w[:, 1] * (v[1, 1] - v[1, 0])  # = 0 here: both logits of unit 1 move alike
    assert lipschitz.jacobian_norms(f, x)[0] == pytest.approx(np.linalg.norm(grad))
    x = jnp.array([[1.0, -1.0]])  # pre-activations (4, -1): unit 0 active
    grad = w[:, 0] * (v[0, 1] - v[0, 0])  # (-3, 9)
    assert lipschitz.lipschitz_lower_bound(f, x) == pytest.approx(np.sqrt(90.0), rel=1e-6)
    upper = lipschitz.mlp_upper_bound(params, np.array([-1.0, 1.0]))
    assert upper == pytest.approx(np.linalg.norm(w, 2) * np.linalg.norm(v @ [-1, 1]))
    assert upper >= np.sqrt(90.0)


def _law_study():
    import importlib.util
    spec = importlib.util.spec_from_file_location("law_of_robustness", LAW)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_lower_bound_verdict_can_fail_and_is_not_fooled_by_the_floor():
    """experiments/law_of_robustness.py's rule on hand-made nets (best lower bound, upper
    bound, sqrt(nd/p), the sample's floor, ε): one counterexample refutes, a bound below the
    floor tests nothing, a lower bound under the law with an upper bound over it is open;
    a loose fit (ε < 1) is held to ε·sqrt(nd/p), as Theorem 3's bound is linear in ε."""
    law = _law_study()
    floor = [2.0, 2.0]
    assert law.lower_bound_outcome([4.0, 2.5], [20, 20], [3.0, 0.5], floor) == "confirmed"
    assert law.lower_bound_outcome([4.0, 0.3], [20, 0.4], [3.0, 0.5], floor) == "refuted"
    assert law.lower_bound_outcome([2.5, 2.5], [20, 20], [3.0, 0.5], floor) == "not resolved"
    assert law.lower_bound_outcome([4.0, 2.5], [20, 20], [1.5, 0.5], floor) == "not resolved"
    assert law.lower_bound_outcome([], [], [], []) == "not resolved"
    # upper bound 2.8 < sqrt(nd/p) = 3: refuted for an exact fit, not for one with ε = 0.5
    # (scale 1.5, lower bound 1.6 above it, but below the floor: tests nothing), while the
    # first net (ε = 1, 4 >= 3 > floor) keeps the verdict informative.
    assert law.lower_bound_outcome([4.0, 1.6], [20, 2.8], [3.0, 3.0], floor) == "refuted"
    assert law.lower_bound_outcome([4.0, 1.6], [20, 2.8], [3.0, 3.0], floor, [1.0, 0.5]) == "confirmed"
    assert law.lower_bound_outcome([4.0, 1.4], [20, 2.8], [3.0, 3.0], floor, [1.0, 0.5]) == "not resolved"


def test_onset_verdict_asks_whether_the_law_sets_the_onset():
    """Nets of Lip 5 with nd = 10,000: the law allows them from p = nd / 25 = 400 (an exact
    fit), from ε²·nd / 25 = 100 at ε = 0.5; confirmed only when that falls in the grid step
    where interpolation starts (above the width tried below the onset, at most the onset)."""
    law = _law_study()
    assert law.law_onset(10_000, 5.0) == pytest.approx(400)
    assert law.law_onset(10_000, 5.0, 0.5) == pytest.approx(100)
    assert law.onset_outcome(1_000, 5.0, 100.0, 10_000, below_p=250) == "confirmed"  # 400 in (250, 1000]
    assert law.onset_outcome(1_000, 5.0, 100.0, 10_000) == "not resolved"  # narrowest tried: censored
    # 400 in (100, 1000], but a x10 step does not locate the onset
    assert law.onset_outcome(1_000, 5.0, 100.0, 10_000, below_p=100) == "not resolved"
    assert law.onset_outcome(13_314, 5.0, 100.0, 10_000, below_p=3_330) == "not resolved"  # 33x later
    assert law.onset_outcome(300, 5.0, 100.0, 10_000, below_p=75) == "not resolved"  # below, not certified
    assert law.onset_outcome(100, 5.0, 8.0, 10_000, below_p=25) == "refuted"  # upper 8 < sqrt(nd/p) = 10
    assert law.onset_outcome(100, 5.0, 8.0, 10_000, 0.5, below_p=25) == "confirmed"  # 8 > 0.5 * 10
    assert law.onset_outcome(None, np.nan, np.nan, 10_000) == "not resolved"
    assert law.smooth_outcome({1e-3: "confirmed", 1e-2: "not resolved"}) == "not resolved"  # strongest
    assert law.smooth_outcome({1e-3: "refuted", 1e-2: "confirmed"}) == "refuted"  # any
    assert law.smooth_outcome({}) == "not resolved"


def test_law_of_robustness_scale_and_parameter_count():
    assert lipschitz.law_of_robustness_scale(100, 10, 250) == pytest.approx(2.0)
    assert lipschitz.parameter_count({"a": np.zeros((3, 4)), "b": [np.zeros(5)]}) == 17


def _one_label(n: int = 1000, d: int = 10, num_classes: int = 2, test_size: int = 1000,
               seed: int = 0) -> data.Dataset:
    """The sphere source's points with one label for all: no label noise (σ² = 0), so
    nothing forces a fit to be steep — the law's effect removed."""
    ds = sphere.load(n=n, d=d, num_classes=num_classes, test_size=test_size, seed=seed)
    return dataclasses.replace(ds, y_train=np.ones_like(ds.y_train), y_test=np.ones_like(ds.y_test))


data.register("test_sphere_one_label", _one_label)


def _quick_trials(law, workdir, overrides=(), keep=lambda point: True):
    """The study's --quick variant (`overrides` on its base, only the points `keep` keeps),
    run into `workdir`: the study's per-trial table."""
    study = sweep.load_study(LAW, quick=True, config_overrides=overrides)
    study = dataclasses.replace(study, trials=tuple(t for t in study.trials if keep(t.point)))
    # One BLAS thread: the measure's upper bound takes the SVD of each (400, k) kernel, and
    # OpenBLAS's threads spin on 2 busy cores (16 such SVDs: 1.3 s of CPU, 0.04 s on one).
    with threadpoolctl.threadpool_limits(1, user_api="blas"):
        run.run_study(study, str(workdir), progress=False)
    _, results, missing = report.load_results([str(workdir)])
    assert not missing
    return law._trials(results)


def _lower_bound(law, nets) -> str:
    return law.lower_bound_outcome(nets["lip"], nets["lip_upper"], nets["bound"], nets["lip_floor"],
                                   nets["eps"])


def test_claim_on_the_quick_variant(tmp_path):
    """The lower bound on the study's --quick variant (n = 250 random ±1 labels on S^399,
    k = 8 and 128 plain, k = 64 with Jacobian penalty 0.1; 2 seeds, 1000 steps), by the
    study's rule (`lower_bound_outcome`, constant 1, Lip >= ε·sqrt(nd/p)): the plain
    interpolators confirm it, and beyond the sample's floor (k = 8: sqrt(nd/p) = 5.6, floor
    1.6; measured: Lip 19.3 / 20.8, upper bound 22.0 / 23.9, the smallest Lip / sqrt(nd/p)
    3.47 against the asserted 2); the wider net is the smoother (k = 128: Lip 14.3). The
    penalized ones come near the law's scale, as in the full run at d = 400 (the study's
    "near": Lip under 2·ε·sqrt(nd/p); measured 1.10 at k = 64, ε = 0.63) — which is why
    the full run's verdict is not resolved. The same numbers to 3 digits under
    XLA_FLAGS=--xla_cpu_max_isa=AVX2 and SSE4_2 (penalized: 1.09, 1.12 under SSE4_2).

    Without the effect — the same points, one label for all (no label noise: σ² = 0, and
    nothing forces a steep fit) — the same rule says "refuted": the plain k = 8 nets fit
    exactly with an upper bound (measured 4.42 / 4.45) below sqrt(nd/p) = 5.6. So the rule
    can fail on trained nets, and the quick run confirms only because the labels are
    noise. 7-8 s of CPU on the busy 2-core Xeon (11-18 s before: 1500 steps, k = 512,
    evaluations every 500 steps, the unused penalized k = 8 point, the measure's SVDs on
    spinning OpenBLAS threads), measured side by side."""
    law = _law_study()
    # Not the penalized k = 8 point: it does not interpolate (the quick's smooth-onset
    # verdict reads it; no assertion here does), and it is a fifth program to build.
    trials = _quick_trials(law, tmp_path / "quick", keep=lambda point: point.get(
        "objective.jacobian", 0) == 0 or point["model.width"] != 8)
    plain = law._covered(trials[trials["penalty"] == 0])
    assert len(plain) == 4  # every plain net interpolates below the noise level
    assert (plain["scale"] > plain["lip_floor"]).any()  # the bound asks more than the sample
    assert _lower_bound(law, plain) == "confirmed"  # Bubeck & Sellke 2021, constant 1
    lip = plain.groupby("model.width")["lip"].mean()
    assert lip[128] < lip[8]  # more parameters, smoother
    penalized = law._covered(trials[trials["penalty"] > 0])
    assert len(penalized) and (penalized["lip"] / penalized["scale"]).min() < 2
    assert (plain["lip"] / plain["scale"]).min() > 2

    removed = _quick_trials(law, tmp_path / "one_label", ["data.name=test_sphere_one_label"],
                            keep=lambda point: point == {"data.n": 250, "data.d": 400, "model.width": 8})
    nets = law._covered(removed)
    assert len(nets) == 2 and _lower_bound(law, nets) == "refuted"


def test_jacobian_penalty_is_the_mean_squared_frobenius_norm_of_the_input_jacobian():
    from jaxdl import models, objectives
    from jaxdl.objectives.supervised import jacobian_penalty

    def setup(model):
        return objectives.Setup(model=model, num_classes=3, sample_x=x[:1], steps=1)

    model = models.build("mlp", 3, width=5, depth=1)
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 6))
    variables = model.init(jax.random.PRNGKey(1), x, train=False)
    params = variables["params"]
    penalty = jacobian_penalty(setup(model), params, {}, x, None)
    per_example = [jax.jacrev(lambda v: model.apply({"params": params}, v[None], train=False)[0])(xi)
                   for xi in x]
    expected = np.mean([np.sum(np.square(j)) for j in per_example])
    assert float(penalty) == pytest.approx(expected, rel=1e-5)
    linear = models.build("mlp", 3, depth=0)
    lp = linear.init(jax.random.PRNGKey(2), x, train=False)["params"]
    w = np.asarray(lp["Dense_0"]["kernel"])
    assert float(jacobian_penalty(setup(linear), lp, {}, x, None)) == pytest.approx(
        np.sum(w ** 2), rel=1e-5)


def test_jacobian_penalty_in_the_objective_is_the_frozen_steps_op_for_op():
    """objective.jacobian = λ adds λ · the penalty to the supervised loss exactly as the step
    before objectives did (tests/reference_step.py, frozen): the same bits, dropout on."""
    import ml_collections
    import reference_step  # tests/reference_step.py
    from jaxdl import models, objectives, rng
    from jaxdl.objectives.supervised import jacobian_penalty
    model = models.build("mlp", 3, width=5, depth=1, dropout=0.2)
    x = jax.random.normal(jax.random.PRNGKey(0), (4, 6))
    y = jnp.asarray([0, 1, 2, 1])
    params = model.init(jax.random.PRNGKey(1), x, train=False)["params"]
    setup = objectives.Setup(model=model, num_classes=3, sample_x=x[:1], steps=1)
    keys = objectives.StepKeys(jax.random.PRNGKey(2), jnp.asarray(5, jnp.int32))
    key = keys(rng.DROPOUT)
    assert float(jacobian_penalty(setup, params, {}, x, keys)) == float(
        reference_step.jacobian_penalty(model, params, {}, x, key))
    loss = objectives.build("supervised", setup, l2=1e-3, jacobian=0.1).loss
    old = reference_step.make_objective(model, ml_collections.ConfigDict(dict(
        name="cross_entropy", label_smoothing=0.0, l1=0.0, l2=1e-3, jacobian=0.1,
        adversarial=dict(attack="none"))), True)
    new_value, new_grad = jax.value_and_grad(lambda p: loss(p, {}, {}, (x, y), keys)[0])(params)
    old_value, old_grad = jax.value_and_grad(lambda p: old(p, {}, (x, y), key)[0])(params)
    without, _ = objectives.build("supervised", setup, l2=1e-3).loss(params, {}, {}, (x, y), keys)
    assert float(new_value) == float(old_value) and float(new_value) > float(without)
    jax.tree.map(np.testing.assert_array_equal, new_grad, old_grad)


def _fit_sphere(workdir, width: int, lam: float, steps: int) -> dict:
    """A two-layer ReLU net fitting random +-1 labels of 100 points on S^9 with MSE
    (+ lam * Jacobian penalty): train accuracy and MSE, and its Lipschitz lower bounds."""
    from jaxdl import config as config_lib
    from jaxdl import rng
    from jaxdl.training import checkpoint, loop
    c = config_lib.default()
    c.data = config_lib.named_section("data", "sphere")
    c.data.n, c.data.d, c.data.test_size = 100, 10, 100
    c.model = config_lib.named_section("model", "mlp")
    c.model.depth, c.model.width = 1, width
    c.objective.loss, c.objective.jacobian = "mse", lam
    c.optimizer.lr, c.optimizer.schedule.name = 3e-3, "constant"
    c.steps = c.eval_every = c.checkpoint_every = c.chunk_size = steps
    c.batch_size = 50
    run = loop.build(c)  # built once: training and the probes below share it
    result = loop.train(run, str(workdir), progress=False)
    ckpt = checkpoint.Checkpoints(str(workdir / "checkpoints"), read_only=True)
    state = loop.as_train_state(ckpt.restore_latest(
        lambda saved: loop.as_saved(jax.eval_shape(run.init, rng.root_key(0)), saved))[0])
    f = lipschitz.margin(lambda x: run.model.apply({"params": state.params}, x, train=False))
    x = run.dataset.x_train
    bounds = {"lip_train": lipschitz.lipschitz_lower_bound(f, x),
              "lip_pairs": lipschitz.pairwise_lower_bound(f(x), x),
              "lip_fresh": lipschitz.lipschitz_lower_bound(f, run.dataset.x_test)}
    return {**bounds, "lip": max(bounds.values()), "accuracy": result["train"]["accuracy"],
            "mse": result["train"]["loss"],
            "floor": lipschitz.pairwise_lower_bound(2.0 * np.asarray(run.dataset.y_train) - 1, x)}


def test_jacobian_penalty_makes_the_interpolator_smoother(tmp_path):
    """The smooth-interpolator side of the law: same net, same data, penalized -> lower Lip."""
    fits = {lam: _fit_sphere(tmp_path / str(lam), 512, lam, 600) for lam in (0.0, 1e-3)}
    assert all(fit["accuracy"] == 1.0 for fit in fits.values())  # both interpolate
    assert fits[1e-3]["lip_train"] < 0.7 * fits[0.0]["lip_train"]


def test_pairwise_bound_is_the_lipschitz_constant_of_the_sample():
    x = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [3.0, 4.0]])
    v = np.array([0.0, 2.0, 3.0, 3.0])  # slopes: 2/1, 3/3, 3/5, 1/2, 1/sqrt(20), 0/4
    assert lipschitz.pairwise_lower_bound(v, x) == pytest.approx(2.0)
    labels = np.array([-1.0, 1.0, -1.0, 1.0])  # closest opposite pair: distance 1
    assert lipschitz.pairwise_lower_bound(labels, x) == pytest.approx(2.0)
    w = np.array([3.0, 4.0])  # a linear map: no pair rises faster than ||w|| = 5
    points = np.asarray(jax.random.normal(jax.random.PRNGKey(0), (20, 2)))
    assert lipschitz.pairwise_lower_bound(points @ w, points) <= 5.0 + 1e-9
    assert lipschitz.pairwise_lower_bound(points @ w, points) > 4.0
    repeated = np.array([[1.0, 1.0], [1.0, 1.0], [0.0, 0.0]])
    assert lipschitz.pairwise_lower_bound([1.0, 1.0, 0.0], repeated) == pytest.approx(1 / np.sqrt(2))
    assert lipschitz.pairwise_lower_bound([1.0, 2.0, 0.0], repeated) == np.inf  # not a function


def test_claim_smooth_interpolation_needs_more_parameters(tmp_path):
    """The smooth block of experiments/law_of_robustness.py, small: with a strong Jacobian
    penalty the narrow net (p = 210 = 0.21 nd) no longer interpolates where the plain one
    does, the wide one (p = 6658) does; and the wide penalized net is smoother than any exact
    interpolator of the sample by fitting +-1 approximately (still below the noise level),
    while the plain one fits the values and stays above that floor."""
    fit = {(k, lam): _fit_sphere(tmp_path / f"{k}-{lam}", k, lam, 1000)
           for k in (16, 512) for lam in (0.0, 1e-2)}
    assert fit[16, 0.0]["accuracy"] == 1.0
    assert fit[16, 1e-2]["accuracy"] < 1.0
    assert fit[512, 1e-2]["accuracy"] == 1.0
    plain, smooth = fit[512, 0.0], fit[512, 1e-2]
    floor = plain["floor"]  # 2 / distance of the closest opposite-label pair
    assert plain["lip_pairs"] == pytest.approx(floor, rel=0.02) and plain["lip"] >= floor
    assert smooth["lip"] < 0.9 * floor
    assert plain["mse"] < smooth["mse"] < 0.25  # 0.25: predicting (1/2, 1/2), the noise level
