"""Constitutive models: stress from energy, objectivity, return maps, the SVD wrapper."""

import numpy as np
import pytest
import taichi as ti

import simkit
from simkit.simulators.mpm.materials import (
    MODELS,
    PRESETS,
    dp_alpha,
    evaluate,
    material,
    yield_function,
)
from simkit.simulators.mpm.svd import signed_svd


@pytest.fixture(scope="module", autouse=True)
def f64():
    simkit.init("cpu", "f64", seed=0)


def random_F(rng, n, d, scale=0.25, det_positive=True):
    F = np.eye(d) + scale * rng.standard_normal((n, d, d))
    if det_positive:
        F[np.linalg.det(F) <= 0.05] = np.eye(d)
    return F


def random_rotation(rng, d):
    q, r = np.linalg.qr(rng.standard_normal((d, d)))
    q *= np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] *= -1
    return q


# numpy energy densities, written independently of the kernels
def psi_fixed_corotated(F, mu, lam):
    U, s, Vt = np.linalg.svd(F)
    R = U @ Vt
    if np.linalg.det(R) < 0:
        U[:, -1] *= -1
        R = U @ Vt
    J = np.linalg.det(F)
    return mu * np.sum((F - R) ** 2) + lam / 2 * (J - 1) ** 2


def psi_neo_hookean(F, mu, lam):
    d, J = F.shape[0], np.linalg.det(F)
    return mu / 2 * (np.trace(F.T @ F) - d) - mu * np.log(J) + lam / 2 * np.log(J) ** 2


def psi_stvk_hencky(F, mu, lam):
    eps = np.log(np.linalg.svd(F, compute_uv=False))
    return mu * np.sum(eps**2) + lam / 2 * np.sum(eps) ** 2


ELASTIC = {"fixed_corotated": psi_fixed_corotated, "neo_hookean": psi_neo_hookean,
           "stvk_hencky": psi_stvk_hencky}


def fd_kirchhoff(psi, F, h=1e-6):
    """tau = (dpsi/dF) F^T by central differences."""
    d = F.shape[0]
    P = np.zeros_like(F)
    for i in range(d):
        for j in range(d):
            E = np.zeros_like(F)
            E[i, j] = h
            P[i, j] = (psi(F + E) - psi(F - E)) / (2 * h)
    return P @ F.T


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("model", sorted(ELASTIC))
def test_elastic_stress_is_energy_derivative_zero_at_rest_and_objective(model, d):
    rng = np.random.default_rng(1)
    mat = material(model, youngs_modulus=1e5, poisson_ratio=0.3)
    mu, lam, _ = mat.packed()
    _, _, tau0 = evaluate(mat, np.eye(d)[None])
    assert np.abs(tau0).max() < 1e-9 * mu  # tau(I) = 0
    F = random_F(rng, 12, d)
    _, _, tau = evaluate(mat, F)
    ref = np.stack([fd_kirchhoff(lambda G: ELASTIC[model](G, mu, lam), f) for f in F])
    np.testing.assert_allclose(tau, ref, rtol=1e-5, atol=1e-5 * mu)
    assert np.abs(tau - np.swapaxes(tau, 1, 2)).max() < 1e-9 * mu  # symmetric
    R = np.stack([random_rotation(rng, d) for _ in F])
    _, _, tau_rot = evaluate(mat, R @ F)
    np.testing.assert_allclose(tau_rot, R @ tau @ np.swapaxes(R, 1, 2), rtol=1e-9,
                               atol=1e-9 * mu)


@pytest.mark.parametrize("d", [2, 3])
def test_fluid_pressure_and_viscous_stress(d):
    rng = np.random.default_rng(2)
    J = np.array([0.9, 0.97, 1.0, 1.05])
    F = np.stack([np.eye(d) * j ** (1 / d) for j in J])
    lin = material("fluid", bulk_modulus=1e5, viscosity=0.0, gamma=0.0)
    tait = material("fluid", bulk_modulus=1e5, viscosity=0.0, gamma=7.0)
    _, _, tau = evaluate(lin, F)
    p = 1e5 * (1 - J)
    np.testing.assert_allclose(tau, -(J * p)[:, None, None] * np.eye(d), atol=1e-6)
    _, _, tau = evaluate(tait, F)
    p = 1e5 / 7 * (J**-7 - 1)
    np.testing.assert_allclose(tau, -(J * p)[:, None, None] * np.eye(d), rtol=1e-9, atol=1e-6)
    # a sheared, volume-preserving F is ignored: only J matters for a fluid
    Fn, _, _ = evaluate(lin, np.eye(d)[None] + 0.1 * np.eye(d, k=1)[None])
    np.testing.assert_allclose(Fn[0], np.eye(d), atol=1e-12)
    visc = material("fluid", bulk_modulus=1e5, viscosity=0.5, gamma=0.0)
    C = rng.standard_normal((1, d, d))
    _, _, tau = evaluate(visc, np.eye(d)[None], C=C)
    np.testing.assert_allclose(tau[0], 0.5 * (C[0] + C[0].T), rtol=1e-12)


