"""Plot helpers: they draw the data they are given, on the axes they are given."""
import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from mmlib import TEACHING_PARAMS, default_rho0, metrics, solve_mean_field  # noqa: E402
from mmlib import plotting  # noqa: E402


@pytest.fixture
def ax():
    fig, ax = plt.subplots()
    yield ax
    plt.close(fig)


@pytest.fixture(scope="module")
def mf():
    p = TEACHING_PARAMS.replace(T=2.0, x_max=5)
    return solve_mean_field(p, default_rho0(p.x_max, 1.0), 40)


def test_helpers_return_the_axes_and_leave_rc_alone(ax):
    before = dict(plt.rcParams)
    t, x = np.linspace(0, 1, 4), np.arange(-2, 3)
    Z = np.arange(20.0).reshape(4, 5)
    assert plotting.plot_heatmap(ax, t, x, Z, label="Z") is ax
    assert plotting.plot_slices(ax, x, Z, t, [0.0, 1.0]) is ax
    assert dict(plt.rcParams) == before


def test_heatmap_shows_time_across_and_inventory_up(ax):
    t, x = np.linspace(0, 1, 4), np.arange(-2, 3)
    Z = np.arange(20.0).reshape(4, 5)
    plotting.plot_heatmap(ax, t, x, Z)
    mesh = ax.collections[0]
    np.testing.assert_array_equal(np.asarray(mesh.get_array()).reshape(5, 4), Z.T)


def test_ridge_draws_one_curve_per_time_at_nearest_grid_time(ax):
    t, x = np.linspace(0, 1, 11), np.arange(-2, 3)
    rho = np.tile([0.1, 0.2, 0.4, 0.2, 0.1], (11, 1))
    plotting.plot_ridge(ax, x, rho, t, [0.0, 0.52, 1.0])
    assert len(ax.lines) == 3
    assert [tl.get_text() for tl in ax.get_yticklabels()] == ["t = 0", "t = 0.5", "t = 1"]
    np.testing.assert_allclose(ax.lines[1].get_ydata(), 1 + 1.5 * rho[5] / 0.4)


def test_loglog_reference_line_has_the_requested_slope(ax):
    n = np.array([10.0, 100.0, 1000.0])
    plotting.plot_loglog(ax, n, 3 / np.sqrt(n), ref_slope=-0.5)
    ref = ax.lines[1]
    slope = np.diff(np.log(ref.get_ydata())) / np.diff(np.log(ref.get_xdata()))
    np.testing.assert_allclose(slope, -0.5)


@pytest.mark.parametrize("call,match", [
    (lambda ax: plotting.plot_ridge(ax, [0, 1], np.ones((2, 3)), [0, 1], [0]), "rho"),
    (lambda ax: plotting.plot_ridge(ax, [0, 1], np.ones((2, 2)), [0, 1], []), "times"),
    (lambda ax: plotting.plot_ridge(ax, [0, 1], np.ones((2, 2)), [0, 1], [0], overlap=0), "overlap"),
    (lambda ax: plotting.plot_series(ax, [0, 1], {}), "series"),
    (lambda ax: plotting.plot_series(ax, [0, 1], {"a": [1, 2, 3]}), "series"),
    (lambda ax: plotting.plot_loglog(ax, [1, 2], [1, 0]), "positive"),
])
def test_bad_input_raises(ax, call, match):
    with pytest.raises(ValueError, match=match):
        call(ax)


