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


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--warmup", type=int, default=100, help="steps left out of the steady-state timing")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="also print one JSON line of timings")
    args = p.parse_args(argv)

    from jaxdl import data as data_lib
    t_data = time.perf_counter()
    ds = data_lib.load("mnist1d")
    x_train, y_train = torch.from_numpy(ds.x_train.copy()), torch.from_numpy(ds.y_train.copy()).long()
    x_test, y_test = torch.from_numpy(ds.x_test.copy()), torch.from_numpy(ds.y_test.copy()).long()
    t_data = time.perf_counter() - t_data

    torch.manual_seed(args.seed)
    model = CNN() if args.model == "cnn" else MLP()
    lecun_init(model)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2, betas=(0.9, 0.999), eps=1e-8)
    loss_fn = nn.CrossEntropyLoss()
    batch, n = 100, len(x_train)
    steps_per_epoch = n // batch

    t_train = time.perf_counter()
    steady, steady_steps, t_eval = 0.0, 0, 0.0
    model.train()
    t_seg = time.perf_counter()
    for step in range(args.steps):
        if step % steps_per_epoch == 0:
            perm = torch.randperm(n)
        idx = perm[(step % steps_per_epoch) * batch:(step % steps_per_epoch + 1) * batch]
        xb, yb = x_train[idx], y_train[idx]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(xb), yb)
        loss.backward()
        opt.step()
        if step + 1 == args.warmup:
            t_seg = time.perf_counter()
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            now = time.perf_counter()
            if step + 1 > args.warmup:
                steady += now - t_seg
                steady_steps += step + 1 - max(args.warmup, step + 1 - args.eval_every)
            model.eval()
            train_acc, _ = evaluate(model, x_train, y_train)
            test_acc, test_loss = evaluate(model, x_test, y_test)
            model.train()
            t_seg = time.perf_counter()
            t_eval += t_seg - now
    t_train = time.perf_counter() - t_train
    print(f"test accuracy {test_acc:.4f}, test loss {test_loss:.4f} after {args.steps} steps "
          f"({t_train:.1f} s)", flush=True)
    timings = {"steps_per_s": steady_steps / steady, "train_s": t_train, "eval_s": t_eval,
               "data_s": t_data, "startup_s": time.perf_counter() - T_START - t_train,
               "test_accuracy": test_acc, "threads": torch.get_num_threads()}
    if args.json:
        print("BENCH " + json.dumps(timings), flush=True)
    return timings


if __name__ == "__main__":
    main()
