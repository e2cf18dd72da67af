"""Tests of the data sources (`jaxdl.data`): contract, reproducibility, validation, offline tfds."""
from __future__ import annotations

import io
import random
import socket
import sys

import os

import numpy as np
import pytest

from jaxdl import data
from jaxdl.data import Dataset
from jaxdl.data import mnist1d as mnist1d_source
from jaxdl.data import teacher as teacher_source
from jaxdl.data import tfds as tfds_source


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail any test whose code tries to reach the network (no source may download)."""
    real_connect = socket.socket.connect

    def connect(sock: socket.socket, address: object) -> None:
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            raise AssertionError(f"network access attempted: {address!r}")
        return real_connect(sock, address)

    def getaddrinfo(*args: object, **kwargs: object) -> None:
        raise AssertionError(f"network lookup attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", connect)
    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def check_contract(ds: Dataset) -> None:
    """The `Dataset` contract: float32 x, int32 ids in range (or float32 (n, k) targets), matching lengths."""
    assert isinstance(ds, Dataset)
    for x, y in ((ds.x_train, ds.y_train), (ds.x_test, ds.y_test)):
        assert isinstance(x, np.ndarray) and x.dtype == np.float32
        assert len(x) == len(y)
        assert np.isfinite(x).all()
        if ds.num_classes:
            assert y.dtype == np.int32 and y.ndim == 1
            assert y.size == 0 or (0 <= y.min() and y.max() < ds.num_classes)
        else:
            assert y.dtype == np.float32 and y.ndim == 2
    assert ds.x_train.shape[1:] == ds.x_test.shape[1:]


# ---------------------------------------------------------------- registry


def test_defaults_list_each_sources_options() -> None:
    expected = {
            "mnist1d": {"num_samples", "train_split", "template_len", "padding", "scale_coeff", "max_translation",
                        "corr_noise_scale", "iid_noise_scale", "shear_scale", "shuffle_seq", "final_seq_length",
                        "seed", "label_noise", "label_noise_seed", "mix_samples", "mix_shift", "mix_seed"},
            "sphere": {"n", "d", "num_classes", "test_size", "seed"},
            "modular": {"p", "operation", "train_fraction", "seed"},
            "teacher": {"n", "d", "teacher_width", "teacher_depth", "num_classes", "outputs", "noise", "test_size",
                        "seed"},
            "digits": {"test_fraction", "seed"},
            "tfds": {"dataset", "data_dir", "train_split", "test_split", "max_train", "max_test",
                     "image_size", "max_in_memory_mb", "mean", "std"},
    }
    assert set(data.SOURCES.builtins()) == set(expected)
    for name, keys in expected.items():
        options = data.defaults(name)
        assert set(options) == keys, name
        # Config overrides are parsed by the default's type, so every default is a literal.
        for key, value in options.items():
            assert isinstance(value, (bool, int, float, str, tuple)), (name, key, value)


def test_unknown_source_is_a_key_error() -> None:
    with pytest.raises(KeyError, match="unknown data source 'nope'"):
        data.source("nope")


@pytest.mark.parametrize("name, options, option", [
        ("mnist1d", {"num_samples": 0}, "num_samples"),
        ("mnist1d", {"num_samples": 55}, "num_samples"),
        ("mnist1d", {"train_split": 1.5}, "train_split"),
        ("mnist1d", {"padding": (60, 36)}, "padding"),
        ("mnist1d", {"padding": (1, 2, 3)}, "padding"),
        ("mnist1d", {"scale_coeff": 2.0}, "scale_coeff"),
        ("mnist1d", {"max_translation": 0}, "max_translation"),
        ("mnist1d", {"iid_noise_scale": -0.1}, "iid_noise_scale"),
        ("mnist1d", {"shear_scale": float("nan")}, "shear_scale"),
        ("mnist1d", {"shuffle_seq": 1}, "shuffle_seq"),
        ("mnist1d", {"seed": -1}, "seed"),
        ("mnist1d", {"seed": 2**32}, "seed"),
        ("mnist1d", {"mix_samples": -10}, "mix_samples"),
        ("mnist1d", {"mix_samples": 15}, "mix_samples"),
        ("mnist1d", {"mix_shift": "seed=3"}, "mix_shift"),  # seeds: mix_seed
        ("mnist1d", {"mix_shift": "shear_scale"}, "mix_shift"),
        ("mnist1d", {"mix_shift": "shear_scale=1,shear_scale=2"}, "mix_shift"),
        ("mnist1d", {"mix_shift": "max_translation=2.5"}, "mix_shift"),
        ("mnist1d", {"mix_samples": 10, "mix_shift": "scale_coeff=3.0"}, "mix_shift"),
        ("mnist1d", {"mix_shift": 1.5}, "mix_shift"),
        ("mnist1d", {"mix_seed": -1}, "mix_seed"),
        ("sphere", {"n": -3}, "n"),
        ("sphere", {"n": True}, "n"),
        ("sphere", {"d": 2.5}, "d"),
        ("sphere", {"num_classes": 1}, "num_classes"),
        ("sphere", {"test_size": -1}, "test_size"),
        ("teacher", {"num_classes": 1}, "num_classes"),
        ("teacher", {"teacher_depth": -1}, "teacher_depth"),
        ("teacher", {"teacher_width": 0}, "teacher_width"),
        ("teacher", {"noise": 1.5}, "noise"),
        ("teacher", {"num_classes": 0, "noise": -0.5}, "noise"),
        ("teacher", {"outputs": 0}, "outputs"),
        ("digits", {"test_fraction": 0.0}, "test_fraction"),
        ("digits", {"test_fraction": 1.0}, "test_fraction"),
        ("digits", {"seed": "0"}, "seed"),
        ("tfds", {"dataset": ""}, "dataset"),
        ("tfds", {"max_train": -1}, "max_train"),
        ("tfds", {"max_test": 1.5}, "max_test"),
        ("tfds", {"train_split": ""}, "train_split"),
])
def test_bad_option_values_raise_one_line_naming_the_option(name: str, options: dict, option: str) -> None:
    with pytest.raises(ValueError) as info:
        data.load(name, **options)
    message = str(info.value)
    assert message.startswith(f"{option} must be "), message
    assert "\n" not in message


# ---------------------------------------------------------------- MNIST-1D


def test_mnist1d_defaults_are_the_generators() -> None:
    from mnist1d.data import get_dataset_args
    package = get_dataset_args(as_dict=True)
    package.pop("url")  # the downloader's source: never used
    ours = data.defaults("mnist1d")
    assert (ours.pop("label_noise"), ours.pop("label_noise_seed")) == (0.0, 0)  # jaxdl's, not the generator's
    assert (ours.pop("mix_samples"), ours.pop("mix_shift"), ours.pop("mix_seed")) == (0, "", 1)  # jaxdl's
    assert ours == {**package, "padding": tuple(package["padding"])}
    for key, value in package.items():  # a float default must be a float, or overrides parse as int
        assert type(ours[key]) is (tuple if key == "padding" else type(value)), key


def test_mnist1d_default_is_the_published_dataset_bit_for_bit() -> None:
    from mnist1d.data import get_dataset_args, make_dataset
    ds = data.load("mnist1d")
    reference = make_dataset(get_dataset_args())
    check_contract(ds)
    assert ds.x_train.shape == (4000, 40) and ds.x_test.shape == (1000, 40)
    assert ds.num_classes == 10 and ds.name == "mnist1d"
    np.testing.assert_array_equal(ds.x_train, reference["x"].astype(np.float32))
    np.testing.assert_array_equal(ds.x_test, reference["x_test"].astype(np.float32))
    np.testing.assert_array_equal(ds.y_train, reference["y"])
    np.testing.assert_array_equal(ds.y_test, reference["y_test"])
    assert np.bincount(np.concatenate([ds.y_train, ds.y_test])).tolist() == [500] * 10


SMALL = {"num_samples": 200}  # keeps generation ~0.1 s


@pytest.mark.parametrize("change", [{"shear_scale": 1.5}, {"iid_noise_scale": 0.1}, {"scale_coeff": 1.0},
                                    {"max_translation": 10}, {"corr_noise_scale": 0.0}, {"seed": 7}])
def test_mnist1d_options_change_the_data(change: dict) -> None:
    base = data.load("mnist1d", **SMALL)
    shifted = data.load("mnist1d", **SMALL, **change)
    check_contract(shifted)
    assert shifted.x_train.shape == base.x_train.shape
    assert not np.array_equal(shifted.x_train, base.x_train)


def test_mnist1d_is_deterministic_across_cache_misses() -> None:
    options = {**SMALL, "shear_scale": 1.2, "seed": 3}
    first = data.load("mnist1d", **options)
    mnist1d_source._generate.cache_clear()
    second = data.load("mnist1d", **options)
    assert first.x_train is not second.x_train  # really generated twice
    np.testing.assert_array_equal(first.x_train, second.x_train)
    np.testing.assert_array_equal(first.y_test, second.y_test)


def test_mnist1d_sizes_follow_the_options() -> None:
    ds = data.load("mnist1d", num_samples=300, train_split=0.5, final_seq_length=60, shuffle_seq=True)
    check_contract(ds)
    assert ds.x_train.shape == (150, 60) and ds.x_test.shape == (150, 60)
    fresh_test_set = data.load("mnist1d", num_samples=100, train_split=0.0, seed=1)
    assert fresh_test_set.x_train.shape == (0, 40) and fresh_test_set.x_test.shape == (100, 40)


def test_mnist1d_cached_arrays_cannot_be_mutated_by_a_caller() -> None:
    ds = data.load("mnist1d", **SMALL)
    before = ds.x_train.copy()
    with pytest.raises(ValueError):
        ds.x_train[0, 0] = 123.0
    with pytest.raises(ValueError):
        ds.y_train.setflags(write=True)  # the cache cannot be unlocked either
    with pytest.raises(ValueError):
        ds.x_test += 1.0
    np.testing.assert_array_equal(data.load("mnist1d", **SMALL).x_train, before)
    np.asarray(ds.x_train, dtype=np.float32).copy()[0, 0] = 1.0  # copies are the caller's to change


def test_mnist1d_leaves_the_global_rngs_alone() -> None:
    mnist1d_source._generate.cache_clear()
    np.random.seed(123)
    random.seed(123)
    expected = (np.random.rand(), random.random())
    np.random.seed(123)
    random.seed(123)
    data.load("mnist1d", num_samples=100, seed=11)  # make_dataset reseeds both globally
    assert (np.random.rand(), random.random()) == expected


def _generator_arrays(**changes) -> dict[str, np.ndarray]:
    """The mnist1d package's own make_dataset at the defaults with `changes`, uncached."""
    from mnist1d.data import get_dataset_args, make_dataset
    from mnist1d.utils import ObjectView
    return make_dataset(ObjectView({**get_dataset_args(as_dict=True), **changes}))


