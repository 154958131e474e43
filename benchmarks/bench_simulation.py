"""Benchmark of mmlib.simulation.simulate; prints figures, asserts nothing about time.

Run: ``PYTHONPATH=. python benchmarks/bench_simulation.py [--quick]``

Measures, in one run on one core:
1. path-steps per second of the engine at 100,000 paths x 200 steps (the paper's protocol,
   Avellaneda--Stoikov inventory policy), against the cost of drawing the same random
   numbers alone;
2. the speed-up over the per-path, per-step pure-Python loop of ``baseline_pure_python.py``;
3. peak memory (tracemalloc) of the 100,000-path run, without path histories;
4. wall time of the whole replication: 3 risk aversions x 2 strategies x 100,000 paths.
"""
from __future__ import annotations

import argparse
import sys
import time
import timeit
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from baseline_pure_python import simulate_pure_python  # noqa: E402

from mmlib.avellaneda_stoikov import ASParams  # noqa: E402
from mmlib.simulation import (  # noqa: E402
    _CHUNK,
    ASInventoryPolicy,
    ASSymmetricPolicy,
    MarketParams,
    simulate,
)

PAR = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
MKT = MarketParams(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005,
                   price_model="binomial", fill_model="linear")


def best_of(fn, repeat):
    """Fastest of ``repeat`` single runs, in seconds (the standard library's timeit)."""
    return min(timeit.repeat(fn, number=1, repeat=repeat))


def rng_only(n_paths, n_steps, seed=0):
    """Draw exactly the random numbers the engine draws for this protocol.

    Per block of ``_CHUNK`` paths and per step: one 64-bit word a path (two 32-bit
    uniforms for the fills) and one bit a path (the binomial mid step).
    """
    rng = np.random.default_rng(seed)
    for a in range(0, n_paths, _CHUNK):
        c = min(_CHUNK, n_paths - a)
        for _ in range(n_steps):
            rng.integers(0, 2**64, size=c + -(-c // 64), dtype=np.uint64)


def main(quick=False):
    n_paths, n_steps = 100_000, MKT.n_steps
    repeat = 1 if quick else 3
    ps = n_paths * n_steps
    print(f"numpy {np.__version__}; {n_paths:,} paths x {n_steps} steps = {ps:,} path-steps, "
          f"in blocks of {_CHUNK:,} paths")

    t_eng = best_of(lambda: simulate(ASInventoryPolicy(PAR), MKT, n_paths, rng=1), repeat)
    t_rng = best_of(lambda: rng_only(n_paths, n_steps), repeat)
    print(f"engine:            {t_eng:6.3f} s  {ps / t_eng / 1e6:6.1f} M path-steps/s")
    print(f"random draws only: {t_rng:6.3f} s  {ps / t_rng / 1e6:6.1f} M path-steps/s  "
          f"(engine reaches {100 * t_rng / t_eng:.0f}% of this cap)")

    n_py = 500 if quick else 2_000
    t_py = best_of(lambda: simulate_pure_python(n_py, seed=1), 1)
    rate_py = n_py * n_steps / t_py
    print(f"pure Python loop:  {t_py:6.3f} s for {n_py:,} paths  {rate_py / 1e6:6.2f} M path-steps/s")
    print(f"speed-up of the engine over pure Python: {ps / t_eng / rate_py:.0f}x")

    tracemalloc.start()
    simulate(ASInventoryPolicy(PAR), MKT, n_paths, rng=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"peak memory (tracemalloc), {n_paths:,} paths, no histories: {peak / 2**20:.1f} MiB "
          f"({peak / n_paths:.0f} bytes per path)")

    if not quick:
        t0 = time.perf_counter()
        for psi in (0.01, 0.1, 0.5):
            p = PAR.replace(risk_aversion=psi)
            for Pol in (ASInventoryPolicy, ASSymmetricPolicy):
                simulate(Pol(p), MKT, n_paths, rng=2)
        print(f"paper's protocol, 3 risk aversions x 2 strategies x {n_paths:,} paths: "
              f"{time.perf_counter() - t0:.1f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repetition, smaller baseline")
    main(ap.parse_args().quick)
