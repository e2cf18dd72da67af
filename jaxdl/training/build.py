"""config -> Run: validate once, load the data, build the components, trace the shapes.

    run = build(config)        # ConfigError (one line naming the key) before any compute
    state = run.init(key)      # jitted; run.train_chunk(state, run.device_data(), n)

Every check that needs something built (the data's size and shape, the model traced on
abstract values, the views on the inputs, the mask's tree) runs here, before anything
is compiled, and fails with one ConfigError line like `config.validate`'s; so does a
tracker chosen (config.trackers: W&B, MLflow) whose package is not installed.
"""
from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import Any, Callable, Iterator

import jax
import ml_collections
import numpy as np

from jaxdl import config as config_lib
from jaxdl import data as data_lib
from jaxdl import gradients, losses, models, objectives, optim, rng, schema, trackers
from jaxdl.data import pipeline, stream
from jaxdl.models import precision, ssl
from jaxdl.objectives import supervised
from jaxdl.registry import require
from jaxdl.training import distill
from jaxdl.training import masks
from jaxdl.training import parallel
from jaxdl.training import state as state_lib
from jaxdl.training import step as step_lib

__all__ = ["Run", "build", "input_placement", "untracked", "load_data", "check_against_data", "check_views", "build_component",
           "resolve_execution", "has_native_convolution", "enable_compilation_cache"]

Init = Callable[[jax.Array], state_lib.TrainState]


@dataclasses.dataclass(frozen=True)
class Run:
    """Everything built from a config before any compute."""
    config: ml_collections.ConfigDict
    dataset: data_lib.Dataset
    model: Any
    optimizer: Any
    placement: parallel.Placement
    state_sharding: Any
    init: Init
    train_chunk: Callable
    evaluate: Callable
    execution: str
    mask: Any = None  # config.prune.mask's tree (1 keeps a weight, 0 prunes it), or None
    objective: Any = None  # objectives.Objective: the loss, its network, evaluation, extra state
    gradient: Any = None  # the gradient method's grad_fn (jaxdl.gradients)
    train_step: Any = None  # the pure train_step(state, batch) the chunk runs
    input_placement: str = "device"  # config.data.placement resolved: 'device' | 'stream'
    streamed_chunk: Callable | None = None  # chunk(state, (xs, ys), n): given batches

    @contextlib.contextmanager
    def feed(self) -> Iterator[Callable[[Any, int], tuple[Any, Any]]]:
        """advance(state, n) -> (state, metrics): the run's next n steps with their training
        batches — drawn on the device, or streamed from the host (`input_placement`); the
        same batches either way. The stream's readers stop when the block ends."""
        if self.input_placement == "device":
            data = self.device_data()
            yield lambda state, length: self.train_chunk(state, data, length)
            return
        c = self.config
        feed = stream.Stream(self.dataset.x_train, self.dataset.y_train, c.batch_size,
                             self.placement.eval_batches(), c.data.workers, c.data.prefetch,
                             host_views(c))
        try:
            yield lambda state, length: self.streamed_chunk(
                state, feed.batches(state.key, int(state.step), length), length)
        finally:
            feed.close()

    def device_data(self) -> pipeline.DeviceData:
        """The training arrays, replicated on every device of the run."""
        return pipeline.to_device(self.dataset,
                                  lambda a: parallel.place(a, self.placement.replicated))

    def shard(self, state: Any) -> Any:
        """`state` with every leaf on the run's devices (host values are placed)."""
        def one(leaf, sharding):
            if isinstance(leaf, jax.Array) and leaf.sharding == sharding:
                return leaf
            return parallel.place(np.asarray(leaf), sharding)
        return jax.tree.map(one, state, self.state_sharding)


