"""Benchmark of the dashboard's slider response. Prints figures; asserts nothing.

Run: .venv/bin/python benchmarks/bench_dashboard.py

At the default size (x_max=20, n_steps=500, the book's Gaussian crowd) each slider is
moved, one step at a time, through values not seen before. For each move it times the update (the
mean-field re-solve plus the in-place update of the artists) and the redraw of the figure
on the Agg canvas (what a notebook does to show it). Target: update + redraw < 300 ms.
"""
import time

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mmlib.widgets import DASHBOARD_DEFAULTS, Dashboard  # noqa: E402

# Each move goes to a value not seen before (a real slider drag), so no cache helps.
STEPS = {"A": 0.1, "k": 0.1, "eta": 0.002, "gamma": 0.01, "T": 0.5, "x_max": 1, "eps": 0.5}


def main(repeat=5):
    fig = plt.figure(figsize=(11, 8))
    t0 = time.perf_counter()
    dash = Dashboard(fig)
    fig.canvas.draw()
    print(f"first solve and draw: {1e3 * (time.perf_counter() - t0):.0f} ms")
    print(f"{'slider':>7} {'kind':>7} {'update ms':>10} {'redraw ms':>10} {'total ms':>9}")
    worst = 0.0
    for key, step in STEPS.items():
        ups, draws, kind = [], [], ""
        for i in range(repeat):
            value = DASHBOARD_DEFAULTS[key] + (i + 1) * step
            t0 = time.perf_counter()
            kind = dash.update(**{key: value})
            t1 = time.perf_counter()
            fig.canvas.draw()
            t2 = time.perf_counter()
            ups.append(t1 - t0)
            draws.append(t2 - t1)
        dash.update(**{key: DASHBOARD_DEFAULTS[key]})
        u, d = 1e3 * np.median(ups), 1e3 * np.median(draws)
        worst = max(worst, u + d)
        print(f"{key:>7} {kind:>7} {u:10.0f} {d:10.0f} {u + d:9.0f}")
    print(f"worst median update + redraw: {worst:.0f} ms  [target < 300 ms]")
    plt.close(fig)


if __name__ == "__main__":
    main()
