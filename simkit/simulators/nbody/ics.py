"""Initial conditions: ``(masses (n,), positions (n, 3), velocities (n, 3))`` in the
centre-of-mass frame, N-body units (``G = 1``) unless a ``G`` is given."""

import math

import numpy as np

__all__ = ["kepler", "figure_eight", "FIGURE_EIGHT_PERIOD", "random_threebody", "plummer",
           "cold_collapse", "perturbed_lattice"]

#: Period of the Chenciner-Montgomery figure-eight orbit for G = m = 1.
FIGURE_EIGHT_PERIOD = 6.32591398


def _com(m, x, v):
    M = m.sum()
    return m, x - (m @ x) / M, v - (m @ v) / M


def kepler(a: float = 1.0, e: float = 0.0, M: float = 1.0, m: float = 1e-3,
           G: float = 1.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two bodies on a Kepler ellipse (semi-major axis ``a``, eccentricity ``e``), the
    secondary at pericentre moving along ``+y``; period ``2 pi sqrt(a^3 / G(M+m))``."""
    if not (a > 0 and 0 <= e < 1):
        raise ValueError(f"need a > 0 and 0 <= e < 1, got a={a!r}, e={e!r}")
    r = a * (1 - e)
    v = math.sqrt(G * (M + m) / a * (1 + e) / (1 - e))
    masses = np.array([M, m], dtype=np.float64)
    x = np.array([[0.0, 0.0, 0.0], [r, 0.0, 0.0]])
    vel = np.array([[0.0, 0.0, 0.0], [0.0, v, 0.0]])
    return _com(masses, x, vel)


def figure_eight() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Chenciner & Montgomery's (2000) figure-eight choreography, G = m = 1 (the
    initial conditions of Simo's computation, as usually quoted)."""
    x1 = np.array([0.97000436, -0.24308753, 0.0])
    v3 = np.array([-0.93240737, -0.86473146, 0.0])
    x = np.array([x1, -x1, np.zeros(3)])
    v = np.array([-v3 / 2, -v3 / 2, v3])
    return np.ones(3), x, v


def random_threebody(rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three equal masses (1/3 each) at rest-ish: positions uniform in the unit disc
    (plane z = 0), velocities small and random; virial ratio at most 0.1."""
    r = np.sqrt(rng.uniform(0, 1, 3))
    phi = rng.uniform(0, 2 * np.pi, 3)
    x = np.stack([r * np.cos(phi), r * np.sin(phi), np.zeros(3)], axis=1)
    m = np.full(3, 1.0 / 3.0)
    v = np.zeros((3, 3))
    v[:, :2] = rng.normal(0, 0.05, (3, 2))
    return _com(m, x, v)


def plummer(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A Plummer sphere in virial equilibrium, Henon units (G = M = 1, E = -1/4,
    virial radius 1, crossing time 2 sqrt 2), by the Aarseth, Henon & Wielen (1974)
    sampling (radii truncated at 99.9% of the mass)."""
    if n < 2:
        raise ValueError(f"a Plummer sphere needs n >= 2 bodies, got {n}")
    scale = 3 * np.pi / 16  # Plummer radius in Henon units
    X = rng.uniform(0, 0.999, n)
    r = 1.0 / np.sqrt(X ** (-2.0 / 3.0) - 1.0)
    u = _isotropic(rng, n)
    x = (r[:, None] * u) * scale
    q = np.empty(n)  # speed in units of the escape speed: g(q) = q^2 (1 - q^2)^3.5
    filled = 0
    while filled < n:
        a, b = rng.uniform(0, 1, n), rng.uniform(0, 0.1, n)
        ok = a[b < a**2 * (1 - a**2) ** 3.5]
        take = min(len(ok), n - filled)
        q[filled:filled + take] = ok[:take]
        filled += take
    v_esc = np.sqrt(2.0) * (1 + r**2) ** -0.25
    v = (q * v_esc)[:, None] * _isotropic(rng, n) / np.sqrt(scale)
    return _com(np.full(n, 1.0 / n), x, v)


def cold_collapse(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray,
                                                              np.ndarray]:
    """``n`` equal masses (total 1) uniform in the unit ball, at rest."""
    r = rng.uniform(0, 1, n) ** (1 / 3)
    return _com(np.full(n, 1.0 / n), r[:, None] * _isotropic(rng, n), np.zeros((n, 3)))


def perturbed_lattice(k: int, amplitude: float, box: float = 1.0, mode: int = 1,
                      rng: np.random.Generator | None = None, noise: float = 0.0
                      ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``k^3`` equal masses (total 1) on the cell centres of a periodic cube, at rest,
    displaced along ``x`` by ``amplitude * box * sin(2 pi mode x / box)`` (a plane
    density wave) plus, optionally, uniform random displacements of ``noise`` cells."""
    c = (np.arange(k) + 0.5) * box / k
    x = np.stack(np.meshgrid(c, c, c, indexing="ij"), axis=-1).reshape(-1, 3)
    x[:, 0] += amplitude * box * np.sin(2 * np.pi * mode * x[:, 0] / box)
    if noise:
        x += (rng or np.random.default_rng()).uniform(-noise, noise, x.shape) * box / k
    return np.full(k**3, 1.0 / k**3), np.mod(x, box), np.zeros((k**3, 3))


def _isotropic(rng: np.random.Generator, n: int) -> np.ndarray:
    u = rng.normal(size=(n, 3))
    return u / np.linalg.norm(u, axis=1, keepdims=True)
