"""The streaming input pipeline (`jaxdl.data.stream`) against the on-device path.

    python -m bench.input_pipeline            # ~8 min on 2 CPU cores; BENCHMARKS.md section 8
    python -m bench.input_pipeline --quick    # smoke run (< 3 min): fewer steps and images
    python -m bench --report-only             # BENCHMARKS.md again, section 8 included

Three measurements, each in a fresh worker process (its own grain workers, its own peak
memory), printed as the markdown of BENCHMARKS.md's section 8 and saved into
runs/bench/results.json as section `input_pipeline`:

1. **images/s of the stream** for `Stream.batches` alone (no training), batch 128:
   CIFAR-shaped uint8 images (32x32x3, in memory) with `crop_flip`, and images of
   varying size (48 to 96 pixels a side, PNG in tfds' ArrayRecord files, decoded and
   resized to 64x64 on the host: `data.image_size`) with `resized_crop_flip`; with 0
   grain workers (threads of the main process), 1 and 2. Per host core = images/s over
   the worker processes (the main process only stacks and places the batches). The
   on-device path's row draws the same batches and views inside one jitted scan
   (`pipeline.batch_at` + `ssl.augmentation`) on this machine's CPU device.
2. **the fraction of a ResNet step spent waiting for input**: jaxdl's ResNet (the
   CIFAR-shaped default, bench/resnet_mfu.py) trained on streamed CIFAR-shaped images with
   crop_flip and 1 worker: time in `Stream.batches` over the wall time of the chunks.
3. **peak host memory while streaming datasets 4.6x and 9.2x the budget**: 12,000 and
   24,000 32x32x3 images on disk (147 and 295 MB decoded as float32) with
   `max_in_memory_mb` = `device_budget_mb` = 32; a 300-step run of the MLP, 0 workers,
   each in its own process. Peak resident memory (ru_maxrss) against the budget: the
   part that does not grow with the dataset (jax, the compiled programs, the readers'
   buffers) is the constant; what grows with the dataset is the difference of the two.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

RESULTS = "runs/bench/results.json"


def _png(image: np.ndarray) -> bytes:
    import io
    from PIL import Image
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def prepare(data_dir: str, class_name: str, n: int, shape, size_of) -> None:
    """A tfds dataset of `n` random images (ArrayRecord files, as `tfds build` writes them)."""
    import tensorflow_datasets as tfds

    def _info(self):
        return tfds.core.DatasetInfo(builder=self, supervised_keys=("image", "label"),
                                     features=tfds.features.FeaturesDict({
                                         "image": tfds.features.Image(shape=shape),
                                         "label": tfds.features.ClassLabel(num_classes=10)}))

    def _split_generators(self, dl_manager):
        return {"train": self._generate_examples(0, n), "test": self._generate_examples(n, 256)}

    def _generate_examples(self, first, count):
        for i in range(first, first + count):
            rng = np.random.default_rng(i)
            yield i, {"image": _png(rng.integers(0, 256, (*size_of(i), 3), dtype=np.uint8)),
                      "label": i % 10}

    builder = type(class_name, (tfds.core.GeneratorBasedBuilder,),
                   {"VERSION": tfds.core.Version("1.0.0"), "_info": _info,
                    "_split_generators": _split_generators,
                    "_generate_examples": _generate_examples}, skip_registration=True)
    builder(data_dir=data_dir, file_format="array_record").download_and_prepare()


# ---------------------------------------------------------------- workers (fresh processes)

def _views(name: str):
    from jaxdl import config as config_lib
    from jaxdl.models import ssl
    a = config_lib.default().augment
    a.name = name
    return ssl.views_of(a)


def _sharding():
    import jax
    from jax.sharding import NamedSharding, PartitionSpec as P
    return NamedSharding(jax.make_mesh((1, 1), ("data", "fsdp")), P(None, ("data", "fsdp")))


def throughput(kind: str, workers: int, steps: int, data_dir: str) -> dict:
    """images/s of `Stream.batches` (kind: cifar | varied) with `workers` grain workers."""
    from jaxdl import data, rng
    from jaxdl.data import stream
    from jaxdl.models import ssl
    if kind == "cifar":
        x = np.random.default_rng(0).integers(0, 256, (20000, 32, 32, 3), dtype=np.uint8)
        y = np.arange(len(x), dtype=np.int32) % 10
        views = _views("crop_flip")
    else:
        ds = data.load("tfds", dataset="bench_varied_images", data_dir=data_dir, image_size=64,
                       max_in_memory_mb=0)
        x, y, views = ds.x_train, ds.y_train, _views("resized_crop_flip")
    feed = stream.Stream(x, y, 128, _sharding(), workers=workers, prefetch=64,
                         augment=ssl.HostViews(views))
    root, chunk = rng.root_key(0), 10
    feed.batches(root, 0, chunk)  # warm-up: workers started, views compiled
    began = time.perf_counter()
    for start in range(chunk, chunk + steps, chunk):
        xs, _ = feed.batches(root, start, chunk)
        xs.block_until_ready()
    seconds = time.perf_counter() - began
    feed.close()
    return {"images_per_s": steps * 128 / seconds, "workers": workers}


def device_throughput(kind: str, steps: int) -> dict:
    """images/s of the on-device path: the batches and views of `steps` steps in one
    jitted scan over a training set held on the (CPU) device."""
    import jax
    import jax.numpy as jnp
    from jaxdl import rng
    from jaxdl.data import pipeline
    from jaxdl.models import ssl
    side, name = (32, "crop_flip") if kind == "cifar" else (64, "resized_crop_flip")
    n = 20000 if kind == "cifar" else 4000
    x = np.random.default_rng(0).random((n, side, side, 3), dtype=np.float32)
    data = pipeline.DeviceData(jnp.asarray(x), jnp.asarray(np.arange(n, dtype=np.int32) % 10))
    aug, root = ssl.augmentation(_views(name)), rng.root_key(0)
    data_key = rng.purpose_key(root, rng.DATA_ORDER)

    @jax.jit
    def chunk(first):
        def body(total, step):
            xb, _ = pipeline.batch_at(data, data_key, step, 128)
            views = aug(rng.step_key(root, rng.AUGMENT, step), xb)
            return total + views.sum(), None
        return jax.lax.scan(body, 0.0, first + jnp.arange(10))[0]

    chunk(0).block_until_ready()
    began = time.perf_counter()
    for start in range(10, 10 + steps, 10):
        chunk(start).block_until_ready()
    return {"images_per_s": steps * 128 / (time.perf_counter() - began), "workers": None}


def resnet_wait(steps: int) -> dict:
    """The fraction of a streamed ResNet run's wall time spent in `Stream.batches`."""
    from jaxdl import config as config_lib
    from jaxdl import data, rng
    from jaxdl.data import stream
    from jaxdl.training import build as build_lib

    @data.register("bench_cifar_shaped")
    def load(n: int = 10000) -> data.Dataset:
        g = np.random.default_rng(0)
        x = g.random((n, 32, 32, 3), dtype=np.float32)
        return data.Dataset(x, (np.arange(n) % 10).astype(np.int32), x[:256],
                            (np.arange(256) % 10).astype(np.int32), 10, "bench_cifar_shaped")

    c = config_lib.load(None, ["data.name=bench_cifar_shaped", "model.name=resnet",
                               "data.placement=stream", "augment.name=crop_flip",
                               "batch_size=128", f"steps={steps + 5}", "eval_every=0",
                               "execution=loop"])
    run = build_lib.build(c)
    feed = stream.Stream(run.dataset.x_train, run.dataset.y_train, 128,
                         run.placement.eval_batches(), workers=1, prefetch=32,
                         augment=build_lib.host_views(c))
    state = run.init(rng.root_key(0))
    state, m = run.streamed_chunk(state, feed.batches(state.key, 0, 5), 5)  # compile
    jax_block(state)
    feed.waited_s, began = 0.0, time.perf_counter()
    for _ in range(steps // 5):
        state, m = run.streamed_chunk(state, feed.batches(state.key, int(state.step), 5), 5)
        jax_block(m)
    wall = time.perf_counter() - began
    feed.close()
    return {"wait_fraction": feed.waited_s / wall, "wall_s": wall, "steps": steps,
            "step_s": wall / steps}


def jax_block(tree) -> None:
    import jax
    jax.block_until_ready(tree)


def peak_memory(data_dir: str, dataset: str, steps: int) -> dict:
    """Peak RSS of a streamed run over `dataset`, with a 32 MB budget."""
    import resource
    import jaxdl
    from jaxdl import config as config_lib
    from jaxdl import data
    from jaxdl.training import build as build_lib
    c = config_lib.load(None, ["data.name=tfds", f"data.dataset={dataset}",
                               f"data.data_dir={data_dir}", "data.max_in_memory_mb=32",
                               "data.device_budget_mb=32", "data.workers=0",
                               "model.name=mlp", "batch_size=128", f"steps={steps}",
                               "eval_every=0", "checkpoint_every=0", "eval_train_examples=256",
                               "data.max_test=256"])
    run = build_lib.build(c)
    decoded = data.stream.nbytes(run.dataset.x_train, run.dataset.y_train)
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with tempfile.TemporaryDirectory() as workdir:
        result = jaxdl.train(run, workdir, progress=False)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"placement": run.input_placement, "dataset_mb": decoded / 2 ** 20,
            "budget_mb": 32, "before_mb": kib / 1024, "peak_mb": peak / 1024,
            "growth_mb": (peak - kib) / 1024, "steps": result["step"]}


