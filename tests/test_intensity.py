"""Tests of mmlib.intensity against independent truths (scipy distributions,
scipy optimisers on a log-likelihood written here, finite-difference Hessians,
Monte Carlo with binomial bounds)."""
import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy import optimize, stats

from mmlib.intensity import (
    edge_rate,
    fill_probability,
    fit_intensity,
    intensity,
    k_from_flow_ratio,
    microfoundation,
    poisson_loglik,
    simulate_fill_counts,
    simulate_impact_counts,
)

DEPTHS = np.linspace(0.0, 2.0, 9)


def reference_negloglik(theta, depths, counts, exposure):
    """-log L with scipy's Poisson pmf, parametrised by (log A, k)."""
    mu = exposure * np.exp(theta[0] - theta[1] * depths)
    return -stats.poisson.logpmf(counts, mu).sum()


# --- the intensity, the fill probability and the edge ---------------------------
def test_fill_probability_is_the_exponential_cdf():
    lam = intensity(DEPTHS, 3.0, 1.2)
    for dt in (0.01, 0.5, 3.0):
        np.testing.assert_allclose(fill_probability(DEPTHS, 3.0, 1.2, dt),
                                   stats.expon.cdf(dt, scale=1 / lam), rtol=1e-12)


@given(delta=st.floats(-3, 5), A=st.floats(0.01, 50), k=st.floats(0.05, 10),
       dt=st.floats(1e-4, 10))
def test_fill_probability_bounded_by_rate_times_dt(delta, A, k, dt):
    p = fill_probability(delta, A, k, dt)
    lam_dt = intensity(delta, A, k) * dt
    assert 0.0 <= p < 1.0 or (p == 1.0 and lam_dt > 30)
    assert p <= lam_dt * (1 + 1e-12)
    assert lam_dt - p <= 0.5 * lam_dt**2 * (1 + 1e-12) + 1e-14 * lam_dt  # second-order gap


@given(A=st.floats(0.01, 100), k=st.floats(0.05, 20))
def test_edge_rate_peaks_at_one_over_k(A, k):
    res = optimize.minimize_scalar(lambda d: -edge_rate(d, A, k), bounds=(0, 50 / k),
                                   method="bounded", options={"xatol": 1e-10 / k})
    np.testing.assert_allclose(res.x, 1 / k, rtol=1e-5)
    np.testing.assert_allclose(-res.fun, A / (np.e * k), rtol=1e-10)


@given(tick=st.floats(1e-4, 10), ratio=st.floats(1.01, 10), n_ticks=st.floats(0, 5))
def test_flow_ratio_rule(tick, ratio, n_ticks):
    k = k_from_flow_ratio(tick, ratio)
    delta = n_ticks * tick
    np.testing.assert_allclose(intensity(delta - tick, 1.0, k) / intensity(delta, 1.0, k),
                               ratio, rtol=1e-10)


def test_seed_rule_k_is_ln2_per_tick():
    assert k_from_flow_ratio(1.0) == pytest.approx(np.log(2))
    assert k_from_flow_ratio(0.01) == pytest.approx(100 * np.log(2))


# --- maximum likelihood ---------------------------------------------------------
def test_mle_matches_scipy_optimiser_on_the_loglik():
    counts = simulate_fill_counts(DEPTHS, A=40.0, k=1.3, exposure=2.0, rng=7)
    fit = fit_intensity(DEPTHS, counts, exposure=2.0)
    res = optimize.minimize(reference_negloglik, x0=[0.0, 0.0], args=(DEPTHS, counts, 2.0),
                            method="Nelder-Mead",
                            options={"xatol": 1e-11, "fatol": 1e-13, "maxiter": 20000})
    np.testing.assert_allclose([np.log(fit.A), fit.k], res.x, atol=1e-7)
    np.testing.assert_allclose(fit.loglik, -res.fun, rtol=1e-12)
    np.testing.assert_allclose(poisson_loglik(fit.A, fit.k, DEPTHS, counts, 2.0), fit.loglik)


def test_standard_errors_match_finite_difference_hessian():
    counts = simulate_fill_counts(DEPTHS, A=40.0, k=1.3, exposure=2.0, rng=8)
    fit = fit_intensity(DEPTHS, counts, exposure=2.0)
    th = np.array([np.log(fit.A), fit.k])
    h = 1e-4
    H = np.empty((2, 2))
    for i in range(2):
        for j in range(2):
            e_i, e_j = np.eye(2)[i] * h, np.eye(2)[j] * h
            f = lambda t: reference_negloglik(t, DEPTHS, counts, 2.0)  # noqa: E731
            H[i, j] = (f(th + e_i + e_j) - f(th + e_i - e_j) - f(th - e_i + e_j)
                       + f(th - e_i - e_j)) / (4 * h * h)
    cov = np.linalg.inv(H)
    np.testing.assert_allclose([fit.se_log_A, fit.se_k], np.sqrt(np.diag(cov)), rtol=1e-4)
    np.testing.assert_allclose(fit.corr, cov[0, 1] / np.sqrt(cov[0, 0] * cov[1, 1]), atol=1e-4)
    np.testing.assert_allclose(fit.se_A, fit.A * fit.se_log_A)


