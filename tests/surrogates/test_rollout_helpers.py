"""The helpers around a rollout: per-step error, the figure, the timing."""

import numpy as np
import pytest

from simkit import benchmark
from surrogates.metrics import relative_l2_per_step
from surrogates.plotting import plot_truth_prediction_error
from surrogates.timing import rollout_seconds


def test_relative_l2_per_step_matches_a_loop_over_steps():
    rng = np.random.default_rng(0)
    true = rng.standard_normal((4, 2, 8, 8)).astype(np.float32)
    pred = true + 0.1 * rng.standard_normal(true.shape).astype(np.float32)
    ref = [np.sqrt(((pred[k].astype(float) - true[k]) ** 2).sum() / (true[k].astype(float) ** 2)
                   .sum()) for k in range(4)]
    got = relative_l2_per_step(pred, true)
    assert got.shape == (4,) and got.dtype == np.float64
    np.testing.assert_allclose(got, ref, rtol=1e-12)
    assert 0.05 < got.min() and got.max() < 0.2  # 0.1 noise on unit-variance data
    # persistence on a known case: ||0 - t|| / ||t|| = 1, ||2t - t|| / ||t|| = 1
    np.testing.assert_allclose(relative_l2_per_step(np.stack([0 * true[0], 2 * true[0]]),
                                                    np.stack([true[0], true[0]])), [1.0, 1.0])


def test_relative_l2_per_step_shows_an_all_zero_truth_and_refuses_shapes():
    assert np.isinf(relative_l2_per_step(np.ones((1, 3)), np.zeros((1, 3)))).all()
    with pytest.raises(ValueError, match=r"one shape, got \(2, 3\) and \(2, 4\)"):
        relative_l2_per_step(np.ones((2, 3)), np.ones((2, 4)))


def test_plot_truth_prediction_error_draws_three_rows_per_frame(tmp_path):
    import matplotlib.image

    truth = np.random.default_rng(1).standard_normal((2, 16, 16))
    mask = np.zeros((16, 16), bool)
    mask[:4] = True
    path = plot_truth_prediction_error(truth, truth + 0.01, [1.0, 2.0], "w [1/s]", "t",
                                       tmp_path / "sub" / "f.png", mask=mask)
    assert path == tmp_path / "sub" / "f.png"
    height, width, _ = matplotlib.image.imread(path).shape
    assert (width, height) == (600, 850)  # figsize (3 per frame, 8.5) at 100 dpi
    with pytest.raises(ValueError, match=r"K = len\(times\) = 3, got \(2, 16, 16\)"):
        plot_truth_prediction_error(truth, truth, [1.0, 2.0, 3.0], "w", "t", tmp_path / "g.png")


class FakeSurrogate:
    """Rollouts that take ``frames`` seconds of a fake clock, on a CPU device."""

    device = "cpu"

    def __init__(self, clock: list[float]) -> None:
        self.clock, self.calls = clock, []

    def rollout(self, state, frames):
        self.calls.append((state, frames))
        self.clock[0] += frames * (10.0 if len(self.calls) == 1 else 1.0)  # a slow first call
        return np.zeros((frames, 4))


def test_rollout_seconds_is_the_median_rollout_after_a_warm_up(monkeypatch):
    clock = [0.0]
    monkeypatch.setattr(benchmark.time, "perf_counter", lambda: clock[0])
    surrogate = FakeSurrogate(clock)
    state = np.ones((2, 4))
    assert rollout_seconds(surrogate, state, 40, repeats=3) == 40.0  # warm-up's 400 s left out
    assert len(surrogate.calls) == 4
    assert all(s is state and f == 40 for s, f in surrogate.calls)
