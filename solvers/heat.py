"""The 2D heat-equation sequence of linear systems of Khodak et al. (ICLR 2024), Sec. 6.

``du/dt = kappa(t) Laplacian(u) + f(t, x)`` on the unit square ``[0, 1]^2`` (metres), zero
Dirichlet walls, stepped by Crank-Nicolson on the ``n x n`` interior points of a uniform
grid with spacing ``h = 1 / (n + 1)`` (the paper's ``nx = n + 1``). Time is in seconds,
``kappa`` in m^2/s, ``u`` in kelvin (any temperature unit), ``f`` in K/s.

Step ``t`` (``t = 0 .. steps - 1``, mid-step time ``tau = (t + 1/2) dt``) solves
``(I + s K) u_{t+1} = (I - s K) u_t + dt f(tau)`` with ``s = kappa(tau) dt / 2`` and ``K``
the 5-point negative Laplacian (SPD, units 1/m^2). Divided by ``s`` this is the system
handed out::

    A_t = K + c_t I,   b_t = (c_t I - K) u_t + (2 / kappa(tau)) f(tau),   c_t = 2 / (kappa(tau) dt)

so every ``A_t`` is the same ``K`` shifted by a known scalar ``c_t`` (1/m^2), the setting
of the paper's contextual bandit. Dividing a system by ``s`` changes neither its solution
nor the iterations of SSOR-preconditioned CG at a relative tolerance (SSOR's ``M``
scales with ``A``), so iteration counts match the paper's ``I - s L`` form.

As in the paper (its ``scripts/h2d.m``): ``kappa(t) = max(0.1 sin(2 pi t), -10 sin(2 pi t))``,
5 s of simulated time by default, a forcing ``32 bump(x; centre, 1/8)`` whose centre
circles ``(1/2, 1/2)`` at radius ``1/4`` with angular frequency ``16 pi`` rad/s, and an
initial bump of radius ``1/4`` at the centre. Differences:

* randomness (the paper's is deterministic): the forcing orbit starts at a seeded
  random phase, and the initial condition adds a seeded random smooth field (the
  lowest 8 x 8 sine modes with amplitudes ``N(0, 0.1^2) / (j + k)``);
* each ``u_{t+1}`` is the exact solution of ``A_t u = b_t`` (a fast sine-transform
  solve, to rounding), not the iterative solver's answer, so every policy is scored on
  the same sequence of systems (the paper steps with each solver's own output, which
  differs from this by the solver tolerance);
* ``n`` counts interior points (the paper's ``nx`` counts intervals: ``nx = n + 1``);
* ``kappa`` is floored at ``1e-6`` m^2/s, so that ``c_t`` stays finite where
  ``sin(2 pi t) = 0`` (a mid-step time on a multiple of 0.5 s); the paper's ``I - s L``
  form allows ``kappa = 0`` there, and the two differ by a diffusion of ``1e-6 dt`` m^2.
"""

from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import scipy.fft
import scipy.sparse as sp

__all__ = ["HeatSystem", "HeatSequence", "heat_sequence", "diffusion_coefficient"]

KAPPA_HEATING = 0.1    # m^2/s, peak diffusion coefficient while sin(2 pi t) > 0
KAPPA_COOLING = 10.0   # m^2/s, peak while sin(2 pi t) < 0
FORCING_PEAK = 32.0    # K/s, height of the moving source bump
FORCING_RADIUS = 0.125  # m
ORBIT_RADIUS = 0.25    # m, radius of the source's circular path around the centre
ORBIT_OMEGA = 16 * np.pi  # rad/s
INITIAL_RADIUS = 0.25  # m
NOISE_MODES = 8        # random initial field: the lowest NOISE_MODES^2 sine modes
NOISE_AMPLITUDE = 0.1  # K
KAPPA_FLOOR = 1e-6     # m^2/s: kappa is floored here (it vanishes where sin(2 pi t) = 0)