def test_dashboard_draws_the_solution_and_updates_in_place(mf):
    fig = plt.figure(figsize=(11, 8))
    axes = plotting.dashboard_axes(fig)
    art = plotting.draw_dashboard(axes, mf, mf.rho, eps=0.5)
    m = metrics.session_metrics(mf, mf.rho, 0.5)
    np.testing.assert_allclose(art.lines["skew"].get_ydata(), m["skew"])
    np.testing.assert_allclose(art.lines["derisk"].get_ydata(), m["derisk"])
    np.testing.assert_allclose(np.asarray(art.images["value"].get_array()), mf.V.T)
    ids = {name: id(a) for name, a in art.axes.items()}
    n_axes = len(fig.axes)
    # a different equilibrium: same artists and axes, new data
    p2 = mf.params.replace(eta=0.05)
    mf2 = solve_mean_field(p2, default_rho0(p2.x_max, 1.0), 40)
    plotting.update_dashboard(art, mf2, mf2.rho, eps=1.5)
    assert {name: id(a) for name, a in art.axes.items()} == ids and len(fig.axes) == n_axes
    m2 = metrics.session_metrics(mf2, mf2.rho, 1.5)
    np.testing.assert_allclose(art.lines["variance"].get_ydata(), m2["variance"])
    np.testing.assert_allclose(art.lines["derisk"].get_ydata(), m2["derisk"])
    plotting.update_derisk(art, mf2.x, mf2.rho, 2.5)
    np.testing.assert_allclose(art.lines["derisk"].get_ydata(),
                               metrics.derisk_probability(mf2.x, mf2.rho, 2.5))
    with pytest.raises(ValueError, match="eps"):
        plotting.update_derisk(art, mf2.x, mf2.rho, 0.0)
    with pytest.raises(ValueError, match="empty"):
        plotting.dashboard_axes(fig)
    plt.close(fig)


def test_update_rescales_axes_to_the_new_data(mf):
    fig = plt.figure(figsize=(11, 8))
    art = plotting.draw_dashboard(plotting.dashboard_axes(fig), mf, mf.rho, eps=0.5)
    p2 = mf.params.replace(gamma=0.4)
    rho0 = default_rho0(p2.x_max, 3.0)
    mf2 = solve_mean_field(p2, rho0, 40, anderson=5)
    plotting.update_dashboard(art, mf2, mf2.rho, eps=0.5)
    for panel, key in [("spreads", "avg_a"), ("marginal", "marginal"), ("variance", "variance")]:
        lo, hi = art.axes[panel].get_ylim()
        y = art.lines[key].get_ydata()
        assert lo <= y.min() and y.max() <= hi, panel
    plt.close(fig)


# --- render_dashboard: only what changed is redrawn, and the picture is a full draw's ---

def _pixels(png):
    import io

    from PIL import Image

    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB")).astype(int)


def _png_and_savefig(d):
    """Pixels of the dashboard's own PNG and of the same figure drawn whole by savefig."""
    png = d.png()
    buf = io.BytesIO()
    d.fig.savefig(buf, format="png", dpi=d.fig.dpi)
    a, b = _pixels(png), _pixels(buf.getvalue())
    assert a.shape == b.shape
    return a, b


def test_render_dashboard_matches_a_full_draw_after_every_kind_of_move():
    from mmlib.widgets import Dashboard

    d = Dashboard(n_steps=40, x_max=6, T=2.0)
    assert d.png()[:8] == b"\x89PNG\r\n\x1a\n" and d.artists.render_cache["last"] == "full"
    kinds = []
    for change in [dict(eps=1.5), dict(eta=0.012), dict(gamma=0.3), dict(T=3.0), dict(x_max=9),
                   dict(mu0=-4.0), dict(A=0.2, k=3.0)]:
        d.update(**change)
        a, b = _png_and_savefig(d)
        kinds.append(d.artists.render_cache["last"])
        assert np.abs(a - b).max(axis=2).astype(bool).mean() < 1e-4, change  # (exact here)
    assert kinds[0] == "cached" and "panels" in kinds  # an eps move redraws no axes


def test_dashboard_fits_a_projector_with_its_sliders():
    w, h = plotting.DASHBOARD_FIGSIZE[0] * 110, plotting.DASHBOARD_FIGSIZE[1] * 110
    assert w <= 900 and h <= 480  # JupyterLab's content area at 1280 x 720, sliders above


def test_nice_limits_hold_the_data_and_end_on_ticks():
    from matplotlib.ticker import MaxNLocator

    rng = np.random.default_rng(3)
    for lo, hi in [(0.0, 1.0), (-1e-16, 3.1), (-44.7, 13.2), (2.5, 2.5), (1e-7, 3e-7)]:
        a, b = plotting._nice_limits(lo, hi)
        assert a <= lo + 1e-12 and b >= hi - 1e-12 and b > a
        ticks = MaxNLocator(nbins=4).tick_values(a, b)
        assert np.min(np.abs(ticks - a)) < 1e-9 * (b - a) and np.min(np.abs(ticks - b)) < 1e-9 * (b - a)
        # a nudge far smaller than a tick step leaves the limits where they were
        eps = 1e-4 * (b - a) * rng.uniform(-1, 1)
        if lo + abs(eps) < hi - abs(eps) and a < lo - abs(eps) and hi + abs(eps) < b:
            assert plotting._nice_limits(lo + eps, hi + eps) == (a, b)


