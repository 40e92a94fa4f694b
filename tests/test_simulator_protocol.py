"""One protocol for every registered simulator (simkit.simulator), and per-instance state.

Every built-in simulator, on a small scene: the clock, ``step(dt=None)``, the landing
rule of ``advance``, ``state()`` in the schema's layout, ``frame()`` (what a dataset
stores) against ``static()`` and ``state()``, and ``state()`` /
``load_state()`` round trips that continue bit-for-bit (CPU). Then two MPM and two
fluid simulations of one grid in one process, each giving what it gives alone.
"""

import math

import numpy as np
import pytest

import simkit
from simkit.registry import available_simulators, get_simulator
from simkit.simulator import RESTART_KEYS, ROUNDOFF, SLIVER, Simulator, landing_step

# simulator -> (scene, params, t1, t2, own step fixed during one advance)
CASES = {
    "heat": ("modes2d", {"resolution": 8}, 0.1, 0.25, False),
    "oscillator": ("cloud2d", {"n_particles": 10}, 0.1, 0.25, False),
    "spectral_ns": ("kolmogorov", {"resolution": 16, "stored_resolution": 8, "dt": 1e-2,
                                   "scheme": "heun", "drag": 0.1}, 0.05, 0.125, True),
    "mpm": ("dam_break", {"n_grid": 16}, 0.004, 0.0105, True),
    "fluid": ("smoke_plume", {"resolution": 16, "n_obstacles": 1}, 0.05, 0.13, False),
    "nbody": ("kepler", {"eccentricity": 0.5, "dt": 1e-2}, 0.1, 0.255, True),
}
BUILT_IN = sorted(n for n in available_simulators() if get_simulator(n).module is not None)


def test_every_built_in_simulator_has_a_case():
    assert BUILT_IN == sorted(CASES)


@pytest.fixture(scope="module", autouse=True)
def f64():
    simkit.init("cpu", "f64", seed=0)


def build(name: str, seed: int = 3, **params):
    scene, base, *_ = CASES[name]
    return get_simulator(name).cls.from_scene(scene, {**base, **params}, seed=seed)


def rule_steps(span: float, dt: float) -> int:
    """Steps the landing rule takes over ``span`` with a fixed own step ``dt``."""
    t, n = 0.0, 0
    while (h := landing_step(span - t, dt)) > 0:
        n += 1
        if h == span - t:
            break
        t += h
    return n


@pytest.mark.parametrize("remaining,dt,expect", [
    (1.0, 0.3, 0.3),                      # a full step
    (0.3 * (1 + 1e-12), 0.3, 0.3 * (1 + 1e-12)),  # round-off: the last step, not a sliver
    (0.2, 0.3, 0.2),                      # the last step, shortened
    (0.35, 0.3, 0.175),                   # a sliver of 0.05 avoided: the span halved
    (0.3 * (1 + SLIVER), 0.3, 0.3),       # a remainder of SLIVER dt is a step of its own
    (0.3 * ROUNDOFF / 2, 0.3, 0.0),       # round-off of the clock: no step
])
def test_landing_step_table(remaining, dt, expect):
    assert landing_step(remaining, dt) == expect


def test_landing_rule_takes_k_steps_over_k_dt_and_never_a_sliver():
    dt = 0.1
    for k in (1, 3, 7, 10, 30):  # k * 0.1 is not exact in binary: round-off must not add one
        assert rule_steps(k * dt, dt) == k
    rng = np.random.default_rng(0)
    for span in rng.uniform(0.01, 2.0, 200):
        t, lengths = 0.0, []
        while (h := landing_step(span - t, dt)) > 0:
            lengths.append(h)
            if h == span - t:
                break
            t += h
        assert max(lengths) <= dt * (1 + ROUNDOFF)
        assert min(lengths) >= min(span, SLIVER * dt) * (1 - 1e-12)
        assert len(lengths) == math.ceil(span / dt - 1e-9)
    with pytest.raises(ValueError, match="dt=0.0"):
        landing_step(1.0, 0.0)


@pytest.mark.parametrize("name", BUILT_IN)
def test_state_is_in_the_schema_layout_and_carries_the_clock(name):
    sim = build(name)
    assert isinstance(sim, Simulator)
    assert sim.time == 0.0 and sim.step_count == 0
    schema, state = sim.schema(), sim.state()
    ragged = None
    for v in schema.variables:
        if v.static:
            assert v.name not in state
            continue
        arr = state[v.name]
        if schema.ragged_dim in v.dims:
            ragged = arr.shape[0] if ragged is None else ragged
        want = tuple(ragged if d == schema.ragged_dim else schema.sizes[d] for d in v.dims)
        assert arr.shape == want, (v.name, v.dims)
    assert set(RESTART_KEYS) <= set(state)
    assert float(state["time"]) == 0.0 and int(state["step_count"]) == 0


