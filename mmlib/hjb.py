r"""The HJB equation of the seed article and its optimal quotes.

.. math::

    -\partial_t V(t,x) = \sup_{\delta^a,\delta^b}\Big\{
        \lambda(\delta^a)\,[\delta^a + V(t,x-1) - V(t,x)]
      + \lambda(\delta^b)\,[\delta^b + V(t,x+1) - V(t,x)]\Big\} - \eta x^2,
    \qquad V(T,x) = -\gamma x^2,

with :math:`\lambda(\delta)=A e^{-k\delta}`. The first-order condition gives
:math:`\delta^{a*} = 1/k - [V(t,x-1)-V(t,x)]` and
:math:`\delta^{b*} = 1/k - [V(t,x+1)-V(t,x)]`, and at these quotes each side
contributes :math:`\frac{A}{ek}\,e^{k\,\Delta V}`. With :math:`w=e^{kV}` the
HJB becomes the *linear* system

.. math:: -\partial_t w = M w,\qquad
    M = \tfrac{A}{e}\,(S_- + S_+) - k\eta\,\mathrm{diag}(x^2),\qquad
    w(T,x) = e^{-k\gamma x^2},

where :math:`S_\mp` pick the neighbours :math:`x\mp1` that exist on the grid
(Guéant, Lehalle and Fernandez-Tapia 2013; Cartea, Jaimungal and Penalva 2015,
ch. 10). :math:`M` is Metzler, so its exponential is computed entrywise to high
relative accuracy (:mod:`mmlib._metzler`), in log space when :math:`w` spans
more orders of magnitude than floating point holds.

Chapter: *HJB* (``book/hjb.md``); the propagation kernel lives in
:mod:`mmlib._propagator`.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from . import limits
from ._propagator import solve_logw
from ._validation import check_choice, check_int, check_real
from .model import ModelParams, Quotes

__all__ = ["HJBSolution", "solve_hjb", "optimal_quotes", "hamiltonian", "min_stable_steps"]

def _check_size(params, n_steps):
    """Refuse, before allocating, a grid that exceeds :mod:`mmlib.limits`."""
    limits.check_steps(f"n_steps={n_steps:,}", n_steps, "use fewer time steps")
    limits.check_memory(
        f"x_max={params.x_max:,} with n_steps={n_steps:,}",
        limits.dense_solver_bytes(params.n_states, n_steps),
        "use a smaller x_max or fewer time steps")


@dataclass(frozen=True)
class HJBSolution:
    r"""Value function and optimal quotes on the time-inventory grid.

    Attributes
    ----------
    params : ModelParams
        The model solved.
    t : ndarray, shape (n_steps+1,)
        Time grid ``linspace(0, T, n_steps+1)``.
    x : ndarray, shape (2*x_max+1,)
        Inventory grid.
    V : ndarray, shape (n_steps+1, 2*x_max+1)
        Value function :math:`V(t_n, x_i)`.
    delta_a, delta_b : ndarray, shape (n_steps+1, 2*x_max+1)
        Optimal ask and bid depths. ``delta_a`` is NaN at ``x = -x_max`` and
        ``delta_b`` at ``x = +x_max``, where that side does not quote.
    A_a, A_b : ndarray, shape (n_steps+1,)
        Intensity at zero depth on each side at each grid time: ``A`` for the
        plain model, :math:`A e^{k\bar\delta_t}` under the mean-field coupling.
    method : str
        How the solution was computed.
    delta_bounds : tuple or None
        The clipping interval of the quotes, if any.
    """

    params: ModelParams
    t: np.ndarray
    x: np.ndarray
    V: np.ndarray
    delta_a: np.ndarray
    delta_b: np.ndarray
    A_a: np.ndarray
    A_b: np.ndarray
    method: str
    delta_bounds: tuple | None = None

    @property
    def n_steps(self) -> int:
        """Number of time steps."""
        return self.t.size - 1

    @property
    def dt(self) -> float:
        """Time step ``T / n_steps``."""
        return self.params.T / self.n_steps

    def rates(self):
        r"""Fill intensities at the quotes, :math:`A_t e^{-k\delta}`.

        Returns
        -------
        Quotes
            ``(bid, ask)``, each of shape ``(n_steps+1, 2*x_max+1)``: bid
            (up-move) and ask (down-move) intensities; zero where a side
            does not quote. Entries can be ``inf`` in extreme regimes where the
            optimal quote is so deep inside the mid that the rate overflows.
        """
        k = self.params.k
        with np.errstate(over="ignore"):
            ra = self.A_a[:, None] * np.exp(-k * np.nan_to_num(self.delta_a, nan=np.inf))
            rb = self.A_b[:, None] * np.exp(-k * np.nan_to_num(self.delta_b, nan=np.inf))
        return Quotes(bid=rb, ask=ra)


def optimal_quotes(V, k, delta_bounds=None):
    r"""Closed-form optimal depths from value-function slices.

    .. math:: \delta^{a*}(x) = \tfrac1k - [V(x-1)-V(x)],\qquad
              \delta^{b*}(x) = \tfrac1k - [V(x+1)-V(x)],

    optionally clipped to ``delta_bounds``.

    Parameters
    ----------
    V : array_like, shape (..., n)
        Value function along the inventory grid (last axis).
    k : float
        Intensity decay, ``k > 0``.
    delta_bounds : (float, float) or None
        Clip the quotes to ``[lo, hi]``.

    Returns
    -------
    Quotes
        ``(bid, ask)`` depths, each of shape ``(..., n)``; NaN at
        ``x=+x_max`` (bid) and ``x=-x_max`` (ask), where the side does not quote.

    Examples
    --------
    >>> import numpy as np
    >>> q = optimal_quotes(np.array([-1.0, 0.0, -1.0]), k=2.0)
    >>> q.ask
    array([ nan, 1.5, -0.5])
    >>> q.bid
    array([-0.5, 1.5,  nan])
    """
    k = check_real("k", k, lo=0.0, lo_open=True)
    V = np.asarray(V, dtype=float)
    da = np.full(V.shape, np.nan)
    db = np.full(V.shape, np.nan)
    da[..., 1:] = 1.0 / k - (V[..., :-1] - V[..., 1:])
    db[..., :-1] = 1.0 / k - (V[..., 1:] - V[..., :-1])
    if delta_bounds is not None:
        lo, hi = delta_bounds
        da[..., 1:] = np.clip(da[..., 1:], lo, hi)
        db[..., :-1] = np.clip(db[..., :-1], lo, hi)
    return Quotes(bid=db, ask=da)


def hamiltonian(V, params, delta_bounds=None, A_a=None, A_b=None):
    r"""Right-hand side :math:`H(V)` of the HJB, :math:`-\partial_t V = H(V)`.

    Parameters
    ----------
    V : ndarray, shape (..., n)
        Value-function slices.
    params : ModelParams
    delta_bounds : (lo, hi) or None
        Restrict the sup to ``lo <= delta <= hi``.
    A_a, A_b : float or None
        Intensities at zero depth (default ``params.A``).

    Returns
    -------
    H : ndarray, shape (..., n)
        :math:`\sum_{\text{sides}} \lambda(\delta^*)(\delta^*+\Delta V) - \eta x^2`.
    total_rate : ndarray, shape (..., n)
        :math:`\lambda(\delta^{a*}) + \lambda(\delta^{b*})`, the jump rate out of each state.
    """
    k = params.k
    A_a = params.A if A_a is None else A_a
    A_b = params.A if A_b is None else A_b
    db, da = optimal_quotes(V, k, delta_bounds)
    dva = V[..., :-1] - V[..., 1:]
    dvb = V[..., 1:] - V[..., :-1]
    la = A_a * np.exp(-k * da[..., 1:])
    lb = A_b * np.exp(-k * db[..., :-1])
    H = -params.eta * params.x**2 * np.ones_like(V)
    H[..., 1:] += la * (da[..., 1:] + dva)
    H[..., :-1] += lb * (db[..., :-1] + dvb)
    rate = np.zeros_like(V)
    rate[..., 1:] += la
    rate[..., :-1] += lb
    return H, rate


# ---------------------------------------------------------------------------
# time-stepping schemes on V
# ---------------------------------------------------------------------------
def _max_rate_bound(params, n_steps, delta_bounds):
    """A priori bound on the total jump rate out of any state."""
    if delta_bounds is not None:
        return 2.0 * params.A * np.exp(-params.k * delta_bounds[0])
    lw, _, _ = solve_logw(params, n_steps, params.A, params.A)
    d = np.diff(lw, axis=1)  # lw[x+1] - lw[x]
    with np.errstate(over="ignore"):
        rate = np.zeros_like(lw)
        rate[:, 1:] += params.A / np.e * np.exp(-d)  # ask at x: w(x-1)/w(x)
        rate[:, :-1] += params.A / np.e * np.exp(d)
    return float(rate.max())


def _check_stable(params, n_steps, rate, factor, method):
    h = params.T / n_steps
    if not np.isfinite(rate):
        raise ValueError(
            f"{method} scheme not guaranteed stable: the optimal fill rates overflow (quotes "
            "far inside the mid near T), so no step meets the monotonicity bound; use "
            "method='exact'"
        )
    with np.errstate(over="ignore"):  # a subnormal rate (A ~ 1e-310): no bound, limit inf
        limit = factor / rate if rate > 0 else np.inf
    if h > limit * (1 + 1e-12):
        need = int(np.ceil(params.T / limit))
        raise ValueError(
            f"{method} scheme not guaranteed stable: dt={h:.4g} > {limit:.4g} = "
            f"{factor:g}/(max total fill rate {rate:.4g}), the monotonicity bound; "
            f"use n_steps >= {need} or method='exact'"
        )


_FACTORS = {"explicit": 1.0, "rk4": 1.39}  # stable step = factor / max total fill rate


def _meets_bound(params, n_steps, rate, factor):
    return np.isfinite(rate) and params.T / n_steps <= (factor / rate if rate > 0 else np.inf) * (
        1 + 1e-12)


def min_stable_steps(params, method="explicit", delta_bounds=None):
    r"""The smallest ``n_steps`` that :func:`solve_hjb` accepts for a time-stepping scheme.

    The explicit scheme is refused when :math:`\Delta t > 1/\bar r_N` and RK4
    when :math:`\Delta t > 1.39/\bar r_N`, where :math:`\bar r_N` bounds the
    total optimal fill rate out of any state on the grid of :math:`N` steps
    (computed from the exact solution there, or :math:`2Ae^{-k\,\mathrm{lo}}`
    with ``delta_bounds``). As :math:`\bar r_N` grows with :math:`N` (a finer
    grid resolves the tight quotes near :math:`T`), the answer is the fixed
    point of :math:`N \mapsto \lceil T\bar r_N/\text{factor}\rceil`,
    iterated up from :math:`N=1`: the smallest :math:`N` that meets its own bound.

    Parameters
    ----------
    params : ModelParams
    method : {"explicit", "rk4", "exact"}
        The scheme; ``"exact"`` is stable at every step (returns 1).
    delta_bounds : (lo, hi) or None
        As in :func:`solve_hjb`.

    Returns
    -------
    int
        The smallest stable number of steps (at most ``mmlib.limits.MAX_STEPS``).

    Raises
    ------
    ValueError
        For an invalid argument, or rates so large (overflowing, or needing
        more than ``mmlib.limits.MAX_STEPS`` steps) that no step count meets the bound.

    References
    ----------
    The book's chapter *HJB* (the monotonicity bound).

    Examples
    --------
    >>> p = ModelParams(A=5.0, k=1.0, eta=0.1, gamma=0.2, T=5.0, x_max=5)
    >>> n = min_stable_steps(p)
    >>> _ = solve_hjb(p, n, method="explicit")       # accepted
    >>> try:
    ...     solve_hjb(p, n - 1, method="explicit")
    ... except ValueError as err:
    ...     print("refused")
    refused
    """
    if not isinstance(params, ModelParams):
        raise ValueError(f"params must be a ModelParams, got {type(params).__name__}")
    check_choice("method", method, {"exact", "explicit", "rk4"})
    delta_bounds = _check_bounds(delta_bounds)
    if method == "exact":
        return 1
    factor = _FACTORS[method]
    n = 1
    for _ in range(200):
        rate = _max_rate_bound(params, n, delta_bounds)
        if not np.isfinite(rate):
            break
        if _meets_bound(params, n, rate, factor):
            return n
        n = max(n + 1, int(np.ceil(params.T * rate / factor)))
        while not _meets_bound(params, n, rate, factor):  # rounding of the ceiling
            n += 1
        if (n > limits.MAX_STEPS
                or limits.dense_solver_bytes(params.n_states, n) > limits.MAX_BYTES):
            break
    raise ValueError(
        f"{method} scheme: no n_steps <= {limits.MAX_STEPS:,} (mmlib.limits.MAX_STEPS, within "
        "mmlib.limits.MAX_BYTES) meets the monotonicity bound (the "
        "optimal fill rates near T are too large); use method='exact'"
    )


def _check_representable(params, V=None):
    """Raise unless the scale of the HJB's terms is finite, and, if given, every entry of V.

    The Hamiltonian is of order ``A / k`` per side (each fill earns ``1/k`` over the
    reservation price), an rk4 step adds six of them, and V moves by up to ``T`` times that:
    ``16 max(A, 1) max(T, 1) / k`` must be finite, which also covers ``1/k``."""
    scale = (16.0 / params.k) * max(params.A, 1.0) * max(params.T, 1.0)
    if not math.isfinite(scale) or (V is not None and not np.all(np.isfinite(V))):
        raise ValueError(
            f"the value function is not representable in floating point for k={params.k:.3g} "
            f"with A={params.A:.3g} and T={params.T:.3g} (V = log(w) / k, the quotes 1/k - dV "
            "and the Hamiltonian A / k overflow); rescale the price unit so that k is of "
            "order one"
        )


def _step_schemes(params, n_steps, method, delta_bounds):
    h = params.T / n_steps
    factor = _FACTORS[method]
    _check_stable(params, n_steps, _max_rate_bound(params, n_steps, delta_bounds), factor, method)
    V = np.empty((n_steps + 1, params.n_states))
    V[-1] = -params.gamma * params.x**2
    for i in range(n_steps - 1, -1, -1):
        v = V[i + 1]
        k1, rate = hamiltonian(v, params, delta_bounds)
        _check_stable(params, n_steps, float(rate.max()), factor, method)
        if method == "explicit":
            V[i] = v + h * k1
        else:
            k2 = hamiltonian(v + 0.5 * h * k1, params, delta_bounds)[0]
            k3 = hamiltonian(v + 0.5 * h * k2, params, delta_bounds)[0]
            k4 = hamiltonian(v + h * k3, params, delta_bounds)[0]
            V[i] = v + h / 6.0 * (k1 + 2 * k2 + 2 * k3 + k4)
    if not np.all(np.isfinite(V)):  # pragma: no cover - excluded by the checks
        raise ValueError("time stepping produced non-finite values; increase n_steps")
    return V


def _check_bounds(delta_bounds):
    if delta_bounds is None:
        return None
    try:
        lo, hi = delta_bounds
    except (TypeError, ValueError):
        raise ValueError(f"delta_bounds must be a pair (lo, hi), got {delta_bounds!r}") from None
    lo = check_real("delta_bounds[0]", lo)
    hi = check_real("delta_bounds[1]", hi)
    if not lo < hi:
        raise ValueError(f"delta_bounds must satisfy lo < hi, got ({lo}, {hi})")
    return (lo, hi)


def solve_hjb(params, n_steps, method="exact", delta_bounds=None):
    r"""Solve the HJB backward from :math:`V(T,x)=-\gamma x^2` on a uniform grid.

    .. math:: -\partial_t V = \frac{A}{ek}\big(e^{k[V(x-1)-V(x)]}
              + e^{k[V(x+1)-V(x)]}\big) - \eta x^2

    Parameters
    ----------
    params : ModelParams
    n_steps : int
        Number of time steps, ``1 <= n_steps <= mmlib.limits.MAX_STEPS``
        (default 10,000,000).
    method : {"exact", "explicit", "rk4"}
        ``"exact"``: the linear system for :math:`w=e^{kV}`, propagated with
        entrywise-accurate exponentials (exact on the grid up to rounding, in
        every regime). ``"explicit"``: the seed article's backward Euler step
        :math:`V_n = V_{n+1} + \Delta t\,H(V_{n+1})`, first order; refuses a
        step above ``1 / max total fill rate``, the monotonicity (discrete
        maximum principle) bound under which the scheme is provably stable (a
        sufficient condition: somewhat larger steps may still happen to work).
        ``"rk4"``: classical Runge--Kutta on the same ODE, refuses a step above
        ``1.39 / max total fill rate`` (inside its real stability interval).
    delta_bounds : (lo, hi) or None
        Restrict the quotes to ``lo <= delta <= hi``. The linearisation no
        longer holds, so this needs ``method="explicit"`` or ``"rk4"``.

    Returns
    -------
    HJBSolution

    Raises
    ------
    ValueError
        For an invalid argument, an unstable step of a time-stepping scheme
        (the message gives the smallest stable ``n_steps`` for the rates of
        this grid; :func:`min_stable_steps` gives the one for its own grid), or
        ``delta_bounds`` with ``method="exact"``. Also, before anything is
        allocated, for ``n_steps`` above ``mmlib.limits.MAX_STEPS`` or a grid
        whose working memory, about
        :math:`8\,(20\,n^2 + 8\,(N+1)\,n)` bytes with :math:`n = 2x_{\max}+1`
        (:func:`mmlib.limits.dense_solver_bytes`), exceeds
        ``mmlib.limits.MAX_BYTES`` (default 4 GiB); the message names
        ``x_max``, ``n_steps``, the need and the limit.

    Notes
    -----
    The propagator is held as a dense :math:`n\times n` matrix, so the cost
    grows like :math:`n^3`: measured on the book's 2-core machine, about 2 s
    at ``x_max=100`` and 15 s at ``x_max=200`` (log-space path); this is why
    :class:`~mmlib.model.ModelParams` caps ``x_max`` at 500.

    References
    ----------
    Guéant, Lehalle and Fernandez-Tapia (2013); Cartea, Jaimungal and Penalva
    (2015), ch. 10; Xue and Ye (2013). The book's chapter *HJB*.

    Examples
    --------
    >>> p = ModelParams(A=1.0, k=1.0, eta=0.01, gamma=0.1, T=1.0, x_max=5)
    >>> sol = solve_hjb(p, n_steps=100)
    >>> sol.V.shape
    (101, 11)
    >>> bool(sol.V[0, 5] >= sol.V[0, 6])   # V is highest at x = 0
    True
    """
    if not isinstance(params, ModelParams):
        raise ValueError(f"params must be a ModelParams, got {type(params).__name__}")
    n_steps = check_int("n_steps", n_steps, lo=1)
    check_choice("method", method, {"exact", "explicit", "rk4"})
    delta_bounds = _check_bounds(delta_bounds)
    _check_size(params, n_steps)
    _check_representable(params)  # before any arithmetic with 1/k
    if method == "exact":
        if delta_bounds is not None:
            raise ValueError(
                "delta_bounds needs method='explicit' or 'rk4': with clipped quotes "
                "the change of variable w = exp(kV) no longer linearises the HJB"
            )
        lw, _, _ = solve_logw(params, n_steps, params.A, params.A)
        with np.errstate(over="ignore"):  # checked just below
            V = lw / params.k
    else:
        V = _step_schemes(params, n_steps, method, delta_bounds)
    V[-1] = -params.gamma * params.x**2
    _check_representable(params, V)
    db, da = optimal_quotes(V, params.k, delta_bounds)
    ones = np.full(n_steps + 1, params.A)
    return HJBSolution(
        params=params,
        t=np.linspace(0.0, params.T, n_steps + 1),
        x=params.x,
        V=V,
        delta_a=da,
        delta_b=db,
        A_a=ones,
        A_b=ones.copy(),
        method=method,
        delta_bounds=delta_bounds,
    )
