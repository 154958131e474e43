"""Tests of mmlib.microprice against independent truths.

* two hand-built chains whose micro-price is known in closed form;
* the clock-time limit lim_t E[M_t - M_0 | x_0], computed by matrix powers of the state chain
  (a route that never forms Q, R, T, g1 or B);
* the exact expected adverse selection of a quoting maker, again by matrix powers, against
  the Monte Carlo estimate and its standard error.
"""
import numpy as np
import pytest
from numpy.testing import assert_allclose

from mmlib.microprice import (
    ChainSample,
    MicroChain,
    estimate_chain,
    exact_micro_adjustment,
    imbalance_spread_chain,
    micro_adjustment,
    simulate_chain,
    simulate_quoting,
    weighted_mid_adjustment,
)

MOVES3 = np.array([-1.0, 0.0, 1.0])


def reset_chain(u, d):
    """One spread; the imbalance never moves without a mid move; after a move the bucket is
    redrawn uniformly. Then B = 1 nu with nu g1 = 0, so G = g1 = (u - d) / (u + d)."""
    u, d = np.asarray(u, float), np.asarray(d, float)
    n = u.size
    P = np.zeros((n, 3, n))
    P[np.arange(n), 1, np.arange(n)] = 1 - u - d
    P[:, 2, :] = u[:, None] / n
    P[:, 0, :] = d[:, None] / n
    return MicroChain(P=P, moves=MOVES3, n_imb=n, spreads=[1.0])


def persistent_chain(p, q, a):
    """Two buckets (low, high). From low the mid rises w.p. p, falls w.p. q; mirrored from high.
    After a move the bucket switches w.p. a. So g1 = (-g, g) with g = (q - p)/(q + p) and
    B = [[1-a, a], [a, 1-a]], B g1 = (1 - 2a) g1, hence G = g1 / (2a)."""
    P = np.zeros((2, 3, 2))
    for lo, (up, dn) in enumerate(((p, q), (q, p))):
        hi = 1 - lo
        P[lo, 1, lo] = 1 - up - dn
        for m, r in ((2, up), (0, dn)):
            P[lo, m, lo] = r * (1 - a)
            P[lo, m, hi] = r * a
    return MicroChain(P=P, moves=MOVES3, n_imb=2, spreads=[1.0])


def clock_time_limit(chain, n_steps=4000):
    """lim_t E[M_t - M_0 | x_0] by summing powers of the state transition matrix."""
    Pst = chain.P.sum(axis=1)
    drift = chain.P.sum(axis=2) @ chain.moves
    total, term = np.zeros_like(drift), drift.copy()
    for _ in range(n_steps):
        total += term
        term = Pst @ term
    return total, np.abs(term).max()


def random_symmetric_chain(rng, n_imb=5):
    n = 2 * n_imb
    ch0 = imbalance_spread_chain(n_imb=n_imb)
    P = rng.random((n, 5, n))
    P[:, 2, :] *= 8.0  # mostly no mid move
    P /= P.sum(axis=(1, 2), keepdims=True)
    m = ch0.mirror
    P = 0.5 * (P + P[m][:, ::-1][:, :, m])
    return MicroChain(P=P, moves=ch0.moves, n_imb=n_imb, spreads=ch0.spreads)


def test_reset_chain_closed_form():
    u = np.array([0.02, 0.05, 0.08, 0.11])
    ch = reset_chain(u, u[::-1])
    G_true = (u - u[::-1]) / (u + u[::-1])
    assert_allclose(exact_micro_adjustment(ch), G_true, atol=1e-12)
    adj = micro_adjustment(ch, 3)
    assert_allclose(adj.g1, G_true, atol=1e-12)
    assert_allclose(adj.partial_sums[1:], np.tile(G_true, (2, 1)), atol=1e-12)  # B g1 = 0


@pytest.mark.parametrize("a", [0.1, 0.3, 0.7])
def test_persistent_chain_closed_form(a):
    p, q = 0.03, 0.09
    ch = persistent_chain(p, q, a)
    g = (q - p) / (q + p)
    G_true = np.array([-g, g]) / (2 * a)
    assert_allclose(exact_micro_adjustment(ch), G_true, atol=1e-10)
    assert_allclose(micro_adjustment(ch, 400).G, G_true, atol=1e-10)
    clock, tail = clock_time_limit(ch, 6000)
    assert tail < 1e-12
    assert_allclose(clock, G_true, atol=1e-9)


