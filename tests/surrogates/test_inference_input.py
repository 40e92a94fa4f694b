"""A served surrogate refuses non-finite input, naming the variable and the first bad
index, instead of turning it into NaN output."""

import numpy as np
import pytest
import torch

from surrogates.inference import Surrogate, surrogate_info
from surrogates.models import build_autoregressive

N = 8
SCHEMA = {"variables": ["u"], "frame_shapes": {"u": [N, N]}, "grid": [N, N],
          "write_interval": 0.1}
CONFIG = {"n_modes": [2, 2], "hidden_channels": 4, "n_layers": 1}


@pytest.fixture(scope="module")
def surrogate():
    torch.manual_seed(0)
    net, per_call = build_autoregressive("fno", dict(CONFIG), 1, 2, None, 0)
    info = surrogate_info("fno", CONFIG, 2, per_call, {"mean": [0.0], "std": [1.0]}, SCHEMA)
    return Surrogate(info, net.state_dict())


@pytest.mark.parametrize(("bad", "shown"), [(np.nan, "nan"), (-np.inf, "-inf")])
def test_step_and_rollout_refuse_non_finite_input(surrogate, bad, shown):
    u = np.random.default_rng(0).standard_normal((3, 2, N, N)).astype(np.float32)
    assert np.isfinite(surrogate.step(u)).all()  # the same input, finite, is served
    u[1, 0, 4, 5] = bad
    u[2, 1, 0, 0] = bad  # a later one: the first in C order is named
    message = (rf"state\['u'\] must be finite; it holds {shown} at index \(1, 0, 4, 5\) "
               rf"\(of shape \(3, 2, 8, 8\)\)")
    with pytest.raises(ValueError, match=message):
        surrogate.step(u)
    with pytest.raises(ValueError, match=message):
        surrogate.rollout(torch.from_numpy(u), 3)
    with pytest.raises(ValueError, match=message):
        surrogate.step({"u": u})
