"""Material library of the MPM simulator: models, parameters, presets, stress.

A *model* is a constitutive law with a code used inside the Taichi kernels; a
:class:`Material` is a model with its parameters (SI units) and density. Each
particle points at a row of the simulator's material table, so one scene mixes
materials. Stresses are Kirchhoff stresses ``tau = J sigma`` (Pa), from
``tau = (dpsi/dF) F^T`` for the hyperelastic models.

Models (``MODELS``):

==================  =====================================================================
fixed_corotated     psi = mu |F - R|^2 + lam/2 (J - 1)^2 (Stomakhin et al. 2012)
neo_hookean         psi = mu/2 (tr F^T F - d) - mu ln J + lam/2 (ln J)^2
stvk_hencky         psi = mu |ln S|^2 + lam/2 (tr ln S)^2, S the singular values of F
fluid               weakly compressible: p = K (1 - J) (J-based, ``gamma = 0``) or Tait
                    p = K/gamma (J^-gamma - 1); Newtonian viscosity tau_v = J eta (C + C^T)
snow                fixed-corotated, singular values clamped to [1 - theta_c, 1 + theta_s],
                    hardening mu, lam * exp(xi (1 - Jp)) (Stomakhin et al. 2013)
von_mises           Hencky elasticity, yield sqrt(3/2) |dev tau| <= sigma_y + H eps_p (metal,
                    plasticine; H < 0 softens)
drucker_prager      Hencky elasticity, |dev tau| <= alpha d (p + c cot phi) with
                    alpha = sqrt(2/3) 2 sin phi / (3 - sin phi), projection to the cone tip in
                    tension, volume correction (Klar et al. 2016; Tampubolon et al. 2017)
herschel_bulkley    Hencky elasticity with a viscoplastic return: |s| = k + eta gdot^n with
                    k = sqrt(2/3) sigma_y, gdot the deviatoric Hencky strain rate (Bingham at
                    n = 1; Yue et al. 2015)
==================  =====================================================================

``plastic_state`` per particle: Jp for snow (starts at 1), the equivalent plastic
strain for von_mises and herschel_bulkley, the log volume correction for
drucker_prager (both start at 0).
"""



import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any

import numpy as np
import taichi as ti

from simkit.simulators.mpm.svd import SIGMA_MIN, diag, signed_svd

__all__ = [
    "MaterialModel",
    "Material",
    "MODELS",
    "PRESETS",
    "material",
    "lame",
    "Column",
    "neo_hookean_stress",
    "constitutive",
    "row_constitutive",
    "evaluate",
    "yield_function",
]

N_PAR = 4  # model-specific parameter slots per material row


class Column(IntEnum):
    """Columns of the material table the kernels read, one row per :class:`Material`.

    ``MU`` and ``LAM`` the Lame parameters (Pa; for fluids 0 and the bulk modulus),
    ``DENSITY`` kg/m^3, then the ``N_PAR`` model slots from ``PAR`` on
    (:meth:`Material.table_row`).
    """

    MU = 0
    LAM = 1
    DENSITY = 2
    PAR = 3


N_COLUMNS = Column.PAR + N_PAR


# The model slots (``par``) of each model, in the order its ``pack`` returns them.
class _Fluid(IntEnum):
    VISCOSITY = 0  # Pa s
    GAMMA = 1  # Tait exponent, 0 for the J-based equation of state


class _Snow(IntEnum):
    CRITICAL_COMPRESSION = 0
    CRITICAL_STRETCH = 1
    HARDENING = 2


class _VonMises(IntEnum):
    YIELD_STRESS = 0  # Pa
    HARDENING_MODULUS = 1  # Pa


class _DruckerPrager(IntEnum):
    ALPHA = 0  # cone coefficient, dp_alpha
    SHIFT = 1  # c cot(phi), Pa
    VOLUME_CORRECTION = 2  # 0 or 1


class _HerschelBulkley(IntEnum):
    YIELD_STRESS = 0  # Pa
    VISCOSITY = 1  # Pa s^n
    FLOW_INDEX = 2


