"""The MPM engine: conservation, free fall, friction, guards, time step, memory check."""

import math

import numpy as np
import pytest

import simkit
from simkit.errors import SimulationDiverged
from simkit.simulators.mpm import (
    MPM,
    Box,
    Collider,
    MPMConfig,
    ParticleBuilder,
    Particles,
    Sphere,
    material,
)


@pytest.fixture(scope="module", autouse=True)
def f64():
    simkit.init("cpu", "f64", seed=0)


def block(dim, mat, lo, hi, *, n_grid=32, velocity=None, ppc=4.0, **config):
    cfg = MPMConfig(dim=dim, n_grid=n_grid, **config)
    b = ParticleBuilder(dim, cfg.dx)
    b.add(Box(lo, hi), mat, velocity=velocity, ppc=ppc)
    return cfg, b.build()


def test_grid_mass_equals_particle_mass():
    cfg, parts = block(2, material("jelly"), (0.3, 0.3), (0.6, 0.5))
    assert parts.volume.sum() == pytest.approx(0.3 * 0.2, rel=1e-12)  # lattice cells tile it
    sim = MPM(cfg, parts)
    sim.advance(0.01)
    assert sim.grid_mass() == pytest.approx(parts.mass.sum(), rel=1e-6)


@pytest.mark.parametrize("dim", [2, 3])
def test_free_fall_follows_gravity_until_contact(dim):
    g, dt = 9.81, 2e-4
    lo, hi = (0.4,) * dim, (0.6,) * dim
    cfg, parts = block(dim, material("jelly"), lo, hi, n_grid=32 if dim == 2 else 16, dt=dt)
    sim = MPM(cfg, parts)
    y0 = sim.positions()[:, 1].mean()
    n = 500  # 0.1 s: the block falls 4.9 cm of the 28 cm to the floor
    sim.advance(n * dt)
    y = sim.positions()[:, 1].mean()
    # symplectic Euler: x_n = x_0 - g dt^2 n (n + 1) / 2 exactly for a stress-free body
    assert y == pytest.approx(y0 - g * dt**2 * n * (n + 1) / 2, rel=1e-9)
    assert y0 - y == pytest.approx(g * (n * dt) ** 2 / 2, rel=dt / (n * dt) * 1.01)
    np.testing.assert_allclose(sim.velocities()[:, 1], -g * n * dt, rtol=1e-9)


@pytest.mark.parametrize("dim", [2, 3])
def test_spinning_free_block_conserves_linear_and_angular_momentum(dim):
    n_grid = 32 if dim == 2 else 16
    cfg = MPMConfig(dim=dim, n_grid=n_grid, gravity=(0.0,) * dim, dt=2e-4)
    b = ParticleBuilder(dim, cfg.dx)
    lo, hi = np.full(dim, 0.4), np.full(dim, 0.6)
    b.add(Box(tuple(lo), tuple(hi)), material("jelly", youngs_modulus=2e4), ppc=4.0)
    parts = b.build()
    c = parts.position.mean(axis=0)
    omega = 3.0  # rad/s about z, plus a drift
    r = parts.position - c
    parts.velocity[:, 0] = -omega * r[:, 1] + 0.1
    parts.velocity[:, 1] = omega * r[:, 0] + 0.05
    sim = MPM(cfg, parts)
    p0, L0 = sim.momentum(), sim.angular_momentum()
    for _ in range(1000):
        sim.substep()
    p1, L1 = sim.momentum(), sim.angular_momentum()
    scale_p = parts.mass.sum() * (omega * 0.1 + 0.1)
    assert np.abs(p1 - p0).max() < 1e-4 * scale_p
    assert np.abs(np.asarray(L1) - np.asarray(L0)).max() < 1e-4 * np.abs(L0).max()
    spin = np.asarray(L0).ravel()[-1]
    assert spin != 0
    # the block did spin: its particles moved by up to about omega * r * t
    assert np.abs(sim.positions() - parts.position).max() > 0.02


@pytest.mark.parametrize("name", ["jelly", "rubber", "water", "snow", "plasticine", "sand",
                                  "foam", "metal"])
def test_uniform_translation_keeps_F_identity_and_zero_stress(name):
    cfg, parts = block(2, material(name), (0.3, 0.3), (0.5, 0.5), velocity=(0.5, -0.3),
                       gravity=(0.0, 0.0), dt=1e-4)
    sim = MPM(cfg, parts)
    for _ in range(200):
        sim.substep()
    F = sim.F.to_numpy()
    np.testing.assert_allclose(F, np.broadcast_to(np.eye(2), F.shape), atol=1e-10)
    assert np.abs(sim.cauchy_stress()).max() < 1e-6
    np.testing.assert_allclose(sim.velocities(), np.broadcast_to([0.5, -0.3], (parts.n, 2)),
                               atol=1e-10)
    np.testing.assert_allclose(sim.positions(), parts.position + np.array([0.5, -0.3]) * 0.02,
                               atol=1e-10)


