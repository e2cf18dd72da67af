"""config.histograms: activation, gradient and param histograms in the TensorBoard
events, at every eval step, with the values of the state at that step."""
import glob
import struct

import jax
import numpy as np
import pytest
from tensorboard.compat.proto import event_pb2

from jaxdl import config as config_lib
from jaxdl.training import checkpoint, loop


def read_events(workdir):
    """Every Event in the run's TensorBoard files (TFRecord: length, crc, data, crc)."""
    events = []
    for path in sorted(glob.glob(f"{workdir}/events.out.tfevents.*")):
        data = open(path, "rb").read()
        i = 0
        while i < len(data):
            (length,) = struct.unpack("<Q", data[i:i + 8])
            events.append(event_pb2.Event.FromString(data[i + 12:i + 12 + length]))
            i += 12 + length + 4
    return events


def test_histograms_are_logged_with_the_states_values(tmp_path):
    c = config_lib.default()
    c.model = config_lib.named_section("model", "mlp")
    c.steps, c.eval_every, c.checkpoint_every, c.chunk_size = 20, 10, 20, 10
    c.histograms = True
    loop.train(c, str(tmp_path), progress=False)
    histos = {(e.step, v.tag): v.histo for e in read_events(tmp_path) for v in e.summary.value
              if v.HasField("histo")}
    tags = {tag for _, tag in histos}
    assert {"activations/Dense_0", "activations/Dense_2", "gradients/Dense_0/kernel",
            "params/Dense_0/kernel", "params/Dense_2/bias"} <= tags
    assert {step for step, _ in histos} == {10, 20}
    ckpt = checkpoint.Checkpoints(f"{tmp_path}/checkpoints", read_only=True)
    state, _, _ = ckpt.restore_latest(None)
    kernel = np.asarray(jax.device_get(state["params"]["Dense_0"]["kernel"]))
    h = histos[(20, "params/Dense_0/kernel")]
    assert h.num == kernel.size and h.sum == pytest.approx(float(kernel.sum()), rel=1e-5, abs=1e-5)
    assert h.min == pytest.approx(float(kernel.min())) and h.max == pytest.approx(float(kernel.max()))
    g = histos[(20, "gradients/Dense_0/kernel")]
    assert g.num == kernel.size and g.max > g.min  # a real, nonzero gradient
    assert histos[(20, "activations/Dense_2")].num == 256 * 10  # probe batch x logits


def test_histograms_off_by_default_and_free_on_resume():
    from jaxdl.training import resume
    assert config_lib.default().histograms is False
    a = config_lib.default().to_dict()
    b = dict(a, histograms=True)
    assert resume.config_changes(a, b) == {}
