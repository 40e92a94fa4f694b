"""The physics-constrained loss of NeuralStagger for the spectral solver's equation.

The vorticity equation of :mod:`simkit.simulators.spectral_ns` on the unit torus,
``dw/dt = L(w) = -u . grad(w) + nu lap(w) + f - mu w`` with ``u = (d psi/dy, -d psi/dx)``
and ``lap(psi) = -w``, discretised between stored frames by the trapezoidal rule
(Crank-Nicolson): ``r_k = (w_{k+1} - w_k) / dt - (L(w_k) + L(w_{k+1})) / 2``. Derivatives
are spectral, the product 2/3-dealiased, with the solver's own multipliers
(:func:`~simkit.simulators.spectral_ns.spectral_operators`); ``r`` is second order in
``dt`` on a smooth solution. On the FNO data (frames 1 s apart, nu = 1e-3) the true
trajectories' relative residual is about 0.009 from t = 10 on and 0.15 over the
transient t = 0 .. 20, so at that interval the loss is a soft constraint. Written here
because no library computes this residual for a given pair of frames (the solver
steps; it does not check).
"""

from functools import lru_cache

import torch

from simkit.simulators.spectral_ns import advection_hat, spectral_operators

__all__ = ["vorticity_rhs", "vorticity_residual", "relative_residual", "equation_settings",
           "EQUATION_KEYS"]

EQUATION_KEYS = ("nu", "forcing", "amplitude", "wavenumber", "drag")
# the spectral_ns parameter each setting comes from (the forcing: the scene)
_PARAMETER = {"nu": "viscosity", "amplitude": "forcing_amplitude",
              "wavenumber": "forcing_wavenumber", "drag": "drag"}
_DEFAULTS = {"wavenumber": 4, "drag": 0.0}
_FORCINGS = ("fno", "kolmogorov")


def equation_settings(given: dict, simulator: dict | None) -> dict:
    """``{"nu", "forcing", "amplitude", "wavenumber", "drag"}`` of the equation a dataset
    was made with: read from its simulator block (``spectral_ns``: the parameters every
    train trajectory shares, the scene as the forcing), else taken from ``given``. A
    value in both must agree (a typed-in viscosity cannot silently differ from the
    data's); one in neither is an error, except ``wavenumber`` (4) and ``drag`` (0). A
    parameter that differs between train trajectories is refused, given or not."""
    known: dict = {}
    varying: list[str] = []
    if simulator and simulator.get("name") == "spectral_ns":
        params, varying = simulator.get("params", {}), simulator.get("varying", [])
        known = {key: params[name] for key, name in _PARAMETER.items() if name in params}
        known["forcing"] = simulator.get("scene")
    out = {}
    for key in EQUATION_KEYS:
        if _PARAMETER.get(key) in varying:
            raise ValueError(f"physics: {_PARAMETER[key]} differs between the train "
                             "trajectories; the residual needs one value")
        if key in given and key in known and given[key] != known[key]:
            raise ValueError(f"physics: {key}={given[key]!r}, but the dataset was made with "
                             f"{known[key]!r}")
        if key in given or key in known:
            out[key] = given.get(key, known.get(key))
        elif key in _DEFAULTS:
            out[key] = _DEFAULTS[key]
        else:
            raise ValueError(f"physics: give {key!r}: the dataset's simulator block does "
                             "not hold it")
    if out["forcing"] not in _FORCINGS:
        raise ValueError(f"physics: forcing must be one of {list(_FORCINGS)}, got "
                         f"{out['forcing']!r}")
    return out


@lru_cache(maxsize=8)
def _operators(n: int, device: torch.device) -> tuple[torch.Tensor, ...]:
    """``(uv_grad, k2, dealias)`` of :func:`spectral_operators` on ``device``, made once
    per grid size and device (a training loss calls this every step); read only."""
    m = spectral_operators(n)
    return tuple(torch.from_numpy(m[k]).to(device) for k in ("uv_grad", "k2", "dealias"))


def vorticity_rhs(w: torch.Tensor, nu: float, forcing: torch.Tensor,
                  drag: float = 0.0) -> torch.Tensor:
    """``L(w)`` (1/s^2) for vorticity ``(..., n, n)`` (1/s), ``forcing`` ``(n, n)``;
    computed in float64, returned in ``w``'s dtype."""
    n = w.shape[-1]
    uv_grad, k2, dealias = _operators(n, w.device)
    w64 = w.to(torch.float64)
    w_hat = torch.fft.rfft2(w64)
    advection = torch.fft.irfft2(dealias * advection_hat(w_hat, uv_grad), s=(n, n))
    lap = torch.fft.irfft2(-k2 * w_hat, s=(n, n))
    return (-advection + nu * lap + forcing.to(lap) - drag * w64).to(w.dtype)


def _residual_and_rate(frames: torch.Tensor, dt: float, nu: float, forcing: torch.Tensor,
                       drag: float) -> tuple[torch.Tensor, torch.Tensor]:
    rhs = vorticity_rhs(frames, nu, forcing, drag)
    rate = (frames[..., 1:, :, :] - frames[..., :-1, :, :]) / dt
    return rate - 0.5 * (rhs[..., 1:, :, :] + rhs[..., :-1, :, :]), rate


def vorticity_residual(frames: torch.Tensor, dt: float, nu: float, forcing: torch.Tensor,
                       drag: float = 0.0) -> torch.Tensor:
    """Trapezoidal residual between consecutive frames: ``(..., T, n, n)`` ->
    ``(..., T - 1, n, n)`` (1/s^2); ``dt`` the time between frames (s)."""
    return _residual_and_rate(frames, dt, nu, forcing, drag)[0]


def relative_residual(frames: torch.Tensor, dt: float, nu: float, forcing: torch.Tensor,
                      drag: float = 0.0, eps: float = 1e-12) -> torch.Tensor:
    """``||r|| / ||(w_{k+1} - w_k) / dt||`` per sample over time and space: the residual
    measured against the size of the time derivative. Shape ``frames.shape[:-3]``."""
    r, rate = _residual_and_rate(frames, dt, nu, forcing, drag)
    dims = (-3, -2, -1)
    return torch.linalg.vector_norm(r, dim=dims) / (torch.linalg.vector_norm(rate, dim=dims) + eps)
