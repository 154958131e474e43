"""Tests of mmlib.avellaneda_stoikov against independently derived truths.

* Closed forms: the indifference prices of the frozen-inventory CARA value
  function, found by root finding, and the optimal distance to them, found by
  brute-force maximisation.
* GLFT exact: a stiff ODE solve (scipy Radau with analytic Jacobian) of the
  linear system, and of its logarithm in an extreme regime.
* GLFT asymptotics: the Perron eigenvector of the system matrix, and the
  closed form far from the bounds.
"""
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numpy.testing import assert_allclose
from scipy.integrate import solve_ivp
from scipy.linalg import eigh
from scipy.optimize import brentq, minimize_scalar

from mmlib.avellaneda_stoikov import (
    ASParams,
    article_params,
    as_depths,
    as_quotes,
    compare_quotes,
    glft_asymptotic_depths,
    glft_coefficients,
    optimal_spread,
    reservation_price,
    solve_glft,
)
from mmlib.hjb import solve_hjb

PAPER = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)


# ---------------------------------------------------------------------------
# independent helpers
# ---------------------------------------------------------------------------
def frozen_utility(x_cash, s, q, tau, p):
    """CARA value of holding q shares and x_cash to the horizon with no trading."""
    psi = p.risk_aversion
    return -math.exp(-psi * x_cash) * math.exp(-psi * q * s) * math.exp(
        0.5 * psi**2 * q**2 * p.sigma**2 * tau)


def indifference_prices(s, q, tau, p):
    """Bid and ask indifference prices by root finding on the frozen utility."""
    u0 = frozen_utility(0.0, s, q, tau, p)
    rb = brentq(lambda r: frozen_utility(-r, s, q + 1, tau, p) - u0, s - 50, s + 50, xtol=1e-13)
    ra = brentq(lambda r: frozen_utility(r, s, q - 1, tau, p) - u0, s - 50, s + 50, xtol=1e-13)
    return rb, ra


def best_distance(p):
    """argmax_d e^{-k d} (1 - e^{-psi d}): the optimal distance to the indifference price."""
    res = minimize_scalar(lambda d: -math.exp(-p.k * d) * (1 - math.exp(-p.risk_aversion * d)),
                          bounds=(1e-9, 50.0), method="bounded", options={"xatol": 1e-12})
    return res.x


def glft_matrix(p, Q):
    alpha, beta = glft_coefficients(p)
    x = np.arange(-Q, Q + 1.0)
    return -alpha * np.diag(x**2) + beta * (np.eye(x.size, k=1) + np.eye(x.size, k=-1))


def glft_ode_v(p, Q, taus):
    """v(T - tau) by DOP853 (explicit Runge-Kutta, order 8) on dv/dtau = N v, v(0) = 1.

    Pure relative accuracy (atol = 1e-300), as the log of v is compared. At the paper's values
    N's eigenvalues lie in about [-103, 96], so over T = 1 an explicit method is efficient:
    8.5k evaluations, where Radau took 211k (8 s) for the same accuracy."""
    N = glft_matrix(p, Q)
    sol = solve_ivp(lambda _, v: N @ v, (0.0, taus.max()), np.ones(2 * Q + 1),
                    method="DOP853", t_eval=taus, rtol=1e-13, atol=1e-300)
    assert sol.success
    return sol.y.T


def glft_ode_logv(p, Q, taus):
    """log v by Radau on the nonlinear ODE for y = log v, analytic Jacobian."""
    alpha, beta = glft_coefficients(p)
    x = np.arange(-Q, Q + 1.0)
    n = x.size

    def f(_, y):
        out = -alpha * x**2
        out[1:] += beta * np.exp(y[:-1] - y[1:])
        out[:-1] += beta * np.exp(y[1:] - y[:-1])
        return out

    def jac(_, y):
        J = np.zeros((n, n))
        lo = beta * np.exp(y[:-1] - y[1:])  # d f_i / d y_{i-1} for i >= 1
        up = beta * np.exp(y[1:] - y[:-1])  # d f_i / d y_{i+1} for i <= n-2
        J[np.arange(1, n), np.arange(n - 1)] = lo
        J[np.arange(n - 1), np.arange(1, n)] = up
        d = np.zeros(n)
        d[1:] -= lo
        d[:-1] -= up
        J[np.arange(n), np.arange(n)] = d
        return J

    sol = solve_ivp(f, (0.0, taus.max()), np.zeros(n), method="Radau", jac=jac,
                    t_eval=taus, rtol=1e-12, atol=1e-10)
    assert sol.success
    return sol.y.T


# ---------------------------------------------------------------------------
# closed forms
# ---------------------------------------------------------------------------
def test_reservation_price_by_hand():
    # 100 - 3 * 0.1 * 2^2 * (1 - 0.5) = 99.4
    assert_allclose(reservation_price(100.0, 3, 0.5, PAPER), 99.4, rtol=0, atol=1e-13)
    assert_allclose(reservation_price(100.0, 0, 0.0, PAPER), 100.0, rtol=0, atol=0)


