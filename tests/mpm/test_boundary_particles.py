"""Kinematic boundary particles: the walls and colliders sampled as particles, in the
simulator's frames and static variables, and described in the manifest."""

import math

import numpy as np
import pytest

import simkit
from simkit.generate import generate
from simkit.io import open_dataset
from simkit.recipe import Recipe
from simkit.simulators.mpm import (
    KINEMATIC_TYPE,
    PARTICLE_TYPES,
    Collider,
    MPMConfig,
    MPMSimulator,
    sample_boundary,
)
from simkit.simulators.mpm.boundary import box_surface
from simkit.simulators.mpm.materials import MODEL_NAMES


@pytest.fixture(scope="module")
def f64():
    simkit.init("cpu", "f64", seed=0)


def test_the_kinematic_code_follows_the_material_models():
    assert KINEMATIC_TYPE == len(MODEL_NAMES) == 8
    assert PARTICLE_TYPES[KINEMATIC_TYPE] == "kinematic"
    assert PARTICLE_TYPES[:KINEMATIC_TYPE] == MODEL_NAMES


def test_wall_particles_lie_on_the_faces_and_cover_them_at_the_spacing():
    """n_grid 32, 3 wall cells: the free side is 26 cells; at half a cell, 52 intervals
    per edge, so 4 * 52 = 208 particles on the perimeter, 0.5 dx apart."""
    cfg = MPMConfig(dim=2, n_grid=32)
    h = 0.5 * cfg.dx
    lo, hi = 3 * cfg.dx, 1 - 3 * cfg.dx
    b = sample_boundary(cfg, (), h)
    assert b.n == 208 == round(4 * (hi - lo) / h) and b.parts == ((0, 208),)
    x = b.position
    on_face = np.isclose(x, lo, atol=1e-12) | np.isclose(x, hi, atol=1e-12)
    assert np.all(on_face.any(axis=1)) and np.all((x > lo - 1e-12) & (x < hi + 1e-12))
    assert len(np.unique(np.round(x / h).astype(int), axis=0)) == b.n  # each point once
    floor = np.sort(x[np.isclose(x[:, 1], lo), 0])  # the floor, corners included
    np.testing.assert_allclose(np.diff(floor), h, rtol=1e-9)
    assert floor[0] == pytest.approx(lo) and floor[-1] == pytest.approx(hi)
    np.testing.assert_array_equal(b.velocity, 0.0)


def test_box_surfaces_count_their_lattice_faces_in_3d():
    # a cube of n = 4 intervals per edge: 6 n^2 + 2 points; a 2 x 3 x 1 box: the lattice
    # (3 * 4 * 2 points) has no interior point, so all 24
    assert len(box_surface([0, 0, 0], [1, 1, 1], 0.25)) == 6 * 4**2 + 2
    assert len(box_surface([0, 0, 0], [2, 3, 1], 1.0)) == 24
    cfg = MPMConfig(dim=3, n_grid=16)
    b = sample_boundary(cfg, (), cfg.dx)
    assert b.n == 6 * 10**2 + 2


def test_spheres_planes_and_clipping():
    cfg = MPMConfig(dim=3, n_grid=32)
    h, lo, hi = cfg.dx, 3 * cfg.dx, 1 - 3 * cfg.dx
    c = np.array([0.5, 0.5, 0.5])
    plane = Collider("plane", (0.5, 0.3, 0.5), normal=(0.0, 1.0, 1.0))
    # a sphere reaching below the floor loses its points inside the wall
    low = Collider("sphere", (0.5, lo + 0.05, 0.5), radius=0.1)
    b = sample_boundary(cfg, (Collider("sphere", tuple(c), radius=0.2), plane, low), h)
    (_, w), (s0, s1), (p0, p1), (l0, l1) = b.parts
    assert w == 6 * 26**2 + 2
    ball = b.position[s0:s1]
    assert s1 - s0 == math.ceil(4 * math.pi * 0.2**2 / h**2)
    np.testing.assert_allclose(np.linalg.norm(ball - c, axis=1), 0.2, rtol=1e-12)
    assert np.all(np.abs(ball.mean(axis=0) - c) < 0.01)  # spread over the whole sphere
    on_plane = b.position[p0:p1]
    n = np.array([0.0, 1.0, 1.0]) / math.sqrt(2)
    np.testing.assert_allclose((on_plane - [0.5, 0.3, 0.5]) @ n, 0.0, atol=1e-12)
    assert np.all((on_plane >= lo - 1e-9) & (on_plane <= hi + 1e-9))
    # the plane y + z = 0.8 crosses the box in a rectangle of 26 dx (along x) by
    # sqrt(2) (0.8 - 2 lo) (y from lo to 0.8 - lo): one lattice point per h^2 of it, to
    # within the points of one edge row
    side = math.sqrt(2) * (0.8 - 2 * lo) / h
    assert abs((p1 - p0) - 26 * side) < 26
    kept = b.position[l0:l1]
    assert np.all(kept[:, 1] >= lo - 1e-9) and 0 < l1 - l0 < math.ceil(4 * math.pi * 0.01 / h**2)