@pytest.mark.parametrize("d", [2, 3])
def test_snow_clamps_singular_values_and_keeps_total_volume_in_Jp(d):
    rng = np.random.default_rng(3)
    snow = material("snow")
    F = random_F(rng, 50, d, scale=0.1)
    Jp0 = rng.uniform(0.8, 1.2, 50)
    Fn, Jp, _ = evaluate(snow, F, plastic=Jp0)
    s = np.linalg.svd(Fn, compute_uv=False)
    p = snow.params
    assert s.min() >= 1 - p["critical_compression"] - 1e-12
    assert s.max() <= 1 + p["critical_stretch"] + 1e-12
    # J_total = J_elastic * J_plastic is unchanged by the return map
    np.testing.assert_allclose(Jp * np.linalg.det(Fn), Jp0 * np.linalg.det(F), rtol=1e-10)


def deviatoric_trials(rng, n, d, size):
    """Mostly deviatoric stretches of magnitudes from 0.1 to 3 times ``size``."""
    eps = rng.standard_normal((n, d)) * size * rng.uniform(0.1, 3.0, (n, 1))
    eps -= eps.mean(axis=1, keepdims=True) * rng.uniform(0, 1, (n, 1))
    U = np.stack([random_rotation(rng, d) for _ in range(n)])
    V = np.stack([random_rotation(rng, d) for _ in range(n)])
    return U @ (np.exp(eps)[:, :, None] * np.eye(d)) @ np.swapaxes(V, 1, 2)


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("name", ["plasticine", "metal"])
def test_von_mises_return_lands_on_the_yield_surface(name, d):
    rng = np.random.default_rng(4)
    mat = material(name)
    F = deviatoric_trials(rng, 40, d, mat.params["yield_stress"] / mat.shear_modulus)
    _, _, tau_trial = evaluate(material("stvk_hencky", **{k: mat.params[k] for k in
                                                          ("youngs_modulus", "poisson_ratio")}),
                               F)
    ep0 = rng.uniform(0, 0.1, 40)
    Fn, ep, tau = evaluate(mat, F, plastic=ep0)
    f_trial = yield_function(mat, tau_trial, ep0)
    f = yield_function(mat, tau, ep0)
    outside = f_trial > 0
    assert outside.sum() > 10 and (~outside).sum() > 0
    sigma_y = mat.params["yield_stress"]
    assert np.abs(f[outside]).max() < 1e-8 * sigma_y  # on the surface
    np.testing.assert_allclose(tau[~outside], tau_trial[~outside], rtol=1e-10, atol=1e-8)
    assert np.all(ep[outside] > ep0[outside]) and np.all(ep[~outside] == ep0[~outside])
    # the radial return keeps the volume: det F is unchanged
    np.testing.assert_allclose(np.linalg.det(Fn), np.linalg.det(F), rtol=1e-10)


@pytest.mark.parametrize("d", [2, 3])
@pytest.mark.parametrize("cohesion", [0.0, 2e3])
def test_drucker_prager_return_lands_on_the_cone_or_its_tip(d, cohesion):
    rng = np.random.default_rng(5)
    sand = material("sand", cohesion=cohesion, volume_correction=0)
    F = deviatoric_trials(rng, 60, d, 0.05)
    F = F * rng.uniform(0.9, 1.06, (60, 1, 1))  # compression and tension
    Fn, _, tau = evaluate(sand, F)
    f = yield_function(sand, tau)
    E = sand.params["youngs_modulus"]
    assert f.max() < 1e-8 * E  # nothing outside the cone
    mean = np.trace(tau, axis1=1, axis2=2) / d
    dev = np.linalg.norm(tau - mean[:, None, None] * np.eye(d), axis=(1, 2))
    phi = np.radians(sand.params["friction_angle"])
    shift = cohesion / np.tan(phi)
    tip = dev < 1e-8 * E
    on_cone = np.abs(f) < 1e-8 * E
    changed = np.abs(Fn - F).max(axis=(1, 2)) > 1e-8  # 3D SVD round-off is ~1e-10
    assert np.all(on_cone[changed] | tip[changed])
    # at the tip the mean stress is the apex -p = c cot(phi)
    np.testing.assert_allclose(mean[tip & changed], shift, atol=1e-8 * E)
    assert (tip & changed).sum() > 0 and (on_cone & changed & ~tip).sum() > 0
    assert dp_alpha(25.0) == pytest.approx(np.sqrt(2 / 3) * 2 * np.sin(phi) / (3 - np.sin(phi)))


