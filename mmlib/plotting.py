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
redrawing only the data when no axis limit moved.

Chapters: every chapter's figures; the dashboard in *Dashboard* (``book/dashboard.md``).
"""
from __future__ import annotations

import io
from dataclasses import dataclass, field

import numpy as np
from matplotlib.colors import to_rgba

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

# At most this many tick intervals per axis: every tick is a few artists to draw, and the
# draw time of the dashboard is mostly ticks.
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
    """

    axes: dict
    images: dict
    lines: dict
    eps_text: object
    render_cache: dict = field(default_factory=dict, repr=False)

    @property
    def figure(self):
        """The figure the panels are on."""
        return self.axes["value"].get_figure(root=True)

    def dynamic(self):
        """``(axes, artist)`` for every artist whose data a slider move changes, and for
        those drawn above them (spines, legend), in matplotlib's drawing order."""
        out = []
        for ax in self.axes.values():
            mine = [a for a in (*self.images.values(), *self.lines.values(), self.eps_text)
                    if a.axes is ax]
            mine += list(ax.spines.values())
            if ax.get_legend() is not None:
                mine.append(ax.get_legend())
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


def _style_axes(ax, title):
    from matplotlib.ticker import MaxNLocator

    ax.set_title(title, fontsize=9)
    ax.tick_params(labelsize=8, pad=2)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=_TICK_BINS))
    ax.yaxis.set_major_locator(MaxNLocator(nbins=_TICK_BINS))
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
    for name, Z in _surface_data(solution, rho).items():
        ax = axes[name]
        im = ax.imshow(np.asarray(Z).T, origin="lower", aspect="auto",
                       extent=_extent(t, x), interpolation="nearest")
        im.set_clim(*_clim(Z))
        cb = ax.get_figure(root=True).colorbar(im, ax=ax, pad=0.02, fraction=0.08)
        cb.ax.tick_params(labelsize=8, pad=1)
        cb.locator = _colorbar_locator()
        ax.set_ylabel("$x$", fontsize=8, labelpad=1)
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
    ax.legend(fontsize=7, ncol=2, loc="upper center", handlelength=1.2, columnspacing=0.8,
              borderaxespad=0.1, labelspacing=0.2)
    for key, field_ in [("variance", "variance"), ("derisk", "derisk"),
                        ("marginal", "marginal_cost")]:
        lines[key] = axes[key].plot(t, m[field_], color="C4" if key == "derisk" else None)[0]
    eps_text = axes["derisk"].text(0.04, 0.94, "", transform=axes["derisk"].transAxes,
                                   va="top", fontsize=8)
    eps_text.set_text(rf"$\varepsilon = {eps:g}$")
    axes["derisk"].set_ylim(0.0, 1.0)
    artists = DashboardArtists(axes=dict(axes), images=images, lines=lines, eps_text=eps_text)
    _rescale_all(artists, t)
    return artists


def _colorbar_locator():
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(nbins=_TICK_BINS)


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


def _limits(ax):
    return (tuple(ax.get_xlim()), tuple(ax.get_ylim()))


def _region(ax, renderer, fig):
    """Pixel box (x0, y0, x1, y1), y from the top, that ``ax`` drew into: its tight box + 2 px."""
    bb = ax.get_tightbbox(renderer)
    w, h = fig.canvas.get_width_height(physical=True)
    x0, x1 = max(0, int(np.floor(bb.x0)) - 2), min(w, int(np.ceil(bb.x1)) + 2)
    y0, y1 = max(0, int(np.floor(h - bb.y1)) - 2), min(h, int(np.ceil(h - bb.y0)) + 2)
    return (x0, y0, x1, y1)


