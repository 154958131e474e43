r"""Mean-field coupling: fill rates depend on a quote's tightness relative to the crowd.

.. math:: \lambda^a(\delta;\bar\delta^a_t) = A e^{-k(\delta - \bar\delta^a_t)},\qquad
          \bar\delta^a_t = \text{crowd-average ask depth at } t,

and likewise for the bid. For a given crowd path the factor
:math:`e^{k\bar\delta_t}` only rescales :math:`A`, so the optimal quotes keep
their closed form :math:`\delta^* = 1/k - \Delta V` while :math:`V` changes.
The equilibrium is a fixed point: crowd averages -> HJB (backward) -> quotes
and population (forward) -> new crowd averages.

Discretisation. Each step :math:`[t_n, t_{n+1})` holds one crowd average, the step
average of the crowd's quotes, :math:`(\bar q_n + \bar q_{n+1})/2` with :math:`\bar q_n`
the population average of the quotes at grid time :math:`t_n` (the trapezoid rule;
``hold="left"`` holds :math:`\bar q_n` instead, the scheme of earlier versions, whose error
is hundreds of times larger: see :func:`solve_mean_field`). Given them, the HJB is solved exactly through
:math:`w = e^{kV}`: one matrix exponential :math:`P_n = e^{hM_n}` per step,
applied to the vector as a series of non-negative terms cut by a proven bound
(the private module ``mmlib._uniformized``), so no propagator matrix is formed.
The population is then evolved exactly under the *continuously* updated optimal
quotes: the optimally controlled chain is the Doob transform of :math:`P_n`, with transition
matrix :math:`P_n[x,y]\,w(t_{n+1},y)/w(t_n,x)` over a step. (This differs by
:math:`O(\Delta t)` from :func:`mmlib.population.evolve_population`, which holds the quotes
of each grid time over the step.)

Chapter: *Mean field* (``book/mean_field.md``).
"""
from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field

import numba
import numpy as np

from . import _uniformized, limits
from ._validation import check_distribution, check_int, check_real
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
        Crowd-average quotes the equilibrium was solved for: entry ``n < n_steps`` is the
        value held over step ``n`` (see ``hold`` in :func:`solve_mean_field`), the last entry
        the average at :math:`T`.
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


def _equilibrium(params, n_steps, avg_a, avg_b, rho0):
    """HJB and population for fixed crowd averages (held on each step): V, ask, bid, rho."""
    lw, rho, _, _ = _uniformized.solve_given_crowd(params, n_steps, avg_a, avg_b, rho0)
    V = lw / params.k
    V[-1] = -params.gamma * params.x**2
    db, da = optimal_quotes(V, params.k)
    return V, da, db, rho


def _working_bytes(n_states, n_steps, anderson):
    """Bytes held at once: about sixteen (n_steps+1, n) arrays (log w, V, the quotes, the
    population and their temporaries, the previous iterate's) and the mixing history."""
    n1 = n_steps + 1
    return 8.0 * (16 * n1 * n_states + 2 * (2 * anderson + 8) * 2 * n1 + 64 * n_states)


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


def _skew_costate(params, t, mean_x):
    r"""The skew :math:`L y` that a crowd with mean inventory path ``mean_x`` (:math:`y`) implies:
    :math:`(Ly)_t = -2\gamma\,y_T - 2\eta\int_t^T y_u\,du` (trapezoid rule)."""
    h = np.diff(t)
    tail = np.concatenate([np.cumsum((0.5 * h * (mean_x[1:] + mean_x[:-1]))[::-1])[::-1], [0.0]])
    return -2.0 * params.gamma * mean_x[-1] - 2.0 * params.eta * tail


@numba.njit(cache=True)
def _fill_rate_mass(k, za, zb, da, db, rho):
    """Per time, the population's sum of e^{k(za - da)} + e^{k(zb - db)} (fill rates over A;
    exponents capped at 700; a side that does not quote, NaN, adds nothing)."""
    n1, n = rho.shape
    out = np.zeros(n1)
    for i in range(n1):
        acc = 0.0
        for x in range(n):
            r = 0.0
            if not np.isnan(da[i, x]):
                r += math.exp(min(k * (za[i] - da[i, x]), 700.0))
            if not np.isnan(db[i, x]):
                r += math.exp(min(k * (zb[i] - db[i, x]), 700.0))
            acc += rho[i, x] * r
        out[i] = acc
    return out