def build(config: ml_collections.ConfigDict, *, validated: bool = False) -> Run:
    """Validate, load the data and trace the model's shapes; fails with `ConfigError`.
    `validated=True`: the caller has just validated `config` (`config.load`, `reopen`,
    a sweep's trial configs), so it is not validated a second time."""
    if not validated:
        config_lib.validate(config)
    trackers.check_installed(config.trackers)  # W&B, MLflow: the extra to install, now
    enable_compilation_cache()
    dataset = load_data(config)
    placement = make_placement(config)
    streamed = input_placement(config, dataset) == "stream"
    setup = make_setup(config, dataset, placement)
    if host_views(config) is not None and streamed:  # the views come with the batches
        setup = dataclasses.replace(setup, augment=None)
    optimizer = optim.make_optimizer(config.optimizer, config.steps)
    objective = build_component("objective", objectives.build, config, setup)
    gradient = build_component("gradient", gradients.build, config, setup)
    objective = with_evaluation(objective, setup)
    model = objective.model  # the network the objective trains (an SSL net wraps the model)
    init, shapes, optimizer, mask = make_init(config, model, objective, optimizer,
                                              setup.sample_x)
    state_sharding = placement.state(shapes)
    train_step = step_lib.make_train_step(objective, gradient, optimizer, setup.axis_name,
                                          grad_norm=config.log_grad_norm)
    execution = choose_execution(config, model, shapes, setup.sample_x)
    return Run(
        config=config, dataset=dataset, model=model, optimizer=optimizer, placement=placement,
        state_sharding=state_sharding, init=jax.jit(init, out_shardings=state_sharding),
        train_chunk=step_lib.make_train_chunk(train_step, config.batch_size, execution,
                                              placement, state_sharding),
        evaluate=objective.evaluate, execution=execution, mask=mask, objective=objective,
        gradient=gradient, train_step=train_step,
        input_placement="stream" if streamed else "device",
        streamed_chunk=step_lib.make_streamed_chunk(train_step, execution, placement,
                                                    state_sharding) if streamed else None)


def host_views(config: ml_collections.ConfigDict) -> ssl.HostViews | None:
    """The supervised objective's image augmentation (config.augment's image presets),
    computed with the batches on the host when they are streamed; else None (the device
    computes the views, as it does for every other preset and objective)."""
    if config.objective.name == "supervised" and config.augment.name in ssl.IMAGE_AUGMENTS:
        return ssl.HostViews(ssl.views_of(config.augment))
    return None


def input_placement(config: ml_collections.ConfigDict, dataset: data_lib.Dataset) -> str:
    """config.data.placement resolved: 'auto' keeps a training set of at most
    device_budget_mb on the device (faster for what fits: no host work per step) and
    streams a larger one."""
    placement = config.data.placement
    if placement == "auto":
        size = stream.nbytes(dataset.x_train, dataset.y_train)
        placement = "device" if size <= config.data.device_budget_mb * 2 ** 20 else "stream"
    return placement


def untracked(config: ml_collections.ConfigDict) -> ml_collections.ConfigDict:
    """A copy of `config` with no tracker (`trackers.use=""`): what a run built only to be
    read (`load_run`) or to restore a checkpoint needs, with or without the trackers'
    packages."""
    return config_lib.apply_overrides(config, ["trackers.use="])


def load_data(config: ml_collections.ConfigDict) -> data_lib.Dataset:
    """config.data's dataset (for distillation with the teacher's logits as targets),
    checked against the run; what the source raises becomes one ConfigError line."""
    options = data_lib.source_options(config_lib.options(config.data))
    try:
        dataset = data_lib.load(config.data.name, **options)
    except (ValueError, TypeError, OSError, ArithmeticError) as e:  # OSError: tfds not prepared
        key, _, rest = str(e).partition(" ")  # the sources' messages start with the option
        where = f"config.data.{key}: {rest}" if key in options else f"config.data: {e}"
        raise config_lib.ConfigError(where.splitlines()[0]) from None
    if config.objective.name == "distill":  # training targets: the teacher's logits
        dataset = distill.with_teacher_targets(config, dataset)
    check_against_data(config, len(dataset.x_train), dataset.num_classes, len(dataset.x_test))
    return dataset