def _overlap(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _to_redraw(changed, regions):
    """``changed`` plus every axes whose drawn box overlaps one of them, and so on."""
    todo = set(changed)
    grew = True
    while grew:
        grew = False
        for ax, box in regions.items():
            if ax not in todo and any(_overlap(box, regions[o]) for o in todo):
                todo.add(ax)
                grew = True
    return todo


# How far (pixels) beyond its last drawn box a redrawn panel's labels may reach and still be
# found and cleared next time.
_BAND = 30


def _grow(region, buf, before, band):
    """``region`` grown to hold every pixel of ``band`` that differs from ``before``."""
    bx0, by0, bx1, by1 = band
    changed = np.any(buf[by0:by1, bx0:bx1] != before, axis=2)
    rows, cols = np.nonzero(changed.any(axis=1))[0], np.nonzero(changed.any(axis=0))[0]
    if not rows.size:
        return region
    x0, y0, x1, y1 = region
    return (min(x0, bx0 + int(cols[0])), min(y0, by0 + int(rows[0])),
            max(x1, bx0 + int(cols[-1]) + 1), max(y1, by0 + int(rows[-1]) + 1))


def _draw_background(artists, cache):
    """The static layer: the whole figure, or only the panels whose limits moved.

    Returns ``"full"``, ``"panels"`` or ``"cached"``. The cache keeps, per axes, its
    limits and the pixel box it drew into, found from its tight box at a full draw
    and grown by the pixels a later redraw changed.
    """
    fig = artists.figure
    canvas = fig.canvas
    dynamic = [a for _, a in artists.dynamic() if a.get_visible()]
    size = tuple(fig.bbox.bounds)
    full = (cache.get("size") != size or "background" not in cache
            or set(fig.axes) != set(cache["regions"]))
    if not full:
        changed = [ax for ax in fig.axes if cache["limits"][ax] != _limits(ax)]
        if not changed:
            canvas.restore_region(cache["background"])
            return "cached"
    for a in dynamic:
        a.set_visible(False)
    try:
        if full:
            canvas.draw()
            if fig.get_layout_engine() is not None and not cache.get("frozen"):
                fig.set_layout_engine("none")  # positions stay where the first draw put them
                cache["frozen"] = True
            renderer = canvas.get_renderer()
            cache["regions"] = {ax: _region(ax, renderer, fig) for ax in fig.axes}
            kind = "full"
        else:
            canvas.restore_region(cache["background"])
            renderer = canvas.get_renderer()
            regions = cache["regions"]
            redrawn = [ax for ax in fig.axes if ax in _to_redraw(changed, regions)]
            buf = np.asarray(canvas.buffer_rgba())
            h, w = buf.shape[:2]
            face = np.round(255 * np.asarray(to_rgba(fig.get_facecolor()))).astype(np.uint8)
            for ax in redrawn:
                x0, y0, x1, y1 = regions[ax]
                buf[y0:y1, x0:x1] = face
            for ax in redrawn:
                x0, y0, x1, y1 = regions[ax]
                band = (max(0, x0 - _BAND), max(0, y0 - _BAND), min(w, x1 + _BAND),
                        min(h, y1 + _BAND))
                before = buf[band[1]:band[3], band[0]:band[2]].copy()
                ax.draw(renderer)
                regions[ax] = _grow(regions[ax], buf, before, band)
            kind = "panels"
    finally:
        for a in dynamic:
            a.set_visible(True)
    cache["background"] = canvas.copy_from_bbox(fig.bbox)
    cache["limits"] = {ax: _limits(ax) for ax in fig.axes}
    cache["size"] = size
    return kind


def render_dashboard(artists, *, compress_level=1):
    """The dashboard as PNG bytes, redrawing only the panels whose axes changed.

    The first call draws the whole figure, then freezes its layout (later draws
    skip the layout pass). The static layer (axes, ticks, labels, colour bars,
    titles) is cached without the data. A later call pastes the cache back, draws
    anew the static layer of only those panels whose axis or colour limits moved
    (and of any panel touching them), and then draws the data (images, lines, the
    threshold label) and what lies above them (spines, legend), in matplotlib's
    order. The result is the picture of a full draw of the figure
    (``tests/test_plotting.py`` compares them pixel by pixel).

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
        ``"panels"`` (only the panels whose limits moved) or ``"cached"`` (data only).

    Raises
    ------
    ValueError
        If the canvas cannot render to a pixel buffer, or ``compress_level`` is
        outside its range.
    """
    from PIL import Image

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
    w, h = canvas.get_width_height(physical=True)
    img = Image.frombuffer("RGBA", (w, h), canvas.buffer_rgba(), "raw", "RGBA", 0, 1)
    out = io.BytesIO()
    img.convert("RGB").save(out, format="png", compress_level=level)
    return out.getvalue()
