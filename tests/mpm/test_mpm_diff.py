"""Differentiable MPM: checkpointed gradients against finite differences."""

import math

import numpy as np
import pytest

import simkit
from simkit.simulators.mpm import Box, MPMConfig, ParticleBuilder, material
from simkit.simulators.mpm.diff import DiffMPM


@pytest.fixture(scope="module")
def sim():
    simkit.init("cpu", "f64", seed=0)
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
