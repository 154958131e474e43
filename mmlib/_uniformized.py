r"""Exact sweeps of the mean-field inner problem by uniformised Taylor series (private).

For crowd averages held on each step the HJB is :math:`-\dot w = M_n w` with the
tridiagonal Metzler matrix :math:`M_n = a_n S_- + b_n S_+ - k\eta\,\mathrm{diag}(x^2)`
(:mod:`mmlib._propagator`). With :math:`c = k\eta x_{\max}^2` the matrix
:math:`B_n = h(M_n + cI)` has no negative entry, and

.. math:: w_n = e^{hM_n} w_{n+1} = e^{-ch} \sum_{m\ge 0} \frac{B_n^m w_{n+1}}{m!},

a sum of non-negative vectors, so every entry of :math:`w_n` keeps its relative accuracy
(no cancellation) however many e-folds :math:`w` spans. No propagator matrix is formed: a
step costs a few tridiagonal products.

**Where to cut the series (a bound, not a heuristic).** Write :math:`\tau_j = B_n^j
w_{n+1}/j!` for the terms, all positive. For any positive vector :math:`v`, :math:`Bv \le
\rho v` with :math:`\rho = \max_x (Bv)_x/v_x` gives :math:`B^i v \le \rho^i v`, because
:math:`B` has no negative entry. Two such bounds cut the series:

* *The ratio bound* (used first). With :math:`v = \tau_{m-1}`, :math:`\rho = m\,q` where
  :math:`q = \max_x \tau_{m,x}/\tau_{m-1,x}` is the largest ratio of the last two terms, and
  :math:`B\tau_m \le \rho\,\tau_m` too. So every left-out term is
  :math:`\tau_{m+i} \le \tau_m\,p^{\,i}` with :math:`p = \rho/(m+1)`, and when :math:`p < 1`
  the left-out sum is at most :math:`\tau_m\,p/(1-p)`. The sweep stops when that is at most
  ``TOL`` (about one ulp) times the partial sum :math:`S` at every entry. It costs one pass
  over two terms already at hand, and it knows that the sum has grown: each entry's bound
  is relative to its own partial sum.
* *The Poisson bound* (while the terms still grow, :math:`p \ge 1`). With :math:`v = S`,
  :math:`\hat r = \max_x (B_nS)_x / S_x`, the terms left out after :math:`m` are at most
  :math:`S_x \sum_{j>m} \hat r^{\,j}/j!`; it chooses how many terms to add next.

Since :math:`a_n w(x-1)/w(x)` is the optimal ask's fill rate, :math:`\rho` is about
:math:`h` times the largest number of fills per unit time plus :math:`ch`: the series is
short where quotes are calm and long only where a steep terminal penalty makes makers
dump inventory within a step.

**The population** evolves by the Doob transform
:math:`\rho_{n+1} = \big((\rho_n / w_n)\, e^{hM_n}\big) \circ w_{n+1}`, the same series
applied to a row vector with the same number of terms: its total mass is conserved to
rounding, and the left-out mass is at most the same tail.

Steps where :math:`w` spans more than ``LINEAR_SPAN`` e-folds (the first steps back from a
steep terminal penalty) run the same series in log space.

Used by :mod:`mmlib.mean_field`; checked against dense matrix exponentials and stiff ODE
solves in ``tests/test_mean_field.py``.
"""
from __future__ import annotations

import math

import numba
import numpy as np

__all__ = []  # private module

#: Relative size of the left-out tail of every series (about one ulp).
TOL = 2.0**-53
#: Steps run in floating point while w (or rho / w) spans at most this many e-folds; beyond,
#: in log space. e^-600 ~ 1e-261 leaves room below it for the products of a series.
LINEAR_SPAN = 600.0


@numba.njit(cache=True)
def _log_tail(r, m):
    """log of a bound on sum_{j>m} r^j / j!: r^{m+1}/(m+1)! / (1 - r/(m+2)), or +inf."""
    if r <= 0.0:
        return -np.inf
    if not m + 2 > r:
        return np.inf
    return (m + 1) * math.log(r) - math.lgamma(m + 2.0) - math.log(1.0 - r / (m + 2.0))


