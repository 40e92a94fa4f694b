"""Rollout metrics of learned particle simulators, following LagrangeBench.

Toshev et al. (2023), *LagrangeBench*, ``lagrangebench/evaluate/metrics.py``: position
MSE per rollout step and its means over the first 5 and 20 steps (MSE5, MSE20), the
Sinkhorn divergence between predicted and true clouds, and the kinetic energy; here
with the masses and the 1/2, plus the physical read-outs of the MPM validation (surge
front, run-out) and the constant-velocity baseline every table carries.

Rollouts are ``(T, N, d)`` positions in m (``T`` frames after the input history, ``N``
particles, ``d`` dimensions), torch tensors or numpy arrays; ``mask`` is an ``(N,)``
bool selecting the particles scored (the non-kinematic ones), ``None`` for all. Metrics
are computed in float64 on the device of ``pred``.
"""

import numpy as np
import torch

from simkit.readouts import front

__all__ = ["position_mse", "mse_over", "sinkhorn_distance", "kinetic_energy",
           "kinetic_energy_error", "constant_velocity_rollout", "surge_front",
           "runout_length", "rollout_report", "READOUTS", "EPSILON_SCALE",
           "SINKHORN_STRIDE", "MOVED_FRACTION"]

EPSILON_SCALE = 0.05
"""Default Sinkhorn ``epsilon`` relative to the mean cost (OTT-JAX's default, which
LagrangeBench's default ``ott`` backend uses)."""
SINKHORN_STRIDE = 10
"""Frames between the Sinkhorn evaluations averaged in :func:`rollout_report`
(LagrangeBench's ``metrics_stride``)."""
MOVED_FRACTION = 0.1
"""A frame counts for a read-out error once the true read-out has moved this fraction
of its largest excursion from the first frame."""


def _frames(name: str, x, ndim: int, like: torch.Tensor | None = None) -> torch.Tensor:
    """``x`` as a float64 tensor with ``ndim`` axes (on ``like``'s device)."""
    device = None if like is None else like.device
    t = torch.as_tensor(x, device=device).to(torch.float64)
    if t.dim() != ndim:
        shape = "(T, N, d)" if ndim == 3 else "(N, d)"
        raise ValueError(f"{name}: expected shape {shape}, got {tuple(t.shape)}")
    return t


def _pair(pred, true, ndim: int) -> tuple[torch.Tensor, torch.Tensor]:
    p = _frames("pred", pred, ndim)
    t = _frames("true", true, ndim, like=p)
    if p.shape != t.shape:
        raise ValueError(f"true: expected the shape of pred {tuple(p.shape)}, "
                         f"got {tuple(t.shape)}")
    return p, t


def _mask(mask, n: int, like: torch.Tensor, name: str = "mask") -> torch.Tensor:
    """``(n,)`` bool tensor selecting at least one particle; all when ``mask`` is None."""
    if mask is None:
        return torch.ones(n, dtype=torch.bool, device=like.device)
    m = torch.as_tensor(mask, device=like.device)
    if m.dtype != torch.bool or m.shape != (n,):
        raise ValueError(f"{name}: expected a bool array of shape ({n},), got "
                         f"{m.dtype} {tuple(m.shape)}")
    if not m.any():
        raise ValueError(f"{name}: selects no particle")
    return m


def position_mse(pred, true, mask=None) -> torch.Tensor:
    """Position MSE per rollout step, LagrangeBench's ``mse``.

    ``mse_t = 1 / (N d) sum_i sum_a (pred[t, i, a] - true[t, i, a])^2`` over the masked
    particles: the mean over particles *and* components, i.e. the squared Euclidean
    distance averaged over particles divided by ``d``. This is what LagrangeBench
    computes (``(displacement(pred, target) ** 2).mean()`` on the ``(N, d)``
    displacement vectors), so the numbers compare with its tables.

    Parameters
    ----------
    pred, true : (T, N, d), m
    mask : (N,) bool or None

    Returns
    -------
    (T,) tensor, m^2
    """
    p, t = _pair(pred, true, 3)
    m = _mask(mask, p.shape[1], p)
    return ((p[:, m] - t[:, m]) ** 2).mean(dim=(1, 2))


