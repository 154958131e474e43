"""Mean-field fixed point against independent re-solves."""
import warnings

import numpy as np
import pytest
import scipy.linalg as sla
from scipy.integrate import solve_ivp

from mmlib import (TEACHING_PARAMS, MeanFieldConvergenceWarning, ModelParams, default_rho0,
                   solve_mean_field)
from mmlib import average_quotes
from conftest import dense_w_generator, radau_in_log_time, stiff_reference_V


@pytest.fixture(scope="module")
def mf_case():
    p = ModelParams(A=1.0, k=1.3, eta=0.03, gamma=0.2, T=3.0, x_max=5)
    rho0 = default_rho0(p.x_max, sd=1.5)
    rho0 = rho0 * (1 + 0.4 * np.tanh(p.x))  # asymmetric: a crowd that is long on average
    rho0 /= rho0.sum()
    return p, rho0, solve_mean_field(p, rho0, 60, tol=1e-11)


def test_converges_with_residual_below_tol(mf_case):
    p, rho0, mf = mf_case
    assert mf.converged
    assert mf.residuals[-1] <= 1e-11
    assert len(mf.residuals) >= 2 and mf.residuals[0] > mf.residuals[-1]


def held_averages(mf):
    """The crowd averages each step holds, recomputed from the returned quotes and population:
    the mean of the step's two grid-time averages (the trapezoid rule), and at T its own."""
    b, a = average_quotes(mf.delta_b, mf.delta_a, mf.rho)
    return (np.append((b[:-1] + b[1:]) / 2, b[-1]), np.append((a[:-1] + a[1:]) / 2, a[-1]))


def test_returned_averages_are_a_fixed_point(mf_case):
    """Recompute the crowd averages from the returned quotes and population."""
    p, rho0, mf = mf_case
    b, a = held_averages(mf)
    np.testing.assert_allclose(a, mf.avg_delta_a, atol=1e-11)
    np.testing.assert_allclose(b, mf.avg_delta_b, atol=1e-11)
    assert np.max(np.abs(mf.avg_delta_a - mf.avg_delta_b)) > 1e-3  # really asymmetric


@pytest.fixture(scope="module")
def long_crowd():
    """A crowd long by 2.5 units on average: the ask and bid averages differ by ~3."""
    p = ModelParams(A=1.0, k=1.3, eta=0.03, gamma=0.2, T=3.0, x_max=5)
    rho0 = default_rho0(p.x_max, mu0=2.5, sd=1.2)
    return p, rho0, {n: solve_mean_field(p, rho0, n, tol=1e-12) for n in (30, 60)}


def _hand_average(delta, rho, quoting):
    """sum over the makers who quote that side of delta * rho, over their mass (loops)."""
    out = np.empty(rho.shape[0])
    for t in range(rho.shape[0]):
        num = sum(delta[t, i] * rho[t, i] for i in quoting)
        out[t] = num / sum(rho[t, i] for i in quoting)
    return out


def test_reported_intensity_scales_are_A_exp_k_crowd_average(long_crowd):
    """A_a = A e^{k mean ask depth}, A_b = A e^{k mean bid depth}, averages done by hand."""
    p, rho0, sols = long_crowd
    mf = sols[60]
    n = p.n_states
    a = _hand_average(mf.delta_a, mf.rho, range(1, n))  # x = -x_max posts no ask
    b = _hand_average(mf.delta_b, mf.rho, range(0, n - 1))  # x = +x_max posts no bid
    # each step holds the mean of its two grid-time averages; T keeps its own
    a, b = (np.append((q[:-1] + q[1:]) / 2, q[-1]) for q in (a, b))
    assert np.min(a - b) < -1.0  # a long crowd sells cheaply: ask far tighter than bid
    np.testing.assert_allclose(mf.A_a, p.A * np.exp(p.k * a), rtol=1e-9)
    np.testing.assert_allclose(mf.A_b, p.A * np.exp(p.k * b), rtol=1e-9)
    # and the fill rates the solution reports are those scales at its quotes
    rb, ra = mf.rates()
    np.testing.assert_allclose(ra[:, 1:], mf.A_a[:, None] * np.exp(-p.k * mf.delta_a[:, 1:]))
    np.testing.assert_allclose(rb[:, :-1], mf.A_b[:, None] * np.exp(-p.k * mf.delta_b[:, :-1]))