def check_against_data(config: ml_collections.ConfigDict, num_train: int, num_classes: int,
                       num_test: int | None = None) -> None:
    """Checks that need the dataset's size (run after loading data, before compiling)."""
    split_key = "data.train_split" if "train_split" in config.data else "data"
    with schema.rules():
        for split, count in (("training", num_train), ("test", num_test)):
            require(count is None or count > 0, split_key,
                    f"must leave a non-empty {split} set (data {config.data.name!r})",
                    config.data.get("train_split", config.data.name))
        require(config.batch_size <= num_train, "batch_size",
                f"must be <= the training set size ({num_train} examples)", config.batch_size)
        if num_classes == 0:
            o = config.objective
            require(o.name != "supervised" or o.loss == "mse", "objective.loss",
                    "must be 'mse' for a regression dataset (num_classes = 0)", o.get("loss"))
            require(o.name not in objectives.SELF_SUPERVISED + ("distill",), "objective.name",
                    "must not be a self-supervised or distillation objective for a regression "
                    "dataset (the self-supervised evaluation is a kNN classifier; distillation "
                    "matches class probabilities)", o.name)


def make_placement(config: ml_collections.ConfigDict) -> parallel.Placement:
    """config.parallel on this process's devices; ConfigError when they do not fit."""
    try:
        return parallel.make_placement(config.parallel, config.batch_size)
    except ValueError as e:
        raise config_lib.ConfigError(str(e)) from None


def make_setup(config: ml_collections.ConfigDict, dataset: data_lib.Dataset,
               placement: parallel.Placement) -> objectives.Setup:
    """What the objective and gradient method are built from: the model checked against
    the data's shape and built, under the precision policy; the views checked."""
    config_lib.check_model(config, dataset.x_train.shape[1:])
    model = models.build(config.model.name, dataset.num_outputs, **config_lib.options(config.model))
    sample_x = np.asarray(dataset.x_train[:1])
    check_views(config, sample_x)
    return objectives.Setup(model=precision.apply_policy(model, config.precision),
                            num_classes=dataset.num_classes, sample_x=sample_x,
                            steps=config.steps, augment=config.augment,
                            axis_name=parallel.BATCH_AXES if placement.mode == "pmap" else None,
                            precision=config.precision)


def check_views(config: ml_collections.ConfigDict, sample_x: np.ndarray) -> None:
    """config.augment's views traced on the inputs (abstractly): ConfigError naming it
    when they do not apply, before anything is built."""
    if config.augment.name == "none":
        return
    views = ssl.augmentation(ssl.views_of(config.augment))
    try:
        jax.eval_shape(views, rng.root_key(0), sample_x)
    except (ValueError, TypeError) as e:
        raise config_lib.ConfigError(f"config.augment.name: {config.augment.name!r} views "
                                     f"do not apply to these inputs: "
                                     f"{str(e).splitlines()[0]}") from None


def build_component(section: str, make: Callable, config: ml_collections.ConfigDict,
                    setup: objectives.Setup) -> Any:
    """The objective or gradient method of config.<section>; what it raises while being
    built (a rule that needs the data or the model) becomes one ConfigError line."""
    try:
        return make(config[section].name, setup, **config_lib.options(config[section]))
    except (ValueError, TypeError, KeyError) as e:
        raise config_lib.ConfigError(f"config.{section}: {(str(e) or type(e).__name__).splitlines()[0]}"
                                     ) from None


def with_evaluation(objective: objectives.Objective, setup: objectives.Setup
                    ) -> objectives.Objective:
    """`objective`, evaluated as the supervised objective scores outputs when it brings no
    evaluation of its own (a user's objective)."""
    if objective.evaluate is not None:
        return objective
    loss = losses.per_example_loss("cross_entropy" if setup.classify else "mse")
    return dataclasses.replace(objective, evaluate=supervised.make(setup, loss).evaluate)


