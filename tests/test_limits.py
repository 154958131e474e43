"""Big input gets a clear answer (issue 14): mmlib.limits at every public entry point.

* the cases of the issue refuse with a ValueError, in a subprocess whose address space is
  capped (``resource.setrlimit(RLIMIT_AS)``), so that an allocation before the check would
  show up as a MemoryError instead of passing;
* a hypothesis test over sizes: with ``MAX_BYTES`` lowered, every call either refuses with a
  ValueError or runs with a tracemalloc peak within the estimate its refusal message states;
* boundary tests: the largest allowed size runs and one more refuses;
* crossed quotes, progress bars and Ctrl-C.
"""
from __future__ import annotations

import json
import re
import subprocess
import sys
import textwrap
import tracemalloc

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

import mmlib
from mmlib import (
    TEACHING_PARAMS,
    ConstantPolicy,
    MarketParams,
    ModelParams,
    default_rho0,
    evolve_population,
    limits,
    min_stable_population_steps,
    simulate,
    simulate_competition,
    simulate_finite_crowd,
    simulate_inventory,
    solve_hjb,
    solve_mean_field,
    sweep,
)
from mmlib.avellaneda_stoikov import ASParams, solve_glft
from mmlib.microprice import imbalance_spread_chain, simulate_chain, simulate_quoting
from mmlib.queue_position import simulate_queue

MARKET = MarketParams(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.01)
AS = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
SMALL = ModelParams(A=1.0, k=1.5, eta=0.01, gamma=0.1, T=2.0, x_max=4)


# ---------------------------------------------------------------------------
# the issue's cases, under a capped address space
# ---------------------------------------------------------------------------
_CASES = textwrap.dedent(r"""
    import json, resource, sys, time
    import numpy as np
    import mmlib
    from mmlib import ConstantPolicy, MarketParams, TEACHING_PARAMS, simulate, solve_hjb

    def vm_bytes():
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024

    # everything imported; allow 1 GiB more than now: any of the allocations below
    # (2 GiB and up) would fail with MemoryError
    cap = vm_bytes() + 2**30
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    m = MarketParams(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005)
    pol = ConstantPolicy(1.0, 1.0)
    cases = {
        "x_max=5000": lambda: TEACHING_PARAMS.replace(x_max=5000),
        "solve_hjb big grid": lambda: solve_hjb(TEACHING_PARAMS.replace(x_max=500), 10**5),
        "simulate n_paths=1e9": lambda: simulate(pol, m, 10**9),
        "simulate record 1e7": lambda: simulate(pol, m, 10**7, record=True),
        "simulate dt=1e-9": lambda: simulate(pol, m.replace(dt=1e-9), 1),
        "callable n_paths=1e9": lambda: simulate(lambda t, s, x: (s - 1, s + 1), m, 10**9),
        # control: the cap does turn a large allocation into a MemoryError
        "control": lambda: np.empty((3, 10001, 10001)),
    }
    out = {}
    for name, f in cases.items():
        t0 = time.process_time()
        try:
            f()
            out[name] = ["ran", "", 0.0]
        except Exception as err:
            out[name] = [type(err).__name__, str(err), time.process_time() - t0]
    print(json.dumps(out))
""")