def test_evolve_population_on_the_solution_matches_its_rho_to_first_order(long_crowd):
    """evolve_population holds each grid time's quotes over the step, the solver's rho uses
    continuously optimal quotes: they differ by O(dt), so the gap halves as dt halves."""
    from mmlib import evolve_population

    p, rho0, sols = long_crowd
    gaps = [np.abs(evolve_population(sols[n], rho0) - sols[n].rho).max() for n in (30, 60)]
    assert gaps[0] < 0.02
    assert 0.4 < gaps[1] / gaps[0] < 0.6, gaps


def test_value_solves_the_hjb_for_the_returned_crowd(mf_case):
    """Independent re-solve: one scipy expm per step with the crowd's intensity scales."""
    p, rho0, mf = mf_case
    h = p.T / mf.n_steps
    w = np.exp(-p.k * p.gamma * p.x**2)
    V = [p.k * 0 + np.log(w) / p.k]
    for n in range(mf.n_steps - 1, -1, -1):
        Aa = p.A * np.exp(p.k * mf.avg_delta_a[n])
        Ab = p.A * np.exp(p.k * mf.avg_delta_b[n])
        w = sla.expm(dense_w_generator(p, Aa, Ab) * h) @ w
        V.append(np.log(w) / p.k)
    np.testing.assert_allclose(mf.V, np.array(V[::-1]), atol=1e-10)


def test_population_is_the_law_under_continuously_optimal_quotes():
    """Integrate the master equation with quotes updated continuously inside each step
    (V(t) from an expm inside the ODE right-hand side) and compare with rho."""
    p = ModelParams(A=1.0, k=1.0, eta=0.05, gamma=0.3, T=1.0, x_max=3)
    rho0 = default_rho0(p.x_max, sd=1.0)
    mf = solve_mean_field(p, rho0, 10)
    h = p.T / mf.n_steps
    rho = rho0.copy()
    for n in range(mf.n_steps):
        Aa = p.A * np.exp(p.k * mf.avg_delta_a[n])
        Ab = p.A * np.exp(p.k * mf.avg_delta_b[n])
        M = dense_w_generator(p, Aa, Ab)
        w_next = np.exp(p.k * mf.V[n + 1])

        def rhs(s, r):
            w = sla.expm(M * (h - s)) @ w_next  # w at time t_n + s
            Q = np.zeros((p.n_states, p.n_states))
            for i in range(p.n_states):
                if i > 0:
                    Q[i, i - 1] = Aa / np.e * w[i - 1] / w[i]
                if i < p.n_states - 1:
                    Q[i, i + 1] = Ab / np.e * w[i + 1] / w[i]
                Q[i, i] = -Q[i].sum()
            return r @ Q

        rho = solve_ivp(rhs, (0, h), rho, rtol=1e-11, atol=1e-13, method="DOP853").y[:, -1]
        np.testing.assert_allclose(mf.rho[n + 1], rho, atol=1e-9)


def test_extreme_regime_uses_log_space_and_still_solves_the_hjb():
    """k gamma x_max^2 = 1000: w underflows floating point. Re-solve each step with
    Radau on V itself (no exponentials) for the returned, symmetric, crowd."""
    p = ModelParams(A=1.0, k=1.0, eta=0.1, gamma=10.0, T=0.5, x_max=10)
    mf = solve_mean_field(p, default_rho0(p.x_max, sd=3.0), 5)
    assert mf.converged
    np.testing.assert_allclose(mf.avg_delta_a, mf.avg_delta_b, atol=1e-9)
    np.testing.assert_allclose(mf.rho.sum(axis=1), 1.0, atol=1e-12)
    h = p.T / mf.n_steps
    V = mf.V[-1]
    for n in range(mf.n_steps - 1, -1, -1):
        pn = p.replace(A=p.A * np.exp(p.k * mf.avg_delta_a[n]), T=h)
        V = stiff_reference_V(pn, [0.0], V_T=V)[0]
        np.testing.assert_allclose(mf.V[n], V, rtol=1e-6, atol=1e-8)


