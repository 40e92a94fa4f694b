"""Gravitational accelerations and potential energy by direct summation.

``accelerations(pos, mass, G, softening)`` returns ``a_i = G sum_j m_j (x_j - x_i) /
(|x_j - x_i|^2 + eps^2)^{3/2}`` (Plummer softening ``eps``). Few bodies use numpy
(a Taichi launch costs more than the sum); many use a Taichi kernel, one per float
type, parallel over the receiving body. The kernels take ``ti.ndarray`` arguments, so
they compile once per float type and Taichi program, whatever ``N``.
"""

import numpy as np

from simkit.runtime import per_program_cache

__all__ = ["accelerations", "potential_energy", "TAICHI_MIN_BODIES"]

#: Below this many bodies the numpy pairwise sum is faster than a kernel launch.
TAICHI_MIN_BODIES = 64

_KERNELS = per_program_cache()


def _kernels(dtype: np.dtype):
    """The ``(accel, potential)`` kernels of one float type (compiled once per program)."""
    return _KERNELS.get(np.dtype(dtype).str, lambda: _build_kernels(dtype))


def _build_kernels(dtype: np.dtype):
    import taichi as ti

    real = ti.f64 if np.dtype(dtype) == np.float64 else ti.f32

    # receiving bodies per thread: each source body, loaded once, serves B of them (on a
    # CPU that keeps the FPU busy; a GPU wants many threads, so a few bodies each)
    gpu = ti.lang.impl.current_cfg().arch in (ti.cuda, ti.vulkan, ti.metal)
    # (H200, N = 2^19: B = 1 8.4e11, B = 2 1.12e12 interactions/s in f32; f64 is best at 4)
    B = (2 if real == ti.f32 else 4) if gpu else (32 if real == ti.f32 else 8)

    @ti.kernel
    def accel(pos: ti.types.ndarray(dtype=real, ndim=2), mass: ti.types.ndarray(dtype=real, ndim=1),
              acc: ti.types.ndarray(dtype=real, ndim=2), G: real, eps2: real):
        n = pos.shape[0]
        one = ti.cast(1.0, real)
        zero = ti.cast(0.0, real)
        for blk in range((n + B - 1) // B):
            xi = ti.Vector([zero] * B)
            yi = ti.Vector([zero] * B)
            zi = ti.Vector([zero] * B)
            for k in ti.static(range(B)):
                i = ti.min(blk * B + k, n - 1)
                xi[k], yi[k], zi[k] = pos[i, 0], pos[i, 1], pos[i, 2]
            ax = ti.Vector([zero] * B)
            ay = ti.Vector([zero] * B)
            az = ti.Vector([zero] * B)
            for j in range(n):
                xj, yj, zj, mj = pos[j, 0], pos[j, 1], pos[j, 2], mass[j]
                for k in ti.static(range(B)):
                    dx = xj - xi[k]
                    dy = yj - yi[k]
                    dz = zj - zi[k]
                    r2 = dx * dx + dy * dy + dz * dz + eps2
                    inv = ti.select(r2 > zero, one / ti.sqrt(r2), zero)
                    s = mj * inv * inv * inv
                    ax[k] += s * dx
                    ay[k] += s * dy
                    az[k] += s * dz
            for k in ti.static(range(B)):
                i = blk * B + k
                if i < n:
                    acc[i, 0] = G * ax[k]
                    acc[i, 1] = G * ay[k]
                    acc[i, 2] = G * az[k]

    @ti.kernel
    def potential(pos: ti.types.ndarray(dtype=real, ndim=2),
                  mass: ti.types.ndarray(dtype=real, ndim=1), eps2: real) -> ti.f64:
        n = pos.shape[0]
        total = ti.f64(0.0)
        for i in range(n):
            s = ti.f64(0.0)
            for j in range(i + 1, n):
                dx = pos[j, 0] - pos[i, 0]
                dy = pos[j, 1] - pos[i, 1]
                dz = pos[j, 2] - pos[i, 2]
                s += ti.cast(mass[j] / ti.sqrt(dx * dx + dy * dy + dz * dz + eps2), ti.f64)
            total += ti.cast(mass[i], ti.f64) * s
        return total

    return accel, potential


def _pairwise(pos: np.ndarray, eps2: float) -> tuple[np.ndarray, np.ndarray]:
    d = pos[None, :, :] - pos[:, None, :]  # d[i, j] = x_j - x_i
    r2 = np.einsum("ijk,ijk->ij", d, d) + eps2
    np.fill_diagonal(r2, np.inf)
    return d, r2


def accelerations(pos: np.ndarray, mass: np.ndarray, G: float, softening: float = 0.0,
                  *, dtype=np.float64) -> np.ndarray:
    """``(N, 3)`` accelerations of bodies at ``pos`` ``(N, 3)`` with masses ``(N,)``.

    ``dtype`` (float32 or float64) is the precision of the Taichi kernel for large
    ``N``; few bodies are always summed in float64.
    """
    n = len(pos)
    if n < TAICHI_MIN_BODIES:
        d, r2 = _pairwise(pos, softening**2)
        w = mass[None, :] / (r2 * np.sqrt(r2))
        return G * np.einsum("ij,ijk->ik", w, d)
    accel, _ = _kernels(dtype)
    out = np.empty((n, 3), dtype=dtype)
    accel(np.ascontiguousarray(pos, dtype=dtype), np.ascontiguousarray(mass, dtype=dtype), out,
          G, softening**2)
    return out.astype(np.float64)


def potential_energy(pos: np.ndarray, mass: np.ndarray, G: float, softening: float = 0.0) -> float:
    """``-G sum_{i<j} m_i m_j / sqrt(r_ij^2 + eps^2)`` in float64."""
    n = len(pos)
    if n < TAICHI_MIN_BODIES:
        _, r2 = _pairwise(pos, softening**2)
        return float(-0.5 * G * np.sum(mass[:, None] * mass[None, :] / np.sqrt(r2)))
    _, potential = _kernels(np.float64)
    return -G * potential(np.ascontiguousarray(pos, dtype=np.float64),
                          np.ascontiguousarray(mass, dtype=np.float64), softening**2)
