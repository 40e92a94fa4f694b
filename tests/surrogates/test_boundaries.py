"""Surrogates know their boundaries: the dataset schema's periodic axes set the U-Net's
padding, the FNO's domain padding, the H1 loss's derivatives and the spectrum's window."""

import math

import numpy as np
import pytest
import torch

from simkit.io import DatasetWriter, Schema, Trajectory, Variable
from simkit.simulators.analytic import HeatModes
from simkit.simulators.spectral_ns import vorticity_schema
from surrogates import metrics
from surrogates.data import GridDataModule
from surrogates.inference import Surrogate, surrogate_info
from surrogates.models import build
from surrogates.module import GridSurrogate

UNET = {"width": 8, "levels": 2}


def _schema(periodic: tuple[str, ...]) -> Schema:
    return Schema(kind="grid", variables=(Variable("u", ("y", "x"), "m/s"),),
                  sizes={"y": 8, "x": 12}, space_dims=("y", "x"), periodic=periodic)


@pytest.fixture(scope="module")
def walled_x(tmp_path_factory):
    """A dataset periodic along y and bounded along x (a channel)."""
    root = tmp_path_factory.mktemp("walls") / "ds"
    rng = np.random.default_rng(0)
    with DatasetWriter(root, _schema(("y",)), n_frames=3, write_interval=0.1,
                       simulator={"name": "t", "version": "0"}) as w:
        for i in range(3):
            w.add("train", Trajectory(f"t{i}", {"u": rng.standard_normal((3, 8, 12))}))
    return root


def test_simulators_declare_their_periodic_axes():
    assert vorticity_schema(8).periodic == ("y", "x")
    heat = HeatModes(3, {"resolution": 4}, seed=0).schema()
    assert heat.periodic == ("z", "y", "x")
    assert Schema.from_json(heat.to_json()) == heat


def test_the_data_module_hands_the_periodic_axes_to_model_and_checkpoint(walled_x):
    dm = GridDataModule(str(walled_x))
    assert dm.dataset_schema["periodic"] == [True, False]  # storage order (y, x)
    module = GridSurrogate("unet", UNET, dataset_schema=dm.dataset_schema)
    assert module.periodic == (True, False)
    assert {c.periodic for c in module.net.modules() if hasattr(c, "periodic")} == {
        (True, False)}
    info = surrogate_info("unet", UNET, 1, 1, {"mean": [0.0], "std": [1.0]},
                          dm.dataset_schema)
    served = Surrogate(info, module.net.state_dict())
    assert served.net.periodic == (True, False)
    x = torch.randn(2, 1, 8, 12)
    torch.testing.assert_close(served.net(x), module.net(x), rtol=0, atol=0)
    # a checkpoint from before the schema recorded boundaries: circular everywhere
    legacy = {k: v for k, v in info.items() if k != "periodic"}
    assert Surrogate(legacy, module.net.state_dict()).net.periodic == (True, True)


def test_a_dataset_without_recorded_boundaries_warns_and_trains_as_before(tmp_path):
    """Datasets written before the schema recorded periodic axes: the data module says
    so and the model is periodic everywhere, as models trained on them were."""
    import json

    from simkit.io.manifest import MANIFEST

    root = tmp_path / "old"
    with DatasetWriter(root, _schema(("y", "x")), n_frames=3, write_interval=0.1,
                       simulator={"name": "t", "version": "0"}) as w:
        for i in range(3):
            w.add("train", Trajectory(f"t{i}", {"u": np.ones((3, 8, 12)) * i}))
    manifest = json.loads((root / MANIFEST).read_text())
    del manifest["schema"]["periodic"]  # as a dataset of before the field
    (root / MANIFEST).write_text(json.dumps(manifest))
    with pytest.warns(UserWarning, match="does not record which grid axes are periodic"):
        dm = GridDataModule(str(root))
    assert dm.dataset_schema["periodic"] is None
    assert GridSurrogate("unet", UNET, dataset_schema=dm.dataset_schema).periodic == (True, True)


