"""The dashboard controller: re-solve only when the model changes, redraw in place."""
import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mmlib import ModelParams, solve_mean_field  # noqa: E402
from mmlib.widgets import DASHBOARD_DEFAULTS, SLIDER_RANGES, Dashboard, default_rho0, make_sliders  # noqa: E402


def test_default_rho0_is_the_book_gaussian():
    r = default_rho0(8)
    x = np.arange(-8, 9)
    ref = np.exp(-0.5 * (x / 2.0) ** 2)
    np.testing.assert_allclose(r, ref / ref.sum())
    assert abs(default_rho0(8, mu0=3.0) @ x - 3.0) < 0.05


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


# --- the live widget: debounce, busy state, readouts (simulated slider moves, no browser) ---

@pytest.fixture
def small():
    return Dashboard(n_steps=40, x_max=6, T=2.0)


def _png_pixels(data):
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_burst_of_moves_solves_once_for_the_last_value(small):
    w = small.widget(wait=0.3)
    first = w.image.value
    for value in (0.2, 0.21, 0.22, 0.23, 0.24):  # five key presses, closer than the window
        w.sliders["gamma"].value = value
    assert w.busy and "solving" in w.status.value and "mmlib-busy" in w.image._dom_classes
    assert w.wait_idle(60)
    assert small.n_solves == 2 and small.values["gamma"] == 0.24
    # the picture is the equilibrium at the last value, solved here independently
    p = ModelParams(**{**{k: small.values[k] for k in ("A", "k", "eta", "T", "x_max")},
                       "gamma": 0.24})
    ref = solve_mean_field(p, default_rho0(p.x_max), 40)
    np.testing.assert_allclose(small.solution.V, ref.V, rtol=1e-6, atol=1e-9)
    assert w.image.value != first and w.n_renders == 2
    small.artists.render_cache.clear()  # the same figure drawn whole
    np.testing.assert_array_equal(_png_pixels(w.image.value), _png_pixels(small.png()))
    assert not w.busy and "solving" not in w.status.value
    assert "mmlib-busy" not in w.image._dom_classes
    assert w.last["kind"] == "solve" and w.last["latency"] >= 0.3


def test_moves_during_a_solve_are_merged_into_one_more_solve(small, monkeypatch):
    import threading
    import time

    calls, started = [], threading.Event()
    solve = small._solve

    def slow_solve(values):
        calls.append(values["gamma"])
        started.set()
        time.sleep(0.4)
        return solve(values)

    monkeypatch.setattr(small, "_solve", slow_solve)
    w = small.widget(wait=0.0)
    w.sliders["gamma"].value = 0.2
    assert started.wait(10)
    for value in (0.3, 0.4, 0.5):  # arrive while the first solve runs
        w.sliders["gamma"].value = value
    assert w.wait_idle(60)
    assert calls == [0.2, 0.5] and small.values["gamma"] == 0.5


def test_eps_move_redraws_without_solving(small):
    w = small.widget(wait=0.0)
    w.sliders["eps"].value = 2.0
    assert w.wait_idle(30)
    assert small.n_solves == 1 and w.last["kind"] == "derisk"
    assert small.artists.render_cache["last"] == "cached"  # no axis moved: data only


def test_a_failing_update_shows_its_message_and_ends_busy(small, monkeypatch):
    def fail(**changes):
        raise ValueError("gamma must be <= 0.5, got 0.7")

    monkeypatch.setattr(small, "update", fail)
    w = small.widget(wait=0.0)
    before = w.image.value
    w.sliders["gamma"].value = 0.3
    assert w.wait_idle(30)
    assert "gamma must be" in w.status.value and not w.busy and w.image.value == before


def test_widget_opens_at_the_dashboard_values_and_reads_sensibly_without_a_kernel():
    d = Dashboard(n_steps=20, x_max=5, T=1.0)
    w = d.widget()
    assert {k: s.value for k, s in w.sliders.items()} == d.values
    assert d.values == {**DASHBOARD_DEFAULTS, "x_max": 5, "T": 1.0}
    bundle = w._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert "VBox" not in bundle["text/plain"] and "JupyterLab" in bundle["text/plain"]
    with pytest.raises(ValueError, match="wait"):
        d.widget(wait=-1.0)


def test_each_readout_shows_the_precision_of_its_step():
    sliders = make_sliders()
    for key, (lo, hi, step) in SLIDER_RANGES.items():
        s = sliders[key]
        if key == "x_max":
            assert s.step == 1
            continue
        values = lo + step * np.arange(round((hi - lo) / step) + 1)
        shown = [format(v, s.readout_format) for v in values]
        assert len(set(shown)) == len(values), key  # neighbours never read the same
        for v, text in zip(values, shown):
            assert abs(float(text) - v) < 1e-9, (key, v, text)  # and exactly
    assert format(0.012, sliders["eta"].readout_format) == "0.012"
    assert all(s.layout.width == "auto" for s in sliders.values())
