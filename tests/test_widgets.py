"""The dashboard controller: re-solve only when the model changes, redraw in place."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mmlib import ModelParams, default_rho0, solve_mean_field  # noqa: E402
from mmlib.widgets import DASHBOARD_DEFAULTS, SLIDER_RANGES, Dashboard, make_sliders  # noqa: E402


@pytest.fixture
def dash():
    fig = plt.figure(figsize=(11, 8))
    d = Dashboard(fig, n_steps=40, x_max=6, T=2.0)
    yield d
    plt.close(fig)


def test_dashboard_solution_is_the_mean_field_equilibrium(dash):
    p = ModelParams(**{k: dash.values[k] for k in ("A", "k", "eta", "gamma", "T", "x_max")})
    ref = solve_mean_field(p, default_rho0(p.x_max), 40)
    np.testing.assert_allclose(dash.solution.V, ref.V)
    mean = ref.rho @ p.x
    variance = ref.rho @ p.x**2 - mean**2  # E[X^2] - E[X]^2, computed independently
    np.testing.assert_allclose(dash.artists.lines["variance"].get_ydata(), variance, atol=1e-12)


def test_eps_only_redraws_the_derisk_panel(dash):
    before = dash.artists.lines["variance"].get_ydata().copy()
    assert dash.update(eps=2.0) == "derisk"
    assert dash.n_solves == 1
    np.testing.assert_allclose(dash.artists.lines["variance"].get_ydata(), before)
    assert dash.update(eps=2.0) == "none"


def test_model_change_resolves_and_keeps_the_axes(dash):
    axes_before = list(dash.fig.axes)
    assert dash.update(eta=0.05) == "solve"
    assert dash.n_solves == 2 and dash.values["eta"] == 0.05
    assert list(dash.fig.axes) == axes_before
    assert dash.update(x_max=8) == "solve"  # the grid changes size, the figure does not
    assert dash.artists.images["value"].get_array().shape == (17, 41)


@pytest.mark.parametrize("change,match", [
    (dict(A=100.0), "A"), (dict(x_max=2.5), "x_max"), (dict(eps=0.0), "eps"),
    (dict(colour=1.0), "unknown"),
])
def test_bad_values_are_refused_and_leave_the_dashboard_unchanged(dash, change, match):
    before = dict(dash.values)
    with pytest.raises(ValueError, match=match):
        dash.update(**change)
    assert dash.values == before


def test_sliders_cover_every_control_within_range():
    s = make_sliders()
    assert set(s) == set(SLIDER_RANGES)
    for key, (lo, hi, _) in SLIDER_RANGES.items():
        assert s[key].min == lo and s[key].max == hi and s[key].value == DASHBOARD_DEFAULTS[key]


def test_slider_panel_raises_when_its_first_draw_fails():
    widgets = pytest.importorskip("ipywidgets")
    from mmlib import slider_panel

    def broken(ax, a):
        raise ValueError("a must be > 0")

    with pytest.raises(ValueError, match="a must be"):
        slider_panel(broken, a=widgets.FloatSlider(value=1.0))
    box = slider_panel(lambda ax, a: ax.plot([0, a]), a=widgets.FloatSlider(value=1.0))
    assert len(box.children) == 2
    plt.close("all")
