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

Where the limits apply (each function's "Raises" section gives its estimate):
:func:`~mmlib.hjb.solve_hjb`, :func:`~mmlib.mean_field.solve_mean_field`,
:func:`~mmlib.avellaneda_stoikov.solve_glft`
(dense propagators, :func:`dense_solver_bytes`), :func:`~mmlib.population.evolve_population`,
:func:`~mmlib.population.simulate_inventory`, :func:`~mmlib.simulation.simulate`,
:func:`~mmlib.competition.simulate_competition`, :func:`~mmlib.competition.simulate_finite_crowd`,
:func:`~mmlib.sweep.sweep` (grid size), and the microstructure simulators
:func:`mmlib.microprice.simulate_chain`, :func:`mmlib.microprice.simulate_quoting`
and :func:`mmlib.queue_position.simulate_queue`.

Long loops show a tqdm progress bar in interactive use (a terminal or a
Jupyter session) and stay silent in a headless book build; the environment
variable ``MMLIB_PROGRESS=0/1`` overrides that guess (:func:`show_progress`).
Ctrl-C (``KeyboardInterrupt``) stops them: the bar is closed, the exception
propagates, and no partial result is returned.
"""
from __future__ import annotations

import os
import sys

__all__ = ["MAX_BYTES", "MAX_STEPS", "check_memory", "check_steps", "format_bytes",
           "dense_solver_bytes", "show_progress", "progress_bar", "steps", "PROGRESS_MIN_WORK"]

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
    """Raise ``ValueError`` if ``need`` bytes exceed ``mmlib.limits.MAX_BYTES``.

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
    >>> check_memory("n_paths=1,000,000,000", 8e9, "simulate fewer paths")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: n_paths=1,000,000,000 needs 7.5 GiB; the limit is 4.0 GiB (raise it with ...
    """
    limit = MAX_BYTES
    if need > limit:
        msg = (f"{what} needs {format_bytes(need)}; the limit is {format_bytes(limit)} "
               "(raise it with mmlib.limits.MAX_BYTES = ...)")
        raise ValueError(msg + (f"; {hint}" if hint else ""))


def check_steps(what, n_steps, hint=""):
    """Raise ``ValueError`` if a loop of ``n_steps`` time steps exceeds ``mmlib.limits.MAX_STEPS``.

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
    >>> check_steps("T=1.0, dt=1e-09", 1e9, "use a larger dt")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    ValueError: T=1.0, dt=1e-09 means 1,000,000,000 time steps; the limit is 10,000,000 ...
    """
    limit = MAX_STEPS
    if n_steps > limit:
        msg = (f"{what} means {int(n_steps):,} time steps; the limit is {limit:,} "
               "(raise it with mmlib.limits.MAX_STEPS = ...)")
        raise ValueError(msg + (f"; {hint}" if hint else ""))


def dense_solver_bytes(n_states, n_steps, n_matrices=1):
    r"""Working memory of the dense exact propagators (HJB, mean field, GLFT).

    The exact solvers hold :math:`e^{hM}` for the :math:`n\times n` tridiagonal
    generator :math:`M` as a dense matrix, with about twenty :math:`n\times n`
    temporaries while it is computed (Taylor terms, squarings, log-space
    stacks), and about eight arrays of shape ``(n_steps+1, n)`` for the value
    function, its logarithm, the quotes and the sweep's blocks:

    .. math:: \text{bytes} \approx 8\,\big(20\,m\,n^2 + 8\,(N+1)\,n\big),

    with :math:`m` the number of distinct propagators held at once (1 for a
    constant generator, :math:`N` for one per step).

    Examples
    --------
    >>> format_bytes(dense_solver_bytes(41, 1000))
    '2.8 MiB'
    """
    n, N = float(n_states), float(n_steps)
    return 8.0 * (20.0 * n_matrices * n * n + 8.0 * (N + 1.0) * n)


#: Work (in path-steps, or state-steps) above which a loop shows a progress
#: bar in interactive use: about a few seconds of compute.
PROGRESS_MIN_WORK = 5e7


def show_progress(progress=None, work=float("inf")):
    """Whether to show a progress bar.

    ``progress`` True/False forces it; ``None`` shows one only for ``work`` above
    :data:`PROGRESS_MIN_WORK` and only in interactive use: a terminal or a
    JupyterLab/Notebook session, never a headless book build (papermill,
    nbclient and jupyter-book start kernels without a session name). The
    environment variable ``MMLIB_PROGRESS=0/1`` overrides the guess.

    Examples
    --------
    >>> show_progress(False), show_progress(True)
    (False, True)
    >>> show_progress(None, work=10)
    False
    """
    if progress is not None:
        if not isinstance(progress, bool):
            raise ValueError(f"progress must be True, False or None, got {progress!r}")
        return progress
    flag = os.environ.get("MMLIB_PROGRESS")
    if flag is not None:
        on = flag.strip().lower() not in ("0", "false", "no", "off", "")
        return on and work > PROGRESS_MIN_WORK
    if work <= PROGRESS_MIN_WORK:
        return False
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    return tty or "JPY_SESSION_NAME" in os.environ


class _NoBar:
    def update(self, n=1):
        pass

    def close(self):
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def progress_bar(total, desc, show):
    """A tqdm bar of ``total`` steps if ``show``, else a silent stand-in.

    Use it as a context manager, so that the bar is closed when the loop ends,
    fails or is interrupted (Ctrl-C)::

        with progress_bar(N, "simulate", show) as bar:
            for n in range(N):
                ...
                bar.update()
    """
    if not show:
        return _NoBar()
    from tqdm.auto import tqdm

    return tqdm(total=total, desc=desc, unit="step", leave=False, mininterval=0.5)


def steps(n_steps, desc, work=float("inf"), progress=None):
    """``range(n_steps)``, wrapped in a tqdm bar when :func:`show_progress` says so.

    The loop of a simulator reads ``for n in limits.steps(N, "simulate", work):``.
    Ctrl-C raises ``KeyboardInterrupt`` out of the loop, as without the bar;
    the function it is in returns nothing.

    Examples
    --------
    >>> steps(3, "demo", progress=False)
    range(0, 3)
    """
    if not show_progress(progress, work):
        return range(n_steps)
    from tqdm.auto import tqdm

    return tqdm(range(n_steps), desc=desc, unit="step", leave=False, mininterval=0.5)
