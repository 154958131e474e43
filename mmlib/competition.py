r"""Several market makers on one book, and a finite crowd under the mean-field coupling.

The book's chapter *Competition* uses this module. Two models of competition:

**Price-time priority** (:func:`simulate_competition`). In each step of length
:math:`\Delta t` every maker posts one unit on each side. Market orders arrive
on each side as a Poisson process; an order with depth limit :math:`L` takes
the best remaining quote with depth :math:`\delta\le L`, and the limits are
independent with :math:`P(L>\delta)=e^{-k\delta}` for :math:`\delta \ge 0`, so
the orders that can reach depth :math:`\delta` form a Poisson process of rate
:math:`\lambda(\delta)=Ae^{-k\delta}`. A filled quote is gone until the next
step, so later orders walk down the book.

Sort a side's quotes from best to worst, :math:`\delta_{(1)}\le\dots\le\delta_{(N)}`.
The filled quotes always form a prefix of this list: an order takes the best
remaining quote it can reach, and that is the one after the filled prefix. So
with :math:`f` quotes filled, the next order fills quote :math:`f+1` iff its
limit reaches :math:`\delta_{(f+1)}`, and by Poisson thinning the time to the
next fill is exponential with rate :math:`\lambda(\delta_{(f+1)})`, whatever
happened before. Quote :math:`j` is therefore filled in the step iff

.. math::

    \sum_{l=1}^{j} \frac{E_l}{\lambda(\delta_{(l)})} \le \Delta t,
    \qquad E_l \sim \mathrm{Exp}(1)\ \text{i.i.d.}

A lone maker is filled with probability :math:`1-e^{-\lambda(\delta)\Delta t}`,
exactly the fill law of :func:`~mmlib.simulation.simulate`. (The count of orders whose limit
reaches the :math:`j`-th quote is *not* enough: with limits reaching ranks
(1, 1, 3) in that arrival order two quotes fill, in the order (3, 1, 1) only one.)

**Mean-field coupling, finite crowd** (:func:`simulate_finite_crowd`). Each of
:math:`N` makers is filled at rate :math:`Ae^{-k(\delta_i-\bar\delta_N(t))}`,
where :math:`\bar\delta_N(t)` is the average of the :math:`N` makers' quotes:
the empirical version of the coupling of :func:`~mmlib.mean_field.solve_mean_field`.
"""
from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from . import limits
from ._validation import as_generator, check_choice, check_int, check_real
from .hjb import HJBSolution
from .mean_field import MeanFieldSolution
from .simulation import MarketParams, PnLAccounts, SimulationResult

__all__ = [
    "CompetitionPaths",
    "CompetitionResult",
    "FiniteCrowdResult",
    "simulate_competition",
    "simulate_finite_crowd",
]

_TIE_BREAKS = {"random", "pro_rata", "time"}


# ---------------------------------------------------------------------------
# results
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class CompetitionPaths:
    """Recorded histories of :func:`simulate_competition` (only with ``record=True``).

    Attributes
    ----------
    t : ndarray, shape (n_steps+1,)
    s : ndarray, shape (n_steps+1, n_paths)
        Mid at the grid times (after the step's fills and moves).
    x, cash : ndarray, shape (n_steps+1, n_makers, n_paths)
        Every maker's inventory and cash at the grid times.
    bid, ask : ndarray, shape (n_steps, n_makers, n_paths)
        The quotes in the book at each step, after noise and tick rounding
        (NaN where a side was not quoted).
    bid_fill, ask_fill : ndarray, shape (n_steps, n_makers, n_paths)
        Units filled at each step: 0 or 1, or a fraction under ``"pro_rata"``.
    """

    t: np.ndarray
    s: np.ndarray
    x: np.ndarray
    cash: np.ndarray
    bid: np.ndarray
    ask: np.ndarray
    bid_fill: np.ndarray
    ask_fill: np.ndarray


