r"""Optimal quotes: a brute-force check of the first-order condition, and the
long-horizon (stationary) quotes, exact and approximate.

Inside the HJB each side maximises

.. math:: f(\delta) = A e^{-k\delta}\,(\delta + \Delta V),

with :math:`\Delta V^a = V(t,x-1)-V(t,x)` for the ask and
:math:`\Delta V^b = V(t,x+1)-V(t,x)` for the bid. The first-order condition
gives :math:`\delta^* = 1/k - \Delta V` (:func:`mmlib.hjb.optimal_quotes`);
:func:`brute_force_quotes` finds the maximiser without using it.

Long horizon. With :math:`w = e^{kV}` the HJB is :math:`-\partial_t w = Mw`,
:math:`M = \frac Ae(S_-+S_+) - k\eta\,\mathrm{diag}(x^2)`. Far from :math:`T`,
:math:`w(t,\cdot) \propto e^{\nu_0(T-t)} f`, with :math:`f>0` the Perron
eigenvector of :math:`M`, so the quotes become stationary:

.. math:: \delta^{a}_\infty(x) = \frac1k + \frac1k\ln\frac{f(x)}{f(x-1)},\qquad
          \delta^{b}_\infty(x) = \frac1k + \frac1k\ln\frac{f(x)}{f(x+1)}
          \qquad(:func:`long_horizon_quotes`).

Replacing the second difference by a second derivative turns the eigenproblem
into a harmonic oscillator with ground state :math:`f \approx e^{-c x^2/2}`,
:math:`c = \sqrt{k\eta e/A}`, whence (:func:`long_horizon_approximation`)

.. math:: \delta^{a}_\infty(x) \approx \frac1k - \frac{2x-1}{2}\sqrt{\frac{\eta e}{kA}},\qquad
          \delta^{b}_\infty(x) \approx \frac1k + \frac{2x+1}{2}\sqrt{\frac{\eta e}{kA}},

the article-model analogue of the asymptotic formula of Guéant, Lehalle and
Fernandez-Tapia (2013).

Chapter: *Closed-form optimal quotes* (``book/optimal_quotes.md``).
"""
from __future__ import annotations

import numpy as np
from scipy.linalg import eigh_tridiagonal

from ._validation import check_int, check_real
from .model import ModelParams, Quotes

__all__ = [
    "side_objective",
    "brute_force_quotes",
    "long_horizon_quotes",
    "long_horizon_approximation",
    "urgency_threshold",
]


def _check_params(params):
    if not isinstance(params, ModelParams):
        raise ValueError(f"params must be a ModelParams, got {type(params).__name__}")


def side_objective(delta, dV, A, k):
    r"""The quantity one side maximises inside the HJB, :math:`A e^{-k\delta}(\delta + \Delta V)`.

    Parameters
    ----------
    delta : array_like
        Depth(s).
    dV : array_like
        Change in value when the side fills, :math:`\Delta V` (broadcast with ``delta``).
    A, k : float
        Intensity parameters, both ``> 0``.

    Returns
    -------
    ndarray
        Expected instantaneous gain per unit time.

    Raises
    ------
    ValueError
        If ``A`` or ``k`` is out of range.

    Examples
    --------
    >>> float(side_objective(1.0, 0.0, A=1.0, k=1.0)) == float(np.exp(-1.0))
    True
    """
    A = check_real("A", A, lo=0.0, lo_open=True)
    k = check_real("k", k, lo=0.0, lo_open=True)
    delta = np.asarray(delta, dtype=float)
    return A * np.exp(-k * delta) * (delta + np.asarray(dV, dtype=float))