@numba.njit(cache=True)
def _next_target(r, beta, log_gap, m, log_tol):
    """0 if the m-term partial sum meets the bound, else the next number of terms to try
    (the smallest sufficient count, at most 2m + 8: a longer sum tightens the bound).

    Both bounds fall strictly with the count once it exceeds their rate, so "sufficient" is
    false and then true: the smallest sufficient count is found by bisection."""
    if _tail_ok(r, beta, log_gap, m, log_tol):
        return 0
    lo, hi = m, 2 * m + 8
    if not _tail_ok(r, beta, log_gap, hi, log_tol):
        return hi
    while hi - lo > 1:  # lo is not sufficient, hi is
        mid = (lo + hi) // 2
        if _tail_ok(r, beta, log_gap, mid, log_tol):
            hi = mid
        else:
            lo = mid
    return hi


@numba.njit(cache=True)
def _tail_ok(r, beta, log_gap, j, log_tol):
    """Whether either bound puts the terms left out after ``j`` below the tolerance."""
    return _log_tail(r, j) <= log_tol or _log_tail(beta, j) + log_gap <= log_tol


@numba.njit(cache=True)
def _lse3(p, q, s):
    top = max(p, q, s)
    if top == -np.inf:
        return -np.inf
    return top + math.log(math.exp(p - top) + math.exp(q - top) + math.exp(s - top))


@numba.njit(cache=True)
def _term(t, t2, dg, lo, up, S, inv, later_first):
    """The next term ``t2 = B t / m`` (``inv = 1/m``; ``B``: ``lo`` below the diagonal ``dg``,
    ``up`` above) and ``S += t2``. ``t`` and ``t2`` are padded: entry ``x`` at index ``x + 1``,
    with zeros at both ends, so the loop has no boundary case and vectorises. Each entry adds
    its products in a fixed order: the diagonal, then the lower neighbour's and the upper's,
    or with ``later_first`` the upper's first."""
    n = dg.size
    if later_first:
        for x in range(n):
            v = ((dg[x] * t[x + 1] + up * t[x + 2]) + lo * t[x]) * inv
            t2[x + 1] = v
            S[x] += v
    else:
        for x in range(n):
            v = ((dg[x] * t[x + 1] + lo * t[x]) + up * t[x + 2]) * inv
            t2[x + 1] = v
            S[x] += v


@numba.njit(cache=True)
def _series_lin(lo, dg, up, S, t, t2, m_min, log_tol, transpose):
    """S <- sum_m B^m S / m! in place (B: lo * S_-, diag dg, up * S_+; or its transpose).

    ``t`` and ``t2`` are work buffers of ``S.size + 2`` entries. Without ``transpose`` the cut
    is the a-posteriori bound of the module docstring, at least ``m_min`` terms; with it,
    exactly ``m_min`` terms. Returns the number of terms.
    """
    n = S.size
    if t.size < n + 2 or t2.size < n + 2:
        raise ValueError("_series_lin needs work buffers of S.size + 2 entries")
    tol = math.exp(log_tol)
    vmax = -np.inf
    beta = 0.0
    smax = 0.0
    t[0] = t[n + 1] = t2[0] = t2[n + 1] = 0.0
    for x in range(n):
        t[x + 1] = S[x]
        smax = max(smax, S[x])
        beta = max(beta, dg[x] + (lo if x > 0 else 0.0) + (up if x + 1 < n else 0.0))
    if smax > 0.0:
        vmax = math.log(smax)
    m = 0
    target = m_min
    while True:
        while m < target:
            m += 1
            if transpose:
                _term(t, t2, dg, up, lo, S, 1.0 / m, True)
            else:
                _term(t, t2, dg, lo, up, S, 1.0 / m, False)
            t, t2 = t2, t
        if transpose:
            return m
        # the ratio bound (module docstring): t holds the last term, t2 the one before
        q = 0.0
        e = 0.0
        for x in range(1, n + 1):
            if t2[x] > 0.0:
                q = max(q, t[x] / t2[x])
            else:
                q = np.inf
            e = max(e, t[x] / S[x - 1])
        p = m * q / (m + 1.0)
        if p < 1.0:
            if e * p <= tol * (1.0 - p):
                return m
            # i more terms shrink the bound by p^i at least: enough of them, at most m + 8
            more = math.log(tol * (1.0 - p) / (e * p)) / math.log(p)
            target = m + max(1, min(int(math.ceil(more)), m + 8))
            continue
        # the terms still grow: two cruder bounds choose how many more to add.
        # r = max (B S)/S, or the row sums beta = max (B 1) times max v / min S
        r = 0.0
        smin = np.inf
        for x in range(n):
            s = dg[x] * S[x]
            if x > 0:
                s += lo * S[x - 1]
            if x + 1 < n:
                s += up * S[x + 1]
            r = max(r, s / S[x])
            smin = min(smin, S[x])
        target = _next_target(r, beta, vmax - math.log(smin), m, log_tol)
        if target == 0:
            return m