def mse_over(per_step, steps: int | None) -> float:
    """Mean of the first ``steps`` entries of a per-step series (MSE5: ``steps=5``,
    MSE20: ``steps=20``; ``None``: the whole rollout).

    Raises
    ------
    ValueError
        If ``per_step`` is not 1-D or holds fewer than ``steps`` entries.
    """
    s = torch.as_tensor(per_step)
    if s.dim() != 1 or s.numel() == 0:
        raise ValueError(f"per_step: expected a non-empty (T,) series, got shape "
                         f"{tuple(s.shape)}")
    if steps is None:
        return float(s.mean())
    if not 1 <= steps <= s.numel():
        raise ValueError(f"steps: expected 1 <= steps <= {s.numel()} (the steps in "
                         f"per_step), got {steps}")
    return float(s[:steps].mean())


def sinkhorn_distance(pred, true, *, mask=None, epsilon: float | None = None) -> float:
    """Debiased Sinkhorn divergence between two particle clouds of one frame.

    ``S = W(p, t) - (W(p, p) + W(t, t)) / 2`` clipped at 0, where ``W(x, y)`` is the
    transport cost ``<P, C>`` of the entropic plan ``P`` with uniform weights and the
    squared Euclidean cost ``C_ij = |x_i - y_j|^2`` in m^2: LagrangeBench's ``pot``
    backend (POT ``empirical_sinkhorn_divergence``; log-domain Sinkhorn when
    ``C / epsilon`` may reach 200). ``S`` is permutation-invariant, 0 for identical
    clouds and exactly ``|s|^2`` for a cloud translated by ``s`` (the translation adds a
    constant to the cost on the transport polytope); otherwise
    ``|S - W_2^2| <= epsilon log N`` (``W_2^2`` the exact optimal transport cost).

    ``epsilon`` (m^2) defaults to ``EPSILON_SCALE`` (0.05) times the mean cross cost
    ``mean_ij C_ij = var(p) + var(t) + |mean(p) - mean(t)|^2``: OTT-JAX's default, used
    by LagrangeBench's default ``ott`` backend. Relative to the cloud's size, it makes
    ``S`` scale as length^2 like the MSE, whatever the domain's units (LagrangeBench's
    ``pot`` backend fixes 0.1, which only suits domains of size ~1). The blur
    ``sqrt(epsilon)`` is then 0.13 L for a square cloud of side L: ``S`` sees misplaced
    mass (a late splash, a wrong front), not particle-scale jitter, which the MSE
    measures.

    Parameters
    ----------
    pred, true : (N, d), m
        One frame.
    mask : (N,) bool or None
    epsilon : float or None
        Entropic regularisation, m^2.

    Returns
    -------
    float, m^2
    """
    p, t = _pair(pred, true, 2)
    m = _mask(mask, p.shape[0], p)
    p, t = p[m], t[m]
    if epsilon is None:
        mean_cost = (p.var(0, correction=0).sum() + t.var(0, correction=0).sum()
                     + ((p.mean(0) - t.mean(0)) ** 2).sum())
        if mean_cost == 0:  # both clouds one and the same point
            return 0.0
        epsilon = EPSILON_SCALE * float(mean_cost)
    elif not epsilon > 0:
        raise ValueError(f"epsilon: expected a positive float (m^2), got {epsilon}")
    # The kernel exp(-C / epsilon) stays far from underflow below C / epsilon = 200, where
    # plain Sinkhorn is ~15x faster than the log-domain one (2000 particles, this CPU);
    # the squared diagonal of the clouds' bounding box bounds every cost.
    both = torch.cat([p, t])
    max_cost = float(((both.amax(0) - both.amin(0)) ** 2).sum())
    method = "sinkhorn" if max_cost / epsilon < 200 else "sinkhorn_log"
    import ot  # POT: only where a divergence is asked for, not when a model is served

    s = ot.bregman.empirical_sinkhorn_divergence(p, t, epsilon, metric="sqeuclidean",
                                                 method=method, numIterMax=10000,
                                                 stopThr=1e-6, warn=True)
    return float(s)


def _mass(mass, n: int, like: torch.Tensor) -> torch.Tensor:
    m = torch.as_tensor(mass, device=like.device).to(torch.float64)
    if m.dim() == 0:
        m = m.expand(n)
    if m.shape != (n,):
        raise ValueError(f"mass: expected a scalar or shape ({n},) in kg, got "
                         f"{tuple(m.shape)}")
    return m


def kinetic_energy(velocity, mass, mask=None) -> torch.Tensor:
    """``E_t = sum_i 1/2 m_i |v_ti|^2`` over the masked particles.

    Parameters
    ----------
    velocity : (T, N, d), m/s
    mass : (N,) or scalar, kg
    mask : (N,) bool or None

    Returns
    -------
    (T,) tensor, J
    """
    v = _frames("velocity", velocity, 3)
    m = _mask(mask, v.shape[1], v)
    w = _mass(mass, v.shape[1], v)
    return 0.5 * (w[m] * (v[:, m] ** 2).sum(-1)).sum(-1)