@dataclass(frozen=True)
class CompetitionResult(PnLAccounts):
    r"""Per-maker, per-path outcome of :func:`simulate_competition`.

    The fields carry the names of :class:`~mmlib.simulation.SimulationResult`, with one
    row per maker.

    Attributes
    ----------
    market : MarketParams
    n_makers, n_paths : int
    tie_break : str
    tick : float or None
    initial_wealth : float
        :math:`C_0 + X_0 S_0 = 0` (every maker starts flat with no cash).
    cash, x : ndarray, shape (n_makers, n_paths)
        Terminal cash and inventory (fractional only under ``"pro_rata"``).
    s_T : ndarray, shape (n_paths,)
        Terminal mid, common to all makers.
    n_bid, n_ask : ndarray, shape (n_makers, n_paths)
        Units bought and sold.
    spread_pnl, inventory_pnl, adverse_pnl : ndarray, shape (n_makers, n_paths)
        The three components of the PnL, as in :mod:`mmlib.simulation`.
    mean_spread : ndarray, shape (n_makers, n_paths)
        Each maker's quoted spread (ask minus bid) averaged over the steps in
        which it quoted both sides; NaN if it never did.
    mean_bbo_spread : ndarray, shape (n_paths,)
        Best ask minus best bid, averaged over the steps with both sides
        quoted by someone; NaN if there were none.
    paths : CompetitionPaths or None
    """

    market: MarketParams
    n_makers: int
    n_paths: int
    tie_break: str
    tick: float | None
    mean_spread: np.ndarray
    mean_bbo_spread: np.ndarray
    paths: CompetitionPaths | None = None

    def fill_share(self) -> np.ndarray:
        """Each maker's share of all units traded, pooled over paths; shape (n_makers,)."""
        per = self.n_fills.sum(axis=1)
        total = per.sum()
        return per / total if total > 0 else np.full(self.n_makers, np.nan)

    def maker(self, i) -> SimulationResult:
        """Maker ``i``'s outcome as a :class:`~mmlib.simulation.SimulationResult` (for its ``summary``)."""
        i = check_int("i", i, lo=0, hi=self.n_makers - 1)
        return SimulationResult(market=self.market, n_paths=self.n_paths,
                                initial_wealth=self.initial_wealth, cash=self.cash[i],
                                x=self.x[i], s_T=self.s_T, n_bid=self.n_bid[i],
                                n_ask=self.n_ask[i], spread_pnl=self.spread_pnl[i],
                                inventory_pnl=self.inventory_pnl[i],
                                adverse_pnl=self.adverse_pnl[i])


# ---------------------------------------------------------------------------
# price-time priority
# ---------------------------------------------------------------------------
def _maker_quotes(i, policy, t, s, x, n_paths):
    """Call ``policy`` for maker ``i`` and check that it returned two arrays of shape (n_paths,)."""
    out = policy(t, s, x)
    try:
        bid, ask = out
    except (TypeError, ValueError):
        raise ValueError(
            f"policies[{i}] must return a pair (bid, ask) of arrays of shape ({n_paths},), "
            f"got {type(out).__name__}") from None
    bid = np.asarray(bid, dtype=float)
    ask = np.asarray(ask, dtype=float)
    if bid.shape != (n_paths,) or ask.shape != (n_paths,):
        raise ValueError(
            f"policies[{i}] must return bid and ask of shape ({n_paths},), got shapes "
            f"{bid.shape} and {ask.shape}")
    return bid, ask


_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


@numba.njit(cache=True)
def _splitmix(state):
    """One step of SplitMix64 (Steele, Lea and Flood 2014): (new state, 64 random bits)."""
    state = state + _GOLDEN
    z = state
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return state, z ^ (z >> np.uint64(31))


@numba.njit(cache=True, inline="always")
def _before(a, b, key, since, tie, mode):
    """Whether maker ``a`` is ahead of maker ``b`` in the queue (one path's arrays)."""
    if key[a] != key[b]:
        return key[a] < key[b]
    if mode == 2:  # pro rata: the order inside a level does not matter
        return a < b
    if mode == 1 and since[a] != since[b]:
        return since[a] < since[b]
    return tie[a] < tie[b]


