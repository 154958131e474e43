r"""Reproducible parameter sweeps on one core, on a process pool or on a Dask cluster.

:func:`sweep` evaluates ``func(point, rng)`` at every point of a Cartesian grid.
Point :math:`i` (in row-major order of the grid, the last name varying fastest)
draws only from the stream

.. math:: \texttt{rng}_i = \texttt{default\_rng}\big(\texttt{SeedSequence(seed).spawn(n)}[i]\big),

so its outputs do not depend on which worker runs it, in which order, or on how
many workers there are: a serial run, a ``ProcessPoolExecutor`` and a
``dask.distributed`` cluster return identical frames. The book's chapter
*Failure regimes* runs its sweeps through it.
"""
from __future__ import annotations

import itertools
import math
import numbers
import os
import sys
import traceback
from collections.abc import Iterable, Mapping

import numpy as np

from . import limits

__all__ = ["sweep", "SweepError", "SweepPoint"]


class SweepError(RuntimeError):
    """Raised when ``func`` fails or returns a bad value at a point of a sweep.

    The message names the point's index and its parameter values.
    """


class SweepPoint(Mapping):
    """The parameter values of one grid point: a read-only mapping ``name -> value``.

    It records which names ``func`` reads, so that :func:`sweep` can reject a
    grid name that ``func`` never uses (almost always a misspelt parameter).
    """

    def __init__(self, values):
        self._values = dict(values)
        self._read = set()

    def __getitem__(self, name):
        try:
            value = self._values[name]
        except KeyError:
            raise KeyError(f"{name!r} is not a grid parameter; the grid has "
                           f"{sorted(self._values)}") from None
        self._read.add(name)
        return value

    def __iter__(self):
        return iter(self._values)

    def __len__(self):
        return len(self._values)

    def __repr__(self):
        return f"SweepPoint({self._values!r})"


def _describe(index, values):
    inner = ", ".join(f"{k}={v!r}" for k, v in values.items())
    return f"point {index} ({inner})"


def _run_point(payload, index, values, seed_seq):
    """Evaluate one point in whatever process runs it; return (index, outputs, names read)."""
    import cloudpickle

    func = cloudpickle.loads(payload)
    point = SweepPoint(values)
    rng = np.random.default_rng(seed_seq)
    try:
        out = func(point, rng)
    except Exception as exc:  # re-raised with the point named (picklable: message only)
        tb = "".join(traceback.format_exception_only(type(exc), exc)).strip()
        raise SweepError(f"func raised at {_describe(index, values)}: {tb}") from None
    if not isinstance(out, Mapping):
        raise SweepError(f"func must return a dict of str -> float, got "
                         f"{type(out).__name__} at {_describe(index, values)}")
    clean = {}
    for key, val in out.items():
        if not isinstance(key, str):
            raise SweepError(f"output names must be str, got {key!r} at "
                             f"{_describe(index, values)}")
        if isinstance(val, (bool, np.bool_)) or not isinstance(val, (numbers.Real, np.number)):
            raise SweepError(f"output {key!r} must be a real number, got {val!r} at "
                             f"{_describe(index, values)}")
        clean[key] = float(val)
    return index, clean, sorted(point._read)


def _check_grid(grid):
    if not isinstance(grid, Mapping):
        raise ValueError(f"grid must be a dict mapping parameter names to lists of values, "
                         f"got {type(grid).__name__}")
    if len(grid) == 0:
        raise ValueError("grid must name at least one parameter, got an empty dict")
    names, values = [], []
    for name, vals in grid.items():
        if not isinstance(name, str) or not name:
            raise ValueError(f"grid keys must be non-empty str, got {name!r}")
        if isinstance(vals, (str, bytes)) or not isinstance(vals, Iterable):
            raise ValueError(f"grid[{name!r}] must be an iterable of values (a list or an "
                             f"array), got {vals!r}")
        if hasattr(vals, "__len__"):  # refuse a huge range before listing it
            limits.check_steps(f"grid[{name!r}] with {len(vals):,} values", len(vals),
                               "use a coarser grid")
        vals = list(np.asarray(vals).tolist()) if isinstance(vals, np.ndarray) else list(vals)
        if not vals:
            raise ValueError(f"grid[{name!r}] must hold at least one value, got none")
        names.append(name)
        values.append(vals)
    return names, values


_POINT_BYTES = 2048.0  # a point's dict, its SeedSequence, its result row and the frame's share


def _check_seed(seed):
    if isinstance(seed, np.random.SeedSequence):
        return seed
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral) or int(seed) < 0:
        raise ValueError(f"seed must be a non-negative int or a numpy.random.SeedSequence, "
                         f"got {seed!r}")
    return np.random.SeedSequence(int(seed))


def _interactive():
    """True in a terminal or in a JupyterLab/Notebook session; False in a headless build."""
    flag = os.environ.get("MMLIB_PROGRESS")
    if flag is not None:
        return flag.strip().lower() not in ("0", "false", "no", "off", "")
    try:
        tty = sys.stderr.isatty()
    except (AttributeError, ValueError):
        tty = False
    # jupyter_server names the session of a kernel a user opened; papermill,
    # nbclient and jupyter-book start kernels without one
    return tty or "JPY_SESSION_NAME" in os.environ


