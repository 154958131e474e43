r"""Fast inner loop of the mean-field fixed point (private).

For held crowd averages the HJB on step :math:`n` is :math:`-\dot w = M_n w` with

.. math:: M_n = a_n/e\,S_- + b_n/e\,S_+ + \mathrm{diag}(-k\eta x^2),

so one fixed-point iteration needs the propagators :math:`P_n = e^{hM_n}` of every
step, a backward sweep :math:`w_n = P_n w_{n+1}` and the forward Doob transform
:math:`\rho_{n+1} = (\rho_n / w_n) P_n \, w_{n+1}`.

* :func:`propagators` builds every :math:`P_n` at once from the sector expansion of
  :func:`mmlib._metzler.expm_two_rate` (non-negative terms only, so entries keep their
  relative accuracy), written straight into the diagonals of the dense output.
* :func:`solve_given_crowd` works in floating point while :math:`w` spans at most
  :data:`LINEAR_SPAN` e-folds, and in log space only on the steps where it spans more.
  Those are the first steps back from a steep terminal penalty
  :math:`e^{-k\gamma x^2}` (up to :math:`k\gamma x_{\max}^2 = 1350` e-folds on the
  dashboard's sliders): after a few steps the value function is far flatter, and the
  rest of the sweep is ordinary floating point. The log-space steps use :math:`P_n` with no
  floor (:func:`expm_full`; an entry too small for floating point that could matter sends
  the step to :func:`mmlib._metzler.log_expm_metzler`), so the whole sweep is exact on the grid.
* On the floating-point steps the crowd's skew is removed by the change of variables
  :math:`w = \mathrm{diag}(r_n^x)\,\hat w`, :math:`r_n = \sqrt{a_n/b_n}`: the shift
  invariance :math:`V \to V + cx` of the mean-field chapter, as a similarity transform.
  The propagator is then symmetric in the geometric-mean rate :math:`\sqrt{a_n b_n}`,
  whose series is short even when one side of a skewed crowd fills many times a step.
* :func:`doob_population` evolves the population with the stochastic matrices
  :math:`Q_n[x,y] = P_n[x,y]\,w_{n+1}(y)/w_n(x)`, taken from log space on log steps.
"""
from __future__ import annotations

import functools

import numpy as np

from . import _metzler

__all__ = []  # private module

#: Floating-point steps while w spans at most this many e-folds (e^500 ~ 1e217; with the
#: 40 e-folds the sweep lets a vector drift between rescalings, w, 1/w and rho/w stay
#: inside the floating-point range). The propagators of those steps are flushed below FLOOR
#: times the diagonal entry of their row, which changes w by less than
#: n * FLOOR * e^500 < 1e-80 relative; products that underflow are smaller still.
LINEAR_SPAN = 500.0
FLOOR = 1e-300
# Entries of an unfloored propagator below this are not trusted (subnormal or underflowed).
_TINY = 1e-300


@functools.lru_cache(maxsize=32)
def _plan(hd_bytes, n, K):
    """Per diagonal d: the sector exponents (p, q) with q - p = d and the G rows they need.

    Returns (P_all, Q_all, slices, blocks): the exponents of every sector, for each
    diagonal the slice of sectors and the read-only block G[p, p+d, rows] (S_d, n - |d|).
    """
    G = _metzler._sectors(hd_bytes, n, K)
    P_all, Q_all, slices, blocks = [], [], [], []
    start = 0
    for d in range(-min(K, n - 1), min(K, n - 1) + 1):
        pp = np.arange(max(0, -d), K + 1)
        pp = pp[2 * pp + d <= K]
        if pp.size == 0:
            continue
        qq = pp + d
        rows = np.arange(max(0, -d), n - max(0, d))
        block = np.ascontiguousarray(G[pp, qq][:, rows])
        block.setflags(write=False)
        P_all.append(pp)
        Q_all.append(qq)
        slices.append((d, slice(start, start + pp.size)))
        blocks.append(block)
        start += pp.size
    P_all = np.concatenate(P_all).astype(float)
    Q_all = np.concatenate(Q_all).astype(float)
    return P_all, Q_all, tuple(slices), tuple(blocks)


