"""Argument checks shared by the public functions of :mod:`mmlib`.

Every public function validates at its boundary and raises :class:`ValueError`
naming the parameter and its allowed range, so that bad input never turns into
silent garbage further down.

Used by every module; no chapter of its own.
"""
from __future__ import annotations

import numbers

import numpy as np

__all__ = []  # private module


def check_real(name, value, *, lo=None, hi=None, lo_open=False, hi_open=False):
    """Return ``float(value)`` after checking it is a finite real in a range."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{name} must be a finite real number, got {value!r}")
    v = float(value)
    if not np.isfinite(v):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if lo is not None and (v <= lo if lo_open else v < lo):
        op = ">" if lo_open else ">="
        raise ValueError(f"{name} must be {op} {lo:g}, got {value!r}")
    if hi is not None and (v >= hi if hi_open else v > hi):
        op = "<" if hi_open else "<="
        raise ValueError(f"{name} must be {op} {hi:g}, got {value!r}")
    return v


def check_int(name, value, *, lo=None, hi=None):
    """Return ``int(value)`` after checking it is an integer in ``[lo, hi]``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if lo is not None and v < lo:
        raise ValueError(f"{name} must be an integer >= {lo}, got {value!r}")
    if hi is not None and v > hi:
        raise ValueError(f"{name} must be an integer <= {hi}, got {value!r}")
    return v


def check_choice(name, value, choices):
    """Check that ``value`` is one of ``choices``."""
    if value not in choices:
        raise ValueError(f"{name} must be one of {sorted(choices)}, got {value!r}")
    return value


def as_generator(rng):
    """Turn ``None``, an int seed or a Generator into a ``numpy.random.Generator``.

    Following QuantEcon's ``check_random_state``: every random draw in mmlib goes
    through the Generator returned here, so a seed makes a run reproducible.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng()
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        if int(rng) < 0:
            raise ValueError(f"rng seed must be >= 0, got {rng!r}")
        return np.random.default_rng(int(rng))
    raise ValueError(
        f"rng must be None, a non-negative int seed or a numpy.random.Generator, got {rng!r}"
    )


def check_distribution(name, p, n, *, atol=1e-9):
    """Check that ``p`` is a probability vector of length ``n``; return a float copy."""
    arr = np.asarray(p, dtype=float)
    if arr.shape != (n,):
        raise ValueError(f"{name} must have shape ({n},), got shape {arr.shape}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} must contain only finite values")
    if np.any(arr < 0):
        raise ValueError(f"{name} must be non-negative, min is {arr.min():.3g}")
    total = arr.sum()
    if abs(total - 1.0) > atol:
        raise ValueError(f"{name} must sum to 1 (within {atol:g}), sums to {total:.12g}")
    return arr / total