def test_batch_fit_equals_one_by_one():
    counts = simulate_fill_counts(DEPTHS, A=10.0, k=2.0, exposure=5.0, n_reps=5, rng=3)
    batch = fit_intensity(DEPTHS, counts, exposure=5.0)
    for r in range(5):
        one = fit_intensity(DEPTHS, counts[r], exposure=5.0)
        np.testing.assert_allclose([batch.A[r], batch.k[r], batch.se_k[r]],
                                   [one.A, one.k, one.se_k], rtol=1e-9)


def test_exposure_per_depth_is_used():
    exposure = np.linspace(1.0, 10.0, DEPTHS.size)
    counts = simulate_fill_counts(DEPTHS, A=20.0, k=1.0, exposure=exposure, rng=4)
    fit = fit_intensity(DEPTHS, counts, exposure=exposure)
    res = optimize.minimize(reference_negloglik, x0=[0.0, 0.0],
                            args=(DEPTHS, counts, exposure), method="BFGS", options={"gtol": 1e-9})
    np.testing.assert_allclose([np.log(fit.A), fit.k], res.x, atol=1e-5)


def test_95_percent_intervals_cover_within_binomial_bound():
    """Over n seeded fits the number of intervals covering the truth is
    Binomial(n, 0.95) if the Wald intervals are right; accept the central 99.9%
    range of that law (exposure is large, so the asymptotics apply)."""
    n = 4000
    A, k = 30.0, 1.5
    counts = simulate_fill_counts(DEPTHS, A=A, k=k, exposure=20.0, n_reps=n, rng=2025)
    (A_lo, A_hi), (k_lo, k_hi) = fit_intensity(DEPTHS, counts, exposure=20.0).conf_int(0.95)
    lo, hi = stats.binom.interval(0.999, n, 0.95)
    assert lo <= np.sum((A_lo < A) & (A < A_hi)) <= hi
    assert lo <= np.sum((k_lo < k) & (k < k_hi)) <= hi


def test_interval_half_widths_are_normal_quantiles_of_the_standard_errors():
    # z from a table of the standard normal: 1.959963984540054 (95%), 3.290526731491926 (99.9%)
    counts = simulate_fill_counts(DEPTHS, A=30.0, k=1.5, exposure=20.0, n_reps=3, rng=5)
    fit = fit_intensity(DEPTHS, counts, exposure=20.0)
    for level, z in ((0.95, 1.959963984540054), (0.999, 3.290526731491926)):
        (A_lo, A_hi), (k_lo, k_hi) = fit.conf_int(level)
        np.testing.assert_allclose((k_hi - k_lo) / (2 * fit.se_k), z, rtol=1e-12)
        np.testing.assert_allclose(np.log(A_hi / A_lo) / (2 * fit.se_log_A), z, rtol=1e-12)


def test_standard_error_matches_spread_of_estimates():
    counts = simulate_fill_counts(DEPTHS, A=30.0, k=1.5, exposure=20.0, n_reps=4000, rng=11)
    fit = fit_intensity(DEPTHS, counts, exposure=20.0)
    # the sd of k-hat over fits, with its own sampling error of about 1/sqrt(2n) = 1.1%
    np.testing.assert_allclose(np.std(fit.k), np.mean(fit.se_k), rtol=0.05)


def test_mle_nonexistence_is_refused():
    with pytest.raises(ValueError, match="does not exist for data set 0"):
        fit_intensity([0.0, 1.0, 2.0], [0, 0, 0])
    with pytest.raises(ValueError, match="does not exist"):
        fit_intensity([0.0, 1.0, 2.0], [0, 0, 4])  # only the deepest depth
    with pytest.raises(ValueError, match="does not exist for data set 1"):
        fit_intensity([0.0, 1.0], [[3, 2], [3, 0]])
    fit = fit_intensity([0.0, 1.0, 2.0], [0, 4, 0])  # single interior depth: exists
    assert fit.k == pytest.approx(0.0, abs=1e-8)


