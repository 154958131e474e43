"""Tests of mmlib.competition against independent truths.

Each expected value is derived here from the order-flow model itself (Poisson
counts of orders reaching each depth, an order-by-order matcher written
separately, a matrix exponential), never copied from the engine's output.
"""
import math

import numpy as np
import pytest
import scipy.linalg as sla
from hypothesis import given, settings
from hypothesis import strategies as st

from mmlib import (
    ASInventoryPolicy,
    ASParams,
    ConstantPolicy,
    HJBPolicy,
    MarketParams,
    ModelParams,
    simulate,
    simulate_competition,
    simulate_finite_crowd,
    solve_hjb,
    solve_mean_field,
)
from mmlib.competition import _match_orders
from mmlib import average_quotes

A, K = 140.0, 1.5


def _market(**kw):
    base = dict(s0=100.0, sigma=2.0, A=A, k=K, T=1.0, dt=0.01)
    base.update(kw)
    return MarketParams(**base)


def _z(a, b):
    """Two-sample z statistic of the means of a and b."""
    a, b = np.asarray(a, float).ravel(), np.asarray(b, float).ravel()
    se = math.sqrt(a.var(ddof=1) / a.size + b.var(ddof=1) / b.size)
    return abs(a.mean() - b.mean()) / se


def _z1(sample, mu):
    s = np.asarray(sample, float).ravel()
    return abs(s.mean() - mu) / (s.std(ddof=1) / math.sqrt(s.size))


def _poisson_pmf(j, mu):
    return math.exp(-mu) * mu**j / math.factorial(j)


# ---------------------------------------------------------------------------
# the lone maker is simulate's maker
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("policy", [
    ConstantPolicy(0.7, 0.9),
    ASInventoryPolicy(ASParams(sigma=2.0, A=A, k=K, risk_aversion=0.1, T=1.0)),
])
def test_lone_maker_matches_simulate(policy):
    m = _market(dt=0.005)
    c = simulate_competition([policy], m, 20_000, rng=11)
    s = simulate(policy, m, 20_000, rng=12)
    for name in ("n_bid", "n_ask", "total_pnl", "spread_pnl"):
        assert _z(getattr(c, name)[0], getattr(s, name)) < 4.0, name
    # the spread of the fill counts too (variance of a 4-SE test on x^2)
    assert _z(c.x[0] ** 2, s.x**2) < 4.0


def test_lone_maker_fill_probability_per_step():
    m = _market(sigma=0.0, dt=0.01)
    d = 0.4
    res = simulate_competition([ConstantPolicy(d, d)], m, 4000, rng=3, record=True)
    p = 1.0 - math.exp(-A * math.exp(-K * d) * m.dt)
    assert _z1(res.paths.bid_fill, p) < 4.0
    assert _z1(res.paths.ask_fill, p) < 4.0


# ---------------------------------------------------------------------------
# identical makers: min(K, N) fills, shared by the tie rule
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("n", [2, 5])
def test_identical_makers_total_is_min_of_poisson_and_n(n):
    m = _market(sigma=0.0, dt=0.01)
    d = 0.1
    mu = A * math.exp(-K * d) * m.dt  # orders reaching d per step (~1.2)
    res = simulate_competition([ConstantPolicy(d, d)] * n, m, 3000, rng=5, record=True)
    total = res.paths.bid_fill.sum(axis=1).ravel()  # fills per step and path
    expect = {j: _poisson_pmf(j, mu) for j in range(n)}
    expect[n] = 1.0 - sum(expect.values())
    for j, pj in expect.items():
        assert _z1(total == j, pj) < 4.0, j
    # random ties: each maker a 1/n share in expectation
    shares = res.paths.bid_fill.sum(axis=(0, 2)) / total.sum()
    per_step = res.paths.bid_fill  # (steps, makers, paths)
    for i in range(n):
        assert _z1(per_step[:, i] - per_step.sum(axis=1) / n, 0.0) < 4.0
    assert abs(shares.sum() - 1.0) < 1e-12


def test_pro_rata_splits_exactly():
    m = _market(sigma=0.0, dt=0.01)
    n, d = 4, 0.1
    res = simulate_competition([ConstantPolicy(d, d)] * n, m, 500, rng=6,
                               tie_break="pro_rata", record=True)
    for side in (res.paths.bid_fill, res.paths.ask_fill):
        total = side.sum(axis=1, keepdims=True)
        np.testing.assert_allclose(side, np.broadcast_to(total / n, side.shape), atol=1e-15)
        assert set(np.unique(total)) <= set(range(n + 1))


