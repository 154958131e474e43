"""Benchmark of mmlib.simulation.simulate; prints figures, asserts nothing about time.

Run: ``PYTHONPATH=. python benchmarks/bench_simulation.py [--quick]``

Measures, in one run:
1. path-steps per second of the engine at 100,000 paths x 200 steps (the paper's protocol,
   Avellaneda--Stoikov inventory policy), on one thread and on two (``workers``), against
   the *random-draw cap*: the rate at which one thread of numpy's Generator produces the
   random numbers the engine needs, with nothing else done (target: engine on two
   threads >= 0.5 x cap); for context, the same draws on two threads;
2. the speed-up over the per-path, per-step pure-Python loop of ``baseline_pure_python.py``;
3. peak memory (tracemalloc) of the 100,000-path run, without path histories;
4. wall time of the whole replication: 3 risk aversions x 2 strategies x 100,000 paths.
"""
from __future__ import annotations

import argparse
import sys
from concurrent.futures import ThreadPoolExecutor
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
    _block_streams,
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


def interleaved_best(runs, repeat):
    """Fastest single run of each callable over ``repeat`` rounds, the callables taking turns
    within each round: a change of the machine's load during the run then slows every
    figure alike, and the ratios between them stay put."""
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeat):
        for name, fn in runs.items():
            best[name] = min(best[name], best_of(fn, 1))
    return best


def rng_only(n_paths, n_steps, seed=0, workers=1, method="random_raw"):
    """Draw exactly the random numbers the engine draws for this protocol, and nothing else.

    Per block of ``_CHUNK`` paths (each with its own stream, as in the engine) and per
    step: one 64-bit word a path (two 32-bit uniforms for the fills) and one bit a path
    (the binomial mid step). ``method``: the bit generator's ``random_raw`` (what the
    engine calls) or ``Generator.integers`` (the same words).
    """
    streams = _block_streams(np.random.default_rng(seed), -(-n_paths // _CHUNK))

    def block(i):
        c = min(_CHUNK, n_paths - i * _CHUNK)
        gen = streams[i]
        draw = (gen.bit_generator.random_raw if method == "random_raw" else
                lambda size: gen.integers(0, 2**64, size=size, dtype=np.uint64))
        for _ in range(n_steps):
            draw(c + -(-c // 64))

    if workers == 1:
        for i in range(len(streams)):
            block(i)
    else:
        with ThreadPoolExecutor(workers) as ex:
            list(ex.map(block, range(len(streams))))


def main(quick=False):
    n_paths, n_steps = 100_000, MKT.n_steps
    repeat = 3 if quick else 7
    ps = n_paths * n_steps
    print(f"numpy {np.__version__}; {n_paths:,} paths x {n_steps} steps = {ps:,} path-steps, "
          f"in blocks of {_CHUNK:,} paths")

    simulate(ASInventoryPolicy(PAR), MKT, 1000, rng=1)  # compile (or load) the step kernel
    runs = {
        "eng1": lambda: simulate(ASInventoryPolicy(PAR), MKT, n_paths, rng=1, workers=1),
        "eng2": lambda: simulate(ASInventoryPolicy(PAR), MKT, n_paths, rng=1, workers=2),
        "raw": lambda: rng_only(n_paths, n_steps, method="random_raw"),
        "integers": lambda: rng_only(n_paths, n_steps, method="integers"),
        "rng2": lambda: rng_only(n_paths, n_steps, workers=2),
    }
    best = interleaved_best(runs, repeat)
    t_eng = {1: best["eng1"], 2: best["eng2"]}
    t_cap = min(best["raw"], best["integers"])  # the faster of two ways: the cap
    t_rng2 = best["rng2"]
    for w in (1, 2):
        print(f"engine, {w} thread{'s' if w > 1 else ' '}:  {t_eng[w]:6.3f} s  "
              f"{ps / t_eng[w] / 1e6:6.1f} M path-steps/s  ({t_cap / t_eng[w]:.2f} x cap)")
    print(f"random-draw cap:    {t_cap:6.3f} s  {ps / t_cap / 1e6:6.1f} M path-steps/s  "
          "(one thread, the engine's draws only)")
    print(f"draws on 2 threads: {t_rng2:6.3f} s  {ps / t_rng2 / 1e6:6.1f} M path-steps/s")
    print(f"ratio engine (2 threads) / cap = {t_cap / t_eng[2]:.2f}  (target >= 0.5)")

    n_py = 500 if quick else 2_000
    t_py = best_of(lambda: simulate_pure_python(n_py, seed=1), 1)
    rate_py = n_py * n_steps / t_py
    print(f"pure Python loop:  {t_py:6.3f} s for {n_py:,} paths  {rate_py / 1e6:6.2f} M path-steps/s")
    print(f"speed-up of the engine (2 threads) over pure Python: {ps / t_eng[2] / rate_py:.0f}x")

    tracemalloc.start()
    simulate(ASInventoryPolicy(PAR), MKT, n_paths, rng=1, workers=1)
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
    ap.add_argument("--quick", action="store_true", help="3 rounds (not 7), smaller baseline")
    main(ap.parse_args().quick)
