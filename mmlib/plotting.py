r"""Plot helpers shared by the chapters, and the dashboard's figure builder.

Every helper takes matplotlib ``Axes`` (or a ``Figure`` to lay axes out on)
and returns them, or the artists it drew; none changes global matplotlib
state. The book's look is set once per chapter with
``plt.style.use(mmlib.plotting.BOOK_STYLE)``, a plain dict of rc settings.

The dashboard (:func:`dashboard_axes`, :func:`draw_dashboard`,
:func:`update_dashboard`, :func:`update_derisk`) re-creates the seed article's
interactive demo: three surfaces over :math:`(t, x)` and four session metrics.
Updates change the data of the existing artists, so a slider move never
re-creates axes, and :func:`render_dashboard` turns the figure into PNG bytes,
redrawing only the data when no axis limit moved and only the tick labels of the
axes whose limits moved otherwise.

Chapters: every chapter's figures; the dashboard in *Dashboard* (``book/dashboard.md``).
"""
from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass, field

import numpy as np
from matplotlib.colors import to_rgba
from matplotlib.layout_engine import PlaceHolderLayoutEngine

from ._validation import check_int, check_real
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
    "DASHBOARD_FIGSIZE",
    "render_dashboard",
    "encode_png",
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

#: Size of the dashboard figure in inches. At the book's 110 dpi it is 880 x 440 pixels, so the
#: figure and three rows of sliders fit beside JupyterLab's file browser on a 1280 x 720 screen.
DASHBOARD_FIGSIZE = (8.0, 4.0)

# Surfaces on top, the four session metrics below; each row is its own nested grid, so the
# colour bars' margins on top do not squeeze the panels below.
_LAYOUT = [[[["value", "control", "population"]]],
           [[["spreads", "variance", "derisk", "marginal"]]]]

_SURFACES = {  # panel -> field of the solution or population it shows
    "value": "V",
    "control": "delta_a",
    "population": "rho",
}

#: Title of each panel (seven panels need words on the figure itself; the caption cannot say
#: which is which).
_TITLES = {
    "value": r"value $V(t,x)$",
    "control": r"ask quote $\delta^{a*}(t,x)$",
    "population": r"population $\rho(t,x)$",
    "spreads": "average quotes",
    "variance": r"variance Var$[X_t]$",
    "derisk": r"de-risk $P(|X_t|<\varepsilon)$",
    "marginal": r"marginal cost $\partial_x V(t,0)$",
}

# Axis and colour limits end on round numbers that split into this many intervals (so a
# small change of the data leaves them where they are). Each axis is labelled at its two
# ends and its middle only: every tick label is a text to draw anew when a limit moves, and
# the drawing time of a move is mostly tick labels.
_TICK_BINS = 4


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
    render_cache : dict
        Private state of :func:`render_dashboard` (the cached background).
    layout_engine : matplotlib.layout_engine.LayoutEngine or None
        The figure's layout engine, kept when :func:`render_dashboard` freezes the layout;
        it lays the figure out again with it when a tick label would no longer fit.
        Clearing ``render_cache`` keeps it.
    widest_labels : dict
        For each axis (a matplotlib ``Axis``, the key) whose tick labels change width with
        the sliders, the widest label the layout leaves room for (a string; at least the
        widest seen so far).
    """

    axes: dict
    images: dict
    lines: dict
    eps_text: object
    render_cache: dict = field(default_factory=dict, repr=False)
    layout_engine: object = field(default=None, repr=False)
    widest_labels: dict = field(default_factory=dict, repr=False)

    @property
    def figure(self):
        """The figure the panels are on."""
        return self.axes["value"].get_figure(root=True)

    def dynamic(self):
        """``(axes, artist)`` for every artist whose data a slider move changes, and for
        those drawn above them (spines, a legend above the curves), in matplotlib's
        drawing order."""
        out = []
        for ax in self.axes.values():
            mine = [a for a in (*self.images.values(), *self.lines.values(), self.eps_text)
                    if a.axes is ax]
            if not mine:
                continue
            low = min(a.get_zorder() for a in mine)
            above = [*ax.spines.values(), *([ax.get_legend()] if ax.get_legend() else [])]
            mine += [a for a in above if a.get_zorder() >= low]
            out += [(ax, a) for a in sorted(mine, key=lambda a: a.get_zorder())]
        return out


def dashboard_axes(fig):
    """Lay the seven dashboard panels out on a figure: surfaces on top, metrics below.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        An empty figure, best of size :data:`DASHBOARD_FIGSIZE` with
        ``layout="constrained"``.

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