def test_mnist1d_mixture_is_the_clean_set_then_the_shifted_generators_arrays() -> None:
    shift = {"shear_scale": 1.5, "scale_coeff": 1.0}
    mixed = data.load("mnist1d", **SMALL, mix_samples=100, mix_seed=5,
                      mix_shift="shear_scale=1.5, scale_coeff=1.0")
    clean = data.load("mnist1d", **SMALL)
    check_contract(mixed)
    assert mixed.x_train.shape == (160 + 100, 40) and mixed.x_test.shape == (40, 40)
    np.testing.assert_array_equal(mixed.x_train[:160], clean.x_train)  # the clean part, unchanged
    np.testing.assert_array_equal(mixed.y_train[:160], clean.y_train)
    np.testing.assert_array_equal(mixed.x_test, clean.x_test)  # the test set is the clean one's
    np.testing.assert_array_equal(mixed.y_test, clean.y_test)
    made = _generator_arrays(num_samples=100, train_split=1.0, seed=5, **shift)
    np.testing.assert_array_equal(mixed.x_train[160:], made["x"].astype(np.float32))
    np.testing.assert_array_equal(mixed.y_train[160:], made["y"])
    assert np.bincount(mixed.y_train[160:]).tolist() == [10] * 10
    with pytest.raises(ValueError):
        mixed.x_train[0, 0] = 1.0  # frozen like every loaded array


