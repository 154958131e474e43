r"""Entrywise-accurate exponentials of tridiagonal Metzler matrices.

A Metzler (essentially non-negative) matrix has non-negative off-diagonal
entries. Both linear systems of the book are of this kind: the HJB after the
change of variable :math:`w=e^{kV}`, and the generator of the inventory chain.
For such an :math:`M`, :math:`B = M + cI` is entrywise non-negative when
:math:`c \ge \max_i(-M_{ii})`, and

.. math:: e^{Mh} = e^{-ch}\,\sum_{m\ge 0} \frac{(Bh)^m}{m!}

is a sum of non-negative terms: there is no cancellation, so every entry of the
exponential, however small, is computed to high *relative* accuracy. Scaling
and squaring keeps the terms non-negative. This is the approach of Xue and Ye
(2013). A plain ``expm`` or an eigen-expansion, in contrast, only gives each
entry to an absolute accuracy of about ``eps * norm``, which destroys entries
such as :math:`e^{-1000}` that carry the value function at large inventories.

Two flavours are provided:

* ``expm_metzler`` works in ordinary floating point. Entries that fall
  below ``floor`` times their row maximum are set to zero (an absolute error of
  at most ``floor * rowmax``, which also keeps subnormal numbers, and their
  hundredfold slowdown, out of later products); that is harmless as long as
  the vectors it is applied to span far fewer than ``1/floor`` orders of
  magnitude, which the callers check.
* ``log_expm_metzler`` works with logarithms throughout and has no such
  floor: it resolves entries down to ``exp(-1e300)`` if need be.

All functions are batched over leading axes. A tridiagonal matrix is given by
``lower`` (``M[i, i-1]``, length ``n-1``), ``diag`` (length ``n``) and
``upper`` (``M[i, i+1]``, length ``n-1``).

Chapters: *HJB* (the propagator of :math:`w = e^{kV}`) and *Master equation*
(the transition matrices of the inventory chain).
"""
from __future__ import annotations

import functools

import numpy as np

__all__ = []  # private module

_TOL = 2.0**-58  # relative size of the last Taylor term that is kept
_THETA_MAX = 0.5  # Taylor is applied to (B h / 2**s) with norm at most this
_MAX_TERMS = 5000


def _shifted(lower, diag, upper, h, theta_max=_THETA_MAX):
    """Return the shift c, the non-negative scaled B*h/2**s and s."""
    lower = np.asarray(lower, dtype=float)
    diag = np.asarray(diag, dtype=float)
    upper = np.asarray(upper, dtype=float)
    c = np.maximum(-diag.min(axis=-1), 0.0)
    bd = diag + c[..., None]
    rows = bd.copy()
    rows[..., 1:] += lower
    rows[..., :-1] += upper
    beta = float(rows.max()) * h
    s = 0 if beta <= theta_max else int(np.ceil(np.log2(beta / theta_max)))
    hs = h / 2.0**s
    return c, lower * hs, bd * hs, upper * hs, hs, s


def _tri_right_mul(X, lo, d, up):
    """``X @ B`` for a batch of dense ``X`` and tridiagonal ``B``."""
    Y = X * d[..., None, :]
    Y[..., :, 1:] += X[..., :, :-1] * up[..., None, :]
    Y[..., :, :-1] += X[..., :, 1:] * lo[..., None, :]
    return Y


FLOOR = 1e-120  # default relative floor of the floating-point exponentials


def flush(S, floor=FLOOR):
    """Zero the entries of ``S`` below ``floor`` times their row maximum, in place."""
    S[S < floor * S.max(axis=-1, keepdims=True)] = 0.0
    return S


def expm_metzler(lower, diag, upper, h, *, floor=FLOOR, theta_max=_THETA_MAX):
    """Exponential ``exp(M h)`` of tridiagonal Metzler matrices, in floating point.

    Every entry at least ``floor`` times its row maximum is accurate to a few
    ulps relative to itself; smaller entries are set to zero. The result is
    entrywise non-negative. ``theta_max`` bounds the norm of the scaled matrix
    the Taylor series is summed for (smaller: fewer terms, more squarings).
    """
    c, lo, d, up, hs, s = _shifted(lower, diag, upper, h, theta_max)
    n = d.shape[-1]
    batch = d.shape[:-1]
    S = np.broadcast_to(np.eye(n), batch + (n, n)).copy()
    T = S.copy()
    for m in range(1, _MAX_TERMS):
        T = _tri_right_mul(T, lo, d, up)
        T /= m
        S += T
        rowmax = S.max(axis=-1, keepdims=True)
        # converged where it matters; entries staying below the floor are flushed
        if np.all(T <= _TOL * S + 1e-3 * floor * rowmax):
            break
    else:  # pragma: no cover - guarded by the scaling above
        raise RuntimeError("Taylor series of the Metzler exponential did not converge")
    S *= np.exp(-c * hs)[..., None, None]
    flush(S, floor)
    # exp(Mh) itself may exceed the float range (the callers then use the log-space
    # path); let it overflow to inf quietly instead of warning
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(s):
            S = flush(S @ S, floor)
    return S


