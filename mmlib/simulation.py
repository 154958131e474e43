r"""Vectorised Monte Carlo of one market maker, with self-financing accounting.

Each step of length :math:`\Delta t` runs, vectorised over the paths:

1. the policy quotes a bid :math:`p^b` and an ask :math:`p^a` from
   :math:`(t_n, S_n, X_n)`;
2. each side fills with probability :math:`1-e^{-\lambda\Delta t}` (Poisson
   arrivals, ``fill_model="exponential"``) or :math:`\min(\lambda\Delta t,1)`
   (the protocol of Avellaneda and Stoikov 2008, ``fill_model="linear"``),
   where :math:`\lambda = A e^{-k\delta}`; cash changes only at the fill prices;
3. with toxic flow, each fill makes the mid jump *against* the maker (down
   after a bid fill, up after an ask fill) with probability ``toxic_prob`` by
   ``toxic_size``;
4. the mid moves: Brownian, the :math:`\pm\sigma\sqrt{\Delta t}` binomial steps
   of the 2008 paper, or Brownian plus compound-Poisson jumps.

The profit and loss is marked to the mid and splits exactly, path by path,
like the product rule :math:`d(XS) = X_{-}\,dS + S_{-}\,dX + d[X,S]`:

.. math::

    \underbrace{C_T + X_T S_T - (C_0 + X_0 S_0)}_{\text{total PnL}}
    = \underbrace{\sum_{\text{fills}} (p - S)\,\epsilon}_{\text{spread capture}}
    + \underbrace{\sum_t X_{t-}\,\Delta S_t}_{\text{inventory PnL}}
    + \underbrace{\sum_t \Delta X_t\,\Delta S_t}_{\text{adverse selection}},

where :math:`\epsilon=+1` for an ask fill and :math:`-1` for a bid fill, and the
last sum, the covariation :math:`[X,S]`, collects the mid's instantaneous
reaction to the maker's own fills. It is exactly zero without toxic flow:
in the Avellaneda--Stoikov model fills carry no information about the mid.

Chapter: *Avellaneda--Stoikov* (``book/avellaneda_stoikov.md``); the policies
live in :mod:`mmlib.policies`, the statistics in :func:`mmlib.metrics.mc_stats`.
"""
from __future__ import annotations

import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numba
import numpy as np

from . import limits
from ._validation import as_generator, check_choice, check_int, check_real
from .metrics import MCStats, mc_stats  # noqa: F401  (MCStats: re-exported, SimulationResult.summary)
from .policies import BUILTIN as _BUILTIN
from .policies import (  # noqa: F401  (re-exported: the engine's built-in policies)
    ASInventoryPolicy,
    ASSymmetricPolicy,
    ConstantPolicy,
    GLFTPolicy,
    HJBPolicy,
)
from .fill_curves import ExponentialCurve, FillCurve

__all__ = [
    "MarketParams",
    "SimulationResult",
    "SimulationPaths",
    "simulate",
]

_PRICE_MODELS = {"brownian", "binomial", "jump"}
_FAR = 1e300  # depth standing for "side not quoted": never fills, contributes exactly 0
_FILL_MODELS = {"exponential", "linear"}
_CHUNK = 16384  # paths per block (built-in policies): its working set (~2 MB) stays in L2
_STEPS_PER_CALL = 8  # time steps per compiled call of a built-in policy's block