@functools.lru_cache(maxsize=64)
def _tail_logs(la, lb, n, top):
    r"""``out[K]`` = log of a bound on the words beyond a cut K:
    :math:`\sum_{p+q>K,\ |q-p|<n} \alpha^p\beta^q/(p!\,q!)` (a word with p downs and q
    ups weighs at most :math:`\alpha^p\beta^q/(p+q)!` and there are
    :math:`\binom{p+q}{p}` of them; a net move of n or more leaves the grid). Terms
    beyond ``p + q = top`` are far below the rest (factorial decay)."""
    from scipy.special import gammaln

    m = np.arange(top)
    p = m[:, None]
    q = m[None, :]
    lg = gammaln(m + 1.0)
    with np.errstate(invalid="ignore"):
        terms = np.where(np.abs(q - p) < n, p * la + q * lb - lg[:, None] - lg[None, :], -np.inf)
    # per antidiagonal p + q = s, then suffix sums over s > K
    flat = np.full((2 * top - 1, top), -np.inf)
    flat[(p + q).ravel(), np.broadcast_to(p, (top, top)).ravel()] = terms.ravel()
    per_s = _metzler._lse(flat, axis=1)
    suffix = np.logaddexp.accumulate(per_s[::-1])[::-1]
    return np.append(suffix[1:], -np.inf)  # out[K] = sum over s > K


def _cut(alpha, beta, n, c, h, log_range):
    """Series cut K for expm_two_rate's expansion, or None when it cannot be used."""
    a_max, b_max = float(alpha.max()), float(beta.max())
    if float((alpha * beta).max()) > 0.25 or a_max + b_max > n:
        return None
    if a_max + b_max == 0:
        return 0
    target = np.log(_metzler._TOL) - log_range - 2.0 * c * h
    # every diagonal is reached at p + q = |d| <= n - 1; beyond that, back-and-forth words
    step = 8
    K_cap = 2 * (n - 1) + 64
    # rates rounded up (a bound stays a bound), so nearby iterates share the cached table
    la = np.ceil(20.0 * np.log(a_max)) / 20.0
    lb = np.ceil(20.0 * np.log(b_max)) / 20.0
    tails = _tail_logs(la, lb, n, K_cap + 8 * step)
    ok = np.flatnonzero(tails[:K_cap + 1] <= target)
    if not np.isfinite(log_range):
        return K_cap
    if ok.size == 0:
        return None
    # a multiple of the step: small changes of the rates between fixed-point iterations then
    # reuse the cached sector tables (a longer cut is only more accurate)
    K = step * int(np.ceil(max(ok[0], 1) / step))
    return min(K, K_cap)


