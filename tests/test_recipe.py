"""Recipes: validation with clear errors, deterministic work units and parameters."""

from __future__ import annotations

import textwrap

import pytest

from simkit.errors import RecipeError
from simkit.recipe import Recipe, load_recipe

BASE = {"simulator": "heat", "scene": "modes2d", "frames": 3, "write_interval": 0.1,
        "splits": {"train": 5, "test": 2}, "seed": 1}


def make(**changes):
    return Recipe.from_dict({**BASE, **changes})


@pytest.mark.parametrize(("changes", "message"), [
    ({"frmes": 3}, r"unknown key \['frmes'\] in recipe; valid keys: \[.*'frames'.*\]"),
    ({"simulator": "mpmm"}, r"unknown simulator 'mpmm'; expected one of \[.*'heat'.*\]"),
    ({"scene": "box"}, r"unknown scene 'box' for simulator 'heat'; expected one of"),
    ({"frames": 0}, "'frames' must be a positive int, got 0"),
    ({"write_interval": -1}, "'write_interval' must be a positive number"),
    ({"splits": {"train": 0}}, "split 'train': count must be a positive int"),
    ({"splits": {"train": {"count": 2, "sampeld": {}}}},
     r"unknown key \['sampeld'\] in split 'train'"),
    ({"sampled": {"diffusivity": {"gaussian": [0, 1]}}},
     r"unknown key \['gaussian'\] in sampled parameter 'diffusivity'"),
    ({"sampled": {"diffusivity": {"loguniform": [0, 1]}}}, "loguniform needs lo > 0"),
    ({"sampled": {"n_modes": {"randint": [1.5, 3]}}}, "randint needs integer bounds"),
    ({"fixed": {"n_modes": 2}, "sampled": {"n_modes": {"choice": [1, 2]}}},
     r"parameters \['n_modes'\] are both fixed and sampled"),
    ({"on_failure": {"action": "ignore"}}, "on_failure.action must be 'retry' or 'drop'"),
    ({"storage": {"compression": "zstd"}}, "compression codec must be 'gzip', 'lzf' or None"),
])
def test_bad_recipes_say_what_is_wrong(changes, message):
    with pytest.raises(RecipeError, match=message):
        make(**changes)


def test_missing_required_keys_listed():
    with pytest.raises(RecipeError, match=r"missing required keys \['frames', 'seed'\]"):
        Recipe.from_dict({k: v for k, v in BASE.items() if k not in ("frames", "seed")})


def test_sampling_is_deterministic_in_range_and_split_specific():
    r = make(sampled={"diffusivity": {"loguniform": [1e-3, 1e-2]},
                      "n_modes": {"randint": [2, 4]},
                      "max_wavenumber": {"choice": [2, 3]}},
             splits={"train": 50, "ood": {"count": 20, "sampled": {
                 "diffusivity": {"uniform": [0.5, 0.6]}}}})
    train = [r.params("train", i) for i in range(50)]
    again = Recipe.from_dict(r.to_json())
    assert [again.params("train", i) for i in range(50)] == train
    assert all(1e-3 <= p["diffusivity"] <= 1e-2 for p in train)
    assert {p["n_modes"] for p in train} == {2, 3, 4}
    assert {p["max_wavenumber"] for p in train} == {2, 3}
    ood = [r.params("ood", i) for i in range(20)]
    assert all(0.5 <= p["diffusivity"] <= 0.6 for p in ood)
    assert len({p["diffusivity"] for p in train}) == 50  # independent draws


def test_seeds_differ_per_trajectory_and_attempt_and_survive_new_splits():
    r = make()
    seeds = {r.simulation_seed(s, i, a) for s in ("train", "test") for i in range(5)
             for a in range(3)}
    assert len(seeds) == 30
    more = make(splits={"extra": 3, "train": 5, "test": 2})
    assert more.simulation_seed("train", 3, 0) == r.simulation_seed("train", 3, 0)
    assert more.params("test", 1) == r.params("test", 1)


def test_work_units_cover_every_trajectory_once():
    r = make(splits={"train": 10, "test": 3}, trajectories_per_shard=4)
    units = r.work_units()
    assert [(u.split, u.index, u.members) for u in units] == [
        ("train", 0, (0, 1, 2, 3)), ("train", 1, (4, 5, 6, 7)), ("train", 2, (8, 9)),
        ("test", 0, (0, 1, 2))]


def test_yaml_scientific_notation_and_roundtrip(tmp_path):
    path = tmp_path / "r.yaml"
    path.write_text(textwrap.dedent("""
        simulator: heat
        scene: modes3d
        sampled: {diffusivity: {loguniform: [1e-3, 1e-2]}}
        frames: 2
        write_interval: 5e-2
        splits: {train: 1}
        seed: 0
    """))
    r = load_recipe(path)
    assert r.write_interval == 0.05
    assert r.sampled["diffusivity"].args == (1e-3, 1e-2)
    assert Recipe.from_dict(r.to_json()) == r


def test_load_recipe_names_the_file(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("simulator: heat\nscene: [unclosed\n")
    with pytest.raises(RecipeError, match="bad.yaml: not valid YAML"):
        load_recipe(path)
    with pytest.raises(RecipeError, match="nope.yaml: no such recipe file"):
        load_recipe(tmp_path / "nope.yaml")
