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
