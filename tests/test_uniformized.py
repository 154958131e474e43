"""The uniformised series of mmlib._uniformized against dense and 60-digit exponentials."""
import math

import mpmath
import numpy as np
import pytest
import scipy.linalg as sla

from mmlib import ModelParams, default_rho0
from mmlib import _uniformized as U
from conftest import dense_w_generator


def _crowd(p, n_steps, skew, seed):
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, n_steps + 1)
    avg_a = 1 / p.k + 0.3 * np.sin(3 * t) + 0.2 * rng.standard_normal() + skew * (1 - t)
    avg_b = 1 / p.k - 0.2 * np.cos(2 * t) - skew * (1 - t)
    return avg_a, avg_b


def _dense_reference(p, n_steps, avg_a, avg_b, rho0):
    """log w by scipy's expm per step (written out by hand), rho by the Doob transform."""
    h = p.T / n_steps
    w = np.exp(-p.k * p.gamma * p.x**2)
    Ps, ws = [], [w]
    for i in range(n_steps - 1, -1, -1):
        M = dense_w_generator(p, p.A * np.exp(p.k * avg_a[i]), p.A * np.exp(p.k * avg_b[i]))
        P = sla.expm(h * M)
        w = P @ w
        Ps.append(P)
        ws.append(w)
    ws, Ps = ws[::-1], Ps[::-1]
    rho = [rho0]
    for i in range(n_steps):
        Q = Ps[i] * ws[i + 1][None, :] / ws[i][:, None]
        rho.append(rho[-1] @ Q)
    return np.log(np.array(ws)), np.array(rho)