def test_mnist1d_mixture_seeds_and_default() -> None:
    def shifted_part(**options):
        return data.load("mnist1d", **SMALL, mix_samples=50, mix_shift="shear_scale=1.5",
                         **options).x_train[160:]
    first = shifted_part(mix_seed=3)
    mnist1d_source._generate.cache_clear()
    np.testing.assert_array_equal(shifted_part(mix_seed=3), first)  # seeded: the same regenerated
    assert not np.array_equal(shifted_part(mix_seed=4), first)  # another seed, other signals
    same_distribution = data.load("mnist1d", **SMALL, mix_samples=50, mix_seed=3).x_train[160:]
    assert not np.array_equal(same_distribution, first)  # the shift is applied
    np.testing.assert_array_equal(  # an empty shift: the default generator at mix_seed
        same_distribution, _generator_arrays(num_samples=50, train_split=1.0, seed=3)["x"].astype(np.float32))
    # mix_samples=0 (the default): the unmixed arrays themselves, whatever the other mix_*
    clean = data.load("mnist1d", **SMALL)
    unmixed = data.load("mnist1d", **SMALL, mix_shift="shear_scale=1.5", mix_seed=9)
    assert unmixed.x_train is clean.x_train and unmixed.y_train is clean.y_train


def test_mnist1d_mixture_label_noise_covers_the_mixed_training_set() -> None:
    mixed = data.load("mnist1d", **SMALL, mix_samples=800, mix_shift="shear_scale=1.5")
    noisy = data.load("mnist1d", **SMALL, mix_samples=800, mix_shift="shear_scale=1.5",
                      label_noise=0.5)
    changed = noisy.y_train != mixed.y_train
    assert changed[:160].any() and changed[160:].any()  # both parts get noise
    assert 0.3 < changed.mean() < 0.6  # about 0.5 * 0.9
    np.testing.assert_array_equal(noisy.x_train, mixed.x_train)