def propagators(dvec, a, b, h, log_range, *, log=False, floor=0.0, work=None):
    """Every ``exp(h M_n)``, ``M_n = a_n S_- + b_n S_+ + diag(dvec)``, shape (N, n, n).

    The same expansion and cut as :func:`mmlib._metzler.expm_two_rate` (accurate relative
    to themselves for entries that matter to vectors spanning ``log_range`` e-folds); with
    ``log=True`` the entrywise logarithm. Falls back to :func:`mmlib._metzler.expm_metzler`
    (or its log version) when the expansion does not apply. ``floor``: flush entries below
    of the diagonal entry of their row (floating point only). ``work``: a dict that keeps
    the output buffer between calls (its off-band zeros are reused).
    """
    dvec = np.asarray(dvec, dtype=float)
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    n, N = dvec.size, a.size
    alpha, beta = h * a, h * b
    c = max(0.0, -dvec.min())
    K = _cut(alpha, beta, n, c, h, log_range)
    if K is None:
        lower = np.broadcast_to(a[:, None], (N, n - 1))
        upper = np.broadcast_to(b[:, None], (N, n - 1))
        diag = np.broadcast_to(dvec, (N, n))
        if log:
            return _metzler.log_expm_metzler(lower, diag, upper, h)
        return _metzler.expm_metzler(lower, diag, upper, h, floor=floor or _metzler.FLOOR)
    hd = h * (dvec + c)
    P_all, Q_all, slices, blocks = _plan(hd.tobytes(), n, K)
    with np.errstate(divide="ignore", invalid="ignore"):
        la, lb = np.log(alpha), np.log(beta)
        # log of alpha^p beta^q for every sector (p = 0 or q = 0 contributes 0, not 0 * -inf)
        lc = (np.where(P_all > 0, np.outer(la, P_all), 0.0)
              + np.where(Q_all > 0, np.outer(lb, Q_all), 0.0))
    if log:
        out = np.full((N, n * n), -np.inf)
        for (d, sl), block in zip(slices, blocks):
            part = lc[:, sl]
            top = part.max(axis=1, keepdims=True)
            top = np.where(np.isfinite(top), top, 0.0)
            with np.errstate(divide="ignore"):
                vals = np.log(np.exp(part - top) @ block) + top
            start = d if d >= 0 else -d * n
            out[:, start:start + (n - abs(d)) * (n + 1):n + 1] = vals
        out -= c * h
        return out.reshape(N, n, n)
    coef = np.exp(lc)
    coef *= np.exp(-c * h)
    # diagonal d of P goes to band[:, d] (contiguous writes); one gather makes it dense
    band, where = _band_layout(n, slices, N, work)
    thr = None
    for (d, sl), block in sorted(zip(slices, blocks), key=lambda sb: sb[0][0] != 0):
        vals = coef[:, sl] @ block
        if d == 0:
            # entries below floor times the diagonal entry of their row are flushed, a bound
            # at most floor times the row maximum (so within the error budget of the flush)
            thr = floor * vals
        elif floor and vals.min() < float(thr.min()):
            vals[vals < thr[:, max(0, -d):n - max(0, d)]] = 0.0
        band[:, where[d]] = vals
    # np.take keeps the rows C-contiguous (plain fancy indexing would not: slow matvecs)
    return np.take(band, _dense_index(n, slices), axis=1).reshape(N, n, n)


def _band_layout(n, slices, N, work):
    """Buffer (N, total band length + 1) with a final zero column, and each diagonal's columns."""
    key = (n, tuple(d for d, _ in slices), N)
    if work is not None and work.get("band_key") == key:
        return work["band"], work["band_where"]
    where, start = {}, 0
    for d, _ in slices:
        where[d] = slice(start, start + n - abs(d))
        start += n - abs(d)
    band = np.zeros((N, start + 1))
    if work is not None:
        work.update(band_key=key, band=band, band_where=where)
    return band, where


@functools.lru_cache(maxsize=32)
def _dense_index_cached(n, diags):
    index = np.full((n, n), -1)  # the final, always-zero, column of the band buffer
    start = 0
    for d in diags:
        rows = np.arange(max(0, -d), n - max(0, d))
        index[rows, rows + d] = start + np.arange(rows.size)
        start += rows.size
    index = index.ravel()
    index.setflags(write=False)
    return index


def _dense_index(n, slices):
    return _dense_index_cached(n, tuple(d for d, _ in slices))


_MU_EDGES = np.array([0.05, 0.2, 0.8, 3.2])


def grouped_propagators(dvec, a, b, h, log_range, floor, work):
    """:func:`propagators` for steps grouped by their expected number of fills
    ``h * (a + b)``: each group gets the series cut it needs, not the busiest step's."""
    group = np.searchsorted(_MU_EDGES, h * (a + b))
    kinds = np.unique(group)
    if kinds.size == 1:
        return propagators(dvec, a, b, h, log_range, floor=floor, work=work)
    n = dvec.size
    P = work.get("P_full")
    if P is None or P.shape != (a.size, n, n):
        P = work["P_full"] = np.empty((a.size, n, n))
    for g in kinds:
        idx = np.flatnonzero(group == g)
        P[idx] = propagators(dvec, a[idx], b[idx], h, log_range, floor=floor,
                             work=work.setdefault(("group", int(g)), {}))
    return P