class HeatSystem(NamedTuple):
    """One Crank-Nicolson step: solve ``A x = b`` with ``A = K + c I``.

    Shapes: ``A`` (n*n, n*n) CSR, SPD; ``b`` (n*n,) (row-major over the grid, ``x`` fastest
    varying last); ``c`` a float in 1/m^2.
    """

    A: sp.csr_matrix
    b: np.ndarray
    c: float


def diffusion_coefficient(t) -> np.ndarray:
    """``kappa(t) = max(0.1 sin(2 pi t), -10 sin(2 pi t))`` in m^2/s for ``t`` in seconds
    (any shape); positive except where ``sin(2 pi t) = 0``."""
    s = np.sin(2 * np.pi * np.asarray(t, dtype=np.float64))
    return np.maximum(KAPPA_HEATING * s, -KAPPA_COOLING * s)


def _bump(x: np.ndarray, y: np.ndarray, cx: float, cy: float, radius: float) -> np.ndarray:
    """``exp(1 - 1 / (1 - r^2 / radius^2))`` inside the disc, 0 outside (peak 1)."""
    q = np.minimum(((x - cx) ** 2 + (y - cy) ** 2) / radius**2, 1.0)
    out = np.zeros_like(q)
    inside = q < 1
    out[inside] = np.exp(1 - 1 / (1 - q[inside]))
    return out


def laplacian(n: int) -> sp.csr_matrix:
    """The 5-point negative Laplacian ``K`` on ``n x n`` interior points of the unit square
    with zero Dirichlet walls, ``h = 1/(n+1)``: rows read ``(4, -1, -1, -1, -1) / h^2``.

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n*n, n*n), units 1/m^2
    """
    h = 1.0 / (n + 1)
    T = sp.diags([-np.ones(n - 1), 2 * np.ones(n), -np.ones(n - 1)], [-1, 0, 1])
    eye = sp.identity(n)
    return ((sp.kron(eye, T) + sp.kron(T, eye)) / h**2).tocsr()