def kinetic_energy_error(pred_pos, true_pos, mass, dt: float, mask=None) -> torch.Tensor:
    """Relative kinetic-energy error per step, ``|E_pred - E_true| / max_t E_true``.

    Velocities are backward differences ``v_t = (x_t - x_{t-1}) / dt``, t = 1 .. T-1
    (LagrangeBench takes the same differences, then ``sum |v|^2`` without mass or 1/2,
    and reports the MSE of the two series in its units). Normalising by the peak true
    energy instead makes the number unit-free and comparable across scenes: 0.1 is an
    error of a tenth of the largest kinetic energy of the true flow.

    Parameters
    ----------
    pred_pos, true_pos : (T, N, d), m, T >= 2
    mass : (N,) or scalar, kg
    dt : float
        Time between frames, s.
    mask : (N,) bool or None

    Returns
    -------
    (T - 1,) tensor, dimensionless

    Raises
    ------
    ValueError
        On bad shapes, ``T < 2``, ``dt <= 0``, or a true flow at rest at every step.
    """
    p, t = _pair(pred_pos, true_pos, 3)
    if p.shape[0] < 2:
        raise ValueError(f"pred_pos: expected at least 2 frames, got {p.shape[0]}")
    if not dt > 0:
        raise ValueError(f"dt: expected a positive time between frames (s), got {dt}")
    e_pred = kinetic_energy(torch.diff(p, dim=0) / dt, mass, mask)
    e_true = kinetic_energy(torch.diff(t, dim=0) / dt, mass, mask)
    peak = e_true.max()
    if peak == 0:
        raise ValueError("true_pos: the true flow is at rest at every step; the relative "
                         "kinetic-energy error is undefined")
    return (e_pred - e_true).abs() / peak


def constant_velocity_rollout(history, n_steps: int, kinematic_future=None, *,
                              kinematic=None) -> torch.Tensor:
    """Constant-velocity extrapolation ``x_{t+1} = x_t + (x_t - x_{t-1})``, the baseline.

    For free fall from the history ``x_{-1}, x_0`` it lags the truth by exactly
    ``g dt^2 k (k + 1) / 2`` after ``k`` steps (the backward-difference velocity is that
    of the half step before ``x_0``), i.e. ``g t (t + dt) / 2`` at ``t = k dt``.

    Parameters
    ----------
    history : (n_in, N, d), m, n_in >= 2
        Past positions, the last one the current frame.
    n_steps : int
    kinematic_future : (n_steps, N, d) or None, m
        The prescribed future positions; the particles selected by ``kinematic`` (walls,
        moving colliders) are set from it at every step instead of extrapolated.
    kinematic : (N,) bool or None
        Which particles are kinematic; given exactly when ``kinematic_future`` is.

    Returns
    -------
    (n_steps, N, d) tensor, m (float64)
    """
    h = _frames("history", history, 3)
    if h.shape[0] < 2:
        raise ValueError(f"history: expected at least 2 frames, got {h.shape[0]}")
    if n_steps < 1:
        raise ValueError(f"n_steps: expected a positive int, got {n_steps}")
    if (kinematic_future is None) != (kinematic is None):
        raise ValueError("kinematic: give kinematic and kinematic_future together")
    if kinematic is not None:
        future = _frames("kinematic_future", kinematic_future, 3, like=h)
        if future.shape != (n_steps, *h.shape[1:]):
            raise ValueError(f"kinematic_future: expected shape "
                             f"{(n_steps, *h.shape[1:])}, got {tuple(future.shape)}")
        kin = _mask(kinematic, h.shape[1], h, "kinematic")
    prev, cur = h[-2], h[-1]
    out = []
    for k in range(n_steps):
        nxt = 2 * cur - prev
        if kinematic is not None:
            nxt = torch.where(kin[:, None], future[k], nxt)
        out.append(nxt)
        prev, cur = cur, nxt
    return torch.stack(out)


def _fronts(positions, mask, wall: float) -> torch.Tensor:
    x = _frames("positions", positions, 3)
    m = _mask(mask, x.shape[1], x)
    lead = x[:, m, 0].cpu().numpy()
    return torch.tensor([front(f, wall) for f in lead], dtype=torch.float64,
                        device=x.device)


