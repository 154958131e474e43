"""Benchmark of mmlib.microprice and mmlib.queue_position; prints figures, asserts nothing about time.

Run: ``PYTHONPATH=. python benchmarks/bench_microstructure.py [--quick]``

Measures, side by side in one run:
1. transitions per second of ``simulate_chain`` (vectorised across paths) against a plain
   per-path, per-step Python loop inverting the same uniforms;
2. the cost of ``estimate_chain`` plus ``exact_micro_adjustment`` on the same sample;
3. orders per second of ``simulate_queue`` against a plain per-order event loop;
4. wall time of one quoting run (``simulate_quoting``) at the chapter's book size.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mmlib import (  # noqa: E402
    estimate_chain,
    exact_micro_adjustment,
    imbalance_spread_chain,
    simulate_chain,
    simulate_queue,
    simulate_quoting,
)


def chain_plain(chain, n_steps, n_paths, rng):
    """The plain reference: one path at a time, one step at a time."""
    rng = np.random.default_rng(rng)
    n = chain.n_states
    x0 = rng.integers(0, n, size=n_paths)
    u = rng.random((n_steps, n_paths))
    cum = np.cumsum(chain.P.reshape(n, -1), axis=1)
    states = np.empty((n_paths, n_steps + 1), dtype=np.int64)
    for p in range(n_paths):
        x = states[p, 0] = x0[p]
        for t in range(n_steps):
            cell = int(np.searchsorted(cum[x], u[t, p], side="right"))
            x = states[p, t + 1] = min(cell, cum.shape[1] - 1) % n
    return states


def queue_plain(n, mu, nu, theta, n_paths, rng):
    rng = np.random.default_rng(rng)
    e = rng.standard_exponential((n + 1, n_paths))
    u = rng.random((n + 1, n_paths))
    filled = np.zeros(n_paths, dtype=bool)
    for p in range(n_paths):
        for step, j in enumerate(range(n, -1, -1)):
            d = mu + j * theta
            _ = e[step, p] / (d + nu)
            if u[step, p] >= d / (d + nu):
                break
            filled[p] = j == 0
    return filled


def timed(f, *a, **kw):
    t = time.perf_counter()
    out = f(*a, **kw)
    return out, time.perf_counter() - t


def main(quick: bool) -> None:
    chain = imbalance_spread_chain()
    steps, paths = (500, 200) if quick else (2000, 500)
    s, t_vec = timed(simulate_chain, chain, steps, paths, rng=1)
    plain_paths = 5 if quick else 20
    states_plain, t_plain = timed(chain_plain, chain, steps, plain_paths, 1)
    rate_vec, rate_plain = steps * paths / t_vec, steps * plain_paths / t_plain
    print(f"simulate_chain: {rate_vec:,.0f} transitions/s vectorised, {rate_plain:,.0f} plain; "
          f"speed-up x{rate_vec / rate_plain:.0f}")
    (est, _), t_est = timed(estimate_chain, s.states, s.dmid, chain)
    _, t_G = timed(exact_micro_adjustment, est)
    print(f"estimate_chain on {s.dmid.size:,} transitions: {t_est * 1e3:.1f} ms; "
          f"exact_micro_adjustment: {t_G * 1e3:.2f} ms")
    n, mu, nu, theta = 20, 1.0, 0.3, 0.05
    qp = 20_000 if quick else 200_000
    _, t_q = timed(simulate_queue, n, mu, nu, theta, n_paths=qp, rng=2)
    qp_plain = 2000 if quick else 20_000
    _, t_qp = timed(queue_plain, n, mu, nu, theta, qp_plain, 2)
    print(f"simulate_queue (n = {n}): {qp / t_q:,.0f} orders/s vectorised, "
          f"{qp_plain / t_qp:,.0f} plain; speed-up x{(qp / t_q) / (qp_plain / t_qp):.0f}")
    book, t_book = timed(simulate_chain, chain, 2000, 2000, rng=3)
    G = exact_micro_adjustment(chain)
    _, t_quote = timed(simulate_quoting, book, G, G, half_spread=0.5, A=0.2, k=2.0, horizon=100,
                       rng=4)
    print(f"book-size quoting study: chain {t_book:.2f} s, one centre {t_quote:.2f} s")


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--quick", action="store_true", help="smaller sizes")
    main(ap.parse_args().quick)