def test_mnist1d_mixture_disk_cache_is_keyed_by_the_shift(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("JAXDL_DATA_CACHE", str(tmp_path))
    mnist1d_source._generate.cache_clear()
    options = {**SMALL, "mix_samples": 50, "mix_seed": 2}
    shear = data.load("mnist1d", **options, mix_shift="shear_scale=1.5").x_train
    files = set(os.listdir(tmp_path))
    assert len(files) == 2  # the clean part's file and the shifted part's
    noise = data.load("mnist1d", **options, mix_shift="corr_noise_scale=0.5").x_train
    assert len(set(os.listdir(tmp_path)) - files) == 1  # another shift: another file
    mnist1d_source._generate.cache_clear()
    monkeypatch.setattr(mnist1d_source, "_run_generator", lambda options: 1 / 0)  # must not run
    np.testing.assert_array_equal(data.load("mnist1d", **options, mix_shift="shear_scale=1.5").x_train, shear)
    np.testing.assert_array_equal(data.load("mnist1d", **options, mix_shift="corr_noise_scale=0.5").x_train,
                                  noise)
    assert not np.array_equal(shear[160:], noise[160:])
    mnist1d_source._generate.cache_clear()


# ---------------------------------------------------------------- sphere


def test_sphere_points_are_on_the_unit_sphere_with_independent_balanced_labels() -> None:
    ds = data.load("sphere", n=4000, d=10, test_size=500)
    check_contract(ds)
    assert ds.x_train.shape == (4000, 10) and ds.x_test.shape == (500, 10) and ds.num_classes == 2
    np.testing.assert_allclose(np.linalg.norm(ds.x_train, axis=1), 1.0, atol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(ds.x_test, axis=1), 1.0, atol=1e-6)
    # Uniform on the sphere: mean ~0, second moment ~I/d (sampling error ~0.005).
    assert np.abs(ds.x_train.mean(axis=0)).max() < 0.03
    np.testing.assert_allclose(ds.x_train.T @ ds.x_train / 4000, np.eye(10) / 10, atol=0.02)
    counts = np.bincount(ds.y_train, minlength=2)
    assert abs(counts[0] - 2000) < 4 * np.sqrt(1000)  # 4 sigma of Binomial(4000, 1/2)
    # Labels independent of x: class-conditional means agree to sampling error (~0.01 per coordinate).
    gap = ds.x_train[ds.y_train == 0].mean(axis=0) - ds.x_train[ds.y_train == 1].mean(axis=0)
    assert np.abs(gap).max() < 0.05


def test_sphere_is_a_deterministic_function_of_its_options() -> None:
    a = data.load("sphere", n=200, d=5, num_classes=3, test_size=50, seed=1)
    b = data.load("sphere", n=200, d=5, num_classes=3, test_size=50, seed=1)
    c = data.load("sphere", n=200, d=5, num_classes=3, test_size=50, seed=2)
    for key in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, key), getattr(b, key))
        assert not np.array_equal(getattr(a, key), getattr(c, key)), key
    assert set(np.unique(a.y_train)) == {0, 1, 2}
    other_test_size = data.load("sphere", n=200, d=5, num_classes=3, test_size=80, seed=1)
    np.testing.assert_array_equal(other_test_size.x_train, a.x_train)  # separate streams
    np.testing.assert_array_equal(other_test_size.y_train, a.y_train)


