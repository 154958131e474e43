r"""The exact backward propagation of :math:`w = e^{kV}`, shared by three solvers.

With :math:`w = e^{kV}` the HJB of :mod:`mmlib.hjb` is the linear system
:math:`-\partial_t w = M_t w` with the tridiagonal Metzler matrix

.. math:: M_t = \tfrac{1}{e}\big(a_t S_- + b_t S_+\big) - k\eta\,\mathrm{diag}(x^2),

where :math:`a_t, b_t` are the intensity scales of the ask and the bid
(:math:`A` for one maker, :math:`A e^{k\bar\delta_t}` under the mean-field
coupling). Over a step of length :math:`h` the propagator
:math:`P_n = e^{hM_n}` is computed entrywise to high relative accuracy
(:mod:`mmlib._metzler`), and :math:`w_n = P_n w_{n+1}` is swept backward from
:math:`w_T = e^{-k\gamma x^2}`: in floating point with rescaling while
:math:`w` spans at most ``LINEAR_LOG_RANGE`` e-folds, in log space otherwise.

Private module: used by :mod:`mmlib.hjb` (``solve_hjb``),
:mod:`mmlib.mean_field` (``solve_mean_field``) and
:mod:`mmlib.avellaneda_stoikov` (``solve_glft``) as peers. The book's chapters
*HJB* and *Mean field* derive the linearisation.
"""
from __future__ import annotations

import numpy as np

from . import _metzler

__all__ = ["LINEAR_LOG_RANGE", "w_tridiag", "propagate_linear", "sweep", "sweep_blocked",
           "propagate_log", "solve_logw"]

# Linear-space propagation is used while w spans at most this many e-folds
# (e^200 ~ 1e87, far inside 1 / _metzler.FLOOR, so the flushed entries of the
# propagators change w by less than 1e-30 relative).
LINEAR_LOG_RANGE = 200.0

def w_tridiag(params, a, b):
    """Tridiagonal parts of M for intensity scales ``a`` (ask) and ``b`` (bid)."""
    n = params.n_states
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    lower = (a / np.e)[..., None] * np.ones(n - 1)
    upper = (b / np.e)[..., None] * np.ones(n - 1)
    diag = np.broadcast_to(-params.k * params.eta * params.x**2, lower.shape[:-1] + (n,))
    return lower, diag, upper


def propagate_linear(P, lw_T, n_steps, growth):
    """Backward sweep ``w_n = P_n w_{n+1}`` in floating point with rescaling.

    ``growth`` bounds ``|log max(P w) - log max(w)|`` per step; the vector is
    rescaled whenever that many steps could have moved it by 40 e-folds.
    For a constant ``P`` the sweep is blocked: ``P^B`` carries the vector
    across blocks of ``B`` steps and one matrix product fills in the steps
    inside all blocks at once (the same non-negative arithmetic, fewer calls).
    Returns log w of shape (n_steps+1, n), or None when w spans too many
    orders of magnitude for floating point (the caller then works in log space).
    """
    c = lw_T.max()
    w_T = np.exp(lw_T - c)
    if P.ndim == 2 and n_steps >= 64:
        W, logscale = sweep_blocked(P, w_T, n_steps, growth)
    else:
        W, logscale = sweep(P, w_T, n_steps, growth)
    if W is None or not np.all(np.isfinite(W)):
        return None
    rowmax = W.max(axis=1)
    if np.any(W.min(axis=1) < np.exp(-LINEAR_LOG_RANGE) * rowmax):
        return None
    return np.log(W) + (logscale + c)[:, None]


def sweep(P, w_T, n_steps, growth):
    const = P.ndim == 2
    W = np.empty((n_steps + 1, w_T.size))
    logscale = np.zeros(n_steps + 1)
    W[n_steps] = w_T
    acc = 0.0
    every = max(1, int(min(40.0 / max(growth, 1e-300), n_steps + 1)))
    for i in range(n_steps - 1, -1, -1):
        np.dot(P if const else P[i], W[i + 1], out=W[i])
        if (n_steps - i) % every == 0 or i == 0:
            s = W[i].max()
            if not (s > 0 and np.isfinite(s)):
                return None, None
            W[i] /= s
            acc += np.log(s)
        logscale[i] = acc
    return W, logscale


def sweep_blocked(P, w_T, n_steps, growth, B=8):
    n = w_T.size
    powers = np.empty((B, n, n))  # powers[j] = P^(j+1)
    powers[0] = P
    for j in range(1, B):
        powers[j] = _metzler.flush(powers[j - 1] @ P)
    if not np.all(np.isfinite(powers)):
        return None, None
    n_blocks = n_steps // B
    # coarse sweep: V[:, m] = w at index n_steps - m*B, each column rescaled to max 1
    V = np.empty((n, n_blocks + 1))
    scale = np.zeros(n_blocks + 1)
    V[:, 0] = w_T
    for m in range(1, n_blocks + 1):
        v = powers[B - 1] @ V[:, m - 1]
        s = v.max()
        if not (s > 0 and np.isfinite(s)):
            return None, None
        V[:, m] = v / s
        scale[m] = scale[m - 1] + np.log(s)
    W = np.empty((n_steps + 1, n))
    logscale = np.empty(n_steps + 1)
    # fine fill-in: rows n_steps - m*B - j for j = 1..B-1 from column m
    F = (powers[: B - 1].reshape((B - 1) * n, n) @ V[:, :n_blocks]).reshape(B - 1, n, n_blocks)
    idx = n_steps - np.arange(n_blocks + 1) * B
    W[idx] = V.T
    logscale[idx] = scale
    for j in range(1, B):
        W[idx[:-1] - j] = F[j - 1].T
        logscale[idx[:-1] - j] = scale[:-1]
    # the remaining steps below the last full block
    last = idx[-1]
    if last > 0:
        rest, rest_scale = sweep(P, V[:, -1], last, growth)
        if rest is None:
            return None, None
        W[: last + 1] = rest
        logscale[: last + 1] = rest_scale + scale[-1]
    return W, logscale


def propagate_log(LP, lw_T, n_steps):
    """Backward sweep in log space: ``lw_n = log(P_n exp(lw_{n+1}))``."""
    const = LP.ndim == 2
    L = np.empty((n_steps + 1, lw_T.size))
    L[n_steps] = lw_T
    for i in range(n_steps - 1, -1, -1):
        L[i] = _metzler.log_matvec(LP if const else LP[i], L[i + 1])
    return L


def solve_logw(params, n_steps, a, b, force_log=False):
    """log w on the grid for intensity scales a, b (scalars or per-interval arrays).

    Returns ``(lw, P, LP)``: the log of w, and whichever propagator was used
    (the other is None). P[n] (or LP[n]) maps t_{n+1} to t_n.
    """
    h = params.T / n_steps
    lw_T = -params.k * params.gamma * params.x**2
    lower, diag, upper = w_tridiag(params, a, b)
    if not force_log and (lw_T.max() - lw_T.min()) <= LINEAR_LOG_RANGE:
        P = _metzler.expm_metzler(lower, diag, upper, h)
        if np.all(np.isfinite(P)):
            growth = h * (np.max(lower) + np.max(upper) - np.min(diag))
            with np.errstate(over="ignore", invalid="ignore"):
                lw = propagate_linear(P, lw_T, n_steps, growth)
            if lw is not None:
                return lw, P, None
    LP = _metzler.log_expm_metzler(lower, diag, upper, h)
    return propagate_log(LP, lw_T, n_steps), None, LP
