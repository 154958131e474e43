"""Tests of mmlib.queue_position against independent truths.

* without cancellations: the race of two Poisson streams, in closed form;
* a small case solved as an absorbing continuous-time Markov chain with a dense linear solve;
* Monte Carlo with its standard error.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from mmlib.queue_position import queue_fill_stats, simulate_queue


def absorbing_ctmc(n, mu, nu, theta):
    """Fill probability, E[tau 1_fill] and E[tau] from the generator of the ahead count.

    Transient states j = 0..n; absorbing 'fill' and 'away'. Solve (-Q_TT) h = Q_T,fill for
    the absorption probability and (-Q_TT) t = 1 for the expected absorption time.
    """
    m = n + 1
    QTT = np.zeros((m, m))
    to_fill, to_away = np.zeros(m), np.zeros(m)
    for j in range(m):
        down = mu[j] + j * theta[j]
        QTT[j, j] = -(down + nu[j])
        to_away[j] = nu[j]
        if j == 0:
            to_fill[j] = mu[j]
        else:
            QTT[j, j - 1] = down
    M = -QTT
    h = np.linalg.solve(M, to_fill)
    t = np.linalg.solve(M, np.ones(m))
    # E[tau 1_fill] solves M e = h (first-step analysis with the h-weighted clock)
    e = np.linalg.solve(M, h)
    return h, e, t


@pytest.mark.parametrize("mu,nu", [(1.0, 1.0), (2.0, 0.5), (0.3, 1.7)])
def test_no_cancellation_is_a_race_of_two_poisson_streams(mu, nu):
    n = np.arange(12)
    p = mu / (mu + nu)
    st = queue_fill_stats(11, mu, nu)
    assert_allclose(st.fill_prob, p ** (n + 1), rtol=1e-13)
    assert_allclose(st.time_to_fill, (n + 1) / (mu + nu), rtol=1e-13)
    assert_allclose(st.time_to_resolution, (1 - p ** (n + 1)) / nu, rtol=1e-12)
    assert_allclose(st.effective_intensity, nu * p ** (n + 1) / (1 - p ** (n + 1)), rtol=1e-12)


def test_small_case_against_absorbing_chain():
    n = 6
    mu = np.array([1.0, 1.2, 0.9, 0.8, 0.8, 0.7, 0.6])  # queue-reactive
    nu = np.array([0.5, 0.4, 0.6, 0.3, 0.3, 0.2, 0.2])
    theta = np.array([0.0, 0.3, 0.2, 0.2, 0.1, 0.1, 0.05])
    h, e, t = absorbing_ctmc(n, mu, nu, theta)
    st = queue_fill_stats(n, mu, nu, theta)
    assert_allclose(st.fill_prob, h, rtol=1e-12)
    assert_allclose(st.time_to_fill, e / h, rtol=1e-12)
    assert_allclose(st.time_to_resolution, t, rtol=1e-12)


@pytest.mark.parametrize("n", [0, 3, 8])
def test_monte_carlo_within_error_bars(n):
    mu, nu, theta = 1.0, 0.4, 0.15
    st = queue_fill_stats(n, mu, nu, theta)
    sim = simulate_queue(n, mu, nu, theta, n_paths=40_000, rng=n)
    p = sim.filled.mean()
    assert abs(p - st.fill_prob[n]) < 4 * np.sqrt(p * (1 - p) / sim.filled.size)
    tf = sim.time[sim.filled]
    assert abs(tf.mean() - st.time_to_fill[n]) < 4 * tf.std(ddof=1) / np.sqrt(tf.size)
    assert abs(sim.time.mean() - st.time_to_resolution[n]) < 4 * sim.time.std(ddof=1) / np.sqrt(sim.time.size)


def test_exponential_iff_constant_depletion_ratio():
    n = 40
    j = np.arange(n + 1)
    # queue-reactive price moves proportional to the depletion rate: exactly geometric
    mu, theta = 1.0, 0.2
    nu = 0.5 * (mu + j * theta)
    P = queue_fill_stats(n, mu, nu, theta).fill_prob
    assert_allclose(P[1:] / P[:-1], 1 / 1.5, rtol=1e-12)
    # constant price-move rate with cancellations: the ratio rises towards 1 (power-law tail)
    P = queue_fill_stats(8000, mu, 0.5, theta).fill_prob
    ratio = P[1:] / P[:-1]
    assert np.all(np.diff(ratio) > 0)
    # tail exponent: log P_n = -(nu/theta) log n + O(1), local slope -(nu/theta)/(1 + (mu+nu)/(n theta))
    slope = np.log(P[8000] / P[4000]) / np.log(2.0)
    assert abs(slope + 0.5 / 0.2) < 0.01


def test_reproducible():
    a = simulate_queue(4, 1.0, 0.5, 0.1, n_paths=500, rng=9)
    b = simulate_queue(4, 1.0, 0.5, 0.1, n_paths=500, rng=9)
    assert np.array_equal(a.time, b.time) and np.array_equal(a.filled, b.filled)


def test_bad_input():
    with pytest.raises(ValueError, match="mu"):
        queue_fill_stats(3, 0.0, 1.0)
    with pytest.raises(ValueError, match="nu"):
        queue_fill_stats(3, 1.0, [1.0, 1.0])
    with pytest.raises(ValueError, match="theta"):
        queue_fill_stats(3, 1.0, 1.0, -0.1)
    with pytest.raises(ValueError, match="n_max"):
        queue_fill_stats(-1, 1.0, 1.0)
    with pytest.raises(ValueError, match="n_paths"):
        simulate_queue(2, 1.0, 1.0, n_paths=0)
    with pytest.raises(ValueError, match="n "):
        simulate_queue(-2, 1.0, 1.0)


def test_vectorised_simulation_matches_plain_loop():
    """The vectorised kernel equals a plain event-by-event loop over the same draws."""
    n, n_paths, mu, nu, theta = 4, 50, 1.0, 0.5, 0.2
    sim = simulate_queue(n, mu, nu, theta, n_paths=n_paths, rng=13)
    rng = np.random.default_rng(13)
    e = rng.standard_exponential((n + 1, n_paths))
    u = rng.random((n + 1, n_paths))
    for p in range(n_paths):
        t, filled = 0.0, False
        for step, j in enumerate(range(n, -1, -1)):
            d = mu + j * theta
            t += e[step, p] / (d + nu)
            if u[step, p] >= d / (d + nu):
                break  # the price moved away
            if j == 0:
                filled = True
        assert sim.filled[p] == filled
        assert sim.time[p] == pytest.approx(t, rel=1e-12)