def _slots(layout: type[IntEnum], **values: float) -> tuple[float, ...]:
    """The model slots ``values`` (named as the members of ``layout``) in slot order."""
    return tuple(float(values[m.name.lower()]) for m in sorted(layout))

FIXED_COROTATED, NEO_HOOKEAN, STVK_HENCKY, FLUID, SNOW, VON_MISES, DRUCKER_PRAGER, \
    HERSCHEL_BULKLEY = range(8)


def lame(youngs_modulus: float, poisson_ratio: float) -> tuple[float, float]:
    """Lame parameters ``(mu, lam)`` in Pa from Young's modulus (Pa) and Poisson's ratio."""
    e, nu = youngs_modulus, poisson_ratio
    return e / (2 * (1 + nu)), e * nu / ((1 + nu) * (1 - 2 * nu))


@dataclass(frozen=True)
class MaterialModel:
    """A constitutive law the kernels implement.

    Attributes
    ----------
    name, code : str, int
        Registry name and the code tested in the Taichi kernels.
    defaults : mapping of str to float
        Every parameter (SI units) with its default.
    pack : callable
        ``params -> (mu, lam, par)`` with ``par`` the ``N_PAR`` model slots.
    initial_plastic_state : float
    """

    name: str
    code: int
    defaults: Mapping[str, float]
    pack: Callable[[Mapping[str, float]], tuple[float, float, tuple[float, ...]]]
    initial_plastic_state: float = 0.0


def _elastic(p: Mapping[str, float]) -> tuple[float, float, tuple[float, ...]]:
    return (*lame(p["youngs_modulus"], p["poisson_ratio"]), ())


def _fluid(p: Mapping[str, float]) -> tuple[float, float, tuple[float, ...]]:
    return 0.0, p["bulk_modulus"], _slots(_Fluid, viscosity=p["viscosity"], gamma=p["gamma"])


def _snow(p: Mapping[str, float]) -> tuple[float, float, tuple[float, ...]]:
    return (*lame(p["youngs_modulus"], p["poisson_ratio"]),
            _slots(_Snow, **{k: p[k] for k in ("critical_compression", "critical_stretch",
                                               "hardening")}))


def _von_mises(p: Mapping[str, float]) -> tuple[float, float, tuple[float, ...]]:
    return (*lame(p["youngs_modulus"], p["poisson_ratio"]),
            _slots(_VonMises, yield_stress=p["yield_stress"],
                   hardening_modulus=p["hardening_modulus"]))


def dp_alpha(friction_angle_deg: float) -> float:
    """Drucker-Prager cone coefficient ``sqrt(2/3) 2 sin(phi) / (3 - sin(phi))``."""
    s = math.sin(math.radians(friction_angle_deg))
    return math.sqrt(2 / 3) * 2 * s / (3 - s)


def _drucker_prager(p: Mapping[str, float]) -> tuple[float, float, tuple[float, ...]]:
    phi = math.radians(p["friction_angle"])
    shift = p["cohesion"] / math.tan(phi) if p["cohesion"] > 0 else 0.0
    return (*lame(p["youngs_modulus"], p["poisson_ratio"]),
            _slots(_DruckerPrager, alpha=dp_alpha(p["friction_angle"]), shift=shift,
                   volume_correction=p["volume_correction"]))


def _herschel_bulkley(p: Mapping[str, float]) -> tuple[float, float, tuple[float, ...]]:
    return (*lame(p["youngs_modulus"], p["poisson_ratio"]),
            _slots(_HerschelBulkley, **{k: p[k] for k in ("yield_stress", "viscosity",
                                                          "flow_index")}))


