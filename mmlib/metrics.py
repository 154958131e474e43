r"""Session metrics of the seed article's dashboard, as time series.

All functions take the population :math:`\rho(t_n,x)` with shape
``(n_steps+1, 2*x_max+1)`` and return arrays of shape ``(n_steps+1,)``.

Averaging convention at the inventory boundaries: a maker at ``x=-x_max`` posts
no ask and one at ``x=+x_max`` posts no bid, so the crowd's average quote on a
side is taken over the makers who quote that side,

.. math:: \bar\delta^a_t = \frac{\sum_{x>-x_{\max}} \delta^{a}(t,x)\rho(t,x)}
                                {\sum_{x>-x_{\max}} \rho(t,x)},

and likewise for the bid. If nobody quotes a side at some time (all the mass
sits on the boundary), that side's average is the quote of the inventory next
to the boundary.

Chapters: *Master equation*, *Mean field* and *Dashboard* (``book/master_equation.md``,
``book/mean_field.md``, ``book/dashboard.md``).
"""
from __future__ import annotations

from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from ._validation import check_real
from .model import Quotes

__all__ = [
    "average_quotes",
    "full_spread",
    "skew",
    "inventory_mean",
    "inventory_variance",
    "derisk_probability",
    "marginal_cost",
    "session_metrics",
    "MCStats",
    "mc_stats",
]


def _side_average(delta, rho, quoting):
    w = rho[:, quoting]
    mass = w.sum(axis=1)
    num = (delta[:, quoting] * w).sum(axis=1)
    edge = delta[:, quoting][:, 0 if quoting.start == 1 else -1]
    with np.errstate(invalid="ignore", divide="ignore"):
        avg = np.where(mass > 0, num / np.where(mass > 0, mass, 1.0), edge)
    return avg


def average_quotes(delta_b, delta_a, rho):
    r"""Crowd-average bid and ask depths :math:`\bar\delta^b_t,\ \bar\delta^a_t`.

    Parameters
    ----------
    delta_b, delta_a : ndarray, shape (n_steps+1, n)
        Bid and ask depths, NaN on the side that does not quote (``x=+x_max``
        bid, ``x=-x_max`` ask).
    rho : ndarray, shape (n_steps+1, n)
        Distribution of inventories at each time.

    Returns
    -------
    Quotes
        ``(bid, ask)`` averages, each of shape ``(n_steps+1,)``.

    Examples
    --------
    >>> import numpy as np
    >>> db = np.array([[2.0, 1.0, np.nan]]); da = np.array([[np.nan, 1.0, 2.0]])
    >>> average_quotes(db, da, np.array([[0.5, 0.5, 0.0]]))
    Quotes(bid=array([1.5]), ask=array([1.]))
    """
    n = rho.shape[-1]
    return Quotes(bid=_side_average(delta_b, rho, slice(0, n - 1)),
                  ask=_side_average(delta_a, rho, slice(1, n)))


def full_spread(avg_b, avg_a):
    r"""The full spread :math:`\bar\delta^b + \bar\delta^a` (ask price minus bid price)."""
    return np.asarray(avg_b) + np.asarray(avg_a)


def skew(avg_b, avg_a):
    r"""The skew :math:`\bar\delta^a - \bar\delta^b` (ask depth minus bid depth).

    The seed article's dashboard labels this quantity "FullSpread"; it is the
    asymmetry of the quotes, zero for a symmetric crowd, not a spread.

    Examples
    --------
    >>> float(skew(0.5, 0.75))   # bid depth 0.5, ask depth 0.75
    0.25
    """
    return np.asarray(avg_a) - np.asarray(avg_b)


def inventory_mean(x, rho):
    r""":math:`\mathbb{E}[X_t] = \sum_x x\,\rho(t,x)`."""
    return rho @ np.asarray(x, dtype=float)


def inventory_variance(x, rho):
    r""":math:`\mathrm{Var}[X_t] = \sum_x (x-\bar x_t)^2\rho(t,x)`."""
    x = np.asarray(x, dtype=float)
    m = rho @ x
    return ((x[None, :] - m[:, None]) ** 2 * rho).sum(axis=1)


def derisk_probability(x, rho, eps):
    r""":math:`P(|X_t| < \varepsilon) = \sum_{|x|<\varepsilon}\rho(t,x)`, with ``eps > 0``.

    Examples
    --------
    >>> import numpy as np
    >>> derisk_probability([-1, 0, 1], np.array([[0.25, 0.5, 0.25]]), eps=0.5)
    array([0.5])
    """
    eps = check_real("eps", eps, lo=0.0, lo_open=True)
    inside = np.abs(np.asarray(x, dtype=float)) < eps
    return rho[:, inside].sum(axis=1)


