import numpy as np
import pytest

from mmlib import ModelParams, default_rho0, evolve_population, simulate_inventory, solve_hjb
from mmlib import metrics


def test_average_quotes_by_hand_with_boundary_convention():
    da = np.array([[np.nan, 1.0, 3.0]])
    db = np.array([[2.0, 4.0, np.nan]])
    rho = np.array([[0.2, 0.3, 0.5]])
    b, a = metrics.average_quotes(db, da, rho)
    np.testing.assert_allclose(a, (0.3 * 1 + 0.5 * 3) / 0.8)
    np.testing.assert_allclose(b, (0.2 * 2 + 0.3 * 4) / 0.5)
    # nobody quotes the ask: fall back to the quote next to the boundary
    a = metrics.average_quotes(db, da, np.array([[1.0, 0.0, 0.0]])).ask
    np.testing.assert_allclose(a, 1.0)


def test_spread_and_skew():
    np.testing.assert_allclose(metrics.full_spread([1.0], [2.0]), [3.0])
    np.testing.assert_allclose(metrics.skew([1.0], [2.0]), [1.0])  # ask 2 minus bid 1


def test_moments_and_derisk_against_monte_carlo():
    p = ModelParams(A=1.0, k=1.0, eta=0.05, gamma=0.2, T=2.0, x_max=5)
    sol = solve_hjb(p, 40)
    rho = evolve_population(sol, default_rho0(p.x_max, sd=2.0))
    X = simulate_inventory(sol, default_rho0(p.x_max, sd=2.0), 50000, rng=3)[-1]
    n = X.size
    assert abs(metrics.inventory_mean(p.x, rho)[-1] - X.mean()) < 4 * X.std() / np.sqrt(n)
    var_se = X.var() * np.sqrt(2.0 / n) * 1.5  # generous for non-Gaussian kurtosis
    assert abs(metrics.inventory_variance(p.x, rho)[-1] - X.var()) < 4 * var_se
    pr = metrics.derisk_probability(p.x, rho, 1.5)[-1]
    ph = np.mean(np.abs(X) < 1.5)
    assert abs(pr - ph) < 4 * np.sqrt(pr * (1 - pr) / n)


@pytest.mark.parametrize("x,rho,mean,var", [
    # worked by hand: mass 1/2 at 0 and 1/2 at 2 -> mean 1, variance (1 + 1) / 2 = 1
    ([-1, 0, 1, 2], [0.0, 0.5, 0.0, 0.5], 1.0, 1.0),
    # 1/4 at 0, 3/4 at 2 -> mean 1.5, variance 0.25 * 1.5^2 + 0.75 * 0.5^2 = 0.75
    ([-1, 0, 1, 2], [0.0, 0.25, 0.0, 0.75], 1.5, 0.75),
    # all mass at x = 3: variance 0 although E[X^2] = 9
    ([1, 2, 3], [0.0, 0.0, 1.0], 3.0, 0.0),
    # 0.1 at -2, 0.9 at 1 -> mean 0.7, E[X^2] = 0.4 + 0.9 = 1.3, variance 1.3 - 0.49 = 0.81
    ([-2, -1, 0, 1], [0.1, 0.0, 0.0, 0.9], 0.7, 0.81),
])
def test_inventory_moments_off_centre_by_hand(x, rho, mean, var):
    rho2 = np.array([rho, rho[::-1]])  # two time rows; the second mirrors the masses
    np.testing.assert_allclose(metrics.inventory_mean(x, rho2)[0], mean, rtol=0, atol=1e-14)
    np.testing.assert_allclose(metrics.inventory_variance(x, rho2), [var, var], atol=1e-14)


def test_derisk_probability_off_centre_by_hand():
    x = [-2, -1, 0, 1, 2]
    rho = np.array([[0.1, 0.2, 0.3, 0.15, 0.25]])
    np.testing.assert_allclose(metrics.derisk_probability(x, rho, 0.5), [0.3])
    np.testing.assert_allclose(metrics.derisk_probability(x, rho, 1.5), [0.65])  # |x| <= 1
    np.testing.assert_allclose(metrics.derisk_probability(x, rho, 1.0), [0.3])  # strict <


def test_marginal_cost_is_the_central_difference():
    x = np.arange(-3, 4)
    V = -0.5 * x**2 + 0.25 * x
    np.testing.assert_allclose(metrics.marginal_cost(V[None, :]), [0.25])


def test_session_metrics_keys_and_shapes():
    p = ModelParams(A=1.0, k=1.0, eta=0.05, gamma=0.2, T=1.0, x_max=3)
    sol = solve_hjb(p, 10)
    m = metrics.session_metrics(sol, evolve_population(sol, default_rho0(p.x_max, sd=1.0)))
    assert set(m) == {"avg_delta_a", "avg_delta_b", "full_spread", "skew", "mean",
                      "variance", "derisk", "marginal_cost"}
    assert all(v.shape == (11,) for v in m.values())
    np.testing.assert_allclose(m["skew"], 0.0, atol=1e-12)  # symmetric crowd


def test_bad_eps():
    with pytest.raises(ValueError, match="eps"):
        metrics.derisk_probability([0.0], np.ones((1, 1)), 0.0)