# ---------------------------------------------------------------- teacher


def test_teacher_labels_are_the_teachers_argmax_of_x() -> None:
    ds = data.load("teacher", n=2000, d=8, teacher_width=32, teacher_depth=2, num_classes=5, test_size=300, seed=4)
    check_contract(ds)
    assert ds.x_train.shape == (2000, 8) and ds.num_classes == 5
    weights = teacher_source.make_teacher(8, 32, 2, 5, seed=4)
    assert [w.shape for w in weights] == [(8, 32), (32, 32), (32, 5)]
    np.testing.assert_array_equal(ds.y_train, teacher_source.teacher_outputs(weights, ds.x_train).argmax(1))
    np.testing.assert_array_equal(ds.y_test, teacher_source.teacher_outputs(weights, ds.x_test).argmax(1))
    counts = np.bincount(ds.y_train, minlength=5)
    assert counts.min() > 0.05 * 2000  # calibrated outputs: no class starves
    other = data.load("teacher", n=2000, d=8, teacher_width=32, teacher_depth=2, num_classes=5, test_size=300, seed=5)
    assert not np.array_equal(other.y_train, ds.y_train)


def test_teacher_regression_targets_and_noise() -> None:
    options = dict(n=1000, d=6, teacher_width=16, teacher_depth=1, num_classes=0, outputs=3, test_size=200, seed=0)
    clean = data.load("teacher", **options)
    check_contract(clean)
    assert clean.y_train.shape == (1000, 3) and clean.num_classes == 0 and clean.num_outputs == 3
    weights = teacher_source.make_teacher(6, 16, 1, 3, seed=0)
    np.testing.assert_array_equal(clean.y_train, teacher_source.teacher_outputs(weights, clean.x_train).astype(np.float32))
    np.testing.assert_allclose(clean.y_train.std(axis=0), 1.0, atol=0.1)  # unit-variance outputs
    noisy = data.load("teacher", **{**options, "noise": 0.5})
    np.testing.assert_array_equal(noisy.x_train, clean.x_train)
    np.testing.assert_array_equal(noisy.y_test, clean.y_test)  # test targets stay clean
    assert 0.45 < (noisy.y_train - clean.y_train).std() < 0.55


def test_teacher_label_noise_redraws_the_expected_fraction() -> None:
    options = dict(n=5000, d=10, num_classes=4, test_size=100, seed=1)
    clean = data.load("teacher", **options)
    noisy = data.load("teacher", **options, noise=0.4)
    noisier = data.load("teacher", **options, noise=0.8)
    np.testing.assert_array_equal(noisy.x_train, clean.x_train)
    np.testing.assert_array_equal(noisy.y_test, clean.y_test)
    changed = noisy.y_train != clean.y_train
    assert abs(changed.mean() - 0.4 * 0.75) < 0.03  # redrawn uniformly, so 1/4 keep their label
    assert (noisier.y_train != clean.y_train)[changed].mean() > 0.7  # nested corruption across levels


