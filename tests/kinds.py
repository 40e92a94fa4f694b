"""Small example datasets of every kind, shared by the I/O tests.

Each builder takes a numpy Generator and sizes, and returns ``(schema, trajectories)``
with random, finite values: what a round trip must give back bit for bit.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

from simkit.io import Schema, Trajectory, Variable
from simkit.io.linear_systems import csr_schema, encode_csr, stencil_schema


def grid_case(rng: np.random.Generator, *, ndim: int, n_traj: int, n_frames: int,
              res: int) -> tuple[Schema, list[Trajectory]]:
    space = ("y", "x") if ndim == 2 else ("z", "y", "x")
    sizes = {d: res + i for i, d in enumerate(space)}  # unequal sizes catch axis mix-ups
    sizes |= {"component": ndim, "row": ndim, "col": ndim, "face": 2 * ndim}
    schema = Schema(
        kind="grid",
        variables=(
            Variable("density", space, "kg/m^3"),
            Variable("velocity", ("component", *space), "m/s", dtype="float64"),
            Variable("stress", ("row", "col", *space), "Pa"),
            Variable("obstacle", space, "1", dtype="int8", static=True),
            Variable("conductivity", space, "W/(m K)", static=True),
            Variable("bc", ("face",), "1", dtype="int8", static=True,
                     flag_meanings=("periodic", "wall")),
        ),
        sizes=sizes, space_dims=space,
        coords={d: tuple(np.arange(sizes[d]) + 0.5) for d in space},
    )
    shape = tuple(sizes[d] for d in space)
    trajs = []
    for i in range(n_traj):
        trajs.append(Trajectory(
            id=f"g-{i}",
            frames={"density": rng.normal(1000, 5, (n_frames, *shape)).astype(np.float32),
                    "velocity": rng.normal(0, 1, (n_frames, ndim, *shape)),
                    "stress": rng.normal(0, 1e3, (n_frames, ndim, ndim, *shape)).astype(
                        np.float32)},
            static={"obstacle": (rng.random(shape) < 0.2).astype(np.int8),
                    "conductivity": rng.uniform(0.1, 1, shape).astype(np.float32),
                    "bc": rng.integers(0, 2, 2 * ndim).astype(np.int8)},
            params={"viscosity": float(rng.uniform(1e-3, 1e-2)), "shape": "box",
                    "n_modes": int(rng.integers(1, 5))},
            seed=int(rng.integers(2**31)), dt=1e-3, substeps=10))
    return schema, trajs


def particles_case(rng: np.random.Generator, *, counts: list[int], n_frames: int,
                   ndim: int = 2) -> tuple[Schema, list[Trajectory]]:
    schema = Schema(
        kind="particles",
        variables=(
            Variable("position", ("particle", "component"), "m"),
            Variable("velocity", ("particle", "component"), "m/s"),
            Variable("stress", ("particle", "row", "col"), "Pa"),
            Variable("particle_type", ("particle",), "1", dtype="int32", static=True),
            Variable("mass", ("particle",), "kg", static=True),
        ),
        sizes={"component": ndim, "row": ndim, "col": ndim},
        ragged_dim="particle",
        tables={"material": {"name": ("water", "sand", "jelly"), "density": (1e3, 2.2e3, 1e3)}},
    )
    trajs = []
    for i, n in enumerate(counts):
        trajs.append(Trajectory(
            id=f"p-{i}",
            frames={"position": rng.random((n_frames, n, ndim)).astype(np.float32),
                    "velocity": rng.normal(0, 1, (n_frames, n, ndim)).astype(np.float32),
                    "stress": rng.normal(0, 1, (n_frames, n, ndim, ndim)).astype(np.float32)},
            static={"particle_type": rng.integers(0, 3, n).astype(np.int32),
                    "mass": rng.uniform(0.5, 1.5, n).astype(np.float32)},
            params={"gravity": -9.81, "n": n}, seed=i))
    return schema, trajs


def nbody_case(rng: np.random.Generator, *, n_traj: int, n_frames: int,
               bodies: int) -> tuple[Schema, list[Trajectory]]:
    schema = Schema(
        kind="nbody",
        variables=(
            Variable("position", ("body", "component"), "m", dtype="float64"),
            Variable("velocity", ("body", "component"), "m/s", dtype="float64"),
            Variable("mass", ("body",), "kg", dtype="float64", static=True),
            Variable("energy", (), "J", dtype="float64"),
            Variable("momentum", ("component",), "kg m/s", dtype="float64"),
            Variable("angular_momentum", ("component",), "kg m^2/s", dtype="float64"),
        ),
        sizes={"body": bodies, "component": 3},
    )
    trajs = []
    for i in range(n_traj):
        trajs.append(Trajectory(
            id=f"n-{i}",
            frames={"position": rng.normal(0, 1e11, (n_frames, bodies, 3)),
                    "velocity": rng.normal(0, 3e4, (n_frames, bodies, 3)),
                    "energy": rng.normal(-1e33, 1e30, n_frames),
                    "momentum": rng.normal(0, 1e20, (n_frames, 3)),
                    "angular_momentum": rng.normal(0, 1e40, (n_frames, 3))},
            static={"mass": rng.uniform(1e24, 2e30, bodies)},
            params={"G": 6.674e-11}, seed=i, dt=3600.0, substeps=24))
    return schema, trajs


def _poisson_1d_blocks(n: int) -> sp.csr_matrix:
    return sp.diags([-1.0, 2.0, -1.0], [-1, 0, 1], shape=(n, n), format="csr")


def linear_csr_case(rng: np.random.Generator, *, n_traj: int, n_frames: int,
                    n: int) -> tuple[Schema, list[Trajectory]]:
    schema = csr_schema(n)
    trajs = []
    for i in range(n_traj):
        mats = []
        for _ in range(n_frames):
            A = _poisson_1d_blocks(n) + sp.diags(rng.uniform(0, 1, n))
            # random sparsification changes nnz from frame to frame
            A = A.tolil()
            for j in rng.integers(1, n, size=int(rng.integers(0, n))):
                A[j, j - 1] = 0.0
                A[j - 1, j] = 0.0
            mats.append(A.tocsr())
        for m in mats:
            m.eliminate_zeros()
        x = rng.normal(size=(n_frames, n))
        b = np.stack([m @ xi for m, xi in zip(mats, x, strict=True)])
        trajs.append(Trajectory(id=f"c-{i}", frames={**encode_csr(mats), "rhs": b,
                                                     "solution": x}, seed=i))
    return schema, trajs


def linear_stencil_case(rng: np.random.Generator, *, n_traj: int, n_frames: int,
                        res: int) -> tuple[Schema, list[Trajectory]]:
    from simkit.io.linear_systems import stencil_to_csr

    offsets = [(0, 0), (-1, 0), (1, 0), (0, -1), (0, 1)]
    schema = stencil_schema({"y": res, "x": res + 1}, offsets)
    shape = (res, res + 1)
    trajs = []
    for i in range(n_traj):
        frames: dict[str, list] = {"stencil": [], "rhs": [], "solution": [], "mask": []}
        for _ in range(n_frames):
            mask = (rng.random(shape) < 0.8).astype(np.int8)
            # 5-point Laplacian with Dirichlet walls, restricted to the mask
            st = np.zeros((5, *shape))
            st[0] = 4.0
            for o, (dy, dx) in enumerate(offsets[1:], start=1):
                nb = np.zeros(shape, dtype=bool)
                ys, xs = np.indices(shape)
                ok = (ys + dy >= 0) & (ys + dy < shape[0]) & (xs + dx >= 0) & (xs + dx < shape[1])
                nb[ok] = mask[(ys + dy)[ok], (xs + dx)[ok]] == 1
                st[o] = np.where(nb, -1.0, 0.0)
            st *= mask
            A, cells = stencil_to_csr(st, np.array(offsets), mask)
            x = np.zeros(shape)
            x.flat[cells] = rng.normal(size=len(cells))
            b = np.zeros(shape)
            b.flat[cells] = A @ x.flat[cells]
            for k, v in zip(frames, (st, b, x, mask), strict=True):
                frames[k].append(v)
        trajs.append(Trajectory(id=f"s-{i}", frames={k: np.stack(v) for k, v in frames.items()},
                                seed=i))
    return schema, trajs


def assert_trajectories_equal(a: Trajectory, b: Trajectory) -> None:
    assert a.id == b.id
    assert a.frames.keys() == b.frames.keys() and a.static.keys() == b.static.keys()
    # the format stores each variable at its schema dtype: float32 stays float32,
    # float64 stays float64, int8 stays int8 (the builders write arrays of those dtypes)
    for part in ("frames", "static"):
        for k, want in getattr(a, part).items():
            got = getattr(b, part)[k]
            np.testing.assert_array_equal(np.asarray(want), got, err_msg=k)
            assert got.dtype == np.asarray(want).dtype, (part, k, got.dtype, want.dtype)
    assert a.params == b.params
    assert a.seed == b.seed
    assert a.substeps == b.substeps
    np.testing.assert_equal(a.dt, b.dt)