def test_symmetric_inputs_give_zero_skew():
    p = ModelParams(A=1.0, k=1.0, eta=0.01, gamma=0.05, T=5.0, x_max=8)
    mf = solve_mean_field(p, default_rho0(p.x_max, sd=2.0), 100)
    np.testing.assert_allclose(mf.avg_delta_a - mf.avg_delta_b, 0.0, atol=1e-12)
    np.testing.assert_allclose(mf.rho, mf.rho[:, ::-1], atol=1e-14)


def test_mass_conservation_and_positivity(mf_case):
    p, rho0, mf = mf_case
    np.testing.assert_allclose(mf.rho.sum(axis=1), 1.0, atol=1e-12)
    assert mf.rho.min() >= 0


def test_coupling_only_rescales_intensity_uncoupled_limit():
    """With the crowd fixed at avg = 0 the model is the plain HJB: check the
    identity A_eff = A e^{k avg} is what the solution carries."""
    p = ModelParams(A=1.0, k=1.0, eta=0.01, gamma=0.05, T=2.0, x_max=4)
    mf = solve_mean_field(p, default_rho0(p.x_max, sd=1.0), 40)
    np.testing.assert_allclose(mf.A_a, p.A * np.exp(p.k * mf.avg_delta_a))


def test_non_convergence_is_loud():
    p = ModelParams(A=1.0, k=1.0, eta=0.01, gamma=0.05, T=2.0, x_max=4)
    with pytest.warns(MeanFieldConvergenceWarning, match="not converged"):
        mf = solve_mean_field(p, default_rho0(p.x_max, sd=1.0), 40, max_iter=1)
    assert not mf.converged


def test_damping_changes_the_path_not_the_answer():
    p = ModelParams(A=1.0, k=1.0, eta=0.02, gamma=0.1, T=2.0, x_max=4)
    rho0 = default_rho0(p.x_max, sd=1.0)
    a = solve_mean_field(p, rho0, 40, damping=1.0)
    b = solve_mean_field(p, rho0, 40, damping=0.5)
    assert len(b.residuals) > len(a.residuals)
    np.testing.assert_allclose(a.V, b.V, atol=1e-9)


@pytest.mark.parametrize("kwargs,match", [
    (dict(damping=0.0), "damping"), (dict(damping=1.5), "damping"),
    (dict(tol=0.0), "tol"), (dict(max_iter=0), "max_iter"), (dict(n_steps=0), "n_steps"),
])
def test_bad_arguments(kwargs, match):
    p = ModelParams(A=1.0, k=1.0, eta=0.01, gamma=0.05, T=2.0, x_max=2)
    args = dict(n_steps=10)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        solve_mean_field(p, np.full(5, 0.2), **args)
    with pytest.raises(ValueError, match="rho0"):
        solve_mean_field(p, np.full(4, 0.25), 10)


from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(A=st.floats(0.05, 10.0), k=st.floats(0.2, 5.0), eta=st.floats(0.0, 1.0),
       gamma=st.floats(0.0, 2.0), T=st.floats(0.1, 10.0), x_max=st.integers(1, 8),
       n_steps=st.integers(2, 60))
def test_mean_field_raises_valueerror_or_returns_finite(A, k, eta, gamma, T, x_max, n_steps):
    p = ModelParams(A=A, k=k, eta=eta, gamma=gamma, T=T, x_max=x_max)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", MeanFieldConvergenceWarning)
            mf = solve_mean_field(p, default_rho0(p.x_max, sd=max(1.0, x_max / 3)), n_steps,
                                  max_iter=50)
    except ValueError:
        return
    for arr in (mf.V, mf.rho, mf.avg_delta_a, mf.avg_delta_b, mf.residuals):
        assert np.all(np.isfinite(arr))
    assert np.all(np.isfinite(mf.delta_a[:, 1:])) and np.all(np.isnan(mf.delta_a[:, 0]))
    np.testing.assert_allclose(mf.rho.sum(axis=1), 1.0, atol=1e-10)
    if mf.converged:
        assert mf.residuals[-1] <= 1e-10