@numba.njit(cache=True)
def _match_side(key, depth, since, seeds, mode, adt, k, fill, n_exec):
    r"""Units filled per maker on one side of the book in one step, path by path.

    ``key`` (n_makers, n_paths): smaller is better (minus the bid, or the ask);
    ``depth``: distance from the mid, ``inf`` where not quoted; ``since``: the
    step each quote was posted (``mode == 1``, time priority); ``seeds``: one
    random 64-bit word per path, drawn from the caller's Generator, expanded
    by SplitMix64 into the path's tie keys (one per maker, unless pro rata)
    and then its exponentials :math:`E_l = -\log U_l`, drawn only as far down
    the queue as the fills go. The queue is sorted by insertion (it is short);
    quote ``j`` fills iff :math:`\sum_{l\le j} E_l e^{k\delta_{(l)}} \le A\Delta t`.
    Under pro rata (``mode == 2``) each price level's filled units are split
    equally. Writes ``fill`` (n_makers, n_paths) and ``n_exec`` (orders executed).
    """
    n, P = key.shape
    order = np.empty(n, np.int64)
    tie = np.zeros(n, np.uint64)
    kp = np.empty(n)
    sp = np.zeros(n, np.int64)
    for p in range(P):
        for i in range(n):
            kp[i] = key[i, p]
        if mode == 1:
            for i in range(n):
                sp[i] = since[i, p]
        state = seeds[p]
        if mode != 2:
            for i in range(n):
                state, tie[i] = _splitmix(state)
        for i in range(n):
            j = i
            while j > 0 and _before(i, order[j - 1], kp, sp, tie, mode):
                order[j] = order[j - 1]
                j -= 1
            order[j] = i
        c = 0.0
        f = 0
        for j in range(n):
            d = depth[order[j], p]
            if not d < np.inf:
                break
            state, z = _splitmix(state)
            u = (np.float64(z >> np.uint64(11)) + 1.0) * 1.1102230246251565e-16  # (0, 1]
            c += -np.log(u) * np.exp(k * d)
            if c > adt:
                break
            f += 1
        n_exec[p] = f
        if mode != 2:
            for j in range(n):
                fill[order[j], p] = 1.0 if j < f else 0.0
        else:
            j = 0
            while j < n:
                m = j  # level [j, m)
                while m < n and kp[order[m]] == kp[order[j]]:
                    m += 1
                share = min(max(f - j, 0), m - j) / (m - j)
                if not depth[order[j], p] < np.inf:
                    share = 0.0
                for q in range(j, m):
                    fill[order[q], p] = share
                j = m


@numba.njit(cache=True)
def _prepare(bid, ask, s, x, xb, step, timed, keys, depths, since, prev, was_filled,
             spr_sum, spr_cnt, bbo_sum, bbo_cnt, best):
    """Book of one step: keys and depths per side, spread statistics, time priority.

    A side is quoted if its price is finite and a fill keeps ``|x| <= xb``;
    unquoted prices are set to NaN in ``bid``, ``ask`` (for the record). Loops
    run maker by maker over contiguous rows of paths.
    """
    n, P = bid.shape
    best[0, :] = -np.inf
    best[1, :] = np.inf
    for i in range(n):
        for p in range(P):
            b = bid[i, p]
            a = ask[i, p]
            qb = np.isfinite(b) and x[i, p] + 1.0 <= xb
            qa = np.isfinite(a) and x[i, p] - 1.0 >= -xb
            if not qb:
                b = np.nan
                bid[i, p] = np.nan
            if not qa:
                a = np.nan
                ask[i, p] = np.nan
            keys[0, i, p] = -b if qb else np.inf
            keys[1, i, p] = a if qa else np.inf
            depths[0, i, p] = s[p] - b if qb else np.inf
            depths[1, i, p] = a - s[p] if qa else np.inf
            if qb and qa:
                spr_sum[i, p] += a - b
                spr_cnt[i, p] += 1.0
            if qb and b > best[0, p]:
                best[0, p] = b
            if qa and a < best[1, p]:
                best[1, p] = a
            if timed:
                for side in range(2):
                    price = b if side == 0 else a
                    stands = price == prev[side, i, p] and not was_filled[side, i, p]
                    if not stands:
                        since[side, i, p] = step
                    prev[side, i, p] = price
    for p in range(P):
        if best[0, p] > -np.inf and best[1, p] < np.inf:
            bbo_sum[p] += best[1, p] - best[0, p]
            bbo_cnt[p] += 1.0


@numba.njit(cache=True)
def _settle(fills, depths, s, x, jump, ds, sp, cm, nb, na, inv, adv, was_filled):
    r"""Accounting of one step, maker by maker (:func:`~mmlib.simulation.simulate`'s attribution).

    A fill at price :math:`S\mp\delta` moves cash by :math:`\delta - S\,\Delta X`;
    the mid then jumps (toxic flow, ``jump``) and diffuses (``ds``):
    inventory PnL gets :math:`X_{t-}\,\text{jump} + X_t\,ds`, adverse selection
    :math:`\Delta X\,\text{jump}`.
    """
    n, P = x.shape
    for i in range(n):
        for p in range(P):
            fb = fills[0, i, p]
            fa = fills[1, i, p]
            g = 0.0
            if fb > 0.0:
                g += depths[0, i, p] * fb
            if fa > 0.0:
                g += depths[1, i, p] * fa
            sp[i, p] += g
            dx = fb - fa
            cm[i, p] -= s[p] * dx
            nb[i, p] += fb
            na[i, p] += fa
            inv[i, p] += x[i, p] * jump[p]
            adv[i, p] += dx * jump[p]
            x[i, p] += dx
            inv[i, p] += x[i, p] * ds[p]
            was_filled[0, i, p] = fb > 0.0
            was_filled[1, i, p] = fa > 0.0
    for p in range(P):
        s[p] += jump[p] + ds[p]


