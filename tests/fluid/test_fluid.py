"""MAC fluid: projection, analytic and benchmark flows, guards, the dataset pipeline."""

import math
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse.linalg as spla
import yaml

import simkit
from simkit.errors import SimulationDiverged
from simkit.generate import generate
from simkit.io import open_dataset
from simkit.io.linear_systems import stencil_to_csr
from simkit.recipe import Recipe
from simkit.registry import get_simulator
from simkit.simulators.fluid import Fluid, FluidConfig, FluidSimulator, Side, build_scene
from simkit.simulators.fluid.simulator import engine_for

RECIPES = Path(__file__).resolve().parents[2] / "data" / "recipes"


@pytest.fixture(autouse=True)
def f64():
    simkit.init("cpu", "f64", seed=0)


def relative_divergence(engine: Fluid) -> float:
    """``max |h^2 div u|`` over fluid cells divided by the 2-norm of the projected
    right-hand side ``-h^2 div u*`` of the last solve."""
    b = engine.mg.b.to_numpy()
    return float(np.abs(engine.divergence() * engine.h**2).max() / np.linalg.norm(b))


@pytest.mark.parametrize("dim,n", [(2, 48), (3, 16)])
def test_projection_leaves_divergence_below_the_tolerance_in_every_fluid_cell(dim, n):
    sim = FluidSimulator.from_scene("smoke_plume", {"dim": dim, "resolution": n,
                                                    "n_obstacles": 3, "rtol": 1e-6}, seed=4)
    eng = sim.engine
    assert sim.setup.solid.any()  # obstacles are there
    for _ in range(5):
        eng.step()
        assert eng.last_solve.converged and eng.last_solve.iterations <= 12
        assert relative_divergence(eng) <= 1e-6
    # the plume rises: upward velocity above the source (at x = 0.5, y = 0.2)
    above = (n // 2, n // 5) + (n // 2,) * (dim - 2)
    assert eng.velocity()[1][above] > 0.01


# early upward speed at the centre of the smoke source per unit beta * t: the divergence-
# free part of a uniform force on a disc is half of it in free space (2D); the free-slip
# floor 0.02 m below the disc lowers that to 0.437 (measured at n = 32, f32 and f64)
SOURCE_LIFT = 0.437


def test_smoke_plume_rises_by_buoyancy_and_not_without_it():
    """``f_y = beta T`` with ``T = 1`` held in the source disc (centre (0.5, 0.1), radius
    0.08): at first the smoke has not moved, so the velocity at the disc centre grows as
    ``SOURCE_LIFT * beta * t``; then the smoke climbs, its centroid higher every frame,
    while with ``beta = 0`` it never leaves the source."""
    n = 32
    y = (np.arange(n) + 0.5) / n  # cell-centre heights
    tops = {}
    for beta in (1.0, 0.0):
        sim = FluidSimulator.from_scene("smoke_plume", {"resolution": n, "n_obstacles": 0,
                                                        "beta": beta}, seed=0)
        eng = sim.engine
        for _ in range(4):
            eng.step(0.005)
            v = eng.cell_velocity()[n // 2, 3, 1]  # the cell at (0.52, 0.11), index (x, y)
            assert v == pytest.approx(SOURCE_LIFT * beta * eng.time, rel=0.01, abs=1e-12)
        centroid = []
        for t_frame in (0.2, 0.4, 0.6, 0.8, 1.0):
            eng.advance(t_frame)
            smoke = eng.scalar(0)
            centroid.append(float((smoke * y).sum() / smoke.sum()))
        tops[beta] = y[smoke.max(axis=0) > 0.1].max()
        if beta:
            assert np.all(np.diff(centroid) > 1e-3) and centroid[-1] > 0.15, centroid
        else:
            np.testing.assert_allclose(centroid, centroid[0], rtol=1e-9)
    # the highest cell holding smoke above 0.1: the source's top cell (0.17 m) without
    # buoyancy, about 0.2 m higher with it (0.3 m: the front has moved ~ 0.44 t^2 / 2)
    assert tops[0.0] < 0.18 and tops[1.0] > 0.3, tops


def taylor_green_error(n: int, nu: float = 0.01, t_end: float = 1.0) -> tuple[float, float]:
    """Max error of ``u_x`` against the exact Taylor-Green vortex at ``t_end`` with
    ``dt = h / 2``, and the relative error of the kinetic energy decay."""
    sim = FluidSimulator.from_scene("taylor_green", {"resolution": n, "viscosity": nu}, seed=0)
    eng = sim.engine
    ux0 = sim.setup.velocity[0].copy()
    e0 = eng.kinetic_energy()
    steps = math.ceil(t_end / (0.5 * eng.h))
    for _ in range(steps):
        eng.step(t_end / steps)
    err = np.abs(eng.velocity()[0] - ux0 * math.exp(-2 * nu * t_end)).max()
    energy = eng.kinetic_energy() / e0 / math.exp(-4 * nu * t_end) - 1
    return float(err), float(energy)


def test_taylor_green_converges_at_first_order_in_dt_proportional_to_h():
    """Advect-then-project splitting is first order in time; with dt ~ h the error
    halves with every refinement, and the energy decays as exp(-4 nu t) in the limit."""
    errs, energy = zip(*(taylor_green_error(n) for n in (16, 32, 64)), strict=False)
    orders = np.log2(np.array(errs[:-1]) / np.array(errs[1:]))
    assert np.all(orders > 0.85) and np.all(orders < 1.3), (errs, orders)
    assert abs(energy[-1]) < 0.015 and abs(energy[-1]) < abs(energy[0]) / 3, energy


def test_maccormack_is_more_accurate_than_plain_semi_lagrangian():
    errs = {}
    for scheme in ("maccormack", "semi_lagrangian"):
        sim = FluidSimulator.from_scene("taylor_green", {"resolution": 32, "viscosity": 0.0,
                                                         "advection": scheme}, seed=0)
        ux0 = sim.setup.velocity[0].copy()
        for _ in range(21):
            sim.engine.step(1 / 21)
        errs[scheme] = np.abs(sim.engine.velocity()[0] - ux0).max()
    assert errs["maccormack"] < errs["semi_lagrangian"] / 2, errs


GHIA_Y = [1.0, 0.9766, 0.9688, 0.9609, 0.9531, 0.8516, 0.7344, 0.6172, 0.5, 0.4531, 0.2813,
          0.1719, 0.1016, 0.0703, 0.0625, 0.0547, 0.0]
GHIA_X = [1.0, 0.9688, 0.9609, 0.9531, 0.9453, 0.9063, 0.8594, 0.8047, 0.5, 0.2344, 0.2266,
          0.1563, 0.0938, 0.0781, 0.0703, 0.0625, 0.0]
# Ghia, Ghia & Shin (1982), Tables I and II: u on x = 0.5, v on y = 0.5
GHIA_U = {100: [1.0, 0.84123, 0.78871, 0.73722, 0.68717, 0.23151, 0.00332, -0.13641, -0.20581,
                -0.2109, -0.15662, -0.1015, -0.06434, -0.04775, -0.04192, -0.03717, 0.0],
          1000: [1.0, 0.65928, 0.57492, 0.51117, 0.46604, 0.33304, 0.18719, 0.05702, -0.0608,
                 -0.10648, -0.27805, -0.38289, -0.2973, -0.2222, -0.20196, -0.18109, 0.0]}
GHIA_V = {100: [0.0, -0.05906, -0.07391, -0.08864, -0.10313, -0.16914, -0.22445, -0.24533,
                0.05454, 0.17527, 0.17507, 0.16077, 0.12317, 0.1089, 0.10091, 0.09233, 0.0],
          1000: [0.0, -0.21388, -0.27669, -0.33714, -0.39188, -0.5155, -0.42665, -0.31966,
                 0.02526, 0.32235, 0.33075, 0.37095, 0.32627, 0.30353, 0.29012, 0.27485, 0.0]}


def cavity_error_against_ghia(reynolds: int, n: int, t_end: float) -> tuple[float, float]:
    """Largest differences of the cavity's centre-line velocities ``u(x = 0.5)`` and
    ``v(y = 0.5)`` at ``t_end`` from Ghia, Ghia & Shin's tables."""
    sim = FluidSimulator.from_scene("lid_cavity", {"resolution": n, "reynolds": reynolds}, seed=0)
    sim.advance(t_end)
    u, v = sim.engine.velocity()
    centres = np.concatenate([[0.0], (np.arange(n) + 0.5) / n, [1.0]])
    u_line = np.concatenate([[0.0], u[n // 2], [1.0]])  # x = 0.5, walls at rest, lid at 1
    v_line = np.concatenate([[0.0], v[:, n // 2], [0.0]])  # y = 0.5
    err_u = np.abs(np.interp(GHIA_Y, centres, u_line) - GHIA_U[reynolds]).max()
    err_v = np.abs(np.interp(GHIA_X, centres, v_line) - GHIA_V[reynolds]).max()
    return float(err_u), float(err_v)


@pytest.mark.slow
@pytest.mark.parametrize("reynolds,n,t_end", [(100, 64, 20.0), (1000, 128, 50.0)])
def test_lid_driven_cavity_matches_ghia_within_0_02(reynolds, n, t_end):
    simkit.init("cpu", "f32", seed=0)
    err_u, err_v = cavity_error_against_ghia(reynolds, n, t_end)
    assert err_u < 0.02 and err_v < 0.02, (err_u, err_v)


def test_coarse_lid_driven_cavity_matches_ghia_within_0_02():
    """The miniature of the test above: Re 100 on 32^2 to t = 10 s (a few seconds).
    Measured 0.009 (u) and 0.006 (v); a viscosity 30% off (Re 70 or 140) gives 0.035."""
    err_u, err_v = cavity_error_against_ghia(100, 32, 10.0)
    assert err_u < 0.02 and err_v < 0.02, (err_u, err_v)


@pytest.mark.slow
def test_cylinder_wake_sheds_at_strouhal_0_165_within_5_percent():
    """Re = 100, 16 cells per diameter, walls 12 diameters apart (blockage 1/12)."""
    simkit.init("cpu", "f32", seed=0)
    sim = FluidSimulator.from_scene("karman", {"cells_per_diameter": 16}, seed=0)
    eng = sim.engine
    probe = (int(8.0 / eng.h), int(6.0 / eng.h))  # two diameters behind the cylinder
    t, v = [], []
    while eng.time < 100.0:
        eng.step()
        t.append(eng.time)
        v.append(eng.u[1][probe])
    t, v = np.array(t), np.array(v)
    late = t > 60.0
    t, v = t[late], v[late] - v[late].mean()
    up = np.flatnonzero((v[:-1] < 0) & (v[1:] >= 0))
    crossings = t[up] - v[up] * (t[up + 1] - t[up]) / (v[up + 1] - v[up])
    strouhal = 1.0 / np.diff(crossings).mean()  # diameter 1 m, inflow 1 m/s
    assert len(crossings) >= 5 and v.std() > 0.1
    assert strouhal == pytest.approx(0.165, rel=0.05)


def test_external_solver_protocol_gives_the_same_flow():
    """A scipy-style solver ``(A, b, x0, rtol) -> (x, info)`` replaces MGPCG."""
    calls = []

    def scipy_cg(A, b, x0=None, *, rtol=1e-5):
        calls.append(A.shape)
        return spla.cg(A, b, x0=x0, rtol=rtol * 0.1, maxiter=2000)

    flows = []
    for solver in (None, scipy_cg):
        setup = build_scene("smoke_plume", {"resolution": 32, "n_obstacles": 2}, seed=1)
        eng = Fluid(setup.config, setup.solid, pressure_solver=solver)
        eng.set_source(setup.source, 1.0, 1.0)
        for _ in range(4):
            eng.step(0.01)
        flows.append(eng.velocity()[1])
        assert relative_divergence(eng) <= 1e-6
    assert calls and calls[0][0] == int((~setup.solid).sum())
    np.testing.assert_allclose(flows[0], flows[1], atol=1e-6)


def test_blow_up_names_the_step_field_and_index():
    setup = build_scene("lid_cavity", {"resolution": 16}, seed=0)
    eng = engine_for(setup, None)
    ux = np.zeros((17, 16))
    ux[5, 7] = np.nan
    eng.set_velocity([ux, np.zeros((16, 17))])
    with pytest.raises(SimulationDiverged, match=r"non-finite velocity in 'velocity_x' at "
                                                 r"index \(5, 8\)"):
        eng.step()


def test_bad_configs_and_params_are_named():
    with pytest.raises(ValueError, match="unknown sides"):
        FluidConfig(shape=(8, 8), sides={"z+": Side()})
    with pytest.raises(ValueError, match="a wall cannot move along its normal"):
        FluidConfig(shape=(8, 8), sides={"y+": Side("noslip", (0.0, 1.0))})
    with pytest.raises(ValueError, match="side kind 'open' unknown"):
        Side("open")
    with pytest.raises(ValueError, match=r"unknown parameters \['reynold'\]"):
        FluidSimulator.from_scene("lid_cavity", {"reynold": 100}, seed=0)
    with pytest.raises(ValueError, match="unknown fluid scene 'cavity'"):
        FluidSimulator.from_scene("cavity", {}, seed=0)
    with pytest.raises(ValueError, match="export must be"):
        FluidSimulator.from_scene("lid_cavity", {"export": "csr"}, seed=0)
    assert get_simulator("fluid").uses_taichi


def test_simulators_of_one_grid_coexist_and_a_collected_one_gives_its_engine_back():
    """Live simulators never share an engine; a dropped one's engine (compiled kernels)
    serves the next simulator of that grid, started afresh."""
    old = FluidSimulator.from_scene("lid_cavity", {"resolution": 16}, seed=0)
    old.advance(0.05)
    new = FluidSimulator.from_scene("lid_cavity", {"resolution": 16, "reynolds": 400}, seed=0)
    assert new.time == 0 and new.engine is not old.engine
    new.advance(0.05)
    old.advance(0.1)
    assert old.time == 0.1 and new.time == 0.05
    engine, ke = old.engine, old.engine.kinetic_energy()
    assert ke > 0
    del old  # no cycle holds a simulator: reference counting frees it here
    third = FluidSimulator.from_scene("lid_cavity", {"resolution": 16}, seed=0)
    assert third.engine is engine and third.time == 0 and engine.kinetic_energy() == 0.0


def small_recipe(name: str, **fixed) -> Recipe:
    spec = yaml.safe_load((RECIPES / f"{name}.yaml").read_text())
    spec.update(splits={"train": 2, "valid": 1, "test": 1}, trajectories_per_shard=2, frames=3)
    spec["fixed"].update(fixed)
    return Recipe.from_dict(spec)


def test_smoke_recipe_generates_a_valid_grid_dataset(tmp_path):
    simkit.init("cpu", "f32", seed=0)
    res = generate(small_recipe("smoke_plume2d", resolution=32), tmp_path / "smoke", workers=1,
                   progress=False)
    assert res.stored == 4 and res.dropped == 0
    ds = open_dataset(tmp_path / "smoke")
    ds.validate().raise_if_failed()
    t = ds.trajectory(ds.ids("train")[0])
    assert t.frames["velocity"].shape == (3, 2, 32, 32) and t.static["solid"].shape == (32, 32)
    # storage order (component, y, x); frames at t = 0, 0.05, 0.1 s. The buoyancy of the
    # stored beta lifts the source centre (x = 0.52, y = 0.11: row 3, column 16) as
    # SOURCE_LIFT * beta * t (see the test above); obstacles sit above y = 0.23 and change
    # the projection a little
    for tid in (i for split in ("train", "valid", "test") for i in ds.ids(split)):
        t = ds.trajectory(tid)
        lift = t.frames["velocity"][:, 1, 3, 16] / (t.params["beta"] * np.array([1, 0.05, 0.1]))
        assert t.frames["velocity"][0].max() == 0 and 0.5 <= t.params["beta"] <= 2.0
        np.testing.assert_allclose(lift[1:], SOURCE_LIFT, rtol=0.02, err_msg=tid)


def test_pressure_systems_recipe_stores_solvable_stencil_systems(tmp_path):
    simkit.init("cpu", "f32", seed=0)
    res = generate(small_recipe("poisson_systems3d", resolution=16), tmp_path / "sys",
                   workers=1, progress=False)
    assert res.stored == 4
    ds = open_dataset(tmp_path / "sys")
    ds.validate().raise_if_failed()
    t = ds.trajectory(ds.ids("test")[0])
    offsets = np.stack([ds.schema.tables["offset"][d] for d in ("z", "y", "x")], axis=1)
    stencil, rhs, sol, mask = (t.frames[k][-1] for k in ("stencil", "rhs", "solution", "mask"))
    A, cells = stencil_to_csr(stencil, offsets, mask)
    b, x = rhs.ravel()[cells], sol.ravel()[cells]
    assert np.linalg.norm(b) > 0 and (mask == 0).any()  # obstacles are not unknowns
    assert np.linalg.norm(b - A @ x) / np.linalg.norm(b) <= 1e-6 * 1.001