_ELASTIC = {"youngs_modulus": 1e5, "poisson_ratio": 0.3}
MODELS: dict[str, MaterialModel] = {m.name: m for m in (
    MaterialModel("fixed_corotated", FIXED_COROTATED, _ELASTIC, _elastic),
    MaterialModel("neo_hookean", NEO_HOOKEAN, _ELASTIC, _elastic),
    MaterialModel("stvk_hencky", STVK_HENCKY, _ELASTIC, _elastic),
    MaterialModel("fluid", FLUID, {"bulk_modulus": 2e6, "viscosity": 1e-3, "gamma": 7.0}, _fluid),
    MaterialModel("snow", SNOW, {"youngs_modulus": 1.4e5, "poisson_ratio": 0.2,
                                 "critical_compression": 2.5e-2, "critical_stretch": 7.5e-3,
                                 "hardening": 10.0}, _snow, initial_plastic_state=1.0),
    MaterialModel("von_mises", VON_MISES, {**_ELASTIC, "yield_stress": 5e3,
                                           "hardening_modulus": 0.0}, _von_mises),
    MaterialModel("drucker_prager", DRUCKER_PRAGER, {"youngs_modulus": 1e6, "poisson_ratio": 0.3,
                                                     "friction_angle": 25.0, "cohesion": 0.0,
                                                     "volume_correction": 1.0}, _drucker_prager),
    MaterialModel("herschel_bulkley", HERSCHEL_BULKLEY, {**_ELASTIC, "yield_stress": 1e3,
                                                         "viscosity": 10.0, "flow_index": 1.0},
                  _herschel_bulkley),
)}
MODEL_NAMES = tuple(sorted(MODELS, key=lambda n: MODELS[n].code))


@dataclass(frozen=True)
class Material:
    """A material: a model, its parameters (SI) and a density (kg/m^3).

    Build it with :func:`material`, which checks names and values.
    """

    model: str
    density: float
    params: Mapping[str, float] = field(default_factory=dict)

    @property
    def code(self) -> int:
        return MODELS[self.model].code

    def packed(self) -> tuple[float, float, tuple[float, ...]]:
        """``(mu, lam, par)``: Lame parameters (Pa) and the model slots, padded."""
        mu, lam, par = MODELS[self.model].pack(self.params)
        return mu, lam, tuple(par) + (0.0,) * (N_PAR - len(par))

    def table_row(self) -> tuple[float, ...]:
        """The row of the kernels' material table, laid out by :class:`Column`."""
        mu, lam, par = self.packed()
        row = [0.0] * N_COLUMNS
        row[Column.MU], row[Column.LAM], row[Column.DENSITY] = mu, lam, self.density
        row[Column.PAR:Column.PAR + N_PAR] = par
        return tuple(row)

    @property
    def wave_speed(self) -> float:
        """Elastic p-wave speed ``sqrt((lam + 2 mu) / rho)`` in m/s (sound speed for fluids)."""
        mu, lam, _ = self.packed()
        return math.sqrt((lam + 2 * mu) / self.density)

    @property
    def shear_modulus(self) -> float:
        return self.packed()[0]

    @property
    def bulk_modulus(self) -> float:
        """``lam + 2 mu / 3`` (Pa)."""
        mu, lam, _ = self.packed()
        return lam + 2 * mu / 3


#: Presets with published parameters, SI units. ``water`` is weakly compressible: its
#: bulk modulus gives a sound speed of about 45 m/s, ten times the speed of a 1 m dam
#: break, not the real 1480 m/s (which would need a 30x smaller time step).
PRESETS: dict[str, tuple[str, float, dict[str, float]]] = {
    "jelly": ("fixed_corotated", 1000.0, {"youngs_modulus": 1e5, "poisson_ratio": 0.2}),
    "rubber": ("neo_hookean", 1100.0, {"youngs_modulus": 1e6, "poisson_ratio": 0.45}),
    "water": ("fluid", 1000.0, {"bulk_modulus": 2e6, "viscosity": 1e-3, "gamma": 7.0}),
    "snow": ("snow", 400.0, {"youngs_modulus": 1.4e5, "poisson_ratio": 0.2,
                             "critical_compression": 2.5e-2, "critical_stretch": 7.5e-3,
                             "hardening": 10.0}),
    "plasticine": ("von_mises", 1000.0, {"youngs_modulus": 3e5, "poisson_ratio": 0.3,
                                         "yield_stress": 5e3, "hardening_modulus": 0.0}),
    # a soft "metal": real steel (E = 200 GPa) would need ~1e-8 s steps at these grids
    "metal": ("von_mises", 7800.0, {"youngs_modulus": 5e7, "poisson_ratio": 0.3,
                                    "yield_stress": 1e5, "hardening_modulus": 1e6}),
    "sand": ("drucker_prager", 1600.0, {"youngs_modulus": 1e6, "poisson_ratio": 0.3,
                                        "friction_angle": 25.0, "cohesion": 0.0,
                                        "volume_correction": 1.0}),
    "foam": ("herschel_bulkley", 200.0, {"youngs_modulus": 2e4, "poisson_ratio": 0.3,
                                         "yield_stress": 2e2, "viscosity": 10.0,
                                         "flow_index": 1.0}),
    "mud": ("herschel_bulkley", 1800.0, {"youngs_modulus": 1e5, "poisson_ratio": 0.3,
                                         "yield_stress": 50.0, "viscosity": 5.0,
                                         "flow_index": 0.5}),
}