def _mid_step(m, P, rng):
    """Diffusive part of the mid's move over one step (the laws of :func:`~mmlib.simulation.simulate`)."""
    sq = m.sigma * np.sqrt(m.dt)
    if m.price_model == "binomial":
        return np.where(rng.random(P) < 0.5, -sq, sq)
    ds = sq * rng.standard_normal(P)
    if m.price_model == "jump" and m.jump_rate > 0 and m.jump_std > 0:
        cnt = rng.poisson(m.jump_rate * m.dt, P)
        ds += np.sqrt(cnt) * m.jump_std * rng.standard_normal(P)
    return ds


def simulate_competition(policies, market, n_paths, *, tie_break="random", tick=None,
                         quote_noise=0.0, rng=None, record=False):
    r"""Simulate several market makers on one limit order book under price-time priority.

    .. math::

        \text{quote } j \text{ (in priority order) fills} \iff
        \sum_{l=1}^{j} \frac{E_l}{A e^{-k\delta_{(l)}}} \le \Delta t,
        \qquad
        C_T + X_T S_T = \text{spread} + \sum X_{t-}\Delta S_t + [X,S]_T
        \ \text{per maker}.

    Parameters
    ----------
    policies : sequence of callables, length ``n_makers >= 1``
        Each ``policy(t, s, x) -> (bid, ask)`` exactly as for :func:`~mmlib.simulation.simulate`:
        ``s`` the common mid and ``x`` that maker's inventory, arrays of shape
        ``(n_paths,)``; NaN means the side is not quoted.
    market : MarketParams
        Mid dynamics, :math:`A`, :math:`k`, :math:`\Delta t`, toxic flow and the
        inventory bound. ``fill_model`` must be ``"exponential"`` (Poisson order flow).
    n_paths : int
        Number of independent paths, ``>= 1``.
    tie_break : {"random", "pro_rata", "time"}
        Among quotes at the same price: a uniformly random one first; the unit
        split equally (fractional fills); or the one that has stood longest at
        that price first (a maker who changes its price, or whose quote was
        filled, joins the back). Remaining ties under ``"time"`` are random.
    tick : float or None
        Tick size, ``> 0``: prices are rounded to the nearest multiple of it.
    quote_noise : float
        ``>= 0``: each quote's depth is moved by an independent
        :math:`U(-q, q)` before rounding, every step.
    rng : None, int or numpy.random.Generator
    record : bool
        Also keep every maker's history (memory ``~ 8 * 7 * n_steps * n_makers * n_paths`` bytes).

    Returns
    -------
    CompetitionResult

    Raises
    ------
    ValueError
        For an empty or non-callable policy list, a policy returning anything
        but two arrays of shape ``(n_paths,)``, a policy bidding strictly above
        its own ask (the message names the first step, path and maker; the
        check is on the policy's quotes, before ``quote_noise`` and ``tick``,
        so noise wider than a tight spread may still cross, and such quotes
        are matched side by side as posted), an unknown ``tie_break``, a
        tick that is not positive, a negative ``quote_noise``, a linear fill
        model, a table policy (GLFT, HJB) under ``"pro_rata"`` (fractional
        inventories), or non-finite accounting. Before anything is allocated:
        for ``market.n_steps`` above ``mmlib.limits.MAX_STEPS``, or memory
        above ``mmlib.limits.MAX_BYTES``, about
        ``8 * n_makers * n_paths * (32 + 7 * (n_steps + 1) * record)`` bytes.

    Notes
    -----
    Step :math:`n`: every maker quotes from :math:`(t_n, S_n, X^i_n)`; noise and
    tick rounding apply; a maker at the inventory bound does not quote the side
    that would cross it (so the order goes to the next quote); each side is
    matched as in the module docstring; a fill at price :math:`S_n\mp\delta`
    moves the maker's cash by :math:`\delta - S_n\,\Delta X`; with toxic flow,
    each executed order moves the mid against the side it hit with probability
    ``toxic_prob``; then the mid diffuses. The attribution is
    :func:`~mmlib.simulation.simulate`'s, maker by maker.

    The thinning formula also covers quotes inside the mid
    (:math:`\delta<0`), as if orders with "negative limits" arrived at rate
    :math:`Ae^{-k\delta}`: a lone maker then fills with probability
    :math:`1-e^{-Ae^{-k\delta}\Delta t}`, exactly as in :func:`~mmlib.simulation.simulate`.

    Random numbers, per step: uniforms for the noise (if on); one 64-bit word
    per path and side from the Generator, which SplitMix64 (Steele, Lea and
    Flood 2014) expands inside the compiled kernel into that path's tie keys
    and the exponentials :math:`E_l`, only as far down the queue as the fills
    go; binomial counts for toxic flow (if on); the mid's draws. A seed
    reproduces a run exactly. Memory is ``O(n_makers * n_paths)`` unless
    ``record=True``. The matching and the accounting are plain loops compiled
    with numba; ``_match_orders`` is the order-by-order reference they are
    tested against.

    References
    ----------
    Luo and Zheng (2021) on makers competing in price; the book's chapter *Competition*.

    Examples
    --------
    >>> from mmlib import ConstantPolicy, MarketParams
    >>> m = MarketParams(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005)
    >>> pols = [ConstantPolicy(0.6, 0.6), ConstantPolicy(0.9, 0.9)]
    >>> res = simulate_competition(pols, m, n_paths=500, rng=1)
    >>> res.x.shape, bool(abs(res.identity_residual()).max() < 1e-9)
    ((2, 500), True)
    >>> bool(res.n_fills[0].mean() > res.n_fills[1].mean())   # the tighter maker trades more
    True
    """
    try:
        pols = list(policies)
    except TypeError:
        raise ValueError(f"policies must be a sequence of policies, got {policies!r}") from None
    if not pols:
        raise ValueError("policies must hold at least one policy, got an empty sequence")
    for i, pol in enumerate(pols):
        if not callable(pol):
            raise ValueError(f"policies[{i}] must be callable (t, s, x) -> (bid, ask), got {pol!r}")
    if not isinstance(market, MarketParams):
        raise ValueError(f"market must be a MarketParams, got {type(market).__name__}")
    if market.fill_model != "exponential":
        raise ValueError("market.fill_model must be 'exponential' (Poisson order flow) for "
                         f"simulate_competition, got {market.fill_model!r}")
    n_paths = check_int("n_paths", n_paths, lo=1)
    check_choice("tie_break", tie_break, _TIE_BREAKS)
    if tick is not None:
        tick = check_real("tick", tick, lo=0.0, lo_open=True)
    quote_noise = check_real("quote_noise", quote_noise, lo=0.0)
    if tie_break == "pro_rata":
        from . import GLFTPolicy, HJBPolicy
        for i, pol in enumerate(pols):
            if isinstance(pol, (GLFTPolicy, HJBPolicy)):
                raise ValueError(
                    f"policies[{i}] looks its quotes up by integer inventory, but "
                    "tie_break='pro_rata' gives fractional inventories; use 'random' or 'time'")
    n, N = len(pols), market.n_steps
    limits.check_steps(f"T={market.T}, dt={market.dt}", N, "use a larger dt")
    need = 8.0 * n * n_paths * (32 + (7 * (N + 1) if record else 0))
    limits.check_memory(f"{n} makers x {n_paths:,} paths" + (f" x {N + 1:,} recorded steps"
                        if record else ""), need,
                        "simulate fewer paths" + (" or use record=False" if record else ""))
    gen = as_generator(rng)
    return _run(pols, market, n_paths, tie_break, tick, quote_noise, gen, bool(record))