@pytest.mark.parametrize("skew", [0.0, 3.0])
@pytest.mark.parametrize("params", [
    dict(A=1.0, k=1.5, eta=0.01, gamma=0.1, T=10.0, x_max=6),
    dict(A=5.0, k=0.5, eta=0.1, gamma=0.0, T=2.0, x_max=5),
    dict(A=0.2, k=3.0, eta=0.0, gamma=0.5, T=1.0, x_max=4),
])
def test_sweep_matches_dense_exponentials(params, skew):
    p = ModelParams(**params)
    n_steps = 40
    avg_a, avg_b = _crowd(p, n_steps, skew, seed=3)
    rho0 = default_rho0(p.x_max, 1.0, sd=1.5)
    lw, rho, terms, logstep = U.solve_given_crowd(p, n_steps, avg_a, avg_b, rho0)
    lw_ref, rho_ref = _dense_reference(p, n_steps, avg_a, avg_b, rho0)
    np.testing.assert_allclose(lw, lw_ref, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(rho, rho_ref, rtol=0, atol=1e-12)
    np.testing.assert_allclose(rho.sum(axis=1), 1.0, rtol=0, atol=1e-13)
    assert not logstep.any() and terms.min() >= 1


def test_steep_terminal_runs_in_log_space_and_matches_60_digits():
    """k gamma x_max^2 = 1350 e-folds (the dashboard's steepest corner): w at T - h spans
    far beyond floating point, and the first step runs in log space. Reference: the
    step's matrix exponential applied to w_T in 60-digit arithmetic."""
    p = ModelParams(A=0.2, k=3.0, eta=0.1, gamma=0.5, T=1.0, x_max=30)
    n_steps = 500
    avg = np.full(n_steps + 1, 1 / p.k)
    lw, rho, terms, logstep = U.solve_given_crowd(p, n_steps, avg, avg, default_rho0(30, 10.0))
    assert logstep[-1] and not logstep[0]
    assert lw[-1].max() - lw[-1].min() > U.LINEAR_SPAN
    mpmath.mp.dps = 60
    h = p.T / n_steps
    M = mpmath.matrix(dense_w_generator(p, p.A * math.exp(p.k * avg[-2]),
                                        p.A * math.exp(p.k * avg[-2])).tolist())
    wT = mpmath.matrix([mpmath.exp(-p.k * p.gamma * mpmath.mpf(int(x)) ** 2) for x in p.x])
    w = mpmath.expm(M * h) * wT
    ref = np.array([float(mpmath.log(w[i])) for i in range(p.n_states)])
    np.testing.assert_allclose(lw[-2], ref, rtol=1e-13, atol=1e-13)  # w to ~1e-13 relative
    assert np.all(np.isfinite(lw)) and np.all(np.isfinite(rho))
    np.testing.assert_allclose(rho.sum(axis=1), 1.0, rtol=0, atol=1e-11)


@pytest.mark.parametrize("r", [0.01, 0.3, 1.0, 7.5, 40.0])
def test_tail_bound_bounds_the_exponential_tail(r):
    """The bound on sum_{j>m} r^j/j! against the tail summed in 50-digit arithmetic."""
    mpmath.mp.dps = 50
    for m in range(int(r) + 1, int(r) + 40):
        exact = mpmath.nsum(lambda j: mpmath.mpf(r) ** j / mpmath.factorial(j), [m + 1, mpmath.inf])
        bound = U._log_tail(r, m)
        assert bound >= float(mpmath.log(exact)) - 1e-12
        if m >= 2 * r:  # and tight, within a factor 2, once the terms halve each step
            assert bound <= float(mpmath.log(exact)) + math.log(2.0) + 1e-12
    if r >= 2:
        assert U._log_tail(r, int(r) - 2) == np.inf  # no geometric bound while terms grow


def test_cut_leaves_out_less_than_an_ulp_per_entry():
    """The same step with 30 more terms than the bound chose: every entry agrees to an ulp
    or two, even at entries 1e-40 times the largest and below."""
    p = ModelParams(A=1.0, k=1.5, eta=0.05, gamma=0.2, T=20.0, x_max=25)
    x = p.x.astype(float)
    h = 0.04
    c = p.k * p.eta * p.x_max**2
    dg = h * (c - p.k * p.eta * x**2)
    v = np.exp(-p.k * p.gamma * x**2 - (-p.k * p.gamma * x**2).max())
    S, t, t2 = v.copy(), np.zeros(v.size + 2), np.zeros(v.size + 2)  # padded work buffers
    m = U._series_lin(h * 0.6, dg, h * 0.6, S, t, t2, 1, math.log(U.TOL), False)
    S2 = v.copy()
    U._series_lin(h * 0.6, dg, h * 0.6, S2, t, t2, m + 30, math.log(U.TOL), True)
    assert S.min() < 1e-40 * S.max()
    np.testing.assert_allclose(S, S2, rtol=4 * U.TOL * m, atol=0)


def test_next_term_count_is_the_smallest_sufficient_one():
    """The bisection of _next_target against a scan of every count from m to 2m + 8: 0 when m
    terms suffice, else the smallest sufficient count, else 2m + 8."""
    log_tol = math.log(U.TOL)

    def scan(r, beta, gap, m):
        for j in range(m, 2 * m + 9):
            if U._log_tail(r, j) <= log_tol or U._log_tail(beta, j) + gap <= log_tol:
                return 0 if j == m else j
        return 2 * m + 8

    rng = np.random.default_rng(3)
    for _ in range(3000):
        r = float(rng.choice([0.0, 10.0 ** rng.uniform(-3, 2.5)]))
        beta = float(10.0 ** rng.uniform(-3, 2.5))
        gap = float(rng.uniform(0, 800))
        m = int(rng.integers(1, max(r, beta) + 60))  # around the rates: every outcome occurs
        assert U._next_target(r, beta, gap, m, log_tol) == scan(r, beta, gap, m), (r, beta, gap, m)


@pytest.mark.parametrize("seed", range(12))
def test_cut_bounds_the_exact_tail_at_every_entry(seed):
    """Where the series is cut, the terms left out, summed in 40-digit arithmetic, are at most
    TOL times the partial sum at every entry: rates from calm to a dumping boundary, and
    vectors spanning up to 500 e-folds (the linear steps' range)."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(2, 40))
    g = float(10.0 ** rng.uniform(-3, 1.3))
    dg = rng.uniform(0, 10.0 ** rng.uniform(-2, 1.3), n)
    dg[[0, -1]] = 0.0 if seed % 2 else dg[[0, -1]]  # the grid's ends have no diagonal
    span = rng.uniform(0, 500)
    v = np.exp(-span * np.linspace(-1, 1, n) ** 2 * rng.uniform(0.2, 1))
    S, t, t2 = v.copy(), np.zeros(n + 2), np.zeros(n + 2)
    m = U._series_lin(g, dg, g, S, t, t2, 1, math.log(U.TOL), False)
    mpmath.mp.dps = 40
    term = [mpmath.mpf(float(a)) for a in v]
    partial = list(term)
    tail = [mpmath.mpf(0)] * n
    for j in range(1, m + 400):
        term = [(dg[x] * term[x] + (g * term[x - 1] if x else 0)
                 + (g * term[x + 1] if x + 1 < n else 0)) / j for x in range(n)]
        dest = partial if j <= m else tail
        for x in range(n):
            dest[x] += term[x]
        if j > m + 20 and max(term[x] / partial[x] for x in range(n)) < mpmath.mpf(10) ** -35:
            break
    worst = max(float(tail[x] / partial[x]) for x in range(n))
    assert worst <= U.TOL, (m, worst)
    np.testing.assert_allclose(S, [float(a) for a in partial], rtol=4 * U.TOL * m, atol=0)


def test_series_refuses_unpadded_buffers():
    v = np.ones(5)
    with pytest.raises(ValueError, match="S.size \\+ 2"):
        U._series_lin(0.1, np.ones(5), 0.1, v, np.zeros(5), np.zeros(7), 1, math.log(U.TOL), False)
