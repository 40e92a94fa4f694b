"""Schemas refuse what a kind cannot hold, naming the variable."""

from __future__ import annotations

import numpy as np
import pytest

from simkit.io import Schema, Trajectory, Variable

SPACE = ("y", "x")


def grid(*variables, **kw):
    return Schema(kind="grid", variables=variables, sizes={"y": 3, "x": 4, "component": 2},
                  space_dims=SPACE, **kw)


@pytest.mark.parametrize(("build", "message"), [
    (lambda: Schema(kind="mesh", variables=()), r"unknown dataset kind 'mesh'; expected one of"),
    (lambda: grid(Variable("u", ("x", "y"), "m/s")),
     r"field 'u' must end with the space dims \('y', 'x'\)"),
    (lambda: grid(Variable("u", ("w", "y", "x"), "m/s")), "dimension 'w' has no size"),
    (lambda: grid(Variable("seed", SPACE, "1")), "written by the format itself"),
    (lambda: grid(Variable("u", SPACE, "1"), Variable("u", SPACE, "1")), "duplicate variable"),
    (lambda: grid(Variable("m", SPACE, "1", static=True)), "at least one time-dependent"),
    (lambda: Variable("u", ("time", "x"), "m"), "must not contain 'time'"),
    (lambda: Variable("2u", ("x",), "m"), "variable name must match"),
    (lambda: Variable("u", ("x",), "m", dtype="float16"), "dtype must be one of"),
    (lambda: Schema(kind="particles", variables=(Variable("position", ("particle", "component"),
                                                          "m"),),
                    sizes={"component": 2}, ragged_dim="particle"),
     "needs a variable 'particle_type'"),
    (lambda: Schema(kind="nbody", variables=(Variable("position", ("body", "component"), "m"),),
                    sizes={"component": 3, "body": 2}),
     "'position' must be float64"),
])
def test_schema_errors(build, message):
    with pytest.raises(ValueError, match=message):
        build()


def test_trajectory_check_names_variable_and_shape():
    s = grid(Variable("u", ("component", *SPACE), "m/s"))
    t = Trajectory("a", frames={"u": np.zeros((5, 2, 4, 3))})
    with pytest.raises(ValueError, match=r"'u' must have shape \(5, 2, 3, 4\).*got \(5, 2, 4, 3\)"):
        t.check(s, 5)
    t = Trajectory("a", frames={"v": np.zeros((5, 2, 3, 4))})
    with pytest.raises(ValueError, match=r"missing \['u'\], unexpected \['v'\]"):
        t.check(s, 5)


def test_schema_json_roundtrip():
    s = grid(Variable("u", ("component", *SPACE), "m/s", long_name="velocity"),
             Variable("bc", ("component",), "1", dtype="int8", static=True,
                      flag_meanings=("wall", "open")),
             coords={"x": (0.5, 1.5, 2.5, 3.5)}, coord_units={"x": "m"})
    assert Schema.from_json(s.to_json()) == s


def test_periodic_axes_round_trip_through_shards_and_manifest(tmp_path):
    """The periodic axes survive writing and reopening (manifest and every shard); a
    schema of before the field (no ``periodic`` key) reads as *not recorded*, refuses to
    guess an axis, and writes back the same JSON, so datasets written before it still
    validate. A schema with no periodic axis records that too (an empty list)."""
    import dataclasses

    from kinds import grid_case

    from simkit.io import DatasetWriter, open_dataset
    from simkit.io.shard import shard_attrs

    schema, trajs = grid_case(np.random.default_rng(0), ndim=2, n_traj=2, n_frames=2, res=3)
    schema = dataclasses.replace(schema, periodic=("x",))
    with DatasetWriter(tmp_path / "ds", schema, n_frames=2, write_interval=0.5,
                       simulator={"name": "t", "version": "0"}) as w:
        for t in trajs:
            w.add("train", t)
    with open_dataset(tmp_path / "ds") as ds:
        assert ds.schema == schema
        assert [ds.schema.is_periodic(d) for d in SPACE] == [False, True]
        assert ds.validate().ok
        shards = ds.shard_paths("train")
    assert {tuple(shard_attrs(p)["schema"]["periodic"]) for p in shards} == {("x",)}

    walled = dataclasses.replace(schema, periodic=()).to_json()
    assert walled["periodic"] == [] and not Schema.from_json(walled).is_periodic("x")
    legacy = {k: v for k, v in walled.items() if k != "periodic"}
    old = Schema.from_json(legacy)
    assert old.periodic is None and not old.boundaries_known and old.to_json() == legacy
    with pytest.raises(ValueError, match="does not record which axes are periodic"):
        old.is_periodic("x")


@pytest.mark.parametrize(("periodic", "error", "message"), [
    (("x", "z"), ValueError, r"periodic must name distinct space dims \['y', 'x'\], got "
                             r"\['x', 'z'\]"),
    (("x", "x"), ValueError, "periodic must name distinct space dims"),
    ("x", TypeError, "periodic must be a sequence of space dim names, got the string 'x'"),
])
def test_periodic_names_space_dims(periodic, error, message):
    with pytest.raises(error, match=message):
        grid(Variable("u", SPACE, "1"), periodic=periodic)


def test_trajectory_parameters_keep_their_types_through_a_shard(tmp_path):
    """A trajectory's parameters come back as the simulator used them: a bool stays a bool
    (HDF5 stores it as int8), so the stored parameters rebuild the simulator."""
    import dataclasses

    from kinds import grid_case

    from simkit.io import DatasetWriter, open_dataset

    schema, trajs = grid_case(np.random.default_rng(0), ndim=2, n_traj=2, n_frames=2, res=3)
    params = [{"flag": True, "n": 3, "x": 0.5, "name": "a"},
              {"flag": False, "n": 4, "x": 1.5, "name": "b"}]
    with DatasetWriter(tmp_path / "ds", schema, n_frames=2, write_interval=0.5,
                       simulator={"name": "t", "version": "0"}) as w:
        for t, p in zip(trajs, params, strict=True):
            w.add("train", dataclasses.replace(t, params=p))
    with open_dataset(tmp_path / "ds") as ds:
        back = [ds.trajectory(i).params for i in ds.ids("train")]
    assert back == params
    assert [type(v) for v in back[1].values()] == [bool, int, float, str]