def _run(pols, m, P, tie_break, tick, noise, rng, record):
    n, N, dt, k = len(pols), m.n_steps, m.dt, m.k
    adt = m.A * dt
    xb = m.x_max
    toxic = m.toxic_prob > 0 and m.toxic_size > 0
    s = np.full(P, m.s0)
    x = np.zeros((n, P))
    cm = np.zeros((n, P))  # cash at the mid: - sum S dX
    sp = np.zeros((n, P))  # spread capture
    inv = np.zeros((n, P))
    adv = np.zeros((n, P))
    nb = np.zeros((n, P))
    na = np.zeros((n, P))
    spr_sum = np.zeros((n, P))
    spr_cnt = np.zeros((n, P))
    bbo_sum = np.zeros(P)
    bbo_cnt = np.zeros(P)
    bid = np.empty((n, P))
    ask = np.empty((n, P))
    timed = tie_break == "time"
    mode = {"random": 0, "time": 1, "pro_rata": 2}[tie_break]
    fills = np.empty((2, n, P))
    n_exec = np.empty((2, P), dtype=np.int64)
    since = np.zeros((2, n, P), dtype=np.int64)  # step since which each quote has stood
    prev = np.full((2, n, P), np.nan)  # its price (NaN: no standing quote)
    was_filled = np.ones((2, n, P), dtype=np.bool_)
    keys = np.empty((2, n, P))  # minus the bid, the ask: smaller is better
    depths = np.empty((2, n, P))  # distance from the mid, inf where not quoted
    xbf = np.inf if xb is None else float(xb)
    jump = np.zeros(P)
    best = np.empty((2, P))
    if record:
        rec = {"s": np.empty((N + 1, P)), "x": np.empty((N + 1, n, P)),
               "cash": np.empty((N + 1, n, P))}
        for name in ("bid", "ask", "bid_fill", "ask_fill"):
            rec[name] = np.empty((N, n, P))
        rec["s"][0], rec["x"][0], rec["cash"][0] = s, 0.0, 0.0
    for step in limits.steps(N, "simulate_competition", work=float(N) * n * P):
        t = step * dt
        for i, pol in enumerate(pols):
            bid[i], ask[i] = _maker_quotes(i, pol, t, s, x[i], P)
        crossed = bid > ask  # NaN (not quoted) never crosses
        if crossed.any():
            i, p = (int(v) for v in np.argwhere(crossed)[0])
            raise ValueError(
                f"crossed quotes at step {step} (t={t:.6g}), path {p}: policies[{i}] bids "
                f"{bid[i, p]:.6g} above its ask {ask[i, p]:.6g}; simulate_competition refuses "
                "a bid above its own ask (the maker would trade with itself); a bid equal to "
                "the ask is allowed")
        if noise > 0:
            bid -= rng.uniform(-noise, noise, (n, P))
            ask += rng.uniform(-noise, noise, (n, P))
        if tick is not None:
            np.round(bid / tick, out=bid)
            bid *= tick
            np.round(ask / tick, out=ask)
            ask *= tick
        _prepare(bid, ask, s, x, xbf, step, timed, keys, depths, since, prev, was_filled,
                 spr_sum, spr_cnt, bbo_sum, bbo_cnt, best)
        if record:
            rec["bid"][step], rec["ask"][step] = bid, ask
        seeds = rng.integers(0, 2**64, size=(2, P), dtype=np.uint64, endpoint=False)
        for side in (0, 1):
            _match_side(keys[side], depths[side], since[side], seeds[side], mode, adt, k,
                        fills[side], n_exec[side])
        if toxic:
            jump = (rng.binomial(n_exec[1], m.toxic_prob)
                    - rng.binomial(n_exec[0], m.toxic_prob)) * m.toxic_size
        ds = _mid_step(m, P, rng)
        _settle(fills, depths, s, x, jump, ds, sp, cm, nb, na, inv, adv, was_filled)
        if record:
            rec["bid_fill"][step], rec["ask_fill"][step] = fills
            rec["s"][step + 1], rec["x"][step + 1] = s, x
            rec["cash"][step + 1] = cm + sp
    cash = cm + sp
    if not (np.all(np.isfinite(cash)) and np.all(np.isfinite(sp))):
        raise ValueError("the accounting became non-finite: a policy posted quotes at infinite "
                         "prices that filled; return NaN for a side not quoted")
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_spread = np.where(spr_cnt > 0, spr_sum / np.maximum(spr_cnt, 1), np.nan)
        mean_bbo = np.where(bbo_cnt > 0, bbo_sum / np.maximum(bbo_cnt, 1), np.nan)
    paths = None
    if record:
        paths = CompetitionPaths(t=np.linspace(0.0, m.T, N + 1), **rec)
    return CompetitionResult(market=m, n_makers=n, n_paths=P, tie_break=tie_break, tick=tick,
                             initial_wealth=0.0, cash=cash, x=x, s_T=s, n_bid=nb, n_ask=na,
                             spread_pnl=sp, inventory_pnl=inv, adverse_pnl=adv,
                             mean_spread=mean_spread, mean_bbo_spread=mean_bbo, paths=paths)