@pytest.mark.parametrize("periodic", [(True, False), (False, True), (True, True),
                                      (False, False)])
def test_unet_padding_does_not_wrap_a_bounded_axis(periodic):
    """A field non-zero only on the first row / column (the low wall of y / x): after
    one convolution the last row / column (the opposite wall) sees it only along a
    periodic axis; elsewhere it holds the bias alone."""
    torch.manual_seed(0)
    module = GridSurrogate("unet", UNET, dataset_schema={"periodic": list(periodic)})
    conv = module.net.down[0][0]
    bias = conv.bias.detach()[None, :, None]
    for axis in (0, 1):
        x = torch.zeros(1, 1, 8, 12)
        x.select(2 + axis, 0).fill_(1.0)
        far = conv(x).detach().select(2 + axis, -1)  # (1, width, other axis)
        leak = float((far - bias).abs().max())
        if periodic[axis]:
            # the wrapped neighbour row / column is the field: one row of kernel weights
            w = conv.weight.detach()[:, 0].select(1 + axis, 2).sum(dim=1)
            torch.testing.assert_close(far[0, :, 5], bias[0, :, 0] + w)
            assert leak > 1e-3
        else:
            assert leak == 0.0


def test_fno_pads_bounded_axes_only_and_the_config_cannot_override_the_schema():
    net = GridSurrogate("fno", {"n_modes": [4, 4], "hidden_channels": 8, "n_layers": 1},
                        dataset_schema={"periodic": [True, False]}).net
    assert net.domain_padding.domain_padding == [0.0, 0.125]
    net(torch.randn(1, 1, 16, 24))
    assert net.domain_padding._padding["torch.Size([16, 24])"] == [3, 3, 0, 0]  # x: 24 / 8
    periodic = GridSurrogate("fno", {"n_modes": [4, 4], "hidden_channels": 8, "n_layers": 1},
                             dataset_schema={"periodic": [True, True]}).net
    assert periodic.domain_padding is None
    stagger = build("stagger", 1, 1, periodic=(False, True), base="unet", base_config=UNET)
    assert {s.periodic for s in stagger.solvers} == {(False, True)}
    with pytest.raises(ValueError, match="model config must not set 'periodic'"):
        GridSurrogate("unet", {**UNET, "periodic": False}, dataset_schema={})
    with pytest.raises(ValueError, match=r"dataset_schema\[\"periodic\"\] must hold one bool "
                                         r"per grid axis \(2\), got \[True\]"):
        GridSurrogate("unet", UNET, dataset_schema={"periodic": [True]})
    with pytest.raises(ValueError, match="physics: the vorticity residual is spectral"):
        GridSurrogate("fno", {"n_modes": [4, 4]}, physics={"weight": 1.0, "nu": 1e-3},
                      dataset_schema={"periodic": [True, False], "write_interval": 0.1})


def test_h1_of_a_ramp_on_a_bounded_axis_is_the_exact_gradient_norm():
    """``true = 1``, ``pred = 1 + a j`` along x (bounded), constant along y (periodic):
    ``|e|_H1^2 = sum e^2 + sum (a n / 2 pi)^2`` exactly (spacing ``2 pi / n``). Taken
    as periodic, the FFT sees the ramp's jump and the norm is far larger; that value is
    the n-dimensional FFT formula, computed here with numpy."""
    ny, nx, a = 8, 16, 0.1
    ramp = np.broadcast_to(a * np.arange(nx), (ny, nx))
    true = torch.ones(1, 1, ny, nx, dtype=torch.float64)
    pred = true + torch.from_numpy(ramp.copy())
    h1 = float(metrics.relative_h1(pred, true, 2, periodic=(True, False)))
    exact = math.sqrt(((ramp**2).sum() + ny * nx * (a * nx / (2 * math.pi)) ** 2) / (ny * nx))
    assert h1 == pytest.approx(exact, rel=1e-12)

    ky, kx = np.meshgrid(np.fft.fftfreq(ny, 1 / ny), np.fft.fftfreq(nx, 1 / nx), indexing="ij")
    weight = 1 + ky**2 + kx**2
    fft = math.sqrt((weight * np.abs(np.fft.fft2(ramp)) ** 2).sum()
                    / (weight * np.abs(np.fft.fft2(np.ones((ny, nx)))) ** 2).sum())
    periodic = float(metrics.relative_h1(pred, true, 2, periodic=True))
    assert periodic == pytest.approx(fft, rel=1e-12)
    assert periodic > 1.5 * h1


