r"""Fill curves :math:`\lambda(\delta)` other than :math:`A e^{-k\delta}`, and quotes that know them.

The engine (:func:`~mmlib.simulation.simulate`) fills a side at depth :math:`\delta` at rate
:math:`\lambda(\delta)`. By default :math:`\lambda(\delta)=Ae^{-k\delta}`; with
``MarketParams(fill_curve=...)`` it is one of

.. math::

    \lambda_{\rm exp}(\delta) = A e^{-k\delta},\qquad
    \lambda_{\rm pow}(\delta) = A\,(1+\delta^+/\delta_0)^{-\alpha},\qquad
    \lambda_{\rm tab}(\delta) = \text{log-linear interpolation of a table}.

:func:`solve_cara_quotes` solves the CARA (Avellaneda--Stoikov / GLFT) control
problem for *any* such curve, so that a maker who knows the true curve can be
compared with one who fitted :math:`(A, k)`. The book's chapter *Failure
regimes* uses both.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import as_generator, check_int, check_real

__all__ = ["FillCurve", "ExponentialCurve", "PowerLawCurve", "TableCurve",
           "CurveQuotes", "solve_cara_quotes", "TablePolicy"]

_FAR = 1e299  # depths at or beyond this are "not quoted": rate exactly 0


class FillCurve:
    """Base class: a fill intensity ``rate(delta)``, non-increasing in the depth."""

    def rate(self, delta):  # pragma: no cover - abstract
        raise NotImplementedError

    def __call__(self, delta):
        """Alias of :meth:`rate`."""
        return self.rate(delta)

    def simulate_counts(self, depths, exposure=1.0, rng=None):
        r"""Fill counts :math:`y_j\sim\mathrm{Poisson}(E_j\lambda(\delta_j))` at resting depths.

        The data a maker would collect by resting at each depth for a time
        :math:`E_j`; feed them to :func:`~mmlib.intensity.fit_intensity` to calibrate an
        exponential curve.

        Parameters
        ----------
        depths : array_like, shape (m,)
            Finite depths.
        exposure : float or array_like, shape (m,)
            Time spent at each depth, ``> 0``.
        rng : None, int or numpy.random.Generator

        Returns
        -------
        counts : ndarray of int64, shape (m,)
        """
        d = np.asarray(depths, dtype=float)
        if d.ndim != 1 or d.size < 1 or not np.all(np.isfinite(d)):
            raise ValueError("depths must be a non-empty 1-d array of finite values")
        e = np.broadcast_to(np.asarray(exposure, dtype=float), d.shape)
        if not np.all(np.isfinite(e)) or np.any(e <= 0):
            raise ValueError("exposure must be finite and > 0")
        return as_generator(rng).poisson(e * self.rate(d))


def _depth_array(delta):
    return np.asarray(delta, dtype=float)


@dataclass(frozen=True)
class ExponentialCurve(FillCurve):
    r"""The model's curve :math:`\lambda(\delta) = A e^{-k\delta}`.

    As ``MarketParams(fill_curve=ExponentialCurve(A, k))`` the engine takes its
    usual path with this ``(A, k)``: the run is bit-for-bit the default one.

    Examples
    --------
    >>> float(ExponentialCurve(2.0, 1.0).rate(0.0))
    2.0
    """

    A: float  # intensity at zero depth (> 0)
    k: float  # decay per unit depth (> 0)

    def __post_init__(self):
        object.__setattr__(self, "A", check_real("A", self.A, lo=0.0, lo_open=True))
        object.__setattr__(self, "k", check_real("k", self.k, lo=0.0, lo_open=True))

    def rate(self, delta):
        d = _depth_array(delta)
        with np.errstate(over="ignore"):
            return np.where(d >= _FAR, 0.0, self.A * np.exp(-self.k * np.minimum(d, _FAR)))


@dataclass(frozen=True)
class PowerLawCurve(FillCurve):
    r"""A heavy-tailed curve :math:`\lambda(\delta) = A(1+\delta^+/\delta_0)^{-\alpha}`.

    Most fills happen within :math:`\delta_0` of the mid, but the tail decays
    only polynomially. A quote at or through the mid (:math:`\delta\le 0`)
    fills at the touch rate :math:`A`.

    Parameters
    ----------
    A : float
        Rate at the touch, ``> 0``.
    alpha : float
        Tail exponent, ``> 0``.
    delta0 : float
        Depth scale, ``> 0``.

    Examples
    --------
    >>> c = PowerLawCurve(A=2.0, alpha=2.0, delta0=0.5)
    >>> [float(v) for v in c.rate([-1.0, 0.0, 0.5])]
    [2.0, 2.0, 0.5]
    """

    A: float  # rate at the touch (> 0)
    alpha: float  # tail exponent (> 0)
    delta0: float  # depth scale (> 0)

    def __post_init__(self):
        for name in ("A", "alpha", "delta0"):
            object.__setattr__(self, name,
                               check_real(name, getattr(self, name), lo=0.0, lo_open=True))

    def rate(self, delta):
        d = _depth_array(delta)
        dp = np.clip(d, 0.0, _FAR)
        return np.where(d >= _FAR, 0.0, self.A * (1.0 + dp / self.delta0) ** (-self.alpha))


class TableCurve(FillCurve):
    r"""An empirical curve: :math:`\log\lambda` interpolated linearly in :math:`\delta`.

    Below the first depth the rate is the first entry; beyond the last depth
    it keeps decaying exponentially at the slope of the last segment.

    Parameters
    ----------
    depths : array_like, shape (m,)
        Strictly increasing finite depths, ``m >= 2``.
    rates : array_like, shape (m,)
        Positive, non-increasing rates, with ``rates[-1] < rates[-2]`` (so the
        tail decays).

    Examples
    --------
    >>> c = TableCurve([0.0, 1.0], [4.0, 1.0])
    >>> [float(v) for v in c.rate([-1.0, 0.5, 2.0])]
    [4.0, 2.0, 0.25]
    """

    def __init__(self, depths, rates):
        d = np.asarray(depths, dtype=float)
        r = np.asarray(rates, dtype=float)
        if d.ndim != 1 or d.size < 2 or r.shape != d.shape:
            raise ValueError(f"depths and rates must be 1-d of equal length >= 2, got shapes "
                             f"{d.shape} and {r.shape}")
        if not (np.all(np.isfinite(d)) and np.all(np.isfinite(r))):
            raise ValueError("depths and rates must be finite")
        if np.any(np.diff(d) <= 0):
            raise ValueError("depths must be strictly increasing")
        if np.any(r <= 0):
            raise ValueError("rates must be > 0")
        if np.any(np.diff(r) > 0) or not r[-1] < r[-2]:
            raise ValueError("rates must be non-increasing in the depth, with rates[-1] < "
                             "rates[-2] so that the tail decays")
        self.depths, self.rates = d, r
        self._logr = np.log(r)
        self._tail = (self._logr[-1] - self._logr[-2]) / (d[-1] - d[-2])  # < 0

    def __repr__(self):
        return f"TableCurve(depths={self.depths.tolist()}, rates={self.rates.tolist()})"

    def rate(self, delta):
        d = _depth_array(delta)
        dc = np.clip(d, self.depths[0], _FAR)
        inner = np.interp(np.minimum(dc, self.depths[-1]), self.depths, self._logr)
        over = np.maximum(dc - self.depths[-1], 0.0)
        with np.errstate(under="ignore"):
            out = np.exp(inner + self._tail * over)
        return np.where(d >= _FAR, 0.0, out)


# ---------------------------------------------------------------------------
# the CARA problem for a general curve
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CurveQuotes:
    r"""Optimal CARA quotes for a fill curve on a time-inventory grid.

    Attributes
    ----------
    t : ndarray, shape (n_steps+1,)
    x : ndarray, shape (2*x_max+1,)
    theta : ndarray, shape (n_steps+1, 2*x_max+1)
        Certainty-equivalent value :math:`\theta(t, q)` (wealth units).
    delta_b, delta_a : ndarray, shape (n_steps+1, 2*x_max+1)
        Optimal depths; NaN on the side that would leave ``[-x_max, x_max]``.
    """

    t: np.ndarray
    x: np.ndarray
    theta: np.ndarray
    delta_b: np.ndarray
    delta_a: np.ndarray


def solve_cara_quotes(curve, sigma, risk_aversion, T, x_max, n_steps,
                      delta_grid=None):
    r"""Solve the CARA market-making problem for any fill curve, backwards in time.

    With :math:`u = -e^{-\psi(c + qs + \theta(t,q))}` the HJB of Avellaneda--Stoikov
    and GLFT reduces, for any :math:`\lambda`, to

    .. math::

        \partial_t\theta - \tfrac12\psi\sigma^2 q^2
        + \sup_{\delta}\tfrac{\lambda(\delta)}{\psi}\big(1-e^{-\psi(\delta+\theta(q+1)-\theta(q))}\big)
        + \sup_{\delta}\tfrac{\lambda(\delta)}{\psi}\big(1-e^{-\psi(\delta+\theta(q-1)-\theta(q))}\big) = 0,

    :math:`\theta(T,\cdot)=0`, the first supremum (bid) absent at :math:`q=Q`
    and the second (ask) at :math:`q=-Q`. Explicit Euler in time; each
    supremum by brute force over ``delta_grid``. For :math:`\lambda=Ae^{-k\delta}`
    it reproduces :func:`~mmlib.avellaneda_stoikov.solve_glft` (tests/test_fill_curves.py).

    Parameters
    ----------
    curve : FillCurve
    sigma : float
        Mid volatility, ``>= 0``.
    risk_aversion : float
        CARA :math:`\psi`, ``> 0``.
    T : float
        Horizon, ``> 0``.
    x_max : int
        Inventory bound, ``1 <= x_max <= 500``.
    n_steps : int
        Time steps, ``>= 1``; ``T / n_steps`` times the total fill rate at the
        optimal quotes must stay at most 1 (the explicit scheme's monotonicity bound).
    delta_grid : array_like or None
        Coarse candidate depths, sorted (default ``linspace(-1, 10, 441)``);
        the maximiser is then refined on 65 points between the neighbours of
        the coarse one.

    Returns
    -------
    CurveQuotes

    Raises
    ------
    ValueError
        For a bad argument or a time step beyond the explicit scheme's bound.

    References
    ----------
    Guéant, Lehalle and Fernandez-Tapia (2013); the book's chapter *Failure regimes*.

    Examples
    --------
    >>> q = solve_cara_quotes(ExponentialCurve(1.0, 1.5), 0.1, 0.1, 1.0, 3, 50)
    >>> bool(np.isnan(q.delta_b[0, -1])), q.delta_b.shape
    (True, (51, 7))
    """
    if not isinstance(curve, FillCurve):
        raise ValueError(f"curve must be a FillCurve, got {type(curve).__name__}")
    sigma = check_real("sigma", sigma, lo=0.0)
    psi = check_real("risk_aversion", risk_aversion, lo=0.0, lo_open=True)
    T = check_real("T", T, lo=0.0, lo_open=True)
    Q = check_int("x_max", x_max, lo=1, hi=500)
    N = check_int("n_steps", n_steps, lo=1, hi=1_000_000)
    grid = np.linspace(-1.0, 10.0, 441) if delta_grid is None else np.asarray(
        delta_grid, dtype=float)
    if grid.ndim != 1 or grid.size < 3 or not np.all(np.isfinite(grid)) or np.any(
            np.diff(grid) <= 0):
        raise ValueError("delta_grid must be a 1-d increasing array of >= 3 finite depths")
    dt = T / N
    lam = curve.rate(grid)
    q = np.arange(-Q, Q + 1, dtype=float)
    n = q.size
    theta = np.zeros((N + 1, n))
    db = np.full((N + 1, n), np.nan)
    da = np.full((N + 1, n), np.nan)
    pen = 0.5 * psi * sigma**2 * q**2

    rows = np.arange(n - 1)
    u = np.linspace(0.0, 1.0, 65)

    def side(jump):  # jump[j] = theta(q') - theta(q); returns sup value and argmax depth
        h = lam[None, :] / psi * -np.expm1(-psi * (grid[None, :] + jump[:, None]))
        j = np.argmax(h, axis=1)
        # refine between the neighbours of the coarse maximiser (unimodal there)
        lo, hi = grid[np.maximum(j - 1, 0)], grid[np.minimum(j + 1, grid.size - 1)]
        fine = lo[:, None] + (hi - lo)[:, None] * u[None, :]
        h = curve.rate(fine) / psi * -np.expm1(-psi * (fine + jump[:, None]))
        j = np.argmax(h, axis=1)
        return h[rows, j], fine[rows, j]

    for m in range(N, -1, -1):
        th = theta[m]
        hb, db[m, :-1] = side(th[1:] - th[:-1])  # bid fill: q -> q + 1
        ha, da[m, 1:] = side(th[:-1] - th[1:])  # ask fill: q -> q - 1
        if m == 0:
            break
        # monotone (stable) explicit step: dt times the total fill rate at the quotes <= 1
        total = np.zeros(n)
        total[:-1] += curve.rate(db[m, :-1])
        total[1:] += curve.rate(da[m, 1:])
        if dt * total.max() > 1.0:
            raise ValueError(f"explicit scheme unstable: dt * total fill rate = "
                             f"{dt * total.max():.3g} > 1 at t = {m * dt:.4g}; use n_steps >= "
                             f"{int(np.ceil(T * total.max()))}")
        rhs = -pen.copy()
        rhs[:-1] += hb
        rhs[1:] += ha
        theta[m - 1] = th + dt * rhs
    return CurveQuotes(t=np.linspace(0.0, T, N + 1), x=q, theta=theta, delta_b=db,
                       delta_a=da)


class TablePolicy:
    r"""Quote a :class:`CurveQuotes` table: ``(t, s, x) -> (s - delta_b, s + delta_a)``.

    Looks up the row of the grid time at or before ``t``; NaN where a side is
    not quoted (at the inventory bound).

    Examples
    --------
    >>> q = solve_cara_quotes(ExponentialCurve(1.0, 1.5), 0.1, 0.1, 1.0, 2, 20)
    >>> bid, ask = TablePolicy(q)(0.0, np.array([100.0]), np.array([2.0]))
    >>> bool(np.isnan(bid[0])), bool(ask[0] > 100.0)
    (True, True)
    """

    def __init__(self, quotes):
        if not isinstance(quotes, CurveQuotes):
            raise ValueError(f"quotes must be CurveQuotes, got {type(quotes).__name__}")
        self.quotes = quotes
        self._x_min = int(quotes.x[0])
        self._eps = 1e-9 * (quotes.t[-1] - quotes.t[0]) / max(quotes.t.size - 1, 1)

    def __call__(self, t, s, x):
        qt = self.quotes
        row = int(np.searchsorted(qt.t, t + self._eps, side="right")) - 1
        row = min(max(row, 0), qt.t.size - 1)
        idx = np.asarray(x).astype(np.intp) - self._x_min
        if idx.size and (idx.min() < 0 or idx.max() >= qt.x.size):
            raise ValueError("inventory left the quotes' grid; bound the market with "
                             "MarketParams(x_max=...)")
        return s - qt.delta_b[row][idx], s + qt.delta_a[row][idx]