def test_two_makers_wider_gets_the_leftover_orders():
    m = _market(sigma=0.0, dt=0.01)
    d1, d2 = 0.2, 0.6
    l1, l2 = A * math.exp(-K * d1) * m.dt, A * math.exp(-K * d2) * m.dt
    res = simulate_competition([ConstantPolicy(d1, d1), ConstantPolicy(d2, d2)], m, 6000,
                               rng=7, record=True)
    tight, wide = res.paths.bid_fill[:, 0], res.paths.bid_fill[:, 1]
    assert _z1(tight, 1.0 - math.exp(-l1)) < 4.0
    # K2 ~ Poisson(l2) orders reach d2, K1 ~ Poisson(l1 - l2) reach [d1, d2) only. The wide
    # quote fills iff K2 >= 2, or K2 = 1 and one of the K1 orders came before it
    # (probability K1 / (K1 + 1) given K1 by exchangeability of arrival order).
    mu1 = l1 - l2
    e_ratio = sum(_poisson_pmf(j, mu1) * j / (j + 1) for j in range(60))
    p_wide = (1.0 - _poisson_pmf(0, l2) - _poisson_pmf(1, l2)) + _poisson_pmf(1, l2) * e_ratio
    assert _z1(wide, p_wide) < 4.0
    # and the wide quote never fills while the tight one stands
    assert not np.any((wide > 0) & (tight == 0))


# ---------------------------------------------------------------------------
# the engine against an order-by-order loop
# ---------------------------------------------------------------------------
def _brute_force_patterns(depths, lam_dt, k, n_steps, rng):
    """Fill patterns from explicit orders: Poisson count, Exp(k) limits, sequential matching."""
    n = len(depths)
    prices = [100.0 - d for d in depths]
    out = np.empty((n_steps, n))
    counts = rng.poisson(lam_dt, n_steps)
    for s in range(n_steps):
        limits = 100.0 - rng.exponential(1.0 / k, counts[s])
        out[s] = _match_orders(prices, "bid", limits)
    return out


def test_engine_matches_order_by_order_matching():
    depths = [0.3, 0.1, 0.5, 0.2]
    m = _market(sigma=0.0, dt=0.01)
    res = simulate_competition([ConstantPolicy(d, 5.0) for d in depths], m, 2000, rng=8,
                               record=True)
    fast = res.paths.bid_fill.transpose(0, 2, 1).reshape(-1, len(depths))
    slow = _brute_force_patterns(depths, A * m.dt, K, 40_000, np.random.default_rng(9))
    code = 2 ** np.arange(len(depths))
    for pattern in np.unique(slow @ code):
        assert _z(fast @ code == pattern, slow @ code == pattern) < 4.0, pattern
    assert _z(fast.sum(axis=1), slow.sum(axis=1)) < 4.0


def test_match_orders_hand_built():
    # best price first, then the next order walks down the book
    assert _match_orders([99.0, 99.5, 98.0], "bid", [99.4, 98.5]) == [1, 1, 0]
    # an order that reaches nothing does nothing
    assert _match_orders([99.0, 99.5], "bid", [99.9]) == [0, 0]
    # arrival order matters: limits reaching ranks (1, 1, 3) fill two quotes, (3, 1, 1) one
    prices = [99.5, 99.0, 98.0]
    assert sum(_match_orders(prices, "bid", [99.2, 99.2, 97.0])) == 2
    assert sum(_match_orders(prices, "bid", [97.0, 99.2, 99.2])) == 1
    # asks: lowest first; an unquoted side (NaN) never fills
    assert _match_orders([101.0, np.nan, 100.5], "ask", [102.0]) == [0, 0, 1]
    # time priority at one price: the smaller priority (earlier post) goes first
    assert _match_orders([99.5, 99.5], "bid", [99.0], priority=[3, 1]) == [0, 1]


class _Scripted:
    """A bid that follows a script of prices by step (sigma = 0, so the mid stays at 100)."""

    def __init__(self, script, dt):
        self.script, self.dt = script, dt

    def __call__(self, t, s, x):
        n = int(round(t / self.dt))
        return np.full_like(s, self.script(n)), np.full_like(s, np.nan)