# ---------------------------------------------------------------------------
# parameters
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class MarketParams:
    r"""The simulated market: mid-price dynamics, fills and toxic flow.

    .. math::

        \Delta S = \sigma\sqrt{\Delta t}\,Z\ (\text{brownian}),\quad
        \pm\sigma\sqrt{\Delta t}\ (\text{binomial}),\quad
        \sigma\sqrt{\Delta t}\,Z + \textstyle\sum_{j\le N} J_j\ (\text{jump}),
        \qquad \lambda(\delta) = A e^{-k\delta}

    with :math:`N\sim\mathrm{Poisson}(\texttt{jump\_rate}\,\Delta t)` and
    :math:`J_j\sim\mathcal N(0,\texttt{jump\_std}^2)`; every model is a martingale.

    Parameters
    ----------
    s0 : float
        Initial mid price; finite.
    sigma : float
        Volatility, price per square root of time; ``sigma >= 0``.
    A : float
        Fill intensity at zero depth, per unit time; ``A > 0``.
    k : float
        Decay of the intensity with depth, per price unit; ``k > 0``.
    T : float
        Horizon; ``T > 0``.
    dt : float
        Time step; ``dt > 0`` and ``T / dt`` an integer (within 1e-9).
    price_model : {"brownian", "binomial", "jump"}
        Mid-price dynamics.
    fill_model : {"exponential", "linear"}
        Fill probability per side and step: ``1 - exp(-lambda dt)`` or
        ``min(lambda dt, 1)`` (the 2008 paper).
    jump_rate : float
        Jumps per unit time for ``price_model="jump"``; ``>= 0``.
    jump_std : float
        Standard deviation of a jump; ``>= 0``.
    toxic_prob : float
        Probability that a fill moves the mid against the maker; in ``[0, 1]``.
    toxic_size : float
        Size of that move, price units; ``>= 0``.
    x_max : int or None
        Inventory bound: the side that would take :math:`|X|` above it does
        not fill. ``None`` (default) for no bound.
    fill_curve : mmlib.fill_curves.FillCurve or None
        The intensity :math:`\lambda(\delta)` of the fills. ``None`` (default):
        :math:`Ae^{-k\delta}` with the fields ``A`` and ``k``. An
        :class:`~mmlib.fill_curves.ExponentialCurve` runs the same code with
        its own ``(A, k)``; any other curve (power law, table) replaces the
        exponential, and ``A`` and ``k`` are then not used by the engine.
    latency_steps : int
        The maker sees the mid :math:`L` steps late: its quotes are computed
        from :math:`S_{n-L}` (from :math:`S_0` while :math:`n<L`), with the
        current clock and inventory. ``>= 0``; 0 (default) for no latency.

    Raises
    ------
    ValueError
        If a field is invalid; the message names it.

    Examples
    --------
    >>> m = MarketParams(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005)
    >>> m.n_steps
    200
    >>> MarketParams(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.0)
    Traceback (most recent call last):
    ...
    ValueError: dt must be > 0, got 0.0
    """

    s0: float  # initial mid price
    sigma: float  # mid volatility per sqrt(time) (>= 0)
    A: float  # fill intensity at zero depth (> 0)
    k: float  # intensity decay per unit depth (> 0)
    T: float  # horizon (> 0)
    dt: float  # time step (> 0, T/dt integer)
    price_model: str = "brownian"  # "brownian" | "binomial" | "jump"
    fill_model: str = "exponential"  # "exponential" (1-e^{-lambda dt}) | "linear" (lambda dt)
    jump_rate: float = 0.0  # jumps per unit time (price_model="jump"; >= 0)
    jump_std: float = 0.0  # std of a jump (>= 0)
    toxic_prob: float = 0.0  # probability a fill moves the mid against the maker ([0, 1])
    toxic_size: float = 0.0  # size of that move (>= 0)
    x_max: int | None = None  # inventory bound, None for unbounded
    fill_curve: FillCurve | None = None  # lambda(delta); None: A e^{-k delta}
    latency_steps: int = 0  # quotes from the mid this many steps earlier (>= 0)

    def __post_init__(self):
        setv = object.__setattr__
        setv(self, "s0", check_real("s0", self.s0))
        setv(self, "sigma", check_real("sigma", self.sigma, lo=0.0))
        setv(self, "A", check_real("A", self.A, lo=0.0, lo_open=True))
        setv(self, "k", check_real("k", self.k, lo=0.0, lo_open=True))
        setv(self, "T", check_real("T", self.T, lo=0.0, lo_open=True))
        setv(self, "dt", check_real("dt", self.dt, lo=0.0, lo_open=True))
        ratio = self.T / self.dt
        if abs(ratio - round(ratio)) > 1e-9 * max(1.0, ratio) or round(ratio) < 1:
            raise ValueError(
                f"T / dt must be a positive integer, got T={self.T}, dt={self.dt} "
                f"(ratio {ratio:.10g}); choose dt = T / n_steps"
            )
        check_choice("price_model", self.price_model, _PRICE_MODELS)
        check_choice("fill_model", self.fill_model, _FILL_MODELS)
        setv(self, "jump_rate", check_real("jump_rate", self.jump_rate, lo=0.0))
        setv(self, "jump_std", check_real("jump_std", self.jump_std, lo=0.0))
        setv(self, "toxic_prob", check_real("toxic_prob", self.toxic_prob, lo=0.0, hi=1.0))
        setv(self, "toxic_size", check_real("toxic_size", self.toxic_size, lo=0.0))
        if self.x_max is not None:
            setv(self, "x_max", check_int("x_max", self.x_max, lo=1))
        if self.fill_curve is not None and not isinstance(self.fill_curve, FillCurve):
            raise ValueError("fill_curve must be None or a mmlib.fill_curves.FillCurve "
                             f"(ExponentialCurve, PowerLawCurve, TableCurve), got "
                             f"{type(self.fill_curve).__name__}")
        setv(self, "latency_steps", check_int("latency_steps", self.latency_steps, lo=0))
        if self.latency_steps > self.n_steps:
            raise ValueError(f"latency_steps must be <= n_steps = {self.n_steps}, got "
                             f"{self.latency_steps}")

    @property
    def n_steps(self) -> int:
        """Number of time steps ``T / dt``."""
        return int(round(self.T / self.dt))

    def replace(self, **changes) -> "MarketParams":
        """Return a copy with some fields changed (validated again)."""
        fields = {f: getattr(self, f) for f in self.__dataclass_fields__}
        fields.update(changes)
        return MarketParams(**fields)