def sweep(func, grid, *, seed, executor=None, progress=None):
    r"""Evaluate ``func(point, rng) -> dict[str, float]`` on every point of a grid.

    .. math:: \{(v_1,\dots,v_d) : v_j \in \texttt{grid}[\text{name}_j]\},\qquad
              \texttt{rng}_i = \texttt{default\_rng}(\texttt{SeedSequence(seed).spawn}(n)[i])

    Parameters
    ----------
    func : callable
        ``func(point, rng)``: ``point`` a read-only mapping from each grid name
        to its value at that point, ``rng`` a ``numpy.random.Generator`` that is
        the point's only source of randomness. Returns a dict of output name
        to a real number (NaN allowed, as a documented marker). It is
        serialised with cloudpickle, so functions defined in a notebook work
        on every executor.
    grid : dict
        Parameter name -> non-empty iterable of values (a list or a 1-d array).
        The sweep covers their Cartesian product, the last name varying fastest.
        Every name must be read by ``func`` at some point.
    seed : int or numpy.random.SeedSequence
        Root of the per-point streams; ``>= 0``. Keyword-only and required.
    executor : concurrent.futures.Executor or None
        ``None`` runs serially in this process. Any ``Executor`` works: a
        ``ProcessPoolExecutor`` uses the local cores, and
        ``dask.distributed.Client(...).get_executor()`` runs on a Dask cluster.
        The caller owns (and shuts down) the executor.
    progress : bool or None
        Show a tqdm progress bar. ``None`` (default): only in interactive use,
        in a terminal or a Jupyter session, never in a headless book build; the
        environment variable ``MMLIB_PROGRESS=0/1`` overrides that guess.

    Returns
    -------
    pandas.DataFrame
        One row per point in grid order: the grid's columns first, then the
        outputs in the order ``func`` returned them at point 0.

    Raises
    ------
    ValueError
        For a bad grid (not a dict, empty, a value that is not a non-empty
        iterable, a name ``func`` never reads, a name that is also an output)
        or a bad seed. Before anything is evaluated: for a grid of more than
        ``mmlib.limits.MAX_STEPS`` points, or whose bookkeeping (about 2 KiB
        a point) exceeds ``mmlib.limits.MAX_BYTES``.
    SweepError
        If ``func`` raises, returns something other than a dict of real
        numbers, or returns different output names at different points; the
        message names the point's index and values.

    References
    ----------
    NumPy, *Parallel random number generation* (``SeedSequence.spawn``); the
    book's chapter *Failure regimes*.

    Examples
    --------
    >>> def f(point, rng):
    ...     return {"y": point["a"] * point["b"], "u": float(rng.random() < 2.0)}
    >>> df = sweep(f, {"a": [1, 2], "b": [10.0, 20.0]}, seed=0, progress=False)
    >>> df.columns.tolist(), df["y"].tolist()
    (['a', 'b', 'y', 'u'], [10.0, 20.0, 20.0, 40.0])
    >>> sweep(f, {"a": [1], "c": [3]}, seed=0, progress=False)
    Traceback (most recent call last):
    ...
    mmlib.sweep.SweepError: func raised at point 0 (a=1, c=3): KeyError: "'b' is not a grid parameter; ..."
    """
    if not callable(func):
        raise ValueError(f"func must be callable (point, rng) -> dict, got {func!r}")
    names, values = _check_grid(grid)
    n_points = math.prod(len(v) for v in values)
    limits.check_steps(f"a grid of {n_points:,} points", n_points, "use a coarser grid")
    limits.check_memory(f"a grid of {n_points:,} points", _POINT_BYTES * n_points,
                        "use a coarser grid")
    root = _check_seed(seed)
    if progress is not None and not isinstance(progress, bool):
        raise ValueError(f"progress must be True, False or None, got {progress!r}")
    if executor is not None and not callable(getattr(executor, "submit", None)):
        raise ValueError(f"executor must be a concurrent.futures.Executor (with .submit), "
                         f"got {type(executor).__name__}")
    import cloudpickle
    import pandas as pd

    points = [dict(zip(names, combo)) for combo in itertools.product(*values)]
    n = len(points)
    streams = root.spawn(n)
    payload = cloudpickle.dumps(func)
    show = _interactive() if progress is None else progress
    bar = None
    if show:
        from tqdm.auto import tqdm

        bar = tqdm(total=n, desc="sweep", unit="pt")
    results = [None] * n
    read = set()
    futures = []
    try:
        if executor is None:
            outcomes = (_run_point(payload, i, points[i], streams[i]) for i in range(n))
        else:
            from concurrent.futures import as_completed

            futures = [executor.submit(_run_point, payload, i, points[i], streams[i])
                       for i in range(n)]
            outcomes = (f.result() for f in as_completed(futures))
        for i, out, names_read in outcomes:
            results[i] = out
            read.update(names_read)
            if bar is not None:
                bar.update(1)
    finally:
        for f in futures:  # after a failure, do not leave the rest running
            f.cancel()
        if bar is not None:
            bar.close()
    unused = [name for name in names if name not in read]
    if unused:
        raise ValueError(f"grid names {unused} are never read by func (misspelt?); the "
                         f"grid may only hold parameters func uses")
    out_names = list(results[0])
    clash = [c for c in out_names if c in names]
    if clash:
        raise ValueError(f"output names {clash} are also grid names; rename them")
    for i, res in enumerate(results):
        if set(res) != set(out_names):
            raise SweepError(f"func returned outputs {list(res)} at "
                             f"{_describe(i, points[i])} but {out_names} at point 0")
    frame = pd.DataFrame(points, columns=names)
    outputs = pd.DataFrame([[res[c] for c in out_names] for res in results],
                           columns=out_names, dtype=float)
    return pd.concat([frame, outputs], axis=1)