def expm_full(a, b, dvec, h):
    """Every ``exp(h M_n)`` with no floor: each entry above 1e-300 to a few ulps of itself.

    Taylor series of the non-negative shifted matrix, summed until every entry (all of
    them reached: at least n - 1 terms) has converged relative to itself, then squared;
    all terms are non-negative. For the few steps that the log-space sweep needs.
    """
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    dvec = np.asarray(dvec, dtype=float)
    n, N = dvec.size, a.size
    lower = np.broadcast_to(a[:, None], (N, n - 1))
    upper = np.broadcast_to(b[:, None], (N, n - 1))
    diag = np.broadcast_to(dvec, (N, n))
    c, lo, d, up, hs, s = _metzler._shifted(lower, diag, upper, h)
    S = np.broadcast_to(np.eye(n), (N, n, n)).copy()
    T = S.copy()
    with np.errstate(under="ignore"):
        for m in range(1, _metzler._MAX_TERMS):
            T = _metzler._tri_right_mul(T, lo, d, up)
            T /= m
            S += T
            if m >= n - 1 and np.all(T <= _metzler._TOL * S):
                break
        else:  # pragma: no cover - the scaled norm is at most 1/2
            raise RuntimeError("Taylor series of the propagator did not converge")
        S *= np.exp(-c * hs)[:, None, None]
        with np.errstate(over="ignore", invalid="ignore"):
            for _ in range(s):
                S = S @ S
    return S


def _log_steps(a, b, dvec, h, lw_next):
    """Backward log-space steps from ``lw_next`` (at t_N) while w spans > LINEAR_SPAN.

    Returns (lw rows for t_{N-1}, t_{N-2}, ... (top of the log phase), their log P).
    Propagators are built in chunks that double, only for the steps needed.
    """
    N = a.size
    rows, LPs = [], []
    i, chunk = N, 2
    cur = lw_next
    while i > 0 and cur.max() - cur.min() > LINEAR_SPAN:
        lo = max(0, i - chunk)
        P = expm_full(a[lo:i], b[lo:i], dvec, h)
        with np.errstate(divide="ignore"):
            LP = np.log(P)
        for j in range(i - 1, lo - 1, -1):
            L = LP[j - lo]
            if not np.all(np.isfinite(L) | (L == -np.inf)):
                L = None
            else:
                nxt = _metzler._lse(L + cur[None, :], axis=1)
                # entries below _TINY are not trusted: make sure none of them could matter
                lost = np.where(L < np.log(_TINY), cur[None, :], -np.inf).max(axis=1)
                if np.any(lost + np.log(_TINY) > nxt + np.log(_metzler._TOL)):
                    L = None
            if L is None:  # an entry too small for floating point matters: exact log space
                L = _metzler.log_expm_metzler(a[j:j + 1, None] * np.ones(dvec.size - 1), dvec[None],
                                              b[j:j + 1, None] * np.ones(dvec.size - 1), h)[0]
                nxt = _metzler._lse(L + cur[None, :], axis=1)
            rows.append(nxt)
            LPs.append(L)
            cur = nxt
            i = j
            if cur.max() - cur.min() <= LINEAR_SPAN:
                break
        chunk *= 2
    return rows, LPs