def test_issue_cases_refuse_before_allocating():
    proc = subprocess.run([sys.executable, "-c", _CASES], capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out.pop("control")[0] == "MemoryError"
    for name, (kind, msg, cpu) in out.items():
        assert kind == "ValueError", (name, kind, msg)
        assert cpu < 1.0, (name, cpu)  # CPU seconds: refused at once, not after a run
    assert "x_max must be <= 500" in out["x_max=5000"][1]
    assert "x_max=500 with n_steps=100,000 needs" in out["solve_hjb big grid"][1]
    assert "n_paths=1,000,000,000 needs" in out["simulate n_paths=1e9"][1]
    msg = out["simulate record 1e7"][1]
    assert "record=True at n_paths=10,000,000" in msg and "use record=False" in msg
    assert "the limit is 4.0 GiB" in msg
    assert "1,000,000,000 time steps" in out["simulate dt=1e-9"][1]


# ---------------------------------------------------------------------------
# hypothesis: refuse, or run within the stated estimate
# ---------------------------------------------------------------------------
_UNITS = {"B": 1, "KiB": 2**10, "MiB": 2**20, "GiB": 2**30, "TiB": 2**40}
_SLACK = 256 * 2**10  # Python objects around the arrays


def _stated_need(call, monkeypatch):
    """The memory a call says it needs: its refusal message at MAX_BYTES = 0 (None: no check)."""
    monkeypatch.setattr(limits, "MAX_BYTES", 0)
    try:
        call()
    except ValueError as err:
        m = re.search(r"needs ([0-9.]+) (B|KiB|MiB|GiB|TiB);", str(err))
        return None if m is None else float(m.group(1)) * _UNITS[m.group(2)]
    return None


def _refuse_or_fit(call, monkeypatch, limit):
    need = _stated_need(call, monkeypatch)
    monkeypatch.setattr(limits, "MAX_BYTES", limit)
    if need is not None and need <= limit:
        try:  # warm up: one-time caches (compiled kernels, cached tables) are not the call's arrays
            call()
        except ValueError:
            pass  # the stated need is rounded ("1.0 MiB"), so a refusal can still come: judged below
    tracemalloc.start()
    try:
        call()
    except ValueError as err:
        assert "limit" in str(err) or need is None or need <= limit, str(err)
        return "refused"
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert need is not None and need <= limit * 1.06  # the stated estimate (rounded to 0.1)
    assert peak <= 1.06 * need + _SLACK, (peak, need)
    return "ran"


_HJB = {}


def _hjb(x_max, n_steps):
    key = (x_max, n_steps)
    if key not in _HJB:
        _HJB[key] = solve_hjb(SMALL.replace(x_max=x_max), n_steps)
    return _HJB[key]


_MF = solve_mean_field(SMALL, default_rho0(SMALL.x_max), 20)
# compile the numba kernels once, so that their compilation is not counted as a call's memory
simulate_competition([ConstantPolicy(1.0, 1.0)] * 2, MARKET, 3, rng=0, record=True)
simulate_finite_crowd(_MF, n_makers=2, n_paths=2, rng=0, record=True)
sweep(lambda pt, rng: {"y": pt["a"]}, {"a": [1, 2]}, seed=0, progress=False)  # imports pandas
_CHAIN = imbalance_spread_chain(n_imb=4)
_SAMPLE = simulate_chain(_CHAIN, 60, 30, rng=0)


def _entry(name, data):
    """A call of entry point ``name`` at sizes drawn by hypothesis."""
    d = data.draw
    if name == "solve_hjb":
        p = SMALL.replace(x_max=d(st.integers(1, 40)))
        n = d(st.integers(1, 600))
        return lambda: solve_hjb(p, n)
    if name == "solve_glft":
        q, n = d(st.integers(1, 40)), d(st.integers(1, 600))
        return lambda: solve_glft(AS, q, n)
    if name == "solve_mean_field":
        p = SMALL.replace(x_max=d(st.integers(1, 8)))
        n = d(st.integers(1, 80))
        return lambda: solve_mean_field(p, default_rho0(p.x_max), n, max_iter=5)
    if name == "evolve_population":
        x_max, n = d(st.integers(1, 15)), d(st.sampled_from([10, 40, 160]))
        method = d(st.sampled_from(["exact", "euler"]))
        if method == "euler":  # a grid the Euler step accepts (its refusal is tested elsewhere)
            n = max(n, min_stable_population_steps(SMALL.replace(x_max=x_max)))
        sol = _hjb(x_max, n)
        return lambda: evolve_population(sol, default_rho0(sol.params.x_max), method=method)
    if name == "simulate_inventory":
        sol = _hjb(d(st.integers(1, 10)), d(st.sampled_from([10, 40, 160])))
        P = d(st.integers(1, 3000))
        return lambda: simulate_inventory(sol, 0, P, rng=1)
    if name == "simulate":
        m = MARKET.replace(dt=1.0 / d(st.integers(1, 200)))
        P, record = d(st.integers(1, 4000)), d(st.booleans())
        pol = d(st.sampled_from([ConstantPolicy(0.8, 0.8), lambda t, s, x: (s - 0.8, s + 0.8)]))
        return lambda: simulate(pol, m, P, rng=1, record=record)
    if name == "simulate_competition":
        m = MARKET.replace(dt=1.0 / d(st.integers(1, 50)))
        n_makers, P, record = d(st.integers(1, 3)), d(st.integers(1, 1500)), d(st.booleans())
        pols = [ConstantPolicy(0.6 + 0.1 * i, 0.7) for i in range(n_makers)]
        return lambda: simulate_competition(pols, m, P, rng=1, record=record)
    if name == "simulate_finite_crowd":
        n_makers, P, record = d(st.integers(1, 20)), d(st.integers(1, 400)), d(st.booleans())
        return lambda: simulate_finite_crowd(_MF, n_makers=n_makers, n_paths=P, rng=1,
                                             record=record)
    if name == "sweep":
        a, b = d(st.integers(1, 30)), d(st.integers(1, 30))
        return lambda: sweep(lambda pt, rng: {"y": pt["a"] + pt["b"]},
                             {"a": list(range(a)), "b": list(range(b))}, seed=0,
                             progress=False)
    if name == "simulate_chain":
        n, P = d(st.integers(1, 300)), d(st.integers(1, 300))
        return lambda: simulate_chain(_CHAIN, n, P, rng=1)
    if name == "simulate_quoting":
        H = d(st.integers(1, 59))
        G = np.zeros(_CHAIN.n_states)
        return lambda: simulate_quoting(_SAMPLE, G, G, half_spread=0.5, A=0.3, k=1.0,
                                        horizon=H, rng=1)
    if name == "simulate_queue":
        n, P = d(st.integers(0, 200)), d(st.integers(1, 3000))
        return lambda: simulate_queue(n, mu=1.0, nu=0.5, n_paths=P, rng=1)
    raise AssertionError(name)


ENTRY_POINTS = ["solve_hjb", "solve_glft", "solve_mean_field", "evolve_population",
                "simulate_inventory", "simulate", "simulate_competition",
                "simulate_finite_crowd", "sweep", "simulate_chain", "simulate_quoting",
                "simulate_queue"]


@pytest.mark.filterwarnings("ignore::mmlib.MeanFieldConvergenceWarning")  # max_iter=5 on purpose
@pytest.mark.parametrize("name", ENTRY_POINTS)
@settings(max_examples=12, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(data=st.data(), limit=st.sampled_from([2**16, 2**18, 2**20, 2**22]))
def test_refuse_or_run_within_estimate(name, data, limit, monkeypatch):
    call = _entry(name, data)
    try:
        event(_refuse_or_fit(call, monkeypatch, limit))
    finally:
        monkeypatch.setattr(limits, "MAX_BYTES", 4 * 2**30)


# ---------------------------------------------------------------------------
# boundaries: the largest allowed size runs, one more refuses
# ---------------------------------------------------------------------------
def test_model_params_x_max_boundary():
    assert TEACHING_PARAMS.replace(x_max=500).x_max == 500
    with pytest.raises(ValueError, match=r"x_max must be <= 500, got 501"):
        TEACHING_PARAMS.replace(x_max=501)
    with pytest.raises(ValueError, match=r"x_max must be an integer <= 500, got 501"):
        solve_glft(AS, 501, 10)


@pytest.mark.filterwarnings("ignore::mmlib.MeanFieldConvergenceWarning")  # max_iter=2 on purpose
def test_steps_boundary_everywhere(monkeypatch):
    monkeypatch.setattr(limits, "MAX_STEPS", 50)
    solve_hjb(SMALL, 50)
    with pytest.raises(ValueError, match=r"n_steps=51 means 51 time steps; the limit is 50"):
        solve_hjb(SMALL, 51)
    solve_glft(AS, 3, 50)
    with pytest.raises(ValueError, match="the limit is 50"):
        solve_glft(AS, 3, 51)
    solve_mean_field(SMALL, default_rho0(4), 50, max_iter=2)
    with pytest.raises(ValueError, match="the limit is 50"):
        solve_mean_field(SMALL, default_rho0(4), 51, max_iter=2)
    simulate(ConstantPolicy(1.0, 1.0), MARKET.replace(dt=1.0 / 50), 10, rng=0)
    with pytest.raises(ValueError, match=r"T=1, dt=0.0196078 means 51 time steps"):
        simulate(ConstantPolicy(1.0, 1.0), MARKET.replace(dt=1.0 / 51), 10, rng=0)
    pols = [ConstantPolicy(1.0, 1.0)] * 2
    simulate_competition(pols, MARKET.replace(dt=1.0 / 50), 10, rng=0)
    with pytest.raises(ValueError, match="the limit is 50"):
        simulate_competition(pols, MARKET.replace(dt=1.0 / 51), 10, rng=0)
    simulate_chain(_CHAIN, 50, 2, rng=0)
    with pytest.raises(ValueError, match="the limit is 50"):
        simulate_chain(_CHAIN, 51, 2, rng=0)
    simulate_queue(49, mu=1.0, nu=1.0, n_paths=10, rng=0)
    with pytest.raises(ValueError, match="the limit is 50"):
        simulate_queue(50, mu=1.0, nu=1.0, n_paths=10, rng=0)
    f = lambda pt, rng: {"y": pt["a"] * pt["b"]}  # noqa: E731
    sweep(f, {"a": range(5), "b": range(10)}, seed=0, progress=False)
    with pytest.raises(ValueError, match="a grid of 55 points means 55 time steps"):
        sweep(f, {"a": range(5), "b": range(11)}, seed=0, progress=False)
    with pytest.raises(ValueError, match=r"grid\['a'\] with 1,000,000,000,000 values"):
        sweep(f, {"a": range(10**12), "b": [1]}, seed=0, progress=False)


def test_memory_boundary_solve_hjb(monkeypatch):
    p, N = SMALL, 40
    monkeypatch.setattr(limits, "MAX_BYTES", limits.dense_solver_bytes(p.n_states, N))
    solve_hjb(p, N)
    with pytest.raises(ValueError, match=r"x_max=4 with n_steps=41 needs .*; the limit is"):
        solve_hjb(p, N + 1)


@pytest.mark.parametrize("record", [False, True])
@pytest.mark.parametrize("policy", [ConstantPolicy(1.0, 1.0), lambda t, s, x: (s - 1, s + 1)])
def test_memory_boundary_simulate(monkeypatch, record, policy):
    from mmlib.simulation import _simulate_bytes

    P = 300
    monkeypatch.setattr(limits, "MAX_BYTES", _simulate_bytes(policy, MARKET, P, record))
    res = simulate(policy, MARKET, P, rng=0, record=record)
    assert res.n_paths == P
    hint = "use record=False" if record else "simulate fewer paths"
    with pytest.raises(ValueError, match=f"n_paths=301.*needs.*{hint}"):
        simulate(policy, MARKET, P + 1, rng=0, record=record)


def test_memory_boundary_simulate_inventory(monkeypatch):
    sol = _hjb(4, 40)
    need = lambda P: 4.0 * 41 * P + 80.0 * P + 48.0 * 41 * 9  # noqa: E731 (the documented estimate)
    monkeypatch.setattr(limits, "MAX_BYTES", need(1000))
    assert simulate_inventory(sol, 0, 1000, rng=0).shape == (41, 1000)
    with pytest.raises(ValueError, match=r"n_paths=1,001 over 41 recorded steps needs"):
        simulate_inventory(sol, 0, 1001, rng=0)


def test_memory_boundary_population(monkeypatch):
    from mmlib.population import _population_bytes

    sol = _hjb(4, 40)
    monkeypatch.setattr(limits, "MAX_BYTES", _population_bytes(9, 40, "exact"))
    evolve_population(sol, default_rho0(4))
    with pytest.raises(ValueError, match=r"method='exact' at x_max=4 with n_steps=41 needs"):
        evolve_population(_hjb(4, 41), default_rho0(4))


def test_limits_are_read_at_call_time(monkeypatch):
    monkeypatch.setattr(limits, "MAX_BYTES", 100 * 2**40)
    with pytest.raises(ValueError, match="the limit is 10,000,000"):  # steps still refused
        simulate(ConstantPolicy(1.0, 1.0), MARKET.replace(dt=1e-8), 1)
    monkeypatch.setattr(limits, "MAX_STEPS", 10)
    with pytest.raises(ValueError, match="the limit is 10 "):
        solve_hjb(SMALL, 11)


# ---------------------------------------------------------------------------
# crossed quotes
# ---------------------------------------------------------------------------
def _crossing_policy(step, path, dt=MARKET.dt):
    def pol(t, s, x):
        bid, ask = s - 0.5, s + 0.5
        if t >= step * dt - 1e-12:
            bid = bid.copy()
            bid[path:] += 1.5  # bid one above the ask from this step on, on paths >= path
        return bid, ask
    return pol


def test_simulate_refuses_crossed_quotes_naming_step_and_path():
    with pytest.raises(ValueError, match=r"crossed quotes at step 7 \(t=0.07\), path 3: bid "):
        simulate(_crossing_policy(7, 3), MARKET, 10, rng=0)
    with pytest.raises(ValueError, match=r"crossed quotes at step 0 \(t=0\), path 0"):
        simulate(ConstantPolicy(-1.0, 0.5), MARKET, 10, rng=0)


def test_simulate_allows_locked_and_one_sided_quotes():
    locked = simulate(lambda t, s, x: (s + 0.2, s + 0.2), MARKET, 50, rng=0)  # bid == ask
    assert np.all(np.isfinite(locked.total_pnl))
    one_sided = simulate(lambda t, s, x: (np.full_like(s, np.nan), s - 0.3), MARKET, 50, rng=0)
    assert np.all(one_sided.n_bid == 0)  # the ask inside the mid is fine: no bid to cross
    simulate(ConstantPolicy(0.5, -0.5), MARKET, 50, rng=0)  # locked at s - 0.5


def test_competition_refuses_crossed_quotes_naming_maker():
    pols = [ConstantPolicy(1.0, 1.0), _crossing_policy(4, 2)]
    with pytest.raises(ValueError, match=r"crossed quotes at step 4 .*path 2: policies\[1\]"):
        simulate_competition(pols, MARKET, 10, rng=0)


# ---------------------------------------------------------------------------
# progress and Ctrl-C
# ---------------------------------------------------------------------------
def test_progress_only_for_long_runs_and_silent_by_default(monkeypatch):
    monkeypatch.delenv("MMLIB_PROGRESS", raising=False)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    assert limits.show_progress(None, work=10) is False
    monkeypatch.setenv("MMLIB_PROGRESS", "1")
    assert limits.show_progress(None, work=10) is False  # a short run stays silent
    assert limits.show_progress(None, work=1e12) is True
    monkeypatch.setenv("MMLIB_PROGRESS", "0")
    assert limits.show_progress(None, work=1e12) is False
    with pytest.raises(ValueError, match="progress must be True, False or None"):
        limits.show_progress("yes")


def test_progress_bar_shown_when_asked(monkeypatch, capsys):
    monkeypatch.setenv("MMLIB_PROGRESS", "1")
    monkeypatch.setattr(limits, "PROGRESS_MIN_WORK", 0)
    res = simulate(ConstantPolicy(1.0, 1.0), MARKET, 20, rng=0)
    assert "simulate" in capsys.readouterr().err
    monkeypatch.setenv("MMLIB_PROGRESS", "0")
    again = simulate(ConstantPolicy(1.0, 1.0), MARKET, 20, rng=0)
    assert capsys.readouterr().err == ""
    np.testing.assert_array_equal(res.cash, again.cash)  # the bar changes nothing


@pytest.mark.parametrize("bar", ["0", "1"])
def test_keyboard_interrupt_stops_cleanly(monkeypatch, bar):
    monkeypatch.setenv("MMLIB_PROGRESS", bar)
    monkeypatch.setattr(limits, "PROGRESS_MIN_WORK", 0)
    calls = []

    def pol(t, s, x):
        calls.append(t)
        if len(calls) == 5:
            raise KeyboardInterrupt
        return s - 1.0, s + 1.0

    with pytest.raises(KeyboardInterrupt):
        simulate(pol, MARKET, 10, rng=0)
    assert len(calls) == 5  # stopped at once, nothing returned
    calls.clear()
    with pytest.raises(KeyboardInterrupt):
        simulate_competition([pol, ConstantPolicy(1.0, 1.0)], MARKET, 10, rng=0)
    assert len(calls) == 5
    # the engine is usable again afterwards
    assert simulate(ConstantPolicy(1.0, 1.0), MARKET, 10, rng=0).n_paths == 10


def test_limits_documented_in_docstrings():
    for f in (solve_hjb, solve_glft, solve_mean_field, evolve_population, simulate_inventory,
              simulate, simulate_competition, simulate_finite_crowd, sweep, simulate_chain,
              simulate_quoting, simulate_queue):
        raises = f.__doc__.split("Raises\n    ------")[1].split("\n\n    ")[0]
        assert "mmlib.limits" in raises, f.__name__
    assert mmlib.limits.MAX_BYTES == 4 * 2**30 and mmlib.limits.MAX_STEPS == 10**7
