import numpy as np
import pytest

from mmlib import ModelParams

GOOD = dict(A=1.0, k=1.0, eta=0.01, gamma=0.1, T=1.0, x_max=5)


@pytest.mark.parametrize(
    "field,bad",
    [("A", 0.0), ("A", -1.0), ("A", np.inf), ("A", np.nan), ("A", "1"),
     ("k", 0.0), ("k", -2.0), ("k", np.nan),
     ("eta", -1e-9), ("eta", np.inf), ("gamma", -0.1), ("gamma", np.nan),
     ("T", 0.0), ("T", -1.0), ("T", np.inf),
     ("x_max", 0), ("x_max", -3), ("x_max", 2.5), ("x_max", True), ("x_max", 10**6)],
)
def test_each_field_is_validated(field, bad):
    kwargs = dict(GOOD, **{field: bad})
    with pytest.raises(ValueError, match=field):
        ModelParams(**kwargs)


def test_params_are_frozen_and_grid_is_centred():
    p = ModelParams(**GOOD)
    with pytest.raises(Exception):
        p.A = 2.0
    assert p.n_states == 11
    np.testing.assert_array_equal(p.x, np.arange(-5, 6))
    assert p.replace(k=2.0).k == 2.0
    with pytest.raises(ValueError, match="k"):
        p.replace(k=-1.0)


def test_numpy_scalars_are_accepted():
    p = ModelParams(A=np.float64(1.0), k=np.float32(2.0), eta=0, gamma=0, T=1, x_max=np.int64(3))
    assert isinstance(p.x_max, int) and isinstance(p.k, float)