def test_anderson_acceleration_reaches_the_same_equilibrium_faster():
    """A crowd that starts long contracts slowly (factor ~0.9); Anderson mixing must find
    the same fixed point, verified by recomputing the averages from its own output."""
    p = TEACHING_PARAMS.replace(T=4.0, x_max=8)
    rho0 = default_rho0(p.x_max, sd=2.0) * np.exp(0.8 * p.x)
    rho0 /= rho0.sum()
    plain = solve_mean_field(p, rho0, 60, max_iter=2000)
    fast = solve_mean_field(p, rho0, 60, anderson=5)
    assert plain.converged and fast.converged
    assert len(fast.residuals) < len(plain.residuals) / 3
    np.testing.assert_allclose(fast.avg_delta_a, plain.avg_delta_a, atol=1e-9)
    np.testing.assert_allclose(fast.V, plain.V, atol=1e-9)
    b, a = held_averages(fast)
    np.testing.assert_allclose(a, fast.avg_delta_a, atol=1e-10)
    with pytest.raises(ValueError, match="anderson"):
        solve_mean_field(p, rho0, 10, anderson=-1)


@pytest.mark.parametrize("anderson", [0, 5])
def test_skew_newton_reaches_the_plain_iterations_equilibrium(anderson):
    """The skew Newton step changes the path, not the fixed point: against the plain damped
    iteration run to convergence, for a crowd far off centre, with and without mixing."""
    p = TEACHING_PARAMS.replace(T=4.0, x_max=8, gamma=0.3)
    rho0 = default_rho0(p.x_max, mu0=4.0, sd=1.5)
    plain = solve_mean_field(p, rho0, 60, max_iter=3000)
    newton = solve_mean_field(p, rho0, 60, anderson=anderson, skew_newton=True)
    assert plain.converged and newton.converged
    assert len(newton.residuals) < len(plain.residuals) / 5
    np.testing.assert_allclose(newton.avg_delta_a, plain.avg_delta_a, atol=1e-9)
    np.testing.assert_allclose(newton.avg_delta_b, plain.avg_delta_b, atol=1e-9)
    np.testing.assert_allclose(newton.V, plain.V, atol=1e-9)
    np.testing.assert_allclose(newton.rho, plain.rho, atol=1e-9)
    with pytest.raises(ValueError, match="skew_newton"):
        solve_mean_field(p, rho0, 10, skew_newton="yes")


def test_skew_newton_falls_back_to_plain_steps_where_its_model_overshoots():
    """Where the linear model is poor (the dashboard's busiest corner, 200 steps, the first-order
    ``hold="left"`` scheme, whose O(h) skew bias the model does not know) the first Newton
    steps overshoot; the solve restarts with plain steps and reaches the plain iteration's
    fixed point instead of diverging."""
    p = ModelParams(A=5.0, k=3.0, eta=0.1, gamma=0.5, T=10.0, x_max=30)
    rho0 = default_rho0(p.x_max, mu0=10.0)
    plain = solve_mean_field(p, rho0, 200, anderson=20, hold="left")
    newton = solve_mean_field(p, rho0, 200, anderson=20, skew_newton=True, hold="left")
    assert plain.converged and newton.converged
    assert np.max(newton.residuals[:5]) > 10 * newton.residuals[0]  # it did overshoot
    np.testing.assert_allclose(newton.V, plain.V, atol=1e-9)
    np.testing.assert_allclose(newton.avg_delta_a, plain.avg_delta_a, atol=1e-10)


def test_step_average_hold_removes_the_skew_bias_of_the_left_hold():
    """Both holds converge to one limit as the step shrinks: the left hold at first order
    (the error halves with the step), the step average with an error at least a hundred times
    smaller at every step. The limit: Richardson extrapolation of the two finest step-average
    solves. A busy, steeply penalised crowd that starts long (the dashboard's hard corner,
    on a shorter session and grid)."""
    p = ModelParams(A=5.0, k=3.0, eta=0.1, gamma=0.5, T=2.0, x_max=15)
    rho0 = default_rho0(p.x_max, mu0=5.0)
    steps = (50, 100, 200, 400)
    y = {(hold, n): float(solve_mean_field(p, rho0, n, anderson=20, skew_newton=True,
                                           hold=hold).rho[-1] @ p.x)
         for hold in ("left", "step") for n in steps}
    limit = 2 * y["step", 400] - y["step", 200]
    err = {key: abs(val - limit) for key, val in y.items()}
    for n in steps[:-1]:
        assert 1.7 < err["left", n] / err["left", 2 * n] < 2.6  # first order
    for n in steps:
        assert err["step", n] < err["left", n] / 100
    assert err["left", 50] > 1.0  # a visible error: over one unit of inventory at 50 steps
    with pytest.raises(ValueError, match="hold"):
        solve_mean_field(p, rho0, 10, hold="mid")


