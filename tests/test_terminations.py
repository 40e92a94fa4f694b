"""Named terminations: near-collisions, escapes, failed pressure projections and spectral
blow-ups are ``SimulationDiverged`` subclasses carrying step, time and the first bad
index, so that ``simkit generate`` retries or drops the trajectory."""

import dataclasses
import math
import pickle

import numpy as np
import pytest
import scipy.sparse.linalg as spla

import simkit
from simkit import Encounter, Escape, ProjectionFailed, SimulationDiverged, SpectralBlowUp
from simkit.generate import generate
from simkit.io import open_dataset
from simkit.recipe import Recipe
from simkit.simulators.nbody import NBody, NBodySimulator
from simkit.simulators.spectral_ns import SpectralNS2D, gaussian_random_field

# ---- N-body -----------------------------------------------------------------------------


def _head_on(**kw) -> NBody:
    """Bodies 1 and 2 (mass 1/2 each) fall from rest at separation 1; body 0 is a speck
    far away, so that the pair's index is not the first one."""
    sim = NBody(**kw)
    sim.add(m=1e-9, x=10.0)
    sim.add(m=0.5, x=-0.5)
    sim.add(m=0.5, x=0.5)
    return sim


def _radial_fall_time(r: float) -> float:
    """Time for a radial Kepler fall (G M = 1) from rest at separation 1 to reach ``r``."""
    return math.sqrt(0.5) * (math.acos(math.sqrt(r)) + math.sqrt(r * (1 - r)))


def test_dop853_near_collision_is_an_encounter_of_the_closest_pair():
    sim = _head_on(integrator="dop853", dt=1e-3)
    with pytest.raises(Encounter, match=r"near-collision: dop853 cannot continue") as err:
        sim.integrate(2.0)
    e = err.value
    assert isinstance(e, SimulationDiverged)
    assert e.index == e.bodies == (1, 2) and e.field == "position"
    assert e.distance < 1e-6
    assert e.time == pytest.approx(_radial_fall_time(0.0), rel=1e-8)  # pi / 2 sqrt(1/2)
    # the simulation is left at the last accepted step, which the exception names
    assert (sim.time, sim.step_count) == (e.time, e.step) and e.step > 50
    assert np.linalg.norm(sim.x[1] - sim.x[2]) == pytest.approx(e.distance)


@pytest.mark.parametrize("integrator,dt,time_tol", [("dop853", 1e-3, 1e-9),
                                                     ("leapfrog", 1e-3, 2e-3)])
def test_exit_min_distance_raises_an_encounter_where_the_pair_crosses_it(integrator, dt,
                                                                         time_tol):
    sim = _head_on(integrator=integrator, dt=dt, exit_min_distance=0.1)
    with pytest.raises(Encounter, match=r"close encounter \(exit_min_distance 0.1\): "
                                        r"bodies \(1, 2\)") as err:
        sim.integrate(2.0)
    e = err.value
    assert e.index == (1, 2) and (e.step, e.time) == (sim.step_count, sim.time)
    assert e.time == pytest.approx(_radial_fall_time(0.1), abs=time_tol)
    if integrator == "dop853":  # located as a terminal event
        assert e.distance == pytest.approx(0.1, rel=1e-9)
    else:  # checked after each step: the first step that ends inside (at speed 4.2)
        assert 0.1 - 5 * dt < e.distance < 0.1
        assert e.step == round(e.time / dt)


