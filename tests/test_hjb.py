"""Tests of the HJB solvers against independent truths."""
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mmlib import ModelParams, hamiltonian, min_stable_steps, optimal_quotes, solve_hjb
from conftest import dense_w_generator, expm_reference_V, stiff_reference_V


# --- exact method ---------------------------------------------------------------
def test_exact_matches_scipy_expm_on_moderate_parameters(moderate):
    sol = solve_hjb(moderate, n_steps=40)
    ref = expm_reference_V(moderate, sol.t)
    np.testing.assert_allclose(sol.V, ref, rtol=0, atol=1e-10)


@pytest.mark.parametrize("n_steps", [37, 64, 100, 203])
def test_exact_V_against_radau_at_step_counts_off_the_block_size(n_steps):
    """V itself (not only the quotes, blind to a constant offset per time row) at step
    counts with rows left over after the blocks of 8 steps of the sweep, and below 64."""
    p = ModelParams(A=1.5, k=1.2, eta=0.05, gamma=0.3, T=4.0, x_max=8)
    sol = solve_hjb(p, n_steps)
    ref = stiff_reference_V(p, sol.t)
    np.testing.assert_allclose(sol.V, ref, rtol=0, atol=1e-8)


def test_exact_matches_stiff_ode_in_extreme_regime():
    # k*gamma*x_max**2 = 1000 and k*eta*x_max**2*T = 400: w spans e^1000
    p = ModelParams(A=1.0, k=1.0, eta=1.0, gamma=2.5, T=1.0, x_max=20)
    assert p.k * p.gamma * p.x_max**2 >= 1000
    sol = solve_hjb(p, n_steps=200)
    idx = [0, 50, 150, 190, 199]
    ref = stiff_reference_V(p, sol.t[idx])
    np.testing.assert_allclose(sol.V[idx], ref, rtol=1e-6, atol=1e-9)


def test_plain_eigen_expansion_would_fail_in_extreme_regime():
    """Why the careful formulation matters: an eigen-expansion of exp(M tau) in
    floating point loses the tiny entries of w, and V at large |x| with them."""
    p = ModelParams(A=1.0, k=1.0, eta=1.0, gamma=2.5, T=1.0, x_max=20)
    sol = solve_hjb(p, n_steps=1000)
    lam, Q = np.linalg.eigh(dense_w_generator(p))
    wT = np.exp(-p.k * p.gamma * p.x**2)
    i = 900
    with np.errstate(divide="ignore", invalid="ignore"):
        naive = np.log(Q @ (np.exp(lam * (p.T - sol.t[i])) * (Q.T @ wT))) / p.k
    err = np.abs(np.nan_to_num(naive, nan=-1e300, neginf=-1e300) - sol.V[i])
    assert err.max() > 1.0  # the naive route is badly wrong at large |x| ...
    assert err[p.x_max] < 1e-6  # ... though right at x = 0
    ref = stiff_reference_V(p, sol.t[[i]])
    np.testing.assert_allclose(sol.V[i], ref[0], rtol=1e-6)  # while ours is right


@pytest.mark.slow
def test_extreme_terminal_penalty_with_huge_range_is_accurate():
    # k*gamma*x_max**2 = 4096: w_T = exp(-4096) underflows any float
    p = ModelParams(A=1.0, k=1.0, eta=0.05, gamma=2.56, T=1.0, x_max=40)
    sol = solve_hjb(p, n_steps=100)
    idx = [0, 60, 99]
    ref = stiff_reference_V(p, sol.t[idx])
    np.testing.assert_allclose(sol.V[idx], ref, rtol=1e-6, atol=1e-9)


# --- explicit and rk4 schemes ---------------------------------------------------
def test_explicit_converges_at_first_order(moderate):
    errs = []
    for n in (200, 400, 800, 1600):
        ex = solve_hjb(moderate, n, method="explicit")
        exact = solve_hjb(moderate, n)
        errs.append(np.abs(ex.V - exact.V).max())
    ratios = np.array(errs[:-1]) / np.array(errs[1:])
    np.testing.assert_allclose(ratios, 2.0, rtol=0.08)


def test_explicit_refuses_unstable_step_and_names_a_stable_one():
    p = ModelParams(A=5.0, k=1.0, eta=0.1, gamma=0.2, T=5.0, x_max=5)
    with pytest.raises(ValueError, match=r"not guaranteed stable.*n_steps >= \d+"):
        solve_hjb(p, n_steps=10, method="explicit")
    need = min_stable_steps(p, method="explicit")
    sol = solve_hjb(p, n_steps=need, method="explicit")  # the smallest stable step works
    assert np.all(np.isfinite(sol.V))
    with pytest.raises(ValueError, match="not guaranteed stable"):  # and it is the smallest
        solve_hjb(p, n_steps=need - 1, method="explicit")


@pytest.mark.parametrize("method,bounds", [("explicit", None), ("rk4", None),
                                           ("explicit", (0.0, 5.0)), ("rk4", (-0.5, 5.0))])