def test_skew_costate_model_predicts_the_equilibrium_skew():
    """The model behind the Newton step: at equilibrium the crowd's half-skew is close to
    -2 gamma E[X_T] - 2 eta int_t^T E[X_u] du of its own mean inventory (the costate): here to
    2e-4 of the skew's size; without the running term it would be off by 40%."""
    from mmlib.mean_field import _skew_costate

    p = TEACHING_PARAMS.replace(x_max=20, gamma=0.3, eta=0.02)
    mf = solve_mean_field(p, default_rho0(p.x_max, mu0=6.0), 200, anderson=20, skew_newton=True)
    b, a = average_quotes(mf.delta_b, mf.delta_a, mf.rho)  # at the grid times
    skew = 0.5 * (a - b)
    model = _skew_costate(p, mf.t, mf.rho @ p.x)
    assert np.ptp(skew) > 1.0  # a real skew, not a flat zero
    np.testing.assert_allclose(skew, model, atol=1e-3 * np.abs(skew).max())


# ---------------------------------------------------------------------------
# The dashboard's slider corners (issue 11): the fast path against stiff ODE re-solves
# ---------------------------------------------------------------------------
def _hjb_step_radau(p, Aa, Ab, V_next, h):
    """V one step back from V_next with the crowd's intensity scales held: Radau on V itself
    (no w = e^{kV}, no exponential of a matrix), analytic Jacobian, in log time (conftest)."""
    k, x, n = p.k, p.x, p.n_states

    def rates(V):
        la = Aa / np.e * np.exp(k * (V[:-1] - V[1:]))  # ask at x = 1..n-1
        lb = Ab / np.e * np.exp(k * (V[1:] - V[:-1]))  # bid at x = 0..n-2
        return la, lb

    def rhs(tau, V):
        la, lb = rates(V)
        f = -p.eta * x**2
        f = f.copy()
        f[1:] += la / k
        f[:-1] += lb / k
        return f

    def jac(tau, V):
        la, lb = rates(V)
        J = np.zeros((n, n))
        i = np.arange(1, n)
        J[i, i - 1] += la
        J[i, i] -= la
        i = np.arange(n - 1)
        J[i, i + 1] += lb
        J[i, i] -= lb
        return J

    return radau_in_log_time(rhs, jac, V_next, h, [h], rtol=1e-12, atol=1e-12)


def _population_step_bdf(p, Aa, Ab, Vsol, rho, h):
    """The master equation over one step under the continuously optimal quotes of the
    step's V(t) (from the Radau solve above), integrated with BDF."""
    k, n = p.k, p.n_states

    def Q(s):
        V = Vsol.sol(h - s)  # tau = h - s
        la = Aa * np.exp(-k * (1.0 / k - (V[:-1] - V[1:])))  # ask fill x -> x-1, at x = 1..
        lb = Ab * np.exp(-k * (1.0 / k - (V[1:] - V[:-1])))  # bid fill x -> x+1, at x = ..n-2
        G = np.zeros((n, n))
        i = np.arange(1, n)
        G[i, i - 1] = la
        i = np.arange(n - 1)
        G[i, i + 1] = lb
        G[np.arange(n), np.arange(n)] = -G.sum(axis=1)
        return G

    sol = solve_ivp(lambda s, r: r @ Q(s), (0.0, h), rho, method="BDF",
                    jac=lambda s, r: Q(s).T, rtol=1e-10, atol=1e-13)
    assert sol.success, sol.message
    return sol.y[:, -1]


