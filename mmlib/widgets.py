r"""Sliders for the book's dashboard: every move re-solves the mean-field model.

:class:`Dashboard` owns one figure (laid out by :func:`mmlib.plotting.dashboard_axes`),
the current parameters and the current solution. :meth:`Dashboard.update`
re-solves with :func:`mmlib.mean_field.solve_mean_field` only when a model
parameter changed; a new de-risk threshold :math:`\varepsilon` only redraws
the de-risk panel. :meth:`Dashboard.widget` wires ipywidgets sliders to it.

The crowd starts from the book-wide default
(:func:`mmlib.population.default_rho0`): a Gaussian over the inventory grid,

.. math:: \rho_0(x) \propto \exp\!\Big(-\frac{(x-\mu_0)^2}{2\sigma_0^2}\Big),
          \qquad \sigma_0 = x_{\max}/4,

normalised to sum to one on :math:`\{-x_{\max},\dots,x_{\max}\}` (``mu0 = 0`` by default).

Chapters: *Dashboard* (``book/dashboard.md``); :func:`slider_panel` serves the
slider figures of *Intensities*, *HJB*, *Closed-form optimal quotes*, *Master
equation* and *Mean field*.
"""
from __future__ import annotations

import numpy as np

from ._validation import check_int, check_real
from .mean_field import solve_mean_field
from .model import ModelParams
from .population import default_rho0
from .plotting import dashboard_axes, draw_dashboard, update_dashboard, update_derisk

__all__ = ["DASHBOARD_DEFAULTS", "SLIDER_RANGES", "Dashboard", "FRAME_PANEL_CLASS", "frame_grid",
           "frame_slider", "make_sliders", "render_frames", "slider_panel"]

#: Model parameters of the dashboard at start-up (the book's teaching size).
DASHBOARD_DEFAULTS = {"A": 1.0, "k": 1.5, "eta": 0.01, "gamma": 0.1, "T": 10.0, "x_max": 20,
                      "eps": 0.5, "mu0": 0.0}

#: (min, max, step) of each slider.
SLIDER_RANGES = {
    "A": (0.2, 5.0, 0.1),
    "k": (0.5, 3.0, 0.1),
    "eta": (0.0, 0.1, 0.002),
    "gamma": (0.0, 0.5, 0.01),
    "T": (1.0, 20.0, 0.5),
    "x_max": (5, 30, 1),
    "eps": (0.5, 5.0, 0.5),
    "mu0": (-10.0, 10.0, 0.5),
}

_MODEL_KEYS = ("A", "k", "eta", "gamma", "T", "x_max")
_DESCRIPTIONS = {"A": "A", "k": "k", "eta": "η (running)", "gamma": "γ (terminal)",
                 "T": "T", "x_max": "x_max", "eps": "ε (de-risk)", "mu0": "μ₀ (crowd mean)"}


def _check_values(values):
    out = {}
    for key, v in values.items():
        if key not in SLIDER_RANGES:
            raise ValueError(f"unknown dashboard parameter {key!r}; use one of {list(SLIDER_RANGES)}")
        lo, hi, _ = SLIDER_RANGES[key]
        out[key] = (check_int(key, v, lo=lo, hi=hi) if key == "x_max"
                    else check_real(key, v, lo=lo, hi=hi))
    return out


