"""Benchmark of the dashboard's slider response, end to end. Prints figures; asserts nothing.

Run: .venv/bin/python benchmarks/bench_dashboard.py [--repeat 5] [--budget 600]

What is timed (the chapter `book/dashboard.md` uses the same definition): a move runs from
the moment a slider's value changes on the widget object (what the browser's message does in
the kernel) to the moment the new PNG has been handed to the ``Image`` widget (what the kernel
sends back). It includes the debounce window, the re-solve, the in-place update of the
artists, the drawing and the PNG encoding; it is ``DashboardWidget.last["latency"]``.

1. Default: from ``DASHBOARD_DEFAULTS`` (teaching size, ``n_steps = 500``), each slider
   one step up and back, ``repeat`` times; the median per slider. Target: every slider's
   median <= 150 ms.
2. Worst case over the slider box: a walk over all 2^7 corners of ``SLIDER_RANGES`` for
   ``A, k, eta, gamma, T, x_max, mu0`` in Gray-code order, so that each move changes one
   slider from one end of its range to the other. Target: the slowest move <= 250 ms.
   The walk stops after ``budget`` seconds (also inside a move that takes longer) and says
   how many moves it made.
3. Baseline, in the same run: the picture as the notebook showed it before (an 11 x 8 inch
   figure at 110 dpi with constrained layout, PNG through ``savefig(bbox_inches="tight")``
   as IPython's inline display does), after the same default move; and the ratios.
"""
import argparse
import io
import time

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
from matplotlib.backends.backend_agg import FigureCanvasAgg  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from mmlib.widgets import DASHBOARD_DEFAULTS, DEBOUNCE_SECONDS, SLIDER_RANGES, Dashboard  # noqa: E402

DEFAULT_TARGET_MS = 150
WORST_TARGET_MS = 250
CORNER_KEYS = ("A", "k", "eta", "gamma", "T", "x_max", "mu0")


def move(widget, key, value, timeout=600.0):
    """Set one slider on the widget object and wait for the picture; return ``widget.last``."""
    widget.sliders[key].value = value
    if not widget.wait_idle(timeout):
        raise RuntimeError(f"no picture {timeout:g} s after {key} = {value}")
    return dict(widget.last)


def default_moves(widget, repeat):
    """Median end-to-end latency (s) of one step of each slider from the defaults."""
    out = {}
    for key, (lo, hi, step) in SLIDER_RANGES.items():
        start = DASHBOARD_DEFAULTS[key]
        there = start + step if start + step <= hi else start - step
        lat, solve, render, kind = [], [], [], ""
        for _ in range(repeat):
            for value in (there, start):
                last = move(widget, key, value)
                lat.append(last["latency"])
                solve.append(last["solve"])
                render.append(last["render"])
                kind = last["kind"]
        out[key] = (kind, np.median(lat), np.median(solve), np.median(render))
    return out


def gray_walk(keys):
    """Corners of the box in Gray-code order: (key changed, its new end) for each move."""
    n = len(keys)
    prev = 0
    for i in range(1, 2**n):
        g = i ^ (i >> 1)
        bit = (g ^ prev).bit_length() - 1
        yield keys[bit], bool(g >> bit & 1)
        prev = g


def corner_walk(widget, budget):
    lo_hi = {key: SLIDER_RANGES[key][:2] for key in CORNER_KEYS}
    for key in CORNER_KEYS:  # start at the all-low corner
        move(widget, key, lo_hi[key][0])
    rows, t_end = [], time.perf_counter() + budget
    for key, high in gray_walk(CORNER_KEYS):
        left = t_end - time.perf_counter()
        if left <= 0:
            break
        try:
            last = move(widget, key, lo_hi[key][int(high)], timeout=max(left, 1.0))
        except RuntimeError:
            corner = {**widget.dashboard.values, key: lo_hi[key][int(high)]}
            print(f"  stopped: no picture within the budget after moving {key} to "
                  + ", ".join(f"{k}={corner[k]:g}" for k in CORNER_KEYS))
            break
        rows.append((key, dict(widget.dashboard.values), last))
    return rows