def _match_orders(prices, side, limits, priority=None):
    r"""Plain order-by-order matching on one side of one book (the reference for tests).

    Parameters
    ----------
    prices : sequence of float, length n_makers
        Quoted prices (NaN: not quoted).
    side : {"bid", "ask"}
        Market sell orders hit bids (best = highest), buys lift asks (best = lowest).
    limits : sequence of float
        The orders' worst acceptable prices, in arrival order.
    priority : sequence of float or None
        Among equal prices the smaller value goes first (e.g. the step at which
        the quote was posted); default: the maker index.

    Returns
    -------
    list of int
        Units filled per maker (0 or 1).
    """
    n = len(prices)
    pri = list(range(n)) if priority is None else list(priority)
    sign = -1.0 if side == "bid" else 1.0
    queue = sorted((i for i in range(n) if not np.isnan(prices[i])),
                   key=lambda i: (sign * prices[i], pri[i], i))
    filled = [0] * n
    for lim in limits:
        for i in queue:
            if not filled[i] and sign * prices[i] <= sign * lim:
                filled[i] = 1
                break
    return filled


# ---------------------------------------------------------------------------
# finite crowd under the mean-field coupling
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class FiniteCrowdResult:
    r"""Outcome of :func:`simulate_finite_crowd`.

    Attributes
    ----------
    solution : MeanFieldSolution
    n_makers, n_paths : int
    t : ndarray, shape (n_steps+1,)
    x_T : ndarray of int, shape (n_paths, n_makers)
        Every maker's final inventory.
    avg_delta_a, avg_delta_b : ndarray, shape (n_paths, n_steps+1)
        The crowd's average quotes :math:`\bar\delta^a_N(t_n)`, :math:`\bar\delta^b_N(t_n)`
        (over the makers who quote that side).
    x : ndarray of int, shape (n_steps+1, n_paths, n_makers), or None
        Inventory paths, with ``record=True``.
    """

    solution: MeanFieldSolution
    n_makers: int
    n_paths: int
    t: np.ndarray
    x_T: np.ndarray
    avg_delta_a: np.ndarray
    avg_delta_b: np.ndarray
    x: np.ndarray | None = None

    def pooled_law(self) -> np.ndarray:
        """Empirical law of the final inventories pooled over makers and paths, on the grid."""
        xm = self.solution.params.x_max
        counts = np.bincount((self.x_T + xm).ravel(), minlength=2 * xm + 1)
        return counts / counts.sum()