SLIDER_CORNERS = {
    # the steepest corner: k gamma x_max^2 = 1350 e-folds, log space near T
    "steep": dict(A=0.2, k=3.0, eta=0.1, gamma=0.5, T=1.0, x_max=30, mu0=10.0),
    # a busy, skewed crowd on a wide grid with a steep running penalty
    "busy": dict(A=5.0, k=3.0, eta=0.1, gamma=0.0, T=1.0, x_max=30, mu0=10.0),
    # busy, steep and long, far off centre (the plain iteration's slowest contraction)
    "busy-long": dict(A=5.0, k=3.0, eta=0.1, gamma=0.5, T=20.0, x_max=30, mu0=-10.0),
    # a crowd at the edge of a small grid, long horizon
    "edge": dict(A=0.2, k=0.5, eta=0.1, gamma=0.0, T=20.0, x_max=5, mu0=-10.0),
    # a flat intensity and a steep penalty
    "flat-steep": dict(A=0.2, k=0.5, eta=0.0, gamma=0.5, T=20.0, x_max=30, mu0=-10.0),
}


@pytest.fixture(scope="module", params=sorted(SLIDER_CORNERS))
def corner(request):
    from mmlib.widgets import SLIDER_RANGES, default_rho0, solve_dashboard

    v = SLIDER_CORNERS[request.param]
    for key, val in v.items():  # really corners of the dashboard's box
        assert val in SLIDER_RANGES[key][:2]
    p = ModelParams(**{key: v[key] for key in ("A", "k", "eta", "gamma", "T", "x_max")})
    rho0 = default_rho0(p.x_max, float(np.clip(v["mu0"], -p.x_max, p.x_max)))
    return request.param, p, rho0, solve_dashboard(v, 500)  # the dashboard's own solve


def test_slider_corner_converges_to_a_fixed_point(corner):
    name, p, rho0, mf = corner
    assert mf.converged and mf.residuals[-1] <= 1e-10
    b, a = held_averages(mf)
    np.testing.assert_allclose(a, mf.avg_delta_a, atol=1e-10)
    np.testing.assert_allclose(b, mf.avg_delta_b, atol=1e-10)
    np.testing.assert_allclose(mf.rho.sum(axis=1), 1.0, atol=1e-12)
    assert mf.rho.min() >= 0 and np.all(np.isfinite(mf.V))


def _checked_steps(n_steps, name):
    # the first steps back from T (log space in the steep corner) and a spread of others;
    # fewer in the busy long corner, whose stiff reference solves are the slowest
    last, spread = (2, 3) if name == "busy-long" else (4, 6)
    return sorted(set(range(n_steps - last, n_steps))
                  | set(np.linspace(0, n_steps - last - 1, spread, dtype=int)))


def test_slider_corner_value_solves_the_hjb_stiff_ode(corner):
    """Each checked step: Radau on V from the returned V[n+1] with the step's crowd."""
    name, p, rho0, mf = corner
    h = p.T / mf.n_steps
    for n in _checked_steps(mf.n_steps, name):
        Aa = p.A * np.exp(p.k * mf.avg_delta_a[n])
        Ab = p.A * np.exp(p.k * mf.avg_delta_b[n])
        V = _hjb_step_radau(p, Aa, Ab, mf.V[n + 1], h).y[:, -1]
        np.testing.assert_allclose(mf.V[n], V, rtol=1e-9, atol=1e-9, err_msg=f"{name}, step {n}")


def test_slider_corner_population_solves_the_master_equation(corner):
    """Each checked step: BDF on the master equation from the returned rho[n], quotes
    updated continuously inside the step from the Radau V(t)."""
    name, p, rho0, mf = corner
    h = p.T / mf.n_steps
    for n in _checked_steps(mf.n_steps, name):
        Aa = p.A * np.exp(p.k * mf.avg_delta_a[n])
        Ab = p.A * np.exp(p.k * mf.avg_delta_b[n])
        Vsol = _hjb_step_radau(p, Aa, Ab, mf.V[n + 1], h)
        rho = _population_step_bdf(p, Aa, Ab, Vsol, mf.rho[n], h)
        np.testing.assert_allclose(mf.rho[n + 1], rho, atol=1e-8, err_msg=f"{name}, step {n}")


