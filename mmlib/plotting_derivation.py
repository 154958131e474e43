"""Plot and slider helpers of the chapters *Intensities*, *HJB* and *Closed-form
optimal quotes*.

Every plot helper takes a matplotlib ``Axes`` and returns it; none changes
global matplotlib state. :func:`slider_panel` builds an ipywidgets panel that
redraws a figure when a slider moves.
"""
from __future__ import annotations

import numpy as np

__all__ = ["slider_panel", "plot_edge_rate", "plot_fill_fit", "plot_convergence"]


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


def plot_convergence(ax, n_steps, errors, order=1.0):
    """Log-log error against the number of steps, with a reference line of slope ``-order``."""
    n = np.asarray(n_steps, dtype=float)
    e = np.asarray(errors, dtype=float)
    slope = np.polyfit(np.log(n), np.log(e), 1)[0]
    ax.loglog(n, e, "o-", label=f"measured (fitted slope {slope:.3f})")
    ax.loglog(n, e[0] * (n / n[0]) ** (-order), "--", color="0.4", label=f"slope $-{order:g}$")
    ax.set_xlabel("number of time steps $N$")
    ax.set_ylabel("max error")
    ax.legend()
    return ax