def test_spread_by_hand():
    expected = 0.1 * 4.0 * 1.0 + 2.0 / 0.1 * math.log(1.0 + 0.1 / 1.5)
    assert_allclose(optimal_spread(0.0, PAPER), expected, rtol=1e-14)
    assert_allclose(optimal_spread(1.0, PAPER), 20.0 * math.log(16.0 / 15.0), rtol=1e-14)


@pytest.mark.parametrize("q", [-4, -1, 0, 2, 7])
@pytest.mark.parametrize("t", [0.0, 0.3, 0.9])
def test_quotes_from_indifference_prices(q, t):
    """AS quotes = indifference prices shifted by the brute-force optimal distance."""
    p = PAPER.replace(risk_aversion=0.5)
    s = 100.0
    rb, ra = indifference_prices(s, q, p.T - t, p)
    d = best_distance(p)
    bid, ask = as_quotes(s, q, t, p)
    assert_allclose(bid, rb - d, atol=1e-7)
    assert_allclose(ask, ra + d, atol=1e-7)
    assert_allclose(reservation_price(s, q, t, p), 0.5 * (rb + ra), atol=1e-9)


def test_depths_consistent_with_quotes():
    x = np.arange(-5, 6)
    bid, ask = as_quotes(100.0, x, 0.25, PAPER)
    db, da = as_depths(x, 0.25, PAPER)
    assert_allclose(100.0 - bid, db, atol=1e-12)
    assert_allclose(ask - 100.0, da, atol=1e-12)


def test_small_risk_aversion_limit():
    p = PAPER.replace(risk_aversion=1e-9)
    assert_allclose(p.half_spread_const, 1.0 / p.k, rtol=1e-8)


# ---------------------------------------------------------------------------
# GLFT exact
# ---------------------------------------------------------------------------
def test_glft_coefficients_by_hand():
    alpha, beta = glft_coefficients(PAPER)
    assert_allclose(alpha, 1.5 * 0.1 * 4.0 / 2.0, rtol=1e-14)
    assert_allclose(beta, 140.0 * (1 + 0.1 / 1.5) ** (-(1 + 1.5 / 0.1)), rtol=1e-13)


def test_glft_against_an_ode_solve_of_the_linear_system():
    Q, n_steps = 8, 40
    sol = solve_glft(PAPER, Q, n_steps)
    taus = PAPER.T - sol.t[::-1]
    v = glft_ode_v(PAPER, Q, taus)[::-1]
    assert_allclose(sol.log_v, np.log(v), rtol=0, atol=1e-9)


def test_glft_extreme_regime_against_log_ode():
    """v spans ~e^-5000: only a log-space solver survives; compare with Radau on log v."""
    p = ASParams(sigma=10.0, A=5.0, k=1.0, risk_aversion=1.0, T=1.0)
    Q = 10
    alpha, _ = glft_coefficients(p)
    assert alpha * Q**2 * p.T >= 5000
    sol = solve_glft(p, Q, 20)
    assert np.all(np.isfinite(sol.log_v))
    taus = p.T - sol.t[::-1]
    y = glft_ode_logv(p, Q, taus)[::-1]
    assert_allclose(sol.log_v, y, rtol=1e-8, atol=1e-7)
    # the quotes themselves, which need differences of log v
    db_ode = p.half_spread_const + (y[:, :-1] - y[:, 1:]) / p.k
    assert_allclose(sol.delta_b[:, :-1], db_ode, rtol=1e-8, atol=1e-7)


def test_glft_terminal_quotes_and_nan_sides():
    sol = solve_glft(PAPER, 4, 10)
    c = PAPER.half_spread_const
    assert_allclose(sol.delta_b[-1, :-1], c, atol=1e-14)
    assert np.isnan(sol.delta_b[:, -1]).all() and np.isnan(sol.delta_a[:, 0]).all()


@settings(max_examples=25, deadline=None)
@given(psi=st.floats(0.01, 2.0), sigma=st.floats(0.1, 5.0), Q=st.integers(1, 12))
def test_glft_symmetry_and_monotonicity(psi, sigma, Q):
    p = ASParams(sigma=sigma, A=50.0, k=1.5, risk_aversion=psi, T=2.0)
    sol = solve_glft(p, Q, 8)
    # delta_b(t, x) = delta_a(t, -x)
    assert_allclose(sol.delta_b[:, :-1], sol.delta_a[:, :0:-1], rtol=1e-9, atol=1e-9)
    # the bid deepens as inventory grows
    assert np.all(np.diff(sol.delta_b[:, :-1], axis=1) >= -1e-9)


