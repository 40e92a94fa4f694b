"""Online tuning of the SSOR relaxation factor ``omega`` over a sequence of linear systems.

"Learning to Relax" (Khodak, Chow, Balcan, Talwalkar, ICLR 2024): solve systems
``A_1 x = b_1, A_2 x = b_2, ...`` one after another with SSOR-preconditioned CG, choosing
``omega`` for each from a grid before solving it and seeing only the iterations it took.

Policies (all with ``choose(context=None) -> omega`` and ``update(cost)``, ``cost`` the
iterations of the last chosen ``omega``):

* :class:`TsallisINF`: the 1/2-Tsallis-INF bandit of Zimmert & Seldin (JMLR 2021) over the
  grid; its cumulative cost approaches the best fixed ``omega`` in hindsight.
* :class:`ChebCB`: the paper's contextual bandit for ``A_t = A + c_t I`` with known
  ``c_t``: per-``omega`` least-squares regression of the cost on Chebyshev polynomials of
  the context, arms drawn by inverse-gap weighting (SquareCB, Foster & Rakhlin 2020);
  it approaches the best ``omega`` *for each* context.
* :class:`TsallisINFCB`: the paper's simpler contextual baseline: the context range cut
  into bins, an independent :class:`TsallisINF` in each.
* :class:`FixedOmega`: always the same ``omega`` (the baselines).

:func:`tune_sequence` runs a policy over a sequence; :func:`fixed_omega_sweep` runs every
fixed ``omega`` of a grid over the same sequence (best fixed ``omega`` in hindsight).

Losses. Bandit theory wants losses in ``[0, 1]``: a cost ``k`` (iterations) becomes
``k / B`` with ``B = cost_bound`` when given, otherwise the largest cost seen so far
(so every loss is in ``[0, 1]``). Estimates are kept in iterations and divided by the
current ``B`` when the policy chooses, so a growing ``B`` rescales all past losses alike.
"""

import time
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from solvers.krylov import cg
from solvers.preconditioners import SSOR

__all__ = ["TsallisINF", "ChebCB", "TsallisINFCB", "FixedOmega", "TuneResult", "SweepResult",
           "tune_sequence", "fixed_omega_sweep", "paper_grid"]


def paper_grid(size: int = 20) -> np.ndarray:
    """The paper's action grid: ``size`` equispaced ``omega`` in ``[1, 1.95]``, shape (size,)."""
    if not (isinstance(size, int | np.integer) and size >= 1):
        raise ValueError(f"size must be an int >= 1, got {size!r}")
    return np.linspace(1.0, 1.95, int(size))


