"""Streaming from the real on-disk format: small datasets written, offline, as the
ArrayRecord files of serialised examples that `tfds build` prepares — one of fixed-shape
images, one whose images vary in size (the ImageNet shape) — read on demand
(`jaxdl.data.tfds.Records`) and trained on with config.data.placement=stream."""
import numpy as np
import pytest

import jaxdl
from jaxdl import config as config_lib
from jaxdl import data
from jaxdl.data import tfds as tfds_source
from jaxdl.training import build as build_lib

tfds = pytest.importorskip("tensorflow_datasets")

N_TRAIN, N_TEST = 60, 12


def _png(image: np.ndarray) -> bytes:
    import io
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _image(i: int, shape: tuple[int, int]) -> np.ndarray:
    """Image i: its class (i % 3) is which channel is bright, plus noise seeded by i."""
    noise = np.random.default_rng(i).integers(0, 60, (*shape, 3))
    image = noise.copy()
    image[..., i % 3] += 180
    return image.astype(np.uint8)


def _prepare(data_dir: str, class_name: str, shape, sizes) -> None:
    """Writes the dataset of builder `class_name` (its snake_case name: ArrayRecord files)
    with images of `shape` ((None, None, 3): they vary), image i of size sizes(i)."""
    def _info(self):
        features = tfds.features.FeaturesDict({
            "image": tfds.features.Image(shape=shape),
            "label": tfds.features.ClassLabel(num_classes=3)})
        return tfds.core.DatasetInfo(builder=self, features=features,
                                     supervised_keys=("image", "label"))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, N_TRAIN),
                "test": self._generate_examples(1000, N_TEST)}

    def _generate_examples(self, first, n):
        for i in range(first, first + n):
            yield i, {"image": _png(_image(i, sizes(i))), "label": i % 3}

    builder = type(class_name, (tfds.core.GeneratorBasedBuilder,),
                   {"VERSION": tfds.core.Version("1.0.0"), "_info": _info,
                    "_split_generators": _split_generators,
                    "_generate_examples": _generate_examples}, skip_registration=True)
    builder(data_dir=data_dir, file_format="array_record").download_and_prepare()


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory) -> str:
    root = str(tmp_path_factory.mktemp("tfds_stream"))
    _prepare(root, "JaxdlFixedImages", (12, 12, 3), lambda i: (12, 12))
    _prepare(root, "JaxdlVariedImages", (None, None, 3),
             lambda i: (10 + i % 7, 12 + (3 * i) % 9))  # 10-16 high, 12-20 wide
    return root


def test_records_read_on_demand_equal_the_decoded_split(data_dir):
    tfds_source.clear_cache()
    eager = data.load("tfds", dataset="jaxdl_fixed_images", data_dir=data_dir)
    lazy = data.load("tfds", dataset="jaxdl_fixed_images", data_dir=data_dir,
                     max_in_memory_mb=0)
    assert isinstance(lazy.x_train, tfds_source.Records)
    assert lazy.x_train.shape == eager.x_train.shape == (N_TRAIN, 12, 12, 3)
    index = np.array([5, 0, 59, 5])
    np.testing.assert_array_equal(lazy.x_train[index], eager.x_train[index])
    np.testing.assert_array_equal(lazy.y_train[index], eager.y_train[index])
    np.testing.assert_array_equal(lazy.x_train[3, :2, 0], eager.x_train[3, :2, 0])
    np.testing.assert_array_equal(np.asarray(lazy.x_test), eager.x_test)


def test_images_of_varying_size_need_image_size_and_are_resized(data_dir):
    with pytest.raises(ValueError, match=r"^image_size 0: the images of 'jaxdl_varied_images' "
                                         r"vary in size") as info:
        data.load("tfds", dataset="jaxdl_varied_images", data_dir=data_dir)
    assert "\n" not in str(info.value)
    ds = data.load("tfds", dataset="jaxdl_varied_images", data_dir=data_dir, image_size=8)
    assert ds.x_train.shape == (N_TRAIN, 8, 8, 3) and ds.x_test.shape == (N_TEST, 8, 8, 3)
    # the bright channel of each image survives the resize: its label is still readable
    np.testing.assert_array_equal(ds.x_train.mean(axis=(1, 2)).argmax(-1), ds.y_train)