def _in_worker(call: str, *args) -> dict:
    """`call(*args)` of this module in a fresh Python process: its own memory and workers."""
    code = (f"import json, bench.input_pipeline as b; "
            f"print('RESULT ' + json.dumps(b.{call}(*{args!r})))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=1800)
    if out.returncode:
        raise RuntimeError(f"{call}{args}: {out.stderr[-2000:]}")
    return json.loads(out.stdout.split("RESULT ")[-1])


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer steps and images (smoke run)")
    args = parser.parse_args(argv)
    from bench import common
    steps = 20 if args.quick else 100
    t0, load_start = time.perf_counter(), common.load_average()
    results = {"machine": f"{common.cpu_model()}, {os.cpu_count()} cores",
               "started": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "rows": []}
    with tempfile.TemporaryDirectory() as data_dir:
        prepare(data_dir, "BenchVariedImages", 600 if args.quick else 3000, (None, None, 3),
                lambda i: (48 + (7 * i) % 49, 48 + (13 * i) % 49))
        for name, n in (("BenchMemoryImages", 3000 if args.quick else 12000),
                        ("BenchMemoryImagesTwice", 6000 if args.quick else 24000)):
            prepare(data_dir, name, n, (32, 32, 3), lambda i: (32, 32))
        for kind in ("cifar", "varied"):
            for workers in (0, 1, 2):
                row = _in_worker("throughput", kind, workers, steps, data_dir)
                results["rows"].append({"kind": kind, "path": "stream", **row})
                print(results["rows"][-1], flush=True)
            row = _in_worker("device_throughput", kind, steps)
            results["rows"].append({"kind": kind, "path": "device", **row})
            print(results["rows"][-1], flush=True)
        results["resnet"] = _in_worker("resnet_wait", 10 if args.quick else 40)
        print(results["resnet"], flush=True)
        results["memory"] = [_in_worker("peak_memory", data_dir, name, 100 if args.quick else 300)
                             for name in ("bench_memory_images", "bench_memory_images_twice")]
        print(results["memory"], flush=True)
    common.save_section(RESULTS, "input_pipeline", {
        "data": results, "command": "python -m bench.input_pipeline" + (" --quick" if args.quick else ""),
        "repeats": 1, "quick": args.quick, "started": time.strftime("%Y-%m-%d %H:%M"),
        "minutes": (time.perf_counter() - t0) / 60, "load_start": load_start,
        "load_end": common.load_average(), "source": common.source_version()})
    print(render(results))


def render(results: dict) -> str:
    """The markdown of BENCHMARKS.md's input pipeline section."""
    names = {"cifar": "CIFAR-shaped 32x32x3 uint8, crop_flip",
             "varied": "48-96 px PNG (ArrayRecord), resized to 64, resized_crop_flip"}
    lines = ["| images | path | grain workers | images/s | images/s per worker core |",
             "|---|---|---|---|---|"]
    for r in results["rows"]:
        per_core = (f"{r['images_per_s'] / r['workers']:,.0f}" if r["workers"] else "–")
        workers = "–" if r["workers"] is None else r["workers"]
        lines.append(f"| {names[r['kind']]} | {r['path']} | {workers} | "
                     f"{r['images_per_s']:,.0f} | {per_core} |")
    w, (m, m2) = results["resnet"], results["memory"]
    lines += ["", f"ResNet (CIFAR-shaped, batch 128, streamed with crop_flip, 1 worker): "
                  f"{100 * w['wait_fraction']:.2f}% of {w['wall_s']:.1f} s waiting for input "
                  f"({w['steps']} steps, {w['step_s'] * 1000:.0f} ms a step).",
              "", f"Peak host memory streaming (placement {m['placement']}, {m['steps']} steps, "
                  f"{m['budget_mb']} MB budget): {m['peak_mb']:.0f} MB for {m['dataset_mb']:.0f} MB "
                  f"of data ({m['dataset_mb'] / m['budget_mb']:.1f}x the budget), "
                  f"{m2['peak_mb']:.0f} MB for {m2['dataset_mb']:.0f} MB "
                  f"({m2['dataset_mb'] / m2['budget_mb']:.1f}x): doubling the data moved the peak by "
                  f"{m2['peak_mb'] - m['peak_mb']:+.0f} MB. (Before the data is touched: "
                  f"{m['before_mb']:.0f} MB.)"]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
