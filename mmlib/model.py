r"""The market-making model of the seed article: parameters and inventory grid.

A single market maker quotes an ask at depth :math:`\delta^a` and a bid at depth
:math:`\delta^b` around the mid. Fills arrive as Poisson processes with
intensity :math:`\lambda(\delta) = A e^{-k\delta}`. An ask fill moves the
inventory :math:`x \to x-1`, a bid fill :math:`x \to x+1`; inventory lives on
:math:`\{-x_{\max},\dots,x_{\max}\}` and the maker does not quote the side that
would leave the grid. The objective is the edge earned on fills minus a running
penalty :math:`\eta x^2` and a terminal penalty :math:`\gamma x^2`.

Chapters: *Pipeline* and *HJB* (``book/pipeline.md``, ``book/hjb.md``);
:data:`TEACHING_PARAMS` is the market most chapters use.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ._validation import check_int, check_real

__all__ = ["ModelParams", "TEACHING_PARAMS", "Quotes"]

_X_MAX_LIMIT = 500  # the exact solvers are dense: time ~ x_max**3 (15 s at 200)


class Quotes(NamedTuple):
    r"""A bid-side and an ask-side quantity, always in the order ``(bid, ask)``.

    Every mmlib function that returns one quantity per side (depths, prices,
    fill rates, crowd averages) returns a ``Quotes``: unpack it as
    ``bid, ask = ...`` or read ``.bid`` and ``.ask``. The bid side fills when
    the market sells to the maker (inventory :math:`x \to x+1`), the ask side
    when it buys from the maker (:math:`x \to x-1`).

    Examples
    --------
    >>> q = Quotes(bid=0.4, ask=0.6)
    >>> bid, ask = q
    >>> q.ask - q.bid == ask - bid
    True
    """

    bid: Any  #: the bid-side quantity (depth below the mid, price, rate, ...)
    ask: Any  #: the ask-side quantity


def _check_x_max(x_max):
    x_max = check_int("x_max", x_max, lo=1)
    if x_max > _X_MAX_LIMIT:
        raise ValueError(
            f"x_max must be <= {_X_MAX_LIMIT}, got {x_max}: the exact solvers hold dense "
            f"(2 x_max + 1)^2 propagators, so their time grows like x_max^3 (about 15 s at "
            f"x_max=200, hours at x_max=2000); choose a smaller bound (mmlib.choose_x_max "
            "finds one that holds the crowd's mass)")
    return x_max


@dataclass(frozen=True)
class ModelParams:
    r"""Parameters of the inventory-penalised market-making model.

    .. math::

        V(t,x) = \sup_{\delta}\ \mathbb{E}\Big[\int_t^T \big(\delta^a_s\,dN^a_s
        + \delta^b_s\,dN^b_s - \eta X_s^2\,ds\big) - \gamma X_T^2\Big],
        \qquad \lambda(\delta) = A e^{-k\delta}.

    Parameters
    ----------
    A : float
        Fill intensity at zero depth, fills per unit time; ``A > 0``.
    k : float
        Decay of the intensity with depth, per price unit; ``k > 0``.
    eta : float
        Running inventory penalty :math:`\eta`, per unit inventory squared per
        unit time; ``eta >= 0``.
    gamma : float
        Terminal inventory penalty :math:`\gamma`, per unit inventory squared;
        ``gamma >= 0``. (Not the risk aversion of Avellaneda--Stoikov: see the
        book's notation page.)
    T : float
        Horizon, in the same time unit as ``A``; ``T > 0``.
    x_max : int
        Inventory bound; the grid is ``-x_max..x_max``; integer ``1 <= x_max <= 500``.
        The exact solvers hold dense :math:`n\times n` propagators
        (:math:`n = 2x_{\max}+1`), so their time grows like :math:`x_{\max}^3`:
        about 2 s at ``x_max=100``, 15 s at 200 and a few minutes at 500 on the
        book's 2-core machine; memory and step limits are in :mod:`mmlib.limits`.

    Raises
    ------
    ValueError
        If a field is not finite or outside its allowed range; the message names it.

    References
    ----------
    Sud (2025), "Mean-Field Market Making"; the book's chapter *HJB*.

    Examples
    --------
    >>> p = ModelParams(A=1.0, k=1.5, eta=0.01, gamma=0.05, T=10.0, x_max=10)
    >>> p.n_states
    21
    >>> ModelParams(A=1.0, k=-1.0, eta=0.0, gamma=0.0, T=1.0, x_max=3)
    Traceback (most recent call last):
    ...
    ValueError: k must be > 0, got -1.0
    """

    A: float  # intensity at zero depth, fills per unit time (> 0)
    k: float  # intensity decay per unit depth (> 0)
    eta: float  # running inventory penalty (>= 0)
    gamma: float  # terminal inventory penalty (>= 0)
    T: float  # horizon (> 0)
    x_max: int  # inventory bound, grid -x_max..x_max (integer >= 1)

    def __post_init__(self):
        object.__setattr__(self, "A", check_real("A", self.A, lo=0.0, lo_open=True))
        object.__setattr__(self, "k", check_real("k", self.k, lo=0.0, lo_open=True))
        object.__setattr__(self, "eta", check_real("eta", self.eta, lo=0.0))
        object.__setattr__(self, "gamma", check_real("gamma", self.gamma, lo=0.0))
        object.__setattr__(self, "T", check_real("T", self.T, lo=0.0, lo_open=True))
        object.__setattr__(
            self, "x_max", _check_x_max(self.x_max))

    @property
    def n_states(self) -> int:
        """Number of inventory levels, ``2 * x_max + 1``."""
        return 2 * self.x_max + 1

    @property
    def x(self) -> np.ndarray:
        """The inventory grid ``-x_max..x_max`` as a float array."""
        return np.arange(-self.x_max, self.x_max + 1, dtype=float)

    def replace(self, **changes) -> "ModelParams":
        """Return a copy with some fields changed (validated again)."""
        fields = dict(A=self.A, k=self.k, eta=self.eta, gamma=self.gamma, T=self.T,
                      x_max=self.x_max)
        fields.update(changes)
        return ModelParams(**fields)


#: The book's teaching market, with one unit of flow per unit time at zero depth
#: (``A = 1``), ``k = 1.5``, a small running penalty ``eta = 0.01``, terminal
#: penalty ``gamma = 0.1``, horizon ``T = 10`` and inventories ``-20..20``.
#: Chapters and tests that use "the teaching market" use this constant
#: (``TEACHING_PARAMS.replace(...)`` for variations).
TEACHING_PARAMS = ModelParams(A=1.0, k=1.5, eta=0.01, gamma=0.1, T=10.0, x_max=20)
