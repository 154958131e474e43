"""Tests of mmlib.diagnostics: boundary mass against an exact solution, choose_x_max."""
import dataclasses

import numpy as np
import pytest
from numpy.testing import assert_allclose

from mmlib import (ModelParams, boundary_mass, boundary_mass_mc, choose_x_max,
                   evolve_population, simulate_inventory, solve_hjb)


def constant_quote_solution(Q, A=1.0, k=1.5, T=3.0, n_steps=30, delta=0.4):
    """A solution whose quotes are one constant depth: the chain is the symmetric random walk
    at rate lam = A e^{-k delta} each way, held at +-Q (the side beyond is not quoted)."""
    sol = solve_hjb(ModelParams(A=A, k=k, eta=0.0, gamma=0.0, T=T, x_max=Q), n_steps)
    db = np.full_like(sol.delta_b, delta)
    da = np.full_like(sol.delta_a, delta)
    db[:, -1] = np.nan
    da[:, 0] = np.nan
    return dataclasses.replace(sol, delta_b=db, delta_a=da), A * np.exp(-k * delta)


def exact_walk(Q, lam, t, i0):
    r"""Distribution at time t of the walk on 0..n-1 held at its ends, from the cosine
    eigenbasis of its generator: v_j(i) = cos(pi j (i + 1/2) / n), mu_j = -2 lam (1 - cos(pi j / n))."""
    n = 2 * Q + 1
    i = np.arange(n)
    j = np.arange(n)[:, None]
    V = np.cos(np.pi * j * (i + 0.5) / n)
    norm = np.where(j[:, 0] == 0, n, n / 2.0)
    mu = -2 * lam * (1 - np.cos(np.pi * j[:, 0] / n))
    return np.exp(mu * t) / norm @ (V * V[:, i0][:, None])


@pytest.mark.parametrize("Q", [2, 4])
def test_boundary_mass_exact_vs_evolve_population(Q):
    sol, lam = constant_quote_solution(Q)
    rho0 = np.zeros(2 * Q + 1)
    rho0[Q] = 1.0
    rho = evolve_population(sol, rho0)
    exact = np.array([exact_walk(Q, lam, t, Q) for t in sol.t])
    assert_allclose(rho, exact, atol=1e-12)
    m = boundary_mass(rho)
    assert_allclose(m, exact[:, 0] + exact[:, -1], atol=1e-12)
    # the Monte Carlo estimate agrees within 4 standard errors at every time
    X = simulate_inventory(sol, 0, n_paths=20000, rng=3)  # inventories, start at 0
    mc, se = boundary_mass_mc(X, Q)
    sd = np.sqrt(m * (1 - m) / X.shape[1])  # binomial error of the exact mass (se is 0 at 0)
    assert np.all(np.abs(mc - m) <= 4 * sd + 1e-12)
    assert_allclose(se, np.sqrt(mc * (1 - mc) / X.shape[1]))
    assert m[-1] > 0.04  # the case is not trivial: real mass at the edges


def test_choose_x_max_finds_the_smallest_bound():
    calls = []

    def mass(q):
        calls.append(q)
        return np.exp(-q)
    Q, seen = choose_x_max(mass, tol=1e-4, start=2)
    assert Q == 10 and np.exp(-10) <= 1e-4 < np.exp(-9)
    assert set(seen) == set(calls)
    Q2, _ = choose_x_max(mass, tol=0.5, start=8)  # start too large: searches below
    assert Q2 == 1
    with pytest.raises(ValueError, match="even at x_max = 16"):
        choose_x_max(lambda q: 0.5, tol=1e-3, start=2, limit=16)


def test_bad_input():
    with pytest.raises(ValueError, match="rho must have shape"):
        boundary_mass(np.ones(5))
    with pytest.raises(ValueError, match="X must lie in"):
        boundary_mass_mc([[3]], 2)
    with pytest.raises(ValueError, match="tol must be"):
        choose_x_max(lambda q: 0.0, tol=0.0)