def baseline_render(values):
    """The old display path for the same picture: 11 x 8 in, constrained, savefig tight."""
    fig = Figure(figsize=(11, 8), dpi=110, layout="constrained")
    FigureCanvasAgg(fig)
    dash = Dashboard(fig, n_steps=500, **{k: v for k, v in values.items()})
    times = []
    for _ in range(3):
        t0 = time.perf_counter()
        fig.savefig(io.BytesIO(), format="png", bbox_inches="tight")
        times.append(time.perf_counter() - t0)
    return dash, np.median(times)


def main(repeat=5, budget=600.0):
    t0 = time.perf_counter()
    dash = Dashboard(n_steps=500)
    widget = dash.widget()
    w, h = dash.fig.canvas.get_width_height()
    print(f"first solve, draw and PNG: {1e3 * (time.perf_counter() - t0):.0f} ms; "
          f"picture {w} x {h} px; debounce window {1e3 * DEBOUNCE_SECONDS:.0f} ms")
    print("\n1. one step of each slider from the defaults (median of "
          f"{2 * repeat} moves, end to end)")
    print(f"{'slider':>7} {'kind':>7} {'end-to-end ms':>14} {'solve ms':>9} {'draw+PNG ms':>12}")
    res = default_moves(widget, repeat)
    for key, (kind, lat, solve, render) in res.items():
        print(f"{key:>7} {kind:>7} {1e3 * lat:14.0f} {1e3 * solve:9.0f} {1e3 * render:12.0f}")
    worst_default = max(v[1] for v in res.values())
    print(f"default, slowest slider: {1e3 * worst_default:.0f} ms  [target <= {DEFAULT_TARGET_MS} ms]")

    # baseline: the same default move shown the old way, measured now, on this machine
    key, step = "eta", SLIDER_RANGES["eta"][2]
    _, old_png = baseline_render({**DASHBOARD_DEFAULTS, key: DASHBOARD_DEFAULTS[key] + step})
    new_render = res[key][3]
    print(f"\n3. baseline: the old picture (11 x 8 in, savefig tight) takes {1e3 * old_png:.0f} ms "
          f"to encode; the new draw+PNG of the same move {1e3 * new_render:.0f} ms "
          f"(ratio {new_render / old_png:.2f}); solve of that move {1e3 * res[key][2]:.0f} ms")

    print(f"\n2. worst case: Gray-code walk over the 2^{len(CORNER_KEYS)} corners of the slider box"
          f" (budget {budget:.0f} s)")
    rows = corner_walk(widget, budget)
    if not rows:
        print("no corner move finished within the budget")
        return
    lat = np.array([r[2]["latency"] for r in rows])
    slow = sorted(rows, key=lambda r: -r[2]["latency"])[:5]
    for key, values, last in slow:
        corner = ", ".join(f"{k}={values[k]:g}" for k in CORNER_KEYS)
        print(f"  {1e3 * last['latency']:7.0f} ms (solve {1e3 * last['solve']:.0f}, draw+PNG "
              f"{1e3 * last['render']:.0f}) moving {key} to {corner}")
    n_all = 2 ** len(CORNER_KEYS) - 1
    print(f"moves made: {len(rows)} of {n_all}; median {1e3 * np.median(lat):.0f} ms, "
          f"slowest {1e3 * lat.max():.0f} ms  [target <= {WORST_TARGET_MS} ms]; "
          f"slowest / default-slowest = {lat.max() / worst_default:.1f}")
    if len(rows) < n_all:
        print("  (budget ran out: the slowest move is over the corners visited only)")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--budget", type=float, default=600.0, help="seconds for the corner walk")
    args = ap.parse_args()
    main(args.repeat, args.budget)