_CHECKS: dict[str, tuple[Callable[[float], bool], str]] = {
    "youngs_modulus": (lambda v: v > 0, "> 0"),
    "poisson_ratio": (lambda v: -1 < v < 0.5, "in (-1, 0.5)"),
    "bulk_modulus": (lambda v: v > 0, "> 0"),
    "viscosity": (lambda v: v >= 0, ">= 0"),
    "gamma": (lambda v: v >= 0, ">= 0 (0 = J-based linear equation of state)"),
    "critical_compression": (lambda v: 0 <= v < 1, "in [0, 1)"),
    "critical_stretch": (lambda v: v >= 0, ">= 0"),
    "hardening": (lambda v: v >= 0, ">= 0"),
    "yield_stress": (lambda v: v >= 0, ">= 0"),
    "hardening_modulus": (lambda v: True, "a number"),
    "friction_angle": (lambda v: 0 < v < 90, "in (0, 90) degrees"),
    "cohesion": (lambda v: v >= 0, ">= 0"),
    "volume_correction": (lambda v: v in (0, 1), "0 or 1"),
    "flow_index": (lambda v: v > 0, "> 0"),
}


def material(name: str, *, density: float | None = None, **params: Any) -> Material:
    """A preset (``"sand"``) or a model (``"drucker_prager"``) with overrides.

    Parameters
    ----------
    name : str
        A key of :data:`PRESETS` or :data:`MODELS`.
    density : float, optional
        kg/m^3; the preset's, or 1000 for a bare model.
    **params
        Model parameters in SI units (angles in degrees).

    Raises
    ------
    ValueError
        Unknown name or parameter, or a value out of range.

    Examples
    --------
    >>> material("sand", friction_angle=30.0).model
    'drucker_prager'
    """
    if name in PRESETS:
        model, rho, base = PRESETS[name]
    elif name in MODELS:
        model, rho, base = name, 1000.0, {}
    else:
        raise ValueError(f"unknown material {name!r}; expected a preset {sorted(PRESETS)} or "
                         f"a model {list(MODEL_NAMES)}")
    defaults = MODELS[model].defaults
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        raise ValueError(f"material {name!r} ({model}): unknown parameters {unknown}; "
                         f"expected some of {sorted(defaults)}")
    resolved = {**defaults, **base, **params}
    rho = float(rho if density is None else density)
    if not (math.isfinite(rho) and rho > 0):
        raise ValueError(f"material {name!r}: density must be a positive number, got {density!r}")
    for key, value in resolved.items():
        ok, expected = _CHECKS[key]
        if not (isinstance(value, int | float) and math.isfinite(value) and ok(value)):
            raise ValueError(f"material {name!r}: {key} must be {expected}, got {value!r}")
        resolved[key] = float(value)
    return Material(model, rho, resolved)


# --------------------------------------------------------------------------- kernels


@ti.func
def _hencky_stress(U, eps, mu, lam):
    """Kirchhoff stress of Hencky elasticity, ``U diag(2 mu eps + lam tr(eps)) U^T``."""
    return U @ diag(2 * mu * eps + lam * eps.sum()) @ U.transpose()


