r"""Sliders for the book's dashboard: every move re-solves the mean-field model.

:class:`Dashboard` owns one figure (laid out by :func:`mmlib.plotting.dashboard_axes`),
the current parameters and the current solution. :meth:`Dashboard.update`
re-solves with :func:`mmlib.mean_field.solve_mean_field` only when a model
parameter changed; a new de-risk threshold :math:`\varepsilon` only redraws
the de-risk panel. :meth:`Dashboard.widget` wires ipywidgets sliders to it as a
:class:`DashboardWidget`: debounced moves, solved in a worker thread with a busy state,
each answered with one PNG drawn by :func:`mmlib.plotting.render_dashboard`.

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

import html
import threading
import time

import numpy as np

from ._validation import check_int, check_real
from .mean_field import solve_mean_field
from .model import ModelParams
from .population import default_rho0
from .plotting import (DASHBOARD_FIGSIZE, dashboard_axes, draw_dashboard, render_dashboard,
                       update_dashboard, update_derisk)

__all__ = ["DASHBOARD_DEFAULTS", "SLIDER_RANGES", "DEBOUNCE_SECONDS", "Dashboard", "DashboardWidget",
           "FRAME_PANEL_CLASS", "frame_grid", "frame_slider", "make_sliders", "render_frames",
           "slider_panel", "solve_dashboard"]

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

#: Default debounce window of :meth:`Dashboard.widget`, in seconds: key presses or drag
#: events closer together than this start one solve, for the last value.
DEBOUNCE_SECONDS = 0.04


_MODEL_KEYS = ("A", "k", "eta", "gamma", "T", "x_max")
_DESCRIPTIONS = {"A": "A", "k": "k", "eta": "η (running)", "gamma": "γ (terminal)",
                 "T": "T", "x_max": "x_max", "eps": "ε (de-risk)", "mu0": "μ₀ (crowd)"}


def _check_values(values):
    out = {}
    for key, v in values.items():
        if key not in SLIDER_RANGES:
            raise ValueError(f"unknown dashboard parameter {key!r}; use one of {list(SLIDER_RANGES)}")
        lo, hi, _ = SLIDER_RANGES[key]
        out[key] = (check_int(key, v, lo=lo, hi=hi) if key == "x_max"
                    else check_real(key, v, lo=lo, hi=hi))
    return out


def solve_dashboard(values, n_steps, max_iter=200):
    """The mean-field solve behind the dashboard, for slider ``values``.

    :func:`mmlib.mean_field.solve_mean_field` with the skew and mean Newton steps and Anderson
    memory 20 (the default settings converge in 4 iterations, against 7 with the skew step
    alone; the slowest corners of :data:`SLIDER_RANGES` in about 12) and the book's Gaussian crowd
    :func:`mmlib.population.default_rho0` centred at ``mu0``, clipped to the grid.

    Parameters
    ----------
    values : dict
        ``A, k, eta, gamma, T, x_max, mu0`` (other keys, such as ``eps``, are ignored).
    n_steps : int
        Time steps, ``>= 1``.
    max_iter : int
        Cap on fixed-point iterations, ``>= 1``.

    Returns
    -------
    MeanFieldSolution
    """
    p = ModelParams(**{key: values[key] for key in _MODEL_KEYS})
    mu0 = float(np.clip(values["mu0"], -p.x_max, p.x_max))
    return solve_mean_field(p, default_rho0(p.x_max, mu0), n_steps, anderson=20, skew_newton=True,
                            mean_newton=True, max_iter=max_iter)


class Dashboard:
    r"""The seed article's dashboard: one figure, re-solved and redrawn in place.

    Parameters
    ----------
    fig : matplotlib.figure.Figure, optional
        An empty figure; its panels are laid out by :func:`mmlib.plotting.dashboard_axes`.
        Default: a new figure of :data:`mmlib.plotting.DASHBOARD_FIGSIZE` at 110 dpi
        with an Agg canvas, not managed by pyplot (so a cell does not show it twice).
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
    timings : dict
        Seconds spent by the last :meth:`update`: ``solve`` (the mean-field solve, 0 when
        none was needed), ``update`` (new data into the artists), and ``solve_cpu`` (the
        solve's CPU time in the calling thread, which a busy machine does not inflate).

    Raises
    ------
    ValueError
        For a value outside its slider range.

    Notes
    -----
    A re-solve costs what :func:`mmlib.mean_field.solve_mean_field` costs at the new
    setting; ``benchmarks/bench_dashboard.py`` times every slider, end to end.

    Examples
    --------
    >>> import matplotlib; matplotlib.use("Agg")
    >>> d = Dashboard(n_steps=50, x_max=6, T=2.0)
    >>> d.update(eps=1.5), d.n_solves
    ('derisk', 1)
    >>> d.update(eta=0.05), d.n_solves
    ('solve', 2)
    >>> d.png()[:4]
    b'\x89PNG'
    """

    def __init__(self, fig=None, n_steps=500, **values):
        self.n_steps = check_int("n_steps", n_steps, lo=1, hi=100_000)
        self.values = {**DASHBOARD_DEFAULTS, **_check_values(values)}
        self.n_solves = 0
        self.timings = {"solve": 0.0, "update": 0.0, "solve_cpu": 0.0}
        self.solution = self._solve(self.values)
        fig = _new_figure() if fig is None else fig
        self.axes = dashboard_axes(fig)
        self.fig = fig
        self.artists = draw_dashboard(self.axes, self.solution, self.solution.rho,
                                      self.values["eps"])

    @property
    def params(self):
        """The current :class:`mmlib.model.ModelParams`."""
        return ModelParams(**{key: self.values[key] for key in _MODEL_KEYS})

    def _solve(self, values):
        sol = solve_dashboard(values, self.n_steps)
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
            self.timings = {"solve": 0.0, "update": 0.0, "solve_cpu": 0.0}
            return "none"
        if changed == {"eps"}:
            t0 = time.perf_counter()
            self.values = new
            update_derisk(self.artists, self.solution.x, self.solution.rho, new["eps"])
            self.timings = {"solve": 0.0, "update": time.perf_counter() - t0, "solve_cpu": 0.0}
            return "derisk"
        t0, c0 = time.perf_counter(), time.thread_time()
        solution = self._solve(new)
        t1, c1 = time.perf_counter(), time.thread_time()
        self.values, self.solution = new, solution
        update_dashboard(self.artists, solution, solution.rho, new["eps"])
        self.timings = {"solve": t1 - t0, "update": time.perf_counter() - t1,
                        "solve_cpu": c1 - c0}
        return "solve"

    def png(self):
        """The current picture as PNG bytes (:func:`mmlib.plotting.render_dashboard`)."""
        return render_dashboard(self.artists)

    def widget(self, wait=DEBOUNCE_SECONDS, continuous_update=False):
        """Sliders above the live picture, as a :class:`DashboardWidget`.

        Parameters
        ----------
        wait : float
            Debounce window in seconds, ``0 <= wait <= 2``: a solve starts once the
            sliders have been still this long.
        continuous_update : bool
            Send values while a slider is dragged (True) or on release (False).

        Returns
        -------
        DashboardWidget
        """
        return DashboardWidget(self, wait=wait, continuous_update=continuous_update)


def _new_figure():
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=DASHBOARD_FIGSIZE, dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


class _Debouncer:
    """Run ``work(changes, t_last)`` in a worker thread once submissions pause for ``wait`` s.

    Submissions are merged into one dict of changes (a later value of a key wins). At
    most one ``work`` runs at a time; what arrives meanwhile is handled by one more call
    after it. ``t_last`` is the ``time.perf_counter()`` of the last submission merged in.
    ``on_state(busy)`` is called under the lock whenever busy starts or ends.
    """

    def __init__(self, work, wait, on_state):
        self._work, self.wait, self._on_state = work, wait, on_state
        self._lock = threading.Lock()
        self._pending = {}
        self._t_last = 0.0
        self._timer = None
        self._running = False
        self.busy = False
        self.idle = threading.Event()
        self.idle.set()

    def submit(self, changes):
        with self._lock:
            self._pending.update(changes)
            self._t_last = time.perf_counter()
            if not self.busy:
                self.busy = True
                self.idle.clear()
                self._on_state(True)
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
            if not self._running:
                self._arm()

    def _arm(self):
        self._timer = threading.Timer(self.wait, self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self):
        with self._lock:
            if self._running or not self._pending:
                return
            changes, self._pending = self._pending, {}
            self._timer, self._running = None, True
            t_last = self._t_last
        try:
            self._work(changes, t_last)
        finally:
            with self._lock:
                self._running = False
                if self._pending:
                    self._arm()
                else:
                    self.busy = False
                    self._on_state(False)
                    self.idle.set()


class DashboardWidget:
    r"""The live dashboard: sliders, a status line and the picture, in one ipywidgets box.

    A slider move does not solve at once: it waits until the sliders have been still
    for ``wait`` seconds (a debounce), so a burst of key presses or a drag solves once,
    for the last values. The solve and the drawing run in a worker thread, never two
    at a time; moves made meanwhile are merged and solved once it ends. While work is
    pending the status line says so and the picture is dimmed. Each result is sent as
    one PNG (:func:`mmlib.plotting.render_dashboard`), drawn from the cached axes when
    no limit moved.

    Parameters
    ----------
    dashboard : Dashboard
    wait : float
        Debounce window in seconds, ``0 <= wait <= 2``.
    continuous_update : bool
        Send slider values while dragging (True) or on release (False).

    Attributes
    ----------
    box : ipywidgets.VBox
        What the notebook shows (``display(widget)`` shows it).
    sliders : dict of str to ipywidgets slider
    image : ipywidgets.Image
    frame : ipywidgets.VBox
        The box around ``image`` that is dimmed (class ``mmlib-busy``) while a move is
        pending. The class sits on the box, not on the image: any change to an Image
        widget, its classes included, makes the browser decode its PNG again.
    status : ipywidgets.HTML
    n_renders : int
        Pictures sent so far (the first one included).
    last : dict
        Timings of the last update, in seconds: ``latency`` (from the last slider
        value it includes to the PNG handed to the widget), and its parts: ``wait``
        (the debounce window and the worker's start), ``solve`` (the mean-field solve
        only), ``update`` (new data into the artists) and ``render`` (drawing and PNG
        encoding); ``latency - solve`` is the part the solver does not decide. Also
        ``cpu``, the worker's CPU time for the move, and ``solve_cpu``, the solve's (on a
        shared machine these show what the move costs apart from waiting for a core).
        And ``kind``, as :meth:`Dashboard.update` returns it, or ``"error"``.

    Raises
    ------
    ValueError
        If ``wait`` is outside its range.
    """

    def __init__(self, dashboard, wait=DEBOUNCE_SECONDS, continuous_update=False):
        import ipywidgets as w

        self.dashboard = dashboard
        wait = check_real("wait", wait, lo=0.0, hi=2.0)
        self.sliders = make_sliders(dashboard.values, continuous_update=continuous_update)
        width, _ = dashboard.fig.canvas.get_width_height()
        self.image = w.Image(value=dashboard.png(), format="png",
                             layout=w.Layout(width="100%", max_width=f"{width}px",
                                             height="auto"))
        self.image.add_class("mmlib-dashboard-figure")
        self.status = w.HTML(value=_STATUS_IDLE)
        self.status.add_class("mmlib-dashboard-status")
        self.n_renders = 1
        self.last = {}
        self._debouncer = _Debouncer(self._work, wait, self._set_busy)
        for key, slider in self.sliders.items():
            slider.observe(self._on_change(key), names="value")
        grid = w.GridBox(list(self.sliders.values()), layout=_grid_layout())
        grid.add_class("mmlib-dashboard-sliders")
        self.frame = w.VBox([self.image], layout=w.Layout(width="100%", overflow="visible"))
        self.box = w.VBox([w.HTML(_STYLE), grid, self.status, self.frame])

    @property
    def wait(self):
        """The debounce window in seconds."""
        return self._debouncer.wait

    @property
    def busy(self):
        """True from a slider move until its picture has been sent."""
        return self._debouncer.busy

    def wait_idle(self, timeout=None):
        """Block until every pending move has been solved and drawn; return True if so."""
        return self._debouncer.idle.wait(timeout)

    def _on_change(self, key):
        def on_change(change):
            self._debouncer.submit({key: change["new"]})
        return on_change

    def _set_busy(self, busy):
        self.status.value = _STATUS_BUSY if busy else (
            self.status.value if self.last.get("kind") == "error" else _STATUS_IDLE)
        if busy:
            self.frame.add_class("mmlib-busy")
        else:
            self.frame.remove_class("mmlib-busy")

    def _work(self, changes, t_last):
        t0, c0 = time.perf_counter(), time.thread_time()
        try:
            kind = self.dashboard.update(**changes)
        except Exception as err:  # noqa: BLE001 - a worker thread: show it, keep the picture
            self.status.value = f"<span style='color:#b00'>{html.escape(str(err))}</span>"
            self.last = {"kind": "error"}
            return
        t1 = time.perf_counter()
        if kind != "none":
            self.image.value = self.dashboard.png()
            self.n_renders += 1
        t2 = time.perf_counter()
        self.last = {"kind": kind, "latency": t2 - t_last, "wait": t0 - t_last,
                     **self.dashboard.timings, "render": t2 - t1,
                     "cpu": time.thread_time() - c0}

    def _repr_mimebundle_(self, **kwargs):
        bundle = self.box._repr_mimebundle_(**kwargs)
        if isinstance(bundle, dict) and "text/plain" in bundle:
            # what a notebook shows where it cannot draw the widget (untrusted, or no widget
            # manager): a sentence, not ``VBox(children=(...``
            bundle["text/plain"] = ("mmlib dashboard (live sliders): run the notebook's cells in "
                                    "JupyterLab to move them (a trusted notebook shows the saved "
                                    "picture before that)")
        return bundle


_STATUS_IDLE = "<span class='mmlib-idle'>Move a slider: the model re-solves on release.</span>"
_STATUS_BUSY = "<span class='mmlib-solving'>&#8987; solving&hellip;</span>"
# The picture dims while a solve is pending. In the slider grid every label has one width
# (so the tracks line up) and every readout room for its widest value.
_STYLE = ("<style>.mmlib-busy{opacity:0.55;transition:opacity 0.1s}"
          ".mmlib-dashboard-sliders .widget-label{width:8.2em !important;"
          "min-width:8.2em !important}"
          ".mmlib-dashboard-sliders .widget-readout{min-width:3.4em;width:3.4em}</style>")


def _grid_layout():
    import ipywidgets as w

    return w.Layout(grid_template_columns="repeat(3, minmax(0, 1fr))",
                    grid_gap="0px 14px", width="100%")


def _decimals(step):
    """Decimals needed to show every multiple of ``step`` exactly (0.002 -> 3, 0.5 -> 1)."""
    for d in range(7):
        if abs(round(step * 10**d) - step * 10**d) < 1e-9:
            return d
    return 6


def make_sliders(values=None, continuous_update=False):
    """One ipywidgets slider per dashboard control, within :data:`SLIDER_RANGES`.

    Each readout shows as many decimals as its step has (``eta`` steps by 0.002, so
    it reads 0.012, not 0.01). Each slider is as wide as its box allows
    (``layout.width = "auto"``), so in :class:`DashboardWidget`'s grid a readout never
    runs into the next slider.

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
        fmt = {} if key == "x_max" else {"readout_format": f".{_decimals(step)}f"}
        s = cls(value=vals[key], min=lo, max=hi, step=step, description=_DESCRIPTIONS[key],
                layout=w.Layout(width="auto", min_width="0"), **fmt,
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
    return _plain_text(box)


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
    return _plain_text(box)


_FRAME_TEXT = ("pre-rendered slider: the book's web page shows it; in a notebook, trust it (or run "
               "its cells) to see the pictures")


def _plain_text(box):
    """Give a frame panel a sentence, not ``VBox(children=(...``, where it cannot be drawn."""
    draw = box._repr_mimebundle_

    def bundle(**kwargs):
        out = draw(**kwargs)
        if isinstance(out, dict) and "text/plain" in out:
            out["text/plain"] = _FRAME_TEXT
        return out

    box._repr_mimebundle_ = bundle
    return box


__all__ += ["FRAME_PANEL_CLASS", "frame_grid", "frame_slider", "render_frames"]
