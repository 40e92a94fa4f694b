"""Metrics against their formulas computed another way."""

import numpy as np
import torch

from surrogates import metrics


def test_relative_l2_and_vrmse_match_numpy():
    rng = np.random.default_rng(0)
    p, t = rng.standard_normal((3, 4, 8, 8)), rng.standard_normal((3, 4, 8, 8))
    ours = metrics.relative_l2(torch.tensor(p), torch.tensor(t), 3).numpy()
    ref = [np.linalg.norm(p[i] - t[i]) / np.linalg.norm(t[i]) for i in range(3)]
    assert np.allclose(ours, ref)
    v = metrics.vrmse(torch.tensor(p), torch.tensor(t), 2).numpy()
    assert np.allclose(v, np.sqrt(((p - t) ** 2).mean((-2, -1)) / (t.var((-2, -1)) + 1e-7)))


def test_relative_h1_weights_a_single_mode_by_one_plus_k_squared():
    n = 16
    x = np.arange(n) / n
    X, Y = np.meshgrid(x, x, indexing="ij")
    true = np.sin(2 * np.pi * X)  # |k| = 1
    err = 0.1 * np.sin(2 * np.pi * 3 * Y)  # |k| = 3, same L2 norm ratio 0.1
    h1 = metrics.relative_h1(torch.tensor(true + err)[None, None], torch.tensor(true)[None, None],
                             2)
    assert np.isclose(float(h1), 0.1 * np.sqrt((1 + 9) / (1 + 1)))


def test_steps_to_failure():
    e = torch.tensor([[0.1, 0.2, 0.35, 0.1], [0.1, 0.1, 0.1, 0.1], [0.5, 0.1, 0.1, 0.1]])
    assert metrics.steps_to_failure(e).tolist() == [3, 5, 1]


def test_energy_spectrum_puts_a_mode_in_its_shell_with_parseval_total():
    n = 32
    x = np.arange(n) / n
    X, Y = np.meshgrid(x, x, indexing="ij")
    f = np.cos(2 * np.pi * 3 * X) + 0.5 * np.sin(2 * np.pi * 4 * Y)
    E = metrics.energy_spectrum(torch.tensor(f)[None, None], 2)[0].numpy()
    assert np.argsort(E)[-2:].tolist() == [4, 3]
    assert np.isclose(E.sum(), (f**2).mean())  # Parseval: sum |F|^2 / N^2 = mean f^2
    assert float(metrics.spectrum_error(torch.tensor(f)[None, None],
                                        torch.tensor(f)[None, None], 2)) == 0.0


def test_rollout_summary_of_a_scaled_truth():
    """``pred = 1.1 true`` (``true`` mean-free): every relative error is 0.1, the
    spectrum off by 1.21 - 1; the 1.5 x frames from step 3 on are failures."""
    x = torch.arange(16) / 16
    field = torch.sin(2 * torch.pi * x)[:, None] * torch.cos(4 * torch.pi * x)[None, :]
    true = field.expand(2, 5, 1, 16, 16)
    scale = torch.tensor([1.1, 1.1, 1.5, 1.5, 1.5]).reshape(1, 5, 1, 1, 1)
    s = metrics.rollout_summary(true * scale, true, grid_dims=2)
    torch.testing.assert_close(s["frame_rel_l2"], torch.tensor([[0.1, 0.1, 0.5, 0.5, 0.5]] * 2))
    torch.testing.assert_close(s["vrmse"], torch.tensor([0.34] * 2), atol=1e-5, rtol=0)
    torch.testing.assert_close(s["spectrum_error"], torch.tensor([1.25] * 2))
    assert s["steps_to_failure"].tolist() == [3, 3]
    # rollout: sqrt((2 * 0.01 + 3 * 0.25) / 5)
    torch.testing.assert_close(s["rollout_rel_l2"], torch.tensor([(0.77 / 5) ** 0.5] * 2))