def _crowd_average(delta, idx, quoting, edge):
    """Per-path mean of the quotes of the makers who quote (else the edge quote)."""
    d = np.where(quoting, delta[idx], 0.0)
    cnt = quoting.sum(axis=1)
    return np.where(cnt > 0, d.sum(axis=1) / np.maximum(cnt, 1), edge)


def simulate_finite_crowd(solution, n_makers, n_paths, *, rng=None, record=False):
    r"""Simulate ``n_makers`` makers who follow the mean-field quotes, coupled through their own average.

    .. math:: \lambda^a_i(t) = A\,e^{-k(\delta^a(t, X^i_t) - \bar\delta^a_N(t))},\qquad
              \bar\delta^a_N(t) = \frac{\sum_{j:\,X^j_t>-x_{\max}} \delta^a(t, X^j_t)}
                                        {\#\{j: X^j_t>-x_{\max}\}},

    and likewise for the bid (over the makers below :math:`x_{\max}`).

    Parameters
    ----------
    solution : MeanFieldSolution
        The equilibrium whose quotes ``delta_a``, ``delta_b`` every maker
        follows; the makers' initial inventories are drawn i.i.d. from
        ``solution.rho[0]``.
    n_makers : int
        Crowd size :math:`N`, ``>= 1``.
    n_paths : int
        Independent crowds, ``>= 1`` (memory within ``mmlib.limits.MAX_BYTES``).
    rng : None, int or numpy.random.Generator
    record : bool
        Also return every maker's inventory path (int32, ``4 * n_steps * n_makers * n_paths`` bytes).

    Returns
    -------
    FiniteCrowdResult

    Raises
    ------
    ValueError
        If ``solution`` is not a :class:`~mmlib.mean_field.MeanFieldSolution` or a size is out
        of range; before anything is allocated, for memory above
        ``mmlib.limits.MAX_BYTES`` (default 4 GiB), about
        ``8 * (10 * n_makers * n_paths + 2 * n_paths * (n_steps + 1))`` bytes plus
        ``4 * (n_steps + 1) * n_makers * n_paths`` with ``record=True``.

    Notes
    -----
    The same time convention as :func:`~mmlib.population.simulate_inventory`: over
    :math:`[t_n, t_{n+1})` every maker uses the quotes of grid time :math:`t_n` at
    its current inventory, and the crowd average :math:`\bar\delta_N(t_n)` is
    held, as :func:`~mmlib.mean_field.solve_mean_field` holds :math:`\bar\delta(t_n)`. Within a
    step the makers are then independent continuous-time chains, simulated
    exactly event by event. As :math:`N\to\infty` the pooled law tends to this
    scheme's own mean-field limit, which differs from ``solution.rho`` (built
    from continuously updated quotes) by :math:`O(\Delta t)`.

    References
    ----------
    Sud (2025); Baldacci, Bergault and Possamaï (2022). The book's chapter *Competition*.

    Examples
    --------
    >>> import numpy as np
    >>> from mmlib import ModelParams, solve_mean_field
    >>> p = ModelParams(A=1.0, k=1.5, eta=0.01, gamma=0.1, T=2.0, x_max=4)
    >>> rho0 = np.exp(-0.5 * p.x**2); rho0 /= rho0.sum()
    >>> mf = solve_mean_field(p, rho0, n_steps=50)
    >>> res = simulate_finite_crowd(mf, n_makers=10, n_paths=200, rng=1)
    >>> res.x_T.shape, res.avg_delta_a.shape
    ((200, 10), (200, 51))
    """
    if not isinstance(solution, MeanFieldSolution):
        if isinstance(solution, HJBSolution):
            raise ValueError("solution must be a MeanFieldSolution (from solve_mean_field); an "
                             "HJBSolution has no crowd to couple to")
        raise ValueError(f"solution must be a MeanFieldSolution, got {type(solution).__name__}")
    n_makers = check_int("n_makers", n_makers, lo=1)
    n_paths = check_int("n_paths", n_paths, lo=1)
    M, N1 = n_makers * n_paths, solution.n_steps + 1
    limits.check_steps(f"a solution with n_steps={N1 - 1:,}", N1 - 1, "solve on fewer time steps")
    need = 8.0 * (10 * M + 2 * n_paths * N1) + (4.0 * N1 * M if record else 0.0)
    limits.check_memory(f"{n_makers} makers x {n_paths:,} paths"
                        + (f" x {N1:,} recorded steps" if record else ""), need,
                        "simulate fewer makers or paths" + (" or use record=False" if record else ""))
    gen = as_generator(rng)
    p = solution.params
    xm, ns = p.x_max, 2 * p.x_max + 1
    N = solution.n_steps
    h = solution.dt
    rho0 = np.clip(solution.rho[0], 0.0, None)
    idx = gen.choice(ns, size=(n_paths, n_makers), p=rho0 / rho0.sum())
    # base rates A e^{-k delta}; zero where a side is not quoted
    with np.errstate(over="ignore"):
        base_a = p.A * np.exp(-p.k * np.nan_to_num(solution.delta_a, nan=np.inf))
        base_b = p.A * np.exp(-p.k * np.nan_to_num(solution.delta_b, nan=np.inf))
    da = np.nan_to_num(solution.delta_a, nan=0.0)
    db = np.nan_to_num(solution.delta_b, nan=0.0)
    avg_a = np.empty((n_paths, N + 1))
    avg_b = np.empty((n_paths, N + 1))
    X = np.empty((N + 1, n_paths, n_makers), dtype=np.int32) if record else None
    for n in limits.steps(N + 1, "simulate_finite_crowd", work=float(N) * M):
        avg_a[:, n] = _crowd_average(da[n], idx, idx > 0, da[n, 1])
        avg_b[:, n] = _crowd_average(db[n], idx, idx < ns - 1, db[n, ns - 2])
        if record:
            X[n] = idx - xm
        if n == N:
            break
        ca = np.exp(p.k * avg_a[:, n])[:, None]  # e^{k avg}: per path
        cb = np.exp(p.k * avg_b[:, n])[:, None]
        _crowd_step(idx, base_a[n], base_b[n], ca, cb, h, gen)
    return FiniteCrowdResult(solution=solution, n_makers=n_makers, n_paths=n_paths,
                             t=solution.t.copy(), x_T=(idx - xm).astype(np.int64),
                             avg_delta_a=avg_a, avg_delta_b=avg_b, x=X)


def _crowd_step(idx, base_a, base_b, ca, cb, h, gen):
    """Advance every maker's inventory index by time ``h`` in place (exact CTMC, rates frozen)."""
    P, n = idx.shape
    flat = idx.reshape(-1)
    scale_a = np.broadcast_to(ca, (P, n)).reshape(-1)
    scale_b = np.broadcast_to(cb, (P, n)).reshape(-1)
    left = np.full(flat.size, h)
    active = np.arange(flat.size)
    while active.size:
        s = flat[active]
        ra = base_a[s] * scale_a[active]
        rb = base_b[s] * scale_b[active]
        tot = ra + rb
        tau = gen.standard_exponential(active.size) / tot  # inf if no side quotes
        jump = tau < left[active]
        if not jump.any():
            break
        active, s, ra, tot = active[jump], s[jump], ra[jump], tot[jump]
        left[active] -= tau[jump]
        down = gen.random(active.size) * tot < ra
        flat[active] = s + np.where(down, -1, 1)
