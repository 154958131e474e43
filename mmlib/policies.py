r"""Market-making policies for the Monte Carlo engine :func:`mmlib.simulation.simulate`.

A policy is a vectorised function ``(t, s, x) -> (bid, ask)`` of the time, the
mids and the inventories of all paths (the built-in ones return a
:class:`~mmlib.model.Quotes`); NaN means the side is not quoted. The
built-in ones also expose ``_depths(t, x, out)``, which writes the depths
:math:`(s - p^b,\ p^a - s)` into a buffer so the engine can skip the prices.

- :class:`ConstantPolicy`: fixed depths;
- :class:`ASInventoryPolicy`, :class:`ASSymmetricPolicy`: Avellaneda and
  Stoikov's inventory strategy and its inventory-blind benchmark;
- :class:`GLFTPolicy`, :class:`HJBPolicy`: table look-ups of the exact GLFT
  solution and of the article's HJB solution.

The book's chapter *Avellaneda--Stoikov* uses them.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ._validation import check_real
from .avellaneda_stoikov import ASParams, GLFTSolution
from .hjb import HJBSolution
from .model import Quotes

__all__ = ["ConstantPolicy", "ASInventoryPolicy", "ASSymmetricPolicy", "GLFTPolicy", "HJBPolicy",
           "BUILTIN"]


@dataclass(frozen=True)
class ConstantPolicy:
    r"""Quote at fixed depths around the mid: :math:`p^b = s-\delta^b`, :math:`p^a = s+\delta^a`.

    Examples
    --------
    >>> import numpy as np
    >>> ConstantPolicy(0.5, 1.0)(0.0, np.array([100.0]), np.array([0.0]))
    Quotes(bid=array([99.5]), ask=array([101.]))
    """

    delta_b: float  # bid depth below the mid
    delta_a: float  # ask depth above the mid

    def __post_init__(self):
        object.__setattr__(self, "delta_b", check_real("delta_b", self.delta_b))
        object.__setattr__(self, "delta_a", check_real("delta_a", self.delta_a))

    def __call__(self, t, s, x):
        return Quotes(bid=s - self.delta_b, ask=s + self.delta_a)

    def _depths(self, t, x, out):
        """Write the depths (s - bid, ask - s) into ``out``; return True if all finite."""
        out[0].fill(self.delta_b)
        out[1].fill(self.delta_a)
        return bool(np.isfinite(self.delta_b) and np.isfinite(self.delta_a))


@dataclass(frozen=True)
class ASInventoryPolicy:
    r"""Avellaneda--Stoikov's inventory strategy: quotes :math:`r \pm (\delta^a+\delta^b)/2`.

    .. math:: r = s - x\psi\sigma^2(T-t),\qquad
              \delta^a+\delta^b = \psi\sigma^2(T-t) + \tfrac2\psi\ln(1+\tfrac\psi k)

    Examples
    --------
    >>> import numpy as np
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> bid, ask = ASInventoryPolicy(p)(1.0, np.array([100.0]), np.array([2.0]))
    >>> np.round(ask - bid, 4)
    array([1.2908])
    """

    params: ASParams  # the model whose closed form is used

    def __call__(self, t, s, x):
        p = self.params
        tau = p.T - t
        half = 0.5 * p.risk_aversion * p.sigma**2 * tau + p.half_spread_const
        r = s - (p.risk_aversion * p.sigma**2 * tau) * x
        return Quotes(bid=r - half, ask=r + half)

    def _depths(self, t, x, out):
        """Write the depths ``half +- skew x`` into ``out``; return True if all finite."""
        p = self.params
        skew = p.risk_aversion * p.sigma**2 * (p.T - t)
        half = 0.5 * skew + p.half_spread_const
        np.multiply(x, skew, out=out[0])
        out[0] += half
        np.subtract(2.0 * half, out[0], out=out[1])
        return True


@dataclass(frozen=True)
class ASSymmetricPolicy:
    r"""The inventory-blind benchmark: the same spread as :class:`ASInventoryPolicy`, centred on the mid.

    Examples
    --------
    >>> import numpy as np
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> bid, ask = ASSymmetricPolicy(p)(0.0, np.array([100.0]), np.array([5.0]))
    >>> float(100.0 - bid[0]) == float(ask[0] - 100.0)
    True
    """

    params: ASParams  # the model whose spread is used

    def __call__(self, t, s, x):
        p = self.params
        half = 0.5 * p.risk_aversion * p.sigma**2 * (p.T - t) + p.half_spread_const
        return Quotes(bid=s - half, ask=s + half)

    def _depths(self, t, x, out):
        """Write the depths ``half`` into ``out``; return True if all finite."""
        p = self.params
        out.fill(0.5 * p.risk_aversion * p.sigma**2 * (p.T - t) + p.half_spread_const)
        return True


class _TablePolicy:
    """Quotes of a solution's (time, inventory) table at the grid time at or before t."""

    _solution_type: type = object  # the solution class a subclass accepts
    _article = "a"

    def __init__(self, solution):
        kind = self._solution_type
        if not isinstance(solution, kind):
            raise ValueError(f"solution must be {self._article} {kind.__name__}, "
                             f"got {type(solution).__name__}")
        self.solution = solution
        self._t = np.asarray(solution.t, dtype=float)
        self._x_min = int(round(solution.x[0]))
        self._db = np.asarray(solution.delta_b, dtype=float)
        self._da = np.asarray(solution.delta_a, dtype=float)
        self._n = self._db.shape[1]
        self._eps = 1e-9 * (self._t[-1] - self._t[0]) / max(self._t.size - 1, 1)

    def _lookup(self, t, x):
        row = int(np.searchsorted(self._t, t + self._eps, side="right")) - 1
        row = min(max(row, 0), self._t.size - 1)
        idx = x.astype(np.intp) - self._x_min
        if idx.size and (idx.min() < 0 or idx.max() >= self._n):
            raise ValueError(
                f"inventory left the policy's grid [{self._x_min}, {self._x_min + self._n - 1}]; "
                "start inside it or bound the market with MarketParams(x_max=...)"
            )
        return row, idx

    def __call__(self, t, s, x):
        row, idx = self._lookup(t, x)
        return Quotes(bid=s - self._db[row][idx], ask=s + self._da[row][idx])

    def _depths(self, t, x, out):
        """Write the looked-up depths into ``out`` (NaN: not quoted); return False."""
        row, idx = self._lookup(t, x)
        np.take(self._db[row], idx, out=out[0])
        np.take(self._da[row], idx, out=out[1])
        return False


