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

from dataclasses import dataclass

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


class PnLAccounts:
    """The self-financing accounts shared by :class:`SimulationResult` and
    :class:`~mmlib.competition.CompetitionResult`: total PnL, fills and the identity check.

    A subclass holds ``cash``, ``x``, ``s_T``, ``initial_wealth``, ``n_bid``, ``n_ask`` and
    the three components ``spread_pnl``, ``inventory_pnl``, ``adverse_pnl``, of one shape.
    """

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
    initial_wealth: float
    cash: np.ndarray
    x: np.ndarray
    s_T: np.ndarray
    n_bid: np.ndarray
    n_ask: np.ndarray
    spread_pnl: np.ndarray
    inventory_pnl: np.ndarray
    adverse_pnl: np.ndarray
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


def _kernel(policy, m, n_paths, x0, cash0, rng, record):
    """Run the paths forward in blocks of ``_CHUNK``, each block through all steps.

    A built-in policy writes its depths straight into a block's buffer, so a
    block's working set (~120 bytes a path, ~2 MB) stays in cache for the whole
    horizon and every array operation runs from L2. Any other callable sees all
    ``n_paths`` at once (one block), as its contract promises. Fills are tested
    on the depth against a threshold made from the random draw (no exponential
    per side); they enter the accounting as 0/1 multipliers, so an unquoted
    side is first moved out of reach (depth ``_FAR``) where it contributes 0.
    """
    N, dt, P = m.n_steps, m.dt, n_paths
    depths = policy._depths if type(policy) in _BUILTIN else None
    C = min(_CHUNK, P) if depths is not None else P
    f32 = np.float32
    curve = m.fill_curve
    A, k = (curve.A, curve.k) if isinstance(curve, ExponentialCurve) else (m.A, m.k)
    if isinstance(curve, ExponentialCurve):
        curve = None  # the exponential's own fast path, bit for bit
    log_adt = np.log(A * dt)
    linear = m.fill_model == "linear"
    # fill iff depth < a_thr + b_thr log W (see below), in single precision; for
    # linear fills W = J + 1 and the 2^-32 of U = W / 2^32 is folded into a_thr
    b_thr = f32(-1.0 / k)
    a_thr = f32((log_adt + (32 * np.log(2.0) if linear else 0.0)) / k)
    # another curve: fill iff W < lambda(depth) dt (times 2^32 for linear fills)
    lam_scale = dt * (2.0**32 if linear else 1.0)
    L = m.latency_steps
    tiny = np.finfo(f32).tiny
    sq = m.sigma * np.sqrt(dt)
    binomial = m.price_model == "binomial"
    jumps = m.price_model == "jump" and m.jump_rate > 0 and m.jump_std > 0
    toxic = m.toxic_prob > 0 and m.toxic_size > 0
    xb = m.x_max
    out = {name: np.empty(P) for name in ("s", "x", "cash", "nb", "spread", "inv", "adv")}
    if record:
        rec = {name: np.empty((N + 1, P)) for name in ("s", "x", "cash")}
        rec["bid"] = np.empty((N, P))
        rec["ask"] = np.empty((N, P))
    for a in range(0, P, C):
        b = min(a + C, P)
        c = b - a
        # block buffers (allocated per block: a few MB at most, a handful of blocks)
        D = np.empty((2, c))  # depths s - bid, ask - s
        G = np.empty((2, c))  # edge captured this step, per side
        sp = np.zeros((2, c))  # spread capture, per side
        cm = np.zeros(c)  # cash at the mid: - sum of S dX
        F = np.empty((2, c), dtype=bool)  # fills
        Fi = F.view(np.int8)
        w = np.empty((2, c), dtype=f32)  # fill thresholds on the depth
        dx = np.empty(c, dtype=np.int8)  # inventory change
        nbi = np.zeros(c, dtype=np.int16 if N < 2**15 else np.int64)  # bid fills
        n_bitw = -(-c // 64) if binomial else 0  # 64-bit words of mid-step signs
        ds = np.empty(c)
        tmp = np.empty(c)
        s, x = out["s"][a:b], out["x"][a:b]
        inv, adv, nb = out["inv"][a:b], out["adv"][a:b], out["nb"][a:b]
        s.fill(m.s0)
        x.fill(x0)
        inv.fill(0.0)
        adv.fill(0.0)
        if L:  # ring buffer of the last L+1 mids; the maker quotes off the oldest
            hist = np.empty((L + 1, c))
            shift = np.empty(c)
        if record:
            rec["s"][0, a:b], rec["x"][0, a:b], rec["cash"][0, a:b] = s, x, cash0
        for n in limits.steps(N, "simulate", work=float(N) * P):
            t = n * dt
            if L:
                hist[n % (L + 1)] = s
                seen = hist[(n - L) % (L + 1)] if n >= L else np.full(c, m.s0)
            else:
                seen = s
            # quotes as depths D = (s - bid, ask - s)
            if depths is not None:
                finite = depths(t, x, D)
                if L:  # quoted around the stale mid: depths from the current one
                    np.subtract(s, seen, out=shift)
                    D[0] += shift
                    D[1] -= shift
                if record:  # s - D = the posted prices, with latency or without
                    np.subtract(s, D[0], out=rec["bid"][n, a:b])
                    np.add(s, D[1], out=rec["ask"][n, a:b])
            else:
                bid, ask = _quotes(policy, t, seen, x, P)
                if record:
                    rec["bid"][n], rec["ask"][n] = bid, ask
                np.subtract(s, bid, out=D[0])
                np.subtract(ask, s, out=D[1])
                finite = False
            if not finite:  # NaN (side not quoted) and +inf: out of reach
                np.fmin(D, _FAR, out=D)
                np.add(D[0], D[1], out=tmp)  # the spread; < 0: bid above ask
                if tmp.min() < 0.0:
                    _raise_crossed(n, t, a + int(np.argmax(tmp < 0.0)), s, D, a)
            # linear: fill iff U < lambda dt, U uniform on (0, 1], probability
            # min(lambda dt, 1); exponential: iff E < lambda dt, E ~ Exp(1), probability
            # 1 - exp(-lambda dt). As lambda dt = A dt e^{-k D}, both read
            # D < (log(A dt) - log W) / k with W = U or E: one log per draw, no exp.
            if linear:  # U = (J + 1) / 2^32 from 32 random bits J, two per 64-bit word
                raw = rng.integers(0, 2**64, size=c + n_bitw, dtype=np.uint64)
                np.add(raw[:c].view(np.uint32).reshape(2, c), 1, out=w, dtype=f32,
                       casting="unsafe")
                bitw = raw[c:]
            else:
                rng.standard_exponential(dtype=f32, out=w)
                np.maximum(w, tiny, out=w)  # log finite: E = 0 -> tiny
            if curve is None:
                np.log(w, out=w)
                w *= b_thr
                w += a_thr
            if not linear:
                bitw = rng.integers(0, 2**64, size=n_bitw, dtype=np.uint64) if binomial else None
            if curve is None:
                np.less(D, w, out=F)
            else:
                np.less(w, curve.rate(D) * lam_scale, out=F)
            if xb is not None:
                F[0] &= x < xb
                F[1] &= x > -xb
            np.subtract(Fi[0], Fi[1], out=dx)
            # a fill at price p = S -+ delta moves cash by eps p = delta - S dX:
            # the edge (spread capture) plus the mid value of the inventory traded
            np.multiply(D, F, out=G)
            sp += G
            np.multiply(s, dx, out=tmp)
            cm -= tmp
            if toxic:
                v = rng.random((2, c), dtype=f32)
                jump = ((F[1] & (v[1] < m.toxic_prob)).astype(float)
                        - (F[0] & (v[0] < m.toxic_prob))) * m.toxic_size
                inv += x * jump  # X_{t-}: inventory before this step's fills
                adv += dx * jump  # covariation [X, S]: the markout of the fills
                s += jump
            x += dx
            nbi += Fi[0]
            if binomial:  # one random bit per path: +sq or -sq
                bits = np.unpackbits(bitw.view(np.uint8), count=c)
                np.multiply(bits, 2.0 * sq, out=ds)
                ds -= sq
            else:
                rng.standard_normal(c, out=ds)
                ds *= sq
                if jumps:
                    cnt = rng.poisson(m.jump_rate * dt, c)
                    ds += np.sqrt(cnt) * m.jump_std * rng.standard_normal(c)
            np.multiply(x, ds, out=tmp)
            inv += tmp
            s += ds
            if record:
                rec["s"][n + 1, a:b], rec["x"][n + 1, a:b] = s, x
                rec["cash"][n + 1, a:b] = cash0 + (cm + (sp[0] + sp[1]))
        np.add(sp[0], sp[1], out=out["spread"][a:b])
        out["cash"][a:b] = cash0 + (cm + out["spread"][a:b])
        nb[...] = nbi
    paths = None
    if record:
        paths = SimulationPaths(t=np.linspace(0.0, m.T, N + 1), **rec)
    s, x, nb = out["s"], out["x"], out["nb"]
    na = nb - (x - x0)
    return s, x, out["cash"], nb, na, out["spread"], out["inv"], out["adv"], paths


def _raise_crossed(n, t, path, s, D, a):
    j = path - a
    bid, ask = s[j] - D[0, j], s[j] + D[1, j]
    raise ValueError(
        f"crossed quotes at step {n} (t={t:.6g}), path {path}: bid {bid:.6g} is above ask "
        f"{ask:.6g}; simulate refuses a bid above its ask (the maker would trade with "
        "itself); a bid equal to the ask is allowed")


def _simulate_bytes(policy, m, n_paths, record):
    """Bytes :func:`simulate` allocates (see its Raises section)."""
    P = float(n_paths)
    C = float(min(_CHUNK, n_paths)) if type(policy) in _BUILTIN else P
    need = 8.0 * 7 * P + 8.0 * (24 + m.latency_steps + 1) * C
    if record:
        need += 8.0 * (5 * m.n_steps + 3) * P
    return need


def simulate(policy, market, n_paths, *, x0=0, cash0=0.0, rng=None, record=False):
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
    through all the steps, so that every array operation works in cache; any
    other callable is called with all ``n_paths`` at once, as documented
    above.
    A run of more than :data:`mmlib.limits.PROGRESS_MIN_WORK` path-steps shows
    a tqdm progress bar in interactive use (:func:`mmlib.limits.show_progress`),
    silent in the book build; Ctrl-C stops it (``KeyboardInterrupt``
    propagates and nothing is returned). Memory is ``O(n_paths)``: the results (eight floats a path) and
    the buffers of one block (about 2 MB), unless ``record=True``.

    Random numbers are drawn block by block and step by step from the one
    Generator (not all up front), in a fixed order, so a seed reproduces the
    run exactly; the stream depends on the blocks, so a built-in policy and an
    equivalent callable see different (equally distributed) draws. Per path
    and step: for linear fills, one 64-bit word gives two 32-bit uniforms
    :math:`U = (J+1)/2^{32}` and a side at depth :math:`\delta` fills iff
    :math:`\delta < (\log(A\Delta t) - \log U)/k`, i.e. iff
    :math:`U < \lambda\Delta t`, probability :math:`\min(\lambda\Delta t, 1)`;
    for Poisson fills two single-precision exponentials :math:`E` stand in for
    :math:`U`, probability :math:`1-e^{-\lambda\Delta t}`. Then two uniforms for
    toxic flow if on, and one random bit (binomial) or one normal (Brownian)
    for the mid. A fill at price :math:`p = S \mp \delta` moves cash by
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
    N = market.n_steps
    limits.check_steps(f"T={market.T:g}, dt={market.dt:g}", N,
                       "use a larger dt (MarketParams(dt=...))")
    limits.check_memory(
        f"record=True at n_paths={n_paths:,} over {N:,} steps" if record
        else f"n_paths={n_paths:,}", _simulate_bytes(policy, market, n_paths, record),
        "record fewer paths or use record=False" if record else "simulate fewer paths")
    if type(policy) is ConstantPolicy and policy.delta_b + policy.delta_a < 0:
        raise ValueError(
            f"crossed quotes at step 0 (t=0), path 0: ConstantPolicy(delta_b={policy.delta_b:g}, "
            f"delta_a={policy.delta_a:g}) puts the bid above the ask; simulate refuses a bid "
            "above its ask (the maker would trade with itself); a bid equal to the ask is allowed")
    gen = as_generator(rng)
    s, x, cash, nb, na, spread, inv, adv, paths = _kernel(
        policy, market, n_paths, x0, cash0, gen, bool(record))
    if not (np.all(np.isfinite(cash)) and np.all(np.isfinite(spread))):
        raise ValueError("the accounting became non-finite: the policy posted quotes at "
                         "infinite prices that filled; return NaN for a side not quoted")
    return SimulationResult(market=market, n_paths=n_paths,
                            initial_wealth=cash0 + x0 * market.s0, cash=cash, x=x, s_T=s,
                            n_bid=nb, n_ask=na, spread_pnl=spread, inventory_pnl=inv,
                            adverse_pnl=adv, paths=paths)
