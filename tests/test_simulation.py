"""Tests of mmlib.simulation: accounting identity, Monte Carlo against known
expectations (within 4 standard errors), reproducibility and bad input."""
import math

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from mmlib import (
    ASInventoryPolicy,
    ASParams,
    ASSymmetricPolicy,
    ConstantPolicy,
    GLFTPolicy,
    HJBPolicy,
    MarketParams,
    article_params,
    mc_stats,
    simulate,
    solve_glft,
    solve_hjb,
)
from mmlib.simulation import _CHUNK

PAPER = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
MARKET = MarketParams(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005)


def within(st, expected, n_se=4.0):
    assert abs(st.mean - expected) <= n_se * st.sem, (st.mean, expected, st.sem)


# ---------------------------------------------------------------------------
# accounting identity, every path
# ---------------------------------------------------------------------------
CONFIGS = [
    dict(),
    dict(price_model="binomial", fill_model="linear"),
    dict(price_model="jump", jump_rate=5.0, jump_std=1.0),
    dict(toxic_prob=0.5, toxic_size=0.3),
    dict(price_model="binomial", fill_model="linear", toxic_prob=1.0, toxic_size=0.1, x_max=3),
]


@pytest.mark.parametrize("cfg", CONFIGS)
@pytest.mark.parametrize("policy", [ASInventoryPolicy(PAPER), ASSymmetricPolicy(PAPER),
                                    ConstantPolicy(-0.2, 0.4)])
def test_pnl_identity_every_path(cfg, policy):
    res = simulate(policy, MARKET.replace(**cfg), 2000, x0=1, cash0=-50.0, rng=7)
    total = res.cash + res.x * res.s_T - (-50.0 + 1 * 100.0)  # independent restatement
    assert_allclose(res.total_pnl, total, rtol=0, atol=1e-12)
    assert np.max(np.abs(res.identity_residual())) < 1e-9


def test_recorded_paths_are_self_financing():
    """Cash moves only by fill prices: Delta cash = ask*[x fell] - bid*[x rose]."""
    res = simulate(ASInventoryPolicy(PAPER), MARKET, 300, rng=3, record=True)
    P = res.paths
    dx = np.diff(P.x, axis=0)
    dcash = np.diff(P.cash, axis=0)
    # at most one fill per side and step: dx = +1 bid only, -1 ask only, 0 none or both
    both = np.abs(dcash - (P.ask - P.bid)) < 1e-9
    expected = np.where(dx > 0, -P.bid, np.where(dx < 0, P.ask, np.where(both, P.ask - P.bid, 0.0)))
    assert_allclose(dcash, expected, atol=1e-9)
    assert_allclose(P.s[-1], res.s_T, rtol=0, atol=0)
    assert_allclose(P.cash[-1], res.cash, rtol=0, atol=0)
    assert_allclose(P.x[-1], res.x, rtol=0, atol=0)
    # inventory PnL recomputed from the history, X_{t-} * Delta S with no toxic flow
    inv = np.sum(P.x[1:] * np.diff(P.s, axis=0), axis=0)
    assert_allclose(inv, res.inventory_pnl, atol=1e-9)


# ---------------------------------------------------------------------------
# Monte Carlo against known expectations
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("fill_model", ["exponential", "linear"])
def test_expected_fill_count_constant_quotes(fill_model):
    db, da = 0.7, 1.3
    m = MARKET.replace(fill_model=fill_model)
    res = simulate(ConstantPolicy(db, da), m, 20_000, rng=11)
    lam = lambda d: m.A * math.exp(-m.k * d) * m.dt  # noqa: E731
    prob = (lambda d: -math.expm1(-lam(d))) if fill_model == "exponential" else lam
    within(mc_stats(res.n_bid), m.n_steps * prob(db))
    within(mc_stats(res.n_ask), m.n_steps * prob(da))
    # spread capture is exactly depth times fills under constant quotes
    assert_allclose(res.spread_pnl, db * res.n_bid + da * res.n_ask, atol=1e-9)


@pytest.mark.parametrize("price_model", ["brownian", "binomial", "jump"])
def test_inventory_pnl_has_zero_mean_under_martingale_mid(price_model):
    m = MARKET.replace(price_model=price_model, jump_rate=3.0, jump_std=0.5)
    res = simulate(ASSymmetricPolicy(PAPER), m, 20_000, rng=5)
    within(mc_stats(res.inventory_pnl), 0.0)
    assert np.all(res.adverse_pnl == 0.0)  # no toxic flow, no covariation