def test_coulomb_friction_decelerates_a_sliding_block_at_mu_g():
    mu_f, g, v0 = 0.3, 9.81, 1.5
    cfg = MPMConfig(dim=2, n_grid=64, floor_friction=mu_f, dt=1e-4)
    floor = cfg.wall_cells * cfg.dx
    b = ParticleBuilder(2, cfg.dx)
    b.add(Box((0.1, floor), (0.3, floor + 0.05)), material("jelly", youngs_modulus=5e4),
          velocity=(v0, 0.0))
    sim = MPM(cfg, b.build())
    sim.advance(0.05)  # settle on the floor
    v1, t1 = sim.velocities()[:, 0].mean(), sim.time
    sim.advance(0.25)
    v2, t2 = sim.velocities()[:, 0].mean(), sim.time
    decel = (v1 - v2) / (t2 - t1)
    assert v2 > 0.2  # still sliding
    # only the bottom layer of nodes touches the floor, so the friction force is the
    # Coulomb one: deceleration mu g
    assert decel == pytest.approx(mu_f * g, rel=0.1)


def test_sphere_collider_stops_a_falling_block_and_moving_collider_drags():
    cfg = MPMConfig(dim=2, n_grid=64, dt=2e-4)
    b = ParticleBuilder(2, cfg.dx)
    b.add(Box((0.45, 0.52), (0.55, 0.6)), material("plasticine"))
    ball = Collider("sphere", (0.5, 0.4), radius=0.1, mode="sticky")
    sim = MPM(cfg, b.build(), [ball])
    sim.advance(0.3)
    dist = np.linalg.norm(sim.positions() - np.array([0.5, 0.4]), axis=1)
    assert dist.min() > 0.1 - 1.5 * cfg.dx  # rests on the ball, at most ~1 cell inside
    assert abs(sim.velocities()[:, 1].mean()) < 0.05  # free fall would be 2.9 m/s
    # a sticky box moving at 0.4 m/s to the right carries the block resting on it
    cfg = MPMConfig(dim=2, n_grid=64, gravity=(0.0, 0.0), dt=2e-4)
    b = ParticleBuilder(2, cfg.dx)
    b.add(Box((0.2, 0.4), (0.3, 0.5)), material("jelly"))
    pusher = Collider("box", (0.25, 0.45), half_extent=(0.1, 0.1), velocity=(0.4, 0.0),
                      mode="sticky")
    sim = MPM(cfg, b.build(), [pusher])
    sim.advance(0.2)
    np.testing.assert_allclose(sim.velocities().mean(axis=0), [0.4, 0.0], atol=0.02)


def test_sampled_sdf_collider_matches_the_analytic_sphere():
    def drop(collider):
        cfg = MPMConfig(dim=2, n_grid=64, dt=2e-4)
        b = ParticleBuilder(2, cfg.dx)
        b.add(Box((0.42, 0.52), (0.5, 0.6)), material("plasticine"))
        sim = MPM(cfg, b.build(), [collider])
        sim.advance(0.3)
        return sim.positions()

    ball = drop(Collider("sphere", (0.5, 0.4), radius=0.1, mode="slip"))
    disc = drop(Collider("sdf", (0.5, 0.4), mode="slip",
                         sdf=lambda x: np.linalg.norm(x, axis=1) - 0.1))
    # the block rests on the ball, off-centre, sliding down its side: the sampled
    # normals (central differences of the grid samples) give the same motion
    assert np.abs(disc - ball).max() < 0.25 * MPMConfig(n_grid=64).dx
    assert np.linalg.norm(disc - np.array([0.5, 0.4]), axis=1).min() > 0.1 - 1.5 / 64
    with pytest.raises(ValueError, match="sdf must return"):
        drop(Collider("sdf", (0.5, 0.4), sdf=lambda x: np.zeros(3)))
    with pytest.raises(ValueError, match="sdf colliders are static"):
        Collider("sdf", (0.5, 0.4), sdf=lambda x: x[:, 0], velocity=(1.0, 0.0))