def _check_omegas(omegas) -> np.ndarray:
    try:
        w = np.asarray(omegas, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(f"omegas must be a 1-D sequence of floats, got {omegas!r}") from err
    if w.ndim != 1:
        raise ValueError(f"omegas must be 1-D, got shape {w.shape}")
    if w.size == 0:
        raise ValueError("omegas must not be empty: the grid needs at least one omega")
    bad = w[~(np.isfinite(w) & (w > 0) & (w < 2))]
    if bad.size:
        raise ValueError(f"every omega must lie in the open interval (0, 2) (SSOR is SPD "
                         f"only there), got {bad.tolist()}")
    if np.unique(w).size != w.size:
        raise ValueError(f"omegas must be distinct, got {w.tolist()}")
    return w


def _check_cost(cost) -> float:
    try:
        k = float(cost)
    except (TypeError, ValueError) as err:
        raise TypeError(f"cost must be a number (iterations), got {cost!r}") from err
    if not (np.isfinite(k) and k >= 0):
        raise ValueError(f"cost must be finite and >= 0, got {cost!r}")
    return k


def _check_bound(cost_bound) -> float | None:
    if cost_bound is None:
        return None
    b = float(cost_bound)
    if not (np.isfinite(b) and b > 0):
        raise ValueError(f"cost_bound must be finite and > 0 (or None), got {cost_bound!r}")
    return b


def _check_range(context_range, log_context: bool) -> tuple[float, float]:
    try:
        lo, hi = (float(v) for v in context_range)
    except (TypeError, ValueError) as err:
        raise ValueError(f"context_range must be a pair (low, high), got "
                         f"{context_range!r}") from err
    if not (np.isfinite(lo) and np.isfinite(hi) and lo < hi):
        raise ValueError(f"context_range must satisfy low < high (finite), got {(lo, hi)}")
    if log_context and lo <= 0:
        raise ValueError(f"log_context needs a positive context_range, got {(lo, hi)}")
    return lo, hi


class _Scaler:
    """Maps a context in ``context_range`` (or its log) to ``[-1, 1]``, clipping outside."""

    def __init__(self, context_range, log_context: bool) -> None:
        lo, hi = _check_range(context_range, log_context)
        self.log = bool(log_context)
        self.lo, self.hi = (np.log(lo), np.log(hi)) if self.log else (lo, hi)
        self.context_range = (lo, hi)

    def __call__(self, context) -> float:
        if context is None:
            raise ValueError("this policy is contextual: choose(context) needs the context "
                             "c_t (the shift of A_t = A + c_t I), got None")
        c = float(context)
        if not np.isfinite(c) or (self.log and c <= 0):
            raise ValueError(f"context must be finite{' and > 0' if self.log else ''}, got "
                             f"{context!r}")
        v = np.log(c) if self.log else c
        return float(np.clip(2 * (v - self.lo) / (self.hi - self.lo) - 1, -1.0, 1.0))


class _Policy:
    """Shared state: the grid, the generator, the loss scale, the pending choice."""

    contextual = False

    def __init__(self, omegas, cost_bound: float | None, seed) -> None:
        self.omegas = _check_omegas(omegas)
        self.cost_bound = _check_bound(cost_bound)
        self.rng = np.random.default_rng(seed)
        self.max_cost = 0.0
        self.t = 0  # completed rounds
        self._pending: int | None = None

    @property
    def scale(self) -> float:
        """``B``: losses are ``cost / B`` (``cost_bound``, else the largest cost seen)."""
        if self.cost_bound is not None:
            return self.cost_bound
        return max(self.max_cost, 1.0)

    def _observe(self, cost) -> tuple[int, float]:
        if self._pending is None:
            raise RuntimeError(f"{type(self).__name__}.update() called before choose()")
        k = _check_cost(cost)
        arm, self._pending = self._pending, None
        self.max_cost = max(self.max_cost, k)
        self.t += 1
        return arm, k


class TsallisINF(_Policy):
    """1/2-Tsallis-INF (Zimmert & Seldin 2021) over a grid of ``omega``.

    Round ``t`` (from 1) plays arm ``i`` with probability
    ``p_i = 4 / (eta_t (L_i - x))^2``, ``eta_t = 2 / sqrt(t)``, where ``L_i`` is the
    importance-weighted cumulative loss of arm ``i`` (the played arm adds
    ``loss / p_i``, the others nothing) and the normaliser ``x < min L`` makes the ``p_i``
    sum to 1; it is found by Newton's method from ``min L - 2 / eta_t``, which converges
    monotonically (the sum is increasing and convex in ``x``).

    Parameters
    ----------
    omegas : sequence of float, shape (K,)
        The grid; distinct values in ``(0, 2)``.
    cost_bound : float, optional
        ``B`` in ``loss = min(cost / B, 1)``; default the largest cost seen so far.
    seed : int or numpy Generator, optional

    Examples
    --------
    >>> bandit = TsallisINF([1.0, 1.5], seed=0)
    >>> omega = bandit.choose()
    >>> bandit.update(12)
    >>> float(bandit.probabilities().sum())
    1.0
    """

    def __init__(self, omegas, *, cost_bound: float | None = None, seed=None) -> None:
        super().__init__(omegas, cost_bound, seed)
        self.cumulative = np.zeros(self.omegas.size)  # importance-weighted costs, iterations
        self.newton_steps = 0  # of the last normaliser solve

    @property
    def eta(self) -> float:
        return 2.0 / np.sqrt(self.t + 1)

    def probabilities(self) -> np.ndarray:
        """Sampling distribution of the next round, shape (K,)."""
        eta = self.eta
        loss = self.cumulative / self.scale
        x = loss.min() - 2.0 / eta
        step = 0
        while step < 100:
            step += 1
            p = 4.0 / (eta * (loss - x)) ** 2
            excess = p.sum() - 1.0
            if abs(excess) <= 1e-12:
                break
            x -= excess / (eta * np.sum(p**1.5))
        self.newton_steps = step
        return p / p.sum()

    def choose(self, context=None) -> float:
        """Draw ``omega`` for the next system (``context`` is ignored)."""
        p = self.probabilities()
        self._pending = int(self.rng.choice(self.omegas.size, p=p))
        self._p = float(p[self._pending])
        return float(self.omegas[self._pending])

    def update(self, cost) -> None:
        """Feed back the cost (iterations) of the ``omega`` last chosen."""
        arm, k = self._observe(cost)
        if self.cost_bound is not None:
            k = min(k, self.cost_bound)
        self.cumulative[arm] += k / self._p


class ChebCB(_Policy):
    """Contextual bandit for ``A_t = A + c_t I``: the paper's ChebCB, simplified.

    The context ``c`` is mapped to ``z`` in ``[-1, 1]`` (linearly, or in ``log c`` with
    ``log_context=True``; outside ``context_range`` it is clipped). For each ``omega``
    the cost is regressed on the Chebyshev polynomials ``T_0(z) .. T_degree(z)`` over the
    rounds that played it (ridge least squares, penalty ``ridge (1 + j)^2`` on ``T_j``
    for ``j >= 1``). Arms are drawn by inverse-gap weighting (SquareCB): with predicted
    normalised losses ``y_i`` and the best ``y*``, ``p_i = 1 / (K + eta (y_i - y*))`` for
    the others, the rest on the best. ``eta_t = 2 sqrt(K) t / max(rms, 0.01)`` grows
    linearly, ``rms`` the root-mean-square error of the predictions made so far for the
    arms played (normalised units), as in the authors' code.

    Differences from the paper's ChebCB: ridge instead of box-constrained least squares
    (the paper's bounds need the cost's Lipschitz constant), the loss scale ``B`` is the
    running maximum instead of their ``K N``, and an arm never played predicts 0 (so
    each is tried once early on).

    Parameters
    ----------
    omegas : sequence of float, shape (K,)
    context_range : (float, float)
        Range of the context ``c`` (the paper passes the known min and max).
    degree : int
        Highest Chebyshev degree (the paper's ``m - 1``; it uses ``m = 6``).
    log_context : bool
        Regress on ``log c`` (for shifts spanning decades).
    ridge : float
        Regularisation of the per-arm least squares.
    cost_bound, seed : as :class:`TsallisINF`.

    Raises
    ------
    ValueError
        Bad grid, range (``low >= high``, or non-positive with ``log_context``), degree
        or ridge; ``choose()`` without a context.
    """

    contextual = True

    def __init__(self, omegas, context_range: tuple[float, float], *, degree: int = 5,
                 log_context: bool = False, ridge: float = 1e-3,
                 cost_bound: float | None = None, seed=None) -> None:
        super().__init__(omegas, cost_bound, seed)
        self._z = _Scaler(context_range, log_context)
        if not (isinstance(degree, int | np.integer) and 0 <= degree <= 30):
            raise ValueError(f"degree must be an int in [0, 30], got {degree!r}")
        if not (np.isfinite(ridge) and ridge > 0):
            raise ValueError(f"ridge must be finite and > 0, got {ridge!r}")
        self.degree, self.ridge = int(degree), float(ridge)
        K, m = self.omegas.size, self.degree + 1
        self._gram = np.zeros((K, m, m))  # sum of phi phi^T per arm
        self._moment = np.zeros((K, m))   # sum of phi * cost per arm
        self._count = np.zeros(K, dtype=np.int64)
        self._penalty = self.ridge * np.diag((1.0 + np.arange(m)) ** 2)
        self._penalty[0, 0] = 1e-9 * self.ridge
        self.theta = np.zeros((K, m))     # coefficients, iterations
        self._sq_error, self._errors = 0.0, 0

    def features(self, context) -> np.ndarray:
        """``(T_0(z), .., T_degree(z))`` of a context, shape (degree + 1,)."""
        z = self._z(context)
        return np.cos(np.arange(self.degree + 1) * np.arccos(z))

    def predict(self, context) -> np.ndarray:
        """Predicted cost (iterations) of every ``omega`` at ``context``, shape (K,)."""
        return self.theta @ self.features(context)

    @property
    def eta(self) -> float:
        rms = np.sqrt(self._sq_error / self._errors) if self._errors else 1.0
        return 2.0 * np.sqrt(self.omegas.size) * max(self.t, 1) / max(rms, 0.01)

    def probabilities(self, context) -> np.ndarray:
        """Inverse-gap-weighted distribution over the grid at ``context``, shape (K,)."""
        y = self.predict(context) / self.scale
        best = int(np.argmin(y))
        p = 1.0 / (self.omegas.size + self.eta * (y - y[best]))
        p[best] = 0.0
        p[best] = 1.0 - p.sum()
        return p

    def choose(self, context=None) -> float:
        """Draw ``omega`` for a system with shift ``context``."""
        phi = self.features(context)
        p = self.probabilities(context)
        self._pending = int(self.rng.choice(self.omegas.size, p=p))
        self._phi = phi
        self._predicted = float(self.theta[self._pending] @ phi)
        return float(self.omegas[self._pending])

    def update(self, cost) -> None:
        """Feed back the cost (iterations) of the ``omega`` last chosen."""
        arm, k = self._observe(cost)
        if self.cost_bound is not None:
            k = min(k, self.cost_bound)
        phi = self._phi
        self._sq_error += ((self._predicted - k) / self.scale) ** 2
        self._errors += 1
        self._gram[arm] += np.outer(phi, phi)
        self._moment[arm] += k * phi
        self._count[arm] += 1
        self.theta[arm] = np.linalg.solve(self._gram[arm] + self._penalty, self._moment[arm])


class TsallisINFCB(_Policy):
    """The paper's discretised contextual baseline: ``bins`` equal cells of the context
    range (of ``log c`` with ``log_context=True``), an independent :class:`TsallisINF`
    in each, the cell nearest the context playing.

    Parameters
    ----------
    omegas, context_range, log_context : as :class:`ChebCB`.
    bins : int
        Number of cells (the paper uses 6).
    cost_bound, seed : as :class:`TsallisINF`.
    """

    contextual = True

    def __init__(self, omegas, context_range: tuple[float, float], *, bins: int = 6,
                 log_context: bool = False, cost_bound: float | None = None,
                 seed=None) -> None:
        super().__init__(omegas, cost_bound, seed)
        self._z = _Scaler(context_range, log_context)
        if not (isinstance(bins, int | np.integer) and bins >= 1):
            raise ValueError(f"bins must be an int >= 1, got {bins!r}")
        self.bins = [TsallisINF(self.omegas, cost_bound=cost_bound, seed=self.rng)
                     for _ in range(int(bins))]

    def bin(self, context) -> int:
        """Index of the cell holding ``context``."""
        z = self._z(context)
        return min(int((z + 1) / 2 * len(self.bins)), len(self.bins) - 1)

    def choose(self, context=None) -> float:
        self._pending = self.bin(context)
        return self.bins[self._pending].choose()

    def update(self, cost) -> None:
        arm, k = self._observe(cost)
        self.bins[arm].update(k)


class FixedOmega(_Policy):
    """Always ``omega`` (a baseline with the policy interface)."""

    def __init__(self, omega: float) -> None:
        super().__init__([omega], None, None)
        self.omega = float(self.omegas[0])

    def choose(self, context=None) -> float:
        self._pending = 0
        return self.omega

    def update(self, cost) -> None:
        self._observe(cost)


@dataclass(frozen=True)
class TuneResult:
    """What :func:`tune_sequence` did, one entry per system (shapes ``(T,)``).

    ``omegas`` chosen, ``iterations`` CG took (``maxiter`` when it did not converge),
    ``seconds`` of wall time (choosing, SSOR setup, CG and the update), ``info`` CG's
    status (0 converged), ``contexts`` passed to the policy (NaN where none).
    """

    omegas: np.ndarray
    iterations: np.ndarray
    seconds: np.ndarray
    info: np.ndarray
    contexts: np.ndarray

    @property
    def total_iterations(self) -> int:
        return int(self.iterations.sum())

    @property
    def total_seconds(self) -> float:
        return float(self.seconds.sum())

    @property
    def converged(self) -> bool:
        return bool(np.all(self.info == 0))


@dataclass(frozen=True)
class SweepResult:
    """Every fixed ``omega`` over one sequence: ``omegas`` (K,), ``iterations`` and
    ``seconds`` (T, K), ``info`` (T, K)."""

    omegas: np.ndarray
    iterations: np.ndarray
    seconds: np.ndarray
    info: np.ndarray

    @property
    def totals(self) -> np.ndarray:
        """Cumulative iterations of each fixed ``omega``, shape (K,)."""
        return self.iterations.sum(axis=0)

    def best(self) -> tuple[float, int]:
        """Best fixed ``omega`` in hindsight and its cumulative iterations (ties: the
        smallest ``omega``)."""
        i = int(np.argmin(self.totals))
        return float(self.omegas[i]), int(self.totals[i])

    def total(self, omega: float) -> int:
        """Cumulative iterations of the grid point ``omega``."""
        hit = np.flatnonzero(np.isclose(self.omegas, omega, rtol=0, atol=1e-12))
        if hit.size == 0:
            raise ValueError(f"omega {omega!r} is not on the swept grid {self.omegas.tolist()}")
        return int(self.totals[hit[0]])

    def instance_optimal(self) -> int:
        """Sum over systems of the fewest iterations on the grid (each fixed ``omega``
        warm-started from its own previous solution, so this approximates the
        instance-optimal policy)."""
        return int(self.iterations.min(axis=1).sum())


def _unpack(system, t: int):
    try:
        parts = tuple(system)
    except TypeError as err:
        raise TypeError(f"system {t} must be a tuple (A, b) or (A, b, c), got "
                        f"{type(system).__name__}") from err
    if len(parts) == 2:
        return parts[0], parts[1], None
    if len(parts) == 3:
        return parts
    raise ValueError(f"system {t} must be (A, b) or (A, b, c), got {len(parts)} items")


def _solve(A, b, x0, omega: float, rtol: float, maxiter: int | None):
    count = [0]

    def tick(_xk) -> None:
        count[0] += 1

    x, info = cg(A, b, x0=x0, rtol=rtol, maxiter=maxiter, M=SSOR(A, omega).aspreconditioner(),
                 callback=tick)
    if info < 0:
        raise RuntimeError(f"SSOR-CG broke down (info {info}) at omega {omega}: A is not SPD")
    return x, (count[0] if info == 0 else info), info


def _check_solver_args(rtol, maxiter) -> None:
    if not (np.isfinite(rtol) and rtol > 0):
        raise ValueError(f"rtol must be finite and > 0, got {rtol!r}")
    if maxiter is not None and not (isinstance(maxiter, int | np.integer) and maxiter >= 1):
        raise ValueError(f"maxiter must be an int >= 1 or None, got {maxiter!r}")


def tune_sequence(systems: Iterable, policy, *, rtol: float = 1e-8,
                  maxiter: int | None = None, warm_start: bool = True) -> TuneResult:
    """Solve a sequence with SSOR-preconditioned CG at the ``omega`` a policy picks.

    For each system the policy chooses ``omega`` (given the context ``c`` when the
    system carries one), :func:`solvers.cg` solves it with ``M = SSOR(A, omega)`` from the
    previous solution, and the iterations go back to the policy.

    Parameters
    ----------
    systems : iterable of (A, b) or (A, b, c)
        ``A`` (n, n) SPD, ``b`` (n,); ``c`` the context. Consumed once.
    policy : object with ``choose(context) -> float`` and ``update(cost)``
        E.g. :class:`TsallisINF`, :class:`ChebCB`, :class:`FixedOmega`.
    rtol : float
        CG stops at ``||b - A x|| <= rtol ||b||``.
    maxiter : int, optional
        CG's cap (default ``10 n``); a system that hits it costs ``maxiter``.
    warm_start : bool
        Start each solve from the previous solution (when sizes agree).

    Returns
    -------
    TuneResult
        Per-system ``omegas``, ``iterations``, ``seconds``, ``info``, ``contexts``, (T,).

    Raises
    ------
    ValueError
        Bad ``rtol``/``maxiter``, a malformed system, a contextual policy without contexts.
    TypeError
        ``policy`` lacks ``choose``/``update``.
    RuntimeError
        CG breaks down (``A`` not SPD).

    Examples
    --------
    >>> from solvers.heat import heat_sequence
    >>> r = tune_sequence(heat_sequence(n=8, steps=3), FixedOmega(1.5))
    >>> r.iterations.shape
    (3,)
    """
    _check_solver_args(rtol, maxiter)
    if not (callable(getattr(policy, "choose", None)) and callable(getattr(policy, "update",
                                                                            None))):
        raise TypeError(f"policy must have choose(context) and update(cost), got "
                        f"{type(policy).__name__}")
    omegas, its, secs, infos, ctxs = [], [], [], [], []
    x = None
    for t, system in enumerate(systems):
        A, b, c = _unpack(system, t)
        start = time.perf_counter()
        omega = float(policy.choose(c))
        x0 = x if warm_start and x is not None and x.shape == np.shape(b) else None
        x, cost, info = _solve(A, b, x0, omega, rtol, maxiter)
        policy.update(cost)
        secs.append(time.perf_counter() - start)
        omegas.append(omega)
        its.append(cost)
        infos.append(info)
        ctxs.append(np.nan if c is None else float(c))
    return TuneResult(np.array(omegas), np.array(its, dtype=np.int64), np.array(secs),
                      np.array(infos, dtype=np.int64), np.array(ctxs))


def fixed_omega_sweep(systems: Iterable, omegas, *, rtol: float = 1e-8,
                      maxiter: int | None = None, warm_start: bool = True) -> SweepResult:
    """Iterations of every fixed ``omega`` of a grid on one sequence.

    One pass over ``systems``; each ``omega`` is warm-started from its own previous
    solution, so column ``k`` is exactly ``tune_sequence(systems, FixedOmega(omegas[k]))``.

    Parameters
    ----------
    systems : iterable of (A, b) or (A, b, c)
    omegas : sequence of float, shape (K,)
    rtol, maxiter, warm_start : as :func:`tune_sequence`.

    Returns
    -------
    SweepResult
        ``iterations``, ``seconds``, ``info`` of shape (T, K); ``best()`` gives the best
        fixed ``omega`` in hindsight.
    """
    grid = _check_omegas(omegas)
    _check_solver_args(rtol, maxiter)
    xs: list[np.ndarray | None] = [None] * grid.size
    its, secs, infos = [], [], []
    for t, system in enumerate(systems):
        A, b, _ = _unpack(system, t)
        row_i, row_s, row_f = [], [], []
        for k, omega in enumerate(grid):
            start = time.perf_counter()
            prev = xs[k]
            x0 = prev if warm_start and prev is not None and prev.shape == np.shape(b) else None
            xs[k], cost, info = _solve(A, b, x0, float(omega), rtol, maxiter)
            row_s.append(time.perf_counter() - start)
            row_i.append(cost)
            row_f.append(info)
        its.append(row_i)
        secs.append(row_s)
        infos.append(row_f)
    shape = (len(its), grid.size)
    return SweepResult(grid, np.array(its, dtype=np.int64).reshape(shape),
                       np.array(secs).reshape(shape),
                       np.array(infos, dtype=np.int64).reshape(shape))