def brute_force_quotes(V, k, bounds=None, n_grid=201, n_zoom=10):
    r"""Maximise :math:`e^{-k\delta}(\delta+\Delta V)` over :math:`\delta` by grid search.

    A check of the first-order condition that does not use it: the objective is
    evaluated on ``n_grid`` points of ``bounds``, then on a finer grid around the
    best point, ``n_zoom`` times. The objective is unimodal (its derivative has
    the sign of :math:`1-k(\delta+\Delta V)`), so the bracket always holds the
    maximiser, and on a bounded interval the result is the clipped maximiser.
    Each zoom shrinks the bracket by a factor ``(n_grid-1)/2``. The objective is
    flat at its maximum, so rounding limits the accuracy to about
    :math:`\sqrt{\epsilon_{\mathrm{mach}}}/k \approx 10^{-8}/k`.

    Parameters
    ----------
    V : array_like, shape (..., n)
        Value function along the inventory grid (last axis), ``n >= 2``.
    k : float
        Intensity decay, ``k > 0`` (``A`` scales the objective and does not matter).
    bounds : (float, float) or None
        Search interval ``lo < hi``; default ``(-10/k, 10/k)``.
    n_grid : int
        Points per grid, ``>= 5``.
    n_zoom : int
        Refinements, ``>= 0``.

    Returns
    -------
    Quotes
        ``(bid, ask)`` depths, each of shape ``(..., n)``; NaN at ``x=+x_max``
        (bid) and ``x=-x_max`` (ask), as in :func:`mmlib.hjb.optimal_quotes`.

    Raises
    ------
    ValueError
        For an invalid argument.

    References
    ----------
    The book's chapter *Closed-form optimal quotes*.

    Examples
    --------
    >>> db, da = brute_force_quotes(np.array([-1.0, 0.0, -1.0]), k=2.0)
    >>> np.round(da, 6)                     # closed form: 1/k - [V(x-1) - V(x)]
    array([ nan,  1.5, -0.5])
    >>> np.round(brute_force_quotes(np.array([-1.0, 0.0, -1.0]), 2.0, bounds=(0, 5)).ask, 6)
    array([nan, 1.5, 0. ])
    """
    k = check_real("k", k, lo=0.0, lo_open=True)
    V = np.asarray(V, dtype=float)
    if V.ndim < 1 or V.shape[-1] < 2 or not np.all(np.isfinite(V)):
        raise ValueError(f"V must be finite with a last axis of length >= 2, got shape {V.shape}")
    lo, hi = (-10.0 / k, 10.0 / k) if bounds is None else bounds
    lo = check_real("bounds[0]", lo)
    hi = check_real("bounds[1]", hi)
    if not lo < hi:
        raise ValueError(f"bounds must satisfy lo < hi, got ({lo}, {hi})")
    n_grid = check_int("n_grid", n_grid, lo=5)
    n_zoom = check_int("n_zoom", n_zoom, lo=0)

    def argmax(dV):
        a = np.full(dV.shape, lo)
        b = np.full(dV.shape, hi)
        s = np.linspace(0.0, 1.0, n_grid)
        for _ in range(n_zoom + 1):
            grid = a[..., None] + (b - a)[..., None] * s  # (..., n_grid)
            # the objective times the positive constant e^{k a}, which keeps it finite
            g = np.exp(-k * (grid - a[..., None])) * (grid + dV[..., None])
            j = np.argmax(g, axis=-1)
            best = np.take_along_axis(grid, j[..., None], axis=-1)[..., 0]
            h = (b - a) / (n_grid - 1)
            a, b = np.maximum(best - h, lo), np.minimum(best + h, hi)
        return best

    da = np.full(V.shape, np.nan)
    db = np.full(V.shape, np.nan)
    da[..., 1:] = argmax(V[..., :-1] - V[..., 1:])
    db[..., :-1] = argmax(V[..., 1:] - V[..., :-1])
    return Quotes(bid=db, ask=da)


def _perron_log_ratios(params):
    """log f(x) - log f(x-1) for x = -x_max+1..x_max, f the Perron vector of M.

    The eigenvalue comes from LAPACK; the ratios from the three-term recurrence
    run inward from each boundary (a continued fraction, stable for the
    decaying solution), so nothing underflows however wide the grid.
    """
    n = params.n_states
    a = params.A / np.e
    d = -params.k * params.eta * params.x**2
    mu = eigh_tridiagonal(d, np.full(n - 1, a), eigvals_only=True,
                          select="i", select_range=(n - 1, n - 1))[0]
    # r[i] = f_i / f_{i-1} for i >= centre, from the right boundary inward
    r = np.empty(n)
    r[-1] = a / (mu - d[-1])
    for i in range(n - 2, params.x_max, -1):
        r[i] = a / (mu - d[i] - a * r[i + 1])
    right = np.log(r[params.x_max + 1:])  # log f(x)/f(x-1), x = 1..x_max
    # f is even in x: log f(x)/f(x-1) = -log f(1-x)/f(-x) for x <= 0
    left = -right[::-1]  # x = -x_max+1..0
    return np.concatenate([left, right])