@pytest.mark.parametrize("kwargs, match", [
    (dict(depths=[0.0, 0.0], counts=[1, 2]), "two distinct"),
    (dict(depths=[0.0, 1.0], counts=[1, -2]), "non-negative integers"),
    (dict(depths=[0.0, 1.0], counts=[1.5, 2]), "non-negative integers"),
    (dict(depths=[0.0, 1.0], counts=[1, 2, 3]), "last axis of length 2"),
    (dict(depths=[0.0, 1.0], counts=[1, 2], exposure=0.0), "exposure must be"),
    (dict(depths=[0.0, 1.0], counts=[1, 2], exposure=[1.0]), "exposure must be"),
    (dict(depths=[0.0, np.nan], counts=[1, 2]), "depths must be finite"),
    (dict(depths=[0.0, 1.0], counts=[1, 2], tol=0.0), "tol must be > 0"),
])
def test_fit_error_paths(kwargs, match):
    with pytest.raises(ValueError, match=match):
        fit_intensity(**kwargs)


def test_conf_int_level_checked():
    fit = fit_intensity(DEPTHS, simulate_fill_counts(DEPTHS, 5.0, 1.0, 10.0, rng=1), 10.0)
    with pytest.raises(ValueError, match="level must be < 1"):
        fit.conf_int(1.0)


@pytest.mark.parametrize("func, args, match", [
    (intensity, (0.0, -1.0, 1.0), "A must be > 0"),
    (intensity, (0.0, 1.0, 0.0), "k must be > 0"),
    (fill_probability, (0.0, 1.0, 1.0, -1.0), "dt must be finite and >= 0"),
    (k_from_flow_ratio, (0.0,), "tick must be > 0"),
    (k_from_flow_ratio, (1.0, 1.0), "ratio must be > 1"),
    (microfoundation, (1.0, 0.0, 1.0), "zeta must be > 0"),
    (simulate_fill_counts, ([0.0, 1.0], 1.0, 1.0, 1.0, 0), "n_reps must be an integer >= 1"),
])
def test_error_paths(func, args, match):
    with pytest.raises(ValueError, match=match):
        func(*args)


def test_simulated_counts_have_poisson_mean_and_variance():
    counts = simulate_fill_counts([0.0, 1.0], A=4.0, k=0.7, exposure=3.0, n_reps=20000, rng=5)
    mu = 3.0 * 4.0 * np.exp(-0.7 * np.array([0.0, 1.0]))
    se = np.sqrt(mu / 20000)
    assert np.all(np.abs(counts.mean(axis=0) - mu) < 4.5 * se)
    np.testing.assert_allclose(counts.var(axis=0), mu, rtol=0.05)


def test_seeded_simulation_is_reproducible():
    a = simulate_fill_counts(DEPTHS, 5.0, 1.0, 2.0, n_reps=3, rng=42)
    b = simulate_fill_counts(DEPTHS, 5.0, 1.0, 2.0, n_reps=3, rng=np.random.default_rng(42))
    np.testing.assert_array_equal(a, b)


# --- the Avellaneda--Stoikov micro-foundation ------------------------------------
def test_microfoundation_formula():
    A, k = microfoundation(Lambda=12.0, zeta=1.5, K=2.0)
    assert (A, k) == pytest.approx((8.0, 3.0))


def test_impact_counts_give_k_zeta_K_and_A_Lambda_qmin_zeta():
    """Monte Carlo of the micro-foundation: Pareto sizes with minimum q_min and
    impact ln(Q)/K. The decay is zeta*K as Avellaneda--Stoikov write; the
    prefactor is Lambda*q_min**zeta, which equals their Lambda/zeta only when
    q_min = zeta**(-1/zeta)."""
    Lambda, zeta, K, horizon = 50.0, 1.5, 2.0, 400.0
    depths = np.linspace(0.0, 1.5, 7)
    for q_min in (1.0, zeta ** (-1 / zeta)):
        counts = simulate_impact_counts(depths, Lambda, zeta, K, horizon, q_min=q_min, rng=9)
        expected = horizon * Lambda * np.minimum(1.0, q_min**zeta * np.exp(-zeta * K * depths))
        assert np.all(np.abs(counts - expected) < 5 * np.sqrt(expected))
        fit = fit_intensity(depths[depths >= np.log(q_min) / K + 1e-12],
                            counts[depths >= np.log(q_min) / K + 1e-12], exposure=horizon)
        (A_lo, A_hi), (k_lo, k_hi) = fit.conf_int(0.999)
        assert k_lo < zeta * K < k_hi
        assert A_lo < Lambda * q_min**zeta < A_hi
    A_as, _ = microfoundation(Lambda, zeta, K)
    assert Lambda * (zeta ** (-1 / zeta)) ** zeta == pytest.approx(A_as)