def _lse(stack, axis):
    """log(sum(exp(stack))) along ``axis``, safe when every term is -inf."""
    m = np.max(stack, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    with np.errstate(divide="ignore"):
        out = np.log(np.sum(np.exp(stack - m), axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis)


def _log(a):
    with np.errstate(divide="ignore"):
        return np.log(a)


def _log_tri_right_mul(LX, llo, ld, lup):
    """log of ``X @ B`` given ``log X`` and the logs of tridiagonal ``B``."""
    ninf = np.full(LX.shape[:-1] + (1,), -np.inf)
    left = np.concatenate([ninf, LX[..., :, :-1] + lup[..., None, :]], axis=-1)
    mid = LX + ld[..., None, :]
    right = np.concatenate([LX[..., :, 1:] + llo[..., None, :], ninf], axis=-1)
    return _lse(np.stack([left, mid, right]), axis=0)


def log_matmul(LA, LB):
    """log of ``A @ B`` from ``log A`` and ``log B`` (batched, no underflow)."""
    out = np.empty(np.broadcast_shapes(LA.shape[:-1], LB.shape[:-2] + (1,))[:-1]
                   + (LA.shape[-2], LB.shape[-1]))
    # loop over rows to keep memory at n**2 per batch element
    for i in range(LA.shape[-2]):
        out[..., i, :] = _lse(LA[..., i, :, None] + LB, axis=-2)
    return out


def log_expm_metzler(lower, diag, upper, h):
    """Entrywise logarithm of ``exp(M h)`` for tridiagonal Metzler ``M``.

    Works in log space throughout, so entries far below the floating-point
    range (``exp(-5000)``, say) are still resolved to relative accuracy.
    Cost: ``O(n**3)`` per matrix (Taylor terms until every entry converges,
    plus ``s`` log-space squarings).
    """
    c, lo, d, up, hs, s = _shifted(lower, diag, upper, h)
    n = d.shape[-1]
    batch = d.shape[:-1]
    llo, ld, lup = _log(lo), _log(d), _log(up)
    eye = np.where(np.eye(n, dtype=bool), 0.0, -np.inf)
    LS = np.broadcast_to(eye, batch + (n, n)).copy()
    LT = LS.copy()
    ok_streak = 0
    for m in range(1, _MAX_TERMS):
        LT = _log_tri_right_mul(LT, llo, ld, lup) - np.log(m)
        LS = np.logaddexp(LS, LT)
        with np.errstate(invalid="ignore"):
            rel = np.where(np.isfinite(LT), LT - LS, -np.inf)
        if m >= n - 1 and np.all(rel <= np.log(_TOL)):
            ok_streak += 1
            if ok_streak >= 2:
                break
        else:
            ok_streak = 0
    else:  # pragma: no cover
        raise RuntimeError("log-space Taylor series did not converge")
    LS = LS - (c * hs)[..., None, None]
    for _ in range(s):
        LS = log_matmul(LS, LS)
    return LS


def log_matvec(LP, lw):
    """log of ``P @ w`` from ``log P`` (..., n, n) and ``log w`` (..., n)."""
    return _lse(LP + lw[..., None, :], axis=-1)


def log_vecmat(lr, LP):
    """log of ``r @ P`` from ``log r`` (..., n) and ``log P`` (..., n, n)."""
    return _lse(lr[..., :, None] + LP, axis=-2)


def _poisson_tail_log(mu, K):
    """log of an upper bound on sum_{m>K} mu**m / m! (mu < K + 1)."""
    from math import lgamma, log

    first = (K + 1) * log(mu) - lgamma(K + 2)
    ratio = mu / (K + 2)
    return first - log(1.0 - ratio)


@functools.lru_cache(maxsize=16)
def _sectors(hd_bytes, n, K):
    """The non-negative sector matrices G[p, q, i] of :func:`expm_two_rate`.

    They depend only on the grid, ``h * (dvec + c)`` and the cut ``K``, not on
    the rates, so a fixed-point iteration that changes only the rates reuses
    them (cached; the array is returned read-only).
    """
    hd = np.frombuffer(hd_bytes, dtype=float)
    p = np.arange(K + 1)[:, None, None]
    q = np.arange(K + 1)[None, :, None]
    i = np.arange(n)[None, None, :]
    col = i + q - p
    keep = (col >= 0) & (col <= n - 1) & (p + q <= K)
    hd_col = np.where(keep, hd[np.clip(col, 0, n - 1)], 0.0)
    T = np.zeros((K + 1, K + 1, n))
    T[0, 0] = 1.0
    G = T.copy()
    for m in range(1, _MAX_TERMS):
        Tn = T * hd_col
        Tn[1:] += T[:-1]
        Tn[:, 1:] += T[:, :-1]
        Tn *= keep
        Tn /= m
        G += Tn
        T = Tn
        if m > K and np.all(T <= _TOL * G):
            break
    else:  # pragma: no cover
        raise RuntimeError("expm_two_rate series did not converge")
    G.setflags(write=False)
    return G


def expm_two_rate(dvec, a, b, h, log_range, *, log=False):
    r"""Batch of ``exp(h M_n)`` for ``M_n = a_n S_- + b_n S_+ + diag(dvec)``.

    ``S_-`` and ``S_+`` are the 0/1 shifts to the lower and upper neighbour,
    ``dvec <= 0`` is shared by the batch and only the scalars ``a_n, b_n >= 0``
    vary. Expanding in powers of :math:`\alpha_n = h a_n` and
    :math:`\beta_n = h b_n`,

    .. math:: e^{hM_n} = e^{-ch}\sum_{p,q\ge0}\alpha_n^p\beta_n^q\,G_{p,q},

    where :math:`G_{p,q}\ge0` collects the words with ``p`` down-shifts and
    ``q`` up-shifts (a single diagonal at offset ``q-p``) and does not depend
    on ``n``. So the whole batch costs one small set of ``G`` plus a matrix
    product, instead of one exponential per step. All terms are non-negative.

    The series in ``p + q`` is cut where its tail is below ``2**-58`` times
    ``exp(-log_range)``: entries of the result are accurate relative to
    themselves when they matter for vectors spanning at most ``log_range``
    e-folds. Returns None (use ``expm_metzler``) when a step holds so many
    fills that the cut would not do: ``alpha * beta > 1/4`` or ``alpha + beta > n``.
    With ``log=True`` it returns the entrywise logarithm instead (``-inf`` outside
    the computed band): each diagonal is summed after scaling its coefficients by
    their largest, so entries far below the floating-point range are resolved.
    """
    dvec = np.asarray(dvec, dtype=float)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    n = dvec.size
    alpha, beta = h * a, h * b
    mu = float(alpha.max() + beta.max())
    # Words that step back and forth cost a factor alpha*beta per extra pair of steps.
    if float((alpha * beta).max()) > 0.25 or mu > n:
        return None
    c = max(0.0, -dvec.min())
    hd = h * (dvec + c)
    target = np.log(_TOL) - log_range - 2.0 * c * h
    # Every diagonal is reached at p + q = |d| <= n - 1; the cut also keeps n more
    # levels of back-and-forth words beyond the longest one, each (alpha*beta) <= 1/4 smaller.
    K_cap = 2 * (n - 1) + 2
    K = 0 if mu == 0 else min(int(np.ceil(mu)) + 1, K_cap)
    while 0 < K < K_cap and _poisson_tail_log(mu, K) > target:
        K += 1
    if not log and K == K_cap and _poisson_tail_log(mu, K) > target:
        return None  # floating point would need more words than the cut keeps
    G = _sectors(hd.tobytes(), n, K)
    N = a.size
    out = np.full((N, n, n), -np.inf) if log else np.zeros((N, n, n))
    with np.errstate(divide="ignore"):
        la, lb = np.log(alpha), np.log(beta)
    rows = np.arange(n)
    for d in range(-min(K, n - 1), min(K, n - 1) + 1):
        pp = np.arange(max(0, -d), K + 1)
        pp = pp[pp + (pp + d) <= K]
        if pp.size == 0:
            continue
        qq = pp + d
        with np.errstate(invalid="ignore"):
            lc = (np.where(pp > 0, pp * la[:, None], 0.0)
                  + np.where(qq > 0, qq * lb[:, None], 0.0))  # (N, sectors)
        r = rows[(rows + d >= 0) & (rows + d <= n - 1)]
        if log:
            top = lc.max(axis=1, keepdims=True)
            top = np.where(np.isfinite(top), top, 0.0)
            with np.errstate(divide="ignore"):
                vals = np.log(np.exp(lc - top) @ G[pp, qq][:, r]) + top
        else:
            vals = np.exp(lc) @ G[pp, qq][:, r]  # (N, len(r)): entries (i, i+d)
        out[:, r, r + d] = vals
    if log:
        return out - c * h
    out *= np.exp(-c * h)
    return out
