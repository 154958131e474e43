r"""Mean-field coupling: fill rates depend on a quote's tightness relative to the crowd.

.. math:: \lambda^a(\delta;\bar\delta^a_t) = A e^{-k(\delta - \bar\delta^a_t)},\qquad
          \bar\delta^a_t = \text{crowd-average ask depth at } t,

and likewise for the bid. For a given crowd path the factor
:math:`e^{k\bar\delta_t}` only rescales :math:`A`, so the optimal quotes keep
their closed form :math:`\delta^* = 1/k - \Delta V` while :math:`V` changes.
The equilibrium is a fixed point: crowd averages -> HJB (backward) -> quotes
and population (forward) -> new crowd averages.

Discretisation. The crowd averages of grid time :math:`t_n` are held over
:math:`[t_n, t_{n+1})`. Given them, the HJB is solved exactly through
:math:`w = e^{kV}` with one Metzler exponential per step. The population is
then evolved exactly under the *continuously* updated optimal quotes: the
optimally controlled chain is the Doob transform of the propagator :math:`P_n`
of :math:`w`, with transition matrix
:math:`P_n[x,y]\,w(t_{n+1},y)/w(t_n,x)` over a step. (This differs by
:math:`O(\Delta t)` from :func:`mmlib.population.evolve_population`, which holds the quotes
of each grid time over the step.)

Chapter: *Mean field* (``book/mean_field.md``).
"""
from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np

from . import _mean_field_core, _metzler, limits
from ._validation import check_distribution, check_int, check_real
from ._propagator import LINEAR_LOG_RANGE as _LINEAR_LOG_RANGE
from ._propagator import propagate_linear as _propagate_linear
from ._propagator import propagate_log as _propagate_log
from ._propagator import w_tridiag as _w_tridiag
from .hjb import HJBSolution, optimal_quotes
from .metrics import average_quotes
from .model import ModelParams

__all__ = ["MeanFieldSolution", "solve_mean_field", "MeanFieldConvergenceWarning"]


class MeanFieldConvergenceWarning(RuntimeWarning):
    """The mean-field fixed point did not reach its tolerance."""


@dataclass(frozen=True, kw_only=True)
class MeanFieldSolution(HJBSolution):
    r"""Mean-field equilibrium on the time-inventory grid.

    Inherits ``t, x, V, delta_a, delta_b, A_a, A_b`` from :class:`~mmlib.hjb.HJBSolution`
    (with :math:`A_a = A e^{k\bar\delta^a_t}`), and adds:

    Attributes
    ----------
    rho : ndarray, shape (n_steps+1, 2*x_max+1)
        Population of inventories under the equilibrium quotes.
    avg_delta_a, avg_delta_b : ndarray, shape (n_steps+1,)
        Crowd-average quotes the equilibrium was solved for.
    residuals : ndarray, shape (n_iter,)
        Fixed-point residual :math:`\max_{t,\text{side}}|F(\bar\delta)-\bar\delta|` per iteration.
    converged : bool
        Whether the last residual is at most ``tol``.
    damping : float
        Relaxation weight used.
    """

    rho: np.ndarray = field(repr=False)
    avg_delta_a: np.ndarray = field(repr=False)
    avg_delta_b: np.ndarray = field(repr=False)
    residuals: np.ndarray = field(repr=False)
    converged: bool
    damping: float


def _population_doob(lw, rho0, P=None, LP=None):
    """Exact law of the optimally controlled chain via the Doob transform."""
    N = lw.shape[0] - 1
    rho = np.empty_like(lw)
    rho[0] = rho0
    if P is not None:
        c = lw.max(axis=1)
        pre = np.exp(c[:, None] - lw)  # 1/w_n, scaled
        post = np.exp(lw[1:] - c[:-1, None])  # w_{n+1}, same scale
        for i in range(N):
            rho[i + 1] = ((rho[i] * pre[i]) @ P[i]) * post[i]
    else:
        with np.errstate(divide="ignore"):
            lr = np.log(rho0)
        for i in range(N):
            lr = _metzler.log_vecmat(lr - lw[i], LP[i]) + lw[i + 1]
            rho[i + 1] = np.exp(lr)
    return rho


