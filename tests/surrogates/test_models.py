"""Grid models: output shapes, a backward pass, no unused parameters; NeuralStagger's
split and re-interleave are exact."""

import itertools
import math

import pytest
import torch
from torch import nn

from surrogates.models import NeuralStagger, build
from surrogates.models.stagger import _shuffle, _unshuffle

SMALL = {"fno": {"n_modes": (4, 4), "hidden_channels": 8},
         "tfno": {"n_modes": (4, 4), "hidden_channels": 8},
         "unet": {"width": 8, "levels": 2}}

CASES = [("fno", SMALL["fno"], (16, 16)), ("tfno", SMALL["tfno"], (16, 12)),
         ("unet", SMALL["unet"], (16, 16)),
         ("fno", {"n_modes": (3, 3, 3), "hidden_channels": 4}, (8, 8, 8)),
         ("unet", {"width": 4, "levels": 2, "dim": 3}, (8, 8, 8))]
CASES += [("stagger", {"base": b, "base_config": SMALL[b], "space": (2, 2), "time": t,
                       "shared": sh}, (16, 16))
          for b, t, sh in itertools.product(SMALL, (1, 2), (False, True))]


@pytest.mark.parametrize(("name", "config", "grid"), CASES)
def test_shape_backward_and_every_parameter_used(name, config, grid):
    torch.manual_seed(0)
    model = build(name, 3, 2, **config)
    y = model(torch.randn(2, 3, *grid))
    frames = config.get("time", 1) if name == "stagger" else 1
    assert y.shape == (2, 2 * frames, *grid)
    y.square().mean().backward()
    unused = [n for n, p in model.named_parameters() if p.grad is None or not p.grad.any()]
    assert not unused


def _band_limited(n: int, k_max: int = 3) -> torch.Tensor:
    """A fixed random real Fourier series with wavenumbers ``|k| <= k_max`` on the periodic
    unit square at the points ``i / n`` (the grid embedding's), unit std, ``(1, 1, n, n)``."""
    g = torch.Generator().manual_seed(0)
    x = torch.arange(n) / n
    X, Y = torch.meshgrid(x, x, indexing="ij")
    u = torch.zeros(n, n)
    for kx in range(-k_max, k_max + 1):
        for ky in range(k_max + 1):
            a, b = torch.randn(2, generator=g)
            phase = 2 * math.pi * (kx * X + ky * Y)
            u += a * torch.cos(phase) + b * torch.sin(phase)
    return (u / u.std())[None, None]


@pytest.mark.parametrize(("embedding", "tol"), [("grid", 6e-3), (None, 2e-3)])
def test_fno_zero_shot_super_resolution_agrees_on_the_coarse_points(embedding, tol):
    """FNO layers are resolution-independent: lifting, skips and projection are pointwise,
    and the spectral convolutions keep the same continuous Fourier modes (4 per axis,
    below the coarse Nyquist 16) at 32^2 and 64^2. On a band-limited input the 64^2
    output at the 32^2 points is then the 32^2 output up to aliasing on the coarse grid
    of what is not band-limited: the harmonics GELU makes and, with the grid embedding,
    the coordinate ramp (not periodic). Error over the spread of the output, measured:
    3.2e-3 with the embedding, 9.2e-4 without. Broken layers, measured with the
    embedding: spectral weights resampled to twice the modes at 64^2 0.27, domain padding
    fixed at 4 cells instead of a fraction of the grid 7.7e-2, an rfft normalised for one
    resolution only 36, grid coordinates ``linspace(0, 1, n)`` (endpoint in) 9.3e-3."""
    torch.manual_seed(0)
    model = build("fno", 1, 1, positional_embedding=embedding, **SMALL["fno"]).eval()
    with torch.no_grad():
        coarse, fine = model(_band_limited(32)), model(_band_limited(64))
    assert coarse.shape == (1, 1, 32, 32) and fine.shape == (1, 1, 64, 64)
    err = float((fine[..., ::2, ::2] - coarse).norm() / (coarse - coarse.mean()).norm())
    assert err < tol


