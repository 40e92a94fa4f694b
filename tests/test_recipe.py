"""Recipes: validation with clear errors, deterministic work units and parameters."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from simkit import registry
from simkit.errors import RecipeError
from simkit.recipe import Recipe, load_recipe
from simkit.registry import (
    SceneParams,
    declare_simulator,
    get_simulator,
    register_simulator,
    resolve_params,
)
from simkit.simulators.catalog import MPM_MATERIAL_PARAMS

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


# ---------------------------------------------------------------- simulator parameters
MPM = {"simulator": "mpm", "scene": "dam_break", "frames": 2, "write_interval": 0.01,
       "splits": {"train": 2}, "seed": 0}


@pytest.mark.parametrize(("recipe", "message"), [
    (dict(BASE, fixed={"resolutoin": 8}),
     r"heat scene 'modes2d': unknown parameters \['resolutoin'\] \(did you mean 'resolution'\?\); "
     r"valid keys: \['amplitude', 'diffusivity', 'length', 'max_wavenumber', "
     r"'mean_temperature', 'n_modes', 'resolution'\]$"),
    (dict(BASE, sampled={"kappa": {"uniform": [0.1, 0.2]}}),
     r"^heat scene 'modes2d': unknown parameters \['kappa'\]; valid keys: \["),
    (dict(BASE, splits={"train": 2, "ood": {"count": 1, "sampled": {
        "diffusivityy": {"uniform": [0.1, 0.2]}}}}),
     r"^split 'ood': heat scene 'modes2d': unknown parameters \['diffusivityy'\] "
     r"\(did you mean 'diffusivity'\?\)"),
    (dict(MPM, fixed={"widht": 0.2, "youngs_modulus": 1e5}),
     r"mpm scene 'dam_break': unknown parameters \['widht'\] \(did you mean 'width'\?\); "
     r"valid keys: \[.*'n_grid'.*'width'\] and optional parameters \['bulk_modulus', .*"
     r"'youngs_modulus'\]$"),
    (dict(MPM, scene="multimaterial", fixed={"youngs_modulus": 1e5}),
     r"mpm scene 'multimaterial': unknown parameters \['youngs_modulus'\]; valid keys: "
     r"\[.*\]$"),
    (dict(MPM, scene="mpm99", fixed={"n_grid": 64}),
     r"mpm scene 'mpm99' fixes n_grid = 128; got 64 \(leave it out or give that value\)"),
    (dict(MPM, scene="mpm99", fixed={"quality": 2, "fixed_dt": 1e-4}),
     r"mpm scene 'mpm99' fixes fixed_dt = 5e-05; got 0.0001"),
    (dict(MPM, scene="mpm99", sampled={"dim": {"choice": [2, 3]}}),
     r"parameters \['dim'\] are fixed by the scene 'mpm99'; they cannot be sampled"),
    (dict(MPM, simulator="nbody", scene="periodic_box", fixed={"gravity": "direct"}),
     r"nbody scene 'periodic_box' fixes gravity = 'pm'; got 'direct'"),
    (dict(MPM, scene="mpm99", fixed={"quality": 1.5}),
     r"mpm scene 'mpm99': parameter 'quality' must be an int \(default 1\), got 1.5"),
    (dict(BASE, fixed={"resolution": "16"}),
     r"heat scene 'modes2d': parameter 'resolution' must be an int \(default 32\), got '16'"),
    (dict(BASE, sampled={"n_modes": {"uniform": [2, 8]}}),
     r"parameter 'n_modes' must be an int \(default 4\), got 2\.\d+"),
    (dict(MPM, fixed={"store_F": 1}),
     r"parameter 'store_F' must be a bool \(default False\), got 1"),
])
def test_parameters_are_checked_against_the_scene_when_parsed(recipe, message):
    with pytest.raises(RecipeError, match=message):
        Recipe.from_dict(recipe)


def test_a_value_equal_to_the_fixed_one_is_accepted_and_kept():
    r = Recipe.from_dict(dict(MPM, scene="mpm99", fixed={"quality": 2, "n_grid": 256,
                                                         "gravity": 50}))
    p = resolve_params("mpm", "mpm99", r.params("train", 0))
    assert (p["n_grid"], p["fixed_dt"], p["gravity"], p["dim"]) == (256, 5e-5, 50.0, 2)
    box = Recipe.from_dict(dict(MPM, simulator="nbody", scene="periodic_box",
                                fixed={"gravity": "pm", "lattice": 4}))
    assert resolve_params("nbody", "periodic_box", box.params("train", 1))["gravity"] == "pm"
    assert resolve_params("nbody", "kepler", {})["gravity"] == "direct"


def test_resolve_params_fills_defaults_and_passes_optional_keys_only_when_given():
    p = resolve_params("mpm", "dam_break", {"width": 0.3, "bulk_modulus": 1e5})
    assert p["width"] == 0.3 and p["height"] == 0.5 and p["n_grid"] == 64
    assert p["bulk_modulus"] == 1e5 and "youngs_modulus" not in p
    assert resolve_params("heat", "modes3d", {})["resolution"] == 32
    with pytest.raises(ValueError, match=r"unknown scene 'modes4d' for simulator 'heat'; "
                                         r"expected one of \['modes2d', 'modes3d'\]"):
        resolve_params("heat", "modes4d", {})


def test_scene_declarations_are_checked(monkeypatch):
    monkeypatch.setattr(registry, "_REGISTRY", dict(registry._REGISTRY))  # nothing leaks
    with pytest.raises(ValueError, match=r"fixed parameters \['n'\] have no default"):
        SceneParams({"m": 1}, fixed={"n": 2})
    with pytest.raises(ValueError, match=r"optional parameters \['m'\] also have a default"):
        SceneParams({"m": 1}, optional=("m",))
    with pytest.raises(ValueError, match=r"simulator 'plain': scenes must map scene names to "
                                         r"SceneParams, got \('box',\)"):
        register_simulator("plain", scenes=("box",))(type("Plain", (), {}))
    declare_simulator("declared_box", module="simkit.errors", uses_taichi=False,
                      scenes={"box": SceneParams({"size": 1.0})})
    with pytest.raises(ValueError, match=r"simulator 'declared_box' registers scenes "
                                         r"\['ball'\] but declares \['box'\]"):
        register_simulator("declared_box", scenes=("ball",))(type("Other", (), {}))
    with pytest.raises(ValueError, match=r"simulator 'declared_box' is declared but "
                                         r"simkit.errors registers no class"):
        _ = get_simulator("declared_box").cls
    with pytest.raises(ValueError, match="simulator 'heat' is already registered"):
        declare_simulator("heat", module="elsewhere", uses_taichi=False,
                          scenes={"box": SceneParams({})})


def test_mpm_material_overrides_are_the_material_models_parameters():
    from simkit.simulators.mpm.materials import MODELS

    assert set(MPM_MATERIAL_PARAMS) == {"density"} | {k for m in MODELS.values()
                                                       for k in m.defaults}


def test_an_mpm_recipe_is_checked_without_importing_taichi(tmp_path):
    path = tmp_path / "mpm.yaml"
    path.write_text(textwrap.dedent("""
        simulator: mpm
        scene: dam_break
        fixed: {n_grid: 32, widht: 0.2}
        frames: 2
        write_interval: 0.01
        splits: {train: 1}
        seed: 0
    """))
    code = textwrap.dedent(f"""
        import sys, time
        t0 = time.perf_counter()
        from simkit.errors import RecipeError
        from simkit.recipe import load_recipe
        try:
            load_recipe({str(path)!r})
        except RecipeError as exc:
            print(exc)
        print(time.perf_counter() - t0, "taichi" in sys.modules)
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    assert "mpm scene 'dam_break': unknown parameters ['widht']" in out[0]
    seconds, taichi = out[1].split()
    assert taichi == "False"
    assert float(seconds) < 2.0  # import and check: 0.2 s measured on 2 busy cores
