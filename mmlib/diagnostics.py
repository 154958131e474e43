r"""Detectors for the numerical failure regimes of the book's solvers.

A truncated inventory grid :math:`\{-Q,\dots,Q\}` is harmless only while the
population puts negligible mass on its two edges,

.. math:: m_Q = \max_{n}\ \big(\rho_n(-Q) + \rho_n(Q)\big),

the *boundary mass*. :func:`boundary_mass` measures it from a master-equation
solution (:func:`~mmlib.population.evolve_population`) or estimates it, with its standard
error, from Monte Carlo inventories (:func:`~mmlib.population.simulate_inventory`);
:func:`choose_x_max` grows :math:`Q` until it is below a tolerance. The book's
chapter *Failure regimes* uses both.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_int, check_real

__all__ = ["boundary_mass", "boundary_mass_mc", "choose_x_max"]


def boundary_mass(rho):
    r"""Mass on the two edges of the inventory grid at every time, :math:`\rho_n(-Q)+\rho_n(Q)`.

    Parameters
    ----------
    rho : array_like, shape (n_times, 2*Q+1)
        Distributions over the grid (rows sum to 1), e.g. from
        :func:`~mmlib.population.evolve_population`.

    Returns
    -------
    ndarray, shape (n_times,)

    Raises
    ------
    ValueError
        If ``rho`` is not 2-d with at least 3 columns, or not finite.

    Examples
    --------
    >>> boundary_mass([[0.0, 1.0, 0.0], [0.25, 0.5, 0.25]]).tolist()
    [0.0, 0.5]
    """
    r = np.asarray(rho, dtype=float)
    if r.ndim != 2 or r.shape[1] < 3:
        raise ValueError(f"rho must have shape (n_times, 2*x_max+1) with x_max >= 1, got "
                         f"{r.shape}")
    if not np.all(np.isfinite(r)):
        raise ValueError("rho must be finite")
    return r[:, 0] + r[:, -1]


def boundary_mass_mc(X, x_max):
    r"""Monte Carlo estimate of the boundary mass at every time, with its standard error.

    .. math:: \hat m_n = \frac1P\sum_p \mathbf 1\{|X^p_n| = Q\},\qquad
              \mathrm{se}_n = \sqrt{\hat m_n(1-\hat m_n)/P}

    Parameters
    ----------
    X : array_like of int, shape (n_times, n_paths)
        Inventories on the grid ``-x_max..x_max`` (from :func:`~mmlib.population.simulate_inventory`).
    x_max : int
        The grid's bound, ``>= 1``.

    Returns
    -------
    mass, se : ndarray, shape (n_times,)

    Examples
    --------
    >>> m, se = boundary_mass_mc([[0, 2, -2, 1]], 2)
    >>> float(m[0]), round(float(se[0]), 4)
    (0.5, 0.25)
    """
    Q = check_int("x_max", x_max, lo=1)
    a = np.asarray(X)
    if a.ndim != 2 or a.shape[1] < 1:
        raise ValueError(f"X must have shape (n_times, n_paths), got {a.shape}")
    if np.any(np.abs(a) > Q):
        raise ValueError(f"X must lie in [-{Q}, {Q}]")
    m = np.mean(np.abs(a) == Q, axis=1)
    return m, np.sqrt(m * (1.0 - m) / a.shape[1])


def choose_x_max(mass_of, tol=1e-6, start=2, limit=500):
    r"""Smallest bound :math:`Q` (doubling, then bisecting) with boundary mass at most ``tol``.

    Parameters
    ----------
    mass_of : callable
        ``mass_of(Q) -> float``: the boundary mass :math:`m_Q` of the problem
        solved on ``-Q..Q`` (for example ``boundary_mass(evolve_population(
        solve_hjb(p.replace(x_max=Q), n), rho0)).max()``). Assumed
        non-increasing in :math:`Q` beyond ``start``.
    tol : float
        Tolerance, ``0 < tol < 1``.
    start : int
        First bound tried, ``>= 1``.
    limit : int
        Largest bound tried, ``>= start``; default 500, the largest ``x_max``
        that :class:`~mmlib.model.ModelParams` accepts (see :mod:`mmlib.limits`).

    Returns
    -------
    Q : int
    masses : dict
        Every bound evaluated and its boundary mass.

    Raises
    ------
    ValueError
        For a bad argument, or if the mass exceeds ``tol`` even at ``limit``.

    Examples
    --------
    >>> Q, seen = choose_x_max(lambda q: 2.0 ** -q, tol=1e-3)
    >>> Q, seen[Q] <= 1e-3 < seen[Q - 1]
    (10, True)
    """
    if not callable(mass_of):
        raise ValueError("mass_of must be callable Q -> boundary mass")
    tol = check_real("tol", tol, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    start = check_int("start", start, lo=1)
    limit = check_int("limit", limit, lo=start)
    seen = {}

    def m(q):
        if q not in seen:
            seen[q] = check_real(f"mass_of({q})", float(mass_of(q)), lo=0.0)
        return seen[q]

    lo, hi = None, start
    while m(hi) > tol:
        lo = hi
        if hi >= limit:
            raise ValueError(f"boundary mass {seen[hi]:.3g} > tol = {tol:g} even at x_max = "
                             f"{limit}; raise limit")
        hi = min(2 * hi, limit)
    if lo is None:  # start already meets tol: search below it
        lo = 0
    while hi - lo > 1:  # invariant: m(hi) <= tol, and lo == 0 or m(lo) > tol
        mid = (lo + hi) // 2
        if m(mid) <= tol:
            hi = mid
        else:
            lo = mid
    return hi, seen
