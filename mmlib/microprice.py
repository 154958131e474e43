r"""Stoikov's micro-price on a Markov chain of (imbalance bucket, spread) states.

The chapter *Microstructure* (``book/microstructure.md``) uses this module. A book state
:math:`x = (I, S)` is an imbalance bucket and a spread in ticks; each step the mid either
stays (matrix :math:`Q`) or moves by one of the non-zero sizes :math:`K` (matrices :math:`R`
and :math:`T`). Following Stoikov (2018),

.. math::

    g^1 = (\mathbb 1 - Q)^{-1} R K,\qquad B = (\mathbb 1 - Q)^{-1} T,\qquad
    G = \sum_{i \ge 0} B^i g^1,\qquad P^{\rm micro} = M + G(I, S).

The module builds a symmetric teaching chain whose exact :math:`G` is known
(:func:`exact_micro_adjustment`), simulates it, estimates the matrices from a sample after
symmetrising it as the paper does (:func:`estimate_chain`), sums the series
(:func:`micro_adjustment`) and runs a maker who quotes around a chosen centre
(:func:`simulate_quoting`). Prices are in ticks throughout.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from . import limits
from ._validation import as_generator, check_int, check_real

__all__ = [
    "MicroChain",
    "ChainSample",
    "MicroAdjustment",
    "QuotingResult",
    "imbalance_spread_chain",
    "simulate_chain",
    "estimate_chain",
    "micro_adjustment",
    "exact_micro_adjustment",
    "weighted_mid_adjustment",
    "simulate_quoting",
]


@dataclass(frozen=True)
class MicroChain:
    r"""A Markov chain of book states with mid moves, in ticks.

    ``P[x, m, y]`` is the probability that from state ``x`` the mid moves by ``moves[m]`` ticks
    and the next state is ``y``. State ``x = s * n_imb + i`` has imbalance bucket ``i`` (midpoint
    ``(i + 1/2) / n_imb``) and spread ``spreads[s]`` ticks.

    Parameters
    ----------
    P : ndarray, shape (n_states, n_moves, n_states)
        Non-negative; ``P[x].sum() == 1`` for every ``x``.
    moves : ndarray, shape (n_moves,)
        Mid changes in ticks, increasing, symmetric (``moves == -moves[::-1]``), containing 0.
    n_imb : int
        Number of imbalance buckets, ``>= 2``.
    spreads : ndarray, shape (n_spreads,)
        Spreads in ticks, ``> 0``.
    """

    P: np.ndarray  # joint law of (mid move, next state) given the state
    moves: np.ndarray  # mid changes in ticks, symmetric, contains 0
    n_imb: int  # number of imbalance buckets
    spreads: np.ndarray  # spread of each spread level, in ticks

    def __post_init__(self):
        n_imb = check_int("n_imb", self.n_imb, lo=2)
        spreads = np.asarray(self.spreads, dtype=float).ravel()
        if spreads.size < 1 or np.any(~np.isfinite(spreads)) or np.any(spreads <= 0):
            raise ValueError("spreads must be a non-empty array of finite values > 0")
        moves = np.asarray(self.moves, dtype=float).ravel()
        if (moves.size < 3 or np.any(np.diff(moves) <= 0) or not np.allclose(moves, -moves[::-1])
                or not np.any(moves == 0)):
            raise ValueError("moves must be increasing, symmetric about 0 and contain 0, "
                             f"got {moves}")
        n = n_imb * spreads.size
        P = np.asarray(self.P, dtype=float)
        if P.shape != (n, moves.size, n):
            raise ValueError(f"P must have shape {(n, moves.size, n)}, got {P.shape}")
        if np.any(~np.isfinite(P)) or np.any(P < 0):
            raise ValueError("P must be finite and non-negative")
        rows = P.sum(axis=(1, 2))
        if np.any(np.abs(rows - 1.0) > 1e-9):
            worst = rows[np.argmax(np.abs(rows - 1))]
            raise ValueError(f"every P[x] must sum to 1, worst row sums to {worst:.12g}")
        for name, val in (("P", P), ("moves", moves), ("spreads", spreads), ("n_imb", n_imb)):
            object.__setattr__(self, name, val)

    @property
    def n_states(self) -> int:
        return self.P.shape[0]

    @property
    def zero_move(self) -> int:
        """Index of the zero mid move in ``moves``."""
        return int(np.flatnonzero(self.moves == 0)[0])

    @property
    def imbalance(self) -> np.ndarray:
        """Imbalance bucket midpoint of every state, shape (n_states,)."""
        return np.tile((np.arange(self.n_imb) + 0.5) / self.n_imb, self.spreads.size)

    @property
    def spread(self) -> np.ndarray:
        """Spread in ticks of every state, shape (n_states,)."""
        return np.repeat(self.spreads, self.n_imb)

    @property
    def mirror(self) -> np.ndarray:
        """Permutation sending imbalance bucket ``i`` to ``n_imb - 1 - i`` at the same spread."""
        x = np.arange(self.n_states)
        i = x % self.n_imb
        return x - i + (self.n_imb - 1 - i)

    @property
    def Q(self) -> np.ndarray:
        """Transitions without a mid change, shape (n_states, n_states)."""
        return self.P[:, self.zero_move, :]

    @property
    def K(self) -> np.ndarray:
        """Non-zero mid moves, shape (n_moves - 1,)."""
        return np.delete(self.moves, self.zero_move)

    @property
    def R(self) -> np.ndarray:
        """Probability of each non-zero mid move, shape (n_states, n_moves - 1)."""
        return np.delete(self.P.sum(axis=2), self.zero_move, axis=1)

    @property
    def T(self) -> np.ndarray:
        """Transitions together with a mid change, shape (n_states, n_states)."""
        return self.P.sum(axis=1) - self.Q

    def is_symmetric(self, atol=1e-12) -> bool:
        """True if the law is unchanged by ``I -> 1 - I`` together with ``dM -> -dM``."""
        m = self.mirror
        return bool(np.allclose(self.P, self.P[m][:, ::-1][:, :, m], atol=atol, rtol=0))


@dataclass(frozen=True)
class ChainSample:
    """Simulated paths of a :class:`MicroChain`.

    Attributes
    ----------
    states : ndarray of int, shape (n_paths, n_steps + 1)
    dmid : ndarray, shape (n_paths, n_steps)
        Mid change of each step, in ticks.
    mid : ndarray, shape (n_paths, n_steps + 1)
        Mid price in ticks, starting at 0.
    """

    states: np.ndarray
    dmid: np.ndarray
    mid: np.ndarray


@dataclass(frozen=True)
class MicroAdjustment:
    """The first-passage quantities of the micro-price and the partial sums of its series.

    Attributes
    ----------
    g1 : ndarray, shape (n_states,)
        Expected mid change at the next mid move.
    B : ndarray, shape (n_states, n_states)
        Law of the state just after the next mid move.
    partial_sums : ndarray, shape (n_terms, n_states)
        Row ``j`` is :math:`G^{j+1} = \\sum_{i=0}^{j} B^i g^1`.
    """

    g1: np.ndarray
    B: np.ndarray
    partial_sums: np.ndarray

    @property
    def G(self) -> np.ndarray:
        """The last partial sum."""
        return self.partial_sums[-1]


def imbalance_spread_chain(n_imb=10, spreads=(1, 2), *, depletion=0.06, flow=0.2, widen=0.5,
                           close=0.15, refill=0.35):
    r"""The book's teaching chain: imbalance drifts, thin queues deplete, gaps close.

    With :math:`I_i = (i + \tfrac12)/n` the bucket midpoint, one step does:

    * spread 1 tick: the ask queue depletes with probability :math:`d\,I_i^2` (the bid with
      :math:`d\,(1-I_i)^2`). With probability ``widen`` the spread opens to 2 ticks (mid
      :math:`\pm\tfrac12`), else both sides shift (mid :math:`\pm 1`);
    * spread 2 ticks: the gap closes with probability ``close``, by a new bid (mid
      :math:`+\tfrac12`) with probability :math:`I_i`, else by a new ask; a depletion moves the
      mid :math:`\pm 1` at rate :math:`d\,I_i^2` as above;
    * without a mid move the imbalance steps to each neighbour bucket with probability
      ``flow / 2`` (staying put at the edges);
    * after a mid move the new bucket is drawn afresh from a binomial law on
      :math:`\{0, \dots, n-1\}` with mean ``refill`` times :math:`n-1` after a rise (the new
      best bid is thin, or the new best ask is a thick second level), mirrored after a fall.

    The chain is symmetric under :math:`I \to 1-I`, :math:`\Delta M \to -\Delta M`.

    Parameters
    ----------
    n_imb : int
        Imbalance buckets, ``>= 2``.
    spreads : tuple of two ints
        Must be ``(1, 2)``: one- and two-tick spreads.
    depletion : float
        ``d`` in ``(0, 0.5]``.
    flow : float
        Imbalance move probability without a mid move, in ``[0, 0.5]``.
    widen : float
        Probability that a depletion at one tick opens the spread, in ``[0, 1]``.
    close : float
        Probability per step that a two-tick gap closes, in ``(0, 0.5]``.
    refill : float
        Mean imbalance after an up move, in ``(0, 1)``.

    Returns
    -------
    MicroChain

    Raises
    ------
    ValueError
        If an argument is out of range.

    References
    ----------
    Stoikov (2018), section 3; chapter *Microstructure*.

    Examples
    --------
    >>> ch = imbalance_spread_chain(n_imb=4)
    >>> ch.n_states, ch.is_symmetric()
    (8, True)
    """
    n = check_int("n_imb", n_imb, lo=2)
    if tuple(spreads) != (1, 2):
        raise ValueError(f"spreads must be (1, 2), got {spreads!r}")
    d = check_real("depletion", depletion, lo=0.0, hi=0.5, lo_open=True)
    f = check_real("flow", flow, lo=0.0, hi=0.5)
    w = check_real("widen", widen, lo=0.0, hi=1.0)
    c = check_real("close", close, lo=0.0, hi=0.5, lo_open=True)
    r = check_real("refill", refill, lo=0.0, hi=1.0, lo_open=True, hi_open=True)
    from scipy.stats import binom

    I = (np.arange(n) + 0.5) / n  # noqa: E741 (the imbalance, as in the paper)
    nu_up = binom.pmf(np.arange(n), n - 1, r)  # new imbalance after the mid rises
    nu_dn = nu_up[::-1]  # mirrored after a fall
    moves = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    P = np.zeros((2 * n, 5, 2 * n))
    up, dn = d * I**2, d * (1 - I) ** 2
    for s in (0, 1):
        rows = s * n + np.arange(n)
        if s == 0:
            P[rows, 4, :n] += ((1 - w) * up)[:, None] * nu_up  # full tick up, spread stays 1
            P[rows, 0, :n] += ((1 - w) * dn)[:, None] * nu_dn
            P[rows, 3, n:] += (w * up)[:, None] * nu_up  # ask depletes, spread opens
            P[rows, 1, n:] += (w * dn)[:, None] * nu_dn
            stay = 1 - up - dn
        else:
            P[rows, 3, :n] += (c * I)[:, None] * nu_up  # a new bid closes the gap: thin bid
            P[rows, 1, :n] += (c * (1 - I))[:, None] * nu_dn
            P[rows, 4, n:] += up[:, None] * nu_up  # depletion at two ticks: both sides shift
            P[rows, 0, n:] += dn[:, None] * nu_dn
            stay = 1 - c - up - dn
        # imbalance flow without a mid move (reflecting: an edge bucket keeps its outward mass)
        for i in range(n):
            x = s * n + i
            P[x, 2, s * n + max(i - 1, 0)] += stay[i] * f / 2
            P[x, 2, s * n + min(i + 1, n - 1)] += stay[i] * f / 2
            P[x, 2, x] += stay[i] * (1 - f)
    return MicroChain(P=P, moves=moves, n_imb=n, spreads=np.array([1.0, 2.0]))


def simulate_chain(chain, n_steps, n_paths=1, *, x0=None, rng=None):
    r"""Simulate ``n_paths`` independent paths of the chain, vectorised across paths.

    All uniforms are drawn up front; each step inverts the cumulative law of
    (mid move, next state) of every path's current state.

    Parameters
    ----------
    chain : MicroChain
    n_steps : int
        Steps per path, ``>= 1``.
    n_paths : int
        Number of paths, ``>= 1``.
    x0 : int or None
        Starting state in ``[0, n_states)``; None draws it uniformly.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    ChainSample

    Raises
    ------
    ValueError
        If an argument is out of range; before anything is allocated, for
        ``n_steps`` above ``mmlib.limits.MAX_STEPS`` or memory above
        ``mmlib.limits.MAX_BYTES``, about
        ``8 * n_paths * (6 * n_steps + 2 * n_states * n_moves)`` bytes.

    Examples
    --------
    >>> s = simulate_chain(imbalance_spread_chain(n_imb=4), 50, 3, rng=0)
    >>> s.states.shape, s.dmid.shape
    ((3, 51), (3, 50))
    """
    if not isinstance(chain, MicroChain):
        raise ValueError(f"chain must be a MicroChain, got {type(chain).__name__}")
    n_steps = check_int("n_steps", n_steps, lo=1)
    n_paths = check_int("n_paths", n_paths, lo=1)
    n, m = chain.n_states, chain.moves.size
    limits.check_steps(f"n_steps={n_steps:,}", n_steps, "simulate fewer steps")
    limits.check_memory(f"n_paths={n_paths:,} with n_steps={n_steps:,}",
                        8.0 * n_paths * (6.0 * n_steps + 8.0 + 2.0 * n * m),
                        "simulate fewer paths or steps")
    rng = as_generator(rng)
    if x0 is None:
        x = rng.integers(0, n, size=n_paths)
    else:
        x = np.full(n_paths, check_int("x0", x0, lo=0, hi=n - 1))
    u = rng.random((n_steps, n_paths))
    cum = np.cumsum(chain.P.reshape(n, m * n), axis=1)
    cum[:, -1] = 1.0 + 1e-12  # guard against rounding: every uniform finds a cell
    states = np.empty((n_paths, n_steps + 1), dtype=np.int64)
    moves_idx = np.empty((n_paths, n_steps), dtype=np.int64)
    states[:, 0] = x
    for t in limits.steps(n_steps, "simulate_chain", work=float(n_steps) * n_paths * n * m):
        cell = (u[t][:, None] >= cum[x]).sum(axis=1)
        moves_idx[:, t], x = np.divmod(cell, n)
        states[:, t + 1] = x
    dmid = chain.moves[moves_idx]
    mid = np.concatenate([np.zeros((n_paths, 1)), np.cumsum(dmid, axis=1)], axis=1)
    return ChainSample(states=states, dmid=dmid, mid=mid)


def estimate_chain(states, dmid, like, *, symmetrize=True):
    r"""Estimate the chain's law from observed transitions, as in Stoikov (2018).

    Counts every observed triple (state, mid move, next state) along each row of ``states``;
    with ``symmetrize`` each triple is counted a second time mirrored,
    :math:`(I, S, \Delta M, I', S') \to (1-I, S, -\Delta M, 1-I', S')`. Rows are normalised by
    the number of visits. A state never visited gets the law "stay put, mid unchanged", which
    :func:`micro_adjustment` and :func:`exact_micro_adjustment` refuse with a ``ValueError``
    naming it; ``counts`` shows the visits of every state.

    Parameters
    ----------
    states : array_like of int, shape (n_paths, n_obs + 1) or (n_obs + 1,)
        State indices in ``[0, like.n_states)``.
    dmid : array_like, shape (n_paths, n_obs) or (n_obs,)
        Mid change of each step, in ticks; each value must be one of ``like.moves``.
    like : MicroChain
        Supplies the state grid and the move sizes (its law is not used).
    symmetrize : bool

    Returns
    -------
    chain : MicroChain
        The estimate; an unvisited state gets the law "stay put, mid unchanged".
    counts : ndarray of int, shape (n_states,)
        Visits of each state (after symmetrisation).

    Raises
    ------
    ValueError
        If the shapes disagree, a state is out of range or a move is not in ``like.moves``.

    References
    ----------
    Stoikov (2018), section 4 (symmetrisation); chapter *Microstructure*.

    Examples
    --------
    >>> ch = imbalance_spread_chain(n_imb=4)
    >>> s = simulate_chain(ch, 2000, 4, rng=1)
    >>> est, counts = estimate_chain(s.states, s.dmid, ch)
    >>> est.is_symmetric()
    True
    """
    if not isinstance(like, MicroChain):
        raise ValueError(f"like must be a MicroChain, got {type(like).__name__}")
    states = np.atleast_2d(np.asarray(states))
    dmid = np.atleast_2d(np.asarray(dmid, dtype=float))
    if states.ndim != 2 or dmid.shape != (states.shape[0], states.shape[1] - 1) or dmid.shape[1] < 1:
        raise ValueError("dmid must have shape (n_paths, n_obs) and states (n_paths, n_obs + 1), "
                         f"got {dmid.shape} and {states.shape}")
    if not np.issubdtype(states.dtype, np.integer):
        raise ValueError("states must hold integer state indices")
    n, m = like.n_states, like.moves.size
    if states.min() < 0 or states.max() >= n:
        raise ValueError(f"states must lie in [0, {n - 1}]")
    k = np.searchsorted(like.moves, dmid)
    k = np.clip(k, 0, m - 1)
    if not np.allclose(like.moves[k], dmid, atol=1e-9, rtol=0):
        raise ValueError(f"dmid values must be among moves {like.moves.tolist()}")
    x, y = states[:, :-1].ravel(), states[:, 1:].ravel()
    k = k.ravel()
    counts = np.zeros(n * m * n)
    np.add.at(counts, (x * m + k) * n + y, 1.0)
    if symmetrize:
        mir = like.mirror
        np.add.at(counts, (mir[x] * m + (m - 1 - k)) * n + mir[y], 1.0)
    counts = counts.reshape(n, m, n)
    visits = counts.sum(axis=(1, 2))
    P = np.zeros_like(counts)
    seen = visits > 0
    P[seen] = counts[seen] / visits[seen, None, None]
    unseen = np.flatnonzero(~seen)
    P[unseen, like.zero_move, unseen] = 1.0
    est = MicroChain(P=P, moves=like.moves, n_imb=like.n_imb, spreads=like.spreads)
    return est, visits.astype(np.int64)


def _check_transient(chain):
    """Raise if some state can never see a mid move (then 1 - Q is singular)."""
    stuck = np.flatnonzero(np.isclose(np.diag(chain.Q), 1.0, rtol=0, atol=1e-12))
    if stuck.size or np.linalg.cond(np.eye(chain.n_states) - chain.Q) > 1e12:
        raise ValueError(f"1 - Q is singular: states {stuck.tolist()} never see a mid move "
                         "(unvisited in the sample? use a longer sample or fewer buckets)")


def _first_passage(chain):
    n = chain.n_states
    a = np.eye(n) - chain.Q
    try:
        g1 = np.linalg.solve(a, chain.R @ chain.K)
        B = np.linalg.solve(a, chain.T)
    except np.linalg.LinAlgError as err:  # pragma: no cover - guarded by _check_transient
        raise ValueError("1 - Q is singular: some state never sees a mid move") from err
    return g1, B


def micro_adjustment(chain, n_terms=10):
    r"""First-passage drift :math:`g^1`, the matrix :math:`B` and the partial sums of :math:`G`.

    .. math:: G^{j} = \sum_{i=0}^{j-1} B^i g^1, \qquad j = 1, \dots, \text{n\_terms}.

    Parameters
    ----------
    chain : MicroChain
        Its states must all see a mid move with positive probability (else ``1 - Q`` is
        singular and ``ValueError`` is raised).
    n_terms : int
        Number of partial sums, ``>= 1``.

    Returns
    -------
    MicroAdjustment

    Raises
    ------
    ValueError
        If ``n_terms < 1`` or ``1 - Q`` is singular.

    References
    ----------
    Stoikov (2018), Theorem 3.1; chapter *Microstructure*.

    Examples
    --------
    >>> adj = micro_adjustment(imbalance_spread_chain(n_imb=4), n_terms=6)
    >>> adj.partial_sums.shape
    (6, 8)
    >>> bool(abs(adj.G[0] + adj.G[3]) < 1e-12)  # antisymmetric in the imbalance
    True
    """
    if not isinstance(chain, MicroChain):
        raise ValueError(f"chain must be a MicroChain, got {type(chain).__name__}")
    n_terms = check_int("n_terms", n_terms, lo=1)
    _check_transient(chain)
    g1, B = _first_passage(chain)
    out = np.empty((n_terms, chain.n_states))
    term, total = g1.copy(), np.zeros_like(g1)
    for j in range(n_terms):
        total = total + term
        out[j] = total
        term = B @ term
    return MicroAdjustment(g1=g1, B=B, partial_sums=out)


def exact_micro_adjustment(chain, *, atol=1e-10):
    r"""The limit :math:`G = \sum_i B^i g^1` through the fundamental matrix of :math:`B`.

    If :math:`B` is irreducible and aperiodic with stationary law :math:`\pi` and
    :math:`\pi g^1 = 0` (true on a symmetric chain), then

    .. math:: G = (\mathbb 1 - B + \mathbb 1\pi)^{-1} g^1 .

    Parameters
    ----------
    chain : MicroChain
    atol : float
        Tolerance for :math:`|\pi g^1|`, ``> 0``.

    Returns
    -------
    ndarray, shape (n_states,)

    Raises
    ------
    ValueError
        If :math:`|\pi g^1| > \text{atol}` (the series diverges: symmetrise the chain) or
        ``1 - Q`` is singular.

    Examples
    --------
    >>> ch = imbalance_spread_chain(n_imb=4)
    >>> bool(np.allclose(exact_micro_adjustment(ch), micro_adjustment(ch, 200).G))
    True
    """
    if not isinstance(chain, MicroChain):
        raise ValueError(f"chain must be a MicroChain, got {type(chain).__name__}")
    atol = check_real("atol", atol, lo=0.0, lo_open=True)
    _check_transient(chain)
    g1, B = _first_passage(chain)
    n = chain.n_states
    w, v = np.linalg.eig(B.T)
    pi = np.real(v[:, np.argmin(np.abs(w - 1.0))])
    pi = pi / pi.sum()
    drift = float(pi @ g1)
    if abs(drift) > atol:
        raise ValueError(f"the series for G diverges: pi @ g1 = {drift:.3g} != 0; "
                         "symmetrise the chain (estimate_chain(..., symmetrize=True))")
    return np.linalg.solve(np.eye(n) - B + np.outer(np.ones(n), pi), g1)


def weighted_mid_adjustment(chain):
    r"""The weighted mid minus the mid, :math:`(I - \tfrac12) S`, for every state (ticks).

    The weighted mid is :math:`P^b(1-I) + P^a I` with :math:`P^a - P^b = S`.

    Examples
    --------
    >>> weighted_mid_adjustment(imbalance_spread_chain(n_imb=2))
    array([-0.25,  0.25, -0.5 ,  0.5 ])
    """
    if not isinstance(chain, MicroChain):
        raise ValueError(f"chain must be a MicroChain, got {type(chain).__name__}")
    return (chain.imbalance - 0.5) * chain.spread


@dataclass(frozen=True)
class QuotingResult:
    r"""Per-path results of a maker quoting around one centre (ticks).

    ``pnl = spread_capture - adverse_selection + inventory_pnl`` holds path by path.

    Attributes
    ----------
    pnl : ndarray, shape (n_paths,)
        Cash plus final inventory marked at the final mid.
    spread_capture : ndarray, shape (n_paths,)
        :math:`\sum \epsilon (M_t - p)` over fills (``epsilon = +1`` for a buy).
    adverse_selection : ndarray, shape (n_paths,)
        Cost :math:`-\sum \epsilon (M_{t+H} - M_t)` over fills.
    inventory_pnl : ndarray, shape (n_paths,)
        :math:`\sum \epsilon (M_{T} - M_{t+H})` over fills.
    n_fills : ndarray of int, shape (n_paths,)
    inventory : ndarray of int, shape (n_paths,)
        Final inventory.
    """

    pnl: np.ndarray
    spread_capture: np.ndarray
    adverse_selection: np.ndarray
    inventory_pnl: np.ndarray
    n_fills: np.ndarray
    inventory: np.ndarray


def simulate_quoting(sample, centre, fair, *, half_spread, A, k, horizon, rng=None):
    r"""A maker quotes :math:`M_t + c(x_t) \mp h` on a simulated book; takers know the fair price.

    At each step a taker sells to the maker's bid with probability
    :math:`1 - \exp(-A e^{-k(V_t - p^b_t)})` and buys at her ask with probability
    :math:`1 - \exp(-A e^{-k(p^a_t - V_t)})`, where :math:`V_t = M_t + f(x_t)` is the fair price
    (the true micro-price when ``fair`` is the exact :math:`G`). The maker quotes at steps
    ``t < n_steps - horizon``, so that every fill has its markout
    :math:`M_{t+H} - M_t`; the final inventory is marked at :math:`M_T`.

    The same uniforms drive the fills of every centre given the same ``rng`` seed, so the
    difference between two centres is a paired comparison.

    Parameters
    ----------
    sample : ChainSample
    centre : array_like, shape (n_states,)
        Centre offset :math:`c(x)` from the mid, in ticks (0 = mid).
    fair : array_like, shape (n_states,)
        Fair offset :math:`f(x)` the takers know, in ticks.
    half_spread : float
        :math:`h \ge 0`, ticks.
    A : float
        Fill intensity scale per step at zero distance from fair value, ``> 0``.
    k : float
        Decay per tick, ``> 0``.
    horizon : int
        Markout horizon :math:`H` in steps, in ``[1, n_steps - 1]``.
    rng : None, int or numpy.random.Generator

    Returns
    -------
    QuotingResult

    Raises
    ------
    ValueError
        If an argument is out of range or a shape disagrees; before anything
        is allocated, for memory above ``mmlib.limits.MAX_BYTES``, about
        ``8 * 16 * n_paths * (n_steps - horizon)`` bytes.

    Examples
    --------
    >>> ch = imbalance_spread_chain(n_imb=4)
    >>> s = simulate_chain(ch, 300, 20, rng=2)
    >>> G = exact_micro_adjustment(ch)
    >>> r = simulate_quoting(s, G, G, half_spread=0.5, A=0.3, k=1.0, horizon=50, rng=3)
    >>> bool(np.allclose(r.pnl, r.spread_capture - r.adverse_selection + r.inventory_pnl))
    True
    """
    if not isinstance(sample, ChainSample):
        raise ValueError(f"sample must be a ChainSample, got {type(sample).__name__}")
    n_paths, n_steps = sample.dmid.shape
    n_states = int(sample.states.max()) + 1
    centre = np.asarray(centre, dtype=float)
    fair = np.asarray(fair, dtype=float)
    for name, arr in (("centre", centre), ("fair", fair)):
        if arr.ndim != 1 or arr.size < n_states or not np.all(np.isfinite(arr)):
            raise ValueError(f"{name} must be a finite 1-D array with one entry per state")
    h = check_real("half_spread", half_spread, lo=0.0)
    A = check_real("A", A, lo=0.0, lo_open=True)
    k = check_real("k", k, lo=0.0, lo_open=True)
    H = check_int("horizon", horizon, lo=1, hi=n_steps - 1)
    nq = n_steps - H
    limits.check_memory(f"a sample of n_paths={n_paths:,} with {nq:,} quoting steps",
                        8.0 * 16 * n_paths * nq, "quote on a smaller sample")
    rng = as_generator(rng)
    x = sample.states[:, :nq]
    M = sample.mid
    u_bid, u_ask = rng.random((2, n_paths, nq))
    c, f = centre[x], fair[x]
    p_bid = 1.0 - np.exp(-A * np.exp(-k * (f - c + h)))
    p_ask = 1.0 - np.exp(-A * np.exp(-k * (c - f + h)))
    buy = u_bid < p_bid
    sell = u_ask < p_ask
    eps = buy.astype(float) - sell.astype(float)  # net signed fills per step
    n_fills = buy.sum(axis=1) + sell.sum(axis=1)
    spread_capture = ((h - c) * buy + (h + c) * sell).sum(axis=1)
    markout = M[:, H:H + nq] - M[:, :nq]
    adverse = -(eps * markout).sum(axis=1)
    inventory_pnl = (eps * (M[:, -1:] - M[:, H:H + nq])).sum(axis=1)
    pnl = spread_capture - adverse + inventory_pnl
    return QuotingResult(pnl=pnl, spread_capture=spread_capture, adverse_selection=adverse,
                         inventory_pnl=inventory_pnl, n_fills=n_fills,
                         inventory=eps.sum(axis=1).astype(np.int64))
