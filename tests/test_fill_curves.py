"""Tests of the engine's fill-curve and latency options and of mmlib.fill_curves."""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from mmlib import (ASInventoryPolicy, ASParams, ConstantPolicy, ExponentialCurve,
                   GLFTPolicy, MarketParams, PowerLawCurve, TableCurve, TablePolicy,
                   simulate, solve_cara_quotes, solve_glft)

BASE = dict(s0=100.0, sigma=1.0, A=2.0, k=1.5, T=1.0, dt=0.01)
FIELDS = ("cash", "x", "s_T", "n_bid", "n_ask", "spread_pnl", "inventory_pnl", "adverse_pnl")


def same(r1, r2):
    for f in FIELDS:
        np.testing.assert_array_equal(getattr(r1, f), getattr(r2, f), err_msg=f)


AS = ASParams(sigma=1.0, A=2.0, k=1.5, risk_aversion=0.1, T=1.0)


@pytest.mark.parametrize("fill_model", ["exponential", "linear"])
@pytest.mark.parametrize("price_model", ["brownian", "binomial", "jump"])
def test_exponential_curve_and_zero_latency_reproduce_engine(fill_model, price_model):
    kw = dict(BASE, fill_model=fill_model, price_model=price_model, jump_rate=3.0,
              jump_std=0.2, toxic_prob=0.3, toxic_size=0.05, x_max=6)
    m0 = MarketParams(**kw)
    m1 = m0.replace(fill_curve=ExponentialCurve(2.0, 1.5), latency_steps=0)
    for pol in (ASInventoryPolicy(AS), GLFTPolicy(solve_glft(AS, 6, 50)),
                lambda t, s, x: (s - 0.6, s + 0.7)):
        same(simulate(pol, m0, 700, rng=5), simulate(pol, m1, 700, rng=5))
    # the curve's own (A, k) are used, not the market's fields
    m2 = MarketParams(**dict(kw, A=9.0, k=0.3)).replace(fill_curve=ExponentialCurve(2.0, 1.5))
    same(simulate(ASInventoryPolicy(AS), m0, 500, rng=2),
         simulate(ASInventoryPolicy(AS), m2, 500, rng=2))


CURVES = [PowerLawCurve(A=3.0, alpha=2.5, delta0=0.3),
          TableCurve([0.0, 0.1, 0.5, 1.0, 2.0], [5.0, 3.0, 1.2, 0.4, 0.05])]


@pytest.mark.parametrize("curve", CURVES)
@pytest.mark.parametrize("fill_model", ["exponential", "linear"])
@pytest.mark.parametrize("depth", [0.05, 0.7, 2.5])
def test_expected_fill_count_matches_integral(curve, fill_model, depth):
    m = MarketParams(**BASE, fill_model=fill_model, fill_curve=curve)
    n_paths = 4000
    res = simulate(ConstantPolicy(depth, depth), m, n_paths, rng=3)
    lam = float(curve.rate(depth))  # independent: the curve's own formula
    p = 1 - np.exp(-lam * m.dt) if fill_model == "exponential" else min(lam * m.dt, 1.0)
    for counts in (res.n_bid, res.n_ask):
        expect = m.n_steps * p  # per path: sum over steps of the fill probability
        se = np.sqrt(m.n_steps * p * (1 - p) / n_paths)
        assert abs(counts.mean() - expect) < 4 * se


def test_curve_formulas_independently():
    c = PowerLawCurve(A=3.0, alpha=2.0, delta0=0.5)
    assert_allclose(c.rate([0.5, 1.5]), [3.0 / 4.0, 3.0 / 16.0], rtol=1e-15)
    assert float(c.rate(1e300)) == 0.0 and float(c.rate(np.inf)) == 0.0
    t = TableCurve([0.0, 1.0, 2.0], [4.0, 2.0, 1.0])
    # log-linear: geometric mean in the middle of a segment; exponential tail beyond
    assert_allclose(t.rate([0.5, 1.5, 3.0, -2.0]), [np.sqrt(8.0), np.sqrt(2.0), 0.5, 4.0])
    assert float(t.rate(1e300)) == 0.0
    e = ExponentialCurve(2.0, 1.5)
    assert_allclose(e.rate([0.0, 1.0]), [2.0, 2.0 * np.exp(-1.5)])


def test_unquoted_side_never_fills_with_a_curve():
    m = MarketParams(**BASE, fill_curve=CURVES[1], x_max=2)
    res = simulate(lambda t, s, x: (np.full_like(s, np.nan), s + 0.01), m, 500, rng=1)
    assert res.n_bid.max() == 0 and res.x.min() >= -2


