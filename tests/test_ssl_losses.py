"""Self-supervised losses against values computed by hand (numpy, explicit loops)."""
import math

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from jaxdl import losses

RNG = np.random.default_rng(0)
Z1 = RNG.normal(size=(3, 4)).astype(np.float32)
Z2 = RNG.normal(size=(3, 4)).astype(np.float32)


def cos(a, b):
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


# --- NT-Xent --------------------------------------------------------------------------

def nt_xent_by_hand(z1, z2, t):
    u = list(z1) + list(z2)
    n, total = len(z1), 0.0
    for i in range(2 * n):
        positive = (i + n) % (2 * n)
        denominator = sum(math.exp(cos(u[i], u[j]) / t) for j in range(2 * n) if j != i)
        total += -math.log(math.exp(cos(u[i], u[positive]) / t) / denominator)
    return total / (2 * n)


@pytest.mark.parametrize("t", [0.1, 0.5, 1.0])
def test_nt_xent_by_hand(t):
    np.testing.assert_allclose(losses.nt_xent(Z1, Z2, t), nt_xent_by_hand(Z1, Z2, t), rtol=1e-5)


def test_nt_xent_closed_form_and_invariances():
    e = np.eye(2, dtype=np.float32)
    # views agree, the two examples are orthogonal: each anchor sees cos 1 (positive),
    # 0 and 0 (negatives): loss = log(e + 2) - 1 at T = 1
    np.testing.assert_allclose(losses.nt_xent(e, e, 1.0), math.log(math.e + 2) - 1, rtol=1e-6)
    # cosine similarity: rescaling an embedding changes nothing
    np.testing.assert_allclose(losses.nt_xent(3 * Z1, Z2 * np.array([[1], [5], [0.1]]), 0.5),
                               losses.nt_xent(Z1, Z2, 0.5), rtol=1e-5)
    # swapping the views is a relabelling of the anchors
    np.testing.assert_allclose(losses.nt_xent(Z2, Z1, 0.5), losses.nt_xent(Z1, Z2, 0.5), rtol=1e-6)
    # aligned positives: a lower temperature is more confident
    assert float(losses.nt_xent(e, e, 0.1)) < float(losses.nt_xent(e, e, 1.0))


def test_nt_xent_gradient_is_finite():
    grad = jax.grad(lambda z: losses.nt_xent(z, Z2, 0.5))(jnp.asarray(Z1))
    assert np.all(np.isfinite(grad)) and np.abs(grad).sum() > 0  # the -inf diagonal is masked


def info_nce_by_hand(z1, z2, t):
    n, total = len(z1), 0.0
    for i in range(n):
        denominator = sum(math.exp(cos(z1[i], z2[j]) / t) for j in range(n))
        total += -math.log(math.exp(cos(z1[i], z2[i]) / t) / denominator)
    return total / n


@pytest.mark.parametrize("t", [0.1, 0.5])
def test_info_nce_by_hand_and_its_difference_from_nt_xent(t):
    np.testing.assert_allclose(losses.info_nce(Z1, Z2, t), info_nce_by_hand(Z1, Z2, t), rtol=1e-5)
    e = np.eye(2, dtype=np.float32)
    # views agree, the examples are orthogonal: view 1's anchor sees cos 1 (positive) and 0
    # (the other example's view 2) only, log(e + 1) - 1 at T = 1 (NT-Xent: log(e + 2) - 1)
    np.testing.assert_allclose(losses.info_nce(e, e, 1.0), math.log(math.e + 1) - 1, rtol=1e-6)
    assert not np.isclose(float(losses.info_nce(Z2, Z1, t)), float(losses.info_nce(Z1, Z2, t)))


# --- BYOL ---------------------------------------------------------------------------------

def test_byol_loss_by_hand_and_known_cases():
    expected = np.mean([2 - 2 * cos(p, z) for p, z in zip(Z1, Z2)])
    np.testing.assert_allclose(losses.byol_loss(Z1, Z2), expected, rtol=1e-5)
    e = np.eye(2, dtype=np.float32)
    assert float(losses.byol_loss(e, 4 * e)) == pytest.approx(0.0, abs=1e-6)   # same direction
    assert float(losses.byol_loss(e, -e)) == pytest.approx(4.0, abs=1e-6)      # opposite
    assert float(losses.byol_loss(e, e[::-1])) == pytest.approx(2.0, abs=1e-6)  # orthogonal