def _equilibrium_given_crowd(params, n_steps, avg_a, avg_b, rho0):
    """HJB and population for fixed crowd averages (held on each step)."""
    h = params.T / n_steps
    a = params.A * np.exp(params.k * avg_a[:-1])
    b = params.A * np.exp(params.k * avg_b[:-1])
    lower, diag, upper = _w_tridiag(params, a, b)
    lw_T = -params.k * params.gamma * params.x**2
    lw = P = LP = None
    if lw_T.max() - lw_T.min() <= _LINEAR_LOG_RANGE:
        # expected span of w in e-folds, checked after the sweep
        span = params.k * params.gamma * params.x_max**2 + 20.0
        for _ in range(3):
            P = _metzler.expm_two_rate(diag[0], lower[:, 0], upper[:, 0], h, span)
            if P is None:
                P = _metzler.expm_metzler(lower, diag, upper, h)
            growth = h * (lower.max() + upper.max() - diag.min())
            if not np.all(np.isfinite(P)):
                lw = None
                break
            with np.errstate(over="ignore", invalid="ignore"):
                lw = _propagate_linear(P, lw_T, n_steps, growth)
            if lw is None:
                break
            seen = float((lw.max(axis=1) - lw.min(axis=1)).max())
            if seen <= span:
                break
            span, lw = seen + 10.0, None
        if lw is None:
            P = None
    if lw is None:  # w spans too many e-folds for floating point: log space
        # no floating-point range to respect: keep every diagonal (log_range = inf)
        LP = _metzler.expm_two_rate(diag[0], lower[:, 0], upper[:, 0], h, np.inf, log=True)
        if LP is None:
            LP = _metzler.log_expm_metzler(lower, diag, upper, h)
        lw = _propagate_log(LP, lw_T, n_steps)
    V = lw / params.k
    V[-1] = -params.gamma * params.x**2
    db, da = optimal_quotes(V, params.k)
    rho = _population_doob(lw, rho0, P, LP)
    return V, da, db, rho


def _equilibrium_fast(params, n_steps, avg_a, avg_b, rho0, state):
    """As :func:`_equilibrium_given_crowd`, with the propagators of
    :mod:`mmlib._mean_field_core` and log space only on the steps that need it.

    ``state["log_range"]`` carries the span of w from one iteration to the next. Returns
    None (use :func:`_equilibrium_given_crowd`) when w spans more than
    ``_mean_field_core.LINEAR_SPAN`` e-folds away from the terminal time.
    """
    k = params.k
    log_range = state.get("log_range")
    if log_range is None:
        # the terminal span, up to 100 e-folds (steeper ends are the log-space steps' job);
        # a wider span seen in the sweep rebuilds the propagators for it
        log_range = min(k * params.gamma * params.x_max**2, 100.0) + 20.0
    for _ in range(4):
        lw, rho, seen = _mean_field_core.solve_given_crowd(params, n_steps, avg_a, avg_b, rho0,
                                                           log_range, state.setdefault("work", {}))
        if lw is None or seen > _mean_field_core.LINEAR_SPAN:
            return None
        if rho is not None:
            state["log_range"] = log_range
            break
        log_range = seen + 20.0
    else:
        return None
    V = lw / k
    V[-1] = -params.gamma * params.x**2
    db, da = optimal_quotes(V, k)
    return V, da, db, rho


def _equilibrium_slow(params, n_steps, avg_a, avg_b, rho0, state):
    return _equilibrium_given_crowd(params, n_steps, avg_a, avg_b, rho0)


def _next_iterate(z, f, dz_hist, df_hist, damping):
    r"""Damped fixed-point step, with Anderson mixing when a history is given.

    Anderson (type II): choose :math:`\gamma` minimising
    :math:`\|f - \Delta F\gamma\|_2` over the last differences of residuals, then
    :math:`z^+ = z + \theta f - (\Delta Z + \theta\,\Delta F)\gamma`.
    Falls back to the plain damped step if the mixed one is not finite.
    """
    plain = z + damping * f
    if not dz_hist:
        return plain
    dZ = np.column_stack(dz_hist)
    dF = np.column_stack(df_hist)
    gamma = np.linalg.lstsq(dF, f, rcond=None)[0]
    mixed = plain - (dZ + damping * dF) @ gamma
    if not np.all(np.isfinite(mixed)):
        dz_hist.clear()
        df_hist.clear()
        return plain
    return mixed