def surge_front(positions, mask, wall: float) -> torch.Tensor:
    """Dam-break surge front per frame: the leading edge along x (the 5th particle from
    the front, :func:`simkit.readouts.front`) measured from the back wall
    at ``x = wall``, Martin & Moyce's ``Z a``.

    Parameters
    ----------
    positions : (T, N, d), m
    mask : (N,) bool or None
        The fluid particles.
    wall : float, m

    Returns
    -------
    (T,) tensor, m
    """
    return _fronts(positions, mask, wall)


def runout_length(positions, mask, wall: float) -> torch.Tensor:
    """Granular run-out per frame: the same leading-edge measure as
    :func:`surge_front`, the distance ``L(t)`` of the front from the back wall (Lube et
    al.'s run-out distance; the normalised run-out is ``(L - L_i) / L_i`` with ``L_i``
    the initial column width).

    Parameters
    ----------
    positions : (T, N, d), m
    mask : (N,) bool or None
        The granular particles.
    wall : float, m

    Returns
    -------
    (T,) tensor, m
    """
    return _fronts(positions, mask, wall)


READOUTS = {"surge_front": surge_front, "runout": runout_length}


def rollout_report(pred, true, *, mask, mass, dt: float, wall: float | None = None,
                   readout: str | None = None,
                   sinkhorn_stride: int = SINKHORN_STRIDE) -> dict[str, float]:
    """Every number a results table carries for one rollout.

    Keys:

    - ``mse5``, ``mse20``, ``mse_full``: :func:`position_mse` averaged over the first 5,
      20 and all frames, m^2.
    - ``sinkhorn_final``: :func:`sinkhorn_distance` at the last frame, m^2;
      ``sinkhorn_mean``: its mean over frames 0, 10, 20, ... (``sinkhorn_stride``,
      ``SINKHORN_STRIDE`` by default; each divergence of 2k particles takes a few
      seconds on a 2-core CPU, so long rollouts there take a larger stride; as
      LagrangeBench), m^2.
    - ``kinetic_energy_error``: mean over steps of :func:`kinetic_energy_error`.
    - with ``readout`` (``"surge_front"`` or ``"runout"``, which need ``wall``):
      ``<readout>_error``, the largest relative error ``|r_pred - r_true| / |r_true|`` of
      the read-out over the frames where the truth has moved, i.e. where
      ``|r_true(t) - r_true(0)|`` reaches ``MOVED_FRACTION`` (0.1) of its largest value;
      NaN if the true read-out never moves.

    Parameters
    ----------
    pred, true : (T, N, d), m, T >= 20
    mask : (N,) bool or None
    mass : (N,) or scalar, kg
    dt : float
        Time between frames, s.
    wall : float or None, m
    readout : str or None

    Returns
    -------
    dict[str, float]
    """
    p, t = _pair(pred, true, 3)
    if p.shape[0] < 20:
        raise ValueError(f"pred: expected at least 20 frames for MSE20, got {p.shape[0]}")
    if readout is not None and readout not in READOUTS:
        raise ValueError(f"readout: unknown read-out {readout!r}; expected one of "
                         f"{sorted(READOUTS)}")
    if (readout is None) != (wall is None):
        raise ValueError("wall: give wall (m) exactly when a readout is asked for")
    per_step = position_mse(p, t, mask)
    if not isinstance(sinkhorn_stride, int) or sinkhorn_stride < 1:
        raise ValueError(f"sinkhorn_stride: expected a positive int, got {sinkhorn_stride!r}")
    frames = range(0, p.shape[0], sinkhorn_stride)
    report = {
        "mse5": mse_over(per_step, 5),
        "mse20": mse_over(per_step, 20),
        "mse_full": mse_over(per_step, None),
        "sinkhorn_final": sinkhorn_distance(p[-1], t[-1], mask=mask),
        "sinkhorn_mean": float(np.mean([sinkhorn_distance(p[k], t[k], mask=mask)
                                        for k in frames])),
        "kinetic_energy_error": float(kinetic_energy_error(p, t, mass, dt, mask).mean()),
    }
    if readout is not None:
        r_pred = READOUTS[readout](p, mask, wall)
        r_true = READOUTS[readout](t, mask, wall)
        moved = (r_true - r_true[0]).abs()
        if moved.max() == 0:
            report[f"{readout}_error"] = float("nan")
        else:
            late = moved >= MOVED_FRACTION * moved.max()
            rel = (r_pred[late] - r_true[late]).abs() / r_true[late].abs()
            report[f"{readout}_error"] = float(rel.max())
    return report