def _skew_newton_step(params, t, z, f, da, db, rho):
    r"""The fixed-point step :math:`f = F(z) - z` with its skew part replaced by a Newton step of
    the costate model (see :func:`solve_mean_field`, Notes): returns the new step."""
    n1 = t.size
    za, zb = z[:n1], z[n1:]
    mean_step = 0.5 * (f[:n1] + f[n1:])
    G = 0.5 * (f[:n1] - f[n1:])  # skew of the quotes minus the crowd's skew
    c = params.k * params.A * _fill_rate_mass(params.k, za, zb, da, db, rho)  # d(drift)/d(skew)
    dy = np.concatenate([[0.0], -np.cumsum(np.diff(t) * c[:-1] * G[:-1])])
    skew_step = G + _skew_costate(params, t, dy)
    return np.concatenate([mean_step + skew_step, mean_step - skew_step])


@numba.njit(cache=True)
def _solve_backward_volterra(f, decay, gain):
    r"""Solve :math:`\Delta_n = f_n + u_n` with :math:`u_n = d_n u_{n+1} - g_n \Delta_n` and
    :math:`u_{N+1} = 0`, backward in :math:`n` (``decay`` :math:`d`, ``gain`` :math:`g \ge 0`):
    the discrete :math:`(I - J)\Delta = f` of the mean Newton step."""
    n1 = f.size
    out = np.empty(n1)
    u = 0.0
    for n in range(n1 - 1, -1, -1):
        carried = decay[n] * u
        out[n] = (f[n] + carried) / (1.0 + gain[n])
        u = carried - gain[n] * out[n]
    return out


def _mean_newton_step(params, t, z, f):
    r"""The fixed-point step ``f`` with its mean part replaced by a Newton step of the curvature
    model (see :func:`solve_mean_field`, Notes): returns the new step."""
    n1 = t.size
    k = params.k
    mean = 0.5 * (z[:n1] + z[n1:])
    fm = 0.5 * (f[:n1] + f[n1:])
    v2 = np.maximum(mean + fm - 1.0 / k, 0.0)  # curvature: the crowd's mean quote minus 1/k
    rate = (2.0 * params.A / np.e) * np.exp(np.minimum(k * mean, 700.0))  # Lambda_t
    h = np.append(np.diff(t), 0.0)
    decay = np.exp(-4.0 * k * rate * v2 * h)
    gain = 2.0 * k * k * rate * v2**2 * h
    dm = _solve_backward_volterra(fm, decay, gain)
    if not np.all(np.isfinite(dm)):
        return f
    return f + np.concatenate([dm - fm, dm - fm])


def _held(q, hold):
    """The crowd average held over each step from the grid-time averages ``q``: the step
    average ``(q_n + q_{n+1}) / 2`` (``hold="step"``) or ``q_n`` (``"left"``); the last entry
    stays ``q_N``."""
    if hold == "left":
        return q
    out = q.copy()
    out[:-1] = 0.5 * (q[:-1] + q[1:])
    return out


