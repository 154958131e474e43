"""Benchmark of mmlib.competition.simulate_competition; prints figures, asserts nothing about time.

Run: ``PYTHONPATH=. python benchmarks/bench_competition.py [--quick]``

Measures, in one run:
1. maker-path-steps per second at 10 makers x 10,000 paths x 1,000 steps (Avellaneda--Stoikov
   inventory makers with different risk aversions; target: the run in at most 10 s), for each
   tie rule;
2. the single-maker engine ``simulate`` on the same 10,000 paths x 1,000 steps, and the ratio of
   the two throughputs (how much a maker costs inside a shared book compared with alone);
3. the share of the competition run spent drawing its Generator numbers alone.

The numba kernels are compiled (or loaded from the cache) by a small warm-up run first.
"""
from __future__ import annotations

import argparse
import sys
import timeit
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmlib import (  # noqa: E402
    ASInventoryPolicy,
    ASParams,
    MarketParams,
    simulate,
    simulate_competition,
)


def best_of(fn, repeat):
    """Fastest of ``repeat`` single runs, in seconds (the standard library's timeit)."""
    return min(timeit.repeat(fn, number=1, repeat=repeat))


def rng_only(n_paths, n_steps, seed=0):
    """Draw what the engine draws from the Generator: per step one 64-bit word per path and side
    (expanded into tie keys and exponentials inside the kernel), then one normal per path."""
    rng = np.random.default_rng(seed)
    for _ in range(n_steps):
        rng.integers(0, 2**64, size=(2, n_paths), dtype=np.uint64)
        rng.standard_normal(n_paths)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="100 steps instead of 1,000")
    args = ap.parse_args()
    n_makers, n_paths = 10, 10_000
    n_steps = 100 if args.quick else 1000
    T = 1.0
    market = MarketParams(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=T, dt=T / n_steps)
    psis = np.geomspace(0.01, 0.5, n_makers)
    pols = [ASInventoryPolicy(ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=float(p), T=T))
            for p in psis]
    simulate_competition(pols[:2], market.replace(T=0.01, dt=0.005), 10, rng=0)  # compile
    work = n_makers * n_paths * n_steps
    repeat = 1 if not args.quick else 2
    print(f"{n_makers} makers x {n_paths:,} paths x {n_steps:,} steps = {work:.3g} maker-path-steps")
    for tie in ("random", "time", "pro_rata"):
        secs = best_of(lambda: simulate_competition(pols, market, n_paths, tie_break=tie, rng=1),
                       repeat)
        print(f"  simulate_competition tie_break={tie!r:11s}: {secs:6.2f} s, "
              f"{work / secs / 1e6:6.2f} M maker-path-steps/s"
              + ("   (target: <= 10 s)" if tie == "random" else ""))
        if tie == "random":
            comp = secs
    single = best_of(lambda: simulate(pols[0], market, n_paths, rng=1), max(repeat, 2))
    per_single = n_paths * n_steps / single
    per_comp = work / comp
    print(f"  simulate (one maker, {n_paths:,} paths x {n_steps:,} steps): {single:6.2f} s, "
          f"{per_single / 1e6:6.2f} M path-steps/s")
    print(f"  ratio single-maker / competition throughput per maker-path-step: "
          f"{per_single / per_comp:.2f}")
    draws = best_of(lambda: rng_only(n_paths, n_steps), 2)
    print(f"  drawing the random numbers alone: {draws:6.2f} s "
          f"({100 * draws / comp:.0f}% of the competition run)")


if __name__ == "__main__":
    main()