def small_config(data_dir: str, dataset: str, **extra):
    overrides = {"data.name": "tfds", "data.dataset": dataset, "data.data_dir": data_dir,
                 "model.name": "cnn2d", "model.channels": "(8,)", "model.kernel_sizes": "(3,)", "model.readout": "mean",
                 "steps": 24, "batch_size": 12, "eval_every": 0, "checkpoint_every": 0,
                 "chunk_size": 8, "eval_batch_size": 12, **extra}
    return config_lib.load(None, [f"{k}={v}" for k, v in overrides.items()])


@pytest.mark.parametrize("dataset, options", [
    pytest.param("jaxdl_fixed_images", {}, marks=pytest.mark.slow),  # the next one with views
    ("jaxdl_fixed_images", {"augment.name": "crop_flip", "augment.padding": 2}),
    ("jaxdl_varied_images", {"data.image_size": 8, "augment.name": "resized_crop_flip"}),
])
def test_a_dataset_over_the_memory_budget_is_streamed_and_trains(data_dir, dataset, options,
                                                                 tmp_path, monkeypatch):
    """Budgets below the dataset's size (0 MB): the split stays on disk, `auto` streams it,
    nothing puts the training set on the device, and the run trains to the same params
    as the device path on the same examples — with the image augmentation computed on
    the host (grain's worker) rather than on the device."""
    streamed = build_lib.build(small_config(data_dir, dataset, **options, **{
        "data.max_in_memory_mb": 0, "data.device_budget_mb": 0, "data.workers": 1}))
    assert streamed.input_placement == "stream"
    assert isinstance(streamed.dataset.x_train, tfds_source.Records)  # never decoded whole
    refuse = lambda self: pytest.fail("the training set was put on the device")  # noqa: E731
    monkeypatch.setattr(build_lib.Run, "device_data", refuse)
    result = jaxdl.train(streamed, str(tmp_path / "stream"), progress=False)
    assert result["step"] == 24 and np.isfinite(result["test"]["loss"])
    monkeypatch.undo()
    on_device = build_lib.build(small_config(data_dir, dataset, **options,
                                             **{"data.placement": "device"}))
    reference = jaxdl.train(on_device, str(tmp_path / "device"), progress=False)
    if options.get("augment.name") == "resized_crop_flip":  # resampling: 1-ulp views
        assert abs(reference["test"]["loss"] - result["test"]["loss"]) < 1e-5
    else:  # the same examples and views, bit for bit
        assert reference["test"]["loss"] == result["test"]["loss"]


def test_per_channel_normalisation_applies_to_train_and_test_alike(data_dir):
    mean, std = (0.5, 0.25, 0.125), (0.5, 0.25, 2.0)
    plain = data.load("tfds", dataset="jaxdl_fixed_images", data_dir=data_dir)
    for budget in (4096, 0):  # decoded, and read on demand
        ds = data.load("tfds", dataset="jaxdl_fixed_images", data_dir=data_dir, mean=mean,
                       std=std, max_in_memory_mb=budget)
        for got, want in ((ds.x_train, plain.x_train), (ds.x_test, plain.x_test)):
            np.testing.assert_allclose(np.asarray(got), (want - np.float32(mean)) / np.float32(std),
                                       rtol=1e-6)
    with pytest.raises(ValueError, match=r"^std must be a number in \(0, inf\]"):
        data.load("tfds", dataset="jaxdl_fixed_images", data_dir=data_dir, std=(0.0,))
    with pytest.raises(ValueError, match=r"^mean \(0.5, 0.5\): one value, or one per channel"):
        data.load("tfds", dataset="jaxdl_fixed_images", data_dir=data_dir, mean=(0.5, 0.5))