def test_guard_names_step_time_and_particle():
    cfg = MPMConfig(dim=2, n_grid=32, dt=1e-3)
    b = ParticleBuilder(2, cfg.dx)
    b.add(Box((0.3, 0.3), (0.4, 0.4)), material("jelly"), velocity=(0.0, 150.0))
    lone = b.add_points(np.array([[0.7, 0.3]]), 1e-4, material("jelly"), velocity=(0.0, 400.0))
    parts = b.build()
    sim = MPM(cfg, parts)
    # the lone particle moves 0.4 m per step and leaves at step 1; the block (0.15 m per
    # step) would leave at step 3
    with pytest.raises(SimulationDiverged, match=f"particle {parts.n - 1} left the grid") as err:
        sim.advance(0.05)
    assert lone == 1 and err.value.index == (parts.n - 1,)
    assert err.value.step == 1 and err.value.time == pytest.approx(2e-3)
    parts.velocity[:] = 0.0
    sim = MPM(cfg, parts)
    sim.advance(0.005)
    v = sim.v.to_numpy()
    v[-1] = np.nan  # as a blown-up stress would leave it
    sim.v.from_numpy(v)
    with pytest.raises(SimulationDiverged,
                       match=f"particle {parts.n - 1} non-finite position at step 5 "):
        sim.advance(0.01)


def test_cfl_time_step_and_substeps_per_frame():
    mat = material("jelly")
    cfg, parts = block(2, mat, (0.3, 0.3), (0.4, 0.4), velocity=(2.0, 0.0), cfl=0.5,
                       dt_max=1.0)
    sim = MPM(cfg, parts)
    expect = 0.5 * cfg.dx / (mat.wave_speed + 2.0)
    assert mat.wave_speed == pytest.approx(math.sqrt((mat.packed()[1] + 2 * mat.packed()[0])
                                                     / 1000.0))
    assert sim.dt == pytest.approx(expect)
    sim.advance(0.01)
    # steps of the CFL dt, the last shortened (the landing rule): ceil(span / dt) steps
    n = math.ceil(0.01 / expect)
    assert sim.step_count == n and sim.dt == pytest.approx(expect) and sim.time == 0.01
    capped = MPM(MPMConfig(dim=2, n_grid=32, dt_max=1e-5), parts)
    assert capped.dt == 1e-5
    paste = material("water", viscosity=5000.0)
    cfg, parts = block(2, paste, (0.3, 0.3), (0.4, 0.4))
    viscous = MPM(cfg, parts)
    assert viscous.dt == pytest.approx(1000.0 * cfg.dx**2 / (2 * 2 * 5000.0))
    assert viscous.dt < cfg.cfl * cfg.dx / paste.wave_speed


def test_bad_setups_fail_before_allocation():
    cfg, parts = block(2, material("jelly"), (0.3, 0.3), (0.4, 0.4))
    with pytest.raises(ValueError, match="above the limit"):
        MPM(MPMConfig(dim=2, n_grid=32, max_memory_bytes=1000), parts)
    inside_wall = Particles(np.array([[0.01, 0.5]]), 0.0, 1e-4, 0, 0, [material("jelly")])
    with pytest.raises(ValueError, match="particle 0 .* outside the free domain"):
        MPM(cfg, inside_wall)
    with pytest.raises(ValueError, match="config.dim is 3"):
        MPM(MPMConfig(dim=3, n_grid=16), parts)
    with pytest.raises(ValueError, match="wall_mode 'glue'"):
        MPMConfig(wall_mode="glue")
    with pytest.raises(ValueError, match="n_grid must be"):
        MPMConfig(n_grid=4)
    with pytest.raises(ValueError, match="is 3D, the scene is 2D"):
        ParticleBuilder(2, 0.1).add(Box((0, 0, 0), (1, 1, 1)), material("jelly"))
    with pytest.raises(ValueError, match="ppc must be a positive number"):
        ParticleBuilder(2, 0.1).add(Sphere((0.5, 0.5), 0.1), material("jelly"), ppc=0)


def test_elastic_p_wave_speed():
    """A plate 0.2 m long and 0.8 m wide, pre-strained along x and released.

    Its centre strip is laterally confined by the plate's own inertia until the
    release wave from the free top and bottom arrives, so it rings at the p-wave
    speed: the momentum of its right half changes sign after T / 2 = L / c_p.
    """
    mat = material("jelly")
    c_p, L = mat.wave_speed, 0.2
    cfg = MPMConfig(dim=2, n_grid=128, gravity=(0.0, 0.0), cfl=0.3)
    b = ParticleBuilder(2, cfg.dx)
    b.add(Box((0.5 - L / 2, 0.1), (0.5 + L / 2, 0.9)), mat)
    parts = b.build()
    sim = MPM(cfg, parts)
    F = sim.F.to_numpy()
    F[:, 0, 0] = 0.999
    sim.F.from_numpy(F)
    m = sim.masses()
    strip = (np.abs(parts.position[:, 1] - 0.5) < 0.1) & (parts.position[:, 0] > 0.5)
    times, momentum = [0.0], [0.0]
    for k in range(1, 41):
        sim.advance(k * 1e-3)
        times.append(sim.time)
        momentum.append((m[strip] * sim.velocities()[strip, 0]).sum())
    p = np.array(momentum)
    i = next(i for i in range(2, len(p) - 1) if p[i] > 0 >= p[i + 1])
    t_half = times[i] + p[i] * (times[i + 1] - times[i]) / (p[i] - p[i + 1])
    assert L / t_half == pytest.approx(c_p, rel=0.05)