def solve_mean_field(params, rho0, n_steps, damping=1.0, tol=1e-10, max_iter=200,
                     anderson=0, _z0=None):
    r"""Solve the mean-field market-making equilibrium by damped fixed-point iteration.

    .. math:: \bar\delta^{(j+1)} = \bar\delta^{(j)}
              + \theta\,\big(F(\bar\delta^{(j)}) - \bar\delta^{(j)}\big),

    where :math:`F` maps crowd averages to the averages of the optimal quotes
    under the resulting population, and :math:`\theta` is ``damping``. The
    iteration starts from the myopic quote :math:`\bar\delta = 1/k`.

    Parameters
    ----------
    params : ModelParams
    rho0 : array_like, shape (2*x_max+1,)
        Initial distribution of the crowd's inventories (non-negative, sums to 1).
    n_steps : int
        Time steps, ``1 <= n_steps <= mmlib.limits.MAX_STEPS``.
    damping : float
        Relaxation weight :math:`\theta`, ``0 < damping <= 1``.
    tol : float
        Stop when the residual :math:`\max|F(\bar\delta)-\bar\delta|` is at most
        ``tol`` (``tol > 0``).
    max_iter : int
        Maximum number of iterations, ``>= 1``.
    anderson : int
        Memory of Anderson acceleration, ``0 <= anderson <= 20``; 0 (default) is
        the plain damped iteration. A few (3--5) speed up slowly contracting
        cases, such as a crowd that starts far from flat, by an order of magnitude.

    Returns
    -------
    MeanFieldSolution
        With ``converged=False`` (and a :class:`MeanFieldConvergenceWarning`)
        if the tolerance was not reached.

    Raises
    ------
    ValueError
        For an invalid argument; before anything is allocated, for ``n_steps``
        above ``mmlib.limits.MAX_STEPS`` or a working memory above
        ``mmlib.limits.MAX_BYTES`` (default 4 GiB): one dense propagator per
        step and the series' sector matrices, about
        :math:`8\,(4Nn^2 + 20n^2 + 8(N+1)n + 4\min(2n+2, 100)^2 n)` bytes
        with :math:`n = 2x_{\max}+1`.

    Notes
    -----
    Averages at the inventory boundaries are taken over the makers who quote
    that side (see :mod:`mmlib.metrics`). The returned fields are computed
    from the returned ``avg_delta_a``, ``avg_delta_b``; the averages of the
    returned quotes under ``rho`` differ from them by at most the last residual.

    References
    ----------
    Lasry and Lions (2007); Huang, Malhamé and Caines (2006); Sud (2025). The
    book's chapter *Mean field*.

    Examples
    --------
    >>> import numpy as np
    >>> p = ModelParams(A=1.0, k=1.0, eta=0.01, gamma=0.1, T=2.0, x_max=4)
    >>> rho0 = np.exp(-0.5 * (p.x / 1.5) ** 2); rho0 /= rho0.sum()
    >>> mf = solve_mean_field(p, rho0, n_steps=100)
    >>> mf.converged, bool(mf.residuals[-1] <= 1e-10)
    (True, True)
    """
    if not isinstance(params, ModelParams):
        raise ValueError(f"params must be a ModelParams, got {type(params).__name__}")
    rho0 = check_distribution("rho0", rho0, params.n_states)
    n_steps = check_int("n_steps", n_steps, lo=1)
    limits.check_steps(f"n_steps={n_steps:,}", n_steps, "use fewer time steps")
    ns = params.n_states
    limits.check_memory(f"x_max={params.x_max:,} with n_steps={n_steps:,}",
                        limits.dense_solver_bytes(ns, n_steps) + 32.0 * n_steps * ns**2
                        + 32.0 * min(2 * ns + 2, 100) ** 2 * ns,
                        "use a smaller x_max or fewer time steps")
    damping = check_real("damping", damping, lo=0.0, hi=1.0, lo_open=True)
    tol = check_real("tol", tol, lo=0.0, lo_open=True)
    max_iter = check_int("max_iter", max_iter, lo=1)
    anderson = check_int("anderson", anderson, lo=0, hi=20)

    n1 = n_steps + 1
    z = np.full(2 * n1, 1.0 / params.k) if _z0 is None else _z0  # (avg_a, avg_b) stacked
    residuals = []
    converged = False
    dz_hist, df_hist = [], []
    z_prev = f_prev = None
    state = {}
    solve = _equilibrium_fast
    for _ in range(max_iter):
        avg_a, avg_b = z[:n1], z[n1:]
        out = solve(params, n_steps, avg_a, avg_b, rho0, state)
        if out is None:  # the fast path does not apply: the general one from now on
            solve = _equilibrium_slow
            out = solve(params, n_steps, avg_a, avg_b, rho0, state)
        V, da, db, rho = out
        f = np.concatenate(average_quotes(db, da, rho)[::-1]) - z  # z stacks (ask, bid)
        res = float(np.abs(f).max())
        if not np.isfinite(res):
            raise ValueError("mean-field iteration produced non-finite crowd averages")
        residuals.append(res)
        if res <= tol:
            converged = True
            break
        if anderson and f_prev is not None:
            dz_hist.append(z - z_prev)
            df_hist.append(f - f_prev)
            del dz_hist[:-anderson], df_hist[:-anderson]
        z_prev, f_prev = z, f
        z = _next_iterate(z, f, dz_hist, df_hist, damping)
    avg_a, avg_b = z[:n1], z[n1:]
    if not converged:
        out = solve(params, n_steps, avg_a, avg_b, rho0, state)
        if out is None:
            out = _equilibrium_slow(params, n_steps, avg_a, avg_b, rho0, state)
        V, da, db, rho = out
        warnings.warn(
            f"mean-field fixed point not converged after {max_iter} iterations: residual "
            f"{residuals[-1]:.3g} > tol={tol:g}; try a smaller damping or more max_iter",
            MeanFieldConvergenceWarning,
            stacklevel=2,
        )
    return MeanFieldSolution(
        params=params,
        t=np.linspace(0.0, params.T, n_steps + 1),
        x=params.x,
        V=V,
        delta_a=da,
        delta_b=db,
        A_a=params.A * np.exp(params.k * avg_a),
        A_b=params.A * np.exp(params.k * avg_b),
        method="mean_field",
        rho=rho,
        avg_delta_a=avg_a,
        avg_delta_b=avg_b,
        residuals=np.asarray(residuals),
        converged=converged,
        damping=damping,
    )
