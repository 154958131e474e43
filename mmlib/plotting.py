r"""Plot helpers shared by the chapters, and the dashboard's figure builder.

Every helper takes matplotlib ``Axes`` (or a ``Figure`` to lay axes out on)
and returns them, or the artists it drew; none changes global matplotlib
state. The book's look is set once per chapter with
``plt.style.use(mmlib.plotting.BOOK_STYLE)``, a plain dict of rc settings.

The dashboard (:func:`dashboard_axes`, :func:`draw_dashboard`,
:func:`update_dashboard`, :func:`update_derisk`) re-creates the seed article's
interactive demo: three surfaces over :math:`(t, x)` and four session metrics.
Updates change the data of the existing artists, so a slider move never
re-creates axes.

Chapters: every chapter's figures; the dashboard in *Dashboard* (``book/dashboard.md``).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_real
from .metrics import derisk_probability, session_metrics

__all__ = [
    "BOOK_STYLE",
    "plot_heatmap",
    "plot_slices",
    "plot_ridge",
    "plot_series",
    "plot_loglog",
    "plot_edge_rate",
    "plot_fill_fit",
    "DASHBOARD_PANELS",
    "DashboardArtists",
    "dashboard_axes",
    "draw_dashboard",
    "update_dashboard",
    "update_derisk",
]

#: The rc settings of the book's figures (readable on a phone, no chart junk).
BOOK_STYLE = {
    "figure.figsize": (6.4, 3.8),
    "figure.dpi": 110,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "font.size": 10,
    "legend.frameon": False,
    "image.cmap": "viridis",
}


def plot_heatmap(ax, t, x, Z, *, label=None, cmap=None, **kwargs):
    """Draw ``Z[time, inventory]`` as a heat map with time across and inventory up.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    t : ndarray, shape (n_t,)
    x : ndarray, shape (n_x,)
    Z : ndarray, shape (n_t, n_x)
        NaN entries (sides that do not quote) are left blank.
    label : str, optional
        Colour-bar label.

    Returns
    -------
    matplotlib.axes.Axes
    """
    mesh = ax.pcolormesh(t, x, np.asarray(Z).T, shading="nearest", cmap=cmap, **kwargs)
    cb = ax.figure.colorbar(mesh, ax=ax)
    if label:
        cb.set_label(label)
    ax.set_xlabel("time $t$")
    ax.set_ylabel("inventory $x$")
    ax.grid(False)
    return ax


def plot_slices(ax, x, Z, t, times, *, ylabel=None, fmt="t = {:.3g}"):
    """Plot slices ``Z(t_i, .)`` against inventory at the grid times nearest ``times``.

    Returns
    -------
    matplotlib.axes.Axes
    """
    for s in times:
        i = int(np.argmin(np.abs(np.asarray(t) - s)))
        ax.plot(x, Z[i], marker=".", label=fmt.format(t[i]))
    ax.set_xlabel("inventory $x$")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def _check_2d(name, Z, n_t, n_x):
    Z = np.asarray(Z, dtype=float)
    if Z.shape != (n_t, n_x):
        raise ValueError(f"{name} must have shape ({n_t}, {n_x}) = (len(t), len(x)), "
                         f"got {Z.shape}")
    return Z


def plot_ridge(ax, x, rho, t, times, *, overlap=1.5, color="C0"):
    r"""Ridge plot of the population: one curve :math:`\rho(t_i,\cdot)` per time, stacked up.

    Each curve is drawn on its own baseline, shifted up by one unit per time,
    and scaled so that the tallest curve rises ``overlap`` units; later
    times are drawn in front.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    x : ndarray, shape (n_x,)
        Inventory grid.
    rho : ndarray, shape (n_t, n_x)
        Population at each grid time.
    t : ndarray, shape (n_t,)
        Time grid.
    times : sequence of float
        Times to draw; the nearest grid times are used. At least one.
    overlap : float
        Height of the tallest curve in baseline units, ``overlap > 0``.

    Returns
    -------
    matplotlib.axes.Axes
        The y tick labels name the times of the baselines.

    Raises
    ------
    ValueError
        If ``rho`` does not have shape ``(len(t), len(x))``, ``times`` is
        empty or ``overlap <= 0``.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt, numpy as np
    >>> fig, ax = plt.subplots()
    >>> rho = np.full((3, 5), 0.2)
    >>> ax = plot_ridge(ax, np.arange(-2, 3), rho, [0.0, 0.5, 1.0], [0.0, 1.0])
    >>> len(ax.lines)
    2
    >>> plt.close(fig)
    """
    x = np.asarray(x, dtype=float)
    t = np.asarray(t, dtype=float)
    rho = _check_2d("rho", rho, t.size, x.size)
    overlap = check_real("overlap", overlap, lo=0.0, lo_open=True)
    if len(times) == 0:
        raise ValueError("times must hold at least one time")
    rows = [int(np.argmin(np.abs(t - s))) for s in times]
    top = max(float(rho[i].max()) for i in rows) or 1.0
    for j, i in enumerate(rows):
        y = j + overlap * rho[i] / top
        z = len(rows) - j  # earlier (lower) curves in front
        ax.fill_between(x, j, y, color=color, alpha=0.25, zorder=z, lw=0)
        ax.plot(x, y, color=color, zorder=z + 0.5, lw=1.2)
    ax.set_yticks(range(len(rows)), [f"t = {t[i]:.3g}" for i in rows])
    ax.set_xlabel("inventory $x$")
    ax.grid(False)
    return ax


def plot_series(ax, t, series, *, ylabel=None, styles=None):
    """Plot several time series on one axes, with a legend.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    t : ndarray, shape (n_t,)
    series : mapping of str to ndarray of shape (n_t,)
        Legend label -> values. At least one.
    ylabel : str, optional
    styles : mapping of str to dict, optional
        Extra keyword arguments of ``ax.plot`` per label (e.g. ``{"ls": "--"}``).

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If ``series`` is empty or a series does not have the length of ``t``.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt, numpy as np
    >>> fig, ax = plt.subplots()
    >>> ax = plot_series(ax, np.arange(3), {"a": np.zeros(3), "b": np.ones(3)})
    >>> [ln.get_label() for ln in ax.lines]
    ['a', 'b']
    >>> plt.close(fig)
    """
    t = np.asarray(t, dtype=float)
    if not series:
        raise ValueError("series must hold at least one labelled series")
    styles = styles or {}
    for label, y in series.items():
        y = np.asarray(y, dtype=float)
        if y.shape != t.shape:
            raise ValueError(f"series {label!r} must have shape {t.shape}, got {y.shape}")
        ax.plot(t, y, label=label, **styles.get(label, {}))
    ax.set_xlabel("time $t$")
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.legend()
    return ax


def plot_loglog(ax, n, err, *, ref_slope=None, label=None, xlabel=None, ylabel=None):
    r"""Log-log convergence plot, optionally with a reference line of given slope.

    The reference line :math:`c\,n^{s}` passes through the geometric mean of
    the data, so it shows the slope, not a fit of the level.

    Parameters
    ----------
    ax : matplotlib.axes.Axes
    n : ndarray, shape (m,)
        Positive abscissae (paths, steps, iterations).
    err : ndarray, shape (m,)
        Positive errors.
    ref_slope : float, optional
        Slope :math:`s` of a dashed reference line.
    label, xlabel, ylabel : str, optional

    Returns
    -------
    matplotlib.axes.Axes

    Raises
    ------
    ValueError
        If ``n`` and ``err`` differ in shape or hold non-positive values.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> import matplotlib.pyplot as plt, numpy as np
    >>> fig, ax = plt.subplots()
    >>> n = np.array([10.0, 100.0, 1000.0])
    >>> ax = plot_loglog(ax, n, 1 / np.sqrt(n), ref_slope=-0.5)
    >>> len(ax.lines), ax.get_xscale()
    (2, 'log')
    >>> plt.close(fig)
    """
    n = np.asarray(n, dtype=float)
    err = np.asarray(err, dtype=float)
    if n.shape != err.shape or n.ndim != 1:
        raise ValueError(f"n and err must be 1-d of equal shape, got {n.shape} and {err.shape}")
    if not (np.all(n > 0) and np.all(err > 0)):
        raise ValueError("n and err must be positive for a log-log plot")
    ax.loglog(n, err, "o-", label=label)
    if ref_slope is not None:
        s = check_real("ref_slope", ref_slope)
        gx, gy = np.exp(np.log(n).mean()), np.exp(np.log(err).mean())
        ax.loglog(n, gy * (n / gx) ** s, "k--", lw=1, label=f"slope {s:g}")
    if xlabel:
        ax.set_xlabel(xlabel)
    if ylabel:
        ax.set_ylabel(ylabel)
    ax.legend()
    return ax


# ---------------------------------------------------------------------------
# dashboard
# ---------------------------------------------------------------------------
#: Names of the seven dashboard panels, in reading order.
DASHBOARD_PANELS = ("value", "control", "population", "spreads", "variance", "derisk",
                    "marginal")

_LAYOUT = [["value", "value", "control", "control", "population", "population"],
           ["spreads", "spreads", "spreads", "variance", "variance", "variance"],
           ["derisk", "derisk", "derisk", "marginal", "marginal", "marginal"]]

_SURFACES = {  # panel -> (field of the solution or population, colour-bar label)
    "value": ("V", r"value $V(t,x)$"),
    "control": ("delta_a", r"ask quote $\delta^{a*}(t,x)$"),
    "population": ("rho", r"population $\rho(t,x)$"),
}


@dataclass
class DashboardArtists:
    """Handles of everything :func:`draw_dashboard` drew, for in-place updates.

    Attributes
    ----------
    axes : dict of str to Axes
        The panels, keyed by :data:`DASHBOARD_PANELS`.
    images : dict of str to AxesImage
        The three surfaces (``value``, ``control``, ``population``).
    lines : dict of str to Line2D
        ``avg_a``, ``avg_b``, ``full_spread``, ``skew``, ``variance``,
        ``derisk`` and ``marginal``.
    eps_text : matplotlib.text.Text
        The de-risk panel's label of the threshold.
    """

    axes: dict
    images: dict
    lines: dict
    eps_text: object


def dashboard_axes(fig):
    """Lay the seven dashboard panels out on a figure: surfaces on top, metrics below.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        An empty figure (about 11 x 8 inches reads well).

    Returns
    -------
    dict of str to matplotlib.axes.Axes
        Keyed by :data:`DASHBOARD_PANELS`.

    Raises
    ------
    ValueError
        If the figure already holds axes.
    """
    if fig.axes:
        raise ValueError("fig must be empty: dashboard_axes lays out its own panels")
    return dict(fig.subplot_mosaic(_LAYOUT))


def _extent(t, x):
    dt = (t[-1] - t[0]) / max(t.size - 1, 1)
    return (t[0] - dt / 2, t[-1] + dt / 2, x[0] - 0.5, x[-1] + 0.5)


def _surface_data(solution, rho):
    return {"value": solution.V, "control": solution.delta_a, "population": rho}


def _clim(Z):
    lo, hi = float(np.nanmin(Z)), float(np.nanmax(Z))
    return (lo, hi) if hi > lo else (lo - 0.5, hi + 0.5)


def _check_dashboard_input(solution, rho):
    for name in ("t", "x", "V", "delta_a", "delta_b"):
        if not hasattr(solution, name):
            raise ValueError(f"solution must be an HJBSolution or MeanFieldSolution, "
                             f"got {type(solution).__name__}")
    return _check_2d("rho", rho, solution.t.size, solution.x.size)


def draw_dashboard(axes, solution, rho, eps=0.5):
    r"""Draw the seed article's dashboard on seven axes.

    Surfaces (time across, inventory up): the value :math:`V(t,x)`, the ask
    quote :math:`\delta^{a*}(t,x)` (the bid is its mirror image for a symmetric
    crowd) and the population :math:`\rho(t,x)`. Session metrics: the crowd's
    average quotes with the full spread :math:`\bar\delta^a+\bar\delta^b` and the
    skew :math:`\bar\delta^a-\bar\delta^b`; the inventory variance; the de-risk
    probability :math:`P(|X_t|<\varepsilon)`; the marginal cost
    :math:`\partial_x V(t,0)`.

    Parameters
    ----------
    axes : dict of str to Axes
        Keyed by :data:`DASHBOARD_PANELS` (e.g. from :func:`dashboard_axes`).
    solution : HJBSolution or MeanFieldSolution
    rho : ndarray, shape (n_steps+1, 2*x_max+1)
        Population under the solution's quotes.
    eps : float
        De-risk threshold, ``eps > 0``.

    Returns
    -------
    DashboardArtists

    Raises
    ------
    ValueError
        If a panel is missing, ``rho`` has the wrong shape or ``eps <= 0``.

    References
    ----------
    Sud (2025), "Interpreting the dashboard". The book's chapter *Dashboard*.
    """
    missing = [p for p in DASHBOARD_PANELS if p not in axes]
    if missing:
        raise ValueError(f"axes must hold the panels {DASHBOARD_PANELS}; missing {missing}")
    rho = _check_dashboard_input(solution, rho)
    eps = check_real("eps", eps, lo=0.0, lo_open=True)
    t, x = solution.t, solution.x
    images = {}
    for name, Z in _surface_data(solution, rho).items():
        ax = axes[name]
        im = ax.imshow(np.asarray(Z).T, origin="lower", aspect="auto",
                       extent=_extent(t, x), interpolation="nearest")
        im.set_clim(*_clim(Z))
        ax.figure.colorbar(im, ax=ax).set_label(_SURFACES[name][1])
        ax.set_xlabel("time $t$")
        ax.set_ylabel("inventory $x$")
        ax.grid(False)
        images[name] = im
    m = session_metrics(solution, rho, eps)
    ax = axes["spreads"]
    lines = {
        "avg_a": ax.plot(t, m["avg_delta_a"], label=r"$\bar\delta^a$")[0],
        "avg_b": ax.plot(t, m["avg_delta_b"], "--", label=r"$\bar\delta^b$")[0],
        "full_spread": ax.plot(t, m["full_spread"], label=r"full spread $\bar\delta^a+\bar\delta^b$")[0],
        "skew": ax.plot(t, m["skew"], label=r"skew $\bar\delta^a-\bar\delta^b$")[0],
    }
    ax.set_ylabel("depth")
    ax.legend(fontsize="small", ncol=2, loc="upper center")
    for key, panel, ylabel in [("variance", "variance", r"Var$[X_t]$"),
                               ("derisk", "derisk", r"$P(|X_t|<\varepsilon)$"),
                               ("marginal", "marginal", r"$\partial_x V(t,0)$")]:
        field = {"marginal": "marginal_cost"}.get(key, key)
        lines[key] = axes[panel].plot(t, m[field], color="C4" if key == "derisk" else None)[0]
        axes[panel].set_ylabel(ylabel)
    eps_text = axes["derisk"].text(0.02, 0.92, "", transform=axes["derisk"].transAxes,
                                   va="top")
    eps_text.set_text(rf"$\varepsilon = {eps:g}$")
    for name in ("spreads", "variance", "derisk", "marginal"):
        axes[name].set_xlabel("time $t$")
    for name in ("spreads", "variance", "marginal"):
        _rescale(axes[name])
    _legend_room(axes["spreads"])
    axes["derisk"].set_ylim(0.0, 1.0)
    return DashboardArtists(axes=dict(axes), images=images, lines=lines, eps_text=eps_text)


def _legend_room(ax):
    """Raise the top of the y-axis so the legend sits above the curves."""
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi + 0.45 * (hi - lo))


def _rescale(ax):
    """Autoscale y, but never zoom into rounding noise: keep a span of at least 1e-6."""
    ax.set_autoscale_on(True)  # an earlier set_ylim switched autoscaling off
    ax.relim()
    ax.autoscale_view()
    ys = np.concatenate([np.asarray(ln.get_ydata(), dtype=float) for ln in ax.lines])
    ys = ys[np.isfinite(ys)]
    if ys.size:
        lo, hi = float(ys.min()), float(ys.max())
        pad = 1e-6 * max(1.0, abs(lo), abs(hi))
        if hi - lo < pad:
            mid = 0.5 * (lo + hi)
            ax.set_ylim(mid - 0.5, mid + 0.5)


def update_derisk(artists, x, rho, eps):
    r"""Redraw only the de-risk panel for a new threshold :math:`\varepsilon` (no re-solve).

    Parameters
    ----------
    artists : DashboardArtists
    x : ndarray, shape (n,)
        Inventory grid.
    rho : ndarray, shape (n_t, n)
        Population.
    eps : float
        ``eps > 0``.

    Returns
    -------
    DashboardArtists
        The same object, its de-risk line updated in place.
    """
    eps = check_real("eps", eps, lo=0.0, lo_open=True)
    line = artists.lines["derisk"]
    t = line.get_xdata()
    p = derisk_probability(x, np.asarray(rho, dtype=float), eps)
    if p.shape != np.shape(t):
        raise ValueError(f"rho must have {np.size(t)} rows (the plotted times), got {p.shape[0]}")
    line.set_ydata(p)
    artists.eps_text.set_text(rf"$\varepsilon = {eps:g}$")
    return artists


def update_dashboard(artists, solution, rho, eps=0.5):
    """Update every panel in place for a new solution (same axes, same artists).

    The grid may change size (new ``T``, ``x_max`` or ``n_steps``): images get
    new data and extent, lines new data, and the axes rescale.

    Parameters
    ----------
    artists : DashboardArtists
        From :func:`draw_dashboard`.
    solution : HJBSolution or MeanFieldSolution
    rho : ndarray, shape (n_steps+1, 2*x_max+1)
    eps : float
        ``eps > 0``.

    Returns
    -------
    DashboardArtists
        The same object.
    """
    rho = _check_dashboard_input(solution, rho)
    eps = check_real("eps", eps, lo=0.0, lo_open=True)
    t, x = solution.t, solution.x
    for name, Z in _surface_data(solution, rho).items():
        im = artists.images[name]
        im.set_data(np.asarray(Z).T)
        im.set_extent(_extent(t, x))
        im.set_clim(*_clim(Z))
    m = session_metrics(solution, rho, eps)
    keys = {"avg_a": "avg_delta_a", "avg_b": "avg_delta_b", "full_spread": "full_spread",
            "skew": "skew", "variance": "variance", "derisk": "derisk",
            "marginal": "marginal_cost"}
    for key, field in keys.items():
        artists.lines[key].set_data(t, m[field])
    artists.eps_text.set_text(rf"$\varepsilon = {eps:g}$")
    for name in ("spreads", "variance", "marginal"):
        _rescale(artists.axes[name])
    _legend_room(artists.axes["spreads"])
    artists.axes["derisk"].set_xlim(t[0], t[-1])
    return artists


# ---------------------------------------------------------------------------
# chapter figures: intensities (edge rate, fitted fill curve)
# ---------------------------------------------------------------------------
def plot_edge_rate(ax, A, k, delta):
    r"""Edge per unit time :math:`A\delta e^{-k\delta}` with its peak at :math:`1/k` marked."""
    ax.plot(delta, A * delta * np.exp(-k * delta), label=rf"$A={A:g}$, $k={k:g}$")
    ax.axvline(1.0 / k, ls=":", color="0.4")
    ax.plot([1.0 / k], [A / (np.e * k)], "o", color="C3", label=r"peak at $\delta=1/k$")
    ax.set_xlabel(r"depth $\delta$")
    ax.set_ylabel(r"edge per unit time $\lambda(\delta)\,\delta$")
    ax.legend()
    return ax


def plot_fill_fit(ax, depths, counts, exposure, A_hat, k_hat, A_true=None, k_true=None):
    r"""Observed fill rates :math:`y_j/E_j` with Poisson 2-sigma bars and the fitted curve (log scale)."""
    depths = np.asarray(depths, dtype=float)
    rate = np.asarray(counts) / exposure
    err = 2.0 * np.sqrt(np.maximum(np.asarray(counts), 1)) / exposure
    ax.errorbar(depths, rate, yerr=np.minimum(err, 0.99 * rate), fmt="o", ms=4,
                label="observed rate $y_j/E_j$")
    d = np.linspace(depths.min(), depths.max(), 200)
    ax.plot(d, A_hat * np.exp(-k_hat * d), label=rf"MLE: $\hat A={A_hat:.3g}$, $\hat k={k_hat:.3g}$")
    if A_true is not None:
        ax.plot(d, A_true * np.exp(-k_true * d), "--", color="0.4", label="truth")
    ax.set_yscale("log")
    ax.set_xlabel(r"depth $\delta$")
    ax.set_ylabel("fills per unit time")
    ax.legend()
    return ax