def marginal_cost(V):
    r"""Shadow price of one more unit at flat inventory, :math:`\partial_x V(t,0)`.

    Central difference :math:`[V(t,1)-V(t,-1)]/2` on the unit inventory grid.
    """
    V = np.asarray(V, dtype=float)
    mid = V.shape[-1] // 2
    return 0.5 * (V[..., mid + 1] - V[..., mid - 1])


def session_metrics(solution, rho, eps=0.5):
    r"""All dashboard metrics of a solution and its population, as a dict.

    Parameters
    ----------
    solution : HJBSolution or MeanFieldSolution
    rho : ndarray, shape (n_steps+1, 2*x_max+1)
    eps : float
        Threshold of the de-risk probability, ``eps > 0``.

    Returns
    -------
    dict
        Keys ``avg_delta_a``, ``avg_delta_b``, ``full_spread``, ``skew``,
        ``mean``, ``variance``, ``derisk``, ``marginal_cost``; each of shape (n_steps+1,).
    """
    b, a = average_quotes(solution.delta_b, solution.delta_a, rho)
    return {
        "avg_delta_a": a,
        "avg_delta_b": b,
        "full_spread": full_spread(b, a),
        "skew": skew(b, a),
        "mean": inventory_mean(solution.x, rho),
        "variance": inventory_variance(solution.x, rho),
        "derisk": derisk_probability(solution.x, rho, eps),
        "marginal_cost": marginal_cost(solution.V),
    }


@dataclass(frozen=True)
class MCStats:
    r"""Monte Carlo summary of one per-path quantity.

    Attributes
    ----------
    n : int
        Number of paths.
    mean, sem : float
        Sample mean and its standard error :math:`s/\sqrt n`.
    std, std_se : float
        Sample standard deviation and its standard error
        :math:`\sqrt{(m_4 - s^4)/n}\,/\,(2s)` (delta method, no normality assumed).
    sharpe : float
        ``mean / std`` over the whole horizon (not annualised); NaN if ``std == 0``.
    ci : (float, float)
        Normal confidence interval for the mean at level ``ci_level``.
    ci_level : float
    quantiles : dict
        Level -> sample quantile.
    """

    n: int
    mean: float
    sem: float
    std: float
    std_se: float
    sharpe: float
    ci: tuple
    ci_level: float
    quantiles: dict


def mc_stats(values, ci=0.95, quantiles=(0.05, 0.25, 0.5, 0.75, 0.95)):
    r"""Mean with standard error, std with standard error, Sharpe, quantiles and a CI.

    .. math:: \bar y \pm z_{(1+c)/2}\,\frac{s}{\sqrt n}

    Parameters
    ----------
    values : array_like, shape (n,)
        One number per path; ``n >= 2``, finite.
    ci : float
        Confidence level in ``(0, 1)``.
    quantiles : sequence of float
        Levels in ``[0, 1]``.

    Returns
    -------
    MCStats

    Raises
    ------
    ValueError
        If ``values`` has fewer than two entries or non-finite entries, or a level is out of range.

    Examples
    --------
    >>> st = mc_stats([1.0, 2.0, 3.0, 4.0])
    >>> st.mean, round(st.std, 4), round(st.sem, 4)
    (2.5, 1.291, 0.6455)
    """
    y = np.asarray(values, dtype=float).ravel()
    if y.size < 2:
        raise ValueError(f"values must hold at least 2 paths, got {y.size}")
    if not np.all(np.isfinite(y)):
        raise ValueError("values must be finite")
    ci = check_real("ci", ci, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    levels = [check_real("quantile level", q, lo=0.0, hi=1.0) for q in quantiles]
    n = y.size
    mean = float(y.mean())
    std = float(y.std(ddof=1))
    sem = std / np.sqrt(n)
    if std > 0:
        m4 = float(np.mean((y - mean) ** 4))
        std_se = float(np.sqrt(max(m4 - std**4, 0.0) / n) / (2.0 * std))
        sharpe = mean / std
    else:
        std_se, sharpe = 0.0, float("nan")
    z = NormalDist().inv_cdf(0.5 + ci / 2.0)
    qs = np.quantile(y, levels) if levels else []
    return MCStats(n=n, mean=mean, sem=float(sem), std=std, std_se=std_se,
                   sharpe=float(sharpe), ci=(mean - z * sem, mean + z * sem),
                   ci_level=ci, quantiles={lv: float(v) for lv, v in zip(levels, qs)})