def test_weakly_compressible_column_reaches_hydrostatic_pressure():
    """Time- and cell-averaged pressure is rho g depth, within 5% of rho g H.

    The column drops by part of a cell into the floor's wall layer at the start and
    rings (acoustically and by sloshing); momentum balance fixes the time average.
    Averages are over 2 grid cells of height (4 particle rows): the pressure of single
    rows alternates by +-30-60% around it (the pressure noise of J-based MPM fluids).
    The bottom 4 cells are left out: walls act on the grid velocities of the nodes in
    their layer, so the particles there are held by the wall, not by their stress
    (their pressure is 20-80% low).
    """
    rho, g, H = 1000.0, 9.81, 0.3
    cfg = MPMConfig(dim=2, n_grid=64)
    lo, hi = cfg.wall_cells * cfg.dx, cfg.domain - cfg.wall_cells * cfg.dx
    b = ParticleBuilder(2, cfg.dx)
    b.add(Box((lo, lo), (hi, lo + H)), material("water", viscosity=1.0))
    parts = b.build()
    sim = MPM(cfg, parts)
    sim.advance(0.2)
    samples = []
    for k in range(1, 81):
        sim.advance(0.2 + k * 5e-3)
        samples.append(-np.trace(sim.cauchy_stress(), axis1=1, axis2=2) / 2)
    p = np.mean(samples, axis=0)
    top = parts.position[:, 1].max() + cfg.dx / 4  # lattice: half a spacing above the last
    depth = top - parts.position[:, 1]  # by initial position (Lagrangian label)
    rows = np.unique(depth)  # 2 rows per cell at 4 particles per cell
    rows = rows[(rows > 0.2 * H) & (rows < H - 4 * cfg.dx)]
    for start in (0, 2):  # both ways of pairing cells
        r = rows[start:]
        for group in np.split(r[: len(r) // 4 * 4], len(r) // 4):
            sel = np.isin(depth, group)
            assert p[sel].mean() == pytest.approx(rho * g * depth[sel].mean(),
                                                  abs=0.05 * rho * g * H)


def test_reinitialised_taichi_gives_the_same_results():
    """A new ``ti.init`` (other precision, or a third-party call) must not corrupt runs."""
    import taichi as ti

    def com_after(precision):
        simkit.init("cpu", precision, seed=0)
        cfg, parts = block(2, material("jelly"), (0.3, 0.3), (0.4, 0.4), dt=1e-4)
        sim = MPM(cfg, parts)
        for _ in range(30):
            sim.substep()
        return sim.positions().mean(axis=0)

    first = com_after("f64")
    np.testing.assert_allclose(com_after("f32"), first, rtol=1e-6)
    ti.init(arch=ti.cpu)
    np.testing.assert_allclose(com_after("f64"), first, rtol=1e-12)


def test_live_simulations_have_their_own_grid_and_a_collected_one_gives_it_back():
    """The grid (and the substep kernel compiled for it) goes to the next simulation of
    its size once the previous one is gone: trajectory after trajectory, no recompile."""
    cfg, parts = block(2, material("jelly"), (0.3, 0.3), (0.4, 0.4), dt=1e-4)
    first, second = MPM(cfg, parts), MPM(cfg, parts)
    grid = first._kernels
    assert second._kernels is not grid
    del first  # no cycle holds a simulation: reference counting frees it here
    third = MPM(cfg, parts)
    assert third._kernels is grid
    third.close()
    assert MPM(cfg, parts)._kernels is grid


def test_simulations_are_closed_when_the_runtime_changes():
    cfg, parts = block(2, material("jelly"), (0.3, 0.3), (0.4, 0.4), dt=1e-4)
    sim = MPM(cfg, parts)
    sim.substep()
    simkit.init("cpu", "f32", seed=0)
    with pytest.raises(RuntimeError, match="simulation was closed"):
        sim.substep()  # its arrays were freed with the old program, not later by the new one
    simkit.init("cpu", "f64", seed=0)