@pytest.mark.parametrize("integrator", ["dop853", "leapfrog"])
def test_exit_max_distance_raises_an_escape_of_the_body(integrator):
    # a massless body on the radial parabolic orbit from r = 1 about a unit mass at rest:
    # r^(3/2) = 1 + (3/2) sqrt(2) t, so it crosses r = 3 at t = (3^1.5 - 1) / (1.5 sqrt 2)
    sim = NBody(integrator=integrator, dt=1e-3, exit_max_distance=3.0)
    sim.add(m=1.0)
    sim.add(m=0.0, x=1.0, vx=math.sqrt(2.0))
    with pytest.raises(Escape, match=r"escape \(exit_max_distance 3\): body 1") as err:
        sim.integrate(10.0)
    e = err.value
    t_cross = (3**1.5 - 1) / (1.5 * math.sqrt(2))
    assert e.index == (1,) and e.body == 1 and e.time == sim.time
    if integrator == "dop853":
        assert e.time == pytest.approx(t_cross, rel=1e-9)
        assert e.distance == pytest.approx(3.0, rel=1e-12)
    else:
        assert e.time == pytest.approx(t_cross, abs=2e-3) and e.step == round(e.time / 1e-3)
        assert 3.0 < e.distance < 3.0 + 1e-3 * 2  # speed at r = 3 is sqrt(2/3) < 1


def test_exit_distances_are_validated():
    with pytest.raises(ValueError, match="exit_min_distance must be a positive number or "
                                         "None, got -1"):
        NBody(exit_min_distance=-1.0)
    with pytest.raises(ValueError, match="exit_max_distance must be None with gravity='pm'"):
        NBody(exit_max_distance=2.0, gravity="pm")


# ---- simkit generate retries and drops encounters -------------------------------------------

_ENCOUNTERS = {"simulator": "nbody", "scene": "threebody_random",
               "fixed": {"integrator": "dop853", "rtol": 1e-10, "exit_min_distance": 0.01},
               "frames": 9, "write_interval": 0.05, "splits": {"train": 10}, "seed": 7,
               "trajectories_per_shard": 5}


def _first_encounter(seed: int) -> Encounter | None:
    """The Encounter a threebody_random run of the recipe raises with ``seed``, if any
    (frame by frame, as ``simkit generate`` advances it)."""
    sim = NBodySimulator("threebody_random", dict(_ENCOUNTERS["fixed"]), seed)
    try:
        for k in range(1, 9):
            sim.advance(k * 0.05)
    except Encounter as e:
        return e
    return None


@pytest.mark.parametrize("action,attempts", [("retry", 4), ("drop", 1)])
def test_generate_retries_or_drops_trajectories_that_hit_an_encounter(tmp_path, action,
                                                                      attempts):
    r = Recipe.from_dict(dict(_ENCOUNTERS, on_failure={"action": action,
                                                       "max_attempts": attempts}))
    first = {i: _first_encounter(r.simulation_seed("train", i, 0)) for i in range(10)}
    failing = [i for i, e in first.items() if e is not None]
    assert 0 < len(failing) < 10, "the test needs some trajectories with an encounter"
    res = generate(r, tmp_path / "ds", progress=False)
    ds = open_dataset(tmp_path / "ds")
    for i in range(10):
        rec = ds.record(r.trajectory_id("train", i))
        if first[i] is None:
            assert rec["status"] == "ok" and rec["attempts"] == []
            continue
        e = first[i]
        err0 = rec["attempts"][0]["error"]
        assert rec["attempts"][0]["seed"] == r.simulation_seed("train", i, 0)
        assert f"bodies {e.bodies} at distance 0.01 in 'position'" in err0
        assert f"(step {e.step}, t = {e.time:.6g} s)" in err0
        if action == "drop":
            assert rec["status"] == "dropped" and len(rec["attempts"]) == 1
        elif rec["status"] == "ok":  # stored from a later attempt, which had no encounter
            assert rec["seed"] == r.simulation_seed("train", i, len(rec["attempts"]))
            x = ds.trajectory(rec["id"]).frames["position"]  # (frame, body, component)
            gaps = np.linalg.norm(x[:, [0, 0, 1]] - x[:, [1, 2, 2]], axis=-1)
            assert gaps.min() > 0.01
    retried = sum(1 for t in ds.manifest.trajectories if t["attempts"])
    assert retried == len(failing)
    assert res.dropped == (len(failing) if action == "drop" else
                           sum(1 for t in ds.manifest.trajectories if t["status"] == "dropped"))
    assert res.stored + res.dropped == 10
    assert ds.validate().ok