def test_time_priority_and_repricing_lose_the_place():
    m = _market(sigma=0.0, dt=0.01, T=0.4, A=60.0)
    level = 99.6
    # maker 0 posts at the level from step 0 but steps away at step 10 and comes back at 11;
    # maker 1 posts at the level only from step 2
    m0 = _Scripted(lambda n: 99.2 if n == 10 else level, m.dt)
    m1 = _Scripted(lambda n: 99.0 if n < 2 else level, m.dt)
    res = simulate_competition([m0, m1], m, 3000, tie_break="time", rng=10, record=True)
    fills, bids = res.paths.bid_fill, res.paths.bid
    n_steps, _, P = fills.shape
    # independent bookkeeping of who has stood longest at the level
    since = np.zeros((2, P))
    prev = np.full((2, P), np.nan)
    filled_before = np.ones((2, P), dtype=bool)
    checked = 0
    for s in range(n_steps):
        for i in range(2):
            stands = (bids[s, i] == prev[i]) & ~filled_before[i]
            since[i] = np.where(stands, since[i], s)
            prev[i] = bids[s, i]
        at_level = (bids[s, 0] == level) & (bids[s, 1] == level)
        one = at_level & (fills[s].sum(axis=0) == 1)
        older = np.where(since[0] < since[1], 0, np.where(since[1] < since[0], 1, -1))
        decided = one & (older >= 0)
        winner = np.argmax(fills[s], axis=0)
        assert np.all(winner[decided] == older[decided])
        checked += decided.sum()
        if s == 11:  # maker 0 re-priced at step 10: maker 1 is ahead wherever it stood
            assert np.all(older[bids[s, 1] == level][since[1][bids[s, 1] == level] < 11] == 1)
        filled_before = fills[s] > 0
    assert checked > 1000
    # at steps 2..9 without earlier fills, maker 0 (posted at 0) is first: at step 2
    first = (fills[:2, 0].sum(axis=0) == 0) & (fills[2].sum(axis=0) == 1)
    assert np.all(fills[2, 0][first] == 1)


# ---------------------------------------------------------------------------
# accounting, ticks, noise, reproducibility
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("tie_break", ["random", "pro_rata", "time"])
def test_self_financing_identity_per_maker(tie_break):
    par = ASParams(sigma=2.0, A=A, k=K, risk_aversion=0.1, T=1.0)
    m = _market(price_model="jump", jump_rate=5.0, jump_std=0.5, toxic_prob=0.3,
                toxic_size=0.05, x_max=6)
    pols = [ASInventoryPolicy(par), ConstantPolicy(0.5, 0.5), ConstantPolicy(0.5, 0.5)]
    res = simulate_competition(pols, m, 500, tie_break=tie_break, tick=0.1, quote_noise=0.03,
                               rng=4, record=True)
    assert res.identity_residual().shape == (3, 500)
    assert float(np.abs(res.identity_residual()).max()) < 1e-9
    assert np.all(np.abs(res.x) <= 6)
    # cash and inventory agree with the recorded fills
    np.testing.assert_allclose(res.x, res.paths.bid_fill.sum(0) - res.paths.ask_fill.sum(0),
                               atol=1e-9)
    q = res.paths.bid[np.isfinite(res.paths.bid)]
    np.testing.assert_allclose(q / 0.1, np.round(q / 0.1), atol=1e-6)  # on the tick grid
    assert res.adverse_pnl.mean() < 0  # toxic flow moves against the maker


def test_spread_statistics():
    m = _market(sigma=0.0)
    res = simulate_competition([ConstantPolicy(0.3, 0.5), ConstantPolicy(0.4, 0.2)], m, 50,
                               rng=1)
    np.testing.assert_allclose(res.mean_spread[0], 0.8)
    np.testing.assert_allclose(res.mean_spread[1], 0.6)
    np.testing.assert_allclose(res.mean_bbo_spread, 0.5)  # 0.3 + 0.2


def test_reproducible():
    m = _market()
    pols = [ConstantPolicy(0.5, 0.5), ConstantPolicy(0.6, 0.4)]
    a = simulate_competition(pols, m, 300, rng=42, quote_noise=0.01)
    b = simulate_competition(pols, m, 300, rng=np.random.default_rng(42), quote_noise=0.01)
    np.testing.assert_array_equal(a.total_pnl, b.total_pnl)
    c = simulate_competition(pols, m, 300, rng=43, quote_noise=0.01)
    assert not np.array_equal(a.total_pnl, c.total_pnl)
    mf = _small_mf()
    f1 = simulate_finite_crowd(mf, 5, 50, rng=3)
    f2 = simulate_finite_crowd(mf, 5, 50, rng=3)
    np.testing.assert_array_equal(f1.x_T, f2.x_T)


def test_maker_view_is_a_simulation_result():
    m = _market()
    res = simulate_competition([ConstantPolicy(0.5, 0.5)] * 2, m, 100, rng=2)
    one = res.maker(1)
    np.testing.assert_array_equal(one.total_pnl, res.total_pnl[1])
    assert set(one.summary()) >= {"total_pnl", "n_fills"}
    np.testing.assert_allclose(res.fill_share().sum(), 1.0)


