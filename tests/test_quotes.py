"""Tests of mmlib.quotes against independent truths: scipy's scalar optimiser,
dense eigenvectors from numpy, and the exact finite-horizon solver."""
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import optimize

from mmlib.hjb import optimal_quotes, solve_hjb
from mmlib.model import ModelParams
from mmlib.quotes import (
    brute_force_quotes,
    long_horizon_approximation,
    long_horizon_quotes,
    side_objective,
    urgency_threshold,
)

from conftest import dense_w_generator


def spectral_gap(p):
    lam = np.linalg.eigvalsh(dense_w_generator(p))
    return lam[-1] - lam[-2]


# --- the first-order condition -----------------------------------------------------
def test_brute_force_matches_closed_form_on_a_solved_value_function(moderate):
    sol = solve_hjb(moderate, n_steps=50)
    db, da = brute_force_quotes(sol.V, moderate.k)
    np.testing.assert_allclose(da, sol.delta_a, atol=1e-6)
    np.testing.assert_allclose(db, sol.delta_b, atol=1e-6)


def test_brute_force_matches_scipy_scalar_optimiser():
    rng = np.random.default_rng(0)
    dV = rng.normal(0.0, 1.0, 8)
    k = 1.7
    V = np.concatenate([[0.0], -np.cumsum(dV)])  # V(x-1) - V(x) = dV
    da = brute_force_quotes(V, k).ask
    for i, dv in enumerate(dV):
        res = optimize.minimize_scalar(lambda d: -side_objective(d, dv, 1.0, k),
                                       bounds=(-10 / k, 10 / k), method="bounded",
                                       options={"xatol": 1e-12})
        assert da[i + 1] == pytest.approx(res.x, abs=1e-6)


@settings(max_examples=50)
@given(dV=st.lists(st.floats(-3, 3), min_size=1, max_size=6), k=st.floats(0.2, 5),
       hi=st.floats(0.5, 5))
def test_clipped_maximiser_is_the_clipped_closed_form(dV, k, hi):
    """The objective is unimodal, so the maximiser over [0, hi] is clip(1/k - dV)."""
    V = np.concatenate([[0.0], -np.cumsum(dV)])
    db, da = brute_force_quotes(V, k, bounds=(0.0, hi))
    cb, ca = optimal_quotes(V, k, delta_bounds=(0.0, hi))
    np.testing.assert_allclose(da, ca, atol=1e-6 * max(1.0, hi))
    np.testing.assert_allclose(db, cb, atol=1e-6 * max(1.0, hi))


@pytest.mark.parametrize("kwargs, match", [
    (dict(V=np.zeros(3), k=0.0), "k must be > 0"),
    (dict(V=np.zeros(1), k=1.0), "last axis of length >= 2"),
    (dict(V=np.array([0.0, np.nan]), k=1.0), "must be finite"),
    (dict(V=np.zeros(3), k=1.0, bounds=(1.0, 1.0)), "lo < hi"),
    (dict(V=np.zeros(3), k=1.0, n_grid=3), "n_grid must be an integer >= 5"),
    (dict(V=np.zeros(3), k=1.0, n_zoom=-1), "n_zoom must be an integer >= 0"),
])
def test_brute_force_error_paths(kwargs, match):
    with pytest.raises(ValueError, match=match):
        brute_force_quotes(**kwargs)


# --- long-horizon quotes -------------------------------------------------------------
def test_long_horizon_quotes_match_dense_perron_vector():
    p = ModelParams(A=1.3, k=1.1, eta=0.03, gamma=0.0, T=1.0, x_max=12)
    lam, Q = np.linalg.eigh(dense_w_generator(p))
    f = np.abs(Q[:, -1])
    db, da = long_horizon_quotes(p)
    np.testing.assert_allclose(da[1:], (1 + np.log(f[1:] / f[:-1])) / p.k, atol=1e-10)
    np.testing.assert_allclose(db[:-1], (1 + np.log(f[:-1] / f[1:])) / p.k, atol=1e-10)


def test_long_horizon_quotes_on_a_wide_grid_do_not_underflow():
    # f spans e^{-c x_max^2/2} ~ e^{-800}: a dense eigenvector would underflow
    p = ModelParams(A=1.0, k=1.5, eta=0.05, gamma=0.0, T=1.0, x_max=60)
    db, da = long_horizon_quotes(p)
    assert np.all(np.isfinite(da[1:])) and np.all(np.isfinite(db[:-1]))
    assert np.all(np.diff(da[1:]) < 0) and np.all(np.diff(db[:-1]) > 0)


@pytest.mark.parametrize("A, k, eta", [(1.0, 1.5, 0.01), (2.0, 0.8, 0.05), (0.5, 3.0, 0.002)])
def test_exact_quotes_at_large_T_are_the_long_horizon_quotes(A, k, eta):
    """w(0) = e^{MT} w_T approaches its Perron direction like e^{-gap T}: with
    gap*T = 40 the quotes at t=0 agree to e^{-40} times O(1), i.e. rounding."""
    p = ModelParams(A=A, k=k, eta=eta, gamma=0.2, T=1.0, x_max=15)
    p = p.replace(T=40.0 / spectral_gap(p))
    sol = solve_hjb(p, n_steps=20)
    db, da = long_horizon_quotes(p)
    np.testing.assert_allclose(sol.delta_a[0], da, atol=1e-9)
    np.testing.assert_allclose(sol.delta_b[0], db, atol=1e-9)


