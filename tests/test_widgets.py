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


def test_solve_dashboard_clips_the_crowd_mean_to_the_grid():
    """mu0 = 10 on a grid of x_max = 4: the crowd starts at the edge, +4, as a slider would."""
    from mmlib import solve_dashboard

    values = {"A": 1.0, "k": 1.5, "eta": 0.01, "gamma": 0.1, "T": 2.0, "x_max": 4, "mu0": 10.0,
              "eps": 0.5}
    sol = solve_dashboard(values, 30)
    p = ModelParams(A=1.0, k=1.5, eta=0.01, gamma=0.1, T=2.0, x_max=4)
    ref = solve_mean_field(p, default_rho0(4, 4.0), 30)  # plain iteration, no mixing
    assert sol.converged and ref.converged
    np.testing.assert_allclose(sol.rho[0], default_rho0(4, 4.0))
    np.testing.assert_allclose(sol.V, ref.V, atol=1e-9)


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


# --- kernel-free sliders: pre-rendered frames switched by jslink --------------------------------
import io  # noqa: E402
import json  # noqa: E402

import ipywidgets  # noqa: E402
from ipywidgets.embed import embed_data  # noqa: E402
from PIL import Image as PILImage  # noqa: E402

from mmlib.widgets import FRAME_PANEL_CLASS, frame_grid, frame_slider, render_frames  # noqa: E402


def _draw_level(ax, a, b=0.0):
    ax.axhline(a + b, color="k", lw=8)
    ax.set_ylim(-1, 5)
    ax.set_axis_off()


def _dark_row(png):
    """Pixel row of the thick black line, read back from the PNG itself."""
    img = np.asarray(PILImage.open(io.BytesIO(png)).convert("L"), dtype=float)
    return int(np.argmin(img.mean(axis=1)))


def test_render_frames_draws_each_value_into_its_own_png():
    frames = render_frames(_draw_level, figsize=(2.0, 3.0), dpi=50, a=[0.0, 2.0, 4.0])
    sizes = {PILImage.open(io.BytesIO(f)).size for f in frames}
    assert sizes == {(100, 150)}  # figsize * dpi
    rows = [_dark_row(f) for f in frames]
    # y = 0, 2, 4 on ylim (-1, 5): the line climbs by a third of the height per step
    assert rows[0] > rows[1] > rows[2]
    np.testing.assert_allclose(np.diff(rows), -150 * 2 / 6, atol=3)
    assert render_frames(_draw_level, figsize=(2.0, 3.0), dpi=50, a=[2.0])[0] == frames[1]


def test_render_frames_grid_is_row_major_in_the_first_parameter():
    grid = render_frames(_draw_level, figsize=(1.0, 3.0), dpi=40, a=[0.0, 3.0], b=[0.0, 1.0, 2.0])
    assert [len(r) for r in grid] == [3, 3]
    rows = np.array([[_dark_row(f) for f in r] for r in grid])
    level = np.add.outer([0.0, 3.0], [0.0, 1.0, 2.0])
    assert np.array_equal(np.argsort(-rows, axis=None), np.argsort(level, axis=None, kind="stable"))


def _links(state, *sources):
    """The LinkModels of an embedded state whose source is one of ``sources`` (the state holds
    every live widget, as a notebook's saved state does)."""
    ids = {f"IPY_MODEL_{w.model_id}" for w in sources}
    return [m["state"] for m in state.values()
            if m["model_name"] == "LinkModel" and m["state"]["source"][0] in ids]


def test_frame_slider_links_the_slider_index_to_the_stack_in_the_embedded_state():
    frames = render_frames(_draw_level, figsize=(1.0, 1.0), dpi=30, a=[0.0, 1.0, 2.0])
    box = frame_slider(frames, [0.0, 1.0, 2.0], description="a", index=2)
    slider, stack = box.children
    assert FRAME_PANEL_CLASS in box._dom_classes
    assert slider.options == (("0", 0), ("1", 1), ("2", 2)) and slider.index == 2
    assert [im.value for im in stack.children] == frames and stack.selected_index == 2
    # What the static page receives: the link is a model of its own, joining the two ids.
    state = embed_data(views=[box])["manager_state"]["state"]
    (link,) = _links(state, slider)
    assert link["source"] == [f"IPY_MODEL_{slider.model_id}", "index"]
    assert link["target"] == [f"IPY_MODEL_{stack.model_id}", "selected_index"]
    json.dumps(state)  # embeddable as it is


