"""The MNIST-1D recipes as a plain per-step flax + optax script (the usual JAX research loop).

    python -m bench.flax_loop --model cnn        # prints test accuracy, like `jaxdl train`
    python -m bench.flax_loop --model mlp --json # ... plus one JSON line of timings

What most JAX research scripts do: `jax.jit(train_step)` called once per step
on numpy batches cut on the host from a per-epoch `np.random.permutation`
(the loss is never read back between evaluations, so dispatch stays
asynchronous). Same data, models, init, optimizer, batch, steps and evaluation
schedule as `jaxdl train` and `bench/torch_mnist1d.py`.
"""
from __future__ import annotations

import argparse
import json
import time

T_START = time.perf_counter()

import flax.linen as nn  # noqa: E402
import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402

LECUN = nn.initializers.lecun_normal()


class CNN(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = x[..., None]
        for k in (5, 3, 3):
            h = nn.relu(nn.Conv(25, (k,), strides=(2,), padding=((1, 1),), kernel_init=LECUN)(h))
        return nn.Dense(10, kernel_init=LECUN)(h.reshape(h.shape[0], -1))


class MLP(nn.Module):
    @nn.compact
    def __call__(self, x):
        h = nn.relu(nn.Dense(100, kernel_init=LECUN)(x))
        h = h + nn.relu(nn.Dense(100, kernel_init=LECUN)(h))
        return nn.Dense(10, kernel_init=LECUN)(h)


def make_fns(model, tx):
    def loss_fn(params, x, y):
        logits = model.apply({"params": params}, x)
        return optax.softmax_cross_entropy_with_integer_labels(logits, y).mean()

    @jax.jit
    def train_step(params, opt_state, x, y):
        loss, grads = jax.value_and_grad(loss_fn)(params, x, y)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    @jax.jit
    def eval_step(params, x, y):
        logits = model.apply({"params": params}, x)
        loss = optax.softmax_cross_entropy_with_integer_labels(logits, y).sum()
        return (logits.argmax(-1) == y).sum(), loss

    return train_step, eval_step


def evaluate(eval_step, params, x, y, batch_size: int = 1000):
    correct, loss = 0, 0.0
    for i in range(0, len(x), batch_size):
        c, l = eval_step(params, x[i:i + batch_size], y[i:i + batch_size])
        correct, loss = correct + int(c), loss + float(l)
    return correct / len(x), loss / len(x)


def setup(model_name: str, seed: int = 0):
    from jaxdl import data as data_lib
    ds = data_lib.load("mnist1d")
    model = CNN() if model_name == "cnn" else MLP()
    tx = optax.adam(1e-2, b1=0.9, b2=0.999, eps=1e-8)
    params = model.init(jax.random.PRNGKey(seed), jnp.asarray(ds.x_train[:1]))["params"]
    return ds, model, tx, params


def window_steps_per_s(model_name: str, warmup: int, window: int, windows: int = 1) -> dict:
    """Steady-state steps/s: the median of `windows` timed windows of `window` steps
    after `warmup` steps (compilation happens in the warm-up)."""
    import statistics
    ds, model, tx, params = setup(model_name)
    train_step, _ = make_fns(model, tx)
    opt_state = tx.init(params)
    rng = np.random.default_rng(0)
    n, batch = len(ds.x_train), 100
    spe = n // batch
    perm = rng.permutation(n)

    def run(params, opt_state, perm, start, count):
        for step in range(start, start + count):
            if step % spe == 0:
                perm = rng.permutation(n)
            idx = perm[(step % spe) * batch:(step % spe + 1) * batch]
            params, opt_state, loss = train_step(params, opt_state, ds.x_train[idx], ds.y_train[idx])
        jax.block_until_ready(loss)
        return params, opt_state, perm

    params, opt_state, perm = run(params, opt_state, perm, 0, warmup)
    rates, step = [], warmup
    for _ in range(windows):
        t = time.perf_counter()
        params, opt_state, perm = run(params, opt_state, perm, step, window)
        rates.append(window / (time.perf_counter() - t))
        step += window
    return {"steps_per_s": statistics.median(rates), "rates": rates}


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model", choices=("cnn", "mlp"), default="cnn")
    p.add_argument("--steps", type=int, default=6000)
    p.add_argument("--eval-every", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="also print one JSON line of timings")
    args = p.parse_args(argv)  # MNIST-1D from jaxdl's disk cache ($JAXDL_DATA_CACHE)

    ds, model, tx, params = setup(args.model, args.seed)
    train_step, eval_step = make_fns(model, tx)
    opt_state = tx.init(params)
    rng = np.random.default_rng(args.seed)
    n, batch = len(ds.x_train), 100
    steps_per_epoch = n // batch

    t_train = time.perf_counter()
    for step in range(args.steps):
        if step % steps_per_epoch == 0:
            perm = rng.permutation(n)
        idx = perm[(step % steps_per_epoch) * batch:(step % steps_per_epoch + 1) * batch]
        params, opt_state, loss = train_step(params, opt_state, ds.x_train[idx], ds.y_train[idx])
        if (step + 1) % args.eval_every == 0 or step + 1 == args.steps:
            train_acc, _ = evaluate(eval_step, params, ds.x_train, ds.y_train)
            test_acc, test_loss = evaluate(eval_step, params, ds.x_test, ds.y_test)
    t_train = time.perf_counter() - t_train
    print(f"test accuracy {test_acc:.4f}, test loss {test_loss:.4f} after {args.steps} steps "
          f"({t_train:.1f} s)", flush=True)
    timings = {"train_s": t_train, "startup_s": time.perf_counter() - T_START - t_train,
               "test_accuracy": test_acc}
    if args.json:
        print("BENCH " + json.dumps(timings), flush=True)
    return timings


if __name__ == "__main__":
    main()