# ---------------------------------------------------------------------------
# bad input
# ---------------------------------------------------------------------------
def test_bad_input():
    m = _market()
    ok = ConstantPolicy(0.5, 0.5)
    with pytest.raises(ValueError, match="policies"):
        simulate_competition([], m, 10)
    with pytest.raises(ValueError, match=r"policies\[1\]"):
        simulate_competition([ok, lambda t, s, x: (s[:2], s)], m, 10)
    with pytest.raises(ValueError, match=r"policies\[0\]"):
        simulate_competition([lambda t, s, x: s], m, 10)
    with pytest.raises(ValueError, match="tie_break"):
        simulate_competition([ok], m, 10, tie_break="fifo")
    with pytest.raises(ValueError, match="tick"):
        simulate_competition([ok], m, 10, tick=-0.1)
    with pytest.raises(ValueError, match="quote_noise"):
        simulate_competition([ok], m, 10, quote_noise=-1.0)
    with pytest.raises(ValueError, match="n_paths"):
        simulate_competition([ok], m, 0)
    with pytest.raises(ValueError, match="market"):
        simulate_competition([ok], "market", 10)
    with pytest.raises(ValueError, match="fill_model"):
        simulate_competition([ok], m.replace(fill_model="linear"), 10)
    hjb = solve_hjb(ModelParams(A=A, k=K, eta=0.2, gamma=0.0, T=1.0, x_max=3), 10)
    with pytest.raises(ValueError, match="pro_rata"):
        simulate_competition([HJBPolicy(hjb)], m, 10, tie_break="pro_rata")
    mf = _small_mf()
    with pytest.raises(ValueError, match="n_makers"):
        simulate_finite_crowd(mf, 0, 10)
    with pytest.raises(ValueError, match="n_paths"):
        simulate_finite_crowd(mf, 2, 0)
    with pytest.raises(ValueError, match="MeanFieldSolution"):
        simulate_finite_crowd(hjb, 2, 10)
    # sizes beyond the library's memory limit are refused before anything is allocated
    with pytest.raises(ValueError, match="record=False"):
        simulate_competition([ok] * 10, m, 1_000_000, record=True)
    with pytest.raises(ValueError, match="record=False"):
        simulate_finite_crowd(_small_mf(n_steps=100), 200, 100_000, record=True)


# ---------------------------------------------------------------------------
# the finite crowd
# ---------------------------------------------------------------------------
def _small_mf(n_steps=40):
    p = ModelParams(A=1.0, k=1.5, eta=0.01, gamma=0.1, T=2.0, x_max=4)
    rho0 = np.exp(-0.5 * (p.x / 1.2) ** 2)
    return solve_mean_field(p, rho0 / rho0.sum(), n_steps)


def _generator(down, up):
    Q = np.diag(up[:-1], 1) + np.diag(down[1:], -1)
    return Q - np.diag(Q.sum(axis=1))


def test_crowd_of_one_is_a_reflected_random_walk():
    # with N = 1 the maker's own quote is the crowd average: rate A on every quoted side
    mf = _small_mf()
    p = mf.params
    n = p.n_states
    down = np.full(n, p.A)
    down[0] = 0.0
    up = np.full(n, p.A)
    up[-1] = 0.0
    rho_T = mf.rho[0] @ sla.expm(_generator(down, up) * p.T)
    res = simulate_finite_crowd(mf, 1, 40_000, rng=2)
    law = res.pooled_law()
    se = np.sqrt(rho_T * (1 - rho_T) / 40_000)
    assert np.all(np.abs(law - rho_T) <= 4 * se + 1e-12)


def _scheme_limit(mf):
    """N -> infinity of the finite crowd: the crowd average recomputed from the law each step."""
    p, h = mf.params, mf.dt
    rho = mf.rho[0].copy()
    with np.errstate(over="ignore"):
        ea = np.exp(-p.k * np.nan_to_num(mf.delta_a, nan=np.inf))
        eb = np.exp(-p.k * np.nan_to_num(mf.delta_b, nan=np.inf))
    for n in range(mf.n_steps):
        avg_b, avg_a = average_quotes(mf.delta_b[n:n + 1], mf.delta_a[n:n + 1], rho[None])
        Q = _generator(p.A * np.exp(p.k * avg_a[0]) * ea[n], p.A * np.exp(p.k * avg_b[0]) * eb[n])
        rho = rho @ sla.expm(Q * h)
    return rho


