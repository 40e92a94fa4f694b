"""Barnes-Hut gravity: a linear octree built with numpy, walked by a Taichi kernel.

Build: Morton keys (21 bits per axis) of the bodies, sorted; the nodes of each level
are the distinct key prefixes, subdivided while they hold more than ``leaf_size``
bodies; every node stores its mass, centre of mass and quadrupole moment (about the
centre of mass), and the nodes are laid out in depth-first order with a ``skip``
index (the node after its subtree), so that the walk needs no stack. Walk: a node
of side ``s`` at distance ``d`` from the body is used whole (monopole + quadrupole)
when ``s / d < theta``, otherwise opened; leaves are summed directly.

Written by hand: no maintained Python library provides a Barnes-Hut force for
arbitrary bodies (REBOUND's tree lives inside its own simulation object).
"""

import numpy as np

from simkit.runtime import per_program_cache

__all__ = ["build_tree", "tree_accelerations"]

_BITS = 21
_KERNELS = per_program_cache()


def _spread(v: np.ndarray) -> np.ndarray:
    """Insert two zero bits between the 21 low bits of ``v`` (uint64)."""
    v = v & np.uint64(0x1FFFFF)
    for shift, mask in ((32, 0x1F00000000FFFF), (16, 0x1F0000FF0000FF), (8, 0x100F00F00F00F00F),
                        (4, 0x10C30C30C30C30C3), (2, 0x1249249249249249)):
        v = (v | (v << np.uint64(shift))) & np.uint64(mask)
    return v


def build_tree(pos: np.ndarray, mass: np.ndarray, leaf_size: int = 8) -> dict:
    """The octree of bodies ``pos`` ``(N, 3)``; arrays keyed by name (see module doc)."""
    lo = pos.min(axis=0)
    side = float((pos.max(axis=0) - lo).max()) * (1 + 1e-9) or 1.0
    cells = np.minimum(((pos - lo) / side * 2**_BITS).astype(np.uint64), 2**_BITS - 1)
    keys = _spread(cells[:, 0]) << np.uint64(2) | _spread(cells[:, 1]) << np.uint64(1) | _spread(
        cells[:, 2])
    order = np.argsort(keys, kind="stable")
    keys, x, m = keys[order], pos[order], mass[order]
    cm = np.concatenate([[0.0], np.cumsum(m)])
    cmx = np.concatenate([np.zeros((1, 3)), np.cumsum(m[:, None] * x, axis=0)])
    cmxx = np.concatenate([np.zeros((1, 3, 3)),
                           np.cumsum(m[:, None, None] * x[:, :, None] * x[:, None, :], axis=0)])
    starts, ends, levels, firsts = [], [], [], []
    open_ranges = [(0, len(x))]
    for level in range(_BITS + 1):
        shift = np.uint64(3 * (_BITS - level))
        next_open = []
        for a, b in open_ranges:
            prefix = keys[a:b] >> shift
            cut = np.flatnonzero(np.diff(prefix)) + 1
            for s, e in zip(np.r_[0, cut] + a, np.r_[cut, b - a] + a, strict=True):
                starts.append(s)
                ends.append(e)
                levels.append(level)
                firsts.append(keys[s] >> shift << shift)
                if e - s > leaf_size and level < _BITS:
                    next_open.append((s, e))
        open_ranges = next_open
        if not open_ranges:
            break
    starts, ends, levels = np.array(starts), np.array(ends), np.array(levels)
    firsts = np.array(firsts, dtype=np.uint64)
    dfs = np.lexsort((levels, firsts))  # depth-first: by first key, parents first
    starts, ends, levels, firsts = starts[dfs], ends[dfs], levels[dfs], firsts[dfs]
    span = np.uint64(1) << (np.uint64(3) * (np.uint64(_BITS) - levels.astype(np.uint64)))
    # the subtree of a node is the run of nodes after it whose cube starts below its end
    skip = np.searchsorted(firsts, firsts + span, side="left")
    node_mass = cm[ends] - cm[starts]
    com = (cmx[ends] - cmx[starts]) / np.maximum(node_mass, 1e-300)[:, None]
    outer = com[:, :, None] * com[:, None, :]
    second = cmxx[ends] - cmxx[starts] - node_mass[:, None, None] * outer  # about the COM
    quad = 3 * second - np.trace(second, axis1=1, axis2=2)[:, None, None] * np.eye(3)
    leaf = np.r_[levels[1:] <= levels[:-1], True]  # no child follows
    return {"order": order, "x": x, "m": m, "start": starts, "end": ends, "skip": skip,
            "leaf": leaf.astype(np.int32), "size": side / 2.0**levels, "mass": node_mass,
            "com": com, "quad": quad.reshape(-1, 9)}