def test_sand_pours_disc_particles_lie_on_the_disc(f64):
    sim = MPMSimulator.from_scene("sand_pour", {"n_grid": 32}, seed=1)
    rec = sim.trajectory_record()["boundary"]
    (disc,) = rec["colliders"]
    assert disc["shape"] == "sphere" and disc["radius"] == 0.12 and "normal" not in disc
    start, stop = disc["particles"]
    h = 0.5 * sim.config.dx
    assert stop - start == math.ceil(2 * math.pi * 0.12 / h) == 49
    x = sim.frame()["position"][start:stop]
    np.testing.assert_allclose(np.linalg.norm(x - disc["center"], axis=1), 0.12, rtol=1e-12)
    walls = rec["walls"]
    assert walls["particles"] == [sim.n_particles, start]
    assert stop == sim.n_particles + sim.n_boundary
    assert walls["lo"] == [3 / 32] * 2 and walls["hi"] == [29 / 32] * 2
    assert walls["mode"] == "separate" and walls["friction"] == [0.0] * 4


def test_bar_bends_press_moves_with_its_velocity_between_frames(f64):
    sim = MPMSimulator.from_scene("bar_bend", {"n_grid": 32}, seed=0)
    clamp, press = sim.trajectory_record()["boundary"]["colliders"]
    assert press["velocity"] == [0.0, -0.3] and clamp["velocity"] == [0.0, 0.0]
    n = sim.n_particles
    f0 = sim.frame()
    sim.advance(0.01)
    f1 = sim.frame()
    p0, p1 = press["particles"]
    np.testing.assert_allclose(f1["position"][p0:p1] - f0["position"][p0:p1],
                               np.broadcast_to([0.0, -0.3 * 0.01], (p1 - p0, 2)), atol=1e-12)
    np.testing.assert_array_equal(f1["velocity"][p0:p1], [[0.0, -0.3]] * (p1 - p0))
    c0, c1 = clamp["particles"]
    np.testing.assert_array_equal(f1["position"][n:p0], f0["position"][n:p0])  # walls, clamp
    np.testing.assert_array_equal(f1["velocity"][n:p0], 0.0)
    assert c1 == p0 and c1 - c0 > 0
    # the material part of the frame is the state
    np.testing.assert_array_equal(f1["position"][:n], sim.state()["position"])
    static = sim.static()
    assert np.all(static["particle_type"][n:] == KINEMATIC_TYPE)
    assert np.all(static["body"][n:] == -1) and np.all(static["mass"][n:] == 0)
    for key in ("density", "shear_modulus", "bulk_modulus"):
        assert np.all(static[key][n:] == 0)


def test_without_boundary_particles_the_frames_are_the_material_ones(f64):
    params = {"n_grid": 32, "store_F": True, "store_stress": True}
    on = MPMSimulator.from_scene("sand_pour", params, seed=2)
    off = MPMSimulator.from_scene("sand_pour", {**params, "boundary_particles": False}, seed=2)
    assert off.n_boundary == 0 and on.n_boundary > 0
    assert on.schema() == off.schema()
    for sim in (on, off):
        sim.advance(0.02)
    n, k = off.n_particles, on.n_boundary
    f_on, f_off, state = on.frame(), off.frame(), off.state()
    assert set(f_off) == {"position", "velocity", "deformation_gradient", "stress"}
    for name, arr in f_off.items():
        np.testing.assert_array_equal(arr, state[name])
        assert f_on[name].shape == (n + k, *arr.shape[1:])
        np.testing.assert_allclose(f_on[name][:n], arr, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(f_on["deformation_gradient"][n:], np.broadcast_to(np.eye(2),
                                                                                    (k, 2, 2)))
    np.testing.assert_array_equal(f_on["stress"][n:], 0.0)
    assert {len(a) for a in off.static().values()} == {n}
    rec = off.trajectory_record()["boundary"]
    assert "particles" not in rec["walls"] and rec["colliders"][0]["radius"] == 0.12


def test_boundary_spacing_is_checked_and_resolved(f64):
    with pytest.raises(ValueError, match="boundary_spacing must be >= 0 grid cells"):
        MPMSimulator.from_scene("dam_break", {"n_grid": 32, "boundary_spacing": -1.0}, seed=0)
    sim = MPMSimulator.from_scene("dam_break", {"n_grid": 32, "boundary_spacing": 1.0}, seed=0)
    assert sim.used_params()["boundary_spacing"] == 1.0 and sim.n_boundary == 4 * 26


def test_a_generated_dataset_carries_types_masses_and_the_boundary_record(f64, tmp_path):
    # generate() initialises Taichi with the recipe's precision: this module's f64
    spec = {"simulator": "mpm", "scene": "sand_pour", "fixed": {"n_grid": 32},
            "frames": 3, "write_interval": 0.01, "splits": {"train": 1}, "seed": 5,
            "precision": "f64"}
    generate(Recipe.from_dict(spec), tmp_path / "d", workers=1, progress=False)
    ds = open_dataset(tmp_path / "d")
    ds.validate().raise_if_failed()
    (tid,) = ds.ids("train")
    t, rec = ds.trajectory(tid), ds.record(tid)
    sim = MPMSimulator.from_scene("sand_pour", t.params, seed=t.seed)
    n, k = sim.n_particles, sim.n_boundary
    types = t.static["particle_type"]
    assert np.bincount(types).tolist() == [0] * 6 + [n, 0, k]  # drucker_prager sand, kinematic
    assert t.frames["position"].shape == (3, n + k, 2)
    np.testing.assert_allclose(t.static["mass"][:n], sim.masses(), rtol=1e-6)
    assert np.all(t.static["mass"][n:] == 0)
    assert rec["boundary"] == sim.trajectory_record()["boundary"]
    assert ds.schema.tables["material"]["name"][KINEMATIC_TYPE] == "kinematic"