def test_frame_grid_shows_frame_ij_for_slider_positions_ij():
    rows, cols = [0.0, 1.0], [0.0, 0.5, 1.5]
    frames = render_frames(_draw_level, figsize=(1.0, 1.0), dpi=30, a=rows, b=cols)
    box = frame_grid(frames, (rows, cols), descriptions=("a", "b"), index=(1, 0))
    s_row, s_col, outer = box.children
    state = embed_data(views=[box])["manager_state"]["state"]
    links = {(tuple(m["source"]), tuple(m["target"])) for m in _links(state, s_row, s_col)}
    row_link = ((f"IPY_MODEL_{s_row.model_id}", "index"),
                (f"IPY_MODEL_{outer.model_id}", "selected_index"))
    col_links = {((f"IPY_MODEL_{s_col.model_id}", "index"),
                  (f"IPY_MODEL_{st.model_id}", "selected_index")) for st in outer.children}
    assert links == {row_link} | col_links
    # Follow the links by hand, for every slider position: the visible image is frames[i][j].
    for i in range(len(rows)):
        for j in range(len(cols)):
            shown = outer.children[i].children[j]
            assert shown.value == frames[i][j]
    assert outer.selected_index == 1 and all(st.selected_index == 0 for st in outer.children)


def test_frame_sliders_work_in_python_too():
    frames = render_frames(_draw_level, figsize=(1.0, 1.0), dpi=30, a=[0.0, 1.0])
    box = frame_slider(frames, [0.0, 1.0])
    # jslink has no kernel side; a kernel-side link with the same ends behaves the same way.
    ipywidgets.link((box.children[0], "index"), (box.children[1], "selected_index"))
    box.children[0].index = 1
    assert box.children[1].selected_index == 1


@pytest.mark.parametrize("call,match", [
    (lambda f: frame_slider(f, [0.0]), "2 frames for 1 values"),
    (lambda f: frame_slider([b"GIF89a", f[1]], [0.0, 1.0]), "PNG"),
    (lambda f: frame_slider(f, [1.0, 1.0000001]), "distinct"),
    (lambda f: frame_slider(f, [0.0, 1.0], index=2), "index"),
    (lambda f: frame_slider(f, []), "non-empty"),
    (lambda f: frame_grid([f], ([0.0], [0.0])), "1 values"),
    (lambda f: frame_grid([f, f], ([0.0], [0.0, 1.0])), "2 rows for 1 values"),
    (lambda f: frame_grid([f], ([0.0], [0.0, 1.0]), index=(0, 5)), "index"),
    (lambda f: render_frames(_draw_level), "one or two"),
    (lambda f: render_frames(_draw_level, a=[]), "non-empty"),
    (lambda f: render_frames(_draw_level, dpi=5, a=[0.0]), "dpi"),
])
def test_frame_slider_bad_input(call, match):
    frames = render_frames(_draw_level, figsize=(1.0, 1.0), dpi=30, a=[0.0, 1.0])
    with pytest.raises(ValueError, match=match):
        call(frames)


def test_render_frames_passes_ncols_axes_side_by_side():
    seen = []

    def draw(axes, a):
        seen.append(len(axes))
        for ax in axes:
            _draw_level(ax, a)

    (png,) = render_frames(draw, figsize=(4.0, 1.0), dpi=25, ncols=2, a=[1.0])
    assert seen == [2] and PILImage.open(io.BytesIO(png)).size == (100, 25)
    with pytest.raises(ValueError, match="ncols"):
        render_frames(draw, ncols=9, a=[1.0])


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
    assert w.busy and "solving" in w.status.value and "mmlib-busy" in w.frame._dom_classes
    # dimmed through the box around the image: a class change on the Image widget itself
    # would make the browser decode the same PNG again, twice a move
    assert w.image._dom_classes == ("mmlib-dashboard-figure",)
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
    assert "mmlib-busy" not in w.frame._dom_classes
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


def test_frame_panels_read_as_a_sentence_where_they_cannot_be_drawn():
    frames = render_frames(_draw_level, figsize=(1.0, 1.0), dpi=30, a=[0.0, 1.0])
    grid = render_frames(_draw_level, figsize=(1.0, 1.0), dpi=30, a=[0.0, 1.0], b=[0.0, 1.0])
    for box in (frame_slider(frames, [0.0, 1.0], description="a"),
                frame_grid(grid, ([0.0, 1.0], [0.0, 1.0]), descriptions=("a", "b"))):
        text = box._repr_mimebundle_()["text/plain"]
        assert "VBox(children" not in text and "pre-rendered slider" in text
        assert "application/vnd.jupyter.widget-view+json" in box._repr_mimebundle_()


def test_a_move_is_timed_end_to_end_and_split_into_its_parts(small):
    import time

    w = small.widget(wait=0.05)
    t0 = time.perf_counter()
    w.sliders["eta"].value = 0.05
    assert w.wait_idle(60)
    outside = time.perf_counter() - t0  # measured here, around the whole move
    last = w.last
    assert last["kind"] == "solve" and 0.05 <= last["wait"] and last["latency"] <= outside
    parts = last["wait"] + last["solve"] + last["update"] + last["render"]
    assert parts <= last["latency"]  # the parts are disjoint pieces of the move
    assert last["solve"] > 0 and last["update"] > 0 and last["render"] > 0
    w.sliders["eps"].value = 3.0  # no solve: its solve part is zero
    assert w.wait_idle(60)
    assert w.last["kind"] == "derisk" and w.last["solve"] == 0.0 and w.last["render"] > 0
