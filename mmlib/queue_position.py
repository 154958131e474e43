r"""Queue position at the best price: fill before the price moves away.

The chapter *Microstructure* (``book/microstructure.md``) uses this module. A maker's order
rests at the best bid behind :math:`n` unit orders of a FIFO queue. While :math:`j` orders are
ahead of her, three clocks run (queue-reactive rates may depend on :math:`j`):

* market sell orders at rate :math:`\mu_j` remove the front order (her own when :math:`j=0`:
  she is filled);
* each order ahead cancels at rate :math:`\theta_j`, a total of :math:`j\theta_j`;
* the price moves away (the level stops being the best bid) at rate :math:`\nu_j`: she is not
  filled.

The ahead count is a pure-death chain, so the fill probability is a product
(Cont, Stoikov and Talreja, 2010, compute such first-passage laws by Laplace transforms):

.. math::

    P_n = \frac{\mu_0}{\mu_0 + \nu_0}\prod_{j=1}^{n}\frac{\mu_j + j\theta_j}{\mu_j + j\theta_j + \nu_j}.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import limits
from ._validation import as_generator, check_int

__all__ = ["QueueStats", "QueueSimulation", "queue_fill_stats", "simulate_queue"]


def _rate(name, value, n_max, *, positive):
    """Broadcast a scalar or per-position rate to shape (n_max + 1,) and check it."""
    arr = np.asarray(value, dtype=float)
    if arr.ndim == 0:
        arr = np.full(n_max + 1, float(arr))
    elif arr.ndim != 1 or arr.size < n_max + 1:
        raise ValueError(f"{name} must be a scalar or a 1-D array with at least {n_max + 1} "
                         f"entries (one per ahead count 0..{n_max}), got shape {arr.shape}")
    arr = arr[: n_max + 1].copy()
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must be finite")
    if positive and np.any(arr <= 0):
        raise ValueError(f"{name} must be > 0, got min {arr.min():g}")
    if not positive and np.any(arr < 0):
        raise ValueError(f"{name} must be >= 0, got min {arr.min():g}")
    return arr


@dataclass(frozen=True)
class QueueStats:
    r"""Exact fill statistics for every starting position ``0..n_max``.

    Attributes
    ----------
    position : ndarray of int, shape (n_max + 1,)
        Orders ahead :math:`n`.
    fill_prob : ndarray
        :math:`P_n`, probability of a fill before the price moves away.
    time_to_fill : ndarray
        :math:`\mathbb E[\tau \mid \text{fill}]`.
    time_to_resolution : ndarray
        :math:`\mathbb E[\tau]`, where :math:`\tau` is the fill or the price move.
    effective_intensity : ndarray
        :math:`P_n / \mathbb E[\tau]`: the long-run fill rate of a maker who, after every
        resolution, re-joins at position :math:`n` (renewal-reward).
    """

    position: np.ndarray
    fill_prob: np.ndarray
    time_to_fill: np.ndarray
    time_to_resolution: np.ndarray
    effective_intensity: np.ndarray


def queue_fill_stats(n_max, mu, nu, theta=0.0):
    r"""Exact fill probability, conditional time to fill and effective intensity by position.

    With :math:`d_j = \mu_j + j\theta_j` the depletion rate and :math:`r_j = d_j + \nu_j`,

    .. math::

        P_n = \frac{d_n}{r_n} P_{n-1},\quad
        \mathbb E[\tau\,1_{\rm fill}]_n = \frac{P_n}{r_n}
            + \frac{d_n}{r_n}\mathbb E[\tau\,1_{\rm fill}]_{n-1},\quad
        \mathbb E[\tau]_n = \frac1{r_n} + \frac{d_n}{r_n}\mathbb E[\tau]_{n-1},

    from :math:`P_{-1} = 1` and zero times. Without cancellations and with constant rates,
    :math:`P_n = (\mu/(\mu+\nu))^{n+1}`: the race of two Poisson streams.

    Parameters
    ----------
    n_max : int
        Largest position, ``>= 0``.
    mu : float or array_like
        Market-order rate ``> 0`` (scalar, or one value per ahead count ``0..n_max``).
    nu : float or array_like
        Rate at which the price moves away, ``> 0``.
    theta : float or array_like
        Cancellation rate of each order ahead, ``>= 0``.

    Returns
    -------
    QueueStats

    Raises
    ------
    ValueError
        If an argument is out of range or a rate array is too short.

    References
    ----------
    Cont, Stoikov and Talreja (2010); chapter *Microstructure*.

    Examples
    --------
    >>> st = queue_fill_stats(3, mu=1.0, nu=1.0)
    >>> st.fill_prob
    array([0.5   , 0.25  , 0.125 , 0.0625])
    >>> st.time_to_fill  # (n + 1) / (mu + nu)
    array([0.5, 1. , 1.5, 2. ])
    """
    n_max = check_int("n_max", n_max, lo=0)
    mu = _rate("mu", mu, n_max, positive=True)
    nu = _rate("nu", nu, n_max, positive=True)
    theta = _rate("theta", theta, n_max, positive=False)
    j = np.arange(n_max + 1)
    d = mu + j * theta
    r = d + nu
    P, ET1, ET = (np.empty(n_max + 1) for _ in range(3))
    p_prev, e1_prev, e_prev = 1.0, 0.0, 0.0
    for n in range(n_max + 1):  # a recursion over positions, not over paths
        P[n] = d[n] / r[n] * p_prev
        ET1[n] = P[n] / r[n] + d[n] / r[n] * e1_prev
        ET[n] = 1.0 / r[n] + (d[n] / r[n] * e_prev if n > 0 else 0.0)
        p_prev, e1_prev, e_prev = P[n], ET1[n], ET[n]
    return QueueStats(position=j, fill_prob=P, time_to_fill=ET1 / P, time_to_resolution=ET,
                      effective_intensity=P / ET)


@dataclass(frozen=True)
class QueueSimulation:
    """Monte Carlo outcomes of a resting order.

    Attributes
    ----------
    filled : ndarray of bool, shape (n_paths,)
    time : ndarray, shape (n_paths,)
        Time of the fill or of the price move.
    """

    filled: np.ndarray
    time: np.ndarray


def simulate_queue(n, mu, nu, theta=0.0, *, n_paths=10_000, rng=None):
    r"""Simulate the queue of :func:`queue_fill_stats` event by event, vectorised across paths.

    Every event either removes an order ahead or ends the path, so at most ``n + 1`` rounds
    are needed; all exponential clocks and event choices are drawn up front.

    Parameters
    ----------
    n : int
        Orders ahead at the start, ``>= 0``.
    mu, nu, theta : float or array_like
        As in :func:`queue_fill_stats`.
    n_paths : int
        ``>= 1``.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    QueueSimulation

    Raises
    ------
    ValueError
        If an argument is out of range; before anything is allocated, for
        ``n + 1`` rounds above ``mmlib.limits.MAX_STEPS`` or memory above
        ``mmlib.limits.MAX_BYTES``, about ``8 * 3 * (n + 1) * n_paths`` bytes
        (the clocks and choices are drawn up front).

    Examples
    --------
    >>> sim = simulate_queue(2, mu=1.0, nu=1.0, n_paths=4000, rng=0)
    >>> bool(abs(sim.filled.mean() - 0.125) < 0.02)
    True
    """
    n = check_int("n", n, lo=0)
    n_paths = check_int("n_paths", n_paths, lo=1)
    mu = _rate("mu", mu, n, positive=True)
    nu = _rate("nu", nu, n, positive=True)
    theta = _rate("theta", theta, n, positive=False)
    limits.check_steps(f"n={n:,} orders ahead", n + 1, "start with fewer orders ahead")
    limits.check_memory(f"n={n:,} orders ahead with n_paths={n_paths:,}",
                        8.0 * (3 * (n + 1) * n_paths + 4 * n_paths), "simulate fewer paths")
    rng = as_generator(rng)
    e = rng.standard_exponential((n + 1, n_paths))
    u = rng.random((n + 1, n_paths))
    j_all = np.arange(n + 1)
    d = mu + j_all * theta
    r = d + nu
    time = np.zeros(n_paths)
    alive = np.ones(n_paths, dtype=bool)
    filled = np.zeros(n_paths, dtype=bool)
    for step in limits.steps(n + 1, "simulate_queue", work=float(n + 1) * n_paths):
        j = n - step  # every live path has j ahead at this round
        time[alive] += e[step, alive] / r[j]
        moved_away = alive & (u[step] >= d[j] / r[j])
        alive &= ~moved_away
        if j == 0:
            filled = alive.copy()
    return QueueSimulation(filled=filled, time=time)