def test_terminal_mid_variance_jump_model():
    m = MARKET.replace(price_model="jump", jump_rate=4.0, jump_std=0.75)
    res = simulate(ConstantPolicy(1.0, 1.0), m, 40_000, rng=9)
    st = mc_stats(res.s_T)
    within(st, 100.0)
    var_true = (m.sigma**2 + m.jump_rate * m.jump_std**2) * m.T
    assert abs(st.std - math.sqrt(var_true)) <= 4 * st.std_se


def test_binomial_mid_steps_are_plus_minus_sigma_sqrt_dt():
    m = MARKET.replace(price_model="binomial")
    res = simulate(ConstantPolicy(1.0, 1.0), m, 50, rng=2, record=True)
    assert_allclose(np.abs(np.diff(res.paths.s, axis=0)), m.sigma * math.sqrt(m.dt), rtol=1e-12)


def test_expected_adverse_selection_under_toxic_flow():
    db, da, p_tox, J = 0.8, 0.8, 0.4, 0.25
    m = MARKET.replace(toxic_prob=p_tox, toxic_size=J)
    res = simulate(ConstantPolicy(db, da), m, 20_000, rng=13)
    pb = -math.expm1(-m.A * math.exp(-m.k * db) * m.dt)
    pa = -math.expm1(-m.A * math.exp(-m.k * da) * m.dt)
    # a lone fill is marked against the maker by J with probability p_tox; both sides net out
    per_step = -J * p_tox * (pb * (1 - pa) + pa * (1 - pb))
    within(mc_stats(res.adverse_pnl), m.n_steps * per_step)
    assert res.adverse_pnl.mean() < 0


def test_inventory_bound_respected():
    m = MARKET.replace(x_max=2)
    res = simulate(ConstantPolicy(-1.0, 3.0), m, 500, rng=4, record=True)  # eager to buy
    assert np.abs(res.paths.x).max() <= 2
    assert res.paths.x.max() == 2


def test_linear_fills_certain_when_lambda_dt_exceeds_one():
    # quotes locked at the mid (crossed ones are refused): lambda dt = A dt = 0.7 e^3 > 1
    m = MARKET.replace(fill_model="linear", A=MARKET.A * np.exp(3.0))
    res = simulate(ConstantPolicy(0.0, 0.0), m, 100, rng=1)
    assert np.all(res.n_bid == m.n_steps) and np.all(res.n_ask == m.n_steps)


def test_nan_side_never_fills():
    pol = lambda t, s, x: (s - 0.1, np.full_like(s, np.nan))  # noqa: E731
    res = simulate(pol, MARKET, 200, rng=1)
    assert np.all(res.n_ask == 0) and np.all(res.n_bid > 0)
    assert np.max(np.abs(res.identity_residual())) < 1e-9


def test_glft_and_hjb_policies_stay_within_bounds():
    Q = 4
    glft = GLFTPolicy(solve_glft(PAPER, Q, 200))
    hjb = HJBPolicy(solve_hjb(article_params(PAPER, Q), 200))
    for pol in (glft, hjb):
        res = simulate(pol, MARKET, 1000, rng=21, record=True)
        assert np.abs(res.paths.x).max() <= Q
        assert np.max(np.abs(res.identity_residual())) < 1e-9


def test_table_policy_uses_grid_time_at_or_before_t():
    sol = solve_glft(PAPER, 3, 4)  # grid 0, .25, .5, .75, 1
    pol = GLFTPolicy(sol)
    s, x = np.array([100.0]), np.array([1.0])
    for t, row in [(0.0, 0), (0.24, 0), (0.25, 1), (0.7499, 2), (0.8, 3)]:
        bid, _ = pol(t, s, x)
        assert_allclose(100.0 - bid, sol.delta_b[row, 4], rtol=0, atol=1e-12)


def test_policy_leaving_its_grid_raises():
    pol = GLFTPolicy(solve_glft(PAPER, 2, 10))
    with pytest.raises(ValueError, match="inventory left the policy's grid"):
        simulate(pol, MARKET, 10, x0=3, rng=0)


def _builtin_policies():
    Q = 4
    return {
        "constant": ConstantPolicy(0.3, 0.9),
        "as_inventory": ASInventoryPolicy(PAPER),
        "as_symmetric": ASSymmetricPolicy(PAPER),
        "glft": GLFTPolicy(solve_glft(PAPER, Q, 40)),
        "hjb": HJBPolicy(solve_hjb(article_params(PAPER, Q), 40)),
    }