@pytest.mark.parametrize("name", BUILT_IN)
def test_frame_is_the_stored_layout_and_agrees_with_static(name):
    """``frame()`` holds the schema's time-dependent variables and nothing else, in their
    layout, with the ragged length of ``static()``; the material part is ``state()``
    (the MPM appends its kinematic boundary particles)."""
    sim = build(name)
    sim.advance(CASES[name][2])
    schema, frame, static, state = sim.schema(), sim.frame(), sim.static(), sim.state()
    assert set(frame) == {v.name for v in schema.variables if not v.static}
    assert set(static) == {v.name for v in schema.variables if v.static}
    lengths = {len(a) for v in schema.variables if schema.ragged_dim in v.dims
               for a in ((static if v.static else frame)[v.name],)}
    assert len(lengths) <= 1
    extra = sim.n_boundary if name == "mpm" else 0
    if name == "mpm":
        assert extra > 0 and lengths == {sim.n_particles + extra}
    for key, arr in frame.items():
        if schema.ragged_dim in schema.variable(key).dims:
            n = len(state[key])
            assert arr.shape == (n + extra, *state[key].shape[1:]), key
            arr = arr[:n]
        np.testing.assert_array_equal(arr, state[key])


@pytest.mark.parametrize("name", BUILT_IN)
def test_advance_lands_exactly_and_refuses_the_past(name):
    _, _, t1, t2, fixed = CASES[name]
    sim = build(name)
    sim.advance(t1)
    assert sim.time == t1
    n1 = sim.step_count
    if fixed:  # the own step is known: the rule's step count
        assert n1 == rule_steps(t1, sim.dt)
    sim.advance(t1)  # already there: no step
    assert sim.time == t1 and sim.step_count == n1
    with pytest.raises(ValueError, match=rf"t_end={t1 / 2!r} is before the current time "
                                         rf"{t1!r}"):
        sim.advance(t1 / 2)
    sim.advance(t2)
    assert sim.time == t2 and sim.step_count >= n1 + (0 if math.isnan(sim.dt) else 1)


@pytest.mark.parametrize("name", BUILT_IN)
def test_step_takes_the_own_step_or_the_given_one(name):
    sim = build(name)
    sim.step(1e-3)
    assert sim.time == 1e-3 and sim.step_count == 1
    if math.isnan(sim.dt):  # closed form: no step of its own
        with pytest.raises(ValueError, match="closed-form .* needs a positive dt, got None"):
            sim.step()
        return
    sim.step()
    assert sim.step_count == 2 and sim.time == pytest.approx(1e-3 + sim.dt, rel=1e-12)


def assert_same(a: dict, b: dict) -> None:
    assert sorted(a) == sorted(b)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key, strict=True)


@pytest.mark.parametrize("name", BUILT_IN)
def test_save_advance_load_advance_again_is_bitwise(name):
    _, _, t1, t2, _ = CASES[name]
    sim = build(name)
    sim.advance(t1)
    saved = sim.state()
    sim.advance(t2)
    first = sim.state()
    sim.load_state(saved)
    assert sim.time == t1 and sim.step_count == int(saved["step_count"])
    assert_same(sim.state(), saved)
    sim.advance(t2)
    assert_same(sim.state(), first)
    fresh = build(name)  # nothing but the state: a new instance continues identically
    fresh.load_state(saved)
    fresh.advance(t2)
    assert_same(fresh.state(), first)


@pytest.mark.parametrize("name", BUILT_IN)
def test_load_state_names_what_is_missing(name):
    sim = build(name)
    state = sim.state()
    del state["time"]
    with pytest.raises(ValueError, match=r"load_state: state lacks \['time'\]"):
        sim.load_state(state)


@pytest.mark.parametrize("name,other", [("mpm", {"gravity": 3.0}),
                                        ("fluid", {"beta": 2.0})])
def test_two_simulations_of_one_grid_advance_independently(name, other):
    """Bitwise what each gives alone, interleaved step for step in one process."""
    _, _, t1, t2, _ = CASES[name]

    def alone(**params):
        sim = build(name, **params)
        sim.advance(t1)
        sim.advance(t2)
        out = sim.state()
        extra = sim.grid_mass() if name == "mpm" else None
        return out, extra

    ref_a, ref_b = alone(), alone(**other)
    a, b = build(name), build(name, **other)  # both alive: one grid each
    a.advance(t1)
    b.advance(t1)
    b.advance(t2)
    if name == "mpm":  # the grid holds the last particle-to-grid transfer of its own run
        assert b.grid_mass() == ref_b[1]
    a.advance(t2)
    assert_same(a.state(), ref_a[0])
    assert_same(b.state(), ref_b[0])
    if name == "mpm":
        assert a.grid_mass() == ref_a[1]
    assert not np.array_equal(a.state()["velocity"], b.state()["velocity"])


def test_per_program_cache_builds_once_per_key_and_program():
    from simkit.runtime import per_program_cache

    cache, builds = per_program_cache(), []

    def build_entry(tag):
        return lambda: builds.append(tag) or len(builds)

    assert cache.get("a", build_entry("a")) == 1
    assert cache.get("a", build_entry("a")) == 1 and cache.get("b", build_entry("b")) == 2
    assert builds == ["a", "b"] and len(cache) == 2
    simkit.init("cpu", "f32", seed=0)  # a new Taichi program: compiled entries are gone
    assert len(cache) == 0 and cache.get("a", build_entry("a")) == 3
    simkit.init("cpu", "f64", seed=0)