class Dashboard:
    r"""The seed article's dashboard: one figure, re-solved and redrawn in place.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
        An empty figure; its panels are laid out by :func:`mmlib.plotting.dashboard_axes`.
    n_steps : int
        Time steps of every solve, ``1 <= n_steps <= 100_000``.
    **values
        Starting values of ``A, k, eta, gamma, T, x_max, eps, mu0`` (the rest
        from :data:`DASHBOARD_DEFAULTS`), each within :data:`SLIDER_RANGES`.

    Attributes
    ----------
    values : dict
        Current values of every control.
    solution : MeanFieldSolution
        Current equilibrium (its ``rho`` is the plotted population).
    artists : mmlib.plotting.DashboardArtists
    n_solves : int
        Number of mean-field solves so far (an ``eps`` change does not solve).

    Raises
    ------
    ValueError
        For a value outside its slider range.

    Notes
    -----
    Where ``k * gamma * x_max**2`` exceeds about 200 (a steep terminal penalty
    on a wide grid), :math:`w = e^{kV}` leaves floating point and the solver
    works in log space: exact still, but a re-solve then takes seconds, not
    tens of milliseconds.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> from matplotlib.figure import Figure
    >>> d = Dashboard(Figure(), n_steps=50, x_max=6, T=2.0)
    >>> d.update(eps=1.5), d.n_solves
    ('derisk', 1)
    >>> d.update(eta=0.05), d.n_solves
    ('solve', 2)
    """

    def __init__(self, fig, n_steps=500, **values):
        self.n_steps = check_int("n_steps", n_steps, lo=1, hi=100_000)
        self.values = {**DASHBOARD_DEFAULTS, **_check_values(values)}
        self.n_solves = 0
        self.solution = self._solve(self.values)
        self.axes = dashboard_axes(fig)
        self.fig = fig
        self.artists = draw_dashboard(self.axes, self.solution, self.solution.rho,
                                      self.values["eps"])

    @property
    def params(self):
        """The current :class:`mmlib.model.ModelParams`."""
        return ModelParams(**{key: self.values[key] for key in _MODEL_KEYS})

    def _solve(self, values):
        p = ModelParams(**{key: values[key] for key in _MODEL_KEYS})
        mu0 = float(np.clip(values["mu0"], -p.x_max, p.x_max))
        sol = solve_mean_field(p, default_rho0(p.x_max, mu0), self.n_steps, anderson=5)
        self.n_solves += 1
        return sol

    def update(self, **changes):
        """Apply new control values; re-solve only if the model or the crowd changed.

        Parameters
        ----------
        **changes
            New values of some of ``A, k, eta, gamma, T, x_max, eps, mu0``.

        Returns
        -------
        str
            ``"solve"`` (re-solved, every panel updated), ``"derisk"`` (only
            ``eps`` changed: only the de-risk panel updated) or ``"none"``.

        Raises
        ------
        ValueError
            As the constructor; the dashboard is left unchanged.
        """
        new = {**self.values, **_check_values(changes)}
        changed = {key for key in new if new[key] != self.values[key]}
        if not changed:
            return "none"
        if changed == {"eps"}:
            self.values = new
            update_derisk(self.artists, self.solution.x, self.solution.rho, new["eps"])
            return "derisk"
        solution = self._solve(new)
        self.values, self.solution = new, solution
        update_dashboard(self.artists, solution, solution.rho, new["eps"])
        return "solve"

    def widget(self, continuous_update=False):
        """Sliders and the live figure in one ipywidgets box.

        Each slider move calls :meth:`update` and shows the redrawn figure in an
        ``Output`` area; an unsupported combination shows its message instead
        and keeps the last picture.

        Returns
        -------
        ipywidgets.VBox
        """
        import ipywidgets as w
        from IPython.display import display

        sliders = make_sliders(self.values, continuous_update=continuous_update)
        out = w.Output()
        status = w.HTML()

        def show():
            with out:
                out.clear_output(wait=True)
                display(self.fig)

        def handler(key):
            def on_change(change):
                try:
                    self.update(**{key: change["new"]})
                except ValueError as err:
                    status.value = f"<span style='color:#b00'>{err}</span>"
                    return
                status.value = ""
                show()
            return on_change

        for key, s in sliders.items():
            s.observe(handler(key), names="value")
        show()
        grid = w.GridBox(list(sliders.values()),
                         layout=w.Layout(grid_template_columns="repeat(4, 25%)"))
        return w.VBox([grid, status, out])