def test_byol_target_gets_no_gradient():
    g_p, g_z = jax.grad(losses.byol_loss, argnums=(0, 1))(jnp.asarray(Z1), jnp.asarray(Z2))
    assert np.abs(g_p).sum() > 0
    np.testing.assert_array_equal(g_z, np.zeros_like(Z2))


def test_ema_update_by_hand():
    target = {"w": jnp.array([1.0, 2.0]), "b": jnp.array(0.0)}
    online = {"w": jnp.array([3.0, 0.0]), "b": jnp.array(10.0)}
    out = losses.ema_update(target, online, 0.9)
    np.testing.assert_allclose(out["w"], [0.9 * 1 + 0.1 * 3, 0.9 * 2], rtol=1e-6)
    np.testing.assert_allclose(out["b"], 1.0, rtol=1e-6)


def test_byol_momentum_schedule():
    assert float(losses.byol_momentum(0, 100, 0.996)) == pytest.approx(0.996)
    assert float(losses.byol_momentum(50, 100, 0.996)) == pytest.approx(0.998)  # halfway
    assert float(losses.byol_momentum(100, 100, 0.996)) == pytest.approx(1.0)
    k = 25  # 1 - 0.004 (cos(pi/4) + 1) / 2
    expected = 1 - 0.004 * (math.cos(math.pi / 4) + 1) / 2
    assert float(losses.byol_momentum(jnp.asarray(k), 100, 0.996)) == pytest.approx(expected, abs=1e-7)


# --- VICReg ---------------------------------------------------------------------------------

def vicreg_by_hand(z1, z2, gamma=1.0, eps=1e-4):
    n, d = z1.shape
    invariance = sum((z1[i, j] - z2[i, j]) ** 2 for i in range(n) for j in range(d)) / (n * d)
    variance = covariance = 0.0
    for z in (z1, z2):
        mean = [sum(z[i, j] for i in range(n)) / n for j in range(d)]
        cov = [[sum((z[i, a] - mean[a]) * (z[i, b] - mean[b]) for i in range(n)) / (n - 1)
                for b in range(d)] for a in range(d)]
        variance += sum(max(0.0, gamma - math.sqrt(cov[j][j] + eps)) for j in range(d)) / d / 2
        covariance += sum(cov[a][b] ** 2 for a in range(d) for b in range(d) if a != b) / d
    return invariance, variance, covariance


def test_vicreg_by_hand():
    small = 0.3 * Z2  # std below 1: the variance hinge is active
    inv, var, cov = vicreg_by_hand(Z1.astype(float), small.astype(float))
    terms = losses.vicreg_terms(Z1, small)
    np.testing.assert_allclose([terms["invariance"], terms["variance"], terms["covariance"]],
                               [inv, var, cov], rtol=1e-5)
    assert var > 0
    np.testing.assert_allclose(losses.vicreg_loss(Z1, small, 25.0, 25.0, 1.0),
                               25 * inv + 25 * var + cov, rtol=1e-5)
    np.testing.assert_allclose(losses.vicreg_loss(Z1, small, 2.0, 3.0, 5.0),
                               2 * inv + 3 * var + 5 * cov, rtol=1e-5)


def test_vicreg_known_cases():
    # identical views: no invariance term
    assert float(losses.vicreg_terms(Z1, Z1)["invariance"]) == 0.0
    # +-2 in orthogonal patterns: std > 1 in every dimension and zero covariance
    z = np.array([[2, 2], [-2, 2], [2, -2], [-2, -2]], np.float32)
    terms = losses.vicreg_terms(z, z)
    assert float(terms["variance"]) == 0.0 and float(terms["covariance"]) == 0.0
    # collapse (every embedding equal): the variance term is at its maximum gamma
    collapsed = np.ones((4, 3), np.float32)
    np.testing.assert_allclose(losses.vicreg_terms(collapsed, collapsed)["variance"],
                               2 * (1 - math.sqrt(1e-4)) / 2, rtol=1e-5)


# --- Barlow Twins -----------------------------------------------------------------------------