@pytest.mark.parametrize("name", list(_builtin_policies()))
@pytest.mark.parametrize("wrapped", [False, True])
def test_engine_posts_policy_quotes_at_t_n_and_state_before_the_step(name, wrapped):
    """The recorded quotes of step n are policy(t_n, S_n, X_n): the fast path of a built-in
    policy (its _depths) and the same policy wrapped as a plain callable both obey it."""
    pol = _builtin_policies()[name]
    run = (lambda t, s, x: pol(t, s, x)) if wrapped else pol
    m = MARKET.replace(x_max=4, dt=0.01)
    res = simulate(run, m, 300, x0=2, rng=17, record=True)
    P = res.paths
    assert P.x.min() < 2 < P.x.max()  # the inventory moves, so the test sees x
    for n in range(m.n_steps):
        bid, ask = pol(n * m.dt, P.s[n], P.x[n])
        assert_allclose(P.bid[n], bid, rtol=0, atol=1e-9, equal_nan=True, err_msg=f"step {n}")
        assert_allclose(P.ask[n], ask, rtol=0, atol=1e-9, equal_nan=True, err_msg=f"step {n}")


def test_as_inventory_policy_skews_against_inventory():
    """r = s - x psi sigma^2 (T - t), written out here: a long maker quotes lower on both sides."""
    p = PAPER
    t, s, x = 0.25, np.array([100.0, 100.0, 100.0]), np.array([-3.0, 0.0, 3.0])
    bid, ask = ASInventoryPolicy(p)(t, s, x)
    tau = p.T - t
    r = s - x * p.risk_aversion * p.sigma**2 * tau
    half = 0.5 * (p.risk_aversion * p.sigma**2 * tau + 2 / p.risk_aversion
                  * math.log(1 + p.risk_aversion / p.k))
    assert_allclose(bid, r - half, rtol=0, atol=1e-12)
    assert_allclose(ask, r + half, rtol=0, atol=1e-12)
    assert ask[2] < ask[1] < ask[0] and bid[2] < bid[1] < bid[0]
    # and the engine's fast path pulls the inventory back: from x0 = 6 the mean ends near 0
    res = simulate(ASInventoryPolicy(p), MARKET, 4000, x0=6, rng=3)
    sym = simulate(ASSymmetricPolicy(p), MARKET, 4000, x0=6, rng=3)
    assert abs(res.x.mean()) < 1.0 and abs(sym.x.mean() - 6.0) < 0.5
    assert np.abs(res.x).mean() < np.abs(sym.x).mean()


@pytest.mark.parametrize("fill_model", ["exponential", "linear"])
@pytest.mark.parametrize("lam_dt", [0.9, 2.0])
def test_one_step_fill_law_at_a_coarse_step(fill_model, lam_dt):
    """One step with lambda dt ~ 1, where 1 - exp(-lambda dt) and min(lambda dt, 1) differ."""
    # quotes at the mid (crossed quotes are refused), so A e^{-k 0} dt = A = lam_dt
    m = MarketParams(s0=100.0, sigma=0.0, A=lam_dt, k=1.0, T=1.0, dt=1.0, fill_model=fill_model)
    res = simulate(ConstantPolicy(0.0, 0.0), m, 100_000, rng=23)
    p = -math.expm1(-lam_dt) if fill_model == "exponential" else min(lam_dt, 1.0)
    for fills in (res.n_bid, res.n_ask):
        if p == 1.0:
            assert np.all(fills == 1)
        else:
            within(mc_stats(fills), p)


# ---------------------------------------------------------------------------
# statistics
# ---------------------------------------------------------------------------
def test_mc_stats_against_numpy_and_normal_theory():
    rng = np.random.default_rng(0)
    y = rng.normal(2.0, 3.0, 200_000)
    st = mc_stats(y, ci=0.9, quantiles=(0.5,))
    assert_allclose(st.mean, y.mean(), rtol=1e-12)
    assert_allclose(st.std, y.std(ddof=1), rtol=1e-12)
    assert_allclose(st.sem, y.std(ddof=1) / math.sqrt(y.size), rtol=1e-12)
    assert_allclose(st.std_se, 3.0 / math.sqrt(2 * y.size), rtol=0.05)  # normal theory
    assert_allclose(st.ci[1] - st.mean, 1.6448536 * st.sem, rtol=1e-6)
    assert_allclose(st.sharpe, st.mean / st.std, rtol=1e-12)
    assert_allclose(st.quantiles[0.5], np.median(y), rtol=1e-12)