def test_h1_loss_of_the_module_follows_the_schema():
    torch.manual_seed(0)
    pred, true = torch.randn(3, 1, 1, 8, 8), torch.randn(3, 1, 1, 8, 8)
    for periodic in ([True, False], [True, True]):
        module = GridSurrogate("unet", UNET, loss="h1", dataset_schema={"periodic": periodic})
        want = metrics.relative_h1(pred[:, 0], true[:, 0], 2, periodic=tuple(periodic)).mean()
        torch.testing.assert_close(module._loss(pred, true), want)
    assert not torch.isclose(metrics.relative_h1(pred[:, 0], true[:, 0], 2, periodic=False),
                             metrics.relative_h1(pred[:, 0], true[:, 0], 2)).any()


@pytest.mark.parametrize("grid", [(12, 16), (4, 6, 8)])
def test_energy_spectrum_meets_parseval_with_three_channels(grid):
    """``sum_k E(k) = sum_c mean_x f_c^2`` per sample (every mode is in a shell), and two
    identical channels carry twice the energy of one."""
    f = torch.from_numpy(np.random.default_rng(1).standard_normal((2, 3, *grid)))
    E = metrics.energy_spectrum(f, len(grid))
    total = (f**2).mean(dim=tuple(range(2, f.dim()))).sum(dim=1)
    torch.testing.assert_close(E.sum(dim=1), total, rtol=1e-10, atol=0)
    assert E.shape == (2, round(math.sqrt(sum((n // 2) ** 2 for n in grid))) + 1)
    one = metrics.energy_spectrum(f[:, :1], len(grid))
    two = metrics.energy_spectrum(f[:, :1].expand(2, 2, *grid), len(grid))
    torch.testing.assert_close(two, 2 * one, rtol=1e-12, atol=0)


def test_energy_spectrum_windows_a_bounded_axis():
    """Along a bounded axis the field is Hann-windowed: the total is the window-weighted
    mean square, and a smooth non-periodic field (a ramp) keeps its energy at low
    wavenumbers instead of spreading its end-to-end jump over all of them."""
    ny, nx = 16, 32
    f = torch.from_numpy(np.random.default_rng(2).standard_normal((2, 3, ny, nx)))
    E = metrics.energy_spectrum(f, 2, periodic=(True, False))
    w = torch.hann_window(nx, periodic=False, dtype=torch.float64)
    want = ((f * w) ** 2).mean(dim=(2, 3)).sum(dim=1) / (w**2).mean()
    torch.testing.assert_close(E.sum(dim=1), want, rtol=1e-10, atol=0)

    ramp = torch.linspace(-1, 1, nx, dtype=torch.float64).expand(1, 1, ny, nx)
    high = {p: float(metrics.energy_spectrum(ramp, 2, periodic=(True, p))[0, 4:].sum()
                     / metrics.energy_spectrum(ramp, 2, periodic=(True, p))[0].sum())
            for p in (False, True)}
    assert high[False] < 1e-3 < 0.02 < high[True]
    with pytest.raises(ValueError, match="bounded grid axis 1 needs at least 3 points"):
        metrics.energy_spectrum(torch.zeros(1, 1, 4, 2), 2, periodic=(True, False))