def make_sliders(values=None, continuous_update=False):
    """One ipywidgets slider per dashboard control, within :data:`SLIDER_RANGES`.

    Parameters
    ----------
    values : dict, optional
        Starting values (default :data:`DASHBOARD_DEFAULTS`).
    continuous_update : bool
        Fire while dragging (True) or on release (False).

    Returns
    -------
    dict of str to ipywidgets slider
        Keyed by the control's name.

    Raises
    ------
    ValueError
        For an unknown name or a value outside its range.
    """
    import ipywidgets as w

    vals = {**DASHBOARD_DEFAULTS, **_check_values(values or {})}
    sliders = {}
    for key, (lo, hi, step) in SLIDER_RANGES.items():
        cls = w.IntSlider if key == "x_max" else w.FloatSlider
        s = cls(value=vals[key], min=lo, max=hi, step=step, description=_DESCRIPTIONS[key],
                continuous_update=continuous_update, style={"description_width": "initial"})
        sliders[key] = s
    return sliders


def slider_panel(draw, **sliders):
    """Sliders plus an output area that redraws ``draw(ax, **values)`` on every change.

    Parameters
    ----------
    draw : callable
        ``draw(ax, **values)`` draws on a fresh ``Axes``.
    **sliders : ipywidgets.ValueWidget
        One widget per keyword of ``draw``.

    Returns
    -------
    ipywidgets.VBox
        Display it in a notebook; it draws once immediately.
    """
    import ipywidgets as widgets
    import matplotlib.pyplot as plt

    out = widgets.Output()
    errors = []

    def redraw(change=None):
        with out:  # an Output area shows an exception instead of raising it ...
            out.clear_output(wait=True)
            fig, ax = plt.subplots()
            try:
                draw(ax, **{name: w.value for name, w in sliders.items()})
            except Exception as err:
                errors.append(err)
                plt.close(fig)
                raise
            plt.show()

    for w in sliders.values():
        w.observe(redraw, names="value")
    redraw()
    if errors:  # ... so re-raise a failing first draw: a broken panel must fail the build
        raise errors[0]
    return widgets.VBox([*sliders.values(), out])


# ---------------------------------------------------------------------------------------------
# Kernel-free sliders for the static book: pre-rendered frames switched in the browser.
#
# A live slider (``Dashboard.widget``, ``slider_panel``) needs a kernel to redraw. The static
# book has none, but it does embed every widget's state in the page, and ``jslink`` links are
# widgets too, run by the browser. So: draw each parameter value once, at build time, into a
# PNG; put the PNGs in a ``Stack`` of ``Image`` widgets; link a ``SelectionSlider``'s ``index``
# to the stack's ``selected_index``. Two parameters: an outer stack (rows, first slider) of
# inner stacks (columns, second slider), every inner stack linked to the second slider.

_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
#: CSS class of every kernel-free panel (the browser tests look for it).
FRAME_PANEL_CLASS = "mm-frame-slider"