@ti.func
def _log_sig(sig):
    d = ti.static(sig.n)
    eps = ti.Vector.zero(float, d)
    for i in ti.static(range(d)):
        eps[i] = ti.log(ti.max(sig[i], SIGMA_MIN))
    return eps


@ti.func
def _prod(v):
    out = 1.0
    for i in ti.static(range(v.n)):
        out *= v[i]
    return out


@ti.func
def _exp_vec(eps):
    d = ti.static(eps.n)
    out = ti.Vector.zero(float, d)
    for i in ti.static(range(d)):
        out[i] = ti.exp(eps[i])
    return out


@ti.func
def _von_mises_return(eps, mu, sigma_y):
    """Radial return of Hencky strain ``eps (d,)`` to ``sqrt(3/2) |2 mu dev eps| <= sigma_y``.

    Returns the new strain and the equivalent plastic strain increment.
    """
    d = ti.static(eps.n)
    tr = eps.sum()
    dev = eps - tr / d
    norm = dev.norm()
    target = sigma_y / (ti.sqrt(1.5) * 2 * mu)
    dep = 0.0
    if norm > target:
        eps = dev * (target / norm) + tr / d
        dep = ti.sqrt(2.0 / 3.0) * (norm - target)
    return eps, dep


@ti.func
def _drucker_prager_return(eps, mu, lam, alpha, shift):
    """Return of Hencky strain ``eps (d,)`` to the cone ``|dev tau| <= alpha d (p + shift)``."""
    d = ti.static(eps.n)
    tr_c = d * shift / (d * lam + 2 * mu)  # trace of the cone tip strain
    tr = eps.sum()
    dev = eps - tr / d
    norm = dev.norm()
    out = eps
    if tr - tr_c >= 0:  # tension: project to the tip
        out = ti.Vector.zero(float, d) + tr_c / d
    else:
        dg = norm + (d * lam + 2 * mu) / (2 * mu) * (tr - tr_c) * alpha
        if dg > 0:
            out = eps - dg / norm * dev
    return out


@ti.func
def _herschel_bulkley_return(eps, mu, sigma_y, eta, n, dt):
    """Viscoplastic return: ``|s| = k + eta ((|s_tr| - |s|) / (2 mu dt))^n`` by bisection.

    ``s = 2 mu dev(eps)``, ``k = sqrt(2/3) sigma_y``. Returns the new strain and the
    equivalent plastic strain increment.
    """
    d = ti.static(eps.n)
    tr = eps.sum()
    dev = eps - tr / d
    s_tr = 2 * mu * dev.norm()
    k = ti.sqrt(2.0 / 3.0) * sigma_y
    dep = 0.0
    if s_tr > k:
        a = s_tr - k  # excess over the yield stress; solve y - eta ((a - y)/(2 mu dt))^n = 0
        lo, hi = 0.0, a
        for _ in range(40):  # monotone in y: bisection is exact to 2^-40 a, no derivative
            mid = 0.5 * (lo + hi)
            if mid - eta * ti.pow((a - mid) / (2 * mu * dt), n) > 0:
                hi = mid
            else:
                lo = mid
        s_new = k + 0.5 * (lo + hi)
        eps = dev * (s_new / s_tr) + tr / d
        dep = ti.sqrt(2.0 / 3.0) * (s_tr - s_new) / (2 * mu)
    return eps, dep


@ti.func
def neo_hookean_stress(F, mu, lam):
    """Kirchhoff stress ``mu (F F^T - I) + lam ln(J) I`` (Pa) of a ``(d, d)`` ``F``.

    ``J = max(det F, SIGMA_MIN)``: no branch, so Taichi's reverse mode differentiates
    it (the differentiable mode :mod:`~simkit.simulators.mpm.diff` calls it directly).
    """
    ident = ti.Matrix.identity(float, F.n)
    J = ti.max(F.determinant(), SIGMA_MIN)
    return mu * (F @ F.transpose() - ident) + lam * ti.log(J) * ident