def test_mc_stats_ci_coverage():
    """A 95% CI covers the true mean in about 95% of independent repetitions."""
    rng = np.random.default_rng(1)
    cover = [mc_stats(rng.exponential(1.0, 400)).ci for _ in range(2000)]
    hits = np.mean([lo <= 1.0 <= hi for lo, hi in cover])
    assert abs(hits - 0.95) < 4 * math.sqrt(0.95 * 0.05 / 2000) + 0.01  # + skew bias


# ---------------------------------------------------------------------------
# reproducibility and errors
# ---------------------------------------------------------------------------
def test_seeded_run_is_reproducible():
    m = MARKET.replace(price_model="jump", jump_rate=2.0, jump_std=0.3, toxic_prob=0.2,
                       toxic_size=0.1)
    a = simulate(ASInventoryPolicy(PAPER), m, 500, rng=42)
    b = simulate(ASInventoryPolicy(PAPER), m, 500, rng=np.random.default_rng(42))
    c = simulate(ASInventoryPolicy(PAPER), m, 500, rng=43)
    for name in ("cash", "x", "s_T", "spread_pnl", "inventory_pnl", "adverse_pnl"):
        assert_array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.s_T, c.s_T)


FIELDS = ("cash", "x", "s_T", "n_bid", "n_ask", "spread_pnl", "inventory_pnl", "adverse_pnl")


@pytest.mark.parametrize("cfg", CONFIGS)
def test_result_does_not_depend_on_the_number_of_threads(cfg):
    """Blocks of a fixed size, each with its own stream: 1, 2 or 3 workers give the same bits."""
    m = MARKET.replace(**cfg, dt=0.02)
    n = 2 * _CHUNK + 123  # three blocks, the last one short
    runs = [simulate(ASInventoryPolicy(PAPER), m, n, x0=1, rng=5, workers=w, record=(w == 1))
            for w in (1, 2, 3)]
    for r in runs[1:]:
        for name in FIELDS:
            assert_array_equal(getattr(r, name), getattr(runs[0], name), err_msg=name)
    assert_array_equal(runs[0].paths.s[-1], runs[0].s_T)  # and recording does not change them


def test_block_streams_are_independent_and_fixed():
    """Block b's paths depend on the seed and b only (not on n_paths), and blocks are
    uncorrelated: the correlation of their terminal mids is within 4 standard errors of 0."""
    m = MARKET.replace(dt=0.02)
    two = simulate(ConstantPolicy(1.0, 1.0), m, 2 * _CHUNK, rng=8, workers=2)
    one = simulate(ConstantPolicy(1.0, 1.0), m, _CHUNK, rng=8, workers=1)
    assert_array_equal(two.s_T[:_CHUNK], one.s_T)  # the first block, whatever follows it
    assert_array_equal(two.cash[:_CHUNK], one.cash)
    a, b = two.s_T[:_CHUNK], two.s_T[_CHUNK:]
    assert not np.array_equal(a, b)
    rho = np.corrcoef(a, b)[0, 1]
    assert abs(rho) < 4.0 / math.sqrt(_CHUNK), rho
    fa, fb = two.n_fills[:_CHUNK], two.n_fills[_CHUNK:]
    assert abs(np.corrcoef(fa, fb)[0, 1]) < 4.0 / math.sqrt(_CHUNK)
    # the two blocks have the same law: mean fill counts within 4 standard errors
    sa, sb = mc_stats(fa), mc_stats(fb)
    assert abs(sa.mean - sb.mean) < 4 * math.hypot(sa.sem, sb.sem)


def test_table_and_per_path_quotes_agree():
    """A built-in policy's quotes come from a table over the inventories present, a
    wrapped callable's from one column a path: the two give the same law."""
    m = MARKET.replace(price_model="binomial", fill_model="linear")
    fast = simulate(ASInventoryPolicy(PAPER), m, 20_000, rng=31)
    wrapped = simulate(lambda t, s, x: ASInventoryPolicy(PAPER)(t, s, x), m, 20_000, rng=32)
    for name in ("total_pnl", "x", "n_fills"):
        a, b = mc_stats(getattr(fast, name)), mc_stats(getattr(wrapped, name))
        assert abs(a.mean - b.mean) < 4 * math.hypot(a.sem, b.sem), name
        assert abs(a.std - b.std) < 4 * math.hypot(a.std_se, b.std_se), name