def approximation_tolerance(p):
    r"""Error bound of the continuum approximation, with c = sqrt(k eta e / A).

    Two effects, each doubled for the higher-order terms left out: (i) the
    discrete ground state e^{-a x^2/2} needs a^2 e^{-a/2} = c^2, so the slope is
    a ~ c (1 + c/4) instead of c, an error c|u|/4 + c^2/4 in k*delta with
    u = c(x - 1/2); (ii) in the tails the exact skew grows like 2 asinh(u/2)
    = u - u^3/24 + ..., not linearly.
    """
    c = np.sqrt(p.k * p.eta * np.e / p.A)
    u_a = np.abs(c * (p.x - 0.5))
    u_b = np.abs(c * (p.x + 0.5))
    tol = lambda u: (c * (u + c) / 2 + u**3 / 12) / p.k  # noqa: E731
    return c, tol(u_a), tol(u_b)


@pytest.mark.parametrize("A, k, eta", [
    (1.0, 1.5, 0.01), (1.0, 1.5, 0.05), (3.0, 0.5, 0.002), (10.0, 4.0, 0.2), (0.5, 1.0, 0.3),
])
def test_long_horizon_approximation_against_exact_quotes_at_large_T(A, k, eta):
    p0 = ModelParams(A=A, k=k, eta=eta, gamma=0.1, T=1.0, x_max=10)
    c = np.sqrt(k * eta * np.e / A)
    # grid wide enough that the boundary is invisible (f ~ e^{-c x^2/2} < e^{-32})
    p = p0.replace(x_max=int(max(20, 3 / c, 8 / np.sqrt(c))))
    p = p.replace(T=40.0 / spectral_gap(p))
    sol = solve_hjb(p, n_steps=10)
    ab, aa = long_horizon_approximation(p)
    c, tol_a, tol_b = approximation_tolerance(p)
    inside = np.abs(p.x) <= 2 / c  # the bulk, where the skew is at most ~2/k
    ea = np.abs(sol.delta_a[0] - aa)[inside][1:]
    eb = np.abs(sol.delta_b[0] - ab)[inside][:-1]
    assert np.all(ea <= tol_a[inside][1:])
    assert np.all(eb <= tol_b[inside][:-1])


def test_approximation_error_near_zero_is_second_order_in_c():
    """At x = 1 the error is O(c^2): quartering eta halves c and quarters the error."""
    errs = []
    for eta in (0.04, 0.01, 0.0025):
        p = ModelParams(A=1.0, k=1.0, eta=eta, gamma=0.0, T=1.0, x_max=200)
        da = long_horizon_quotes(p).ask
        aa = long_horizon_approximation(p).ask
        errs.append(abs(da[201] - aa[201]))
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    assert np.all((ratios > 3.3) & (ratios < 4.7))


@given(x_max=st.integers(2, 30), A=st.floats(0.2, 10), k=st.floats(0.2, 5),
       eta=st.floats(1e-4, 1.0))
@settings(max_examples=40, deadline=None)
def test_long_horizon_quotes_symmetric_and_monotone(x_max, A, k, eta):
    p = ModelParams(A=A, k=k, eta=eta, gamma=0.0, T=1.0, x_max=x_max)
    db, da = long_horizon_quotes(p)
    np.testing.assert_allclose(da[1:], db[:-1][::-1], rtol=1e-9, atol=1e-12)  # x -> -x
    assert np.all(np.diff(da[1:]) < 0)  # longer: cheaper ask
    assert np.all(np.isfinite(da[1:])) and np.all(np.isfinite(db[:-1]))
    ab, aa = long_horizon_approximation(p)
    np.testing.assert_allclose(aa[1:], ab[:-1][::-1])


def test_urgency_threshold_separates_tightening_from_widening():
    base = ModelParams(A=1.0, k=1.5, eta=0.01, gamma=0.0, T=1.0, x_max=10)
    g = urgency_threshold(base)
    np.testing.assert_allclose(g, 0.5 * np.sqrt(base.eta * np.e / (base.k * base.A)), rtol=0.1)
    T = 40.0 / spectral_gap(base)
    for gamma, tighter in ((3 * g, True), (g / 3, False)):
        sol = solve_hjb(base.replace(gamma=gamma, T=T), n_steps=400)
        start, end = sol.delta_a[0, 11], sol.delta_a[-1, 11]  # ask at x = 1
        assert (end < start) == tighter


@pytest.mark.parametrize("func", [long_horizon_quotes, long_horizon_approximation,
                                  urgency_threshold])
def test_params_type_checked(func):
    with pytest.raises(ValueError, match="params must be a ModelParams"):
        func({"A": 1.0})
