"""Differentiable MPM: checkpointed gradients against finite differences; its forward pass
is the engine's."""

import math

import numpy as np
import pytest

import simkit
from simkit.simulators.mpm import MPM, Box, MPMConfig, ParticleBuilder, material
from simkit.simulators.mpm.diff import DiffMPM


@pytest.fixture(scope="module")
def f64():
    simkit.init("cpu", "f64", seed=0)


@pytest.fixture(scope="module")
def sim(f64):
    cfg = MPMConfig(dim=2, n_grid=32)
    b = ParticleBuilder(2, cfg.dx)
    # starts 3 cm above the floor: falls, hits it and deforms within the horizon
    b.add(Box((0.3, 0.12), (0.45, 0.27)),
          material("neo_hookean", youngs_modulus=5e3, poisson_ratio=0.3))
    return DiffMPM(cfg, b.build(), n_steps=150, dt=1e-3, checkpoint_every=13)


def loss(sim, v0, **params):
    """L = mean(x) + mean(y^2)/2 of the final positions, and dL/dx."""
    x, _ = sim.forward(v0=v0, **params)
    n = len(x)
    return x[:, 0].mean() + 0.5 * (x[:, 1] ** 2).mean(), np.stack(
        [np.full(n, 1 / n), x[:, 1] / n], axis=1)


def test_gradients_match_central_differences_through_contact(sim):
    v0 = np.array([1.0, -1.0])
    _, dL_dx = loss(sim, v0)
    g = sim.backward(dL_dx)
    assert len(sim._checkpoints) == math.ceil(150 / 13)  # memory: 12 checkpoints + 14 slots
    h = 1e-6
    for i in range(2):
        e = np.zeros(2)
        e[i] = h
        fd = (loss(sim, v0 + e)[0] - loss(sim, v0 - e)[0]) / (2 * h)
        assert g["v0"].sum(axis=0)[i] == pytest.approx(fd, rel=1e-6, abs=1e-9)
    E, nu = 5e3, 0.3
    fd_E = (loss(sim, v0, youngs_modulus=E * (1 + h))[0]
            - loss(sim, v0, youngs_modulus=E * (1 - h))[0]) / (2 * E * h)
    fd_nu = (loss(sim, v0, poisson_ratio=nu + h)[0] - loss(sim, v0, poisson_ratio=nu - h)[0]) \
        / (2 * h)
    assert fd_E != 0 and fd_nu != 0  # the block did deform on the floor
    assert g["youngs_modulus"] == pytest.approx(fd_E, rel=1e-5)
    assert g["poisson_ratio"] == pytest.approx(fd_nu, rel=1e-5)


def test_diff_mode_rejects_what_it_cannot_differentiate(sim):
    cfg = MPMConfig(dim=2, n_grid=32)
    b = ParticleBuilder(2, cfg.dx)
    b.add(Box((0.3, 0.3), (0.4, 0.4)), material("sand"))
    with pytest.raises(ValueError, match="one neo_hookean material"):
        DiffMPM(cfg, b.build(), n_steps=10, dt=1e-3)
    loss(sim, np.zeros(2))
    with pytest.raises(ValueError, match="dL_dx must have shape"):
        sim.backward(np.zeros((3, 2)))


@pytest.mark.parametrize("wall_mode", ["sticky", "slip", "separate"])
def test_forward_pass_is_the_engines(f64, wall_mode):
    """Same particles, dt and walls: DiffMPM's forward pass and the engine's 50 substeps agree
    to rounding (both call the same transfer, stress and wall functions).

    Measured: 1e-15 relative, not 0, because Taichi's default fast math lets LLVM fold and
    contract differently in the two compilations (DiffMPM's dt, dx and volume are
    compile-time constants, the engine's kernel arguments); with ``fast_math=False``
    the two are bitwise equal."""
    n_steps, dt = 50, 1e-3
    cfg = MPMConfig(dim=2, n_grid=32, wall_mode=wall_mode, dt=dt)
    b = ParticleBuilder(2, cfg.dx)
    b.add(Box((0.3, 0.12), (0.45, 0.27)),
          material("neo_hookean", youngs_modulus=5e3, poisson_ratio=0.3))
    particles = b.build()
    particles.velocity[:] = (-4.0, -1.0)  # into the floor and the left wall
    x_diff, v_diff = DiffMPM(cfg, particles, n_steps=n_steps, dt=dt).forward()
    engine = MPM(cfg, particles)
    for _ in range(n_steps):
        engine.step()
    x_eng, v_eng = engine.positions(), engine.velocities()
    free_flight = particles.velocity + n_steps * dt * np.asarray(cfg.gravity)
    assert np.abs(v_eng - free_flight).max() > 0.5  # the walls stopped part of the block
    assert np.abs(x_diff - x_eng).max() <= 1e-12 * np.abs(x_eng).max()
    assert np.abs(v_diff - v_eng).max() <= 1e-12 * np.abs(v_eng).max()
