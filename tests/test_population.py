"""Master equation and Monte Carlo of inventories, against independent truths."""
import numpy as np
import pytest
import scipy.linalg as sla

from mmlib import (ModelParams, default_rho0, evolve_population, min_stable_population_steps,
                   simulate_inventory, solve_hjb)


@pytest.fixture
def small():
    p = ModelParams(A=1.5, k=1.0, eta=0.05, gamma=0.2, T=3.0, x_max=5)
    return p, solve_hjb(p, 60)


def dense_generator(sol, n):
    """Q_n written out from the quotes: Q[x, x-1] = A e^{-k da}, Q[x, x+1] = A e^{-k db}."""
    p = sol.params
    Q = np.zeros((p.n_states, p.n_states))
    for i in range(p.n_states):
        if i > 0:
            Q[i, i - 1] = sol.A_a[n] * np.exp(-p.k * sol.delta_a[n, i])
        if i < p.n_states - 1:
            Q[i, i + 1] = sol.A_b[n] * np.exp(-p.k * sol.delta_b[n, i])
        Q[i, i] = -Q[i].sum()
    return Q


def test_exact_step_matches_scipy_expm_and_conserves_mass(small):
    p, sol = small
    rho0 = default_rho0(p.x_max, sd=2.0)
    rho = evolve_population(sol, rho0)
    ref = [rho0]
    for n in range(sol.n_steps):
        ref.append(ref[-1] @ sla.expm(dense_generator(sol, n) * sol.dt))
    np.testing.assert_allclose(rho, np.array(ref), atol=1e-13)
    np.testing.assert_allclose(rho.sum(axis=1), 1.0, atol=1e-12)
    assert rho.min() >= 0.0


def test_euler_converges_at_first_order_to_exact():
    p = ModelParams(A=1.5, k=1.0, eta=0.05, gamma=0.2, T=3.0, x_max=5)
    rho0 = default_rho0(p.x_max, sd=2.0)
    errs = []
    for n in (100, 200, 400, 800):
        sol = solve_hjb(p, n)
        errs.append(np.abs(evolve_population(sol, rho0, "euler")[-1]
                           - evolve_population(sol, rho0)[-1]).max())
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    np.testing.assert_allclose(ratios, 2.0, rtol=0.1)


def test_euler_refuses_steps_that_lose_positivity_and_shows_it_when_forced():
    p = ModelParams(A=3.0, k=1.0, eta=0.05, gamma=0.5, T=4.0, x_max=6)
    sol = solve_hjb(p, 8)
    rho0 = np.zeros(p.n_states)
    rho0[-1] = 1.0  # all mass at the long boundary, where the ask rate is highest
    with pytest.raises(ValueError, match=r"n_steps >= \d+"):
        evolve_population(sol, rho0, "euler")
    forced = evolve_population(sol, rho0, "euler", check_stability=False)
    assert forced.min() < 0  # negative "probabilities"
    np.testing.assert_allclose(forced.sum(axis=1), 1.0, atol=1e-12)  # mass still sums to 1


def test_min_stable_population_steps_is_the_smallest_accepted():
    p = ModelParams(A=3.0, k=1.0, eta=0.05, gamma=0.5, T=4.0, x_max=6)
    rho0 = default_rho0(p.x_max)
    n = min_stable_population_steps(p)
    sol = solve_hjb(p, n)
    # by hand: the largest total rate before T times dt is at most 1
    ra = p.A * np.exp(-p.k * np.nan_to_num(sol.delta_a[:-1], nan=np.inf))
    rb = p.A * np.exp(-p.k * np.nan_to_num(sol.delta_b[:-1], nan=np.inf))
    assert (ra + rb).max() * p.T / n <= 1.0
    assert evolve_population(sol, rho0, "euler").min() >= 0.0
    with pytest.raises(ValueError, match="loses positivity"):
        evolve_population(solve_hjb(p, n - 1), rho0, "euler")
    assert min_stable_population_steps(p, method="exact") == 1


def _tv(counts, p):
    return 0.5 * np.abs(counts / counts.sum() - p).sum()


def _expected_tv_bound(p, n):
    """E[TV] <= 1/2 sum_x sqrt(p_x (1 - p_x) / n) for a multinomial histogram (Jensen)."""
    return 0.5 * np.sqrt(p * (1 - p) / n).sum()


def test_monte_carlo_matches_master_equation_within_statistical_bound(small):
    p, sol = small
    rho0 = default_rho0(p.x_max, sd=2.0)
    rho = evolve_population(sol, rho0)
    tvs, ns = [], [500, 2000, 8000, 32000]
    for j, n in enumerate(ns):
        X = simulate_inventory(sol, rho0, n, rng=100 + j)
        tv_t = []
        for i in (20, 60):
            counts = np.bincount(X[i] + p.x_max, minlength=p.n_states)
            tv = _tv(counts, rho[i])
            assert tv <= 3.0 * _expected_tv_bound(rho[i], n), (n, i, tv)
            tv_t.append(tv)
        tvs.append(np.mean(tv_t))
    slope = np.polyfit(np.log(ns), np.log(tvs), 1)[0]
    assert -0.85 < slope < -0.2, slope


