"""Benchmarks of mmlib's numerical core. Prints figures; asserts nothing about time.

Run: .venv/bin/python benchmarks/bench_core.py  (about half a minute)

1. A full mean-field solve at teaching size (x_max=20, n_steps=500, the book's Gaussian rho0).
   Target: median <= 100 ms, so that a slider re-solves live; aim 50 ms.
2. An exact HJB solve for x_max=100, n_steps=10,000 where e^{kV} fits in floating point
   (A=1, k=1, eta=0.001, gamma=0.01, T=1). Target <= 100 ms. Then an extreme-regime solve
   (k*gamma*x_max^2 = 4096), which must be accurate whatever it costs.
3. The explicit scheme's time to reach a 1e-6 error, as a ratio to the exact method's time
   (A=1, k=1, eta=0.01, gamma=0.1, T=1, x_max=5; the step count doubles until the error is met).
"""
import time

import numpy as np

import mmlib


def median_time(fn, repeat=7):
    fn()  # warm-up
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times)), float(np.min(times))


def gaussian(p):
    r = np.exp(-0.5 * (p.x / (p.x_max / 4)) ** 2)
    return r / r.sum()


def main():
    teach = mmlib.ModelParams(A=1.0, k=1.0, eta=0.01, gamma=0.05, T=20.0, x_max=20)
    rho0 = gaussian(teach)
    med, best = median_time(lambda: mmlib.solve_mean_field(teach, rho0, 500))
    mf = mmlib.solve_mean_field(teach, rho0, 500)
    print(f"[1] mean-field solve, x_max=20, n_steps=500: median {1e3 * med:.1f} ms "
          f"(best {1e3 * best:.1f} ms), {len(mf.residuals)} iterations  [target <= 100 ms]")

    big = mmlib.ModelParams(A=1.0, k=1.0, eta=0.001, gamma=0.01, T=1.0, x_max=100)
    med, best = median_time(lambda: mmlib.solve_hjb(big, 10_000))
    print(f"[2] exact HJB, x_max=100, n_steps=10,000: median {1e3 * med:.1f} ms "
          f"(best {1e3 * best:.1f} ms)  [target <= 100 ms]")
    extreme = mmlib.ModelParams(A=1.0, k=1.0, eta=0.05, gamma=2.56, T=1.0, x_max=40)
    med, _ = median_time(lambda: mmlib.solve_hjb(extreme, 1000), repeat=3)
    print(f"    extreme regime (k*gamma*x_max^2 = {extreme.k * extreme.gamma * 1600:.0f}), "
          f"x_max=40, n_steps=1000: median {1e3 * med:.1f} ms (log-space path)")

    small = mmlib.ModelParams(A=1.0, k=1.0, eta=0.01, gamma=0.1, T=1.0, x_max=5)
    ref_t, _ = median_time(lambda: mmlib.solve_hjb(small, 100))
    n = 100
    while True:
        try:
            ex = mmlib.solve_hjb(small, n, method="explicit")
        except ValueError:
            n *= 2
            continue
        err = np.abs(ex.V - mmlib.solve_hjb(small, n).V).max()
        if err <= 1e-6:
            break
        n *= 2
    t_ex, _ = median_time(lambda: mmlib.solve_hjb(small, n, method="explicit"), repeat=3)
    t_exact, _ = median_time(lambda: mmlib.solve_hjb(small, n), repeat=3)
    print(f"[3] explicit scheme reaches max|error| = {err:.2e} <= 1e-6 at n_steps={n}: "
          f"{1e3 * t_ex:.0f} ms, {t_ex / t_exact:.1f}x the exact method on the same grid "
          f"({1e3 * t_exact:.1f} ms) and {t_ex / ref_t:.0f}x the exact method at n_steps=100 "
          f"({1e3 * ref_t:.1f} ms, already exact on its grid)")


if __name__ == "__main__":
    main()