def _nice_limits(lo, hi, nbins=_TICK_BINS):
    """The smallest interval with round-number ends (tick positions) that holds [lo, hi].

    Round ends keep the ticks, and so the cached background of :func:`render_dashboard`,
    unchanged under the small data changes of one slider step. Data within 1e-9 of a
    span from a tick count as on it, so rounding noise does not move an end.
    """
    from matplotlib.ticker import MaxNLocator

    if not hi > lo:
        span = 0.5 * max(1.0, abs(lo))
        lo, hi = lo - span, hi + span
    locs = MaxNLocator(nbins=nbins).tick_values(lo, hi)
    step = float(np.min(np.diff(locs))) if locs.size > 1 else hi - lo
    locs = np.round(locs / step) * step + 0.0  # no float noise, no negative zero
    tol = 1e-9 * (hi - lo)
    below, above = locs[locs <= lo + tol], locs[locs >= hi - tol]
    return (float(below.max()) if below.size else lo, float(above.min()) if above.size else hi)


def _clim(Z):
    Z = np.asarray(Z, dtype=float)
    Z = Z[np.isfinite(Z)]
    return _nice_limits(float(Z.min()), float(Z.max())) if Z.size else (0.0, 1.0)


def _check_dashboard_input(solution, rho):
    for name in ("t", "x", "V", "delta_a", "delta_b"):
        if not hasattr(solution, name):
            raise ValueError(f"solution must be an HJBSolution or MeanFieldSolution, "
                             f"got {type(solution).__name__}")
    return _check_2d("rho", rho, solution.t.size, solution.x.size)


def _three_ticks():
    """Ticks at both ends and the middle of the view (the limits are round numbers)."""
    from matplotlib.ticker import LinearLocator

    return LinearLocator(numticks=3)


def _surface_ticks(ax, t, x):
    """Time ticks at 0, T/2, T and inventory ticks at -x_max, 0, x_max (the image's extent
    reaches half a cell beyond the grid)."""
    ax.set_xticks([t[0], 0.5 * (t[0] + t[-1]), t[-1]])
    ax.set_yticks([x[0], 0.5 * (x[0] + x[-1]), x[-1]])


def _style_axes(ax, title):

    ax.grid(False)  # no grid lines: a limit that moves then redraws only its tick labels
    ax.set_title(title, fontsize=9, y=1.0)  # a fixed place: no search for room above
    ax.tick_params(labelsize=8, pad=2)
    ax.xaxis.set_major_locator(_three_ticks())
    ax.yaxis.set_major_locator(_three_ticks())
    ax.set_xlabel("$t$", fontsize=8, labelpad=1)