def barlow_by_hand(z1, z2, lambd, eps=1e-5):
    n, d = z1.shape

    def standardized(z):
        mean = [sum(z[i, j] for i in range(n)) / n for j in range(d)]
        var = [sum((z[i, j] - mean[j]) ** 2 for i in range(n)) / n for j in range(d)]
        return [[(z[i, j] - mean[j]) / math.sqrt(var[j] + eps) for j in range(d)] for i in range(n)]

    a, b = standardized(z1), standardized(z2)
    c = [[sum(a[i][p] * b[i][q] for i in range(n)) / n for q in range(d)] for p in range(d)]
    return sum((1 - c[p][p]) ** 2 for p in range(d)) + \
        lambd * sum(c[p][q] ** 2 for p in range(d) for q in range(d) if p != q)


@pytest.mark.parametrize("lambd", [5e-3, 1.0])
def test_barlow_twins_by_hand(lambd):
    z2 = Z2 + 0.5 * Z1  # correlated views
    np.testing.assert_allclose(losses.barlow_twins_loss(Z1, z2, lambd),
                               barlow_by_hand(Z1.astype(float), z2.astype(float), lambd), rtol=1e-5)


def test_barlow_twins_known_cases():
    # identical views with uncorrelated dimensions: C = I / (1 + eps), so the loss is ~0
    z = np.array([[1, 1], [-1, 1], [1, -1], [-1, -1]], np.float32)
    assert float(losses.barlow_twins_loss(z, z, 1.0)) == pytest.approx(2 * (1e-5 / (1 + 1e-5)) ** 2, abs=1e-9)
    # two identical dimensions: C = [[1, 1], [1, 1]], off-diagonal costs lambd * 2
    redundant = np.array([[1, 1], [-1, -1], [2, 2], [-2, -2]], np.float32)
    assert float(losses.barlow_twins_loss(redundant, redundant, 0.5)) == pytest.approx(1.0, abs=1e-4)


# --- masked reconstruction ----------------------------------------------------------------------

def test_masked_reconstruction_by_hand():
    pred = jnp.array([[1.0, 2.0, 3.0, 4.0]])
    mask = jnp.array([[1, 0, 1, 0]])
    # only entries 0 and 2 count: (1 + 9) / 2
    assert float(losses.masked_reconstruction_loss(pred, jnp.zeros_like(pred), mask)) == 5.0
    assert float(losses.masked_reconstruction_loss(pred, jnp.zeros_like(pred), 0 * mask)) == 0.0
    # a (B, L) mask covers every channel of (B, L, C)
    pred3 = jnp.stack([pred, 2 * pred], axis=-1)  # channels (1,2,3,4) and (2,4,6,8)
    got = losses.masked_reconstruction_loss(pred3, jnp.zeros_like(pred3), mask.astype(bool))
    assert float(got) == pytest.approx((1 + 9 + 4 + 36) / 4)


def test_segment_mask_by_hand():
    key = jax.random.PRNGKey(3)
    mask = np.asarray(losses.segment_mask(key, 20, 3, 4))
    starts = np.asarray(jax.random.randint(key, (3, 1), 0, 17))[:, 0]
    expected = np.zeros(20, bool)
    for s in starts:
        expected[s:s + 4] = True
    np.testing.assert_array_equal(mask, expected)
    one = np.asarray(losses.segment_mask(key, 20, 1, 5))
    assert one.sum() == 5 and np.all(np.diff(np.flatnonzero(one)) == 1)  # one contiguous run
    many = jax.vmap(lambda k: losses.segment_mask(k, 20, 2, 3))(jax.random.split(key, 50))
    assert 3 <= many.sum(1).min() and many.sum(1).max() <= 6
    assert not np.all(many == many[0])  # per-example keys, per-example masks


def test_patch_mask():
    mask = np.asarray(losses.patch_mask(jax.random.PRNGKey(0), 8, 12, 4, 0.5))
    grid = mask[::4, ::4]
    assert grid.shape == (2, 3) and grid.sum() == 3  # round(0.5 * 6) patches, exactly
    np.testing.assert_array_equal(mask, np.kron(grid, np.ones((4, 4), bool)))
    assert losses.patch_mask(jax.random.PRNGKey(0), 8, 8, 2, 0.75).sum() == 12 * 4
    assert not np.array_equal(mask, losses.patch_mask(jax.random.PRNGKey(1), 8, 12, 4, 0.5))
    with pytest.raises(ValueError, match="patch must divide"):
        losses.patch_mask(jax.random.PRNGKey(0), 8, 12, 5, 0.5)
    with pytest.raises(ValueError, match="segment_len must be in"):
        losses.segment_mask(jax.random.PRNGKey(0), 10, 2, 11)