def test_min_stable_steps_is_the_smallest_accepted(method, bounds):
    p = ModelParams(A=2.0, k=1.0, eta=0.05, gamma=0.3, T=3.0, x_max=6)
    n = min_stable_steps(p, method=method, delta_bounds=bounds)
    # by hand: the bound is factor / (max total rate); with bounds the rate is 2 A e^{-k lo}
    if bounds is not None:
        factor = 1.0 if method == "explicit" else 1.39
        assert n == int(np.ceil(p.T * 2 * p.A * np.exp(-p.k * bounds[0]) / factor - 1e-9))
    assert np.all(np.isfinite(solve_hjb(p, n, method=method, delta_bounds=bounds).V))
    with pytest.raises(ValueError, match="not guaranteed stable"):
        solve_hjb(p, n - 1, method=method, delta_bounds=bounds)
    assert min_stable_steps(p, method="exact") == 1
    with pytest.raises(ValueError, match="method must be one of"):
        min_stable_steps(p, method="euler")


def test_rk4_agrees_with_exact_without_bounds(moderate):
    rk = solve_hjb(moderate, 400, method="rk4")
    np.testing.assert_allclose(rk.V, solve_hjb(moderate, 400).V, atol=1e-9)


def test_clipped_quotes_converge_to_stiff_reference():
    """With delta >= 0 binding at large |x|, RK4 and explicit converge to an
    independent Radau solve of the bounded HJB."""
    p = ModelParams(A=1.0, k=1.0, eta=0.05, gamma=0.5, T=2.0, x_max=6)
    bounds = (0.0, 5.0)
    ref = stiff_reference_V(p, [0.0, 1.0], delta_bounds=bounds)
    unclipped = solve_hjb(p, 400)
    assert np.nanmin(unclipped.delta_a) < 0  # the bound really binds
    errs_rk, errs_ex = [], []
    for n in (50, 100, 200, 400):
        rk = solve_hjb(p, n, method="rk4", delta_bounds=bounds)
        ex = solve_hjb(p, n, method="explicit", delta_bounds=bounds)
        errs_rk.append(np.abs(rk.V[[0, n // 2]] - ref).max())
        errs_ex.append(np.abs(ex.V[[0, n // 2]] - ref).max())
        assert np.nanmin(rk.delta_a) >= 0.0 and np.nanmax(rk.delta_b) <= 5.0
    order_rk = np.log2(np.array(errs_rk[:-1]) / np.array(errs_rk[1:]))
    order_ex = np.log2(np.array(errs_ex[:-1]) / np.array(errs_ex[1:]))
    assert errs_rk[-1] < 1e-6
    assert np.all(order_rk > 1.8), order_rk
    np.testing.assert_allclose(order_ex, 1.0, atol=0.15)
    # clipping costs value: the bounded maker is never better off
    assert np.all(ref[0] <= unclipped.V[0] + 1e-9)


def test_wide_bounds_do_not_change_the_solution(moderate):
    free = solve_hjb(moderate, 400)
    lo = np.nanmin([free.delta_a, free.delta_b]) - 1
    hi = np.nanmax([free.delta_a, free.delta_b]) + 1
    boxed = solve_hjb(moderate, 400, method="rk4", delta_bounds=(lo, hi))
    np.testing.assert_allclose(boxed.V, free.V, atol=1e-9)


# --- closed-form quotes ---------------------------------------------------------
def test_closed_form_quote_matches_brute_force_maximisation():
    rng = np.random.default_rng(0)
    grid = np.linspace(-12.0, 12.0, 2_400_001)
    for _ in range(20):
        A, k, dv = rng.uniform(0.5, 3), rng.uniform(0.3, 3), rng.uniform(-4, 4)
        brute = grid[np.argmax(A * np.exp(-k * grid) * (grid + dv))]
        assert abs(brute - (1.0 / k - dv)) < 2e-5


def test_solution_quotes_maximise_the_hamiltonian_pointwise(moderate):
    sol = solve_hjb(moderate, 50)
    V = sol.V[10]
    grid = np.linspace(-5, 5, 200_001)
    k, A = moderate.k, moderate.A
    for i in range(1, moderate.n_states):
        dv = V[i - 1] - V[i]
        brute = grid[np.argmax(A * np.exp(-k * grid) * (grid + dv))]
        assert abs(brute - sol.delta_a[10, i]) < 1e-4


def test_optimal_quotes_nan_markers_and_clipping():
    db, da = optimal_quotes(np.array([[-4.0, -1.0, 0.0, -1.0, -4.0]]), k=1.0, delta_bounds=(0, 3))
    assert np.isnan(da[0, 0]) and np.isnan(db[0, -1])
    assert np.all(da[0, 1:] >= 0) and np.all(da[0, 1:] <= 3)
    np.testing.assert_allclose(da[0, 2], 1.0 - (-1.0 - 0.0))


def test_exact_solution_satisfies_the_hjb_residual(moderate):
    """Finite-difference check of -dV/dt = H(V) at interior times (second order)."""
    sol = solve_hjb(moderate, 2000)
    h = sol.dt
    dVdt = (sol.V[2:] - sol.V[:-2]) / (2 * h)
    H, _ = hamiltonian(sol.V[1:-1], moderate)
    np.testing.assert_allclose(-dVdt, H, atol=1e-5)


# --- properties -----------------------------------------------------------------
def _check_properties(sol, p):
    V = sol.V
    assert np.array_equal(V[-1], -p.gamma * p.x**2)
    np.testing.assert_allclose(sol.delta_a[:, 1:], sol.delta_b[:, :-1][:, ::-1], rtol=0,
                               atol=1e-9 * (1 + np.abs(V).max()))
    mid = p.x_max
    scale = 1e-9 * (1 + np.abs(V).max())
    assert np.all(np.diff(V[:, mid:], axis=1) <= scale)  # decreasing for x >= 0
    assert np.all(np.diff(V[:, : mid + 1], axis=1) >= -scale)  # increasing for x <= 0


def test_symmetry_monotone_slices_and_terminal_condition(moderate):
    _check_properties(solve_hjb(moderate, 100), moderate)


box = dict(
    A=st.floats(0.05, 20.0),
    k=st.floats(0.1, 10.0),
    eta=st.floats(0.0, 2.0),
    gamma=st.floats(0.0, 5.0),
    T=st.floats(0.05, 20.0),
    x_max=st.integers(1, 25),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(**box, n_steps=st.integers(1, 200))
def test_properties_hold_over_the_parameter_box(A, k, eta, gamma, T, x_max, n_steps):
    p = ModelParams(A=A, k=k, eta=eta, gamma=gamma, T=T, x_max=x_max)
    sol = solve_hjb(p, n_steps)
    assert np.all(np.isfinite(sol.V))
    _check_properties(sol, p)


def _finite_except_markers(sol):
    assert np.all(np.isfinite(sol.V))
    assert np.all(np.isnan(sol.delta_a[:, 0])) and np.all(np.isnan(sol.delta_b[:, -1]))
    assert np.all(np.isfinite(sol.delta_a[:, 1:])) and np.all(np.isfinite(sol.delta_b[:, :-1]))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    A=st.floats(-1.0, 50.0), k=st.floats(-1.0, 20.0), eta=st.floats(-0.5, 5.0),
    gamma=st.floats(-0.5, 10.0), T=st.floats(-1.0, 30.0), x_max=st.integers(-2, 30),
    n_steps=st.integers(-5, 300), method=st.sampled_from(["exact", "explicit", "rk4"]),
    bounded=st.booleans(),
)
def test_every_call_raises_valueerror_or_returns_finite(A, k, eta, gamma, T, x_max, n_steps,
                                                        method, bounded):
    try:
        p = ModelParams(A=A, k=k, eta=eta, gamma=gamma, T=T, x_max=x_max)
        bounds = (0.0, 10.0) if bounded and method != "exact" else None
        sol = solve_hjb(p, n_steps, method=method, delta_bounds=bounds)
    except ValueError:
        return
    _finite_except_markers(sol)


# --- bad input ------------------------------------------------------------------
@pytest.mark.parametrize("kwargs,match", [
    (dict(n_steps=0), "n_steps"),
    (dict(n_steps=2.5), "n_steps"),
    (dict(n_steps=10, method="implicit"), "method"),
    (dict(n_steps=10, delta_bounds=(0, 1)), "delta_bounds"),
    (dict(n_steps=10, method="rk4", delta_bounds=(1, 0)), "delta_bounds"),
    (dict(n_steps=10, method="rk4", delta_bounds=(0, np.inf)), r"delta_bounds\[1\]"),
    (dict(n_steps=10, method="rk4", delta_bounds=3.0), "delta_bounds"),
])
def test_bad_arguments_raise(moderate, kwargs, match):
    with pytest.raises(ValueError, match=match):
        solve_hjb(moderate, **kwargs)


def test_params_must_be_modelparams():
    with pytest.raises(ValueError, match="params"):
        solve_hjb(dict(A=1), 10)


@pytest.mark.parametrize("method", ["exact", "explicit", "rk4"])
def test_subnormal_k_is_refused_before_any_arithmetic(method):
    # 1/k overflows: every scheme refuses up front (found by the hypothesis test above once
    # RuntimeWarnings became errors: the explicit scheme had formed inf * 0 in its Hamiltonian)
    p = ModelParams(A=1.0, k=2.225073858507203e-309, eta=0.0, gamma=0.0, T=1.0, x_max=1)
    with pytest.raises(ValueError, match="rescale the price unit"):
        solve_hjb(p, 1, method=method)


@pytest.mark.parametrize("method", ["exact", "explicit", "rk4"])
def test_smallest_normal_k_is_refused_when_the_hamiltonian_overflows(method):
    # 1/k is finite (4.5e307) but a fill's edge times its rate, A/(e k), is not: found by the
    # hypothesis test above (the explicit Hamiltonian overflowed in la * (da + dva))
    p = ModelParams(A=11.0, k=2.2250738585072014e-308, eta=0.0, gamma=0.0, T=0.0625, x_max=1)
    with pytest.raises(ValueError, match="rescale the price unit"):
        solve_hjb(p, 1, method=method)