# ---------------------------------------------------------------------------
# results and statistics
# ---------------------------------------------------------------------------
@dataclass(frozen=True)
class SimulationPaths:
    """Recorded histories (only with ``simulate(..., record=True)``).

    Attributes
    ----------
    t : ndarray, shape (n_steps+1,)
    s, x, cash : ndarray, shape (n_steps+1, n_paths)
        Mid, inventory and cash at the grid times (after the step's fills and moves).
    bid, ask : ndarray, shape (n_steps, n_paths)
        The quotes posted at each step (NaN where a side was not quoted).
    """

    t: np.ndarray
    s: np.ndarray
    x: np.ndarray
    cash: np.ndarray
    bid: np.ndarray
    ask: np.ndarray


@dataclass(frozen=True, kw_only=True)
class PnLAccounts:
    """The self-financing accounts shared by :class:`SimulationResult` and
    :class:`~mmlib.competition.CompetitionResult`: their fields, total PnL, fills and the
    identity check.

    Holds ``initial_wealth``, ``cash``, ``x``, ``s_T``, ``n_bid``, ``n_ask`` and the three
    components ``spread_pnl``, ``inventory_pnl``, ``adverse_pnl`` (each subclass documents
    their shapes); keyword-only.
    """

    initial_wealth: float
    cash: np.ndarray
    x: np.ndarray
    s_T: np.ndarray
    n_bid: np.ndarray
    n_ask: np.ndarray
    spread_pnl: np.ndarray
    inventory_pnl: np.ndarray
    adverse_pnl: np.ndarray

    @property
    def total_pnl(self) -> np.ndarray:
        r"""Marked-to-mid PnL :math:`C_T + X_T S_T - (C_0 + X_0 S_0)`, per path (and maker)."""
        return self.cash + self.x * self.s_T - self.initial_wealth

    @property
    def n_fills(self) -> np.ndarray:
        """Number of fills (units traded), ``n_bid + n_ask``."""
        return self.n_bid + self.n_ask

    def identity_residual(self) -> np.ndarray:
        """Total PnL minus the sum of its three components (zero up to rounding)."""
        return self.total_pnl - (self.spread_pnl + self.inventory_pnl + self.adverse_pnl)


@dataclass(frozen=True)
class SimulationResult(PnLAccounts):
    r"""Per-path outcome of :func:`simulate`.

    Attributes
    ----------
    market : MarketParams
    n_paths : int
    initial_wealth : float
        :math:`C_0 + X_0 S_0`.
    cash, x, s_T : ndarray, shape (n_paths,)
        Terminal cash :math:`C_T`, inventory :math:`X_T` and mid :math:`S_T`.
    n_bid, n_ask : ndarray, shape (n_paths,)
        Number of bid and ask fills.
    spread_pnl, inventory_pnl, adverse_pnl : ndarray, shape (n_paths,)
        The three components of the PnL (see the module docstring).
    paths : SimulationPaths or None
        Recorded histories, if asked for.
    """

    market: MarketParams
    n_paths: int
    paths: SimulationPaths | None = None

    def summary(self, ci=0.95):
        """:class:`~mmlib.metrics.MCStats` of the PnL, its components, final inventory and fill count."""
        return {
            "total_pnl": mc_stats(self.total_pnl, ci),
            "spread_pnl": mc_stats(self.spread_pnl, ci),
            "inventory_pnl": mc_stats(self.inventory_pnl, ci),
            "adverse_pnl": mc_stats(self.adverse_pnl, ci),
            "final_x": mc_stats(self.x, ci),
            "n_fills": mc_stats(self.n_fills, ci),
        }


# ---------------------------------------------------------------------------
# engine
# ---------------------------------------------------------------------------
def _quotes(policy, t, s, x, n_paths):
    out = policy(t, s, x)
    try:
        bid, ask = out
    except (TypeError, ValueError):
        raise ValueError(
            f"policy must return a pair (bid, ask) of arrays of shape ({n_paths},), "
            f"got {type(out).__name__}"
        ) from None
    bid = np.asarray(bid, dtype=float)
    ask = np.asarray(ask, dtype=float)
    if bid.shape != (n_paths,) or ask.shape != (n_paths,):
        raise ValueError(
            f"policy must return bid and ask of shape ({n_paths},), got shapes "
            f"{bid.shape} and {ask.shape}"
        )
    return bid, ask


# rows of a block's state array (one (7, c) array that the step kernel updates in place)
_S, _X, _CM, _SP, _INV, _ADV, _NB = range(7)