# ---------------------------------------------------------------------------
# asymptotics and expansions
# ---------------------------------------------------------------------------
def test_glft_large_T_converges_to_perron_vector():
    p = PAPER.replace(T=40.0)
    Q = 12
    sol = solve_glft(p, Q, 40)
    w, V = eigh(glft_matrix(p, Q))
    f = np.abs(V[:, -1])  # ground state, positive by Perron-Frobenius
    db_inf = p.half_spread_const + np.log(f[:-1] / f[1:]) / p.k
    assert_allclose(sol.delta_b[0, :-1], db_inf, atol=1e-9)


def test_glft_asymptotic_closed_form_against_exact():
    """Far from the bounds and with sqrt(alpha/beta) small, the Gaussian ansatz is accurate."""
    p = PAPER.replace(T=40.0)
    alpha, beta = glft_coefficients(p)
    c = math.sqrt(alpha / beta)
    assert c < 0.1
    Q = 60
    sol = solve_glft(p, Q, 10)
    x = np.arange(-4, 5)
    db_exact = sol.delta_b[0, x + Q]
    db_asym, da_asym = glft_asymptotic_depths(x, p)
    slope = c / p.k
    # the error of the ansatz is O(c^2) relative to the inventory term
    assert_allclose(db_exact, db_asym, atol=0.05 * slope)
    assert_allclose(sol.delta_a[0, x + Q], da_asym, atol=0.05 * slope)


TAUS = np.array([2e-3, 1e-3, 5e-4])  # small against 1/beta ~ 0.02, the rate of fills


def test_as_is_first_order_expansion_of_glft_near_T():
    """delta_GLFT - delta_AS = o(T-t) away from the bounds (in fact O((T-t)^3)).

    The second-order terms of log v_x do not depend on x in the interior, so
    they cancel in the quotes, which are differences of log v.
    """
    Q = 8
    x = np.arange(-Q + 3, Q - 2)
    errs = []
    for tau in TAUS:
        p = PAPER.replace(T=tau)
        sol = solve_glft(p, Q, 1)
        db_as, da_as = as_depths(x, 0.0, p)
        errs.append(max(np.max(np.abs(sol.delta_b[0, x + Q] - db_as)),
                        np.max(np.abs(sol.delta_a[0, x + Q] - da_as))))
    errs = np.array(errs)
    assert np.all(errs < 0.05 * TAUS)  # much smaller than the first-order terms
    order = np.log2(errs[:-1] / errs[1:])
    assert np.all(order > 2.5), order


def test_article_bridge_reservation_price_near_T():
    """The article's model with eta = psi sigma^2 / 2 skews like AS, up to o(T-t)."""
    Q = 8
    x = np.arange(-Q + 3, Q - 2)
    errs = []
    for tau in TAUS:
        p = PAPER.replace(T=tau)
        h = solve_hjb(article_params(p, Q), 1)
        skew = 0.5 * (h.delta_a[0, x + Q] - h.delta_b[0, x + Q])  # r - s
        errs.append(np.max(np.abs(skew - reservation_price(0.0, x, 0.0, p))))
    errs = np.array(errs)
    assert np.all(errs < 0.05 * TAUS)
    assert np.all(np.log2(errs[:-1] / errs[1:]) > 2.5)


def test_glft_equals_article_with_rescaled_intensity():
    """Exact identity: GLFT quotes = article quotes with A' = e*beta, minus 1/k plus c."""
    Q = 5
    p = PAPER
    _, beta = glft_coefficients(p)
    m = article_params(p, Q).replace(A=math.e * beta)
    h = solve_hjb(m, 50)
    g = solve_glft(p, Q, 50)
    shift = p.half_spread_const - 1.0 / p.k
    assert_allclose(g.delta_b[:, :-1], h.delta_b[:, :-1] + shift, atol=1e-9)


def test_compare_quotes_keys_and_agreement_at_T():
    q = compare_quotes(PAPER, 5, 20, t=1.0)
    c = PAPER.half_spread_const
    assert_allclose(q["as"].bid, c, atol=1e-12)
    assert_allclose(q["glft"].bid[:-1], c, atol=1e-12)
    assert_allclose(q["article"].bid[:-1], 1.0 / PAPER.k, atol=1e-12)


# ---------------------------------------------------------------------------
# errors
# ---------------------------------------------------------------------------
def test_bad_inputs():
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        ASParams(sigma=-1.0, A=1.0, k=1.0, risk_aversion=0.1, T=1.0)
    with pytest.raises(ValueError, match="risk_aversion must be > 0"):
        ASParams(sigma=1.0, A=1.0, k=1.0, risk_aversion=0.0, T=1.0)
    with pytest.raises(ValueError, match=r"t must lie in \[0, T\]"):
        reservation_price(100.0, 0, 2.0, PAPER)
    with pytest.raises(ValueError, match="x_max must be an integer >= 1"):
        solve_glft(PAPER, 0, 10)
    with pytest.raises(ValueError, match="params must be an ASParams"):
        optimal_spread(0.0, "paper")