def test_bad_options():
    with pytest.raises(ValueError, match="fill_curve must be None or"):
        MarketParams(**BASE, fill_curve="powerlaw")
    with pytest.raises(ValueError, match="latency_steps must be an integer >= 0"):
        MarketParams(**BASE, latency_steps=-1)
    with pytest.raises(ValueError, match="latency_steps must be <= n_steps"):
        MarketParams(**BASE, latency_steps=101)
    with pytest.raises(ValueError, match="alpha must be > 0"):
        PowerLawCurve(A=1.0, alpha=0.0, delta0=1.0)
    with pytest.raises(ValueError, match="strictly increasing"):
        TableCurve([0.0, 0.0], [2.0, 1.0])
    with pytest.raises(ValueError, match="non-increasing"):
        TableCurve([0.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="rates must be > 0"):
        TableCurve([0.0, 1.0], [1.0, 0.0])


# --------------------------------------------------------------------------- latency
def test_latency_does_not_touch_quotes_that_ignore_the_mid():
    """Fixed prices do not depend on the mid: latency changes nothing, draw for draw."""
    pol = lambda t, s, x: (np.full_like(s, 99.4), np.full_like(s, 100.6))  # noqa: E731
    m0 = MarketParams(**BASE)
    r0 = simulate(pol, m0, 3000, rng=8)
    for L in (1, 5):
        same(r0, simulate(pol, m0.replace(latency_steps=L), 3000, rng=8))
    # and with independent draws the mean PnL agrees within standard errors
    r5 = simulate(pol, m0.replace(latency_steps=5), 3000, rng=9)
    a, b = r0.total_pnl, r5.total_pnl
    se = np.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    assert abs(a.mean() - b.mean()) < 4 * se


@pytest.mark.parametrize("L", [2, 10])
def test_latency_fill_count_matches_gaussian_integral(L):
    r"""Quoting delta around S_{n-L}: depth from S_n is delta + (S_n - S_{n-L}) ~ delta + sigma
    sqrt(min(n, L) dt) Z, so the expected fill count is a sum of Gaussian integrals."""
    m = MarketParams(**BASE, latency_steps=L)
    delta, n_paths = 0.8, 4000
    res = simulate(ConstantPolicy(delta, delta), m, n_paths, rng=4)
    z, w = np.polynomial.hermite_e.hermegauss(80)
    w = w / w.sum()
    lag = np.minimum(np.arange(m.n_steps), L)
    d = delta + m.sigma * np.sqrt(lag[:, None] * m.dt) * z[None, :]  # bid side
    p = (1 - np.exp(-m.A * np.exp(-m.k * d) * m.dt)) @ w
    expect = p.sum()
    # binomial variance bounds the variance of a sum of positively correlated steps poorly:
    # use the sample standard error instead
    for counts in (res.n_bid, res.n_ask):
        se = counts.std(ddof=1) / np.sqrt(n_paths)
        assert abs(counts.mean() - expect) < 4 * se
    # and latency really raised the fill count above the no-latency one (Jensen)
    assert expect > m.n_steps * (1 - np.exp(-m.A * np.exp(-m.k * delta) * m.dt)) * 1.02


def test_latency_recorded_quotes_use_the_stale_mid():
    m = MarketParams(**BASE, latency_steps=3)
    res = simulate(ConstantPolicy(0.5, 0.5), m, 50, rng=1, record=True)
    s = res.paths.s
    np.testing.assert_allclose(res.paths.bid[3:], s[:-4] - 0.5, rtol=0, atol=1e-12)
    np.testing.assert_allclose(res.paths.ask[:3], 100.5, rtol=0, atol=1e-12)
    assert np.abs(res.identity_residual()).max() < 1e-9


# --------------------------------------------------------------------------- CARA solver
def test_cara_solver_reproduces_glft_for_the_exponential():
    p = ASParams(sigma=0.3, A=1.0, k=1.5, risk_aversion=0.1, T=10.0)
    q = solve_cara_quotes(ExponentialCurve(1.0, 1.5), p.sigma, p.risk_aversion, p.T, 8, 2000)
    g = solve_glft(p, 8, 2000)
    assert_allclose(q.delta_b[0, :-1], g.delta_b[0, :-1], atol=2e-3)
    assert_allclose(q.delta_a[0, 1:], g.delta_a[0, 1:], atol=2e-3)
    assert np.isnan(q.delta_b[:, -1]).all() and np.isnan(q.delta_a[:, 0]).all()


def test_cara_solver_myopic_limit_for_a_power_law():
    """At the horizon theta = 0: the quote maximises lambda(d)(1 - e^{-psi d}), solved here
    from the first-order condition by bisection (independent of the solver's grid search)."""
    c = PowerLawCurve(A=2.0, alpha=3.0, delta0=0.4)
    psi = 0.2
    q = solve_cara_quotes(c, 0.5, psi, 1.0, 3, 100)

    def foc(d):  # d/dd log[lambda (1 - e^{-psi d})] = -alpha/(d0 + d) + psi/(e^{psi d} - 1)
        return -c.alpha / (c.delta0 + d) + psi / np.expm1(psi * d)
    lo, hi = 1e-6, 10.0
    for _ in range(100):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if foc(mid) > 0 else (lo, mid)
    assert_allclose(q.delta_b[-1, :-1], lo, atol=1e-3)


def test_table_policy_and_errors():
    q = solve_cara_quotes(ExponentialCurve(1.0, 1.5), 0.1, 0.1, 1.0, 2, 20)
    bid, ask = TablePolicy(q)(0.55, np.array([100.0, 100.0]), np.array([0.0, -2.0]))
    assert_allclose(100.0 - bid[0], q.delta_b[11, 2]) and np.isnan(ask[1])
    with pytest.raises(ValueError, match="inventory left"):
        TablePolicy(q)(0.0, np.array([1.0]), np.array([3.0]))
    with pytest.raises(ValueError, match="explicit scheme unstable"):
        solve_cara_quotes(ExponentialCurve(100.0, 1.5), 0.1, 0.1, 1.0, 2, 10)
    with pytest.raises(ValueError, match="curve must be a FillCurve"):
        solve_cara_quotes(lambda d: d, 0.1, 0.1, 1.0, 2, 10)


def test_simulate_counts_feed_fit():
    from mmlib import fit_intensity
    c = ExponentialCurve(3.0, 2.0)
    d = np.linspace(0.0, 2.0, 9)
    fit = fit_intensity(d, c.simulate_counts(d, exposure=2000.0, rng=1), exposure=2000.0)
    assert abs(fit.k - 2.0) < 4 * fit.se_k