@numba.njit(nogil=True, cache=True)
def _step(D, lam, words, E, dmid, V, st, par, info, per_path, linear):  # pragma: no cover
    """One time step of one block, path by path in one pass (compiled; releases the GIL).

    Path ``j`` quotes at depths ``D[:, r]``, which fill when the draw is below the
    threshold ``lam[:, r]`` (the intensity times ``cst = A dt``, times ``2**32`` for
    ``linear``; the caller multiplies): ``r = j`` with ``per_path`` (one column a path), else
    ``r = X_j - par[5]`` (a table over the inventories present: a built-in
    policy's quotes depend on ``(t, X)`` only). ``D`` holds no NaN (an unquoted
    side is at ``_FAR``, with ``lam = 0``). Fill draws: ``words`` (``linear``: two
    32-bit uniforms a word) or ``E`` (exponentials); the mid's move: the sign bits
    of ``words[par[6]:]`` (binomial, ``par[7] = 1``) or ``dmid``; toxic flow
    (``par[4] > 0``): uniforms ``V``. Updates ``st``; writes the new range of the
    inventory into ``info``.
    """
    sq, tprob, tsize, xoff = par[1], par[3], par[4], par[5]
    nw = int(par[6])
    c = st.shape[1]
    one = np.uint64(1)
    lo32 = np.uint64(0xFFFFFFFF)
    if par[7] > 0.0:  # binomial: expand the sign bits, one a path, into +sq or -sq
        for i in range((c + 63) // 64):
            w = words[nw + i]
            for b in range(min(64, c - 64 * i)):
                dmid[64 * i + b] = sq * np.float64(2 * np.int64((w >> np.uint64(b)) & one) - 1)
    toxic = tsize > 0.0
    x_lo = np.inf  # the inventories are whole numbers held as floats
    x_hi = -np.inf
    for j in range(c):
        xj = st[_X, j]
        r = j if per_path else int(xj - xoff)
        if linear:  # U = (J + 1) / 2^32 < lambda dt  <=>  J + 1 < 2^32 lambda dt
            w = words[j]
            ub = np.float64(w & lo32) + 1.0
            ua = np.float64(w >> np.uint64(32)) + 1.0
        else:  # E < lambda dt, E ~ Exp(1)
            ub = np.float64(E[0, j])
            ua = np.float64(E[1, j])
        fb = ub < lam[0, r]
        fa = ua < lam[1, r]
        gb = np.float64(fb)
        ga = np.float64(fa)
        dx = gb - ga
        st[_SP, j] += D[0, r] * gb + D[1, r] * ga
        st[_NB, j] += gb
        sj = st[_S, j]
        st[_CM, j] -= sj * dx  # a fill at p = S -+ delta moves cash by delta - S dX
        if toxic:  # the mid jumps against the maker after a fill, w.p. tprob
            jump = tsize * (np.float64(fa & (V[1, j] < tprob))
                            - np.float64(fb & (V[0, j] < tprob)))
            st[_INV, j] += xj * jump  # X_{t-}: inventory before this step's fills
            st[_ADV, j] += dx * jump  # covariation [X, S]: the markout of the fills
            sj += jump
        xj += dx
        ds = dmid[j]
        st[_INV, j] += xj * ds
        st[_S, j] = sj + ds
        st[_X, j] = xj
        x_lo = min(x_lo, xj)
        x_hi = max(x_hi, xj)
    info[0] = int(x_lo)
    info[1] = int(x_hi)


@numba.njit(nogil=True, cache=True)
def _steps(D, lam, words, E, dmid, V, st, par, info, linear):  # pragma: no cover
    """Several time steps of one block in one call: step ``i`` runs :func:`_step` on the
    tables ``D[i], lam[i]`` (over the inventories ``par[5] + 0, 1, ...``) with the draws
    ``words[i]``, ``E[i]``, ``dmid[i]`` (or one shared buffer, ``dmid.shape[0] == 1``,
    for binomial mids) and ``V[i]``."""
    shared = dmid.shape[0] == 1
    for i in range(D.shape[0]):
        _step(D[i], lam[i], words[i], E[i], dmid[0] if shared else dmid[i], V[i], st, par,
              info, False, linear)


def _block_streams(rng, n_blocks):
    """One Generator per block, spawned from one SeedSequence whose entropy ``rng`` draws.

    The streams depend only on ``rng`` and the block index, never on which thread
    runs a block, so a seeded run is the same for any number of workers.
    """
    root = np.random.SeedSequence(rng.integers(0, 2**63, size=4, dtype=np.int64).tolist())
    return [np.random.Generator(np.random.PCG64(ss)) for ss in root.spawn(n_blocks)]


def _kernel(policy, m, n_paths, x0, cash0, rng, record, workers):
    """Run the paths forward in blocks of ``_CHUNK``, each block through all steps.

    A built-in policy writes its depths straight into a block's buffer, so a
    block's working set stays in cache for the whole horizon; any other callable
    sees all ``n_paths`` at once (one block), as its contract promises. Each block
    draws from its own stream (:func:`_block_streams`) and the blocks run on
    ``workers`` threads: numpy and the compiled step release the GIL. Per step,
    numpy computes the intensity at both depths (one ``exp`` per side) and draws
    the random numbers; :func:`_step` then does the rest in one pass. A built-in
    policy's block (without histories or latency) runs ``_STEPS_PER_CALL`` steps per
    compiled call (:func:`_steps`), its quotes tabled over the inventories reachable in
    those steps and its draws taken in the one-step order, so the numbers are the same
    bit for bit; a table policy whose grid ends within reach, or a crossed quote, hands
    the rest of the block to the one-step loop.
    """
    N, dt, P = m.n_steps, m.dt, n_paths
    depths = policy._depths if type(policy) in _BUILTIN else None
    C = min(_CHUNK, P) if depths is not None else P
    n_blocks = -(-P // C)
    streams = _block_streams(rng, n_blocks)
    curve = m.fill_curve
    A, k = (curve.A, curve.k) if isinstance(curve, ExponentialCurve) else (m.A, m.k)
    if isinstance(curve, ExponentialCurve):
        curve = None  # the exponential's own fast path
    linear = m.fill_model == "linear"
    # fill iff W < cst * lam, W = J + 1 (linear) or E (exponential), lam = e^{-k D} or rate(D)
    cst = (A * dt if curve is None else dt) * (2.0**32 if linear else 1.0)
    L = m.latency_steps
    tab = depths is not None and not L  # quotes from a table over the inventories present
    binomial = m.price_model == "binomial"
    jumps = m.price_model == "jump" and m.jump_rate > 0 and m.jump_std > 0
    toxic = m.toxic_prob > 0 and m.toxic_size > 0
    bounded = m.x_max is not None
    xb = float(m.x_max) if bounded else 0.0
    per_path = not tab  # one column of quotes a path, else a table over the inventories
    sq = m.sigma * np.sqrt(dt)
    out = {name: np.empty(P) for name in ("s", "x", "cash", "nb", "spread", "inv", "adv")}
    if record:
        rec = {name: np.empty((N + 1, P)) for name in ("s", "x", "cash")}
        rec["bid"] = np.empty((N, P))
        rec["ask"] = np.empty((N, P))
    show = limits.show_progress(None, float(N) * P)
    stop = threading.Event()  # set on Ctrl-C or an error: the other blocks return early
    f32 = np.float32
    empty_f32 = np.empty((2, 0), f32)

    def thresholds(D, bound, lam=None):
        """Fill thresholds ``cst * intensity`` at the depths ``D[..., side, :]`` (into ``lam``
        if given), zero on a side that would take ``|X|`` above ``x_max`` from ``bound``."""
        if curve is None:  # e^{-k D}: 0 at _FAR
            lam = np.multiply(D, -k, out=lam)
            np.exp(lam, out=lam)
        elif lam is None:
            lam = curve.rate(D)
        else:
            lam[...] = curve.rate(D)
        if bounded:
            lam[..., 0, bound >= xb] = 0.0
            lam[..., 1, bound <= -xb] = 0.0
        lam *= cst  # fill iff W < cst * lam
        return lam

    def draw(raw, gen, c, n_bitw, E, V, dmid):
        """The random numbers of ``len(E)`` steps, each step's in a fixed order: fills (the
        returned words, one row a step, or ``E[i]``), mid signs (the rows' tails), toxic flow
        (``V[i]``), mid moves (``dmid[i]``; one shared row for binomial mids, unused here)."""
        K, n_words = len(E), (c if linear else 0) + n_bitw
        if linear and binomial and not toxic:  # words only: one call, the same stream
            return raw(K * n_words).reshape(K, n_words)
        words = np.empty((K, n_words), np.uint64)
        for i in range(K):
            if linear:
                words[i] = raw(n_words)
            else:
                gen.standard_exponential(dtype=f32, out=E[i])
                if binomial:
                    words[i] = raw(n_words)
            if toxic:
                gen.random(dtype=f32, out=V[i])
            if not binomial:
                gen.standard_normal(out=dmid[i])
                dmid[i] *= sq
                if jumps:
                    cnt = gen.poisson(m.jump_rate * dt, c)
                    dmid[i] += np.sqrt(cnt) * m.jump_std * gen.standard_normal(c)
        return words

    def run_block(i, bar):
        a = i * C
        b = min(a + C, P)
        c = b - a
        gen = streams[i]
        raw = gen.bit_generator.random_raw
        n_bitw = -(-c // 64) if binomial else 0
        # cst, sq, -, toxic_prob, toxic_size (0: no toxic flow), table offset, sign words, binomial
        par = np.array([cst, sq, 0.0, m.toxic_prob, m.toxic_size if toxic else 0.0, 0.0,
                        c if linear else 0, binomial])
        info = np.zeros(2, dtype=np.int64)
        x_lo = x_hi = x0  # range of the inventories present
        st = np.zeros((7, c))
        st[_S] = m.s0
        st[_X] = x0
        s, x = st[_S], st[_X]
        if not tab:
            D = np.empty((2, c))
            lam = np.empty((2, c))
        E = np.empty((2, c), dtype=f32) if not linear else empty_f32
        V = np.empty((2, c), dtype=f32) if toxic else empty_f32
        dmid = np.empty(c)
        if L:  # ring buffer of the last L+1 mids; the maker quotes off the oldest
            hist = np.empty((L + 1, c))
            s0 = np.full(c, m.s0)
        if record:
            rec["s"][0, a:b], rec["x"][0, a:b], rec["cash"][0, a:b] = s, x, cash0
        n = 0
        while tab and not record and n < N:  # several steps a call (one step: below)
            if stop.is_set():
                return
            K = min(_STEPS_PER_CALL, N - n)
            # the inventories the block can reach in K steps, and their quotes at each step
            lo, hi = x_lo - K, x_hi + K
            if bounded:
                lo, hi = max(lo, -int(xb)), min(hi, int(xb))
            xs = np.arange(lo, hi + 1, dtype=float)
            DK = np.empty((K, 2, xs.size))
            finite = True
            try:
                for i in range(K):
                    finite &= bool(depths((n + i) * dt, xs, DK[i]))
            except ValueError:  # a table policy's grid ends within reach: step by step
                break
            if not finite:
                np.fmin(DK, _FAR, out=DK)
                if (DK[:, 0] + DK[:, 1]).min() < 0.0:  # a crossed quote somewhere: step by step
                    break
            lamK = thresholds(DK, xs)
            par[5] = lo
            EK = np.empty((K, 2, 0 if linear else c), dtype=f32)
            VK = np.empty((K, 2, c if toxic else 0), dtype=f32)
            dK = dmid[None] if binomial else np.empty((K, c))  # binomial: _step fills it
            wK = draw(raw, gen, c, n_bitw, EK, VK, dK)
            _steps(DK, lamK, wK, EK, dK, VK, st, par, info, linear)
            x_lo, x_hi = int(info[0]), int(info[1])
            n += K
            bar.update(K)
        for n in range(n, N):
            if stop.is_set():
                return
            t = n * dt
            if tab:  # depths of the built-in policy at the inventories present
                xs = np.arange(x_lo, x_hi + 1, dtype=float)
                D = np.empty((2, xs.size))
                finite = depths(t, xs, D)
                par[5] = x_lo
                if record:  # s - D = the posted prices
                    col = (x - x_lo).astype(np.intp)
                    np.subtract(s, D[0][col], out=rec["bid"][n, a:b])
                    np.add(s, D[1][col], out=rec["ask"][n, a:b])
                if not finite:  # NaN (side not quoted) and +inf: out of reach
                    D = np.fmin(D, _FAR)
                    _check_crossed(n, t, a, s, D, (x - x_lo).astype(np.intp))
                bound = xs
            else:
                if L:
                    hist[n % (L + 1)] = s
                    seen = hist[(n - L) % (L + 1)] if n >= L else s0
                else:
                    seen = s
                if depths is not None:  # with latency: quoted around the stale mid
                    finite = depths(t, x, D)
                    shift = s - seen  # depths from the current mid
                    D[0] += shift
                    D[1] -= shift
                    if record:
                        np.subtract(s, D[0], out=rec["bid"][n, a:b])
                        np.add(s, D[1], out=rec["ask"][n, a:b])
                else:  # quotes as depths D = (s - bid, ask - s)
                    bid, ask = _quotes(policy, t, seen, x, P)
                    if record:
                        rec["bid"][n], rec["ask"][n] = bid, ask
                    np.subtract(s, bid, out=D[0])
                    np.subtract(ask, s, out=D[1])
                    finite = False
                if not finite:  # NaN (side not quoted) and +inf: out of reach
                    np.fmin(D, _FAR, out=D)
                    _check_crossed(n, t, a, s, D, None)
                bound = x
            lam = thresholds(D, bound, None if tab else lam)
            words = draw(raw, gen, c, n_bitw, E[None], V[None], dmid[None])[0]
            _step(D, lam, words, E, dmid, V, st, par, info, per_path, linear)
            x_lo, x_hi = int(info[0]), int(info[1])
            if record:
                rec["s"][n + 1, a:b], rec["x"][n + 1, a:b] = s, x
                rec["cash"][n + 1, a:b] = cash0 + (st[_CM] + st[_SP])
            bar.update()
        out["s"][a:b], out["x"][a:b], out["nb"][a:b] = s, x, st[_NB]
        out["inv"][a:b], out["adv"][a:b], out["spread"][a:b] = st[_INV], st[_ADV], st[_SP]
        out["cash"][a:b] = cash0 + (st[_CM] + st[_SP])

    n_workers = min(workers, n_blocks)
    with np.errstate(over="ignore"), limits.progress_bar(N * n_blocks, "simulate", show) as bar:
        if n_workers == 1:
            for i in range(n_blocks):
                run_block(i, bar)
        else:
            def guarded(i):
                with np.errstate(over="ignore"):
                    try:
                        run_block(i, bar)
                    except BaseException:
                        stop.set()
                        raise
            with ThreadPoolExecutor(n_workers) as ex:
                try:
                    for _ in ex.map(guarded, range(n_blocks)):
                        pass
                except BaseException:  # Ctrl-C or a block's error: stop the others, re-raise
                    stop.set()
                    ex.shutdown(wait=True, cancel_futures=True)
                    raise
    paths = None
    if record:
        paths = SimulationPaths(t=np.linspace(0.0, m.T, N + 1), **rec)
    s, x, nb = out["s"], out["x"], out["nb"]
    na = nb - (x - x0)
    return s, x, out["cash"], nb, na, out["spread"], out["inv"], out["adv"], paths


def _check_crossed(n, t, a, s, D, col):
    """Raise if a path's quotes cross (bid above ask); ``D`` per path, or a table and ``col``."""
    spread = D[0] + D[1]  # < 0: bid above ask
    if spread.min() < 0.0:
        bad = spread < 0.0 if col is None else (spread < 0.0)[col]
        if not bad.any():  # crossed only at inventories no path holds
            return
        j = int(np.argmax(bad))
        r = j if col is None else col[j]
        _raise_crossed(n, t, a + j, s[j], D[0, r], D[1, r])


def _raise_crossed(n, t, path, s, d_b, d_a):
    bid, ask = s - d_b, s + d_a
    raise ValueError(
        f"crossed quotes at step {n} (t={t:.6g}), path {path}: bid {bid:.6g} is above ask "
        f"{ask:.6g}; simulate refuses a bid above its ask (the maker would trade with "
        "itself); a bid equal to the ask is allowed")


def _simulate_bytes(policy, m, n_paths, record, workers=None):
    """Bytes :func:`simulate` allocates (see its Raises section)."""
    workers = _default_workers() if workers is None else workers
    P = float(n_paths)
    builtin = type(policy) in _BUILTIN
    C = float(min(_CHUNK, n_paths)) if builtin else P
    running = min(workers, -(-n_paths // _CHUNK)) if builtin else 1  # blocks at once
    need = 8.0 * 7 * P + 8.0 * (24 + m.latency_steps + 1) * C * running
    if record:
        need += 8.0 * (5 * m.n_steps + 3) * P
    return need


def _default_workers():
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not on Linux
        return max(1, os.cpu_count() or 1)


def simulate(policy, market, n_paths, *, x0=0, cash0=0.0, rng=None, record=False, workers=None):
    r"""Simulate one market maker on ``n_paths`` independent paths at once.

    .. math:: C_T + X_T S_T - (C_0+X_0S_0) = \text{spread} + \sum X_{t-}\Delta S_t + [X,S]_T

    Parameters
    ----------
    policy : callable
        ``policy(t, s, x) -> (bid, ask)``: ``t`` a float, ``s`` and ``x``
        arrays of shape ``(n_paths,)`` (``x`` integer-valued floats); returns
        two arrays of that shape. NaN means the side is not quoted. Built-in:
        :class:`~mmlib.policies.ConstantPolicy`, :class:`~mmlib.policies.ASInventoryPolicy`,
        :class:`~mmlib.policies.ASSymmetricPolicy`, :class:`~mmlib.policies.GLFTPolicy`,
        :class:`~mmlib.policies.HJBPolicy`.
    market : MarketParams
    n_paths : int
        Number of paths, ``>= 1``.
    x0 : int
        Initial inventory (within ``market.x_max`` if set).
    cash0 : float
        Initial cash.
    rng : None, int or numpy.random.Generator
        Source of randomness; a seed makes the run reproducible.
    record : bool
        Also return full histories (memory ``~ 8 * 5 * n_steps * n_paths`` bytes).
    workers : int or None
        Threads that run the blocks of paths, ``>= 1``; ``None`` (default): one per
        available core. The result does not depend on it (see Notes).

    Returns
    -------
    SimulationResult

    Raises
    ------
    ValueError
        For an invalid argument, or a policy returning something other than
        two arrays of shape ``(n_paths,)``, or quotes so aggressive that the
        accounting became non-finite. For crossed quotes, a bid strictly above
        its ask (bid depth + ask depth < 0): the message names the first step
        and path where it happens (a bid equal to the ask is allowed; a NaN
        side is not quoted and never crosses). Before anything is allocated:
        for ``market.n_steps`` above ``mmlib.limits.MAX_STEPS`` (default
        10,000,000; e.g. ``T=1, dt=1e-9``), or a memory estimate above
        ``mmlib.limits.MAX_BYTES`` (default 4 GiB): about ``56 * n_paths``
        bytes of results plus ``200`` bytes a path for a callable policy (it
        sees all paths at once), plus ``8 * (5 * n_steps + 3) * n_paths`` with
        ``record=True``. The message names ``n_paths``, ``record``, the need
        and the limit.

    Notes
    -----
    With a built-in policy the paths run in blocks of 16,384, each block
    through all the steps, on ``workers`` threads (numpy and the compiled step
    kernel release the GIL); any other callable is called with all ``n_paths``
    at once (one block), as documented above. A built-in policy's quotes depend
    on ``(t, x)`` only, so each step asks it for the depths at the inventories
    present (a few values) and every path looks its own up.
    A run of more than :data:`mmlib.limits.PROGRESS_MIN_WORK` path-steps shows
    a tqdm progress bar in interactive use (:func:`mmlib.limits.show_progress`),
    silent in the book build; Ctrl-C stops it (``KeyboardInterrupt``
    propagates and nothing is returned). Memory is ``O(n_paths)``: the results (eight floats a path) and
    the buffers of the blocks running at once (about 2 MB each), unless ``record=True``.

    Random numbers: ``rng`` gives the entropy of one ``SeedSequence``, from which
    each block spawns its own PCG64 stream. A block's draws depend only on the
    seed and the block's index, never on ``workers`` or on the order the
    threads run, so a seed reproduces the run exactly; the first 16,384 paths
    are the same whatever ``n_paths``. A built-in policy and an equivalent
    callable see different (equally distributed) draws. Per path and step, in
    this order: for linear fills, one 64-bit word gives two 32-bit uniforms
    :math:`U = (J+1)/2^{32}` and a side at depth :math:`\delta` fills iff
    :math:`J + 1 < 2^{32} A\Delta t\, e^{-k\delta}`, i.e. iff
    :math:`U < \lambda\Delta t`, probability :math:`\min(\lambda\Delta t, 1)`;
    for Poisson fills two single-precision exponentials :math:`E` fill iff
    :math:`E < \lambda\Delta t`, probability :math:`1-e^{-\lambda\Delta t}`
    (one ``exp`` a depth, in double precision). Then one random bit (binomial),
    two uniforms for toxic flow if on, and one normal (Brownian) for the mid.
    None of these depend on ``sigma``. A fill at price :math:`p = S \mp \delta` moves cash by
    :math:`\epsilon p = \delta - S\,\Delta X`; cash is accumulated in these
    two parts. The ask-fill count is recovered as ``n_bid - (x_T - x0)``.

    With ``market.fill_curve`` other than exponential, the same draws decide
    the fills by :math:`E < \lambda(\delta)\Delta t` (or :math:`U < \lambda(\delta)\Delta t`),
    with :math:`\lambda` the curve's rate at the depth from the current mid.
    With ``market.latency_steps`` :math:`= L > 0` the policy quotes around
    :math:`S_{n-L}` (built-in policies: their depths are shifted by
    :math:`S_n - S_{n-L}`); fills, cash and the PnL split use the current mid,
    so a stale quote's edge :math:`p - S_n` can be negative. Neither option
    changes the order of the random draws: the defaults reproduce the
    engine without them bit for bit.

    References
    ----------
    Avellaneda and Stoikov (2008), section 4. The book's chapter *Avellaneda--Stoikov*.

    Examples
    --------
    >>> m = MarketParams(s0=100.0, sigma=2.0, A=140.0, k=1.5, T=1.0, dt=0.005)
    >>> res = simulate(ConstantPolicy(1.0, 1.0), m, n_paths=1000, rng=1)
    >>> float(abs(res.identity_residual()).max()) < 1e-9
    True
    """
    if not callable(policy):
        raise ValueError(f"policy must be callable (t, s, x) -> (bid, ask), got {policy!r}")
    if not isinstance(market, MarketParams):
        raise ValueError(f"market must be a MarketParams, got {type(market).__name__}")
    n_paths = check_int("n_paths", n_paths, lo=1)
    x0 = check_int("x0", x0)
    if market.x_max is not None and abs(x0) > market.x_max:
        raise ValueError(f"x0 must satisfy |x0| <= x_max = {market.x_max}, got {x0}")
    cash0 = check_real("cash0", cash0)
    workers = _default_workers() if workers is None else check_int("workers", workers, lo=1)
    N = market.n_steps
    limits.check_steps(f"T={market.T:g}, dt={market.dt:g}", N,
                       "use a larger dt (MarketParams(dt=...))")
    limits.check_memory(
        f"record=True at n_paths={n_paths:,} over {N:,} steps" if record
        else f"n_paths={n_paths:,}", _simulate_bytes(policy, market, n_paths, record, workers),
        "record fewer paths or use record=False" if record else "simulate fewer paths")
    if type(policy) is ConstantPolicy and policy.delta_b + policy.delta_a < 0:
        raise ValueError(
            f"crossed quotes at step 0 (t=0), path 0: ConstantPolicy(delta_b={policy.delta_b:g}, "
            f"delta_a={policy.delta_a:g}) puts the bid above the ask; simulate refuses a bid "
            "above its ask (the maker would trade with itself); a bid equal to the ask is allowed")
    gen = as_generator(rng)
    s, x, cash, nb, na, spread, inv, adv, paths = _kernel(
        policy, market, n_paths, x0, cash0, gen, bool(record), workers)
    if not (np.all(np.isfinite(cash)) and np.all(np.isfinite(spread))):
        raise ValueError("the accounting became non-finite: the policy posted quotes at "
                         "infinite prices that filled; return NaN for a side not quoted")
    return SimulationResult(market=market, n_paths=n_paths,
                            initial_wealth=cash0 + x0 * market.s0, cash=cash, x=x, s_T=s,
                            n_bid=nb, n_ask=na, spread_pnl=spread, inventory_pnl=inv,
                            adverse_pnl=adv, paths=paths)
