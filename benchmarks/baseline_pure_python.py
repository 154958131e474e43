"""Pure-Python baseline for the Monte Carlo engine: one path at a time, one step at a time.

The fastest straightforward pure-Python version of the paper's protocol: Python's
``random`` and ``math`` modules, local-variable lookups, no NumPy. It runs the same
model as ``mmlib.simulation.simulate`` with ``ASInventoryPolicy``, binomial mid steps
and linear fill probabilities, and keeps the same three-way PnL attribution, so the
benchmark compares like with like.
"""
from __future__ import annotations

import math
import random


def simulate_pure_python(n_paths, *, s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005,
                         psi=0.1, seed=0):
    """Return per-path (total PnL, spread capture, inventory PnL, final inventory) lists."""
    rnd = random.Random(seed)
    rand = rnd.random
    exp = math.exp
    n_steps = int(round(T / dt))
    sq = sigma * math.sqrt(dt)
    c = math.log1p(psi / k) / psi
    adt = A * dt
    out_total, out_spread, out_inv, out_x = [], [], [], []
    for _ in range(n_paths):
        s, x, cash, spread, inv = s0, 0, 0.0, 0.0, 0.0
        for n in range(n_steps):
            skew = psi * sigma * sigma * (T - n * dt)
            half = 0.5 * skew + c
            r = s - x * skew
            bid, ask = r - half, r + half
            db, da = s - bid, ask - s
            if rand() < adt * exp(-k * db):
                cash -= bid
                spread += db
                x += 1
            if rand() < adt * exp(-k * da):
                cash += ask
                spread += da
                x -= 1
            ds = sq if rand() < 0.5 else -sq
            inv += x * ds
            s += ds
        out_total.append(cash + x * s)
        out_spread.append(spread)
        out_inv.append(inv)
        out_x.append(x)
    return out_total, out_spread, out_inv, out_x
