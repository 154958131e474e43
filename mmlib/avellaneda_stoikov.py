r"""Avellaneda--Stoikov closed forms, the exact Guéant--Lehalle--Fernandez-Tapia
quotes, their large-horizon asymptotics, and the bridge to the article's model.

A maker with CARA utility :math:`-e^{-\psi W_T}` quotes around a Brownian mid
:math:`dS_t = \sigma\,dW_t`; fills arrive at rate :math:`A e^{-k\delta}`.
(Avellaneda and Stoikov, and Guéant et al., write the risk aversion
:math:`\gamma`; the book keeps :math:`\gamma` for the article's terminal
penalty and writes the risk aversion :math:`\psi`.)

Avellaneda and Stoikov (2008) freeze the problem near the horizon and obtain

.. math::

    r(t,s,x) = s - x\,\psi\sigma^2 (T-t),\qquad
    \delta^a+\delta^b = \psi\sigma^2 (T-t) + \frac{2}{\psi}\ln\Big(1+\frac{\psi}{k}\Big),

with quotes :math:`r \pm (\delta^a+\delta^b)/2`. Guéant, Lehalle and
Fernandez-Tapia (2013) solve the same problem exactly with inventory bounds
:math:`|x|\le Q`: with :math:`\alpha = k\psi\sigma^2/2` and
:math:`\beta = A(1+\psi/k)^{-(1+k/\psi)}` (their :math:`\eta`),

.. math::

    \dot v_x(t) = \alpha x^2 v_x(t) - \beta\big(v_{x-1}(t) + v_{x+1}(t)\big),
    \qquad v_x(T) = 1,

(neighbours outside the bounds dropped) and

.. math::

    \delta^{b}(t,x) = \frac1\psi\ln\Big(1+\frac\psi k\Big)
        + \frac1k \ln\frac{v_x(t)}{v_{x+1}(t)},\qquad
    \delta^{a}(t,x) = \frac1\psi\ln\Big(1+\frac\psi k\Big)
        + \frac1k \ln\frac{v_x(t)}{v_{x-1}(t)}.

The system is, term for term, the linear system :math:`w = e^{kV}` of the
article's risk-neutral model (:mod:`mmlib.hjb`) with running penalty
:math:`\eta = \psi\sigma^2/2`, no terminal penalty and intensity scale
:math:`A' = e\beta`; :func:`solve_glft` therefore reuses its entrywise-accurate
propagator, which stays exact when :math:`v` spans thousands of e-folds.

Chapter: *Avellaneda--Stoikov* (``book/avellaneda_stoikov.md``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import limits
from ._propagator import solve_logw
from ._validation import check_int, check_real
from .hjb import solve_hjb
from .model import _X_MAX_LIMIT, ModelParams, Quotes

__all__ = [
    "ASParams",
    "reservation_price",
    "optimal_spread",
    "as_quotes",
    "as_depths",
    "glft_coefficients",
    "GLFTSolution",
    "solve_glft",
    "glft_asymptotic_depths",
    "article_params",
    "compare_quotes",
]


@dataclass(frozen=True)
class ASParams:
    r"""Parameters of the Avellaneda--Stoikov / GLFT CARA market-making model.

    .. math:: dS_t = \sigma\,dW_t,\qquad \lambda(\delta) = A e^{-k\delta},
              \qquad u(w) = -e^{-\psi w}.

    Parameters
    ----------
    sigma : float
        Volatility of the mid price :math:`\sigma`, price units per square
        root of time; ``sigma >= 0``.
    A : float
        Fill intensity at zero depth, fills per unit time; ``A > 0``.
    k : float
        Decay of the intensity with depth, per price unit; ``k > 0``.
    risk_aversion : float
        CARA risk aversion :math:`\psi` (:math:`\gamma` in Avellaneda--Stoikov
        and GLFT), per price unit; ``risk_aversion > 0``.
    T : float
        Horizon; ``T > 0``.

    Raises
    ------
    ValueError
        If a field is not finite or outside its range; the message names it.

    References
    ----------
    Avellaneda and Stoikov (2008); Guéant, Lehalle and Fernandez-Tapia (2013).
    The book's chapter *Avellaneda--Stoikov*.

    Examples
    --------
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> round(p.eta_bridge, 6)
    0.2
    >>> ASParams(sigma=-1.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    Traceback (most recent call last):
    ...
    ValueError: sigma must be >= 0, got -1.0
    """

    sigma: float  # mid-price volatility, price per sqrt(time) (>= 0)
    A: float  # fill intensity at zero depth, fills per unit time (> 0)
    k: float  # intensity decay per unit depth (> 0)
    risk_aversion: float  # CARA risk aversion psi (> 0)
    T: float  # horizon (> 0)

    def __post_init__(self):
        object.__setattr__(self, "sigma", check_real("sigma", self.sigma, lo=0.0))
        object.__setattr__(self, "A", check_real("A", self.A, lo=0.0, lo_open=True))
        object.__setattr__(self, "k", check_real("k", self.k, lo=0.0, lo_open=True))
        object.__setattr__(
            self, "risk_aversion",
            check_real("risk_aversion", self.risk_aversion, lo=0.0, lo_open=True),
        )
        object.__setattr__(self, "T", check_real("T", self.T, lo=0.0, lo_open=True))

    @property
    def eta_bridge(self) -> float:
        r"""Running penalty :math:`\eta = \psi\sigma^2/2` of the matching article model."""
        return 0.5 * self.risk_aversion * self.sigma**2

    @property
    def half_spread_const(self) -> float:
        r"""Constant half-spread :math:`\frac1\psi\ln(1+\psi/k)`.

        It tends to :math:`1/k` as :math:`\psi\to0`.
        """
        psi = self.risk_aversion
        return float(np.log1p(psi / self.k) / psi)

    def replace(self, **changes) -> "ASParams":
        """Return a copy with some fields changed (validated again)."""
        fields = dict(sigma=self.sigma, A=self.A, k=self.k,
                      risk_aversion=self.risk_aversion, T=self.T)
        fields.update(changes)
        return ASParams(**fields)


def _check_params(params):
    if not isinstance(params, ASParams):
        raise ValueError(f"params must be an ASParams, got {type(params).__name__}")


def _check_time(t, T):
    t = np.asarray(t, dtype=float)
    if not np.all(np.isfinite(t)):
        raise ValueError("t must be finite")
    if np.any(t < 0) or np.any(t > T * (1 + 1e-12)):
        raise ValueError(f"t must lie in [0, T] = [0, {T}], got values in "
                         f"[{t.min():.6g}, {t.max():.6g}]")
    return np.minimum(t, T)


def reservation_price(s, x, t, params):
    r"""Avellaneda--Stoikov reservation (indifference) price.

    .. math:: r(t, s, x) = s - x\,\psi\sigma^2 (T-t)

    Parameters
    ----------
    s : array_like
        Mid price(s).
    x : array_like
        Inventory (any real; broadcast with ``s`` and ``t``).
    t : array_like
        Time(s) in ``[0, T]``.
    params : ASParams

    Returns
    -------
    r : ndarray
        Broadcast shape of ``s``, ``x`` and ``t``.

    Raises
    ------
    ValueError
        If ``t`` is outside ``[0, T]`` or ``params`` is not an ``ASParams``.

    References
    ----------
    Avellaneda and Stoikov (2008), eq. (29). The book's chapter *Avellaneda--Stoikov*.

    Examples
    --------
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> float(reservation_price(100.0, 3, 0.5, p))
    99.4
    """
    _check_params(params)
    t = _check_time(t, params.T)
    s = np.asarray(s, dtype=float)
    x = np.asarray(x, dtype=float)
    return s - x * params.risk_aversion * params.sigma**2 * (params.T - t)


def optimal_spread(t, params):
    r"""Avellaneda--Stoikov total spread :math:`\delta^a + \delta^b`.

    .. math:: \delta^a+\delta^b = \psi\sigma^2 (T-t) + \frac{2}{\psi}\ln\Big(1+\frac{\psi}{k}\Big)

    Parameters
    ----------
    t : array_like
        Time(s) in ``[0, T]``.
    params : ASParams

    Returns
    -------
    spread : ndarray, shape of ``t``

    Raises
    ------
    ValueError
        If ``t`` is outside ``[0, T]``.

    References
    ----------
    Avellaneda and Stoikov (2008), eq. (30). The book's chapter *Avellaneda--Stoikov*.

    Examples
    --------
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> round(float(optimal_spread(0.0, p)), 4)
    1.6907
    """
    _check_params(params)
    t = _check_time(t, params.T)
    psi = params.risk_aversion
    return psi * params.sigma**2 * (params.T - t) + 2.0 * params.half_spread_const


def as_depths(x, t, params):
    r"""Avellaneda--Stoikov depths of the bid and ask below/above the mid.

    .. math::

        \delta^b = \frac{1+2x}{2}\,\psi\sigma^2(T-t) + \frac1\psi\ln\Big(1+\frac\psi k\Big),
        \qquad
        \delta^a = \frac{1-2x}{2}\,\psi\sigma^2(T-t) + \frac1\psi\ln\Big(1+\frac\psi k\Big).

    Parameters
    ----------
    x : array_like
        Inventory.
    t : array_like
        Time(s) in ``[0, T]``.
    params : ASParams

    Returns
    -------
    Quotes
        ``(bid, ask)``: bid depth :math:`s - p^b` and ask depth :math:`p^a - s`.

    Raises
    ------
    ValueError
        If ``t`` is outside ``[0, T]``.

    References
    ----------
    Avellaneda and Stoikov (2008). The book's chapter *Avellaneda--Stoikov*.

    Examples
    --------
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> db, da = as_depths(0, 0.0, p)
    >>> round(float(db), 4), round(float(da), 4)
    (0.8453, 0.8453)
    """
    _check_params(params)
    t = _check_time(t, params.T)
    x = np.asarray(x, dtype=float)
    half = 0.5 * params.risk_aversion * params.sigma**2 * (params.T - t)
    c = params.half_spread_const
    return Quotes(bid=(1.0 + 2.0 * x) * half + c, ask=(1.0 - 2.0 * x) * half + c)


def as_quotes(s, x, t, params):
    r"""Avellaneda--Stoikov bid and ask prices :math:`r \mp (\delta^a+\delta^b)/2`.

    Parameters
    ----------
    s, x, t : array_like
        Mid price, inventory and time (broadcast together; ``t`` in ``[0, T]``).
    params : ASParams

    Returns
    -------
    Quotes
        ``(bid, ask)`` prices.

    Raises
    ------
    ValueError
        If ``t`` is outside ``[0, T]``.

    References
    ----------
    Avellaneda and Stoikov (2008), eqs. (29)--(30). The book's chapter *Avellaneda--Stoikov*.

    Examples
    --------
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> bid, ask = as_quotes(100.0, 0, 0.0, p)
    >>> round(float(ask - bid), 4) == round(float(optimal_spread(0.0, p)), 4)
    True
    """
    r = reservation_price(s, x, t, params)
    half = 0.5 * optimal_spread(t, params)
    return Quotes(bid=r - half, ask=r + half)


def glft_coefficients(params):
    r"""The coefficients :math:`\alpha` and :math:`\beta` of the GLFT linear system.

    .. math:: \alpha = \frac{k\psi\sigma^2}{2},\qquad
              \beta = A\Big(1+\frac{\psi}{k}\Big)^{-(1+k/\psi)}

    (:math:`\beta` is :math:`\eta` in Guéant et al.; renamed to avoid a clash
    with the running penalty.)

    Parameters
    ----------
    params : ASParams

    Returns
    -------
    alpha, beta : float

    References
    ----------
    Guéant, Lehalle and Fernandez-Tapia (2013), Theorem 1. The book's chapter *Avellaneda--Stoikov*.

    Examples
    --------
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> a, b = glft_coefficients(p)
    >>> round(a, 6), round(b, 4)
    (0.3, 49.8504)
    """
    _check_params(params)
    psi, k = params.risk_aversion, params.k
    alpha = 0.5 * k * psi * params.sigma**2
    beta = params.A * float(np.exp(-(1.0 + k / psi) * np.log1p(psi / k)))
    return alpha, beta


@dataclass(frozen=True)
class GLFTSolution:
    r"""Exact GLFT solution on a time grid.

    Attributes
    ----------
    params : ASParams
        The model solved.
    x_max : int
        Inventory bound :math:`Q`; inventory lives on ``-x_max..x_max``.
    t : ndarray, shape (n_steps+1,)
        Time grid ``linspace(0, T, n_steps+1)``.
    x : ndarray, shape (2*x_max+1,)
        Inventory grid.
    log_v : ndarray, shape (n_steps+1, 2*x_max+1)
        :math:`\ln v_x(t)`, exact at the grid times up to rounding.
    delta_b, delta_a : ndarray, shape (n_steps+1, 2*x_max+1)
        Optimal bid and ask depths; ``delta_b`` is NaN at ``x = +x_max`` and
        ``delta_a`` at ``x = -x_max``, where that side does not quote.
    """

    params: ASParams
    x_max: int
    t: np.ndarray
    x: np.ndarray
    log_v: np.ndarray
    delta_b: np.ndarray
    delta_a: np.ndarray

    @property
    def n_steps(self) -> int:
        """Number of time steps."""
        return self.t.size - 1


def article_params(params, x_max, gamma=0.0):
    r"""The article's risk-neutral model matching an Avellaneda--Stoikov maker.

    .. math:: \eta = \frac{\psi\sigma^2}{2}

    With this running penalty the article's optimal quotes have the
    Avellaneda--Stoikov reservation price near the horizon.

    Parameters
    ----------
    params : ASParams
    x_max : int
        Inventory bound of the article's grid, ``1 <= x_max <= 500`` (the bound of
        :class:`~mmlib.model.ModelParams`).
    gamma : float
        Terminal penalty of the article's model (``>= 0``; default 0, as the
        CARA problem has none).

    Returns
    -------
    ModelParams

    References
    ----------
    Sud (2025); the book's chapters *HJB* and *Avellaneda--Stoikov*.

    Examples
    --------
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> m = article_params(p, x_max=10)
    >>> round(m.eta, 6), m.gamma, m.x_max
    (0.2, 0.0, 10)
    """
    _check_params(params)
    return ModelParams(A=params.A, k=params.k, eta=params.eta_bridge, gamma=gamma,
                       T=params.T, x_max=x_max)


def solve_glft(params, x_max, n_steps):
    r"""Solve the GLFT linear system exactly and return the optimal quotes.

    .. math:: v(t) = e^{N (T-t)}\,\mathbf 1,\qquad
              N = -\alpha\,\mathrm{diag}(x^2) + \beta\,(S_- + S_+),

    :math:`N` tridiagonal and Metzler. The propagator over one step is
    computed entrywise to high relative accuracy (Xue and Ye 2013), in log
    space when :math:`v` spans more e-folds than floating point holds, so the
    quotes are exact at the grid times in every regime (the grid only decides
    where they are reported).

    Parameters
    ----------
    params : ASParams
    x_max : int
        Inventory bound :math:`Q`, ``1 <= x_max <= 500`` (the dense propagator's
        time grows like :math:`x_{\max}^3`, as for :func:`~mmlib.hjb.solve_hjb`).
    n_steps : int
        Number of time steps of the reporting grid,
        ``1 <= n_steps <= mmlib.limits.MAX_STEPS`` (default 10,000,000).

    Returns
    -------
    GLFTSolution

    Raises
    ------
    ValueError
        For an invalid argument; before anything is allocated, for
        ``n_steps`` above ``mmlib.limits.MAX_STEPS`` or a working memory
        (:func:`mmlib.limits.dense_solver_bytes`) above
        ``mmlib.limits.MAX_BYTES``.

    References
    ----------
    Guéant, Lehalle and Fernandez-Tapia (2013), Theorem 1 and Proposition 2.
    The book's chapter *Avellaneda--Stoikov*.

    Examples
    --------
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> sol = solve_glft(p, x_max=5, n_steps=10)
    >>> sol.log_v.shape
    (11, 11)
    >>> bool(sol.delta_b[0, 5] == sol.delta_a[0, 5])   # symmetric at x = 0
    True
    """
    _check_params(params)
    x_max = check_int("x_max", x_max, lo=1, hi=_X_MAX_LIMIT)
    n_steps = check_int("n_steps", n_steps, lo=1)
    limits.check_steps(f"n_steps={n_steps:,}", n_steps, "use fewer time steps")
    limits.check_memory(f"x_max={x_max:,} with n_steps={n_steps:,}",
                        limits.dense_solver_bytes(2 * x_max + 1, n_steps),
                        "use a smaller x_max or fewer time steps")
    alpha, beta = glft_coefficients(params)
    # The article's w-system with A' = e*beta, eta = psi sigma^2 / 2 (so k*eta = alpha),
    # gamma = 0 is exactly the GLFT system: reuse its exact propagator.
    proxy = ModelParams(A=np.e * beta, k=params.k, eta=alpha / params.k, gamma=0.0,
                        T=params.T, x_max=x_max)
    log_v, _, _ = solve_logw(proxy, n_steps, proxy.A, proxy.A)
    log_v[-1] = 0.0
    c = params.half_spread_const
    n = 2 * x_max + 1
    db = np.full((n_steps + 1, n), np.nan)
    da = np.full((n_steps + 1, n), np.nan)
    db[:, :-1] = c + (log_v[:, :-1] - log_v[:, 1:]) / params.k
    da[:, 1:] = c + (log_v[:, 1:] - log_v[:, :-1]) / params.k
    return GLFTSolution(params=params, x_max=x_max,
                        t=np.linspace(0.0, params.T, n_steps + 1),
                        x=np.arange(-x_max, x_max + 1, dtype=float),
                        log_v=log_v, delta_b=db, delta_a=da)


def glft_asymptotic_depths(x, params):
    r"""GLFT closed-form approximation of the quotes far from the horizon.

    .. math::

        \delta^b_\infty(x) \simeq \frac1\psi\ln\Big(1+\frac\psi k\Big)
            + \frac{2x+1}{2}\sqrt{\frac{\sigma^2\psi}{2kA}\Big(1+\frac\psi k\Big)^{1+k/\psi}},
        \qquad
        \delta^a_\infty(x) \simeq \frac1\psi\ln\Big(1+\frac\psi k\Big)
            - \frac{2x-1}{2}\sqrt{\frac{\sigma^2\psi}{2kA}\Big(1+\frac\psi k\Big)^{1+k/\psi}}.

    It comes from replacing the ground state of :math:`N` by the Gaussian
    :math:`e^{-\frac12\sqrt{\alpha/\beta}\,x^2}`, accurate when
    :math:`\sqrt{\alpha/\beta}\,|x| \ll 1`, far from the bounds.

    Parameters
    ----------
    x : array_like
        Inventory.
    params : ASParams

    Returns
    -------
    Quotes
        ``(bid, ask)`` depths, each of the shape of ``x``.

    References
    ----------
    Guéant, Lehalle and Fernandez-Tapia (2013), eqs. (4.6)--(4.7). The book's
    chapter *Avellaneda--Stoikov*.

    Examples
    --------
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> db, da = glft_asymptotic_depths(0, p)
    >>> round(float(db), 4)
    0.6712
    """
    _check_params(params)
    x = np.asarray(x, dtype=float)
    alpha, beta = glft_coefficients(params)
    slope = np.sqrt(alpha / beta) / params.k
    c = params.half_spread_const
    return Quotes(bid=c + 0.5 * (2.0 * x + 1.0) * slope, ask=c - 0.5 * (2.0 * x - 1.0) * slope)


def compare_quotes(params, x_max, n_steps, t=0.0):
    r"""The four sets of quotes of the chapter, side by side on the inventory grid.

    Avellaneda--Stoikov's approximation (:func:`as_depths`), GLFT exact
    (:func:`solve_glft`), GLFT asymptotic (:func:`glft_asymptotic_depths`) and
    the article's risk-neutral model with :math:`\eta = \psi\sigma^2/2`
    (:func:`article_params`, :func:`mmlib.hjb.solve_hjb`).

    Parameters
    ----------
    params : ASParams
    x_max : int
        Inventory bound used by GLFT and the article's model.
    n_steps : int
        Time steps of the grid on which the exact solutions are reported.
    t : float
        The time at which the quotes are compared; the grid time at or before
        ``t`` is used for the grid-based models.

    Returns
    -------
    dict
        ``"x"``: the inventory grid; for each of ``"as"``, ``"glft"``,
        ``"glft_asymptotic"``, ``"article"``: a :class:`~mmlib.model.Quotes`
        ``(bid, ask)`` of depth arrays on that grid (NaN where a bounded model does not quote).

    References
    ----------
    The book's chapter *Avellaneda--Stoikov*.

    Examples
    --------
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> q = compare_quotes(p, x_max=4, n_steps=20)
    >>> sorted(q)
    ['article', 'as', 'glft', 'glft_asymptotic', 'x']
    """
    _check_params(params)
    t = float(_check_time(t, params.T))
    glft = solve_glft(params, x_max, n_steps)
    row = int(np.searchsorted(glft.t, t * (1 + 1e-12) + 1e-300, side="right") - 1)
    hsol = solve_hjb(article_params(params, x_max), n_steps)
    x = glft.x
    return {
        "x": x,
        "as": as_depths(x, glft.t[row], params),
        "glft": Quotes(bid=glft.delta_b[row], ask=glft.delta_a[row]),
        "glft_asymptotic": glft_asymptotic_depths(x, params),
        "article": Quotes(bid=hsol.delta_b[row], ask=hsol.delta_a[row]),
    }
