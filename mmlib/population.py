r"""The crowd of market makers: master equation and Monte Carlo of inventories.

Under the quotes of a solution, one maker's inventory is a birth--death chain:
an ask fill moves :math:`x\to x-1` at rate :math:`\lambda^a_t(x)`, a bid fill
:math:`x\to x+1` at rate :math:`\lambda^b_t(x)`. The fraction of makers at each
inventory obeys the master equation (the seed article's forward equation)

.. math::

    \partial_t \rho(t,x) = \rho(t,x+1)\lambda^a_t(x+1) + \rho(t,x-1)\lambda^b_t(x-1)
        - \rho(t,x)\,[\lambda^a_t(x) + \lambda^b_t(x)],

i.e. :math:`\partial_t\rho = \rho\,Q_t` for the row vector :math:`\rho` and the
tridiagonal generator :math:`Q_t`. Over each step the quotes of the grid time
:math:`t_n` are held fixed (the same convention in the master equation and in
the Monte Carlo, so the two describe the same chain).

Chapter: *Master equation* (``book/master_equation.md``).
"""
from __future__ import annotations

import numpy as np

from . import _metzler, limits
from ._validation import as_generator, check_choice, check_distribution, check_int, check_real
from .hjb import HJBSolution, solve_hjb
from .model import ModelParams, Quotes

__all__ = ["evolve_population", "simulate_inventory", "generator_rates", "default_rho0",
           "min_stable_population_steps"]

_RATE_LIMIT = 1e200


def _check_solution(solution):
    if not isinstance(solution, HJBSolution):
        raise ValueError(
            f"solution must be an HJBSolution (from solve_hjb or solve_mean_field), "
            f"got {type(solution).__name__}"
        )


def generator_rates(solution):
    r"""Jump rates of the inventory chain at every grid time.

    Parameters
    ----------
    solution : HJBSolution

    Returns
    -------
    Quotes
        ``(bid, ask)``, each of shape ``(n_steps+1, 2*x_max+1)``: the bid-fill
        rate (up-move ``x -> x+1``) and the ask-fill rate (down-move
        ``x -> x-1``); zero on the side that does not quote.

    Raises
    ------
    ValueError
        If a rate exceeds 1e200 per unit time (a regime so extreme that the
        optimal quote lies hundreds of price units inside the mid).
    """
    _check_solution(solution)
    up, down = solution.rates()
    worst = max(float(down.max()), float(up.max()))
    if not worst <= _RATE_LIMIT:
        raise ValueError(
            f"fill rates reach {worst:.3g} per unit time (> {_RATE_LIMIT:g}): the optimal "
            "quotes cross the mid so deeply that the population dynamics are not "
            "resolvable; lower gamma, k or x_max"
        )
    return Quotes(bid=up, ask=down)


def _initial(initial, n):
    return check_distribution("rho0", initial, n)


def _population_bytes(n_states, n_steps, method):
    n, N = float(n_states), float(n_steps)
    if method == "exact":
        return 8.0 * (6.0 * N * n * n + 10.0 * (N + 1.0) * n)
    return 8.0 * 12.0 * (N + 1.0) * n


def _check_population_size(solution, method):
    N, xm = solution.n_steps, solution.params.x_max
    limits.check_steps(f"a solution with n_steps={N:,}", N, "solve on fewer time steps")
    limits.check_memory(
        f"method={method!r} at x_max={xm:,} with n_steps={N:,}",
        _population_bytes(solution.x.size, N, method),
        "use fewer time steps or a smaller x_max"
        + (" (method='euler' holds no transition matrices)" if method == "exact" else ""))