class HeatSequence:
    """The sequence of ``steps`` systems ``(A_t, b_t, c_t)``; iterate it (as often as
    wanted: each pass re-steps the simulation from the seeded initial condition).

    Parameters
    ----------
    n : int
        Interior grid points per side (>= 2); systems have ``n * n`` unknowns.
    steps : int
        Number of time steps (systems), >= 1.
    stop_time : float
        Simulated time in seconds; ``dt = stop_time / steps``. The paper: 5 s, 5000 steps.
    seed : int or None
        Seeds the forcing's initial phase and the random part of the initial condition.

    Attributes
    ----------
    dt, h : float
        Time step (s) and grid spacing (m).
    times : (steps,) mid-step times ``(t + 1/2) dt`` in s.
    coefficients : (steps,) ``kappa`` at the mid-step times, m^2/s, floored at 1e-6.
    shifts : (steps,) ``c_t = 2 / (kappa dt)`` in 1/m^2 (known before solving: the context).
    K : (n*n, n*n) CSR, the negative Laplacian.
    u0 : (n*n,) initial temperature, K.

    Examples
    --------
    >>> seq = HeatSequence(n=16, steps=10, seed=0)
    >>> A, b, c = next(iter(seq))
    >>> A.shape, b.shape, bool(c == seq.shifts[0])
    ((256, 256), (256,), True)
    """

    def __init__(self, n: int = 99, steps: int = 5000, *, stop_time: float = 5.0,
                 seed: int | None = 0) -> None:
        if not (isinstance(n, int | np.integer) and n >= 2):
            raise ValueError(f"n must be an int >= 2, got {n!r}")
        if not (isinstance(steps, int | np.integer) and steps >= 1):
            raise ValueError(f"steps must be an int >= 1, got {steps!r}")
        if not (np.isfinite(stop_time) and stop_time > 0):
            raise ValueError(f"stop_time must be finite and > 0, got {stop_time!r}")
        self.n, self.steps = int(n), int(steps)
        self.dt = float(stop_time) / self.steps
        self.h = 1.0 / (self.n + 1)
        self.times = (np.arange(self.steps) + 0.5) * self.dt
        self.coefficients = np.maximum(diffusion_coefficient(self.times), KAPPA_FLOOR)
        self.shifts = 2.0 / (self.coefficients * self.dt)
        self.K = laplacian(self.n)
        g = np.arange(1, self.n + 1) * self.h
        self._y, self._x = np.meshgrid(g, g, indexing="ij")
        rng = np.random.default_rng(seed)
        self.phase = float(rng.uniform(0, 2 * np.pi))
        m = min(NOISE_MODES, self.n)
        j = np.arange(1, m + 1)
        amplitude = NOISE_AMPLITUDE * rng.standard_normal((m, m)) / (j[:, None] + j[None, :])
        sines = np.sin(np.pi * g[:, None] * j[None, :])  # (n, m): sin(j pi x_i)
        noise = sines @ amplitude @ sines.T  # sum_jk a_jk sin(j pi y) sin(k pi x)
        self.u0 = (_bump(self._x, self._y, 0.5, 0.5, INITIAL_RADIUS) + noise).ravel()
        k = np.arange(1, self.n + 1)
        lam = 4 / self.h**2 * np.sin(k * np.pi * self.h / 2) ** 2
        self._eigenvalues = lam[:, None] + lam[None, :]  # of K, in the sine basis

    def __len__(self) -> int:
        return self.steps

    def __repr__(self) -> str:
        return (f"HeatSequence(n={self.n}, steps={self.steps}, dt={self.dt:g} s, "
                f"c in [{self.shifts.min():.3g}, {self.shifts.max():.3g}] 1/m^2)")

    def forcing(self, t: float) -> np.ndarray:
        """Source ``f(t)`` in K/s at the grid points, shape (n*n,)."""
        angle = ORBIT_OMEGA * t + self.phase
        return FORCING_PEAK * _bump(self._x, self._y, 0.5 + ORBIT_RADIUS * np.cos(angle),
                                    0.5 + ORBIT_RADIUS * np.sin(angle),
                                    FORCING_RADIUS).ravel()

    def solve_exact(self, c: float, b: np.ndarray) -> np.ndarray:
        """``(K + c I)^-1 b`` by the orthonormal type-I sine transform (which diagonalises
        ``K``), to rounding. Shapes: ``b`` (n*n,) -> (n*n,)."""
        B = scipy.fft.dstn(np.reshape(b, (self.n, self.n)), type=1, norm="ortho")
        return scipy.fft.idstn(B / (self._eigenvalues + c), type=1, norm="ortho").ravel()

    def system(self, t: int, u: np.ndarray) -> HeatSystem:
        """System of step ``t`` from the temperature ``u`` (n*n,) at its start."""
        c = float(self.shifts[t])
        A = (self.K + sp.identity(self.n**2, format="csr") * c).tocsr()
        b = c * u - self.K @ u + (2.0 / self.coefficients[t]) * self.forcing(self.times[t])
        return HeatSystem(A, b, c)

    def __iter__(self) -> Iterator[HeatSystem]:
        u = self.u0.copy()
        for t in range(self.steps):
            s = self.system(t, u)
            yield s
            u = self.solve_exact(s.c, s.b)


def heat_sequence(n: int = 99, steps: int = 5000, *, stop_time: float = 5.0,
                  seed: int | None = 0) -> HeatSequence:
    """The paper's heat-equation sequence; see :class:`HeatSequence` (same arguments).

    Defaults are the paper's ``nx = 100`` case: 99 x 99 unknowns, 5000 steps over 5 s.

    Returns
    -------
    HeatSequence
        Iterable of :class:`HeatSystem` ``(A, b, c)`` with ``A`` (n*n, n*n), ``b`` (n*n,).

    Raises
    ------
    ValueError
        ``n < 2``, ``steps < 1`` or a non-positive ``stop_time``.
    """
    return HeatSequence(n, steps, stop_time=stop_time, seed=seed)