def test_teaching_chain_matches_clock_time_limit():
    ch = imbalance_spread_chain()
    G = exact_micro_adjustment(ch)
    clock, tail = clock_time_limit(ch)
    assert tail < 1e-12
    assert_allclose(G, clock, atol=1e-9)
    errs = np.abs(micro_adjustment(ch, 40).partial_sums - G).max(axis=1)
    assert errs[-1] < 1e-10 and np.all(np.diff(errs) <= 1e-15)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_symmetric_chain_antisymmetric_and_zero_at_balance(seed):
    ch = random_symmetric_chain(np.random.default_rng(seed), n_imb=5)
    assert ch.is_symmetric()
    G = exact_micro_adjustment(ch)
    assert_allclose(G[ch.mirror], -G, atol=1e-12)
    balanced = np.flatnonzero(np.isclose(ch.imbalance, 0.5))
    assert balanced.size == 2
    assert_allclose(G[balanced], 0.0, atol=1e-12)
    for Gj in micro_adjustment(ch, 5).partial_sums:
        assert_allclose(Gj[ch.mirror], -Gj, atol=1e-12)


def test_estimator_recovers_closed_form_and_error_shrinks():
    p, q, a = 0.03, 0.09, 0.3
    ch = persistent_chain(p, q, a)
    g = (q - p) / (q + p)
    G_true = g / (2 * a)
    reps, errs = 24, {}
    for n_steps in (500, 8000):
        est = []
        for r in range(reps):
            s = simulate_chain(ch, n_steps, 20, rng=np.random.default_rng([n_steps, r]))
            e, _ = estimate_chain(s.states, s.dmid, ch)
            est.append(exact_micro_adjustment(e)[1])
        est = np.array(est)
        sem = est.std(ddof=1) / np.sqrt(reps)
        assert abs(est.mean() - G_true) < 4 * sem + 0.02 * G_true  # sampling error (+ O(1/N) bias)
        errs[n_steps] = np.sqrt(np.mean((est - G_true) ** 2))
    # 16 times the sample: the root-mean-square error should fall about 4-fold
    assert 0.12 < errs[8000] / errs[500] < 0.45


def test_symmetrisation_makes_the_series_converge():
    ch = imbalance_spread_chain(n_imb=4)
    s = simulate_chain(ch, 3000, 5, rng=11)
    raw, _ = estimate_chain(s.states, s.dmid, ch, symmetrize=False)
    sym, counts = estimate_chain(s.states, s.dmid, ch, symmetrize=True)
    assert sym.is_symmetric() and not raw.is_symmetric()
    assert counts.sum() == 2 * s.dmid.size
    exact_micro_adjustment(sym)
    with pytest.raises(ValueError, match="symmetrise"):
        exact_micro_adjustment(raw)


def test_estimator_counts_match_definition():
    ch = reset_chain(np.array([0.2, 0.3]), np.array([0.3, 0.2]))
    states = np.array([[0, 0, 1, 1]])
    dmid = np.array([[0.0, 1.0, -1.0]])
    est, counts = estimate_chain(states, dmid, ch, symmetrize=False)
    assert_allclose(counts, [2, 1])
    assert_allclose(est.P[0, 1, 0], 0.5)
    assert_allclose(est.P[0, 2, 1], 0.5)
    assert_allclose(est.P[1, 0, 1], 1.0)
    est_s, counts_s = estimate_chain(states, dmid, ch)  # mirrored copies: 0 <-> 1, dM -> -dM
    assert_allclose(counts_s, [3, 3])
    assert_allclose(est_s.P[1, 0, 0], 1 / 3)


def test_weighted_mid():
    ch = imbalance_spread_chain(n_imb=4)
    I, S = ch.imbalance, ch.spread
    bid, ask = -S / 2, S / 2
    assert_allclose(weighted_mid_adjustment(ch), bid * (1 - I) + ask * I)


def _expected_adverse_selection(ch, centre, fair, h, A, k, H, n_steps):
    """Exact E[adverse selection per path] by matrix powers, from a uniform start."""
    Pst = ch.P.sum(axis=1)
    drift = ch.P.sum(axis=2) @ ch.moves
    markout = np.zeros(ch.n_states)
    term = drift.copy()
    for _ in range(H):
        markout += term
        term = Pst @ term
    p_bid = 1 - np.exp(-A * np.exp(-k * (fair - centre + h)))
    p_ask = 1 - np.exp(-A * np.exp(-k * (centre - fair + h)))
    law = np.full(ch.n_states, 1.0 / ch.n_states)
    total = 0.0
    for _ in range(n_steps - H):
        total += law @ ((p_ask - p_bid) * markout)
        law = law @ Pst
    return total


def test_quoting_adverse_selection_matches_exact_expectation():
    ch = imbalance_spread_chain(n_imb=6)
    G = exact_micro_adjustment(ch)
    s = simulate_chain(ch, 400, 3000, rng=5)
    for centre in (np.zeros_like(G), weighted_mid_adjustment(ch), G):
        r = simulate_quoting(s, centre, G, half_spread=0.5, A=0.3, k=2.0, horizon=60, rng=6)
        exact = _expected_adverse_selection(ch, centre, G, 0.5, 0.3, 2.0, 60, 400)
        sem = r.adverse_selection.std(ddof=1) / np.sqrt(r.adverse_selection.size)
        assert abs(r.adverse_selection.mean() - exact) < 4 * sem
        assert_allclose(r.pnl, r.spread_capture - r.adverse_selection + r.inventory_pnl,
                        atol=1e-9)
    # a maker centred on the fair price is never adversely selected in expectation
    assert _expected_adverse_selection(ch, G, G, 0.5, 0.3, 2.0, 60, 400) == pytest.approx(0, abs=1e-12)


