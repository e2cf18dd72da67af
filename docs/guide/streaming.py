"""Train on a dataset that stays on disk: a .npy file read batch by batch (docs/guide/streaming.md).

    python docs/guide/streaming.py RUN_DIR
    # -> "streamed: 60 steps, the same test loss as the device path: 1.81..." (the loss
    #    differs by machine; the two runs agree with each other to the bit)
"""
import os
import sys

import numpy as np

import jaxdl


@jaxdl.data.register("npy_images")
def load(directory: str = "", test_examples: int = 200) -> jaxdl.data.Dataset:
    """Images and labels saved as .npy files, memory-mapped: nothing is read until a batch
    asks for its rows (a grain worker maps the file again in its own process)."""
    x = np.load(os.path.join(directory, "x.npy"), mmap_mode="r")
    y = np.load(os.path.join(directory, "y.npy"), mmap_mode="r")
    return jaxdl.data.Dataset(x_train=x, y_train=y,
                              x_test=np.asarray(x[:test_examples]),
                              y_test=np.asarray(y[:test_examples]), num_classes=10,
                              name="npy_images")


def write_example_files(directory: str, n: int = 2000) -> None:
    """Random CIFAR-shaped images whose label is their brightest channel's quadrant."""
    rng = np.random.default_rng(0)
    x = rng.random((n, 16, 16, 3), dtype=np.float32)
    y = (x.mean(axis=(1, 2)).argmax(-1) * 3 + (x[:, :8].mean(axis=(1, 2, 3)) > 0.5)).astype(np.int32)
    np.save(os.path.join(directory, "x.npy"), x)
    np.save(os.path.join(directory, "y.npy"), y)


def train(directory: str, workdir: str, placement: str) -> dict:
    config = jaxdl.config.load(None, [
        "data.name=npy_images", f"data.directory={directory}",
        f"data.placement={placement}",  # stream: read on the host, batch by batch
        "data.workers=2",               # grain worker processes that read (and crop, flip)
        "augment.name=crop_flip", "augment.padding=2",
        "model.name=cnn2d", "model.channels=(8,)", "model.kernel_sizes=(3,)",
        "steps=60", "batch_size=50", "eval_every=0", "checkpoint_every=0", "chunk_size=20"])
    return jaxdl.train(config, workdir, progress=False)


if __name__ == "__main__":  # grain's workers import this file again: train only here
    run_dir = sys.argv[1]
    os.makedirs(run_dir, exist_ok=True)
    write_example_files(run_dir)
    streamed = train(run_dir, os.path.join(run_dir, "stream"), "stream")
    on_device = train(run_dir, os.path.join(run_dir, "device"), "device")
    assert streamed["test"]["loss"] == on_device["test"]["loss"], (streamed, on_device)
    print(f"streamed: {streamed['step']} steps, the same test loss as the device path: "
          f"{streamed['test']['loss']:.4f}")