def test_per_step_simulation_is_close_for_small_steps():
    p = ModelParams(A=1.0, k=1.0, eta=0.05, gamma=0.2, T=2.0, x_max=4)
    sol = solve_hjb(p, 400)
    rho = evolve_population(sol, default_rho0(p.x_max, sd=1.5))
    X = simulate_inventory(sol, default_rho0(p.x_max, sd=1.5), 20000, rng=5, method="step")
    counts = np.bincount(X[-1] + p.x_max, minlength=p.n_states)
    assert _tv(counts, rho[-1]) <= 3 * _expected_tv_bound(rho[-1], 20000) + 0.01


def test_per_step_simulation_one_step_law_at_a_coarse_step():
    """One step with lambda dt ~ 1: each side fills with probability 1 - exp(-lambda dt)
    (not lambda dt), independently, so from x = 0 the three outcomes have known laws."""
    p = ModelParams(A=1.0, k=1.0, eta=0.05, gamma=0.2, T=2.5, x_max=4)
    sol = solve_hjb(p, 1)
    i0 = p.x_max
    la = p.A * np.exp(-p.k * sol.delta_a[0, i0]) * sol.dt  # ask: x -> x - 1
    lb = p.A * np.exp(-p.k * sol.delta_b[0, i0]) * sol.dt  # bid: x -> x + 1
    assert 0.7 < la < 1.3 and 0.7 < lb < 1.3
    pa, pb = 1 - np.exp(-la), 1 - np.exp(-lb)
    law = {-1: pa * (1 - pb), 0: pa * pb + (1 - pa) * (1 - pb), 1: pb * (1 - pa)}
    n = 200_000
    X = simulate_inventory(sol, 0, n, rng=31, method="step")[1]
    for x, q in law.items():
        freq = np.mean(X == x)
        assert abs(freq - q) <= 4 * np.sqrt(q * (1 - q) / n), (x, freq, q)


def test_per_step_simulation_law_over_coarse_steps_with_changing_rates():
    """Three coarse steps whose rates change from step to step (gamma large, T short): the
    per-step Monte Carlo uses the rates of grid time t_i on step i, each side filling with
    probability 1 - exp(-lambda_i dt); the exact law is the product of the one-step
    transition matrices written out here."""
    p = ModelParams(A=1.0, k=1.0, eta=0.05, gamma=1.0, T=3.0, x_max=4)
    sol = solve_hjb(p, 3)
    n, h = p.n_states, sol.dt
    law = np.zeros(n)
    law[p.x_max] = 1.0
    for i in range(sol.n_steps):
        la = np.where(np.isnan(sol.delta_a[i]), 0.0, p.A * np.exp(-p.k * sol.delta_a[i]))
        lb = np.where(np.isnan(sol.delta_b[i]), 0.0, p.A * np.exp(-p.k * sol.delta_b[i]))
        pa, pb = 1 - np.exp(-la * h), 1 - np.exp(-lb * h)
        step = np.zeros((n, n))
        for x in range(n):
            if x > 0:
                step[x, x - 1] = pa[x] * (1 - pb[x])
            if x < n - 1:
                step[x, x + 1] = pb[x] * (1 - pa[x])
            step[x, x] = 1 - step[x].sum()
        law = law @ step
    m = 200_000
    X = simulate_inventory(sol, 0, m, rng=37, method="step")[-1]
    freq = np.bincount(X + p.x_max, minlength=n) / m
    assert np.all(np.abs(freq - law) <= 4 * np.sqrt(law * (1 - law) / m) + 1e-12), (freq, law)


def test_simulation_is_reproducible_and_respects_bounds(small):
    p, sol = small
    a = simulate_inventory(sol, 0, 300, rng=7)
    b = simulate_inventory(sol, 0, 300, rng=np.random.default_rng(7))
    np.testing.assert_array_equal(a, b)
    assert np.abs(a).max() <= p.x_max and np.all(a[0] == 0)
    assert np.all(np.abs(np.diff(a, axis=0)) <= sol.n_steps)  # sanity


def test_mean_inventory_of_simulation_matches_master_equation(small):
    p, sol = small
    rho = evolve_population(sol, default_rho0(p.x_max, sd=2.0))
    X = simulate_inventory(sol, default_rho0(p.x_max, sd=2.0), 40000, rng=11)
    mean_ref = rho[-1] @ p.x
    se = X[-1].std() / np.sqrt(X.shape[1])
    assert abs(X[-1].mean() - mean_ref) < 4 * se


