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

__all__ = ["DASHBOARD_DEFAULTS", "SLIDER_RANGES", "Dashboard", "make_sliders", "slider_panel"]

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