def test_teacher_depends_only_on_its_own_options() -> None:
    a = data.load("teacher", n=100, test_size=10, seed=3)
    b = data.load("teacher", n=100, test_size=50, seed=3)
    np.testing.assert_array_equal(a.x_train, b.x_train)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    linear = data.load("teacher", n=100, teacher_depth=0, seed=3)
    check_contract(linear)


# ---------------------------------------------------------------- digits


def test_digits_shapes_range_and_split() -> None:
    from sklearn.datasets import load_digits
    ds = data.load("digits")
    check_contract(ds)
    assert ds.x_train.shape == (1438, 8, 8, 1) and ds.x_test.shape == (359, 8, 8, 1)
    assert ds.num_classes == 10 and ds.name == "digits"
    assert ds.x_train.min() == 0.0 and ds.x_train.max() == 1.0
    everything = np.concatenate([ds.y_train, ds.y_test])
    np.testing.assert_array_equal(np.bincount(everything), np.bincount(load_digits().target))
    same = data.load("digits")
    np.testing.assert_array_equal(same.x_test, ds.x_test)
    other = data.load("digits", test_fraction=0.5, seed=1)
    assert len(other.y_test) == 898 and not np.array_equal(other.x_test[:359], ds.x_test)


# ---------------------------------------------------------------- tfds


@pytest.fixture
def mock_tfds(monkeypatch: pytest.MonkeyPatch):
    """`tfds.testing.mock_data` (random examples, no files) with its `__getitems__` fixed.

    tfds 4.9.10's mock stores `partial(_getitems, ...)` as a plain MagicMock
    attribute, so it is called without `self` and fails; `__getitem__` works
    because MagicMock binds the dunders it knows. The wrapper accepts both.
    """
    import tensorflow_datasets as tfds
    from tensorflow_datasets.testing import mocking
    original = mocking._getitems

    def getitems(*args: object, generator: object, serialized: bool = False) -> object:
        *owner, keys = args
        return original(owner[0] if owner else None, keys, generator, serialized)

    monkeypatch.setattr(mocking, "_getitems", getitems)
    tfds_source.clear_cache()
    with tfds.testing.mock_data(num_examples=12, policy=tfds.testing.MockPolicy.USE_CODE):
        yield
    tfds_source.clear_cache()  # keep mocked examples out of later loads


@pytest.mark.parametrize("dataset, shape", [("mnist", (28, 28, 1)), ("fashion_mnist", (28, 28, 1)),
                                            ("cifar10", (32, 32, 3))])
def test_tfds_loads_mocked_datasets_offline(mock_tfds: None, dataset: str, shape: tuple) -> None:
    ds = data.load("tfds", dataset=dataset, data_dir="/nonexistent", max_test=5)
    check_contract(ds)
    assert ds.x_train.shape == (12, *shape) and ds.x_test.shape == (5, *shape)
    assert ds.num_classes == 10 and ds.name == dataset
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0 and ds.x_train.max() > 0.5
    assert len(np.unique(ds.x_train)) > 100  # pixels really decoded, not a constant
    assert "tensorflow" not in sys.modules  # the random-access path needs no tensorflow