def test_render_dashboard_needs_an_agg_canvas(mf):
    from matplotlib.figure import Figure

    fig = Figure()
    art = plotting.draw_dashboard(plotting.dashboard_axes(fig), mf, mf.rho)
    from matplotlib.backend_bases import FigureCanvasBase

    FigureCanvasBase(fig)
    with pytest.raises(ValueError, match="Agg"):
        plotting.render_dashboard(art)
    with pytest.raises(ValueError, match="compress_level"):
        plotting.render_dashboard(art, compress_level=12)


def test_encode_png_is_read_back_exactly_by_an_independent_decoder():
    from PIL import Image

    rng = np.random.default_rng(7)
    for shape in [(1, 1, 3), (5, 7, 3), (6, 4, 4), (33, 17, 4)]:
        a = rng.integers(0, 256, shape, dtype=np.uint8)
        for level in (0, 1, 9):
            back = np.asarray(Image.open(io.BytesIO(plotting.encode_png(a, compress_level=level))))
            np.testing.assert_array_equal(back, a)
    opaque = rng.integers(0, 256, (4, 5, 4), dtype=np.uint8)
    opaque[..., 3] = 255
    img = Image.open(io.BytesIO(plotting.encode_png(opaque)))
    assert img.mode == "RGB"  # an alpha channel opaque everywhere is dropped
    np.testing.assert_array_equal(np.asarray(img), opaque[..., :3])
    for bad in (np.zeros((2, 2, 2), np.uint8), np.zeros((2, 2, 3)), np.zeros((0, 2, 3), np.uint8)):
        with pytest.raises(ValueError, match="rgba"):
            plotting.encode_png(bad)
    with pytest.raises(ValueError, match="compress_level"):
        plotting.encode_png(opaque, compress_level=10)


def test_region_redraw_matches_a_full_draw_over_the_slider_box_in_the_book_style():
    """Corner to corner moves (every limit moves, labels change width), drawn the way the
    chapter draws them; each picture against matplotlib's own full draw of the figure."""
    from mmlib.widgets import Dashboard

    corners = [dict(T=1.0), dict(x_max=5), dict(A=5.0, k=0.5), dict(gamma=0.5, eta=0.1),
               dict(mu0=-3.0), dict(T=3.5, x_max=12), dict(eps=5.0), dict(A=0.2)]
    with plt.style.context(plotting.BOOK_STYLE):
        d = Dashboard(n_steps=30, x_max=8, T=2.5)
        d.png()
        kinds = []
        for change in corners:
            d.update(**change)
            a, b = _png_and_savefig(d)
            kinds.append(d.artists.render_cache["last"])
            assert np.abs(a - b).max() == 0, change
    # two of the moves lay the figure out again: a wider label would run into the next panel
    # (test_dashboard_lays_out_again_when_a_tick_label_would_leave_the_picture)
    assert kinds.count("panels") >= 5 and "cached" in kinds


def test_dashboard_labels_sit_clear_of_their_tick_labels_at_every_inventory_width():
    """The pinned y label of a surface stays left of the widest inventory tick label."""
    from mmlib.widgets import Dashboard

    d = Dashboard(n_steps=20, x_max=5, T=1.0)
    d.png()
    for x_max in (30, 5, 17):
        d.update(x_max=x_max)
        d.png()
        renderer = d.fig.canvas.get_renderer()
        for name in ("value", "control", "population"):
            ax = d.artists.axes[name]
            label = ax.yaxis.label.get_window_extent(renderer)
            ticks = [t.get_window_extent(renderer) for t in ax.get_yticklabels() if t.get_text()]
            assert ticks and label.x1 <= min(t.x0 for t in ticks), (name, x_max)
            assert {t.get_text() for t in ax.get_yticklabels()} >= {"0", f"{x_max}"}