# ---- spectral Navier-Stokes ----------------------------------------------------------------


@pytest.mark.parametrize("workers", [1, 2])
def test_spectral_step_above_the_cfl_limit_names_the_worst_point(workers):
    w0 = gaussian_random_field(np.random.default_rng(3), 32, batch=3)
    w0[2] *= 3  # the fastest flow is in batch member 2
    s = SpectralNS2D(w0, nu=1e-3, dt=1.0, workers=workers)
    before = s.w_hat.copy()
    vel = s.velocity()
    cfl = (np.abs(vel[:, 0]) + np.abs(vel[:, 1])) * 1.0 * 32
    worst = np.unravel_index(np.argmax(cfl), cfl.shape)
    assert cfl.max() > 1.0
    with pytest.raises(SpectralBlowUp, match=r"CFL number .* above max_cfl=1; reduce dt "
                                             r"in 'velocity'") as err:
        s.advance(5.0)
    e = err.value
    assert e.index == tuple(int(i) for i in worst) and e.index[0] == 2
    assert e.cfl == pytest.approx(cfl.max(), rel=1e-12)
    assert (e.step, e.time) == (0, 0.0)
    np.testing.assert_array_equal(s.w_hat, before)  # the offending state is kept


def test_spectral_cfl_limit_is_a_parameter():
    w0 = gaussian_random_field(np.random.default_rng(3), 32)
    s = SpectralNS2D(w0, nu=1e-3, dt=1e-2, max_cfl=1e-3)
    c = s.cfl().max()  # 0.02: fine for the default limit 1, not for 1e-3
    assert 1e-3 < c < 1.0
    with pytest.raises(SpectralBlowUp) as err:
        s.step()
    assert err.value.cfl == pytest.approx(c, rel=1e-12)
    with pytest.raises(ValueError, match="max_cfl must be a positive number, got 0"):
        SpectralNS2D(w0, nu=1e-3, dt=1e-2, max_cfl=0)


def test_spectral_nan_names_batch_step_and_time():
    w0 = gaussian_random_field(np.random.default_rng(5), 16, batch=3)
    s = SpectralNS2D(w0, nu=1e-3, dt=1e-3, workers=1)
    s.advance(0.01)
    s.w_hat[1, 3, 2] = np.nan  # a non-finite coefficient spreads over member 1
    with pytest.raises(SpectralBlowUp, match=r"non-finite vorticity; reduce dt in "
                                             r"'vorticity' at index \(1, 0, 0\)") as err:
        s.advance(0.02)
    e = err.value
    assert (e.step, e.index) == (10, (1, 0, 0)) and math.isnan(e.cfl)
    assert e.time == pytest.approx(0.01, abs=1e-15)
    with pytest.raises(SpectralBlowUp):  # the final state is checked too, without a step
        s.advance(s.time)


# ---- fluid pressure projection ---------------------------------------------------------------


@pytest.fixture
def fluid():
    simkit.init("cpu", "f64", seed=0)
    from simkit.simulators.fluid import Fluid, FluidConfig

    def make(**kw):
        return Fluid(FluidConfig(shape=(16, 16), h=1.0 / 16, **kw))

    return make


def _swirl(eng, seed=0):
    rng = np.random.default_rng(seed)
    eng.set_velocity([rng.standard_normal((17, 16)), rng.standard_normal((16, 17))])


def _residual_check(eng, e):
    """The exception's residual and cell against ``b - A x`` recomputed in numpy."""
    A, cells = eng.mg.matrix()
    b = eng.mg.b.to_numpy().ravel()[cells]
    r = b - A @ eng.mg.x.to_numpy().ravel()[cells]
    assert e.residual == pytest.approx(np.linalg.norm(r) / np.linalg.norm(b), rel=1e-9)
    assert e.index == tuple(int(i) for i in np.unravel_index(cells[np.argmax(np.abs(r))],
                                                              (16, 16)))