def solve_mean_field(params, rho0, n_steps, damping=1.0, tol=1e-10, max_iter=200,
                     anderson=0, skew_newton=False, mean_newton=False, hold="step", _z0=None):
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
    skew_newton : bool
        Replace the skew part of each step by a Newton step of the costate model (Notes), and
        start from that model's skew. Off by default (the plain map, whose contraction the
        chapter measures); the dashboard uses it with ``anderson=20``.
    mean_newton : bool
        Replace the mean part of each step by a Newton step of the curvature model (Notes).
        Off by default; the dashboard uses it with ``skew_newton`` and ``anderson=20``.
    hold : {"step", "left"}
        The crowd average held over a step: the step average of the crowd's quotes (default,
        trapezoid rule) or their average at the step's start (the scheme of earlier
        versions, kept to show its error). Both are first order in the step; the step
        average's error is hundreds of times smaller (Notes).

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
        ``mmlib.limits.MAX_BYTES`` (default 4 GiB): about sixteen arrays of the
        grid's size and the mixing history, :math:`8\,(16(N+1)n + 4(2m+8)(N+1))`
        bytes with :math:`n = 2x_{\max}+1` and :math:`m` = ``anderson``.

    Notes
    -----
    Averages at the inventory boundaries are taken over the makers who quote
    that side (see :mod:`mmlib.metrics`). The returned fields are computed
    from the returned ``avg_delta_a``, ``avg_delta_b``; the held averages of the
    returned quotes under ``rho`` differ from them by at most the last residual.

    *Why the step average.* Within a step a maker's quotes keep moving (her skew drifts by
    about :math:`2\eta E[X]` per unit of time) while the crowd's held value does not. Holding
    the step's starting average leaves every maker with a relative skew of half a step's
    drift, which moves the crowd's inventory at a rate proportional to that skew. The error
    is first order in the step but multiplied by the fill rates and the horizon: in the
    dashboard's busiest corner with 500 steps the crowd's mean inventory ends about 9 units
    too high with ``hold="left"``, and 0.004 units with the step average, which cancels the
    bias to leading order.

    *The skew Newton step.* Write the crowd's averages as a mean and a half-skew,
    :math:`\bar\delta^{a,b} = m \pm s`. Shifting :math:`s` by a constant only moves the
    crowd's reference price (the gauge :math:`V + \xi x`), so along :math:`s` the map is close
    to the identity and the plain iteration crawls. A linear model of the skew residual
    :math:`G_t = \tfrac12 E_\rho[\delta^a - \delta^b]_t - s_t` fixes this. Along the
    optimal chain the quotes' mean half-skew is the costate
    :math:`E[(V(x+1)-V(x-1))/2]`, which ends at :math:`-2\gamma E[X_T]` and drifts by
    :math:`2\eta E[X_t]`, so it is :math:`(Ly)_t = -2\gamma y_T - 2\eta\int_t^T y_u\,du` of
    the mean inventory :math:`y_t` alone. A relative skew moves :math:`y` at the rate
    :math:`\dot y = c_t G_t`, with :math:`c_t = k\,E_\rho[\lambda^a + \lambda^b]`. The Newton
    step of this model that zeroes :math:`G` is :math:`\Delta s = G + L\,\Delta y`, with
    :math:`\Delta y_t = -\int_0^t c_u G_u\,du`. It has the same fixed point (:math:`G = 0`),
    and the model's equilibrium, :math:`s = L\,E[X_0]`, is the starting skew.

    *The mean Newton step.* Along the mean :math:`m` the plain iteration is slow where fill
    rates are high: a deeper crowd raises every maker's fill rates, which flattens
    :math:`V` and tightens the quotes. In the gauge that removes the skew, take the quadratic
    approximation :math:`V \approx v_0 - v_1 x - v_2 x^2`. The HJB then gives the curvature's
    Riccati equation :math:`\dot v_2 = 2k\Lambda_t v_2^2 - \eta`, :math:`v_2(T) = \gamma`,
    with :math:`\Lambda_t = (2A/e)\,e^{k m_t}` the fill-rate scale of both sides, and the
    crowd's mean half-spread is :math:`1/k + v_2`. A crowd mean moved by :math:`\delta m` moves
    the curvature by :math:`u`, with :math:`\dot u = 4k\Lambda v_2\,u + 2k^2\Lambda v_2^2\,
    \delta m` and :math:`u(T) = 0`: a Volterra operator :math:`J` of negative gain
    (:math:`J\delta m = u`). The Newton step solves :math:`(I - J)\Delta m = f_m` for the mean
    part :math:`f_m` of the residual, backward in time in :math:`O(N)`, with :math:`v_2` read
    off the current quotes (their mean minus :math:`1/k`) and :math:`\Lambda` off the current
    crowd. It too has the same fixed point.

    Where a model is poor (time steps too coarse for the crowd's fill rates), a residual
    above ten times the first one ends the Newton steps: the solve restarts from the plain
    start with plain steps.

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
                        _working_bytes(ns, n_steps, anderson),
                        "use a smaller x_max or fewer time steps")
    damping = check_real("damping", damping, lo=0.0, hi=1.0, lo_open=True)
    tol = check_real("tol", tol, lo=0.0, lo_open=True)
    max_iter = check_int("max_iter", max_iter, lo=1)
    anderson = check_int("anderson", anderson, lo=0, hi=50)
    if not isinstance(skew_newton, (bool, np.bool_)):
        raise ValueError(f"skew_newton must be True or False, got {skew_newton!r}")
    if not isinstance(mean_newton, (bool, np.bool_)):
        raise ValueError(f"mean_newton must be True or False, got {mean_newton!r}")
    if hold not in ("step", "left"):
        raise ValueError(f"hold must be 'step' or 'left', got {hold!r}")

    n1 = n_steps + 1
    t = np.linspace(0.0, params.T, n1)
    z = np.full(2 * n1, 1.0 / params.k) if _z0 is None else _z0  # (avg_a, avg_b) stacked
    z_plain = z
    if skew_newton and _z0 is None:
        s0 = _skew_costate(params, t, np.full(n1, float(rho0 @ params.x)))
        z = np.concatenate([z[:n1] + s0, z[n1:] - s0])
    residuals = []
    converged = False
    dz_hist, df_hist = [], []
    z_prev = f_prev = None
    skew_model, mean_model = skew_newton, mean_newton
    for _ in range(max_iter):
        avg_a, avg_b = z[:n1], z[n1:]
        V, da, db, rho = _equilibrium(params, n_steps, avg_a, avg_b, rho0)
        q_b, q_a = average_quotes(db, da, rho)
        f = np.concatenate([_held(q_a, hold), _held(q_b, hold)]) - z  # z stacks (ask, bid)
        res = float(np.abs(f).max())
        if not np.isfinite(res):
            raise ValueError("mean-field iteration produced non-finite crowd averages")
        residuals.append(res)
        if res <= tol:
            converged = True
            break
        if (skew_model or mean_model) and res > 10.0 * residuals[0]:
            # the linear model overshot (steps too coarse for it): start again from the plain
            # start with plain steps and a fresh mixing history
            skew_model = mean_model = False
            z = z_plain
            dz_hist.clear()
            df_hist.clear()
            z_prev = f_prev = None
            continue
        if skew_model:
            f = _skew_newton_step(params, t, z, f, da, db, rho)
        if mean_model:
            f = _mean_newton_step(params, t, z, f)
        if anderson and f_prev is not None:
            dz_hist.append(z - z_prev)
            df_hist.append(f - f_prev)
            del dz_hist[:-anderson], df_hist[:-anderson]
        z_prev, f_prev = z, f
        z = _next_iterate(z, f, dz_hist, df_hist, damping)
    avg_a, avg_b = z[:n1], z[n1:]
    if not converged:
        V, da, db, rho = _equilibrium(params, n_steps, avg_a, avg_b, rho0)
        warnings.warn(
            f"mean-field fixed point not converged after {max_iter} iterations: residual "
            f"{residuals[-1]:.3g} > tol={tol:g}; try a smaller damping or more max_iter",
            MeanFieldConvergenceWarning,
            stacklevel=2,
        )
    with np.errstate(over="ignore"):
        A_a, A_b = params.A * np.exp(params.k * avg_a), params.A * np.exp(params.k * avg_b)
    if not (np.all(np.isfinite(A_a)) and np.all(np.isfinite(A_b))):
        raise ValueError(
            f"mean-field iteration diverged (crowd depths reach {np.abs(z).max():.3g}) after "
            f"{len(residuals)} iterations; try damping < 1, a larger anderson or more n_steps")
    return MeanFieldSolution(
        params=params,
        t=t,
        x=params.x,
        V=V,
        delta_a=da,
        delta_b=db,
        A_a=A_a,
        A_b=A_b,
        method="mean_field",
        rho=rho,
        avg_delta_a=avg_a,
        avg_delta_b=avg_b,
        residuals=np.asarray(residuals),
        converged=converged,
        damping=damping,
    )
