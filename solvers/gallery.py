"""Test problems: grid Poisson variants, fluid pressure systems, and pyamg's real matrices.

Every problem is a :class:`Problem`: ``A`` (a :class:`~solvers.stencil.StencilOperator`
for grid problems, so geometric multigrid applies, or a CSR matrix), ``b``, and a
description. Grid problems are cell-centred finite volumes on the unit cube (or
square) with ``h = 1/n`` scaled out (face weights are ``h^(d-2)`` times the face
conductivity, so constant-coefficient rows read ``2d, -1, ...``). Right-hand sides are
seeded standard normals, projected onto the range (mean removed) when the system is
singular (pure Neumann).
"""

from dataclasses import dataclass, field

import numpy as np
import scipy.sparse as sp

from solvers.stencil import StencilOperator

__all__ = ["Problem", "poisson", "obstacles", "two_phase", "lognormal", "pressure_system",
           "pyamg_example", "PROBLEMS", "make"]


@dataclass
class Problem:
    """A linear system ``A x = b`` with a name and what made it."""

    name: str
    A: object  # StencilOperator or scipy.sparse.csr_matrix
    b: np.ndarray
    info: dict = field(default_factory=dict)
    _csr: sp.csr_matrix | None = None

    @property
    def n(self) -> int:
        return self.A.shape[0]

    def matrix(self) -> sp.csr_matrix:
        """``A`` assembled as CSR (cached)."""
        if self._csr is None:
            self._csr = self.A.tocsr() if isinstance(self.A, StencilOperator) \
                else sp.csr_matrix(self.A)
        return self._csr

    @property
    def grid(self) -> StencilOperator | None:
        return self.A if isinstance(self.A, StencilOperator) else None


def _faces(shape: tuple[int, ...], conductivity: np.ndarray | None, spacing, boundary: str):
    """Face weights from cell conductivities (harmonic mean across a face), scaled by
    face area / distance; boundary faces Dirichlet (half cell to the wall) or closed."""
    dim = len(shape)
    k = np.ones(shape) if conductivity is None else conductivity
    h = np.ones(dim) / np.array(shape) if spacing is None else np.asarray(spacing, float)
    volume = np.prod(h)
    weights = []
    for d in range(dim):
        geom = volume / h[d] ** 2  # face area / distance between cell centres
        w = np.zeros(tuple(s + (j == d) for j, s in enumerate(shape)))
        a = np.take(k, range(shape[d] - 1), axis=d)
        c = np.take(k, range(1, shape[d]), axis=d)
        inner = [slice(None)] * dim
        inner[d] = slice(1, -1)
        w[tuple(inner)] = 2 * a * c / (a + c) * geom
        if boundary == "dirichlet":  # the wall value sits half a cell away: 2x the weight
            first, last = [slice(None)] * dim, [slice(None)] * dim
            first[d], last[d] = slice(0, 1), slice(-1, None)
            w[tuple(first)] = 2 * np.take(k, [0], axis=d) * geom
            w[tuple(last)] = 2 * np.take(k, [shape[d] - 1], axis=d) * geom
        weights.append(w)
    scale = 1.0 / (volume / np.min(h) ** 2)  # constant-coefficient rows read 2d, -1, ...
    return [w * scale for w in weights]


def _rhs(n: int, seed: int, singular: bool) -> np.ndarray:
    b = np.random.default_rng(seed).standard_normal(n)
    return b - b.mean() if singular else b


def _check_shape(shape) -> tuple[int, ...]:
    shape = tuple(int(s) for s in np.atleast_1d(shape))
    if len(shape) not in (2, 3) or min(shape) < 2:
        raise ValueError(f"shape must have 2 or 3 axes of at least 2 cells, got {shape}")
    return shape


