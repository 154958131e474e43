"""The entrywise-accurate Metzler exponentials against scipy and against each other."""
import numpy as np
import scipy.linalg as sla
import mpmath
from hypothesis import example, given, settings
from hypothesis import strategies as st

from mmlib import _metzler


def _dense(lo, d, up):
    return np.diag(d) + np.diag(lo, -1) + np.diag(up, 1)


def _mp_expm(M, dps=60):
    """exp(M) in mpmath at ``dps`` digits: a reference accurate far below double rounding."""
    with mpmath.workdps(dps):
        E = mpmath.expm(mpmath.matrix(M.tolist()))
        return np.array([[float(E[i, j]) for j in range(M.shape[1])] for i in range(M.shape[0])])


@settings(max_examples=30, deadline=None)
@given(n=st.integers(2, 15), h=st.floats(1e-3, 5.0), seed=st.integers(0, 10_000))
@example(n=15, h=5.0, seed=0)
@example(n=15, h=5.0, seed=9)
def test_floating_point_exponential_matches_high_precision(n, h, seed):
    """Entrywise relative accuracy, entry by entry, against a 60-digit reference.

    scipy's expm is accurate only to about eps * norm on each entry, so it cannot check
    entries 1e-10 of the largest to 1e-11 relative (it misses by 4e-11 for some seeds);
    mpmath at 60 digits resolves every entry down to 1e-40 of the largest to 20 digits.
    """
    rng = np.random.default_rng(seed)
    lo, up, d = rng.random(n - 1), rng.random(n - 1), -3 * rng.random(n)
    E = _mp_expm(_dense(lo, d, up) * h)
    P = _metzler.expm_metzler(lo, d, up, h)
    kept = E >= 1e-40 * E.max()
    np.testing.assert_allclose(P[kept], E[kept], rtol=1e-12)
    assert np.all(P[~kept] <= 1e-39 * E.max())
    assert P.min() >= 0


def test_floating_point_exponential_matches_scipy_on_large_entries():
    """scipy's absolute accuracy ~ eps * norm is enough for the entries near the largest."""
    rng = np.random.default_rng(3)
    n, h = 10, 0.7
    lo, up, d = rng.random(n - 1), rng.random(n - 1), -3 * rng.random(n)
    E = sla.expm(_dense(lo, d, up) * h)
    P = _metzler.expm_metzler(lo, d, up, h)
    big = E > 1e-3 * E.max()
    np.testing.assert_allclose(P[big], E[big], rtol=1e-11)


def test_log_exponential_resolves_entries_far_below_floating_point():
    """Scale h so the far corner is ~exp(-900): compare with the exact two-state-path
    leading term and with the product of smaller steps computed in log space."""
    n, h = 30, 1e-3
    lo = up = np.full(n - 1, 0.5)
    d = -np.linspace(0, 50, n)
    LP = _metzler.log_expm_metzler(lo, d, up, h)
    # corner (0, n-1): the only words of length n-1 go straight up: (0.5 h)^(n-1)/(n-1)!
    lead = (n - 1) * np.log(0.5 * h) - sum(np.log(np.arange(1, n)))
    assert LP[0, -1] < -200  # far below what a float could hold after a few products
    np.testing.assert_allclose(LP[0, -1], lead, rtol=1e-3)
    # semigroup: P(2h) = P(h) P(h), all in log space
    np.testing.assert_allclose(_metzler.log_expm_metzler(lo, d, up, 2 * h),
                               _metzler.log_matmul(LP, LP), rtol=1e-12, atol=1e-9)


def test_linear_and_log_agree_where_both_resolve():
    rng = np.random.default_rng(1)
    n = 12
    lo, up, d = rng.random(n - 1), rng.random(n - 1), -2 * rng.random(n)
    P = _metzler.expm_metzler(lo, d, up, 0.3)
    LP = _metzler.log_expm_metzler(lo, d, up, 0.3)
    m = P > 0
    np.testing.assert_allclose(np.log(P[m]), LP[m], atol=1e-12)