def test_drucker_prager_volume_correction_records_the_lost_volume():
    sand = material("sand")
    F = np.eye(2)[None] * 1.05  # pure tension: projected to the tip (J_e = 1)
    Fn, vc, _ = evaluate(sand, F, plastic=0.0)
    np.testing.assert_allclose(Fn[0], np.eye(2), atol=1e-12)
    assert vc[0] == pytest.approx(2 * np.log(1.05), rel=1e-10)
    # compressing again first consumes the stored volume: no stress until it is used up
    _, vc2, tau2 = evaluate(sand, np.eye(2)[None] * 0.98, plastic=vc[0])
    assert vc2[0] == pytest.approx(vc[0] + 2 * np.log(0.98), rel=1e-10)
    assert np.abs(tau2).max() < 1e-9
    # once it is used up, compression loads the material again
    _, vc3, tau3 = evaluate(sand, np.eye(2)[None] * 0.9, plastic=vc2[0])
    assert vc3[0] == pytest.approx(0.0, abs=1e-12) and np.trace(tau3[0]) < 0


@pytest.mark.parametrize("d", [2, 3])
def test_herschel_bulkley_bingham_closed_form_and_rate_independent_limit(d):
    rng = np.random.default_rng(6)
    F = deviatoric_trials(rng, 30, d, 0.2)
    dt = 1e-4
    bingham = material("herschel_bulkley", viscosity=5.0, flow_index=1.0)
    mu = bingham.shear_modulus
    k = np.sqrt(2 / 3) * bingham.params["yield_stress"]
    hencky = material("stvk_hencky", youngs_modulus=bingham.params["youngs_modulus"],
                      poisson_ratio=bingham.params["poisson_ratio"])
    _, _, tau_trial = evaluate(hencky, F)

    def dev_norm(tau):
        m = np.trace(tau, axis1=1, axis2=2) / d
        return np.linalg.norm(tau - m[:, None, None] * np.eye(d), axis=(1, 2))

    s_tr = dev_norm(tau_trial)
    _, _, tau = evaluate(bingham, F, dt=dt)
    eta = 5.0
    expect = np.where(s_tr > k, k + (s_tr - k) * eta / (2 * mu * dt + eta), s_tr)
    np.testing.assert_allclose(dev_norm(tau), expect, rtol=1e-9)
    # vanishing viscosity: the rate-independent von Mises surface
    plastic = material("herschel_bulkley", viscosity=1e-12, flow_index=0.5)
    _, _, tau = evaluate(plastic, F, dt=dt)
    f = yield_function(plastic, tau)
    assert np.all(f < 1e-6 * bingham.params["yield_stress"])
    assert np.abs(f[s_tr > k]).max() < 1e-3 * bingham.params["yield_stress"]


def test_material_errors_name_the_problem():
    with pytest.raises(ValueError, match="unknown material 'sandd'.*sand"):
        material("sandd")
    with pytest.raises(ValueError, match=r"unknown parameters \['frictionangle'\]"):
        material("sand", frictionangle=30)
    with pytest.raises(ValueError, match="poisson_ratio must be in"):
        material("jelly", poisson_ratio=0.5)
    with pytest.raises(ValueError, match="density"):
        material("water", density=-1.0)
    assert set(PRESETS) >= {"jelly", "plasticine", "sand", "water", "snow", "metal", "foam"}
    assert material("jelly").params["youngs_modulus"] == 1e5
    assert material("plasticine").params["yield_stress"] == 5e3
    assert material("sand").params["friction_angle"] == 25.0
    assert len(MODELS) == 8


@ti.kernel
def _svd_batch(F: ti.types.ndarray(), U: ti.types.ndarray(), S: ti.types.ndarray(),
               V: ti.types.ndarray(), d: ti.template()):
    for k in range(F.shape[0]):
        M = ti.Matrix.zero(float, d, d)
        for i, j in ti.static(ti.ndrange(d, d)):
            M[i, j] = F[k, i, j]
        u, s, v = signed_svd(M)
        for i, j in ti.static(ti.ndrange(d, d)):
            U[k, i, j] = u[i, j]
            V[k, i, j] = v[i, j]
        for i in ti.static(range(d)):
            S[k, i] = s[i]


@pytest.mark.parametrize("d", [2, 3])
def test_signed_svd_gives_rotations_and_signs_only_on_inversion(d):
    rng = np.random.default_rng(7)
    F = rng.standard_normal((200, d, d))
    F[:5] = np.diag([1.0] * (d - 1) + [-1.0])  # reflections, as raw SVDs mishandle
    U, V, S = np.zeros_like(F), np.zeros_like(F), np.zeros((200, d))
    _svd_batch(F, U, S, V, d)
    np.testing.assert_allclose(np.linalg.det(U), 1.0, atol=1e-9)
    np.testing.assert_allclose(np.linalg.det(V), 1.0, atol=1e-9)
    np.testing.assert_allclose(U @ (S[:, :, None] * np.eye(d)) @ np.swapaxes(V, 1, 2), F,
                               atol=1e-9)
    inverted = np.linalg.det(F) < 0
    assert np.all((S < 0).sum(axis=1) == inverted)
    smallest = np.argmin(np.abs(S), axis=1)
    assert np.all(S[inverted, smallest[inverted]] < 0)