def _png(image: np.ndarray) -> bytes:
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(scope="module")
def prepared_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A tiny dataset prepared as ArrayRecord files in a temp data_dir, without tensorflow.

    Images are given as PNG bytes because tfds' own encoder needs tensorflow;
    reading it back goes through the real files, not a mock. Image i is
    constant 20 * i with label i % 4.
    """
    import tensorflow_datasets as tfds

    class JaxdlTinyImages(tfds.core.GeneratorBasedBuilder, skip_registration=True):
        VERSION = tfds.core.Version("1.0.0")

        def _info(self) -> tfds.core.DatasetInfo:
            features = tfds.features.FeaturesDict({"image": tfds.features.Image(shape=(6, 5, 3)),
                                                   "label": tfds.features.ClassLabel(num_classes=4)})
            return tfds.core.DatasetInfo(builder=self, features=features, supervised_keys=("image", "label"))

        def _split_generators(self, dl_manager: object) -> dict:
            return {"train": self._generate_examples(10), "test": self._generate_examples(3)}

        def _generate_examples(self, n: int):
            for i in range(n):
                yield i, {"image": _png(np.full((6, 5, 3), 20 * i, np.uint8)), "label": i % 4}

    data_dir = str(tmp_path_factory.mktemp("tfds"))
    JaxdlTinyImages(data_dir=data_dir, file_format="array_record").download_and_prepare()
    return data_dir


def test_tfds_reads_prepared_array_record_files_without_tensorflow(prepared_dir: str) -> None:
    tfds_source.clear_cache()
    ds = data.load("tfds", dataset="jaxdl_tiny_images", data_dir=prepared_dir)
    check_contract(ds)
    assert ds.x_train.shape == (10, 6, 5, 3) and ds.x_test.shape == (3, 6, 5, 3) and ds.num_classes == 4
    index = np.rint(ds.x_train[:, 0, 0, 0] * 255 / 20).astype(int)
    assert sorted(index) == list(range(10))  # every example once, pixels decoded exactly
    np.testing.assert_array_equal(ds.y_train, index % 4)  # labels travel with their images
    ds.x_train[:] = -1.0  # the caller's copy; the cached pixels are untouched
    again = data.load("tfds", dataset="jaxdl_tiny_images", data_dir=prepared_dir)
    assert again.x_train.min() >= 0.0
    np.testing.assert_array_equal(again.y_train, ds.y_train)
    sliced = data.load("tfds", dataset="jaxdl_tiny_images", data_dir=prepared_dir,
                       train_split="train[:40%]", max_test=2)
    assert len(sliced.x_train) == 4 and len(sliced.x_test) == 2
    assert "tensorflow" not in sys.modules


def test_tfds_unknown_split_names_the_option(prepared_dir: str) -> None:
    with pytest.raises(ValueError, match=r"^train_split 'validation' of jaxdl_tiny_images") as info:
        data.load("tfds", dataset="jaxdl_tiny_images", data_dir=prepared_dir, train_split="validation")
    assert "\n" not in str(info.value)


def test_tfds_unprepared_dataset_says_how_to_prepare_it(tmp_path) -> None:
    with pytest.raises(FileNotFoundError) as info:
        data.load("tfds", dataset="cifar10", data_dir=str(tmp_path))
    message = str(info.value)
    assert "\n" not in message
    for part in ("'cifar10'", str(tmp_path), "tfds build cifar10", "download_and_prepare", "array_record"):
        assert part in message, part


def test_tfds_unknown_dataset_is_a_one_line_value_error() -> None:
    with pytest.raises(ValueError, match=r"^dataset 'no_such_dataset': ") as info:
        data.load("tfds", dataset="no_such_dataset")
    assert "\n" not in str(info.value)


def test_mnist1d_disk_cache_holds_exactly_the_generators_arrays(tmp_path, monkeypatch) -> None:
    from jaxdl.data import mnist1d
    options = tuple(mnist1d._checked({**data.defaults("mnist1d"), "num_samples": 200,
                                      "seed": 7}).items())
    monkeypatch.setenv("JAXDL_DATA_CACHE", str(tmp_path))
    path = mnist1d.cache_path(options)
    assert path.startswith(str(tmp_path)) and not os.path.exists(path)
    mnist1d._generate.cache_clear()
    made = mnist1d._generate(options)  # generated, then written
    assert os.path.exists(path)
    mnist1d._generate.cache_clear()
    monkeypatch.setattr(mnist1d, "_run_generator", lambda options: 1 / 0)  # must not run
    cached = mnist1d._generate(options)
    for name in ("x", "y", "x_test", "y_test"):
        np.testing.assert_array_equal(cached[name], made[name])
        assert cached[name].dtype == made[name].dtype and not cached[name].flags.writeable
    other = tuple(dict(options, seed=8).items())
    assert mnist1d.cache_path(other) != path  # another option, another file
    monkeypatch.setenv("JAXDL_DATA_CACHE", "")
    assert mnist1d.cache_path(options) is None  # off
    mnist1d._generate.cache_clear()
