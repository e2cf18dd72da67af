"""The data source `modular` (jaxdl/data/modular.py): every op's labels, the split as a
partition of the table, the same seed giving the same split, bad options refused."""
import numpy as np
import pytest

from jaxdl import data
from jaxdl.data import modular


def decode(ds: data.Dataset, p: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(a, b, c) of every example, train then test, read back from the one-hots."""
    x = np.concatenate([ds.x_train, ds.x_test])
    assert x.dtype == np.float32 and x.shape[1] == 2 * p
    assert np.all(x.sum(axis=1) == 2) and np.all(x[:, :p].sum(axis=1) == 1)
    return x[:, :p].argmax(1), x[:, p:].argmax(1), np.concatenate([ds.y_train, ds.y_test])


@pytest.mark.parametrize("operation", modular.OPERATIONS)
def test_labels_are_the_operation_mod_p(operation: str) -> None:
    p = 7
    ds = data.load("modular", p=p, operation=operation, train_fraction=0.4, seed=1)
    a, b, c = decode(ds, p)
    assert ds.num_classes == p and ds.y_train.dtype == np.int32
    # Each label checked by the operation's definition, not by the module's formula.
    for ai, bi, ci in zip(a, b, c):
        if operation == "div":
            assert (ci * bi) % p == ai  # c = a / b  <=>  c · b = a
        else:
            expected = {"add": ai + bi, "sub": ai - bi, "mul": ai * bi}[operation]
            assert ci == expected % p
    expected_pairs = p * (p - 1) if operation == "div" else p * p
    assert len(c) == expected_pairs


def test_the_split_is_a_partition_of_the_table() -> None:
    p, fraction = 11, 0.3
    ds = data.load("modular", p=p, train_fraction=fraction, seed=5)
    a, b, _ = decode(ds, p)
    pairs = a * p + b
    assert len(set(pairs)) == len(pairs) == p * p  # every pair exactly once
    assert len(ds.y_train) == round(fraction * p * p)
    division = data.load("modular", p=p, operation="div", train_fraction=fraction, seed=5)
    a, b, _ = decode(division, p)
    assert len(set(a * p + b)) == p * (p - 1) and not np.any(b == 0)


def test_the_same_seed_gives_the_same_split_and_splits_are_nested() -> None:
    options = dict(p=13, operation="sub", train_fraction=0.5)
    first, again = data.load("modular", **options, seed=3), data.load("modular", **options, seed=3)
    other = data.load("modular", **options, seed=4)
    for name in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(first, name), getattr(again, name))
    assert not np.array_equal(first.x_train, other.x_train)
    # One permutation cut at the fraction: a smaller training set is inside a larger one.
    smaller = data.load("modular", **{**options, "train_fraction": 0.2}, seed=3)
    train = {tuple(row) for row in first.x_train.astype(int)}
    assert all(tuple(row) in train for row in smaller.x_train.astype(int))


@pytest.mark.parametrize("options, key", [
    ({"p": 1}, "p"), ({"p": 2.0}, "p"), ({"p": modular.MAX_P + 1}, "p"), ({"p": True}, "p"),
    ({"p": 12, "operation": "div"}, "p"), ({"p": 9, "operation": "mul"}, "p"),
    ({"operation": "pow"}, "operation"), ({"operation": ""}, "operation"),
    ({"train_fraction": 0.0}, "train_fraction"), ({"train_fraction": 1.0}, "train_fraction"),
    ({"train_fraction": float("nan")}, "train_fraction"),
    ({"p": 2, "train_fraction": 0.01}, "train_fraction"),  # no training pair left
    ({"seed": -1}, "seed"),
])
def test_bad_options_are_refused_in_one_line(options: dict, key: str) -> None:
    with pytest.raises(ValueError, match=rf"^{key} must") as error:
        data.load("modular", **options)
    assert "\n" not in str(error.value)


def test_add_and_sub_need_no_prime() -> None:
    assert data.load("modular", p=12, operation="add").num_classes == 12
    assert modular.is_prime(97) and not modular.is_prime(91) and not modular.is_prime(1)