def test_quoting_accounting_by_hand():
    states = np.array([[0, 1, 1, 0]])
    dmid = np.array([[1.0, 0.0, -1.0]])
    mid = np.array([[0.0, 1.0, 1.0, 0.0]])
    s = ChainSample(states=states, dmid=dmid, mid=mid)
    # A huge: both sides always fill at t = 0, 1 (horizon 1 leaves 2 quoting steps)
    r = simulate_quoting(s, [0.0, 0.0], [0.0, 0.0], half_spread=0.5, A=1e6, k=1.0, horizon=1,
                         rng=0)
    assert r.n_fills[0] == 4 and r.inventory[0] == 0
    assert_allclose(r.spread_capture, [2.0])
    assert_allclose(r.adverse_selection, [0.0])  # each buy cancels a sell at the same step
    assert_allclose(r.pnl, [2.0])


def test_reproducible():
    ch = imbalance_spread_chain(n_imb=4)
    a, b = simulate_chain(ch, 200, 7, rng=3), simulate_chain(ch, 200, 7, rng=3)
    assert np.array_equal(a.states, b.states) and np.array_equal(a.mid, b.mid)
    G = exact_micro_adjustment(ch)
    r1 = simulate_quoting(a, 0 * G, G, half_spread=0.5, A=0.3, k=1.0, horizon=20, rng=4)
    r2 = simulate_quoting(b, 0 * G, G, half_spread=0.5, A=0.3, k=1.0, horizon=20, rng=4)
    assert np.array_equal(r1.pnl, r2.pnl)


def test_bad_input():
    ch = imbalance_spread_chain(n_imb=4)
    with pytest.raises(ValueError, match="n_imb"):
        imbalance_spread_chain(n_imb=1)
    with pytest.raises(ValueError, match="depletion"):
        imbalance_spread_chain(depletion=0.0)
    with pytest.raises(ValueError, match="P"):
        MicroChain(P=ch.P * 2, moves=ch.moves, n_imb=4, spreads=ch.spreads)
    with pytest.raises(ValueError, match="moves"):
        MicroChain(P=ch.P, moves=[-1, 0, 0.5, 1, 2], n_imb=4, spreads=ch.spreads)
    with pytest.raises(ValueError, match="n_steps"):
        simulate_chain(ch, 0)
    with pytest.raises(ValueError, match="x0"):
        simulate_chain(ch, 10, x0=99)
    s = simulate_chain(ch, 30, 2, rng=0)
    with pytest.raises(ValueError, match="dmid"):
        estimate_chain(s.states, s.dmid + 0.25, ch)
    with pytest.raises(ValueError, match="states"):
        estimate_chain(s.states + 100, s.dmid, ch)
    with pytest.raises(ValueError, match="n_terms"):
        micro_adjustment(ch, 0)
    tiny, counts = estimate_chain(s.states[:1, :3], s.dmid[:1, :2], ch)
    assert np.any(counts == 0)
    with pytest.raises(ValueError, match="never see a mid move"):
        micro_adjustment(tiny, 3)
    with pytest.raises(ValueError, match="never see a mid move"):
        exact_micro_adjustment(tiny)
    G = exact_micro_adjustment(ch)
    with pytest.raises(ValueError, match="horizon"):
        simulate_quoting(s, G, G, half_spread=0.5, A=0.3, k=1.0, horizon=30)
    with pytest.raises(ValueError, match="half_spread"):
        simulate_quoting(s, G, G, half_spread=-1, A=0.3, k=1.0, horizon=3)
    with pytest.raises(ValueError, match="centre"):
        simulate_quoting(s, G[:2], G, half_spread=0.5, A=0.3, k=1.0, horizon=3)


def test_vectorised_simulation_matches_plain_loop():
    """The path-vectorised kernel equals a plain per-path, per-step inversion of the same draws."""
    ch = imbalance_spread_chain(n_imb=3)
    n_steps, n_paths = 40, 5
    s = simulate_chain(ch, n_steps, n_paths, rng=21)
    rng = np.random.default_rng(21)
    x0 = rng.integers(0, ch.n_states, size=n_paths)
    u = rng.random((n_steps, n_paths))
    flat = ch.P.reshape(ch.n_states, -1)
    for p in range(n_paths):
        x, mid = x0[p], 0.0
        assert s.states[p, 0] == x
        for t in range(n_steps):
            acc, cell = 0.0, flat.shape[1] - 1
            for j, pr in enumerate(flat[x]):
                acc += pr
                if u[t, p] < acc:
                    cell = j
                    break
            m, x = divmod(cell, ch.n_states)
            mid += ch.moves[m]
            assert s.states[p, t + 1] == x and s.mid[p, t + 1] == pytest.approx(mid)