def evolve_population(solution, rho0, method="exact", check_stability=True):
    r"""Solve the master equation forward under a solution's quotes.

    .. math:: \rho_{n+1} = \rho_n\, e^{Q_n \Delta t}\quad(\text{exact}),\qquad
              \rho_{n+1} = \rho_n\,(I + \Delta t\, Q_n)\quad(\text{Euler}).

    Parameters
    ----------
    solution : HJBSolution
        Quotes and intensities on the grid (from :func:`mmlib.hjb.solve_hjb` or
        :func:`mmlib.mean_field.solve_mean_field`).
    rho0 : array_like, shape (2*x_max+1,)
        Initial distribution of inventories: non-negative, summing to 1 (within 1e-9).
    method : {"exact", "euler"}
        ``"exact"`` applies the matrix exponential of the frozen generator over
        each step: non-negative, and mass is conserved to rounding.
        ``"euler"`` is the seed article's explicit step.
    check_stability : bool
        For ``"euler"``: refuse a step with ``dt * max total rate > 1``, beyond
        which Euler produces negative masses. Set False only to demonstrate that failure.

    Returns
    -------
    rho : ndarray, shape (n_steps+1, 2*x_max+1)

    Raises
    ------
    ValueError
        For a bad ``rho0`` or method, rates too large to resolve, or an Euler
        step beyond its positivity bound (the message gives the smallest stable ``n_steps``).
        Also, before anything is allocated, for a solution with more than
        ``mmlib.limits.MAX_STEPS`` steps or a working memory above
        ``mmlib.limits.MAX_BYTES`` (default 4 GiB): ``"exact"`` holds one dense
        transition matrix per step, about :math:`8\,(6Nn^2 + 10(N+1)n)` bytes
        with :math:`n = 2x_{\max}+1`; ``"euler"`` about :math:`8\cdot 12(N+1)n`.

    References
    ----------
    Sud (2025); the book's chapter *Master equation*.

    Examples
    --------
    >>> from mmlib import ModelParams, solve_hjb
    >>> p = ModelParams(A=1.0, k=1.0, eta=0.01, gamma=0.1, T=1.0, x_max=3)
    >>> sol = solve_hjb(p, n_steps=50)
    >>> rho = evolve_population(sol, [0, 0, 0, 1.0, 0, 0, 0])
    >>> round(float(rho[-1].sum()), 12)
    1.0
    """
    _check_solution(solution)
    check_choice("method", method, {"exact", "euler"})
    n = solution.x.size
    rho0 = _initial(rho0, n)
    _check_population_size(solution, method)
    up, down = generator_rates(solution)
    h = solution.dt
    N = solution.n_steps
    out = down + up
    if method == "euler":
        worst = float(out[:-1].max())
        if check_stability and h * worst > 1.0:
            need = int(np.ceil(solution.params.T * worst))
            raise ValueError(
                f"euler step loses positivity: dt={h:.4g} > {1 / worst:.4g} = 1/max total "
                f"rate; use a solution with n_steps >= {need} or method='exact'"
            )
    rho = np.empty((N + 1, n))
    rho[0] = rho0
    if method == "exact":
        # probabilities below 1e-18 of their row are irrelevant to a distribution
        P = _metzler.expm_metzler(down[:-1, 1:], -out[:-1], up[:-1, :-1], h, floor=1e-18)
        P /= P.sum(axis=-1, keepdims=True)  # rows of a transition matrix sum to 1: remove drift
        for i in limits.steps(N, "evolve_population", work=float(N) * n * n):
            np.dot(rho[i], P[i], out=rho[i + 1])
            # masses below 1e-250 would turn into slow subnormals; they are not resolved
            rho[i + 1][rho[i + 1] < 1e-250] = 0.0
    else:
        for i in range(N):
            r = rho[i]
            nxt = r * (1.0 - h * out[i])
            nxt[:-1] += h * r[1:] * down[i, 1:]
            nxt[1:] += h * r[:-1] * up[i, :-1]
            rho[i + 1] = nxt
        if not np.all(np.isfinite(rho)):
            raise ValueError("euler step diverged; use method='exact' or more steps")
    return rho


def _euler_rate(solution):
    up, down = generator_rates(solution)
    return float((up + down)[:-1].max())