def test_projection_at_its_iteration_cap_names_the_worst_cell(fluid):
    eng = fluid(rtol=1e-13, maxiter=2)
    _swirl(eng)
    with pytest.raises(ProjectionFailed, match=r"pressure projection did not reach its "
                                               r"tolerance \(rtol 1e-13, 2 iterations") as err:
        eng.project()
    e = err.value
    assert isinstance(e, SimulationDiverged) and e.field == "pressure"
    assert (e.step, e.time, e.iterations, e.rtol) == (0, 0.0, 2, 1e-13)
    assert 1e-13 < e.residual < 1
    _residual_check(eng, e)


def test_projection_failure_mid_run_carries_the_step_and_time(fluid):
    eng = fluid(rtol=1e-8, maxiter=100)
    _swirl(eng, seed=1)
    dts = []
    for _ in range(3):
        eng.step()
        dts.append(eng.last_dt)
    eng.config = dataclasses.replace(eng.config, rtol=1e-15, maxiter=1)
    with pytest.raises(ProjectionFailed) as err:
        eng.step()
    e = err.value
    assert e.step == 3 and e.time == pytest.approx(sum(dts), rel=1e-14)
    assert e.iterations == 1
    _residual_check(eng, e)


@pytest.mark.parametrize("sides", [{}, {"x+": "outflow"}], ids=["closed", "open"])
def test_non_finite_projection_names_the_first_bad_cell(fluid, sides):
    from simkit.simulators.fluid import Side

    eng = fluid(sides={k: Side(v) for k, v in sides.items()})
    assert eng.mg.singular == (not sides)
    ux = np.zeros((17, 16))
    ux[5, 7] = np.nan  # the face between cells (4, 7) and (5, 7)
    eng.set_velocity([ux, np.zeros((16, 17))])
    with pytest.raises(ProjectionFailed, match=r"pressure projection went non-finite .*"
                                               r"in 'pressure' at index \(4, 7\)") as err:
        eng.project()
    assert math.isnan(err.value.residual) and err.value.iterations == 0


def test_external_pressure_solver_that_gives_up_names_the_worst_cell(fluid):
    from simkit.simulators.fluid import Fluid, FluidConfig

    eng = Fluid(FluidConfig(shape=(16, 16), h=1.0 / 16, rtol=1e-10),
                pressure_solver=lambda A, b, x0, rtol: spla.cg(A, b, x0=x0, rtol=rtol,
                                                               maxiter=2))
    _swirl(eng)
    with pytest.raises(ProjectionFailed, match=r"did not reach its tolerance") as err:
        eng.project()
    e = err.value
    assert e.iterations == -1 and 1e-10 < e.residual < 1
    _residual_check(eng, e)


@pytest.mark.parametrize("exc", [
    SimulationDiverged("non-finite", step=3, time=0.5, index=(1, 2), field="x"),
    Encounter("near-collision", step=4, time=1.5, bodies=(0, 2), distance=1e-3),
    Escape("escape", step=5, time=2.5, body=1, distance=12.0),
    ProjectionFailed("projection", step=6, time=3.5, index=(4, 5), iterations=40,
                     residual=1e-3, rtol=1e-6),
    SpectralBlowUp("blow-up", step=7, time=4.5, index=(0, 3, 4), cfl=2.5, field="vorticity"),
], ids=lambda e: type(e).__name__)
def test_named_terminations_survive_pickling(exc):
    """They cross process boundaries (Dask workers) with their message and attributes."""
    back = pickle.loads(pickle.dumps(exc))
    assert type(back) is type(exc) and str(back) == str(exc)
    assert vars(back) == vars(exc)