def render_frames(draw, *, figsize=(6.0, 3.4), dpi=80, ncols=1, **values):
    r"""Draw ``draw(ax, **value)`` once per parameter value (or pair) and keep each as PNG bytes.

    Parameters
    ----------
    draw : callable
        ``draw(ax, **kwargs)`` draws on a fresh ``Axes`` of a fresh figure (not pyplot's, so
        nothing is shown and nothing needs closing); with ``ncols > 1`` it receives an array
        of ``ncols`` axes side by side instead.
    figsize : tuple of float
        Figure size in inches, both ``> 0``.
    dpi : int
        Resolution, ``20 <= dpi <= 300``. At the default a frame is 480 x 272 pixels, a few
        tens of kB, so a page can hold dozens of frames under 5 MB.
    ncols : int
        Panels per frame, ``1 <= ncols <= 4``.
    **values : sequence
        One or two keyword arguments of ``draw``, each a non-empty sequence of values.

    Returns
    -------
    list of bytes, or list of list of bytes
        ``frames[i]`` for one parameter; ``frames[i][j]`` for two (first keyword by row).

    Raises
    ------
    ValueError
        If there are not one or two parameters, a sequence is empty, or a size is out of range.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> f = render_frames(lambda ax, a, b: ax.plot([0, 1], [a, b]), a=[0, 1], b=[1, 2, 3])
    >>> len(f), len(f[0]), f[1][2][:4]
    (2, 3, b'\x89PNG')
    """
    import io

    from matplotlib.figure import Figure

    if not 1 <= len(values) <= 2:
        raise ValueError(f"render_frames takes one or two parameters, got {len(values)}: "
                         f"{list(values)}")
    for name, seq in values.items():
        if len(seq) == 0:
            raise ValueError(f"{name} must be a non-empty sequence of values")
    dpi = check_int("dpi", dpi, lo=20, hi=300)
    ncols = check_int("ncols", ncols, lo=1, hi=4)
    if len(figsize) != 2:
        raise ValueError(f"figsize must be (width, height), got {figsize!r}")
    for v in figsize:
        check_real("figsize", v, lo=0.0, lo_open=True, hi=30.0)

    def one(kwargs):
        fig = Figure(figsize=figsize, dpi=dpi, layout="constrained")
        draw(fig.add_subplot() if ncols == 1 else fig.subplots(1, ncols), **kwargs)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=dpi)
        return buf.getvalue()

    names = list(values)
    if len(names) == 1:
        return [one({names[0]: v}) for v in values[names[0]]]
    return [[one({names[0]: a, names[1]: b}) for b in values[names[1]]] for a in values[names[0]]]


def _labels(name, values, fmt):
    labels = [fmt.format(v) if isinstance(fmt, str) else fmt(v) for v in values]
    if len(set(labels)) != len(labels):
        raise ValueError(f"labels of {name} must be distinct, got {labels}; pass a finer fmt")
    return labels


def _check_frames(name, frames, n):
    if len(frames) != n:
        raise ValueError(f"{name} has {len(frames)} frames for {n} values; give one per value")
    for f in frames:
        if not isinstance(f, (bytes, bytearray)) or not bytes(f[:8]) == _PNG_SIGNATURE:
            raise ValueError(f"{name} must hold PNG bytes (see render_frames)")


def _slider(values, description, index, fmt):
    import ipywidgets as w

    labels = _labels(description, values, fmt)
    index = check_int(f"index of {description}", index, lo=0, hi=len(values) - 1)
    return w.SelectionSlider(options=list(zip(labels, range(len(values)))), index=index,
                             description=description, continuous_update=True,
                             style={"description_width": "initial"},
                             layout=w.Layout(width="100%", max_width="32rem"))


def _stack(frames, index):
    import ipywidgets as w

    images = [w.Image(value=bytes(f), format="png",
                      layout=w.Layout(max_width="100%", height="auto")) for f in frames]
    return w.Stack(images, selected_index=index)


def frame_slider(frames, values, description="value", index=0, fmt="{:g}"):
    r"""A slider that works without a kernel: pre-rendered frames, switched in the browser.

    A ``SelectionSlider`` over ``values`` and a ``Stack`` of ``Image`` widgets, one per frame,
    joined by ``jslink`` (slider ``index`` to stack ``selected_index``). The link runs in the
    browser from the widget state MyST-NB embeds in the page, so the slider works in the
    static book; in JupyterLab it works too, with or without a running kernel.

    Parameters
    ----------
    frames : sequence of bytes
        PNG images (for example from :func:`render_frames`), one per value.
    values : sequence
        The parameter values the frames show, in slider order (``len(values) == len(frames)``).
    description : str
        The slider's label.
    index : int
        The frame shown first, ``0 <= index < len(values)``.
    fmt : str or callable
        Formats a value into its label (``"{:g}"``); labels must be distinct.

    Returns
    -------
    ipywidgets.VBox
        ``children == (slider, stack)``, with the CSS class :data:`FRAME_PANEL_CLASS`; its
        ``link`` attribute holds the ``jslink``.

    Raises
    ------
    ValueError
        If the frames are not PNG bytes, their number differs from ``len(values)``, labels
        repeat, or ``index`` is out of range.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> f = render_frames(lambda ax, a: ax.plot([0, a]), a=[1, 2])
    >>> box = frame_slider(f, [1, 2], description="a", index=1)
    >>> box.children[0].label, box.children[1].selected_index
    ('2', 1)
    """
    import ipywidgets as w

    if len(values) == 0:
        raise ValueError("values must be a non-empty sequence")
    _check_frames("frames", frames, len(values))
    slider = _slider(values, description, index, fmt)
    stack = _stack(frames, slider.index)
    box = w.VBox([slider, stack])
    box.link = w.jslink((slider, "index"), (stack, "selected_index"))
    box.add_class(FRAME_PANEL_CLASS)
    return box