@numba.njit(cache=True)
def _series_log(llo, ldg, lup, lS, t, t2, m_min, log_tol, transpose):
    """:func:`_series_lin` in log space: ``lS`` holds log S (``-inf`` for 0)."""
    n = lS.size
    vmax = -np.inf
    beta = 0.0
    for x in range(n):
        t[x] = lS[x]
        vmax = max(vmax, lS[x])
        dgx = math.exp(ldg[x]) if ldg[x] > -np.inf else 0.0
        beta = max(beta, dgx + (math.exp(llo) if x > 0 else 0.0)
                   + (math.exp(lup) if x + 1 < n else 0.0))
    m = 0
    target = m_min
    while True:
        while m < target:
            m += 1
            lm = math.log(m)
            for x in range(n):
                left = -np.inf
                right = -np.inf
                if transpose:
                    if x + 1 < n:
                        left = llo + t[x + 1]
                    if x > 0:
                        right = lup + t[x - 1]
                else:
                    if x > 0:
                        left = llo + t[x - 1]
                    if x + 1 < n:
                        right = lup + t[x + 1]
                t2[x] = _lse3(ldg[x] + t[x], left, right) - lm
            for x in range(n):
                t[x] = t2[x]
                if t2[x] > -np.inf:
                    top = max(lS[x], t2[x])
                    lS[x] = top + math.log(math.exp(lS[x] - top) + math.exp(t2[x] - top))
        if transpose:
            return m
        r = -np.inf
        smin = np.inf
        for x in range(n):
            left = llo + lS[x - 1] if x > 0 else -np.inf
            right = lup + lS[x + 1] if x + 1 < n else -np.inf
            r = max(r, _lse3(ldg[x] + lS[x], left, right) - lS[x])
            smin = min(smin, lS[x])
        target = _next_target(math.exp(min(r, 700.0)), beta, vmax - smin, m, log_tol)
        if target == 0:
            return m


@numba.njit(cache=True)
def _step_back(g, lr, xs, dg, ldg, ch, lw_next, lw_out, S, t, t2, m_guess, log_tol,
               linear_span):
    """One backward step lw_out = log(e^{hM} w_next) in the gauge w = e^{lr x} w_hat
    (both off-diagonals of B equal g there). Returns (terms, ran in log space)."""
    n = lw_next.size
    top = -np.inf
    bottom = np.inf
    for x in range(n):
        S[x] = lw_next[x] - lr * xs[x]
        top = max(top, S[x])
        bottom = min(bottom, S[x])
    if top - bottom <= linear_span:
        for x in range(n):
            S[x] = math.exp(S[x] - top)
        m = _series_lin(g, dg, g, S, t, t2, m_guess, log_tol, False)
        for x in range(n):
            lw_out[x] = math.log(S[x]) + top - ch + lr * xs[x]
        return m, False
    lg = math.log(g)
    m = _series_log(lg, ldg, lg, S, t, t2, m_guess, log_tol, False)
    for x in range(n):
        lw_out[x] = S[x] - ch + lr * xs[x]
    return m, True


@numba.njit(cache=True)
def _log_diag(dg):
    ldg = np.empty(dg.size)
    for x in range(dg.size):
        ldg[x] = math.log(dg[x]) if dg[x] > 0 else -np.inf
    return ldg


