"""Periodic pseudo-spectral 2D Navier-Stokes in vorticity form (the FNO data setting).

``dw/dt + u . grad(w) = nu lap(w) + f - mu w`` on the unit torus ``[0, 1)^2``, with
``u = (d psi/dy, -d psi/dx)`` and ``lap(psi) = -w``. The viscous and drag terms are
Crank-Nicolson, the advection term explicit (forward Euler, as the FNO paper's
generator, or Heun for second order), with 2/3-rule dealiasing. FFTs come from
``scipy.fft`` (real transforms, ``workers`` threads); a batch of trajectories is
advanced together.

Forcings: ``fno`` is ``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))``; ``kolmogorov`` is
``amplitude sin(2 pi k y)``. Initial vorticity: the FNO Gaussian random field with
covariance ``sigma^2 (-lap + tau^2)^(-alpha)`` (``alpha = 2.5``, ``tau = 7``,
``sigma = tau^(alpha - 1)``), or a Taylor-Green vortex for validation.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import numpy as np
import scipy.fft as sfft

from simkit.errors import SpectralBlowUp
from simkit.io.schema import Schema, Variable
from simkit.registry import register_simulator, resolve_params
from simkit.simulator import (
    RESTART_KEYS,
    StateReadouts,
    clock_state,
    landing_steps,
    load_clock,
    require_keys,
)
from simkit.simulators.catalog import SPECTRAL_NS

__all__ = ["SpectralNS2D", "SpectralNSSimulator", "gaussian_random_field", "taylor_green",
           "downsample", "forcing_field", "vorticity_schema", "spectral_operators",
           "advection_hat"]

SCHEMES = ("euler", "heun")


def _wavenumbers(n: int) -> tuple[np.ndarray, np.ndarray]:
    """Angular wavenumbers ``(ky (n, 1), kx (1, n//2+1))`` of an rfft2 on [0, 1)^2."""
    ky = 2 * np.pi * sfft.fftfreq(n, d=1.0 / n)[:, None]
    kx = 2 * np.pi * sfft.rfftfreq(n, d=1.0 / n)[None, :]
    return ky, kx


def spectral_operators(n: int) -> dict[str, np.ndarray]:
    """The rfft2 multipliers of the unit torus at ``n^2``: ``k2`` (``|k|^2``), ``ky`` and
    ``kx`` (first derivatives; the Nyquist modes dropped, since ``i k`` times a Nyquist
    coefficient is not the transform of a real field), ``inv_k2`` (0 at k = 0),
    ``dealias`` (2/3 rule) and ``uv_grad`` ``(4, n, n//2+1)``, the multipliers of
    ``(u, v, dw/dx, dw/dy)`` applied to ``w``: one broadcast and one batched inverse FFT
    give all four (numpy temporaries otherwise cost as much as the transforms)."""
    ky, kx = _wavenumbers(n)
    k2 = kx**2 + ky**2
    dy = np.where(np.abs(ky) >= np.pi * n - 1e-9, 0.0, ky)
    dx = np.where(np.abs(kx) >= np.pi * n - 1e-9, 0.0, kx)
    inv_k2 = np.where(k2 > 0, 1.0 / np.where(k2 > 0, k2, 1.0), 0.0)
    cut = 2.0 / 3.0 * (n // 2) * 2 * np.pi
    dealias = ((np.abs(kx) <= cut) & (np.abs(ky) <= cut)).astype(np.float64)
    uv_grad = np.stack(np.broadcast_arrays(1j * dy * inv_k2, -1j * dx * inv_k2,
                                           1j * dx + 0 * dy, 1j * dy + 0 * dx))
    return {"k2": k2, "ky": dy, "kx": dx, "inv_k2": inv_k2, "dealias": dealias,
            "uv_grad": uv_grad}


def advection_hat(w_hat, uv_grad):
    """``u . grad(w)`` in Fourier space, not dealiased, for torch tensors: ``w_hat``
    ``(..., n, n//2+1)`` the rfft2 of the vorticity, ``uv_grad`` the multipliers of
    :func:`spectral_operators` on its device. (The numpy solver path works in place
    instead, to spare temporaries.)"""
    import torch  # torch only here: the numpy solver runs without it

    u, v, wx, wy = _uv_grad(w_hat, uv_grad)
    return torch.fft.rfft2(u * wx + v * wy)


def _uv_grad(w_hat, uv_grad):
    """``(u, v, dw/dx, dw/dy)`` on the grid, each ``(..., n, n)``, for torch tensors."""
    import torch

    n = w_hat.shape[-2]
    return torch.fft.irfft2(uv_grad * w_hat.unsqueeze(-3), s=(n, n)).unbind(-3)


def gaussian_random_field(rng: np.random.Generator, n: int, batch: int = 1, *,
                          alpha: float = 2.5, tau: float = 7.0,
                          sigma: float | None = None) -> np.ndarray:
    """FNO's initial vorticity: a Gaussian field with covariance ``sigma^2 (-lap + tau^2)^-alpha``.

    Returns ``(batch, n, n)``, mean zero. ``sigma`` defaults to ``tau^(alpha - 1)``.
    """
    sigma = tau ** (0.5 * (2 * alpha - 2)) if sigma is None else sigma
    ky, kx = _wavenumbers(n)
    sqrt_eig = n * n * math.sqrt(2.0) * sigma * (ky**2 + kx**2 + tau**2) ** (-alpha / 2)
    sqrt_eig[0, 0] = 0.0
    shape = (batch, n, n // 2 + 1)
    coeff = sqrt_eig * (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)) / 2
    return sfft.irfft2(coeff, s=(n, n), axes=(-2, -1))


def taylor_green(n: int, t: float, nu: float, k: int = 1) -> np.ndarray:
    """Exact Taylor-Green vorticity ``2 K cos(K x) cos(K y) exp(-2 nu K^2 t)``, K = 2 pi k.

    For ``u = sin(K x) cos(K y)``, ``v = -cos(K x) sin(K y)`` (times the same decay);
    returns ``(n, n)`` on the grid points ``x_j = j / n`` (storage order y, x).
    """
    K = 2 * np.pi * k
    x = np.arange(n) / n
    return (2 * K * np.cos(K * x)[None, :] * np.cos(K * x)[:, None]
            * math.exp(-2 * nu * K**2 * t))


def downsample(w: np.ndarray, m: int) -> np.ndarray:
    """Spectral truncation of ``(..., n, n)`` fields to ``(..., m, m)`` (``m`` even, <= n).

    Keeps the Fourier modes below ``m / 2`` in each direction; the values are the
    truncated field at the coarse grid points.
    """
    n = w.shape[-1]
    if m == n:
        return w.copy()
    if m > n or m % 2:
        raise ValueError(f"stored resolution must be even and <= {n}, got {m}")
    wh = sfft.rfft2(w, axes=(-2, -1))
    half = m // 2
    coarse = np.zeros(w.shape[:-2] + (m, half + 1), dtype=wh.dtype)
    coarse[..., :half, :half] = wh[..., :half, :half]
    coarse[..., -half + 1:, :half] = wh[..., -half + 1:, :half]
    return sfft.irfft2(coarse, s=(m, m), axes=(-2, -1)) * (m / n) ** 2


class SpectralNS2D:
    """A batch of periodic 2D Navier-Stokes solutions in vorticity form.

    Parameters
    ----------
    w0 : (batch, n, n) or (n, n)
        Initial vorticity (1/s) on the grid points ``j / n`` of the unit torus,
        storage order (y, x).
    nu : float
        Kinematic viscosity (m^2/s).
    dt : float
        Time step (s).
    forcing : (n, n), optional
        Vorticity forcing ``f`` (1/s^2); zero by default.
    drag : float
        Linear drag ``mu`` (1/s).
    scheme : {"euler", "heun"}
        Advection: forward Euler (the FNO generator) or Heun (second order).
    workers : int, optional
        FFT threads (``scipy.fft``); all cores by default.
    device : str, optional
        A torch device (``"cuda"``, ``"cuda:1"``, ``"cpu"``): the state lives there and
        the transforms are ``torch.fft`` (float64). By default numpy and ``scipy.fft``.
    max_cfl : float
        Largest CFL number ``C = dt max(|u| + |v|) / dx`` (``dx = 1 / n``, the maximum
        over the grid points of each state) a step may start from.

    Notes
    -----
    Follows :class:`simkit.simulator.Stepper`: :meth:`step`, :meth:`advance` (steps of
    ``dt`` by the landing rule), :meth:`state` and :meth:`load_state`.

    Every step checks the state it starts from on the velocity the advection term
    computes anyway: ``max|u| + max|v|`` over the batch (four reductions; a bound on
    ``C``), then, only when that bound is above ``max_cfl``, the pointwise ``C`` and the
    finiteness of the vorticity. The limit 1 by default is a blow-up guard, not an
    accuracy criterion: the explicit advection of the highest retained mode (2/3 rule,
    ``|k_x|, |k_y| <= 2 pi n / 3``) has ``dt |u . k| <= (2 pi / 3) C``, and at ``C = 1``
    forward Euler amplifies it by ``sqrt(1 + z^2) = 2.3`` and Heun by
    ``sqrt(1 + z^4 / 4) = 2.4`` per step (``z = 2.09``): tenfold in three steps, unless
    viscosity damps that mode as fast. Well-resolved runs sit far below it (the FNO
    set-ups here, on their initial fields: ``C`` = 0.001 to 0.03; the check costs 2-8%
    of a step at 64^2 and 256^2 on one CPU thread, less with a batch; on a torch device
    it syncs once per step). A non-finite Fourier coefficient spreads over the whole
    field at the next transform, so of a non-finite state the batch member is the
    telling part of the index.
    """

    def __init__(self, w0: np.ndarray, *, nu: float, dt: float, forcing: np.ndarray | None = None,
                 drag: float = 0.0, scheme: str = "euler", workers: int | None = None,
                 device: str | None = None, max_cfl: float = 1.0) -> None:
        w0 = np.asarray(w0, dtype=np.float64)
        if w0.ndim == 2:
            w0 = w0[None]
        if w0.ndim != 3 or w0.shape[1] != w0.shape[2] or w0.shape[1] % 2:
            raise ValueError(f"w0 must have shape (batch, n, n) with n even, got {w0.shape}")
        for name, value in (("nu", nu), ("dt", dt), ("max_cfl", max_cfl)):
            if not (math.isfinite(value) and value > 0):
                raise ValueError(f"{name} must be a positive number, got {value!r}")
        if not (math.isfinite(drag) and drag >= 0):
            raise ValueError(f"drag must be >= 0, got {drag!r}")
        if scheme not in SCHEMES:
            raise ValueError(f"scheme must be one of {list(SCHEMES)}, got {scheme!r}")
        if not np.all(np.isfinite(w0)):
            raise ValueError("w0 must be finite")
        self.n, self.nu, self.dt, self.drag, self.scheme = w0.shape[1], nu, dt, drag, scheme
        self.max_cfl = max_cfl
        self.workers = workers or os.cpu_count() or 1
        n = self.n
        ops = spectral_operators(n)
        self.k2, self.ky, self.kx = ops["k2"], ops["ky"], ops["kx"]
        self.inv_k2, self.dealias = ops["inv_k2"], ops["dealias"]
        # (4, 1, n, n//2+1), broadcast over the batch; torch: (4, n, n//2+1), see advection_hat
        self._ops = ops["uv_grad"][:, None]
        self._cn_dt: float | None = None
        self.torch = None
        if device is not None:
            import torch  # only for the GPU path: the simulator runs without torch

            self.torch, self.device = torch, torch.device(device)
            self._ops = self._to_device(ops["uv_grad"])
        self.w_hat = self._fft(self._to_device(w0))
        self.f_hat = self._fft(self._to_device(
            np.zeros((n, n)) if forcing is None else np.asarray(forcing, dtype=np.float64)))
        self.time, self.step_count = 0.0, 0

    def _to_device(self, a: np.ndarray):
        return a if self.torch is None else self.torch.from_numpy(np.ascontiguousarray(a)).to(
            self.device)

    def _to_numpy(self, a) -> np.ndarray:
        return a if self.torch is None else a.cpu().numpy()

    # ------------------------------------------------------------------ transforms
    def _fft(self, a: np.ndarray) -> np.ndarray:
        if self.torch is not None:
            return self.torch.fft.rfft2(a)
        return sfft.rfft2(a, axes=(-2, -1), workers=self.workers)

    def _ifft(self, a: np.ndarray) -> np.ndarray:
        if self.torch is not None:
            return self.torch.fft.irfft2(a, s=(self.n, self.n))
        return sfft.irfft2(a, s=(self.n, self.n), axes=(-2, -1), workers=self.workers)

    def velocity_hat(self, w_hat: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fourier coefficients of ``(u, v)`` from those of the vorticity."""
        psi_hat = w_hat * self.inv_k2  # lap psi = -w
        return 1j * self.ky * psi_hat, -1j * self.kx * psi_hat

    def _advection_hat(self, w_hat: np.ndarray, workers: int) -> tuple[np.ndarray, float]:
        """``u . grad(w)`` in Fourier space, not yet dealiased, and ``max|u| + max|v|``
        (nan if either is not finite)."""
        n = self.n
        if self.torch is not None:
            u, v, wx, wy = _uv_grad(w_hat, self._ops)
            speed = float(u.abs().amax() + v.abs().amax())  # one device sync per step
            return self.torch.fft.rfft2(u * wx + v * wy), speed
        u, v, wx, wy = sfft.irfft2(self._ops * w_hat, s=(n, n), axes=(-2, -1), workers=workers)
        speed = max(u.max(), -u.min()) + max(v.max(), -v.min())  # nan propagates
        np.multiply(u, wx, out=u)
        np.multiply(v, wy, out=v)
        u += v
        return sfft.rfft2(u, axes=(-2, -1), workers=workers), float(speed)

    # ------------------------------------------------------------------ stepping
    def step(self, dt: float | None = None) -> None:
        """One Crank-Nicolson / explicit-advection step of ``dt`` (s; default :attr:`dt`).

        With several workers the batch is split into one chunk per worker, stepped in
        threads (numpy and scipy.fft release the GIL), so that the elementwise work is
        parallel too, not only the FFTs.

        Raises
        ------
        SpectralBlowUp
            The state the step starts from is non-finite or above ``max_cfl`` (it is
            left unchanged; ``step`` and ``time`` are its own).
        ValueError
            ``dt`` is not a positive number.
        """
        h = self.dt if dt is None else float(dt)
        if not (math.isfinite(h) and h > 0):
            raise ValueError(f"dt must be a positive number, got {dt!r}")
        self._prepare(h)
        chunks = min(self.workers, len(self.w_hat)) if self.torch is None else 1
        if chunks > 1:
            w = self.w_hat
            bounds = np.linspace(0, len(w), chunks + 1).astype(int)
            done = list(self._pool().map(lambda lo, hi: self._step_chunk(w[lo:hi], 1),
                                         bounds[:-1], bounds[1:]))
            self._check(max(speed for _, speed in done), h)

            def store(lo: int, hi: int, new: np.ndarray) -> None:  # writes only w[lo:hi]
                w[lo:hi] = new

            list(self._pool().map(store, bounds[:-1], bounds[1:], [new for new, _ in done]))
        else:
            new, speed = self._step_chunk(self.w_hat, self.workers)
            self._check(speed, h)
            self.w_hat = new
        self.step_count += 1
        self.time += h

    def cfl(self) -> np.ndarray:
        """The CFL number ``dt (|u| + |v|) n`` of each grid point, ``(batch, n, n)``."""
        vel = self.velocity()
        return (np.abs(vel[:, 0]) + np.abs(vel[:, 1])) * (self.dt * self.n)

    def _check(self, speed: float, dt: float) -> None:
        """Raise :class:`SpectralBlowUp` if the current state is non-finite or above
        ``max_cfl`` for a step of ``dt``; ``speed`` is ``max|u| + max|v|`` of the state (a
        bound on ``max(|u| + |v|)``, so most steps stop at the first comparison)."""
        if speed * dt * self.n <= self.max_cfl:
            return
        w = self.vorticity()
        bad = ~np.isfinite(w)
        if bad.any():
            raise SpectralBlowUp("spectral Navier-Stokes: non-finite vorticity; reduce dt",
                                 step=self.step_count, time=self.time, cfl=math.nan,
                                 index=tuple(int(i) for i in np.argwhere(bad)[0]),
                                 field="vorticity")
        vel = self.velocity()
        c = (np.abs(vel[:, 0]) + np.abs(vel[:, 1])) * (dt * self.n)
        worst = np.unravel_index(int(np.argmax(c)), c.shape)
        if c[worst] > self.max_cfl:
            raise SpectralBlowUp(f"spectral Navier-Stokes: CFL number {c[worst]:.3g} above "
                                 f"max_cfl={self.max_cfl:g}; reduce dt", step=self.step_count,
                                 time=self.time, cfl=float(c[worst]),
                                 index=tuple(int(i) for i in worst), field="velocity")

    def _pool(self):
        if getattr(self, "_executor", None) is None:
            from concurrent.futures import ThreadPoolExecutor

            self._executor = ThreadPoolExecutor(self.workers)
        return self._executor

    def _prepare(self, dt: float) -> None:
        if self._cn_dt != dt:
            # w_new = A w + B f - C N(w): the Crank-Nicolson factors of the diagonal
            # linear operator with the dealiasing folded in (fewer passes over the batch)
            lin = -self.nu * self.k2 - self.drag
            inv_b = 1 / (1 - 0.5 * dt * lin)
            self._A = self._to_device((1 + 0.5 * dt * lin) * inv_b)
            self._Bf = self._to_device(dt * inv_b) * self.f_hat
            self._C = self._to_device(dt * inv_b * self.dealias)
            self._cn_dt = dt

    def _step_chunk(self, w_hat: np.ndarray, workers: int) -> tuple[np.ndarray, float]:
        """The chunk after one step, and ``max|u| + max|v|`` of the chunk before it."""
        adv, speed = self._advection_hat(w_hat, workers)
        if self.scheme == "heun":  # average of the advection at both ends
            trial = self._A * w_hat
            trial += self._Bf
            trial -= self._C * adv
            adv += self._advection_hat(trial, workers)[0]
            adv *= 0.5
        adv *= self._C
        new = self._A * w_hat
        new += self._Bf
        new -= adv
        return new, speed

    def advance(self, t_end: float) -> None:
        """Step to ``t_end`` (s) with steps of ``dt`` by the landing rule of
        :mod:`simkit.simulator`.

        Raises
        ------
        ValueError
            ``t_end`` is before :attr:`time`.
        SpectralBlowUp
            A state a step starts from is non-finite or above ``max_cfl``, or the last
            one is non-finite: ``index`` is its first bad ``(batch, y, x)``, ``step`` and
            ``time`` its own.
        """
        for h in landing_steps(self, t_end, lambda: self.dt):
            self.step(h)
        if not np.all(np.isfinite(self._to_numpy(self.w_hat))):  # the last state, unchecked
            self._check(math.nan, self.dt)

    def state(self) -> dict[str, np.ndarray]:
        """The complete state: ``w_hat`` ``(batch, n, n//2+1)`` complex, the rfft2 of
        the vorticity (a copy, on the host), and the clock ``time`` (s), ``step_count``."""
        return {"w_hat": np.array(self._to_numpy(self.w_hat), copy=True), **clock_state(self)}

    def load_state(self, state) -> None:
        """Continue from ``state``, a :meth:`state` of a solver of the same grid and batch.

        Raises
        ------
        ValueError
            A key is missing or ``w_hat`` has the wrong shape.
        """
        require_keys(state, ("w_hat", *RESTART_KEYS), "SpectralNS2D")
        w_hat = np.asarray(state["w_hat"])
        want = tuple(self.w_hat.shape)
        if w_hat.shape != want:
            raise ValueError(f"SpectralNS2D.load_state: 'w_hat' must have shape {want}, got "
                             f"{w_hat.shape}")
        self.w_hat = self._to_device(np.array(w_hat, dtype=np.complex128, copy=True))
        load_clock(self, state)

    def vorticity(self) -> np.ndarray:
        """``(batch, n, n)`` vorticity (1/s) on the grid points."""
        return self._to_numpy(self._ifft(self.w_hat))

    def velocity(self) -> np.ndarray:
        """``(batch, 2, n, n)`` velocity (m/s), component 0 = x."""
        u_hat, v_hat = self.velocity_hat(self._to_numpy(self.w_hat))
        return np.stack([sfft.irfft2(a, s=(self.n, self.n), axes=(-2, -1)) for a in (u_hat, v_hat)],
                        axis=1)


def forcing_field(kind: str, n: int, amplitude: float, wavenumber: int = 4) -> np.ndarray:
    """The scene's vorticity forcing ``(n, n)`` (1/s^2) on the grid points ``j / n``:
    ``fno`` (``wavenumber`` unused) or ``kolmogorov``."""
    x = np.arange(n) / n
    X, Y = np.meshgrid(x, x)  # (y, x) storage
    if kind == "fno":
        return amplitude * (np.sin(2 * np.pi * (X + Y)) + np.cos(2 * np.pi * (X + Y)))
    if kind == "kolmogorov":
        return amplitude * np.sin(2 * np.pi * wavenumber * Y)
    raise ValueError(f"unknown forcing {kind!r}; expected 'fno' or 'kolmogorov'")


def vorticity_schema(m: int) -> Schema:
    """The stored layout: ``vorticity`` (1/s) on an ``m x m`` grid, storage order (y, x),
    both axes periodic (the unit torus)."""
    coords = tuple(np.arange(m) / m)
    return Schema(kind="grid", variables=(Variable("vorticity", ("y", "x"), "1/s"),),
                  sizes={"y": m, "x": m}, space_dims=("y", "x"),
                  coords={"y": coords, "x": coords}, coord_units={"y": "m", "x": "m"},
                  periodic=("y", "x"))


@register_simulator("spectral_ns")
class SpectralNSSimulator(StateReadouts):
    """One trajectory of :class:`SpectralNS2D` for ``simkit generate``.

    Scenes: ``fno`` (FNO forcing, Gaussian random initial vorticity) and
    ``kolmogorov`` (``sin(2 pi k y)`` forcing with linear drag, random initial
    vorticity). Stores ``vorticity`` (1/s) at ``stored_resolution``.
    """

    version = "1"
    description = (
        "Periodic 2D incompressible Navier-Stokes in vorticity form on the unit torus, "
        "dw/dt + u.grad(w) = nu lap(w) + f - mu w, pseudo-spectral (scipy.fft) with 2/3 "
        "dealiasing, Crank-Nicolson viscosity and drag, explicit advection. Initial "
        "vorticity: Gaussian random field sigma^2 (-lap + tau^2)^-alpha. Forcing: FNO "
        "0.1 (sin 2pi(x+y) + cos 2pi(x+y)) or Kolmogorov a sin(2 pi k y). Stored on the "
        "grid points j/n (storage order y, x) after spectral truncation. Units: SI "
        "(1/s for vorticity)."
    )
    #: Parameter defaults (the same for both scenes), declared in simkit.simulators.catalog.
    DEFAULTS: Mapping[str, Any] = MappingProxyType(SPECTRAL_NS)

    def __init__(self, scene: str, params: dict[str, Any], seed: int) -> None:
        p = resolve_params("spectral_ns", scene, params)
        n, m = int(p["resolution"]), int(p["stored_resolution"])
        if n < 8 or n % 2 or m < 2 or m % 2 or m > n:
            raise ValueError(f"spectral_ns: need even resolution >= 8 and even "
                             f"stored_resolution <= resolution, got {n} and {m}")
        self.scene, self.params, self.m = scene, p, m
        rng = np.random.default_rng(seed)
        w0 = gaussian_random_field(rng, n, alpha=p["alpha"], tau=p["tau"])
        forcing = forcing_field(scene, n, p["forcing_amplitude"], int(p["forcing_wavenumber"]))
        self.solver = SpectralNS2D(w0, nu=p["viscosity"], dt=p["dt"], forcing=forcing,
                                   drag=p["drag"], scheme=p["scheme"], workers=1)

    @classmethod
    def from_scene(cls, scene: str, params: dict[str, Any], *, seed: int) -> SpectralNSSimulator:
        return cls(scene, params, seed)

    @property
    def time(self) -> float:
        return self.solver.time

    @property
    def dt(self) -> float:
        return self.solver.dt

    @property
    def step_count(self) -> int:
        return self.solver.step_count

    def schema(self) -> Schema:
        return vorticity_schema(self.m)

    def used_params(self) -> dict[str, Any]:
        return dict(self.params)

    def static(self) -> dict[str, np.ndarray]:
        return {}

    def state(self) -> dict[str, np.ndarray]:
        """``vorticity`` ``(y, x)`` at ``stored_resolution``, plus :meth:`SpectralNS2D.state`."""
        return {"vorticity": downsample(self.solver.vorticity()[0], self.m),
                **self.solver.state()}

    def load_state(self, state) -> None:
        """Continue from ``state``, a :meth:`state` of a simulator of the same scene."""
        self.solver.load_state(state)

    def step(self, dt: float | None = None) -> None:
        """One step of ``dt`` (s), by default the scene's ``dt``."""
        self.solver.step(dt)

    def advance(self, t_end: float) -> None:
        """Step to ``t_end`` (s) by the landing rule (:meth:`SpectralNS2D.advance`)."""
        self.solver.advance(t_end)