def frame_grid(frames, values, descriptions=("a", "b"), index=(0, 0), fmt="{:g}"):
    r"""Two kernel-free sliders over a grid of pre-rendered frames (for example γ × η).

    ``frames[i][j]`` shows ``values[0][i]`` and ``values[1][j]``. An outer ``Stack`` holds one
    inner ``Stack`` per row; the first slider's ``index`` is linked to the outer stack, the
    second slider's to every inner stack. So the browser shows frame ``[i][j]`` for slider
    positions ``(i, j)``, with nothing but ``jslink``.

    Parameters
    ----------
    frames : sequence of sequence of bytes
        PNG images, ``len(values[0])`` rows of ``len(values[1])`` (see :func:`render_frames`).
    values : pair of sequences
        The values of the first (row) and second (column) parameter.
    descriptions : pair of str
        The sliders' labels.
    index : pair of int
        The frame shown first.
    fmt : str or callable
        Formats a value into its label; labels must be distinct per slider.

    Returns
    -------
    ipywidgets.VBox
        ``children == (slider_row, slider_col, outer_stack)``, CSS class
        :data:`FRAME_PANEL_CLASS`; its ``links`` attribute holds the ``jslink`` objects.

    Raises
    ------
    ValueError
        If the grid's shape differs from the values', a frame is not PNG, labels repeat, or
        an index is out of range.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> f = render_frames(lambda ax, a, b: ax.plot([a, b]), a=[0, 1], b=[1, 2, 3])
    >>> box = frame_grid(f, ([0, 1], [1, 2, 3]), descriptions=("a", "b"), index=(1, 2))
    >>> outer = box.children[2]
    >>> outer.selected_index, outer.children[1].selected_index, len(box.links)
    (1, 2, 3)
    """
    import ipywidgets as w

    if len(values) != 2 or len(descriptions) != 2 or len(index) != 2:
        raise ValueError("values, descriptions and index must each be a pair (row, column)")
    rows, cols = values
    if len(rows) == 0 or len(cols) == 0:
        raise ValueError("values must be two non-empty sequences")
    if len(frames) != len(rows):
        raise ValueError(f"frames has {len(frames)} rows for {len(rows)} values of "
                         f"{descriptions[0]}")
    for i, row in enumerate(frames):
        _check_frames(f"frames[{i}]", row, len(cols))
    s_row = _slider(rows, descriptions[0], index[0], fmt)
    s_col = _slider(cols, descriptions[1], index[1], fmt)
    inner = [_stack(row, s_col.index) for row in frames]
    outer = w.Stack(inner, selected_index=s_row.index)
    box = w.VBox([s_row, s_col, outer])
    box.links = [w.jslink((s_row, "index"), (outer, "selected_index"))]
    box.links += [w.jslink((s_col, "index"), (st, "selected_index")) for st in inner]
    box.add_class(FRAME_PANEL_CLASS)
    return box


__all__ += ["FRAME_PANEL_CLASS", "frame_grid", "frame_slider", "render_frames"]