@numba.njit(cache=True)
def forward(g, lr, xs, dg, ch, lw, rho0, terms, logstep, log_tol, linear_span):
    """Population under the Doob transform of the backward sweep ``lw`` (same gauge and
    number of terms per step as the sweep that made it). Returns rho, shape (N+1, n)."""
    N = g.size
    n = rho0.size
    ldg = _log_diag(dg)
    rho = np.empty((N + 1, n))
    S = np.empty(n)
    t = np.zeros(n + 2)  # padded for _series_lin; _series_log uses the first n entries
    t2 = np.zeros(n + 2)
    for x in range(n):
        rho[0, x] = rho0[x]
    for i in range(N):
        # u = rho_i / w_i in the step's gauge, scaled by its largest entry;
        # rho_{i+1} = (u e^{hM}) w_{i+1}
        utop = -np.inf
        ubottom = np.inf
        for x in range(n):
            if rho[i, x] > 0:
                S[x] = math.log(rho[i, x]) - lw[i, x] + lr[i] * xs[x]
                utop = max(utop, S[x])
                ubottom = min(ubottom, S[x])
            else:
                S[x] = -np.inf
        if not logstep[i] and utop - ubottom <= linear_span:
            for x in range(n):
                S[x] = math.exp(S[x] - utop)
            _series_lin(g[i], dg, g[i], S, t, t2, terms[i], log_tol, True)
            for x in range(n):
                rho[i + 1, x] = (math.exp(math.log(S[x]) + utop + lw[i + 1, x]
                                          - lr[i] * xs[x] - ch) if S[x] > 0 else 0.0)
        else:
            lg = math.log(g[i])
            _series_log(lg, ldg, lg, S, t, t2, terms[i], log_tol, True)
            for x in range(n):
                rho[i + 1, x] = math.exp(S[x] + lw[i + 1, x] - lr[i] * xs[x] - ch)
    return rho


@numba.njit(cache=True)
def sweep(g, lr, xs, dg, ch, lw_T, rho0, log_tol, linear_span):
    """Backward sweep of log w and forward sweep of the population.

    Step n runs in the gauge ``w = e^{lr_n x} w_hat`` with ``lr_n = log(a_n / b_n) / 2``,
    where both off-diagonals of B are ``g_n = h sqrt(a_n b_n)`` (the crowd's skew, the
    invariant direction V -> V + c x, taken out as a similarity transform). ``dg``: the
    diagonal of B, h (c - k eta x^2) >= 0; ``ch``: c h. Returns (lw, rho, terms, logstep),
    lw and rho of shape (N+1, n), the number of series terms per step and whether the
    step ran in log space.
    """
    N = g.size
    n = lw_T.size
    lw = np.empty((N + 1, n))
    terms = np.zeros(N, dtype=np.int64)
    logstep = np.zeros(N, dtype=np.bool_)
    S = np.empty(n)
    t = np.zeros(n + 2)  # padded for _series_lin; _series_log uses the first n entries
    t2 = np.zeros(n + 2)
    ldg = _log_diag(dg)
    lw[N] = lw_T
    m_guess = 1
    for i in range(N - 1, -1, -1):
        m, lg = _step_back(g[i], lr[i], xs, dg, ldg, ch, lw[i + 1], lw[i], S, t, t2, m_guess,
                           log_tol, linear_span)
        terms[i] = m
        logstep[i] = lg
        m_guess = 1 if lg else max(1, m - 2)
    rho = forward(g, lr, xs, dg, ch, lw, rho0, terms, logstep, log_tol, linear_span)
    return lw, rho, terms, logstep


def solve_given_crowd(params, n_steps, avg_a, avg_b, rho0):
    """log w, population, series terms and log-space flags for held crowd averages."""
    k = params.k
    h = params.T / n_steps
    x = params.x.astype(float)
    avg_a = np.asarray(avg_a[:-1], dtype=float)
    avg_b = np.asarray(avg_b[:-1], dtype=float)
    # a = A e^{k avg_a} / e and b likewise: h sqrt(a b) and log(a / b) / 2
    g = h * params.A * np.exp(0.5 * k * (avg_a + avg_b) - 1.0)
    lr = 0.5 * k * (avg_a - avg_b)
    c = k * params.eta * params.x_max**2
    dg = h * (c - k * params.eta * x**2)
    lw_T = -k * params.gamma * x**2
    return sweep(g, lr, x, dg, c * h, lw_T, np.asarray(rho0, dtype=float),
                 math.log(TOL), LINEAR_SPAN)