@ti.func
def constitutive(code, F, plastic, mu, lam, par, C, dt):
    """Plastic return and Kirchhoff stress of one particle.

    Parameters
    ----------
    code : int
        Model code.
    F : (d, d) deformation gradient after the elastic predictor ``(I + dt C) F``.
    plastic : float
        Plastic state (see the module docstring).
    mu, lam : float
        Lame parameters (Pa); for fluids ``mu = 0`` and ``lam`` the bulk modulus.
    par : (N_PAR,) model slots.
    C : (d, d) APIC affine matrix, the velocity gradient (1/s).
    dt : float
        Time step (s).

    Returns
    -------
    F_new (d, d), plastic_new, tau (d, d) in Pa.
    """
    d = ti.static(F.n)
    ident = ti.Matrix.identity(float, d)
    tau = ti.Matrix.zero(float, d, d)
    F_new = F
    p_new = plastic
    if code == FLUID:
        J = F.determinant()
        F_new = ident * ti.pow(ti.max(J, SIGMA_MIN), 1.0 / d)  # only J matters
        pressure = lam * (1.0 - J)
        gamma = par[_Fluid.GAMMA]
        if gamma > 0:
            pressure = lam / gamma * (ti.pow(ti.max(J, SIGMA_MIN), -gamma) - 1.0)
        tau = -J * pressure * ident + J * par[_Fluid.VISCOSITY] * (C + C.transpose())
    elif code == NEO_HOOKEAN:
        tau = neo_hookean_stress(F, mu, lam)
    else:
        U, sig, V = signed_svd(F)
        if code == FIXED_COROTATED or code == SNOW:
            m, la = mu, lam
            if code == SNOW:
                J_old = _prod(sig)
                for i in ti.static(range(d)):
                    sig[i] = ti.min(ti.max(sig[i], 1 - par[_Snow.CRITICAL_COMPRESSION]),
                                    1 + par[_Snow.CRITICAL_STRETCH])
                p_new = plastic * J_old / _prod(sig)
                h = ti.exp(par[_Snow.HARDENING] * (1.0 - p_new))
                m, la = mu * h, lam * h
                F_new = U @ diag(sig) @ V.transpose()
            J = _prod(sig)
            tau = 2 * m * (F_new - U @ V.transpose()) @ F_new.transpose() \
                + la * (J - 1.0) * J * ident
        else:
            eps = _log_sig(sig)
            if code == VON_MISES:
                sigma_y = ti.max(par[_VonMises.YIELD_STRESS]
                                 + par[_VonMises.HARDENING_MODULUS] * plastic, 0.0)
                eps, dep = _von_mises_return(eps, mu, sigma_y)
                p_new = plastic + dep
            elif code == DRUCKER_PRAGER:
                correct = par[_DruckerPrager.VOLUME_CORRECTION]
                trial = eps + plastic * correct / d  # volume correction (Tampubolon 2017)
                eps = _drucker_prager_return(trial, mu, lam, par[_DruckerPrager.ALPHA],
                                             par[_DruckerPrager.SHIFT])
                p_new = (trial.sum() - eps.sum()) * correct
            elif code == HERSCHEL_BULKLEY:
                eps, dep = _herschel_bulkley_return(eps, mu, par[_HerschelBulkley.YIELD_STRESS],
                                                    par[_HerschelBulkley.VISCOSITY],
                                                    par[_HerschelBulkley.FLOW_INDEX], dt)
                p_new = plastic + dep
            if code != STVK_HENCKY:
                F_new = U @ diag(_exp_vec(eps)) @ V.transpose()
            tau = _hencky_stress(U, eps, mu, lam)
    return F_new, p_new, tau


@ti.func
def row_constitutive(code, table: ti.template(), r, F, plastic, C, dt):
    """:func:`constitutive` with the parameters of row ``r`` of the material ``table``.

    ``table`` is ``(rows, N_COLUMNS)``, laid out by :class:`Column`.
    """
    par = ti.Vector.zero(float, N_PAR)
    for i in ti.static(range(N_PAR)):
        par[i] = table[r, Column.PAR + i]
    return constitutive(code, F, plastic, table[r, Column.MU], table[r, Column.LAM], par, C, dt)


