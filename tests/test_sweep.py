"""Tests of mmlib.sweep: identical frames on three executors, clear errors naming the point."""
from concurrent.futures import ProcessPoolExecutor

import numpy as np
import pandas as pd
import pytest

from mmlib import ConstantPolicy, MarketParams, SweepError, simulate, sweep

GRID = {"sigma": [0.5, 2.0], "A": [0.5, 1.0, 4.0]}


def small_mm(point, rng):
    """A real workload: a few hundred paths of the engine at one (sigma, A)."""
    m = MarketParams(s0=100.0, sigma=point["sigma"], A=point["A"], k=1.5, T=1.0, dt=0.01)
    res = simulate(ConstantPolicy(0.5, 0.5), m, n_paths=300, rng=rng)
    return {"mean_pnl": float(res.total_pnl.mean()), "fills": float(res.n_fills.mean())}


def test_serial_frame_layout_and_streams():
    df = sweep(small_mm, GRID, seed=7, progress=False)
    assert list(df.columns) == ["sigma", "A", "mean_pnl", "fills"]
    assert len(df) == 6
    # row-major order, the last grid name fastest
    assert df["sigma"].tolist() == [0.5, 0.5, 0.5, 2.0, 2.0, 2.0]
    assert df["A"].tolist() == [0.5, 1.0, 4.0] * 2
    # point i uses exactly the stream SeedSequence(7).spawn(6)[i]
    child = np.random.SeedSequence(7).spawn(6)[4]
    expect = small_mm({"sigma": 2.0, "A": 1.0}, np.random.default_rng(child))
    assert df.loc[4, "mean_pnl"] == expect["mean_pnl"]
    # an independent check of the workload: fills per path = 2 N (1 - exp(-A e^{-k d} dt))
    p = 1.0 - np.exp(-df["A"] * np.exp(-1.5 * 0.5) * 0.01)
    se = np.sqrt(2 * 100 * p * (1 - p) / 300)
    assert np.all(np.abs(df["fills"] - 2 * 100 * p) < 4 * se + 1e-12)


def test_same_frame_serial_processpool_and_dask():
    distributed = pytest.importorskip("distributed")
    serial = sweep(small_mm, GRID, seed=11, progress=False)
    with ProcessPoolExecutor(max_workers=2) as ex:
        pool = sweep(small_mm, GRID, seed=11, executor=ex, progress=False)
    with distributed.LocalCluster(n_workers=1, threads_per_worker=2, processes=False,
                                  protocol="tcp", host="127.0.0.1",
                                  dashboard_address=None) as cluster:
        assert cluster.scheduler_address.startswith("tcp://127.0.0.1:")
        with distributed.Client(cluster) as client:
            dask_df = sweep(small_mm, GRID, seed=11, executor=client.get_executor(),
                            progress=False)
    pd.testing.assert_frame_equal(serial, pool, check_exact=True)
    pd.testing.assert_frame_equal(serial, dask_df, check_exact=True)
    # and a different seed gives a different frame (the streams are really used)
    other = sweep(small_mm, GRID, seed=12, progress=False)
    assert not other["mean_pnl"].equals(serial["mean_pnl"])


def test_notebook_style_closure_runs_in_processes():
    scale = 3.0
    with ProcessPoolExecutor(max_workers=2) as ex:
        df = sweep(lambda p, rng: {"y": scale * p["a"]}, {"a": [1, 2]}, seed=0,
                   executor=ex, progress=False)
    assert df["y"].tolist() == [3.0, 6.0]


@pytest.mark.parametrize("grid, match", [
    ({}, "at least one parameter"),
    ([("a", [1])], "must be a dict"),
    ({"a": 3}, r"grid\['a'\] must be an iterable"),
    ({"a": "abc"}, r"grid\['a'\] must be an iterable"),
    ({"a": []}, r"grid\['a'\] must hold at least one value"),
    ({1: [1]}, "grid keys must be non-empty str"),
])
def test_bad_grid(grid, match):
    with pytest.raises(ValueError, match=match):
        sweep(lambda p, rng: {"y": p["a"]}, grid, seed=0, progress=False)


def test_unknown_grid_key_is_named():
    with pytest.raises(ValueError, match=r"\['sigam'\] are never read"):
        sweep(lambda p, rng: {"y": p["a"]}, {"a": [1, 2], "sigam": [0.1]}, seed=0,
              progress=False)


def test_missing_key_names_point():
    with pytest.raises(SweepError, match=r"point 0 \(a=1\).*'b' is not a grid parameter"):
        sweep(lambda p, rng: {"y": p["b"]}, {"a": [1]}, seed=0, progress=False)


def _fails_at_two(point, rng):
    if point["a"] == 2:
        raise ZeroDivisionError("boom")
    return {"y": 1.0}


@pytest.mark.parametrize("pool", [False, True])
def test_func_raising_names_the_point(pool):
    grid = {"a": [1, 2, 3], "b": ["x"]}
    if pool:
        with ProcessPoolExecutor(max_workers=2) as ex, pytest.raises(
                SweepError, match=r"point 1 \(a=2, b='x'\): ZeroDivisionError: boom"):
            sweep(_fails_at_two, grid, seed=0, executor=ex, progress=False)
    else:
        with pytest.raises(SweepError, match=r"point 1 \(a=2, b='x'\): ZeroDivisionError"):
            sweep(_fails_at_two, grid, seed=0, progress=False)


@pytest.mark.parametrize("ret, match", [
    (3.0, "must return a dict"),
    ({"y": "no"}, "output 'y' must be a real number"),
    ({1: 2.0}, "output names must be str"),
])
def test_bad_output_names_the_point(ret, match):
    with pytest.raises(SweepError, match=match + r".*point 0 \(a=1\)"):
        sweep(lambda p, rng: (p["a"], ret)[1], {"a": [1]}, seed=0, progress=False)


def test_inconsistent_outputs_and_clashes():
    with pytest.raises(SweepError, match=r"outputs \['z'\] at point 1"):
        sweep(lambda p, rng: {"y": 1.0} if p["a"] == 1 else {"z": 1.0}, {"a": [1, 2]},
              seed=0, progress=False)
    with pytest.raises(ValueError, match=r"output names \['a'\] are also grid names"):
        sweep(lambda p, rng: {"a": p["a"]}, {"a": [1]}, seed=0, progress=False)


def test_bad_arguments():
    f = lambda p, rng: {"y": p["a"]}  # noqa: E731
    with pytest.raises(ValueError, match="seed must be a non-negative int"):
        sweep(f, {"a": [1]}, seed=-1, progress=False)
    with pytest.raises(ValueError, match="seed must be"):
        sweep(f, {"a": [1]}, seed=1.5, progress=False)
    with pytest.raises(ValueError, match="func must be callable"):
        sweep(3, {"a": [1]}, seed=0)
    with pytest.raises(ValueError, match="executor must be"):
        sweep(f, {"a": [1]}, seed=0, executor=object(), progress=False)
    with pytest.raises(ValueError, match="progress must be"):
        sweep(f, {"a": [1]}, seed=0, progress="yes")


def test_progress_flag(monkeypatch, capsys):
    f = lambda p, rng: {"y": p["a"]}  # noqa: E731
    monkeypatch.setenv("MMLIB_PROGRESS", "0")
    sweep(f, {"a": [1, 2]}, seed=0)
    assert "sweep" not in capsys.readouterr().err
    sweep(f, {"a": [1, 2]}, seed=0, progress=True)
    assert "2/2" in capsys.readouterr().err
