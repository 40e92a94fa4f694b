"""The hand-off builds its solver from what the checkpoint records, or refuses."""

import pytest

from surrogates.handoff import solver_settings

PARAMS = {"resolution": 64, "stored_resolution": 32, "viscosity": 1e-3, "dt": 4e-3,
          "scheme": "heun"}


def test_solver_settings_are_the_recorded_ones():
    info = {"simulator": {"name": "spectral_ns", "scene": "fno", "params": dict(PARAMS),
                          "varying": []}}
    assert solver_settings(info) == ("fno", PARAMS)


@pytest.mark.parametrize("simulator, match", [
    (None, "simulator None"),
    ({"name": "fluid", "scene": "smoke", "params": {}, "varying": []}, "simulator 'fluid'"),
    ({"name": "spectral_ns", "scene": "fno", "params": {}, "varying": ["viscosity"]},
     r"varied \['viscosity'\]"),
])
def test_solver_settings_refuses(simulator, match):
    with pytest.raises(ValueError, match=match):
        solver_settings({} if simulator is None else {"simulator": simulator})