def test_large_crowd_approaches_the_mean_field():
    mf = _small_mf()
    n_makers, n_paths = 4000, 30
    res = simulate_finite_crowd(mf, n_makers, n_paths, rng=5)
    # per-path histograms: the paths are independent, the makers within one are not
    xm = mf.params.x_max
    hist = np.stack([np.bincount(r + xm, minlength=2 * xm + 1) / n_makers for r in res.x_T])
    se = hist.std(axis=0, ddof=1) / np.sqrt(n_paths)
    target = _scheme_limit(mf)
    # the bias is O(1/N) = O(2.5e-4) here, below the Monte Carlo error
    assert np.all(np.abs(hist.mean(axis=0) - target) <= 4 * se + 1e-4)
    # and the scheme's limit is O(dt) from the continuously-updated equilibrium
    assert 0.5 * np.abs(target - mf.rho[-1]).sum() < 0.01
    # the crowd's average quote tracks the equilibrium's
    gap = np.abs(res.avg_delta_a.mean(axis=0) - mf.avg_delta_a).max()
    assert gap < 0.01


def test_small_crowd_differs_from_the_mean_field():
    # relative quoting cannot control the crowd's aggregate inventory: a small crowd spreads
    mf = _small_mf()
    small = simulate_finite_crowd(mf, 2, 20_000, rng=6).x_T
    large = simulate_finite_crowd(mf, 200, 200, rng=7).x_T
    assert _z(small**2, large**2) > 4.0 and (small**2).mean() > (large**2).mean()


# ---------------------------------------------------------------------------
# more independent checks
# ---------------------------------------------------------------------------
def test_lone_maker_with_toxic_flow_bound_and_jumps_matches_simulate():
    # with one maker, a blocked quote and a quote that cannot fill are the same thing, and one
    # executed order is one fill: the two engines must agree in law
    par = ASParams(sigma=2.0, A=A, k=K, risk_aversion=0.1, T=1.0)
    m = _market(dt=0.005, price_model="jump", jump_rate=3.0, jump_std=0.4, toxic_prob=0.4,
                toxic_size=0.1, x_max=4)
    c = simulate_competition([ASInventoryPolicy(par)], m, 20_000, rng=21)
    s = simulate(ASInventoryPolicy(par), m, 20_000, rng=22)
    for name in ("n_bid", "total_pnl", "adverse_pnl", "inventory_pnl"):
        assert _z(getattr(c, name)[0], getattr(s, name)) < 4.0, name
    assert _z(np.abs(c.x[0]) == 4, np.abs(s.x) == 4) < 4.0


@given(depths=st.lists(st.sampled_from([0.1, 0.2, 0.3, 0.5, 0.8]), min_size=1, max_size=5),
       tie=st.sampled_from(["random", "time", "pro_rata"]))
@settings(max_examples=15, deadline=None)
def test_fills_are_a_prefix_of_the_queue(depths, tie):
    m = _market(sigma=0.0, dt=0.01, T=0.3)
    res = simulate_competition([ConstantPolicy(d, d) for d in depths], m, 200, tie_break=tie,
                               rng=3, record=True)
    f = res.paths.bid_fill  # (steps, makers, paths)
    d = np.asarray(depths)
    assert np.all((f >= 0) & (f <= 1))
    assert np.all(f.sum(axis=1) <= len(depths) + 1e-12)
    for i in range(len(depths)):
        for j in range(len(depths)):
            if d[i] < d[j]:  # a strictly tighter quote is filled in full before a wider one fills
                assert not np.any((f[:, j] > 0) & (f[:, i] < 1))


def test_quote_noise_is_bounded_and_centred():
    m = _market(sigma=0.0, T=0.5)
    res = simulate_competition([ConstantPolicy(0.5, 0.5)], m, 400, quote_noise=0.05, rng=9,
                               record=True)
    depth = m.s0 - res.paths.bid[:, 0]
    assert np.all(np.abs(depth - 0.5) <= 0.05 + 1e-12)
    assert _z1(depth, 0.5) < 4.0 and depth.std() > 0.02  # uniform on [-q, q]: sd q / sqrt(3)


def test_finite_crowd_record():
    mf = _small_mf()
    res = simulate_finite_crowd(mf, 3, 20, rng=1, record=True)
    assert res.x.shape == (mf.n_steps + 1, 20, 3)
    np.testing.assert_array_equal(res.x[-1], res.x_T)
    assert np.all(np.abs(np.diff(res.x, axis=0)) <= 10)  # a few fills per step at most
    assert abs(res.pooled_law().sum() - 1.0) < 1e-12