def poisson(shape, *, boundary: str = "dirichlet", spacing=None, seed: int = 0,
            backend: str = "numpy") -> Problem:
    """``-div grad u = f`` on a box of cells ``shape``; ``boundary`` "dirichlet" (u = 0
    on the walls) or "neumann" (closed walls: singular, ``b`` projected); ``spacing``
    per axis (anisotropic cells; default ``1/n`` each)."""
    shape = _check_shape(shape)
    if boundary not in ("dirichlet", "neumann"):
        raise ValueError(f"boundary must be 'dirichlet' or 'neumann', got {boundary!r}")
    op = StencilOperator(_faces(shape, None, spacing, boundary), backend=backend)
    tag = "" if spacing is None else "_aniso"
    return Problem(f"poisson{len(shape)}d_{boundary}{tag}_{shape[0]}", op,
                   _rhs(op.shape[0], seed, boundary == "neumann"),
                   {"shape": shape, "boundary": boundary, "spacing": spacing})


def _solid_sphere_and_wall(shape: tuple[int, ...]) -> np.ndarray:
    """A sphere of radius 0.15 at (0.3, 0.5, ...) and a wall at x = 0.65 with a square
    hole pattern (every other block of n/8 cells open)."""
    centres = [(np.arange(s) + 0.5) / s for s in shape]
    grid = np.meshgrid(*centres, indexing="ij")
    r2 = (grid[0] - 0.3) ** 2 + sum((g - 0.5) ** 2 for g in grid[1:])
    solid = r2 < 0.15**2
    wall = np.abs(grid[0] - 0.65) < 1.5 / shape[0]
    block = max(shape[1] // 8, 1)
    holes = np.ones(shape, bool)
    for g, s in zip(grid[1:], shape[1:], strict=True):
        holes &= (np.floor(g * s / block) % 2) == 1
    return solid | (wall & ~holes)


def obstacles(shape, *, boundary: str = "dirichlet", seed: int = 0,
              backend: str = "numpy") -> Problem:
    """Poisson with voxelised obstacles (a sphere and a wall with holes): obstacle
    cells are not unknowns and their faces are closed (Neumann)."""
    shape = _check_shape(shape)
    solid = _solid_sphere_and_wall(shape)
    weights = _faces(shape, None, None, boundary)
    for d, w in enumerate(weights):  # close every face that touches an obstacle
        lo = np.concatenate([np.zeros_like(np.take(solid, [0], axis=d)), solid], axis=d)
        hi = np.concatenate([solid, np.zeros_like(np.take(solid, [0], axis=d))], axis=d)
        w[lo | hi] = 0.0
    op = StencilOperator(weights, mask=~solid, backend=backend)
    return Problem(f"obstacles{len(shape)}d_{shape[0]}", op,
                   _rhs(op.shape[0], seed, boundary == "neumann"),
                   {"shape": shape, "boundary": boundary, "solid_fraction": float(solid.mean())})


def two_phase(shape, *, ratio: float = 1000.0, seed: int = 0,
              backend: str = "numpy") -> Problem:
    """Variable-density pressure Poisson ``-div (1/rho) grad p``: random spheres of the
    dense phase (``rho = ratio``) in the light one (``rho = 1``); Dirichlet walls."""
    shape = _check_shape(shape)
    rng = np.random.default_rng(seed)
    grid = np.meshgrid(*[(np.arange(s) + 0.5) / s for s in shape], indexing="ij")
    dense = np.zeros(shape, bool)
    for _ in range(6):
        c, r = rng.uniform(0.2, 0.8, len(shape)), rng.uniform(0.08, 0.2)
        dense |= sum((g - ci) ** 2 for g, ci in zip(grid, c, strict=True)) < r * r
    k = np.where(dense, 1.0 / ratio, 1.0)
    op = StencilOperator(_faces(shape, k, None, "dirichlet"), backend=backend)
    return Problem(f"two_phase{len(shape)}d_{shape[0]}", op, _rhs(op.shape[0], seed, False),
                   {"shape": shape, "ratio": ratio, "dense_fraction": float(dense.mean())})


def lognormal(shape, *, sigma: float = 2.0, correlation: float = 0.1, seed: int = 0,
              backend: str = "numpy") -> Problem:
    """Darcy-type ``-div k grad u`` with ``log k`` a Gaussian random field of standard
    deviation ``sigma`` and Gaussian correlation length ``correlation`` (box units),
    made by filtering white noise with scipy's FFT; Dirichlet walls."""
    from scipy import fft

    shape = _check_shape(shape)
    rng = np.random.default_rng(seed)
    noise = rng.standard_normal(shape)
    freqs = np.meshgrid(*[fft.fftfreq(s) * s for s in shape], indexing="ij")
    filt = np.exp(-0.5 * (2 * np.pi * correlation) ** 2 * sum(f * f for f in freqs))
    g = fft.ifftn(fft.fftn(noise) * filt).real
    g = (g - g.mean()) / g.std()
    op = StencilOperator(_faces(shape, np.exp(sigma * g), None, "dirichlet"), backend=backend)
    return Problem(f"lognormal{len(shape)}d_{shape[0]}", op, _rhs(op.shape[0], seed, False),
                   {"shape": shape, "sigma": sigma, "correlation": correlation})


def pressure_system(dataset, *, split: str = "test", trajectory: int = 0, frame: int = -1,
                    backend: str = "numpy") -> Problem:
    """A pressure-Poisson system exported by the fluid simulator (``export:
    pressure_systems``), read through :func:`simkit.io.open_dataset`; ``b`` is the
    stored right-hand side (not re-drawn)."""
    from simkit.io import open_dataset

    with open_dataset(dataset) as ds:
        ids = ds.ids(split)
        if not 0 <= trajectory < len(ids):
            raise ValueError(f"trajectory must be in [0, {len(ids)}) for split {split!r}, "
                             f"got {trajectory}")
        frames = ds.trajectory(ids[trajectory]).frames
        table = ds.schema.tables["offset"]
        offsets = np.stack([np.asarray(table[d]) for d in ds.schema.space_dims], axis=1)
    f = frame % frames["stencil"].shape[0]
    op = StencilOperator.from_stencil(frames["stencil"][f], offsets, frames["mask"][f],
                                      backend=backend)
    b = op.from_grid(np.asarray(frames["rhs"][f], dtype=np.float64)).copy()
    return Problem(f"pressure_{split}{trajectory}_f{f}", op, b,
                   {"dataset": str(dataset), "split": split, "trajectory": trajectory,
                    "frame": f, "shape": op.grid_shape})


def pyamg_example(name: str, *, seed: int = 0) -> Problem:
    """A matrix from pyamg's gallery (``'airfoil'``, ``'bar'``, ``'knot'``,
    ``'unit_cube'``, ...), which the project did not make; random ``b``."""
    from pyamg.gallery import load_example

    try:
        data = load_example(name)
    except (KeyError, ValueError, FileNotFoundError) as err:
        raise ValueError(f"unknown pyamg example {name!r}: {err}") from err
    A = sp.csr_matrix(data["A"], dtype=np.float64)
    return Problem(f"pyamg_{name}", A, _rhs(A.shape[0], seed, False), {"source": "pyamg"})


PROBLEMS = {
    "poisson": poisson,
    "poisson_neumann": lambda shape, **kw: poisson(shape, boundary="neumann", **kw),
    "poisson_aniso": lambda shape, **kw: poisson(
        shape, spacing=[1.0 / s * (4.0 if d == 0 else 1.0) for d, s in enumerate(shape)], **kw),
    "obstacles": obstacles,
    "two_phase": two_phase,
    "lognormal": lognormal,
}


def make(spec: str, **kwargs) -> Problem:
    """A problem from a spec ``"kind:n"`` (3D ``n^3``), ``"kind:n2d"`` (2D ``n^2``),
    ``"pyamg:name"`` or ``"pressure:DATASET_PATH"`` (the last frame of the first test
    trajectory of a fluid ``pressure_systems`` dataset); ``kind`` one of :data:`PROBLEMS`."""
    kind, _, size = spec.partition(":")
    if kind == "pyamg":
        return pyamg_example(size, **kwargs)
    if kind == "pressure":
        return pressure_system(size, **kwargs)
    if kind not in PROBLEMS or not size:
        raise ValueError(f"problem spec must be 'kind:n', 'kind:n2d', 'pyamg:name' or "
                         f"'pressure:PATH' with kind one of {sorted(PROBLEMS)}, got {spec!r}")
    two_d = size.endswith("2d")
    n = int(size[:-2] if two_d else size)
    return PROBLEMS[kind]((n, n) if two_d else (n, n, n), **kwargs)
