"""Shared fixtures and independent reference solvers for the tests.

The helpers here solve the book's equations *another way* than mmlib does
(dense scipy matrix exponentials, stiff ODE integration, brute force), so that
the tests compare mmlib against an independent truth.
"""
import numpy as np
import pytest
import scipy.linalg as sla
from scipy.integrate import solve_ivp

from mmlib import ModelParams


@pytest.fixture
def moderate():
    return ModelParams(A=1.0, k=1.2, eta=0.02, gamma=0.1, T=2.0, x_max=6)


def dense_w_generator(p, A_a=None, A_b=None):
    """Dense M with -dw/dt = M w, built from the HJB written out by hand."""
    A_a = p.A if A_a is None else A_a
    A_b = p.A if A_b is None else A_b
    n = p.n_states
    M = np.zeros((n, n))
    for i in range(n):
        M[i, i] = -p.k * p.eta * p.x[i] ** 2
        if i > 0:  # ask fill exists: x -> x-1
            M[i, i - 1] = A_a / np.e
        if i < n - 1:  # bid fill exists: x -> x+1
            M[i, i + 1] = A_b / np.e
    return M


def expm_reference_V(p, t):
    """V(t, x) = log(expm(M (T - t)) w_T) / k with scipy's expm, one time at a time."""
    M = dense_w_generator(p)
    wT = np.exp(-p.k * p.gamma * p.x**2)
    return np.array([np.log(sla.expm(M * (p.T - s)) @ wT) / p.k for s in t])


def stiff_reference_V(p, t_eval, delta_bounds=None, rtol=1e-12, atol=1e-12, V_T=None):
    """Integrate the HJB for V in tau = T - t with Radau and an analytic Jacobian.

    dV/dtau = sum over sides of sup_delta lambda(delta)(delta + dV) - eta x^2,
    written without the change of variable w = exp(kV). ``V_T`` replaces the
    terminal condition -gamma x^2 when given.
    """
    A, k, x = p.A, p.k, p.x
    n = x.size
    lo, hi = (-np.inf, np.inf) if delta_bounds is None else delta_bounds

    def side(dv):
        d = np.clip(1.0 / k - dv, lo, hi)
        lam = A * np.exp(-k * d)
        val = lam * (d + dv)
        # d(val)/d(dv) = lam (envelope theorem inside the bounds; also when clipped)
        return val, lam

    def rhs(tau, V):
        f = -p.eta * x**2
        f = f.copy()
        va, _ = side(V[:-1] - V[1:])  # ask at x = 1..n-1: V(x-1) - V(x)
        vb, _ = side(V[1:] - V[:-1])  # bid at x = 0..n-2: V(x+1) - V(x)
        f[1:] += va
        f[:-1] += vb
        return f

    def jac(tau, V):
        J = np.zeros((n, n))
        _, la = side(V[:-1] - V[1:])
        _, lb = side(V[1:] - V[:-1])
        idx = np.arange(1, n)
        J[idx, idx - 1] += la
        J[idx, idx] -= la
        idx = np.arange(0, n - 1)
        J[idx, idx + 1] += lb
        J[idx, idx] -= lb
        return J

    taus = p.T - np.asarray(t_eval)[::-1]
    V_T = -p.gamma * x**2 if V_T is None else V_T
    sol = radau_in_log_time(rhs, jac, V_T, p.T, taus, rtol=rtol, atol=atol)
    return sol.y.T[::-1]


def radau_in_log_time(rhs, jac, y0, tau_end, taus=None, rtol=1e-12, atol=1e-12):
    """Radau on dy/dtau = rhs(tau, y) from tau = 0, in the time sigma = log(1 + tau / c).

    Why: from a steep terminal condition the fill rates start at up to e^200 and relax like
    1/tau, so y is smooth in log(tau), not in tau. An adaptive step in tau must resolve every
    decade from about 1e-87 up: 21,000 Radau steps for one step of the mean-field grid, 8 s.
    Only time is changed, not the unknown: dy/dsigma = (tau + c) rhs, Jacobian (tau + c) jac,
    from sigma = 0 (tau = 0) exactly. ``c`` is the first relaxation time, one over the largest
    row sum of |jac| at the start (at most 1): where the rates are moderate, sigma is tau
    rescaled, and where they are huge it is log time.

    Returns an object with ``y`` (shape (n, len(taus)), at ``taus``) and ``sol(tau)``.
    """
    y0 = np.asarray(y0, dtype=float)
    c = 1.0 / max(1.0, float(np.abs(jac(0.0, y0)).sum(axis=1).max()))

    def tau(sigma):
        return c * np.expm1(sigma)

    sol = solve_ivp(lambda s, y: (tau(s) + c) * rhs(tau(s), y), (0.0, np.log1p(tau_end / c)), y0,
                    method="Radau", jac=lambda s, y: (tau(s) + c) * jac(tau(s), y),
                    rtol=rtol, atol=atol, dense_output=True)
    assert sol.success, sol.message
    out = _LogTimeSolution(sol.sol, c)
    if taus is not None:
        out.y = np.column_stack([out.sol(t) for t in np.asarray(taus, dtype=float)])
    return out


class _LogTimeSolution:
    """Dense ``sol(tau)`` of :func:`radau_in_log_time`, and ``y`` at the requested times."""

    def __init__(self, sigma_sol, c):
        self._sigma_sol, self._c, self.y = sigma_sol, c, None

    def sol(self, tau):
        return self._sigma_sol(np.log1p(float(tau) / self._c))