def draw_dashboard(axes, solution, rho, eps=0.5):
    r"""Draw the seed article's dashboard on seven axes.

    Surfaces (time across, inventory up): the value :math:`V(t,x)`, the ask
    quote :math:`\delta^{a*}(t,x)` (the bid is its mirror image for a symmetric
    crowd) and the population :math:`\rho(t,x)`. Session metrics: the crowd's
    average quotes with the full spread :math:`\bar\delta^a+\bar\delta^b` and the
    skew :math:`\bar\delta^a-\bar\delta^b`; the inventory variance; the de-risk
    probability :math:`P(|X_t|<\varepsilon)`; the marginal cost
    :math:`\partial_x V(t,0)`.

    Axis and colour limits end on round numbers (tick positions) that hold the
    data, so a small change of the data leaves them, and the ticks, unchanged.

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
    for name in DASHBOARD_PANELS:
        _style_axes(axes[name], _TITLES[name])
    images = {}
    # room the layout leaves for the widest label of each axis (see render_dashboard)
    widest = {axes[name].xaxis: _WIDEST_TIME_TICK for name in DASHBOARD_PANELS}
    widest.update({axes[name].yaxis: _WIDEST_VALUE_TICK for name in ("spreads", "variance",
                                                                      "marginal")})
    for name, Z in _surface_data(solution, rho).items():
        ax = axes[name]
        im = ax.imshow(np.asarray(Z).T, origin="lower", aspect="auto",
                       extent=_extent(t, x), interpolation="nearest")
        im.set_clim(*_clim(Z))
        _surface_ticks(ax, t, x)
        cb = ax.get_figure(root=True).colorbar(im, ax=ax, pad=0.02, fraction=0.08)
        cb.ax.tick_params(labelsize=8, pad=1)
        cb.locator = _colorbar_locator()
        widest[ax.yaxis] = _WIDEST_INVENTORY_TICK
        widest[cb.ax.yaxis] = _WIDEST_VALUE_TICK
        ax.set_ylabel("$x$", fontsize=8, labelpad=1)
        _pin_ylabel(ax)
        ax.grid(False)
        images[name] = im
    m = session_metrics(solution, rho, eps)
    ax = axes["spreads"]
    lines = {
        "avg_a": ax.plot(t, m["avg_delta_a"], label=r"$\bar\delta^a$")[0],
        "avg_b": ax.plot(t, m["avg_delta_b"], "--", label=r"$\bar\delta^b$")[0],
        "full_spread": ax.plot(t, m["full_spread"], label=r"$\bar\delta^a+\bar\delta^b$")[0],
        "skew": ax.plot(t, m["skew"], label=r"$\bar\delta^a-\bar\delta^b$")[0],
    }
    legend = ax.legend(fontsize=7, ncol=2, loc="upper center", handlelength=1.2,
                       columnspacing=0.8, borderaxespad=0.1, labelspacing=0.2)
    # Below the curves (they keep clear of it: the y-limits leave room on top), so the legend
    # is part of the cached background and not drawn anew on every move.
    legend.set_zorder(1.5)
    for key, field_ in [("variance", "variance"), ("derisk", "derisk"),
                        ("marginal", "marginal_cost")]:
        lines[key] = axes[key].plot(t, m[field_], color="C4" if key == "derisk" else None)[0]
    eps_text = axes["derisk"].text(0.04, 0.94, "", transform=axes["derisk"].transAxes,
                                   va="top", fontsize=8)
    eps_text.set_text(rf"$\varepsilon = {eps:g}$")
    axes["derisk"].set_ylim(0.0, 1.0)
    artists = DashboardArtists(axes=dict(axes), images=images, lines=lines, eps_text=eps_text,
                               widest_labels=widest)
    _rescale_all(artists, t)
    return artists


def _colorbar_locator():
    return _three_ticks()


def _rescale(ax, room=0.0):
    """Round-number y-limits that hold every line of ``ax``, plus ``room`` (a fraction) on top.

    Never zooms into rounding noise: a span below 1e-6 of the values' size becomes one unit.
    """
    ys = np.concatenate([np.asarray(ln.get_ydata(), dtype=float) for ln in ax.lines])
    ys = ys[np.isfinite(ys)]
    if not ys.size:
        return
    lo, hi = float(ys.min()), float(ys.max())
    if hi - lo < 1e-6 * max(1.0, abs(lo), abs(hi)):
        mid = 0.5 * (lo + hi)
        mid = 0.0 if abs(mid) < 1e-9 else mid  # a flat zero line stays centred on zero
        lo, hi = mid - 0.5, mid + 0.5
    ax.set_ylim(*_nice_limits(lo, hi + room * (hi - lo)))


def _rescale_all(artists, t):
    _rescale(artists.axes["spreads"], room=0.6)  # the legend sits above the curves
    for name in ("variance", "marginal"):
        _rescale(artists.axes[name])
    for name in ("spreads", "variance", "derisk", "marginal"):
        artists.axes[name].set_xlim(t[0], t[-1])


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
    new data and extent, lines new data, and the axes rescale to round-number limits.

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
        _surface_ticks(artists.axes[name], t, x)
    m = session_metrics(solution, rho, eps)
    keys = {"avg_a": "avg_delta_a", "avg_b": "avg_delta_b", "full_spread": "full_spread",
            "skew": "skew", "variance": "variance", "derisk": "derisk",
            "marginal": "marginal_cost"}
    for key, field_ in keys.items():
        artists.lines[key].set_data(t, m[field_])
    artists.eps_text.set_text(rf"$\varepsilon = {eps:g}$")
    _rescale_all(artists, t)
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


# The widest tick label an inventory axis can have (integer ticks, |x| <= 30; every digit of
# the default font is as wide as any other).
_WIDEST_INVENTORY_TICK = "\N{MINUS SIGN}30"


# The widest time tick label (ticks at 0, T/2 and T; T <= 20 in half steps): "19.50" at 19.5.
_WIDEST_TIME_TICK = "19.50"
#: Room the first layout leaves for the labels of a colour bar or a session metric (the
#: widest over the slider box's corners are six characters: "-100.0", "-10.00", "-0.500").
_WIDEST_VALUE_TICK = "\N{MINUS SIGN}100.0"


def _text_points(text, font):
    """Width of ``text`` in ``font`` (a FontProperties), in points (Agg at 72 dpi)."""
    from matplotlib.backends.backend_agg import RendererAgg

    return RendererAgg(1, 1, 72).get_text_width_height_descent(text, font, ismath=False)[0]


def _pin_ylabel(ax, widest=_WIDEST_INVENTORY_TICK):
    """Put the y label of ``ax`` where matplotlib would for tick labels as wide as ``widest``.

    A fixed offset from the left spine (tick length, tick pad, label pad and the width of
    ``widest`` in the tick labels' font), so the label neither moves nor runs into a wider
    tick label when ``x_max`` changes.
    """
    from matplotlib.transforms import ScaledTranslation

    tick = ax.yaxis.get_major_ticks()[0]
    off = (_text_points(widest, tick.label1.get_fontproperties()) + tick.get_tick_padding()
           + tick.get_pad() + ax.yaxis.labelpad)
    fig = ax.get_figure(root=True)
    ax.yaxis.set_label_coords(0.0, 0.5, transform=ax.transAxes
                              + ScaledTranslation(-off / 72.0, 0.0, fig.dpi_scale_trans))


def _freeze_labels(fig, renderer):
    """Pin every axis label where the last draw put it, in axes coordinates.

    Left to itself, matplotlib places each axis label anew on every draw from the boxes of
    all its tick labels (a third of the time of a panel's redraw). Every x label sits below
    tick labels of one height, and the only y labels are pinned already
    (:func:`_pin_ylabel`), so this moves nothing.
    """
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            label = axis.label
            xy = label.get_transform().transform(label.get_position())
            axis.set_label_coords(*ax.transAxes.inverted().transform(xy))


def _limits(ax):
    return {"x": tuple(ax.get_xlim()), "y": tuple(ax.get_ylim())}


def _pixel_box(bb, h, grow=0.0):
    """A display-space Bbox as a pixel box (x0, y0, x1, y1), y from the top, grown by ``grow``."""
    return (int(np.floor(bb.x0 - grow)), int(np.floor(h - bb.y1 - grow)),
            int(np.ceil(bb.x1 + grow)), int(np.ceil(h - bb.y0 + grow)))


def _meets(box, boxes):
    return any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3]
               for b in boxes)


def _lay_out(artists):
    """Run the layout engine with every axis of ``artists.widest_labels`` labelled by the
    widest of its recorded label and its labels now (which becomes the recorded one), so
    the frozen layout has room for labels that wide at every tick."""
    from matplotlib.ticker import FuncFormatter

    fig = artists.figure
    saved = []
    try:
        for axis, recorded in artists.widest_labels.items():
            ticks = axis.get_major_ticks()
            if not ticks:
                continue
            font = ticks[0].label1.get_fontproperties()
            now = axis.major.formatter.format_ticks(axis.get_majorticklocs())
            widest = max([recorded, *now], key=lambda text: _text_points(text, font))
            artists.widest_labels[axis] = widest
            saved.append((axis, axis.major.formatter))
            axis.major.formatter = FuncFormatter(lambda v, pos, text=widest: text)
        artists.layout_engine.execute(fig)
    finally:
        for axis, formatter in saved:
            axis.major.formatter = formatter


def _crowded(new_boxes, tight, w, h):
    """Whether any new tick-label box (``{(ax, name): box}``) leaves the ``w`` x ``h`` picture
    or meets another axes' box in ``tight`` (as the last layout left them)."""
    for (ax, _), b in new_boxes.items():
        if b is None:
            continue
        if b[0] < 0 or b[1] < 0 or b[2] > w or b[3] > h:
            return True
        if _meets(b, [box for other, box in tight.items() if other is not ax]):
            return True
    return False


def _axis_box(axis, renderer, h):
    """Pixel box of an axis' tick labels and offset text (its label left out: it never moves)."""
    label = axis.label
    shown = label.get_visible()
    label.set_visible(False)
    try:
        bb = axis.get_tightbbox(renderer)
    finally:
        label.set_visible(shown)
    return None if bb is None or bb.width <= 0 else _pixel_box(bb, h)


def _frame_box(ax, h):
    """Pixel box of the axes' frame and of everything drawn across or just outside it (grid
    lines, spines, tick marks on the sides that have them)."""
    px = ax.get_figure(root=True).dpi / 72.0
    grow = {"left": 0.0, "right": 0.0, "bottom": 0.0, "top": 0.0}
    for axis, sides in ((ax.xaxis, ("bottom", "top")), (ax.yaxis, ("left", "right"))):
        ticks = axis.get_major_ticks()
        if not ticks:
            continue
        for side, line in zip(sides, (ticks[0].tick1line, ticks[0].tick2line)):
            if line.get_visible():
                grow[side] = line.get_markersize() * px
    bb, g = ax.bbox, _GROW
    return (int(np.floor(bb.x0 - grow["left"] - g)), int(np.floor(h - bb.y1 - grow["top"] - g)),
            int(np.ceil(bb.x1 + grow["right"] + g)), int(np.ceil(h - bb.y0 + grow["bottom"] + g)))


def _tick_bands(ax, axis, h):
    """Pixel boxes of the bands along the spines where ``axis`` draws its tick marks."""
    ticks = axis.get_major_ticks()
    if not ticks:
        return []
    bb, px = ax.bbox, ax.get_figure(root=True).dpi / 72.0
    out = []
    for i, line in enumerate((ticks[0].tick1line, ticks[0].tick2line)):
        if not line.get_visible():
            continue
        reach = line.get_markersize() * px + _GROW
        if axis is ax.xaxis:
            y = bb.y0 if i == 0 else bb.y1
            out.append((int(np.floor(bb.x0 - _GROW)), int(np.floor(h - y - reach)),
                        int(np.ceil(bb.x1 + _GROW)), int(np.ceil(h - y + reach))))
        else:
            x = bb.x0 if i == 0 else bb.x1
            out.append((int(np.floor(x - reach)), int(np.floor(h - bb.y1 - _GROW)),
                        int(np.ceil(x + reach)), int(np.ceil(h - bb.y0 + _GROW))))
    return out


def _grid_on(axis):
    """Whether ``axis`` draws grid lines (across the frame)."""
    return any(t.gridline.get_visible() for t in axis.get_major_ticks())


def _interior_moves(ax, axis, dynamic):
    """Whether new limits of ``axis`` change what is drawn inside the frame of ``ax`` (other
    than the ``dynamic`` artists): grid lines, or static artists in data coordinates."""
    if _grid_on(axis):
        return True
    static = [*ax.lines, *ax.images, *ax.collections, *ax.patches, *ax.texts]
    return any(a.get_visible() and a not in dynamic for a in static)


def _union(boxes):
    boxes = [b for b in boxes if b is not None]
    return (min(b[0] for b in boxes), min(b[1] for b in boxes), max(b[2] for b in boxes),
            max(b[3] for b in boxes))


# Pixels added around the boxes redrawn: antialiased edges reach a pixel past an artist's
# extent. (Text needs none: its box is its line height, beyond the glyphs.)
_GROW = 2.0


def _text_box(artist, renderer, h, known):
    """Pixel box of a text-like artist, remembered in ``known`` until its axis moves."""
    box = known.get(artist)
    if box is None:
        box = known[artist] = _pixel_box(artist.get_window_extent(renderer), h)
    return box


def _tick_pixels(ax, axis):
    """Where the major tick marks of ``axis`` fall on the canvas (pixels, to 1e-6): the same
    after a move (ticks at both ends and the middle of round limits) means the marks are."""
    locs = np.asarray(axis.get_majorticklocs(), dtype=float)
    i = 0 if axis is ax.xaxis else 1
    pts = np.zeros((locs.size, 2))
    pts[:, i] = locs
    return tuple(np.round(ax.transData.transform(pts)[:, i], 6).tolist())


def _axis_footprint(ax, axis, box, renderer, h, known):
    """Pixel boxes of all that ``axis`` draws: its tick labels and offset text (``box``), its
    label, its tick marks and, with grid lines, the frame."""
    out = [box, _text_box(axis.label, renderer, h, known) if axis.label.get_visible() else None,
           *_tick_bands(ax, axis, h)]
    if _grid_on(axis):
        out.append(_frame_box(ax, h))
    return [b for b in out if b is not None]


def _texts(ax, fixed_axes):
    """The text-like static artists of ``ax`` that may be left out of a redraw when they lie
    outside the region redrawn: titles, axis labels, offset texts, the legend, and the tick
    labels of each axis in ``fixed_axes`` (axes whose limits did not move)."""
    out = [ax.title, ax.xaxis.label, ax.yaxis.label, ax.xaxis.get_offset_text(),
           ax.yaxis.get_offset_text()]
    if ax.get_legend() is not None:
        out.append(ax.get_legend())
    for axis in fixed_axes:
        for tick in axis.get_major_ticks():
            out += [tick.label1, tick.label2]
    return [a for a in out if a.get_visible()]


def _draw_background(artists, cache):
    """The static layer: the whole figure, or only the region whose axes moved.

    Returns ``"full"``, ``"panels"`` or ``"cached"``. For each axis (x or y of each axes)
    whose limits moved, the region redrawn is the axes' frame and the boxes its tick labels
    took before and take now. That region is cleared, every axes reaching into it is drawn
    again without the text that lies outside it (so unchanged tick labels, titles and the
    legend are not re-rendered), and every pixel outside it is put back as it was.
    """
    fig = artists.figure
    canvas = fig.canvas
    dynamic = [a for _, a in artists.dynamic() if a.get_visible()]
    size = tuple(fig.bbox.bounds)
    relayout = False
    full = (cache.get("size") != size or "background" not in cache
            or set(fig.axes) != set(cache["limits"]))
    if not full:
        moved = {ax: [name for name in ("x", "y") if cache["limits"][ax][name] != lim[name]]
                 for ax, lim in ((ax, _limits(ax)) for ax in fig.axes)}
        moved = {ax: names for ax, names in moved.items() if names}
        if not moved:
            canvas.restore_region(cache["background"])
            return "cached"
        renderer = canvas.get_renderer()
        w, h = canvas.get_width_height(physical=True)
        new_boxes = {(ax, name): _axis_box(getattr(ax, name + "axis"), renderer, h)
                     for ax, names in moved.items() for name in names}
        if artists.layout_engine is not None and _crowded(new_boxes, cache["tight"], w, h):
            # tick labels wider than the frozen layout left room for would leave the picture
            # or run into another panel: lay the figure out again, and freeze that
            full = relayout = True
    hidden = []
    for a in dynamic:
        a.set_visible(False)
    try:
        if full:
            engine = fig.get_layout_engine()
            if engine is not None and not isinstance(engine, PlaceHolderLayoutEngine):
                artists.layout_engine = engine  # to lay the figure out again (above)
                fig.set_layout_engine("none")  # positions stay where _lay_out puts them
                relayout = True
            if relayout:
                _lay_out(artists)
            canvas.draw()
            renderer = canvas.get_renderer()
            _freeze_labels(fig, renderer)
            h = canvas.get_width_height(physical=True)[1]
            cache["axis_boxes"] = {(ax, name): _axis_box(getattr(ax, name + "axis"), renderer, h)
                                   for ax in fig.axes for name in ("x", "y")}
            cache["text_boxes"] = {}
            cache["tick_pixels"] = {(ax, name): _tick_pixels(ax, getattr(ax, name + "axis"))
                                    for ax in fig.axes for name in ("x", "y")}
            tight = {ax: ax.get_tightbbox(renderer) for ax in fig.axes}
            cache["tight"] = {ax: _pixel_box(bb, h) for ax, bb in tight.items()}
            cache["drawn"] = {ax: _pixel_box(bb, h, grow=_GROW) for ax, bb in tight.items()}
            kind = "full"
        else:
            canvas.restore_region(cache["background"])
            buf = np.asarray(canvas.buffer_rgba())
            text_boxes = cache["text_boxes"]
            boxes = []
            still = {a for _, a in artists.dynamic()}
            for ax, names in moved.items():
                for name in names:
                    axis = getattr(ax, name + "axis")
                    ticks_at = _tick_pixels(ax, axis)
                    if _interior_moves(ax, axis, still):
                        boxes.append(_frame_box(ax, h))
                    elif ticks_at != cache["tick_pixels"].get((ax, name)):
                        boxes += _tick_bands(ax, axis, h)  # the tick marks move
                    cache["tick_pixels"][ax, name] = ticks_at
                    for tick in axis.get_major_ticks():  # their text boxes move
                        text_boxes.pop(tick.label1, None)
                        text_boxes.pop(tick.label2, None)
                    new = new_boxes[ax, name]
                    boxes += [b for b in (cache["axis_boxes"][ax, name], new) if b is not None]
                    cache["axis_boxes"][ax, name] = new
            boxes = [(max(0, x0), max(0, y0), min(w, x1), min(h, y1)) for x0, y0, x1, y1 in boxes]
            boxes = [b for b in boxes if b[0] < b[2] and b[1] < b[3]]
            before = buf.copy()
            face = np.round(255 * np.asarray(to_rgba(fig.get_facecolor()))).astype(np.uint8)
            for x0, y0, x1, y1 in boxes:
                buf[y0:y1, x0:x1] = face
            for ax in fig.axes:  # the figure's drawing order
                drawn = _union([cache["drawn"][ax], _frame_box(ax, h),
                                cache["axis_boxes"][ax, "x"], cache["axis_boxes"][ax, "y"]])
                cache["drawn"][ax] = drawn
                if not _meets(drawn, boxes):
                    continue
                fixed = [axis for name, axis in (("x", ax.xaxis), ("y", ax.yaxis))
                         if name not in moved.get(ax, ())]
                out = [a for a in _texts(ax, fixed)
                       if not _meets(_text_box(a, renderer, h, text_boxes), boxes)]
                # an axis that draws nothing inside the boxes is left out whole (its ticks
                # are most of the time of a panel's redraw)
                out += [axis for name, axis in (("x", ax.xaxis), ("y", ax.yaxis))
                        if axis.get_visible() and not any(
                            _meets(b, boxes) for b in _axis_footprint(
                                ax, axis, cache["axis_boxes"][ax, name], renderer, h,
                                text_boxes))]
                for a in out:
                    a.set_visible(False)
                hidden += out
                try:
                    ax.draw(renderer)
                finally:
                    for a in out:
                        a.set_visible(True)
            drawn = buf.copy()  # keep what was drawn inside the boxes, and only that
            buf[...] = before
            for x0, y0, x1, y1 in boxes:
                buf[y0:y1, x0:x1] = drawn[y0:y1, x0:x1]
            kind = "panels"
    finally:
        for a in dynamic:
            a.set_visible(True)
    cache["background"] = canvas.copy_from_bbox(fig.bbox)
    cache["limits"] = {ax: _limits(ax) for ax in fig.axes}
    cache["size"] = size
    return kind


def render_dashboard(artists, *, compress_level=1):
    """The dashboard as PNG bytes, redrawing only the parts whose axes changed.

    The first call lays the figure out with room for the widest tick labels the sliders
    bring (``artists.widest_labels``), draws the whole figure, then freezes its layout and
    the places of its axis labels (later draws skip both searches). A move whose tick labels
    would still leave the picture or run into another panel lays it out again (the room
    kept then grows to the widest label seen) and draws it whole. The static layer (axes, ticks,
    labels, colour bars, titles, legend) is cached without the data. A later call
    pastes the cache back; for each axis whose limits moved it clears the boxes its
    tick labels took before and take now and the band of its tick marks (the whole
    frame only if grid lines or static artists inside it move), draws again every
    axes reaching into those boxes, leaving out the text that lies outside them, and
    puts every pixel outside them back. Then it draws the data (images, lines, the
    threshold label) and what lies above them (spines), in matplotlib's order, and
    encodes the picture with :func:`encode_png`. The result is the picture of a full
    draw of the figure (``tests/test_plotting.py`` compares them pixel by pixel).

    Parameters
    ----------
    artists : DashboardArtists
        From :func:`draw_dashboard`, on a figure with an Agg canvas (the default
        for figures in notebooks and with ``matplotlib.use("Agg")``).
    compress_level : int
        zlib level of the PNG, ``0 <= compress_level <= 9``; 1 is fast and
        only a little larger than the default 6.

    Returns
    -------
    bytes
        A PNG image of ``figure.get_size_inches() * figure.dpi`` pixels.
        ``artists.render_cache["last"]`` then says what was redrawn: ``"full"``,
        ``"panels"`` (only the parts whose limits moved) or ``"cached"`` (data only).

    Raises
    ------
    ValueError
        If the canvas cannot render to a pixel buffer, or ``compress_level`` is
        outside its range.
    """
    level = check_int("compress_level", compress_level, lo=0, hi=9)
    fig = artists.figure
    canvas = fig.canvas
    if not (hasattr(canvas, "copy_from_bbox") and hasattr(canvas, "buffer_rgba")):
        raise ValueError(f"the figure's canvas must be Agg-based, got {type(canvas).__name__}; "
                         "use matplotlib.backends.backend_agg.FigureCanvasAgg(fig)")
    cache = artists.render_cache
    cache["last"] = _draw_background(artists, cache)
    for ax, a in artists.dynamic():  # data, then the spines and legend above them
        if a.get_visible():
            ax.draw_artist(a)
    return encode_png(np.asarray(canvas.buffer_rgba()), compress_level=level)


def _png_chunk(kind, data):
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(data, zlib.crc32(kind))))