@ti.kernel
def _evaluate(code: int, F: ti.types.ndarray(), plastic: ti.types.ndarray(),
              table: ti.types.ndarray(), C: ti.types.ndarray(), dt: float,
              F_out: ti.types.ndarray(), p_out: ti.types.ndarray(),
              tau_out: ti.types.ndarray(), d: ti.template()):
    for k in range(F.shape[0]):
        Fk = ti.Matrix.zero(float, d, d)
        Ck = ti.Matrix.zero(float, d, d)
        for i, j in ti.static(ti.ndrange(d, d)):
            Fk[i, j] = F[k, i, j]
            Ck[i, j] = C[k, i, j]
        Fn, pn, tau = row_constitutive(code, table, 0, Fk, plastic[k], Ck, dt)
        p_out[k] = pn
        for i, j in ti.static(ti.ndrange(d, d)):
            F_out[k, i, j] = Fn[i, j]
            tau_out[k, i, j] = tau[i, j]


def evaluate(mat: Material, F: np.ndarray, *, plastic: np.ndarray | float | None = None,
             C: np.ndarray | None = None, dt: float = 1e-4
             ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run the kernel constitutive model on a batch of deformation gradients.

    For tests and for users checking a material; needs :func:`simkit.init` first.

    Parameters
    ----------
    mat : Material
    F : (n, d, d) trial deformation gradients.
    plastic : (n,) or float, optional
        Plastic state; the model's initial value by default.
    C : (n, d, d), optional
        Velocity gradients (1/s), zero by default.
    dt : float

    Returns
    -------
    F_new (n, d, d), plastic_new (n,), tau (n, d, d) in Pa.
    """
    F = np.ascontiguousarray(F, dtype=np.float64)
    if F.ndim != 3 or F.shape[1] != F.shape[2] or F.shape[1] not in (2, 3):
        raise ValueError(f"F must have shape (n, d, d) with d in (2, 3), got {F.shape}")
    n, d = F.shape[0], F.shape[1]
    if plastic is None:
        plastic = MODELS[mat.model].initial_plastic_state
    plastic = np.broadcast_to(np.asarray(plastic, dtype=np.float64), (n,)).copy()
    C = np.zeros_like(F) if C is None else np.ascontiguousarray(C, dtype=np.float64)
    table = np.array([mat.table_row()], dtype=np.float64)
    F_out, tau = np.zeros_like(F), np.zeros_like(F)
    p_out = np.zeros(n)
    _evaluate(mat.code, F, plastic, table, C, float(dt), F_out, p_out, tau, d)
    return F_out, p_out, tau


def yield_function(mat: Material, tau: np.ndarray, plastic: np.ndarray | float = 0.0
                   ) -> np.ndarray:
    """Yield function of a plastic model at Kirchhoff stresses ``tau (n, d, d)``, in Pa.

    ``<= 0`` inside the elastic region, ``0`` on the yield surface: von_mises
    ``sqrt(3/2) |dev tau| - sigma_y``; drucker_prager ``|dev tau| - alpha d (p + c cot
    phi)`` with ``p = -tr(tau)/d``; herschel_bulkley (rate-independent part)
    ``sqrt(3/2) |dev tau| - sigma_y``.
    """
    d = tau.shape[-1]
    mean = np.trace(tau, axis1=-2, axis2=-1) / d
    dev = tau - mean[..., None, None] * np.eye(d)
    dev_norm = np.linalg.norm(dev, axis=(-2, -1))
    p = mat.params
    if mat.model == "von_mises":
        sigma_y = np.maximum(p["yield_stress"] + p["hardening_modulus"] * np.asarray(plastic), 0)
        return math.sqrt(1.5) * dev_norm - sigma_y
    if mat.model == "herschel_bulkley":
        return math.sqrt(1.5) * dev_norm - p["yield_stress"]
    if mat.model == "drucker_prager":
        _, _, par = MODELS[mat.model].pack(p)
        alpha, shift = par[_DruckerPrager.ALPHA], par[_DruckerPrager.SHIFT]
        return dev_norm - alpha * d * (-mean + shift)
    raise ValueError(f"material model {mat.model!r} has no yield surface")