def test_unshuffle_takes_every_offset_and_shuffle_inverts_it():
    x = torch.randn(2, 3, 8, 12)
    sub = _unshuffle(x, (2, 3))
    for k, (i, j) in enumerate(itertools.product(range(2), range(3))):
        assert torch.equal(sub[:, :, k], x[:, :, i::2, j::3])
    assert torch.equal(_shuffle(sub, (2, 3)), x)
    y = torch.randn(1, 2, 4, 6, 8)
    assert torch.equal(_shuffle(_unshuffle(y, (2, 3, 2)), (2, 3, 2)), y)


class _PickOwnSubfield(nn.Module):
    """A 'solver' returning its own coarse sub-field of the input (channel k)."""

    def __init__(self, k: int) -> None:
        super().__init__()
        self.k = k
        self.scale = nn.Parameter(torch.ones(()))

    def forward(self, x):
        return self.scale * x[:, self.k:self.k + 1]


def test_stagger_reassembles_each_solvers_subfield_in_its_place():
    counter = itertools.count()
    model = NeuralStagger(lambda cin, cout: _PickOwnSubfield(next(counter)), 1, 1,
                          space=(2, 2), time=1)
    x = torch.randn(3, 1, 8, 8)
    assert torch.equal(model(x), x)  # every solver's output lands where its input came from
    coarse = model(x, subset=[3])  # one solver: the coarse grid at offset (1, 1) alone
    assert torch.equal(coarse[:, 0], x[:, :, 1::2, 1::2])


def test_bad_configs_are_named():
    with pytest.raises(ValueError, match="unknown model 'gno'"):
        build("gno", 1, 1)
    with pytest.raises(ValueError, match="n_modes must hold 2 or 3"):
        build("fno", 1, 1, n_modes=(4,))
    with pytest.raises(ValueError, match="divisible by"):
        build("unet", 1, 1, width=4, levels=3)(torch.randn(1, 1, 6, 6))
    with pytest.raises(ValueError, match="subset must hold solver indices"):
        build("stagger", 1, 1, base_config=SMALL["fno"])(torch.randn(1, 1, 8, 8), subset=[9])


def test_autoregressive_models_predict_their_frames_per_call():
    from surrogates.models import build_autoregressive

    x = torch.randn(2, 3 * 2, 8, 8)  # 3 frames of 2 channels
    stagger, k = build_autoregressive("stagger", {"base_config": SMALL["fno"], "time": 2},
                                      channels=2, n_input=3)
    assert k == 2 and stagger(x).shape == (2, 2 * 2, 8, 8)
    fno, k = build_autoregressive("fno", SMALL["fno"], channels=2, n_input=3,
                                  frames_per_call=3)
    assert k == 3 and fno(x).shape == (2, 3 * 2, 8, 8)
    with pytest.raises(ValueError, match="stagger model's time \\(2\\)"):
        build_autoregressive("stagger", {"time": 2}, 1, 1, frames_per_call=1)
    with pytest.raises(ValueError, match="frames_per_call must be a positive int"):
        build_autoregressive("fno", SMALL["fno"], 1, 1, frames_per_call=0)


def test_normaliser_inverts_and_checks_its_channels():
    from surrogates.normaliser import Normaliser

    norm = Normaliser({"mean": [1.0, -2.0], "std": [2.0, 0.5]}, channels=2, grid_dims=2)
    x = torch.randn(3, 4, 2, 5, 5)
    z = norm.normalise(x)
    torch.testing.assert_close(z[:, :, 1], (x[:, :, 1] + 2.0) / 0.5)
    torch.testing.assert_close(norm.denormalise(z), x)
    assert norm.as_dict() == {"mean": [1.0, -2.0], "std": [2.0, 0.5]}
    with pytest.raises(ValueError, match="normaliser must give 3 means and stds, got 2"):
        Normaliser({"mean": [0.0, 0.0], "std": [1.0, 1.0]}, channels=3, grid_dims=2)