def _kernel():
    """The tree-walk kernel (compiled once per program)."""
    return _KERNELS.get("walk", _build_kernel)


def _build_kernel():
    import taichi as ti

    arr = ti.types.ndarray

    @ti.kernel
    def walk(x: arr(dtype=ti.f64, ndim=2), m: arr(dtype=ti.f64, ndim=1),
             start: arr(dtype=ti.i32, ndim=1), end: arr(dtype=ti.i32, ndim=1),
             skip: arr(dtype=ti.i32, ndim=1), leaf: arr(dtype=ti.i32, ndim=1),
             size: arr(dtype=ti.f64, ndim=1), nmass: arr(dtype=ti.f64, ndim=1),
             com: arr(dtype=ti.f64, ndim=2), quad: arr(dtype=ti.f64, ndim=2),
             acc: arr(dtype=ti.f64, ndim=2), theta2: ti.f64, eps2: ti.f64, G: ti.f64):
        n_nodes = start.shape[0]
        for i in range(x.shape[0]):
            xi = ti.Vector([x[i, 0], x[i, 1], x[i, 2]])
            a = ti.Vector([0.0, 0.0, 0.0])
            k = 0
            while k < n_nodes:
                d = ti.Vector([com[k, 0], com[k, 1], com[k, 2]]) - xi
                r2 = d.dot(d)
                if leaf[k]:
                    for j in range(start[k], end[k]):
                        dj = ti.Vector([x[j, 0], x[j, 1], x[j, 2]]) - xi
                        q2 = dj.dot(dj) + eps2
                        if q2 > 0:
                            a += m[j] * dj / (q2 * ti.sqrt(q2))
                    k = skip[k]
                elif size[k] * size[k] < theta2 * r2:
                    q2 = r2 + eps2
                    inv = 1.0 / ti.sqrt(q2)
                    inv2 = inv * inv
                    Q = ti.Matrix([[quad[k, 0], quad[k, 1], quad[k, 2]],
                                   [quad[k, 3], quad[k, 4], quad[k, 5]],
                                   [quad[k, 6], quad[k, 7], quad[k, 8]]])
                    Qd = Q @ d
                    dQd = d.dot(Qd)
                    # monopole, then the quadrupole: phi = -G (M/r + d.Q.d / (2 r^5))
                    a += nmass[k] * d * inv * inv2
                    a += (-Qd * inv2 + 2.5 * dQd * d * inv2 * inv2) * inv * inv2
                    k = skip[k]
                else:
                    k += 1
            acc[i, 0] = G * a[0]
            acc[i, 1] = G * a[1]
            acc[i, 2] = G * a[2]

    return walk


def tree_accelerations(pos: np.ndarray, mass: np.ndarray, G: float = 1.0,
                       softening: float = 0.0, theta: float = 0.5,
                       leaf_size: int = 8) -> np.ndarray:
    """``(N, 3)`` Barnes-Hut accelerations (float64) at opening angle ``theta``."""
    t = build_tree(np.asarray(pos, dtype=np.float64), np.asarray(mass, dtype=np.float64),
                   leaf_size)
    acc_sorted = np.empty((len(pos), 3))
    _kernel()(t["x"], t["m"], t["start"].astype(np.int32), t["end"].astype(np.int32),
              t["skip"].astype(np.int32), t["leaf"], t["size"], t["mass"], t["com"],
              np.ascontiguousarray(t["quad"]), acc_sorted, theta**2, softening**2, G)
    acc = np.empty_like(acc_sorted)
    acc[t["order"]] = acc_sorted
    return acc