def min_stable_population_steps(params, method="euler"):
    r"""The smallest ``n_steps`` whose HJB solution :func:`evolve_population` accepts.

    The Euler step of the master equation keeps probabilities non-negative
    only when :math:`\Delta t\,\bar r_N \le 1`, with :math:`\bar r_N` the
    largest total fill rate of ``solve_hjb(params, N)`` before :math:`T`.
    :math:`\bar r_N` grows with :math:`N` (the grid resolves the tight quotes
    near :math:`T`), so the answer is the fixed point of
    :math:`N\mapsto\lceil T\bar r_N\rceil` iterated up from :math:`N = 1`.

    Parameters
    ----------
    params : ModelParams
    method : {"euler", "exact"}
        The scheme of :func:`evolve_population`; ``"exact"`` accepts every step (returns 1).

    Returns
    -------
    int

    Raises
    ------
    ValueError
        For an invalid argument, or rates so large that no
        ``n_steps <= mmlib.limits.MAX_STEPS`` works.

    References
    ----------
    The book's chapter *Master equation*.

    Examples
    --------
    >>> p = ModelParams(A=1.0, k=1.5, eta=0.01, gamma=0.1, T=10.0, x_max=20)
    >>> n = min_stable_population_steps(p)
    >>> rho0 = default_rho0(p.x_max)
    >>> _ = evolve_population(solve_hjb(p, n), rho0, method="euler")    # accepted
    >>> try:
    ...     evolve_population(solve_hjb(p, n - 1), rho0, method="euler")
    ... except ValueError:
    ...     print("refused")
    refused
    """
    if not isinstance(params, ModelParams):
        raise ValueError(f"params must be a ModelParams, got {type(params).__name__}")
    check_choice("method", method, {"exact", "euler"})
    if method == "exact":
        return 1
    n = 1
    for _ in range(200):
        worst = _euler_rate(solve_hjb(params, n))
        if params.T / n * worst <= 1.0:
            return n
        n = max(n + 1, int(np.ceil(params.T * worst)))
        while params.T / n * worst > 1.0:  # rounding of the ceiling
            n += 1
        if (n > limits.MAX_STEPS
                or limits.dense_solver_bytes(params.n_states, n) > limits.MAX_BYTES):
            break
    raise ValueError(f"euler: no n_steps <= {limits.MAX_STEPS:,} (mmlib.limits) keeps the "
                     "master equation's Euler step positive; use method='exact'")


