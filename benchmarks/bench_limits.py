"""Benchmark behind mmlib.limits and ModelParams' x_max bound (issue 14).

Run: ``PYTHONPATH=. python benchmarks/bench_limits.py [--full]``

1. The exact HJB (``solve_hjb``, dense propagators) at growing ``x_max``, in both of its paths
   (floating point when ``k*gamma*x_max**2 <= 200``, log space otherwise): wall time, the
   tracemalloc peak and the estimate ``mmlib.limits.dense_solver_bytes`` checks against
   ``MAX_BYTES``. The time grows like ``x_max**3``: this is why ``ModelParams`` caps ``x_max``
   at 500. ``--full`` adds ``x_max = 200`` (about 15 s a solve on the book's 2-core machine).
2. The issue's big inputs: the time each one takes to be refused (a ValueError before any
   large allocation).

Prints figures only: nothing about time is asserted.
"""
from __future__ import annotations

import argparse
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmlib import (  # noqa: E402
    TEACHING_PARAMS,
    ConstantPolicy,
    MarketParams,
    limits,
    simulate,
    solve_hjb,
)


def hjb_row(x_max, gamma, n_steps=200):
    p = TEACHING_PARAMS.replace(x_max=x_max, gamma=gamma)
    path = "linear" if p.k * p.gamma * x_max**2 <= 200 else "log"
    tracemalloc.start()
    t0 = time.perf_counter()
    solve_hjb(p, n_steps)
    wall = time.perf_counter() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    est = limits.dense_solver_bytes(p.n_states, n_steps)
    print(f"  x_max={x_max:4d} gamma={gamma:<7g} ({path:6s}) n_steps={n_steps}: "
          f"{wall:7.2f} s, peak {limits.format_bytes(peak):>10s}, "
          f"estimate {limits.format_bytes(est):>10s} (peak/estimate {peak / est:.2f})",
          flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--full", action="store_true", help="also x_max = 200 (slow)")
    args = ap.parse_args()
    sizes = [25, 50, 100] + ([200] if args.full else [])
    print("[1] exact HJB, dense propagator (time ~ x_max^3)")
    for x_max in sizes:
        hjb_row(x_max, 100.0 / (TEACHING_PARAMS.k * x_max**2))  # floating-point path
        hjb_row(x_max, 0.1)  # log-space path
    print("[2] the issue's big inputs: time to refuse")
    m = MarketParams(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005)
    pol = ConstantPolicy(1.0, 1.0)
    cases = {
        "ModelParams(x_max=5000)": lambda: TEACHING_PARAMS.replace(x_max=5000),
        "solve_hjb(x_max=500, n_steps=10**5)":
            lambda: solve_hjb(TEACHING_PARAMS.replace(x_max=500), 10**5),
        "simulate(n_paths=10**9)": lambda: simulate(pol, m, 10**9),
        "simulate(n_paths=10**7, record=True)": lambda: simulate(pol, m, 10**7, record=True),
        "simulate(MarketParams(dt=1e-9))": lambda: simulate(pol, m.replace(dt=1e-9), 1),
    }
    for name, f in cases.items():
        t0 = time.perf_counter()
        try:
            f()
            msg = "ran (!)"
        except ValueError as err:
            msg = str(err)
        print(f"  {name}: {1e3 * (time.perf_counter() - t0):.2f} ms\n      {msg}")


if __name__ == "__main__":
    main()
