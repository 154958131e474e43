r"""Size limits shared by every public entry point of :mod:`mmlib`.

A student who types one zero too many should get a clear answer at once, not a
``MemoryError`` after minutes or a run with no end in sight. Every public
function that allocates arrays whose size follows from its arguments, or that
loops over time steps, first estimates its need from those arguments and
checks it here, *before* allocating anything.

The limits are module-level defaults that a user can raise::

    import mmlib
    mmlib.limits.MAX_BYTES = 16 * 2**30   # allow 16 GiB per call
    mmlib.limits.MAX_STEPS = 10**8        # allow 100 million time steps

Both are read at call time, so a change applies to every later call.

``MAX_BYTES``
    Largest working memory, in bytes, that one call may allocate for its
    arrays; default 4 GiB (a sixth of the 24 GiB machines the book is built on).
``MAX_STEPS``
    Largest number of time steps one call may loop over; default 10,000,000
    (about a minute of a single-path simulation).

The book's chapter *Failure regimes* shows these limits at work.
"""
from __future__ import annotations

__all__ = ["MAX_BYTES", "MAX_STEPS", "check_memory", "check_steps", "format_bytes"]

MAX_BYTES = 4 * 2**30  # bytes one call may allocate for its arrays (raise to allow more)
MAX_STEPS = 10_000_000  # time steps one call may loop over (raise to allow more)


def format_bytes(n):
    """Format a byte count with a binary unit, e.g. ``'15.0 GiB'``.

    Examples
    --------
    >>> format_bytes(15 * 2**30)
    '15.0 GiB'
    >>> format_bytes(512)
    '512 B'
    """
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if n < 1024.0 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024.0
    raise AssertionError("unreachable")  # pragma: no cover


def check_memory(what, need, hint=""):
    """Raise ``ValueError`` if ``need`` bytes exceed :data:`MAX_BYTES`.

    Parameters
    ----------
    what : str
        The arguments that set the size, as the user wrote them, e.g.
        ``"record=True at n_paths=10,000,000"``.
    need : int or float
        Estimated bytes the call would allocate.
    hint : str
        What the user can do instead, e.g. ``"record fewer paths or use record=False"``.

    Raises
    ------
    ValueError
        Naming the arguments, the need and the limit.

    Examples
    --------
    >>> check_memory("n_paths=10", 80)
    >>> check_memory("n_paths=1,000,000,000", 8e9, "simulate fewer paths")
    Traceback (most recent call last):
    ...
    ValueError: n_paths=1,000,000,000 needs 7.5 GiB; the limit is 4.0 GiB (raise it with mmlib.limits.MAX_BYTES = ...); simulate fewer paths
    """
    limit = MAX_BYTES
    if need > limit:
        msg = (f"{what} needs {format_bytes(need)}; the limit is {format_bytes(limit)} "
               "(raise it with mmlib.limits.MAX_BYTES = ...)")
        raise ValueError(msg + (f"; {hint}" if hint else ""))


def check_steps(what, n_steps, hint=""):
    """Raise ``ValueError`` if a loop of ``n_steps`` time steps exceeds :data:`MAX_STEPS`.

    Parameters
    ----------
    what : str
        The arguments that set the step count, e.g. ``"T=1.0, dt=1e-09"``.
    n_steps : int or float
        Number of time steps the call would run.
    hint : str
        What the user can do instead.

    Raises
    ------
    ValueError
        Naming the arguments, the step count and the limit.

    Examples
    --------
    >>> check_steps("n_steps=1000", 1000)
    >>> check_steps("T=1.0, dt=1e-09", 1e9, "use a larger dt")
    Traceback (most recent call last):
    ...
    ValueError: T=1.0, dt=1e-09 means 1,000,000,000 time steps; the limit is 10,000,000 (raise it with mmlib.limits.MAX_STEPS = ...); use a larger dt
    """
    limit = MAX_STEPS
    if n_steps > limit:
        msg = (f"{what} means {int(n_steps):,} time steps; the limit is {limit:,} "
               "(raise it with mmlib.limits.MAX_STEPS = ...)")
        raise ValueError(msg + (f"; {hint}" if hint else ""))