def make_init(config: ml_collections.ConfigDict, model: Any, objective: objectives.Objective,
              optimizer: Any, sample_x: np.ndarray) -> tuple[Init, Any, Any, Any]:
    """(init, the abstract state it makes, optimizer, mask). With config.prune.mask the
    network is sparse: params start masked and the optimizer keeps pruned weights at 0.
    Tracing the model on abstract values surfaces its errors before any compute."""
    def init(key: jax.Array) -> state_lib.TrainState:
        return state_lib.create(model, optimizer, key, sample_x, objective.init_extra)

    try:
        shapes = jax.eval_shape(init, rng.root_key(config.seed))
    except (ValueError, TypeError, KeyError, ArithmeticError, IndexError) as e:
        raise config_lib.ConfigError(f"config.model: {(str(e) or type(e).__name__).splitlines()[0]}"
                                     ) from None
    if not config.prune.mask:
        return init, shapes, optimizer, None
    try:
        mask = masks.load_mask(config.prune.mask, shapes.params)
    except ValueError as e:
        raise config_lib.ConfigError(f"config.prune.mask: {e}") from None
    masked = masks.masked_optimizer(optimizer, mask)

    def init(key: jax.Array) -> state_lib.TrainState:  # noqa: F811 - the masked network's
        state = state_lib.create(model, masked, key, sample_x, objective.init_extra)
        return state.replace(params=masks.apply_mask(state.params, mask))

    return init, jax.eval_shape(init, rng.root_key(config.seed)), masked, mask


def choose_execution(config: ml_collections.ConfigDict, model: Any, shapes: Any,
                     sample_x: np.ndarray) -> str:
    """config.execution resolved for this model on this backend (`resolve_execution`)."""
    native_conv = (config.execution == "auto" and jax.default_backend() == "cpu"
                   and has_native_convolution(
                       lambda params, model_state, x: models.apply(
                           model, params, model_state, x, train=False)[0],
                       shapes.params, shapes.model_state, sample_x))
    return resolve_execution(config.execution, native_convolutions=native_conv)


def resolve_execution(execution: str, backend: str | None = None,
                      native_convolutions: bool = False) -> str:
    """'auto' -> the strategy measured fastest (BENCHMARKS.md): one `scan` per chunk,
    except per-step calls (`loop`) on CPU for a program with native convolutions.

    XLA:CPU runs convolutions — above all their gradients — on a slow generic path
    inside a `while` body: `scan` was 25x slower than `loop` for the CIFAR-shaped
    ResNet and cnn2d (BENCHMARKS.md, "A CIFAR-shaped ResNet"). 1-D convolutions are
    im2col + matmul (`layers.Conv`), so the MNIST-1D CNN and the MLP have none and
    `scan` is their fastest. On accelerators per-call dispatch dominates: `scan`."""
    if execution != "auto":
        return execution
    if native_convolutions and (backend or jax.default_backend()) == "cpu":
        return "loop"
    return "scan"


def has_native_convolution(fn: Callable, *args: Any) -> bool:
    """Whether the traced program of fn(*args) contains `lax.conv_general_dilated`
    (in any nested jaxpr: scans, custom derivatives, ...)."""
    def walk(jaxpr) -> bool:
        for eqn in jaxpr.eqns:
            if eqn.primitive.name == "conv_general_dilated":
                return True
            for value in eqn.params.values():
                inner = getattr(value, "jaxpr", value)
                if hasattr(inner, "eqns") and walk(inner):
                    return True
        return False
    return walk(jax.make_jaxpr(fn)(*args).jaxpr)


def enable_compilation_cache() -> None:
    """JAX's persistent compilation cache: a program compiled once (by any run, test or
    trial of the same shapes) is loaded from disk afterwards — same executable, same bits.
    Directory: $JAXDL_COMPILATION_CACHE (empty: off), default ~/.cache/jaxdl/xla."""
    directory = os.environ.get("JAXDL_COMPILATION_CACHE",
                               os.path.join(os.path.expanduser("~"), ".cache", "jaxdl", "xla"))
    if directory and jax.config.jax_compilation_cache_dir is None:
        jax.config.update("jax_compilation_cache_dir", directory)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.config.update("jax_persistent_cache_min_entry_size_bytes", 0)