def test_dashboard_tick_labels_stay_inside_the_picture_at_every_horizon():
    """The live picture's layout is frozen at its first draw (T = 1: end label "1.0"); the
    widest time label the T slider can bring, "19.50" at T = 19.5, must still fit at the
    right edge, as must every other tick label."""
    from mmlib.widgets import Dashboard

    d = Dashboard(n_steps=20, T=1.0)
    d.png()
    for T in (19.5, 14.5, 20.0, 7.5):
        d.update(T=T)
        d.png()
        renderer = d.fig.canvas.get_renderer()
        width, height = d.fig.canvas.get_width_height()
        for ax in d.fig.axes:
            for label in ax.get_xticklabels() + ax.get_yticklabels():
                if label.get_visible() and label.get_text():
                    box = label.get_window_extent(renderer)
                    assert 0 <= box.x0 and box.x1 <= width and 0 <= box.y0 and box.y1 <= height, (
                        T, ax.get_title(), label.get_text())
        ends = {t.get_text() for t in d.artists.axes["marginal"].get_xticklabels()}
        assert any(e.startswith(f"{T:g}") for e in ends), (T, ends)


def _labels_outside(fig):
    """Tick labels that leave the picture or run into another axes (its frame, its tick labels,
    its title or axis labels)."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.canvas.get_width_height()
    others = {ax: [o.get_tightbbox(renderer) for o in fig.axes if o is not ax] for ax in fig.axes}
    bad = []
    for ax in fig.axes:
        for label in ax.get_xticklabels() + ax.get_yticklabels():
            if not (label.get_visible() and label.get_text()):
                continue
            b = label.get_window_extent(renderer)
            if not (0 <= b.x0 and b.x1 <= width and 0 <= b.y0 and b.y1 <= height) or any(
                    b.overlaps(o) for o in others[ax]):
                bad.append((ax.get_title() or ax.get_label(), label.get_text()))
    return bad


def _wide_moves(d, reserve=None):
    """Moves that widen the labels, each picture checked (labels inside, nothing crowded, the
    same as a full draw); ``reserve``: the room the first layout leaves instead of the
    default. Returns the render kinds and the quotes panel's labels seen."""
    if reserve is not None:
        for axis in d.artists.widest_labels:
            d.artists.widest_labels[axis] = reserve
    d.png()
    corner = dict(A=0.2, k=3.0, eta=0.1, gamma=0.5, T=20.0, x_max=30)
    kinds, seen = [], set()
    for move in ({"mu0": 10.0}, corner, {"mu0": 0.0}, {"A": 1.0}):
        d.update(**move)
        png = d.png()
        kinds.append(d.artists.render_cache["last"])
        assert not _labels_outside(d.fig), (move, _labels_outside(d.fig))
        seen |= {t.get_text() for t in d.artists.axes["spreads"].get_yticklabels()}
        d.artists.render_cache.clear()  # the same figure drawn whole, in the layout it has now
        assert np.array_equal(_pixels(png), _pixels(d.png())), move
    assert {"\N{MINUS SIGN}10.0", "\N{MINUS SIGN}120"} <= seen, seen  # the wide labels came
    return kinds


def test_dashboard_layout_leaves_room_for_the_widest_labels_of_the_slider_box():
    """At the defaults the quotes panel's labels are narrow ("0.76"); after mu0 = 10 they read
    "-10.0" and at the busiest corner "-120", and a colour bar's "-75.0". Laid out for labels
    as narrow as the first draw's, the minus sign was cut off at the left edge (seen in
    JupyterLab) and "-75.0" ran into the next panel's "x". The first layout leaves room for
    six-character labels, so these moves redraw only the panels that moved."""
    from mmlib.widgets import Dashboard

    kinds = _wide_moves(Dashboard(n_steps=200))
    assert "full" not in kinds and kinds.count("panels") >= 3, kinds


def test_dashboard_lays_out_again_when_a_tick_label_would_not_fit():
    """With no room reserved, a move whose labels would leave the picture or crowd a panel
    lays the figure out again, and the layout then keeps room for the widest label seen."""
    from mmlib.widgets import Dashboard

    d = Dashboard(n_steps=200)
    kinds = _wide_moves(d, reserve="0")
    assert kinds[0] == "full" and kinds.count("full") <= 2, kinds
    recorded = d.artists.widest_labels[d.artists.axes["spreads"].yaxis]
    assert recorded[0] == "\N{MINUS SIGN}" and len(recorded) >= 4, recorded  # e.g. "-10.0"