def simulate_inventory(solution, initial, n_paths, rng=None, method="exact"):
    r"""Monte Carlo of individual makers' inventories under a solution's quotes.

    Parameters
    ----------
    solution : HJBSolution
    initial : int or array_like
        A starting inventory in ``[-x_max, x_max]``, or a distribution over the
        grid from which each path's start is drawn.
    n_paths : int
        Number of independent makers, ``>= 1``; memory about
        ``4 * (n_steps+1) * n_paths + 80 * n_paths`` bytes, within
        ``mmlib.limits.MAX_BYTES``.
    rng : None, int or numpy.random.Generator
        Source of randomness (a seed makes the run reproducible).
    method : {"exact", "step"}
        ``"exact"``: the continuous-time chain with the grid-time rates held
        over each step (event by event, vectorised over paths); its law is
        exactly :func:`evolve_population` with ``method="exact"``.
        ``"step"``: at most one fill per side and step, each with probability
        :math:`1-e^{-\lambda\Delta t}`.

    Returns
    -------
    X : ndarray of int32, shape (n_steps+1, n_paths)
        Inventory of each path at each grid time.

    Raises
    ------
    ValueError
        For an invalid argument; before anything is allocated, for a solution
        with more than ``mmlib.limits.MAX_STEPS`` steps or a memory estimate
        (above) beyond ``mmlib.limits.MAX_BYTES``.

    Notes
    -----
    A run of more than :data:`mmlib.limits.PROGRESS_MIN_WORK` path-steps shows
    a progress bar in interactive use (:func:`mmlib.limits.show_progress`);
    Ctrl-C stops it and returns nothing.

    Examples
    --------
    >>> from mmlib import ModelParams, solve_hjb
    >>> p = ModelParams(A=1.0, k=1.0, eta=0.01, gamma=0.1, T=1.0, x_max=3)
    >>> X = simulate_inventory(solve_hjb(p, 20), 0, n_paths=1000, rng=1)
    >>> X.shape, int(abs(X).max()) <= 3
    ((21, 1000), True)
    """
    _check_solution(solution)
    check_choice("method", method, {"exact", "step"})
    n_paths = check_int("n_paths", n_paths, lo=1)
    N1 = solution.n_steps + 1
    limits.check_steps(f"a solution with n_steps={N1 - 1:,}", N1 - 1, "solve on fewer time steps")
    limits.check_memory(f"n_paths={n_paths:,} over {N1:,} recorded steps",
                        4.0 * N1 * n_paths + 80.0 * n_paths + 48.0 * N1 * solution.x.size,
                        "simulate fewer paths")
    gen = as_generator(rng)
    xm = solution.params.x_max
    n = 2 * xm + 1
    if np.ndim(initial) == 0:
        x0 = check_int("initial", initial, lo=-xm, hi=xm)
        idx = np.full(n_paths, x0 + xm, dtype=np.int64)
    else:
        p0 = check_distribution("initial", initial, n)
        idx = gen.choice(n, size=n_paths, p=p0).astype(np.int64)
    up, down = generator_rates(solution)
    h = solution.dt
    N = solution.n_steps
    X = np.empty((N + 1, n_paths), dtype=np.int32)
    X[0] = idx - xm
    for i in limits.steps(N, "simulate_inventory", work=float(N) * n_paths):
        if method == "step":
            pa = -np.expm1(-down[i] * h)
            pb = -np.expm1(-up[i] * h)
            u = gen.random((2, n_paths))
            idx = idx - (u[0] < pa[idx]) + (u[1] < pb[idx])
        else:
            _ctmc_step(idx, down[i], up[i], h, gen)
        X[i + 1] = idx - xm
    return X


def _ctmc_step(idx, down, up, h, gen):
    """Advance every path of a birth-death chain by time ``h`` in place."""
    total = down + up
    left = np.full(idx.size, h)
    active = np.arange(idx.size)
    while active.size:
        s = idx[active]
        tau = gen.standard_exponential(active.size) / total[s]
        jump = tau < left[active]
        active = active[jump]
        if not active.size:
            break
        s = s[jump]
        left[active] -= tau[jump]
        go_down = gen.random(active.size) * total[s] < down[s]
        idx[active] = s + np.where(go_down, -1, 1)


def default_rho0(x_max, mu0=0.0, sd=None):
    r"""The book's default initial crowd: a discretised Gaussian on ``-x_max..x_max``.

    .. math:: \rho_0(x) = \frac{e^{-(x-\mu_0)^2/(2\sigma_0^2)}}
                               {\sum_{y=-x_{\max}}^{x_{\max}} e^{-(y-\mu_0)^2/(2\sigma_0^2)}}

    Parameters
    ----------
    x_max : int
        Inventory bound, ``x_max >= 1``.
    mu0 : float
        Centre, ``|mu0| <= x_max``.
    sd : float, optional
        Standard deviation :math:`\sigma_0 > 0`; default ``x_max / 4``.

    Returns
    -------
    ndarray, shape (2*x_max+1,)

    Raises
    ------
    ValueError
        If an argument is outside its range.

    Examples
    --------
    >>> r = default_rho0(4)
    >>> r.shape, round(float(r.sum()), 12), bool(r[4] == r.max())
    ((9,), 1.0, True)
    """
    x_max = check_int("x_max", x_max, lo=1)
    mu0 = check_real("mu0", mu0, lo=-x_max, hi=x_max)
    sd = x_max / 4.0 if sd is None else check_real("sd", sd, lo=0.0, lo_open=True)
    x = np.arange(-x_max, x_max + 1, dtype=float)
    r = np.exp(-0.5 * ((x - mu0) / sd) ** 2)
    return r / r.sum()