def solve_given_crowd(params, n_steps, avg_a, avg_b, rho0, log_range, work=None):
    """Value function, quotes and population for crowd averages held on each step.

    ``log_range``: span (e-folds) of w the floating-point propagators are built for.
    Returns ``(lw, rho, seen)`` with ``seen`` the largest span of w over the
    floating-point steps; ``rho`` is None if ``seen`` exceeded ``log_range`` (rebuild the
    propagators for a wider range) and ``lw`` too if floating point failed altogether.
    """
    k = params.k
    h = params.T / n_steps
    x = params.x
    n = x.size
    a = params.A * np.exp(k * avg_a[:-1]) / np.e
    b = params.A * np.exp(k * avg_b[:-1]) / np.e
    dvec = -k * params.eta * x**2
    lw = np.empty((n_steps + 1, n))
    lw[-1] = -k * params.gamma * x**2
    rows, LPs = _log_steps(a, b, dvec, h, lw[-1])
    L = n_steps - len(rows)  # steps 0..L-1 are floating point, L..n_steps-1 log space
    if rows:
        lw[L:n_steps] = np.array(rows[::-1])
    seen = 0.0
    if L > 0:
        # Change of variables w = R_n w_hat, R_n = diag(r_n^x), r_n = sqrt(a_n / b_n): it
        # removes the crowd's skew (the invariant direction V -> V + c x), leaving
        # M_n = R_n (g_n (S_- + S_+) + D) R_n^{-1} with the geometric-mean rate g_n.
        # So w_hat_n = E_n (c_n * w_hat_{n+1}) with the symmetric E_n = exp(h (g_n L + D))
        # and c_n = (r_{n+1} / r_n)^x, folded into the columns of E_n.
        g = np.sqrt(a[:L] * b[:L])
        lr = 0.5 * (np.log(a) - np.log(b))
        lr = np.append(lr[:L], lr[min(L, n_steps - 1)])
        dlr = np.diff(lr)
        P = grouped_propagators(dvec, g, g, h, log_range, FLOOR, {} if work is None else work)
        if np.any(dlr != 0.0):
            P *= np.exp(np.outer(dlr, x))[:, None, :]
        if not np.all(np.isfinite(P)):
            return None, None, np.inf
        lwh = lw[L] - x * lr[L]
        W = np.empty((L + 1, n))
        top = lwh.max()
        W[L] = np.exp(lwh - top)
        scale = np.full(L + 1, top)
        growth = h * (2.0 * g.max() - dvec.min()) + params.x_max * float(np.abs(dlr).max())
        every = max(1, int(min(40.0 / max(growth, 1e-300), L + 1)))
        acc = top
        for i in range(L - 1, -1, -1):
            np.dot(P[i], W[i + 1], out=W[i])
            if (L - i) % every == 0 or i == 0:
                m = W[i].max()
                if not (m > 0 and np.isfinite(m)):
                    return None, None, np.inf
                W[i] /= m
                acc += np.log(m)
            scale[i] = acc
        with np.errstate(divide="ignore"):
            lwh_all = np.log(W) + scale[:, None]
        spans = lwh_all.max(axis=1) - lwh_all.min(axis=1)
        seen = float(spans.max())
        lw[:L] = lwh_all[:L] + np.outer(lr[:L], x)
        if not np.isfinite(seen) or seen > min(log_range, LINEAR_SPAN):
            return lw, None, seen
    # forward: u_n = rho_n / W_n evolves as u_{n+1} = (u_n P_n) e^{scale_{n+1} - scale_n}
    rho = np.empty((n_steps + 1, n))
    rho[0] = rho0
    if L > 0:
        U = np.empty((L + 1, n))
        U[0] = rho0 / W[0]
        jump = np.exp(scale[1:] - scale[:-1])
        for i in range(L):
            np.dot(U[i], P[i], out=U[i + 1])
            if jump[i] != 1.0:
                U[i + 1] *= jump[i]
        rho[1:L + 1] = U[1:] * W[1:]
    for j, LPj in zip(range(L, n_steps), LPs[::-1]):
        with np.errstate(under="ignore"):
            Q = np.exp(LPj + lw[j + 1][None, :] - lw[j][:, None])
        rho[j + 1] = rho[j] @ Q
    return lw, rho, seen
