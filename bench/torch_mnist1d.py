"""The MNIST-1D recipes as an idiomatic PyTorch eager script (the peer jaxdl is measured against).

    python -m bench.torch_mnist1d --model cnn        # prints test accuracy, like `jaxdl train`
    python -m bench.torch_mnist1d --model mlp --json # ... plus one JSON line of timings

Same data (`jaxdl.data.load('mnist1d')`: 4000 train / 1000 test), same models
(CNN: 3 conv layers of 25 channels, kernels 5/3/3, stride 2, padding 1, ReLU,
linear head; MLP: 40-100-100-10 with a residual second layer), same init
(LeCun normal, zero bias), same optimizer (Adam 1e-2, eps 1e-8), batch 100,
6000 steps, a fresh permutation per epoch (the remainder dropped), evaluation
on the train set and the test set every 1000 steps, as `jaxdl train` does.
Written the way a PyTorch user writes it: `nn.Module`, `torch.optim.Adam`,
`zero_grad / backward / step`, tensors indexed by a `randperm` batch.
"""
from __future__ import annotations

import argparse
import json
import math
import time

T_START = time.perf_counter()

import torch  # noqa: E402
from torch import nn  # noqa: E402


class CNN(nn.Module):
    def __init__(self, channels: int = 25, num_outputs: int = 10):
        super().__init__()
        self.conv1 = nn.Conv1d(1, channels, 5, stride=2, padding=1)
        self.conv2 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.conv3 = nn.Conv1d(channels, channels, 3, stride=2, padding=1)
        self.head = nn.Linear(channels * 5, num_outputs)

    def forward(self, x):
        h = x.unsqueeze(1)
        h = torch.relu(self.conv1(h))
        h = torch.relu(self.conv2(h))
        h = torch.relu(self.conv3(h))
        return self.head(h.flatten(1))


class MLP(nn.Module):
    def __init__(self, width: int = 100, num_outputs: int = 10):
        super().__init__()
        self.fc1 = nn.Linear(40, width)
        self.fc2 = nn.Linear(width, width)
        self.head = nn.Linear(width, num_outputs)

    def forward(self, x):
        h = torch.relu(self.fc1(x))
        h = h + torch.relu(self.fc2(h))
        return self.head(h)


def lecun_init(model: nn.Module) -> None:
    """LeCun normal weights and zero biases, as jaxdl's default `weight_init='lecun'`."""
    for m in model.modules():
        if isinstance(m, (nn.Conv1d, nn.Linear)):
            fan_in = m.weight[0].numel()
            nn.init.normal_(m.weight, std=1.0 / math.sqrt(fan_in))
            nn.init.zeros_(m.bias)


@torch.no_grad()
def evaluate(model, x, y, batch_size: int = 1000):
    correct, loss = 0.0, 0.0
    for i in range(0, len(x), batch_size):
        out = model(x[i:i + batch_size])
        loss += nn.functional.cross_entropy(out, y[i:i + batch_size], reduction="sum").item()
        correct += (out.argmax(1) == y[i:i + batch_size]).sum().item()
    return correct / len(x), loss / len(x)


def setup(model_name: str, seed: int = 0, threads: int = 0):
    from jaxdl import data as data_lib
    if threads:
        torch.set_num_threads(threads)
    ds = data_lib.load("mnist1d")
    arrays = [torch.from_numpy(a.copy()) for a in (ds.x_train, ds.y_train, ds.x_test, ds.y_test)]
    arrays[1], arrays[3] = arrays[1].long(), arrays[3].long()
    torch.manual_seed(seed)
    model = CNN() if model_name == "cnn" else MLP()
    lecun_init(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    return arrays, model, opt


def train_steps(model, opt, x_train, y_train, start: int, count: int, perm=None):
    """Steps start..start+count-1; a fresh permutation at each epoch start."""
    loss_fn = nn.CrossEntropyLoss()
    batch, n = 100, len(x_train)
    steps_per_epoch = n // batch
    model.train()
    if perm is None:
        perm = torch.randperm(n)
    for step in range(start, start + count):
        if step % steps_per_epoch == 0:
            perm = torch.randperm(n)
        idx = perm[(step % steps_per_epoch) * batch:(step % steps_per_epoch + 1) * batch]
        xb, yb = x_train[idx], y_train[idx]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
    return perm


def window_steps_per_s(model_name: str, warmup: int, window: int, windows: int = 1,
                       threads: int = 0) -> dict:
    """Steady-state steps/s: the median of `windows` timed windows of `window` steps
    after `warmup` steps."""
    import statistics
    (x_train, y_train, _, _), model, opt = setup(model_name, threads=threads)
    perm = train_steps(model, opt, x_train, y_train, 0, warmup)
    rates, step = [], warmup
    for _ in range(windows):
        t = time.perf_counter()
        perm = train_steps(model, opt, x_train, y_train, step, window, perm)
        rates.append(window / (time.perf_counter() - t))
        step += window
    return {"steps_per_s": statistics.median(rates), "rates": rates,
            "threads": torch.get_num_threads()}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (0: torch's default)")
    p.add_argument("--json", action="store_true", help="also print one JSON line of timings")
    args = p.parse_args(argv)  # MNIST-1D from jaxdl's disk cache ($JAXDL_DATA_CACHE)

    (x_train, y_train, x_test, y_test), model, opt = setup(args.model, args.seed, args.threads)
    t_train = time.perf_counter()
    perm = None
    for start in range(0, args.steps, args.eval_every):
        count = min(args.eval_every, args.steps - start)
        perm = train_steps(model, opt, x_train, y_train, start, count, perm)
        model.eval()
        train_acc, _ = evaluate(model, x_train, y_train)
        test_acc, test_loss = evaluate(model, x_test, y_test)
    t_train = time.perf_counter() - t_train
    print(f"test accuracy {test_acc:.4f}, test loss {test_loss:.4f} after {args.steps} steps "
          f"({t_train:.1f} s)", flush=True)
    timings = {"train_s": t_train, "startup_s": time.perf_counter() - T_START - t_train,
               "test_accuracy": test_acc, "threads": torch.get_num_threads()}
    if args.json:
        print("BENCH " + json.dumps(timings), flush=True)
    return timings


if __name__ == "__main__":
    main()