def encode_png(rgba, *, compress_level=1):
    """An RGB(A) pixel array as PNG bytes: no row filter, one zlib stream.

    Pillow's PNG writer tries every row filter on every row; for a plot (flat areas, thin
    lines) that costs about four times the compression itself and saves only a few per
    cent of the size. This writer skips it (filter type 0, PNG specification section 9).

    Parameters
    ----------
    rgba : ndarray of uint8, shape (h, w, 3) or (h, w, 4)
        Pixels, top row first. An alpha channel that is opaque everywhere is dropped.
    compress_level : int
        zlib level, ``0 <= compress_level <= 9``.

    Returns
    -------
    bytes
        A PNG image (8-bit RGB or RGBA, not interlaced) that any decoder reads back to
        ``rgba`` exactly (``tests/test_plotting.py`` decodes it with Pillow).

    Raises
    ------
    ValueError
        If ``rgba`` is not a uint8 array of that shape, or ``compress_level`` is out of range.

    Examples
    --------
    >>> encode_png(np.zeros((2, 3, 3), np.uint8))[:8]
    b'\\x89PNG\\r\\n\\x1a\\n'
    """
    level = check_int("compress_level", compress_level, lo=0, hi=9)
    a = np.asarray(rgba)
    if a.dtype != np.uint8 or a.ndim != 3 or a.shape[2] not in (3, 4) or 0 in a.shape[:2]:
        raise ValueError(f"rgba must be a uint8 array of shape (h, w, 3 or 4), got "
                         f"{a.dtype} {a.shape}")
    if a.shape[2] == 4 and np.all(a[..., 3] == 255):
        a = a[..., :3]
    h, w, n = a.shape
    rows = np.empty((h, 1 + w * n), np.uint8)
    rows[:, 0] = 0  # filter type 0 (none) on every row
    rows[:, 1:] = a.reshape(h, w * n)
    header = struct.pack(">IIBBBBB", w, h, 8, 6 if n == 4 else 2, 0, 0, 0)
    return b"".join([b"\x89PNG\r\n\x1a\n", _png_chunk(b"IHDR", header),
                     _png_chunk(b"IDAT", zlib.compress(rows, level)), _png_chunk(b"IEND", b"")])
