"""Benchmark of mmlib.sweep: one core, two processes and a Dask LocalCluster, side by side.

Run: ``PYTHONPATH=. python benchmarks/bench_sweep.py [--quick]``

Runs the same sweep (the failure-regimes chapter's sigma x A workload: the Avellaneda--Stoikov
inventory policy, 200 steps per session) three ways in one run, checks that the three frames
are identical, and prints wall time, points/s, sessions/s and the speed-ups over serial. On a
machine with two cores the ideal speed-up is 2; it is lower when other jobs share the cores.
Prints figures only: nothing about time is asserted.
"""
from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmlib import ASInventoryPolicy, ASParams, MarketParams, simulate, sweep  # noqa: E402

BASE = MarketParams(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005)


def make_point(n_paths):
    def point(p, rng):
        par = ASParams(sigma=p["sigma"], A=p["A"], k=1.5, risk_aversion=0.1, T=1.0)
        r = simulate(ASInventoryPolicy(par), BASE.replace(sigma=p["sigma"], A=p["A"]),
                     n_paths, rng=rng)
        y = r.total_pnl
        return {"mean": y.mean(), "sd": y.std(ddof=1), "fills": r.n_fills.mean()}
    return point


def main(argv=None):
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="small grid (a smoke run)")
    args = ap.parse_args(argv)
    n_paths = 500 if args.quick else 4000
    grid = {"sigma": [0.5, 1.0, 2.0, 4.0, 8.0], "A": [1.0, 10.0, 30.0, 100.0, 140.0, 300.0]}
    func = make_point(n_paths)
    n_points = int(np.prod([len(v) for v in grid.values()]))
    print(f"sweep of {n_points} points x {n_paths} sessions x {BASE.n_steps} steps")
    frames, walls = {}, {}

    def timed(name, executor):
        t0 = time.perf_counter()
        frames[name] = sweep(func, grid, seed=1, executor=executor, progress=False)
        walls[name] = time.perf_counter() - t0
        print(f"  {name:22s} {walls[name]:7.2f} s  {n_points / walls[name]:7.1f} points/s  "
              f"{n_points * n_paths / walls[name]:10,.0f} sessions/s  "
              f"speed-up {walls['serial'] / walls[name]:4.2f}x")

    timed("serial", None)
    with ProcessPoolExecutor(2) as ex:
        timed("ProcessPoolExecutor(2)", ex)
    try:
        from distributed import Client, LocalCluster
    except ImportError:  # pragma: no cover - distributed is pinned
        print("  distributed not installed: Dask run skipped")
    else:
        with LocalCluster(n_workers=2, threads_per_worker=1, host="127.0.0.1",
                          dashboard_address=None) as cluster, Client(cluster) as client:
            timed("Dask LocalCluster(2)", client.get_executor())
    same = all(f.equals(frames["serial"]) for f in frames.values())
    print(f"  frames identical across executors: {same}")


if __name__ == "__main__":
    main()