class GLFTPolicy(_TablePolicy):
    r"""Quotes of the exact GLFT solution (:func:`mmlib.avellaneda_stoikov.solve_glft`).

    Looks up the quotes at the grid time at or before ``t`` and the current
    inventory; the side that would leave the bound :math:`Q` is not quoted.

    Examples
    --------
    >>> import numpy as np
    >>> from mmlib.avellaneda_stoikov import solve_glft
    >>> p = ASParams(sigma=2.0, A=140.0, k=1.5, risk_aversion=0.1, T=1.0)
    >>> pol = GLFTPolicy(solve_glft(p, x_max=3, n_steps=10))
    >>> bid, ask = pol(0.0, np.array([100.0, 100.0]), np.array([0.0, 3.0]))
    >>> bool(np.isnan(bid[1]))     # at the upper bound the maker does not bid
    True
    """

    _solution_type = GLFTSolution


class HJBPolicy(_TablePolicy):
    r"""Quotes of the article's HJB solution (:func:`mmlib.hjb.solve_hjb`).

    Examples
    --------
    >>> import numpy as np
    >>> from mmlib.model import ModelParams
    >>> from mmlib.hjb import solve_hjb
    >>> sol = solve_hjb(ModelParams(A=140.0, k=1.5, eta=0.2, gamma=0.0, T=1.0, x_max=3), 10)
    >>> bid, ask = HJBPolicy(sol)(0.0, np.array([100.0]), np.array([-3.0]))
    >>> bool(np.isnan(ask[0]))     # at the lower bound the maker does not offer
    True
    """

    _solution_type = HJBSolution
    _article = "an"


#: Policies whose depths the engine (:func:`mmlib.simulation.simulate`) may ask for block
#: by block through ``_depths`` (exact types: a subclass that overrides
#: ``__call__`` goes through ``__call__``).
BUILTIN = (ConstantPolicy, ASInventoryPolicy, ASSymmetricPolicy, GLFTPolicy, HJBPolicy)