def test_workers_validated():
    with pytest.raises(ValueError, match="workers must be an integer >= 1"):
        simulate(ConstantPolicy(1, 1), MARKET, 10, workers=0)
    with pytest.raises(ValueError, match="workers must be an integer"):
        simulate(ConstantPolicy(1, 1), MARKET, 10, workers=1.5)


def test_error_in_a_block_is_raised_with_workers():
    """A policy's error inside a block propagates, on 1 and on 2 threads."""
    pol = GLFTPolicy(solve_glft(PAPER, 2, 10))
    for w in (1, 2):
        with pytest.raises(ValueError, match="inventory left the policy's grid"):
            simulate(pol, MARKET, 2 * _CHUNK, x0=3, rng=0, workers=w)


def test_bad_inputs():
    with pytest.raises(ValueError, match="sigma must be >= 0"):
        MARKET.replace(sigma=-1.0)
    with pytest.raises(ValueError, match="dt must be > 0"):
        MARKET.replace(dt=0.0)
    with pytest.raises(ValueError, match="dt must be > 0"):
        MARKET.replace(dt=-0.1)
    with pytest.raises(ValueError, match="T / dt must be a positive integer"):
        MARKET.replace(dt=0.3)
    with pytest.raises(ValueError, match="price_model must be one of"):
        MARKET.replace(price_model="gbm")
    with pytest.raises(ValueError, match="toxic_prob must be <= 1"):
        MARKET.replace(toxic_prob=1.5)
    with pytest.raises(ValueError, match="n_paths must be an integer >= 1"):
        simulate(ConstantPolicy(1, 1), MARKET, 0)
    with pytest.raises(ValueError, match=r"shape \(10,\)"):
        simulate(lambda t, s, x: (s[:5], s[:5]), MARKET, 10)
    with pytest.raises(ValueError, match="pair"):
        simulate(lambda t, s, x: s, MARKET, 10)
    with pytest.raises(ValueError, match="policy must be callable"):
        simulate(None, MARKET, 10)
    with pytest.raises(ValueError, match="x0 must satisfy"):
        simulate(ConstantPolicy(1, 1), MARKET.replace(x_max=2), 10, x0=3)
    with pytest.raises(ValueError, match="at least 2 paths"):
        mc_stats([1.0])


@pytest.mark.parametrize("market", [
    MARKET.replace(price_model="binomial", fill_model="linear"),
    MARKET.replace(fill_model="exponential", toxic_prob=0.3, toxic_size=0.05),
    MARKET.replace(price_model="jump", jump_rate=5.0, jump_std=0.3, x_max=3),
], ids=["binomial-linear", "toxic-exponential", "jump-bounded"])
def test_several_steps_a_call_changes_no_number(market, monkeypatch):
    """A built-in policy's block runs several steps per compiled call; one step a call (the
    plain loop) must give the same numbers bit for bit, for the closed-form policy and for a
    table policy on a market bounded at its grid's edge."""
    import mmlib.simulation as sim

    several = sim._STEPS_PER_CALL
    assert several > 1
    hjb = HJBPolicy(solve_hjb(article_params(PAPER, 4), 200))
    pols = [ASInventoryPolicy(PAPER), hjb] if market.x_max else [ASInventoryPolicy(PAPER)]
    for pol in pols:
        runs = []
        for per_call in (several, 1):
            monkeypatch.setattr(sim, "_STEPS_PER_CALL", per_call)
            r = simulate(pol, market.replace(x_max=4) if pol is hjb else market, 3000,
                         rng=np.random.default_rng(5), workers=2)
            runs.append(r)
        for name in ("cash", "x", "s_T", "n_bid", "n_ask", "spread_pnl", "inventory_pnl"):
            assert_array_equal(getattr(runs[0], name), getattr(runs[1], name), err_msg=name)


def test_crossed_quote_check_looks_only_at_inventories_held():
    """A table crossed at an inventory no path holds is not an error; one a path holds is,
    and the message names that path."""
    from mmlib.simulation import _check_crossed

    D = np.array([[0.5, 0.5, 0.9], [0.5, 0.5, -1.0]])  # crossed at table column 2 only
    s = np.array([100.0, 100.0])
    _check_crossed(3, 0.1, 0, s, D, np.array([0, 1]))  # no path at column 2: no error
    with pytest.raises(ValueError, match="crossed quotes at step 3.*path 11"):
        _check_crossed(3, 0.1, 10, s, D, np.array([0, 2]))