@pytest.mark.parametrize("skew", [False, True])
def test_mean_newton_reaches_the_plain_iterations_equilibrium(skew):
    """The mean Newton step changes the path, not the fixed point: against the plain damped
    iteration run to convergence, a busy centred crowd (where the mean contracts slowly) and
    an off-centre one, with mixing, alone and with the skew step."""
    p = TEACHING_PARAMS.replace(T=4.0, x_max=8, gamma=0.3, A=3.0, k=2.0)
    for mu0 in (0.0, 3.0):
        rho0 = default_rho0(p.x_max, mu0=mu0, sd=1.5)
        # the plain iteration contracts slowly here: run it to 1e-12, so that its own distance
        # to the fixed point (residual / (1 - contraction)) stays below the comparison's 1e-9
        plain = solve_mean_field(p, rho0, 60, tol=1e-12, max_iter=20000)
        model = solve_mean_field(p, rho0, 60, anderson=5, skew_newton=skew, mean_newton=True)
        assert plain.converged and model.converged
        for name in ("avg_delta_a", "avg_delta_b", "V", "rho"):
            np.testing.assert_allclose(getattr(model, name), getattr(plain, name), atol=1e-9)
    with pytest.raises(ValueError, match="mean_newton"):
        solve_mean_field(p, rho0, 10, mean_newton=1)


def test_mean_newton_shortens_the_dashboard_default():
    """solve_dashboard's docstring: 4 iterations at the default settings with both Newton steps,
    against 7 with the skew step alone."""
    from mmlib.widgets import DASHBOARD_DEFAULTS, solve_dashboard
    both = solve_dashboard(DASHBOARD_DEFAULTS, 500)
    p = ModelParams(**{key: DASHBOARD_DEFAULTS[key] for key in
                       ("A", "k", "eta", "gamma", "T", "x_max")})
    skew_only = solve_mean_field(p, default_rho0(p.x_max, DASHBOARD_DEFAULTS["mu0"]), 500,
                                 anderson=20, skew_newton=True)
    assert both.converged and skew_only.converged
    assert (len(both.residuals), len(skew_only.residuals)) == (4, 7)
    np.testing.assert_allclose(both.V, skew_only.V, atol=1e-9)


def test_backward_volterra_solve_matches_a_dense_solve():
    """(I - J) D = f with u_n = d_n u_{n+1} - g_n D_n, u_{N+1} = 0 and D_n = f_n + u_n, written
    out as a dense lower-triangular-in-reverse matrix and solved by numpy."""
    from mmlib.mean_field import _solve_backward_volterra
    rng = np.random.default_rng(5)
    n = 40
    f = rng.standard_normal(n)
    decay = rng.uniform(0.0, 1.0, n)
    gain = rng.uniform(0.0, 2.0, n)
    # unrolled, u_n = -sum_{j >= n} c_nj g_j D_j with c_nj = prod_{n <= i < j} d_i (c_nn = 1),
    # so D_n + sum_{j >= n} c_nj g_j D_j = f_n
    M = np.eye(n)
    for row in range(n):
        for j in range(row, n):
            M[row, j] += np.prod(decay[row:j]) * gain[j]
    np.testing.assert_allclose(_solve_backward_volterra(f, decay, gain), np.linalg.solve(M, f),
                               rtol=1e-12, atol=1e-12)


def test_fill_rate_mass_matches_the_array_formula():
    """The compiled population sum of the fill rates behind the skew Newton step against the
    same sum written with numpy arrays, NaN (a side that does not quote) counting as no fills."""
    from mmlib.mean_field import _fill_rate_mass
    rng = np.random.default_rng(11)
    n1, n, k = 30, 9, 2.5
    za, zb = rng.normal(0.4, 0.3, n1), rng.normal(0.4, 0.3, n1)
    da, db = rng.normal(0.4, 1.0, (n1, n)), rng.normal(0.4, 1.0, (n1, n))
    da[:, 0] = np.nan
    db[:, -1] = np.nan
    da[3, 4] = -400.0  # a capped exponent: k (za - da) > 700
    rho = rng.dirichlet(np.ones(n), n1)
    with np.errstate(invalid="ignore"):
        la = np.nan_to_num(np.exp(np.minimum(k * (za[:, None] - da), 700.0)), nan=0.0)
        lb = np.nan_to_num(np.exp(np.minimum(k * (zb[:, None] - db), 700.0)), nan=0.0)
    np.testing.assert_allclose(_fill_rate_mass(k, za, zb, da, db, rho),
                               np.sum(rho * (la + lb), axis=1), rtol=1e-14)
