r"""Poisson fill intensities: the exponential model, its edge, and its calibration.

A quote at depth :math:`\delta` from the mid is filled as a Poisson process with

.. math:: \lambda(\delta) = A\,e^{-k\delta},

so over a short interval :math:`\Delta t` it fills at least once with
probability :math:`1-e^{-\lambda\Delta t}` and the expected edge earned per unit
time is :math:`\lambda(\delta)\,\delta`, largest at :math:`\delta = 1/k`.

Calibration. Given fill counts :math:`y_j \sim \mathrm{Poisson}(E_j A e^{-k\delta_j})`
observed over exposure times :math:`E_j` at depths :math:`\delta_j`,
:func:`fit_intensity` maximises the Poisson log-likelihood (a Poisson
regression with log link and design :math:`(1, -\delta_j)`) and reports standard
errors from the Fisher information. :func:`k_from_flow_ratio` is the desk rule
"one tick tighter multiplies flow by r", and :func:`microfoundation` the
Avellaneda--Stoikov (2008) derivation of :math:`(A, k)` from power-law order
sizes and logarithmic price impact.

Chapter: *Intensities* (``book/intensities.md``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import special

from ._validation import as_generator, check_int, check_real

__all__ = [
    "intensity",
    "fill_probability",
    "edge_rate",
    "simulate_fill_counts",
    "poisson_loglik",
    "IntensityFit",
    "fit_intensity",
    "k_from_flow_ratio",
    "microfoundation",
    "simulate_impact_counts",
]


def _check_Ak(A, k):
    return (check_real("A", A, lo=0.0, lo_open=True), check_real("k", k, lo=0.0, lo_open=True))


def _as_depths(depths):
    d = np.atleast_1d(np.asarray(depths, dtype=float))
    if d.ndim != 1 or d.size < 1:
        raise ValueError(f"depths must be a 1-D array, got shape {np.shape(depths)}")
    if not np.all(np.isfinite(d)):
        raise ValueError("depths must be finite")
    return d


def _as_exposure(exposure, m):
    e = np.broadcast_to(np.asarray(exposure, dtype=float), (m,)) if np.ndim(exposure) == 0 \
        else np.asarray(exposure, dtype=float)
    if e.shape != (m,):
        raise ValueError(f"exposure must be a scalar or have shape ({m},), got shape {e.shape}")
    if not np.all(np.isfinite(e)) or np.any(e <= 0):
        raise ValueError("exposure must be finite and > 0")
    return e


def intensity(delta, A, k):
    r"""Fill intensity :math:`\lambda(\delta) = A e^{-k\delta}`.

    Parameters
    ----------
    delta : array_like
        Depth(s) from the mid, price units (any real; negative depths cross the mid).
    A : float
        Intensity at zero depth, fills per unit time; ``A > 0``.
    k : float
        Decay per unit depth; ``k > 0``.

    Returns
    -------
    ndarray
        Fills per unit time, shape of ``delta``.

    Raises
    ------
    ValueError
        If ``A`` or ``k`` is not a finite positive number.

    References
    ----------
    Avellaneda and Stoikov (2008); the book's chapter *Intensities*.

    Examples
    --------
    >>> float(intensity(0.0, A=2.0, k=1.5))
    2.0
    >>> round(float(intensity(1.0, A=2.0, k=np.log(2))), 12)  # one unit deeper halves the rate
    1.0
    """
    A, k = _check_Ak(A, k)
    return A * np.exp(-k * np.asarray(delta, dtype=float))


def fill_probability(delta, A, k, dt):
    r"""Probability of at least one fill over a step :math:`\Delta t`.

    .. math:: P(\text{fill in } \Delta t) = 1 - e^{-\lambda(\delta)\Delta t}
              = \lambda\Delta t - \tfrac12(\lambda\Delta t)^2 + \dots

    The rate :math:`\lambda` itself is not a probability: :math:`\lambda\Delta t`
    exceeds the true probability and exceeds one when the step is long.

    Parameters
    ----------
    delta : array_like
        Depth(s).
    A, k : float
        Intensity parameters, both ``> 0``.
    dt : float or array_like
        Step length(s), ``dt >= 0``; broadcast with ``delta``.

    Returns
    -------
    ndarray
        Probabilities in ``[0, 1)``, broadcast shape of ``delta`` and ``dt``.

    Raises
    ------
    ValueError
        If a parameter is out of range.

    References
    ----------
    The book's chapter *Intensities*.

    Examples
    --------
    >>> p = fill_probability(0.0, A=1.0, k=1.0, dt=1.0)
    >>> round(float(p), 6)   # 1 - 1/e, not the rate times dt = 1
    0.632121
    """
    dt = np.asarray(dt, dtype=float)
    if not np.all(np.isfinite(dt)) or np.any(dt < 0):
        raise ValueError(f"dt must be finite and >= 0, got {dt!r}")
    return -np.expm1(-intensity(delta, A, k) * dt)


def edge_rate(delta, A, k):
    r"""Expected edge per unit time :math:`\lambda(\delta)\,\delta = A\delta e^{-k\delta}`.

    It is maximal at :math:`\delta = 1/k`, where it equals :math:`A/(ek)`.

    Parameters
    ----------
    delta : array_like
        Depth(s).
    A, k : float
        Intensity parameters, both ``> 0``.

    Returns
    -------
    ndarray
        Edge per unit time, shape of ``delta``.

    Raises
    ------
    ValueError
        If ``A`` or ``k`` is out of range.

    References
    ----------
    The book's chapter *Intensities*.

    Examples
    --------
    >>> k = 2.0
    >>> bool(edge_rate(1 / k, 1.0, k) > edge_rate(0.49, 1.0, k))
    True
    >>> round(float(edge_rate(1 / k, 1.0, k)), 6) == round(1 / (np.e * k), 6)
    True
    """
    return intensity(delta, A, k) * np.asarray(delta, dtype=float)


def simulate_fill_counts(depths, A, k, exposure=1.0, n_reps=None, rng=None):
    r"""Draw fill counts :math:`y_j \sim \mathrm{Poisson}(E_j A e^{-k\delta_j})`.

    Parameters
    ----------
    depths : array_like, shape (m,)
        Depths at which a quote rests.
    A, k : float
        True intensity parameters, both ``> 0``.
    exposure : float or array_like, shape (m,)
        Time :math:`E_j > 0` spent quoting at each depth.
    n_reps : int or None
        Number of independent data sets (``None``: one, without the leading axis).
    rng : None, int or numpy.random.Generator
        Source of randomness; every draw goes through it.

    Returns
    -------
    counts : ndarray of int64, shape (m,) or (n_reps, m)

    Raises
    ------
    ValueError
        If a parameter is out of range.

    References
    ----------
    The book's chapter *Intensities*.

    Examples
    --------
    >>> c = simulate_fill_counts([0.0, 1.0], A=5.0, k=1.0, exposure=100.0, n_reps=3, rng=0)
    >>> c.shape
    (3, 2)
    """
    d = _as_depths(depths)
    e = _as_exposure(exposure, d.size)
    mu = e * intensity(d, A, k)
    shape = (d.size,) if n_reps is None else (check_int("n_reps", n_reps, lo=1), d.size)
    return as_generator(rng).poisson(np.broadcast_to(mu, shape)).astype(np.int64)


def _check_counts(counts, m):
    c = np.asarray(counts)
    if c.ndim < 1 or c.shape[-1] != m:
        raise ValueError(f"counts must have last axis of length {m} (one per depth), "
                         f"got shape {c.shape}")
    c = c.astype(float)
    if not np.all(np.isfinite(c)) or np.any(c < 0) or np.any(c != np.round(c)):
        raise ValueError("counts must be non-negative integers")
    return c


def poisson_loglik(A, k, depths, counts, exposure=1.0):
    r"""Poisson log-likelihood of fill counts under :math:`\lambda = A e^{-k\delta}`.

    .. math:: \ell(A,k) = \sum_j \big[y_j \log\mu_j - \mu_j - \log y_j!\big],
              \qquad \mu_j = E_j A e^{-k\delta_j}.

    Parameters
    ----------
    A, k : float or ndarray
        Parameters (``A > 0``); arrays broadcast against the leading axes of ``counts``.
    depths : array_like, shape (m,)
    counts : array_like, shape (..., m)
        Non-negative integer fill counts.
    exposure : float or array_like, shape (m,)

    Returns
    -------
    float or ndarray
        Log-likelihood, shape of the leading axes of ``counts``.

    Examples
    --------
    >>> round(float(poisson_loglik(1.0, 1.0, [0.0], [0])), 6)   # P(N=0) = e^{-1}
    -1.0
    """
    d = _as_depths(depths)
    e = _as_exposure(exposure, d.size)
    c = _check_counts(counts, d.size)
    A = np.asarray(A, dtype=float)
    k = np.asarray(k, dtype=float)
    if np.any(A <= 0):
        raise ValueError("A must be > 0")
    log_mu = np.log(e) + np.log(A)[..., None] - k[..., None] * d
    return np.sum(c * log_mu - np.exp(log_mu) - special.gammaln(c + 1.0), axis=-1)


@dataclass(frozen=True)
class IntensityFit:
    r"""Maximum-likelihood estimate of :math:`(A, k)` with Fisher-information errors.

    All fields have the shape of the leading axes of the ``counts`` passed to
    :func:`fit_intensity` (scalars for one data set).

    Attributes
    ----------
    A, k : float or ndarray
        Estimates.
    se_log_A, se_k : float or ndarray
        Standard errors of :math:`\log\hat A` and :math:`\hat k` from the inverse
        Fisher information.
    corr : float or ndarray
        Correlation of :math:`\log\hat A` and :math:`\hat k`.
    loglik : float or ndarray
        Maximised log-likelihood.
    n_iter : int
        Newton iterations used (the largest over the batch).
    """

    A: np.ndarray  # estimate of the intensity at zero depth
    k: np.ndarray  # estimate of the decay per unit depth
    se_log_A: np.ndarray  # standard error of log A-hat
    se_k: np.ndarray  # standard error of k-hat
    corr: np.ndarray  # correlation of (log A-hat, k-hat)
    loglik: np.ndarray  # maximised log-likelihood
    n_iter: int  # Newton iterations used

    @property
    def se_A(self):
        r"""Standard error of :math:`\hat A` by the delta method, :math:`\hat A\,\mathrm{se}(\log\hat A)`."""
        return self.A * self.se_log_A

    def conf_int(self, level=0.95):
        r"""Wald intervals: :math:`\hat k \pm z\,\mathrm{se}_k` and
        :math:`\hat A\,e^{\pm z\,\mathrm{se}(\log\hat A)}` (built on the log scale,
        where the estimator is closer to normal, so the interval for A stays positive).

        Parameters
        ----------
        level : float
            Coverage, ``0 < level < 1``.

        Returns
        -------
        (A_lo, A_hi), (k_lo, k_hi) : tuples of float or ndarray
        """
        level = check_real("level", level, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
        z = special.ndtri(0.5 + level / 2)  # the normal quantile (what stats.norm.ppf returns)
        A_ci = (self.A * np.exp(-z * self.se_log_A), self.A * np.exp(z * self.se_log_A))
        k_ci = (self.k - z * self.se_k, self.k + z * self.se_k)
        return A_ci, k_ci


def _mle_exists(d, c):
    """True where the Poisson MLE exists: positive counts at two distinct depths,
    or at a single depth strictly inside the range of depths."""
    pos = c > 0
    dmin_pos = np.where(pos, d, np.inf).min(axis=-1)
    dmax_pos = np.where(pos, d, -np.inf).max(axis=-1)
    return pos.any(axis=-1) & ((dmin_pos < dmax_pos) | ((dmin_pos > d.min()) & (dmax_pos < d.max())))


def fit_intensity(depths, counts, exposure=1.0, tol=1e-10, max_iter=100):
    r"""Poisson maximum likelihood for :math:`(A, k)` from fill counts at several depths.

    With :math:`\theta = (\log A, k)` and :math:`z_j = (1, -\delta_j)` the model is
    a Poisson regression :math:`\log\mu_j = \log E_j + z_j^\top\theta`. Its
    log-likelihood is concave; Newton's method with step halving maximises it:

    .. math:: U(\theta) = \sum_j (y_j - \mu_j)\,z_j,\qquad
              \mathcal I(\theta) = \sum_j \mu_j\,z_j z_j^\top,\qquad
              \theta \leftarrow \theta + \mathcal I^{-1} U.

    At the optimum :math:`\mathcal I(\hat\theta)^{-1}` estimates the covariance
    of :math:`\hat\theta` (observed and expected information coincide for the
    log link). Many data sets are fitted at once, vectorised over the leading
    axes of ``counts``.

    Parameters
    ----------
    depths : array_like, shape (m,)
        Depths, at least two distinct values.
    counts : array_like, shape (..., m)
        Non-negative integer fill counts at each depth.
    exposure : float or array_like, shape (m,)
        Time spent quoting at each depth, ``> 0``.
    tol : float
        Stop when every Newton step is below ``tol`` in both coordinates, ``tol > 0``.
    max_iter : int
        Iteration cap, ``>= 1``.

    Returns
    -------
    IntensityFit

    Raises
    ------
    ValueError
        For invalid input, if the MLE does not exist for some data set (all
        counts zero, or positive counts only at the shallowest or only at the
        deepest depth: then :math:`\hat k \to \pm\infty`), or if Newton's method
        has not converged after ``max_iter`` iterations.

    References
    ----------
    McCullagh and Nelder, *Generalized Linear Models* (1989), ch. 6; the book's
    chapter *Intensities*.

    Examples
    --------
    >>> depths = np.array([0.0, 0.5, 1.0, 1.5])
    >>> counts = np.array([200, 95, 48, 22])      # roughly 200 e^{-1.5 delta}
    >>> fit = fit_intensity(depths, counts, exposure=1.0)
    >>> round(float(fit.k), 3), round(float(fit.A), 1)
    (1.455, 199.5)
    >>> fit_intensity([0.0, 1.0], [5, 0])
    Traceback (most recent call last):
    ...
    ValueError: the Poisson MLE does not exist for data set 0: ...
    """
    d = _as_depths(depths)
    if np.unique(d).size < 2:
        raise ValueError("depths must contain at least two distinct values")
    e = _as_exposure(exposure, d.size)
    c = _check_counts(counts, d.size)
    tol = check_real("tol", tol, lo=0.0, lo_open=True)
    max_iter = check_int("max_iter", max_iter, lo=1)
    ok = _mle_exists(d, c)
    if not np.all(ok):
        bad = np.argwhere(~np.atleast_1d(ok))[0]
        raise ValueError(
            f"the Poisson MLE does not exist for data set {int(bad[0]) if bad.size else 0}: "
            "counts are all zero or positive only at the shallowest or deepest depth; "
            "add depths or exposure"
        )
    X = np.stack([np.ones_like(d), -d], axis=1)  # (m, 2)
    log_e = np.log(e)

    def loglik(th):  # without the constant -log n!
        eta = log_e + th @ X.T
        return np.sum(c * eta - np.exp(eta), axis=-1)

    # start: weighted least squares on log((n + 1/2) / E)
    y = np.log((c + 0.5) / e)
    w = c + 0.5
    G = np.einsum("...j,ja,jb->...ab", w, X, X)
    th = np.linalg.solve(G, np.einsum("...j,...j,ja->...a", w, y, X)[..., None])[..., 0]
    ll = loglik(th)
    for it in range(1, max_iter + 1):
        mu = np.exp(log_e + th @ X.T)
        U = np.einsum("...j,ja->...a", c - mu, X)
        info = np.einsum("...j,ja,jb->...ab", mu, X, X)
        step = np.linalg.solve(info, U[..., None])[..., 0]
        scale = np.ones(ll.shape)
        for _ in range(60):  # step halving: the log-likelihood never decreases
            new = th + scale[..., None] * step
            ll_new = loglik(new)
            worse = ll_new < ll - 1e-12 * np.abs(ll)
            if not np.any(worse):
                break
            scale = np.where(worse, 0.5 * scale, scale)
        th, ll = new, ll_new
        if np.all(np.abs(scale[..., None] * step) <= tol * (1.0 + np.abs(th))):
            break
    else:
        raise ValueError(f"Newton's method did not converge in max_iter={max_iter} iterations; "
                         "raise max_iter")
    mu = np.exp(log_e + th @ X.T)
    cov = np.linalg.inv(np.einsum("...j,ja,jb->...ab", mu, X, X))
    se = np.sqrt(np.diagonal(cov, axis1=-2, axis2=-1))
    corr = cov[..., 0, 1] / (se[..., 0] * se[..., 1])
    full_ll = ll - special.gammaln(c + 1.0).sum(axis=-1)

    def out(a):
        return float(a) if np.ndim(a) == 0 else a

    return IntensityFit(A=out(np.exp(th[..., 0])), k=out(th[..., 1]), se_log_A=out(se[..., 0]),
                        se_k=out(se[..., 1]), corr=out(corr), loglik=out(full_ll), n_iter=it)


def k_from_flow_ratio(tick, ratio=2.0):
    r"""Decay :math:`k` from the desk rule "one tick tighter multiplies flow by ``ratio``".

    .. math:: \frac{\lambda(\delta-\text{tick})}{\lambda(\delta)} = e^{k\,\text{tick}} = r
              \quad\Longrightarrow\quad k = \frac{\ln r}{\text{tick}}.

    With depths measured in ticks (``tick = 1``) and ``ratio = 2`` this is the seed
    article's :math:`k = \ln 2`; in price units it is :math:`\ln 2` *per tick*.

    Parameters
    ----------
    tick : float
        Tick size in the price unit used for depths, ``tick > 0``.
    ratio : float
        Flow multiplier for one tick tighter, ``ratio > 1``.

    Returns
    -------
    float
        :math:`k` per price unit.

    Raises
    ------
    ValueError
        If ``tick <= 0`` or ``ratio <= 1``.

    References
    ----------
    Sud (2025), section "Choosing and calibrating A and k"; the book's chapter *Intensities*.

    Examples
    --------
    >>> round(k_from_flow_ratio(1.0), 6)          # depths in ticks
    0.693147
    >>> round(k_from_flow_ratio(0.01), 3)         # depths in dollars, one-cent tick
    69.315
    """
    tick = check_real("tick", tick, lo=0.0, lo_open=True)
    ratio = check_real("ratio", ratio, lo=1.0, lo_open=True)
    return float(np.log(ratio) / tick)


def microfoundation(Lambda, zeta, K):
    r"""Avellaneda--Stoikov (2008) intensity parameters from order sizes and impact.

    Market orders arrive at rate :math:`\Lambda`; their sizes have the tail
    (Avellaneda and Stoikov write the exponent :math:`\alpha`; the book keeps
    :math:`\alpha` for the GLFT coefficient and writes it :math:`\zeta`)
    :math:`f^Q(q) \propto q^{-1-\zeta}`; an order of size :math:`Q` moves the
    price by :math:`\Delta p = \ln(Q)/K`. A quote at depth :math:`\delta` is
    reached when :math:`\Delta p > \delta`, so

    .. math:: \lambda(\delta) = \Lambda\,P(\ln Q > K\delta)
              = \Lambda \int_{e^{K\delta}}^\infty q^{-1-\zeta}\,dq
              = \frac{\Lambda}{\zeta}\,e^{-\zeta K\delta},
              \qquad A = \frac{\Lambda}{\zeta},\quad k = \zeta K.

    The decay :math:`k=\zeta K` is robust. The prefactor is not: the integral
    uses the *unnormalised* tail :math:`q^{-1-\zeta}`. With a Pareto law of
    minimum size :math:`q_{\min}` (density :math:`\zeta q_{\min}^\zeta q^{-1-\zeta}`)
    the same argument gives :math:`A = \Lambda q_{\min}^{\zeta}`, valid for
    :math:`\delta \ge \ln(q_{\min})/K`; see :func:`simulate_impact_counts`.

    Parameters
    ----------
    Lambda : float
        Arrival rate of market orders, ``> 0``.
    zeta : float
        Tail exponent of order sizes, ``> 0``.
    K : float
        Inverse impact scale, :math:`\Delta p = \ln(Q)/K`, ``> 0``.

    Returns
    -------
    A, k : float
        :math:`(\Lambda/\zeta, \zeta K)`, as written by Avellaneda and Stoikov.

    Raises
    ------
    ValueError
        If a parameter is not a finite positive number.

    References
    ----------
    Avellaneda and Stoikov (2008), section 2.5; the book's chapter *Intensities*.

    Examples
    --------
    >>> microfoundation(Lambda=30.0, zeta=1.5, K=2.0)
    (20.0, 3.0)
    """
    Lambda = check_real("Lambda", Lambda, lo=0.0, lo_open=True)
    zeta = check_real("zeta", zeta, lo=0.0, lo_open=True)
    K = check_real("K", K, lo=0.0, lo_open=True)
    return Lambda / zeta, zeta * K


def simulate_impact_counts(depths, Lambda, zeta, K, horizon, q_min=1.0, rng=None):
    r"""Count the market orders whose impact reaches each depth (Monte Carlo check of
    :func:`microfoundation`).

    Draws :math:`N \sim \mathrm{Poisson}(\Lambda\,\text{horizon})` orders with
    Pareto sizes :math:`Q = q_{\min} U^{-1/\zeta}` and impacts
    :math:`\ln(Q)/K`, and returns for each depth the number of orders with impact
    above it. The expected count is :math:`\text{horizon}\cdot\Lambda\,
    \min(1, q_{\min}^{\zeta} e^{-\zeta K\delta})`.

    Parameters
    ----------
    depths : array_like, shape (m,)
    Lambda, zeta, K : float
        As in :func:`microfoundation`, all ``> 0``.
    horizon : float
        Observation time, ``> 0``.
    q_min : float
        Minimum order size, ``> 0``.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    counts : ndarray of int64, shape (m,)

    Examples
    --------
    >>> simulate_impact_counts([0.0, 0.5], 10.0, 1.5, 2.0, horizon=100.0, rng=1).shape
    (2,)
    """
    d = _as_depths(depths)
    Lambda = check_real("Lambda", Lambda, lo=0.0, lo_open=True)
    zeta = check_real("zeta", zeta, lo=0.0, lo_open=True)
    K = check_real("K", K, lo=0.0, lo_open=True)
    horizon = check_real("horizon", horizon, lo=0.0, lo_open=True)
    q_min = check_real("q_min", q_min, lo=0.0, lo_open=True)
    gen = as_generator(rng)
    n = gen.poisson(Lambda * horizon)
    impact = np.sort(np.log(q_min) - np.log(gen.random(n)) / zeta) / K  # ln(Q)/K
    return (n - np.searchsorted(impact, d, side="right")).astype(np.int64)