def long_horizon_quotes(params):
    r"""Exact stationary quotes of the grid model, the limit :math:`T-t\to\infty`.

    .. math:: \delta^{a}_\infty(x) = \frac1k\Big(1 + \ln\frac{f(x)}{f(x-1)}\Big),\qquad
              \delta^{b}_\infty(x) = \frac1k\Big(1 + \ln\frac{f(x)}{f(x+1)}\Big),

    with :math:`f` the Perron eigenvector of
    :math:`M = \frac Ae(S_-+S_+) - k\eta\,\mathrm{diag}(x^2)`. They do not depend
    on ``gamma`` or ``T``; the quotes of :func:`mmlib.hjb.solve_hjb` converge
    to them like :math:`e^{-(\nu_0-\nu_2)(T-t)}`, because the even terminal
    data :math:`e^{-k\gamma x^2}` has no component on the odd eigenvector of
    :math:`\nu_1` (rate :math:`\nu_0-\nu_1` applies only to asymmetric data).

    Parameters
    ----------
    params : ModelParams
        ``gamma`` and ``T`` are ignored.

    Returns
    -------
    Quotes
        ``(bid, ask)`` depths, each of shape ``(2*x_max+1,)``; NaN at
        ``x=+x_max`` (bid) and ``x=-x_max`` (ask).

    Raises
    ------
    ValueError
        If ``params`` is not a ModelParams.

    References
    ----------
    Guéant, Lehalle and Fernandez-Tapia (2013), section 4; the book's chapter
    *Closed-form optimal quotes*.

    Examples
    --------
    >>> p = ModelParams(A=1.0, k=1.5, eta=0.01, gamma=0.0, T=1.0, x_max=10)
    >>> db, da = long_horizon_quotes(p)
    >>> bool(da[11] < 1 / p.k < db[11])        # long one unit: cheaper ask, deeper bid
    True
    >>> bool(np.allclose(da[1:], db[:-1][::-1]))  # symmetry x -> -x
    True
    """
    _check_params(params)
    lr = _perron_log_ratios(params)  # log f(x)/f(x-1), x = -x_max+1..x_max
    k = params.k
    da = np.full(params.n_states, np.nan)
    db = np.full(params.n_states, np.nan)
    da[1:] = (1.0 + lr) / k
    db[:-1] = (1.0 - lr) / k  # log f(x)/f(x+1) = -log f(x+1)/f(x)
    return Quotes(bid=db, ask=da)


def long_horizon_approximation(params):
    r"""Closed-form long-horizon quotes from the continuum (harmonic-oscillator) limit.

    .. math:: \delta^{a}_\infty(x) \approx \frac1k - \frac{2x-1}{2}\sqrt{\frac{\eta e}{kA}},\qquad
              \delta^{b}_\infty(x) \approx \frac1k + \frac{2x+1}{2}\sqrt{\frac{\eta e}{kA}}.

    A long maker (:math:`x>0`) quotes a cheaper ask and a deeper bid. The error
    against :func:`long_horizon_quotes` is :math:`O(c^2/k)` near :math:`x=0`
    and grows like :math:`(c|x|)^3/k` in the tails, with
    :math:`c=\sqrt{k\eta e/A}`; the formula also knows nothing of the boundary
    at :math:`\pm x_{\max}`.

    Parameters
    ----------
    params : ModelParams
        ``gamma`` and ``T`` are ignored.

    Returns
    -------
    Quotes
        ``(bid, ask)`` depths, each of shape ``(2*x_max+1,)``; NaN at
        ``x=+x_max`` (bid) and ``x=-x_max`` (ask), for comparison with the grid model.

    Raises
    ------
    ValueError
        If ``params`` is not a ModelParams.

    References
    ----------
    Guéant, Lehalle and Fernandez-Tapia (2013), eqs. for
    :math:`\delta^{b}_\infty, \delta^{a}_\infty`; the book's chapter *Closed-form optimal quotes*.

    Examples
    --------
    >>> p = ModelParams(A=np.e, k=1.0, eta=1.0, gamma=0.0, T=1.0, x_max=2)
    >>> db, da = long_horizon_approximation(p)   # sqrt(eta e / (k A)) = 1
    >>> da
    array([ nan,  2.5,  1.5,  0.5, -0.5])
    """
    _check_params(params)
    x, k = params.x, params.k
    s = np.sqrt(params.eta * np.e / (k * params.A))
    da = 1.0 / k - (2.0 * x - 1.0) / 2.0 * s
    db = 1.0 / k + (2.0 * x + 1.0) / 2.0 * s
    da[0] = np.nan
    db[-1] = np.nan
    return Quotes(bid=db, ask=da)


def urgency_threshold(params):
    r"""Terminal penalty above which a long maker's ask tightens as :math:`t\to T`.

    At :math:`T` the ask is :math:`1/k-\gamma(2x-1)`; far from :math:`T` it is
    :math:`\delta^a_\infty(x)`. At :math:`x=1` the two are equal when

    .. math:: \gamma^\dagger = \frac1k\ln\frac{f(0)}{f(1)}
              \approx \frac12\sqrt{\frac{\eta e}{kA}},

    so, over a horizon long enough for the quotes at :math:`t=0` to be
    stationary, the ask at :math:`x=1` ends tighter than it starts when
    :math:`\gamma > \gamma^\dagger`, and wider when :math:`\gamma < \gamma^\dagger`.

    Parameters
    ----------
    params : ModelParams

    Returns
    -------
    float
        :math:`\gamma^\dagger` from the exact stationary quotes.

    Examples
    --------
    >>> p = ModelParams(A=1.0, k=1.5, eta=0.01, gamma=0.0, T=1.0, x_max=10)
    >>> g = urgency_threshold(p)
    >>> bool(abs(g - 0.5 * np.sqrt(p.eta * np.e / (p.k * p.A))) < 0.1 * g)
    True
    """
    _check_params(params)
    da = long_horizon_quotes(params).ask
    return float(1.0 / params.k - da[params.x_max + 1])
