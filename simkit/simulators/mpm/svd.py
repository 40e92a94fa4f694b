"""Singular value decomposition with proper rotations, for constitutive models.

Taichi's ``ti.svd`` is fast but makes no promise about the signs: its 3x3 version can
return a reflection for ``U`` or ``V`` or a negative singular value. Constitutive
models need the *signed* SVD of Irving et al. (2004): ``U`` and ``V`` proper rotations
(det = +1), singular values non-negative except the smallest, which is negative
exactly when ``det F < 0`` (an inverted element). Models clamp the singular values
with :data:`SIGMA_MIN` before taking logarithms.
"""

from __future__ import annotations

import taichi as ti

__all__ = ["SIGMA_MIN", "signed_svd", "diag"]

#: Lower clamp applied to singular values before logarithms and divisions.
SIGMA_MIN = 1e-6


@ti.func
def diag(v):
    """Diagonal matrix from a vector, ``(d,) -> (d, d)``."""
    d = ti.static(v.n)
    out = ti.Matrix.zero(float, d, d)
    for i in ti.static(range(d)):
        out[i, i] = v[i]
    return out


@ti.func
def signed_svd(F):
    """``F = U diag(sig) V^T`` with ``det U = det V = +1``.

    Returns ``U (d, d)``, ``sig (d,)``, ``V (d, d)``; ``sig`` is non-negative except
    its smallest entry, which carries the sign of ``det F``.
    """
    d = ti.static(F.n)
    U, S, V = ti.svd(F)
    sig = ti.Vector.zero(float, d)
    for i in ti.static(range(d)):
        sig[i] = S[i, i]
        if sig[i] < 0:  # move the sign into U's column
            sig[i] = -sig[i]
            for r in ti.static(range(d)):
                U[r, i] = -U[r, i]
    # index of the smallest singular value
    k = 0
    for i in ti.static(range(1, d)):
        if sig[i] < sig[k]:
            k = i
    flip_u = U.determinant() < 0
    flip_v = V.determinant() < 0
    for i in ti.static(range(d)):
        if i == k:
            if flip_u:
                for r in ti.static(range(d)):
                    U[r, i] = -U[r, i]
                sig[i] = -sig[i]
            if flip_v:
                for r in ti.static(range(d)):
                    V[r, i] = -V[r, i]
                sig[i] = -sig[i]
    return U, sig, V