@pytest.mark.parametrize("rho0,match", [
    (np.full(11, 1 / 10), "rho0"),  # sums to 1.1
    (np.r_[-0.1, np.full(10, 0.11)], "rho0"),
    (np.full(5, 0.2), "rho0"),
    (np.r_[np.nan, np.full(10, 0.1)], "rho0"),
])
def test_bad_rho0_is_refused(small, rho0, match):
    with pytest.raises(ValueError, match=match):
        evolve_population(small[1], rho0)


@pytest.mark.parametrize("kwargs,match", [
    (dict(initial=0, n_paths=0), "n_paths"),
    (dict(initial=9, n_paths=10), "initial"),
    (dict(initial=np.ones(3) / 3, n_paths=10), "initial"),
    (dict(initial=0, n_paths=10, method="gillespie"), "method"),
    (dict(initial=0, n_paths=10, rng=-1), "rng"),
    (dict(initial=0, n_paths=10, rng="seed"), "rng"),
])
def test_bad_simulation_arguments(small, kwargs, match):
    with pytest.raises(ValueError, match=match):
        simulate_inventory(small[1], **kwargs)


def test_non_solution_is_refused():
    with pytest.raises(ValueError, match="solution"):
        evolve_population(np.zeros((3, 3)), [1.0])
    with pytest.raises(ValueError, match="method"):
        p = ModelParams(A=1, k=1, eta=0, gamma=0, T=1, x_max=1)
        evolve_population(solve_hjb(p, 2), [0, 1, 0], method="rk")


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(A=st.floats(0.05, 20.0), k=st.floats(0.1, 10.0), eta=st.floats(0.0, 2.0),
       gamma=st.floats(0.0, 5.0), T=st.floats(0.05, 20.0), x_max=st.integers(1, 12),
       n_steps=st.integers(1, 80), method=st.sampled_from(["exact", "euler"]))
def test_population_raises_valueerror_or_is_a_distribution(A, k, eta, gamma, T, x_max,
                                                           n_steps, method):
    p = ModelParams(A=A, k=k, eta=eta, gamma=gamma, T=T, x_max=x_max)
    sol = solve_hjb(p, n_steps)
    try:
        rho = evolve_population(sol, default_rho0(p.x_max, sd=max(1.0, x_max / 3)), method)
    except ValueError:
        return
    assert np.all(np.isfinite(rho)) and rho.min() >= -1e-15
    np.testing.assert_allclose(rho.sum(axis=1), 1.0, atol=1e-10)


def test_extreme_rates_near_the_close_are_resolved():
    """k*gamma*x_max^2 = 600: rates reach ~1e25 at the edges near T. The exact step
    (many squarings) must still conserve mass and agree with the event-by-event chain."""
    p = ModelParams(A=1.0, k=1.5, eta=0.01, gamma=1.0, T=10.0, x_max=20)
    sol = solve_hjb(p, 200)
    assert max(r.max() for r in sol.rates()) > 1e20
    rho0 = default_rho0(p.x_max, sd=5.0)
    rho = evolve_population(sol, rho0)
    np.testing.assert_allclose(rho.sum(axis=1), 1.0, atol=1e-12)
    assert rho.min() >= 0
    n = 20000
    X = simulate_inventory(sol, rho0, n, rng=21)
    for i in (100, 199, 200):
        counts = np.bincount(X[i] + p.x_max, minlength=p.n_states)
        assert _tv(counts, rho[i]) <= 3.0 * _expected_tv_bound(rho[i], n) + 1e-3


def test_exact_step_conserves_mass_to_rounding_in_a_stiff_regime():
    """Each step's transition matrix has rows summing to one to rounding, so 200 steps lose
    no more than ~1e-15 of mass (the flushed entries of an unnormalised exponential would
    leak ~1e-13 here)."""
    p = ModelParams(A=5.0, k=1.0, eta=0.1, gamma=5.0, T=2.0, x_max=10)
    rho = evolve_population(solve_hjb(p, 200), default_rho0(p.x_max))
    np.testing.assert_allclose(rho.sum(axis=1), 1.0, rtol=0, atol=1e-14)


def test_default_rho0_is_the_book_gaussian():
    """sd = x_max / 4 by default, written out: exp(-x^2 / (2 * 2^2)) on -8..8, normalised."""
    r = default_rho0(8)
    x = np.arange(-8, 9)
    ref = np.exp(-0.5 * (x / 2.0) ** 2)
    np.testing.assert_allclose(r, ref / ref.sum())
    assert abs(default_rho0(8, mu0=3.0) @ x - 3.0) < 0.05
    np.testing.assert_allclose(default_rho0(8, sd=1.0), np.exp(-0.5 * x**2) / np.exp(-0.5 * x**2).sum())
    for kwargs, match in [(dict(x_max=0), "x_max"), (dict(x_max=4, mu0=5.0), "mu0"),
                          (dict(x_max=4, sd=0.0), "sd")]:
        with pytest.raises(ValueError, match=match):
            default_rho0(**kwargs)
