"""Particle rollout metrics against analytic cases (offsets, translations, uniform motion,
free fall, constructed fronts)."""

import numpy as np
import ot
import pytest
import torch

from simkit.readouts import front
from surrogates.particles import metrics

RNG = np.random.default_rng(0)
CLOUD = RNG.random((64, 2))  # m, in the unit square


def uniform_motion(x0, v, dt, n):
    """(n, N, d) positions x0 + v t at t = 0, dt, ..., (n - 1) dt."""
    t = dt * np.arange(n)[:, None, None]
    return x0[None] + v * t


def test_position_mse_of_an_offset_is_its_square_over_d_and_the_mask_excludes():
    true = uniform_motion(CLOUD, np.array([0.1, 0.0]), 0.01, 6)
    s = np.array([0.3, -0.4])
    pred = true + s
    pred[:, :4] += 10.0  # kinematic particles, masked out
    mask = np.ones(64, bool)
    mask[:4] = False
    mse = metrics.position_mse(torch.tensor(pred), true, mask)
    assert mse.shape == (6,)
    # |s|^2 = 0.25, mean over particles and the d = 2 components: 0.125 m^2
    assert torch.allclose(mse, torch.full((6,), 0.125, dtype=torch.float64))
    assert metrics.position_mse(pred, true)[0] > 1.0  # unmasked, the offset 10 counts


def test_mse_over_averages_the_first_steps():
    per_step = torch.arange(1.0, 31.0)
    assert metrics.mse_over(per_step, 5) == pytest.approx(3.0)
    assert metrics.mse_over(per_step, 20) == pytest.approx(10.5)
    assert metrics.mse_over(per_step, None) == pytest.approx(15.5)
    for steps in (0, 31):
        with pytest.raises(ValueError, match="steps"):
            metrics.mse_over(per_step, steps)


def test_sinkhorn_of_identical_clouds_is_zero_and_of_a_translation_its_square():
    assert metrics.sinkhorn_distance(CLOUD, CLOUD) == pytest.approx(0.0, abs=1e-12)
    s = np.array([0.3, -0.1])  # |s|^2 = 0.1 m^2; |s| would be 0.316
    # exact for a translation at any epsilon (the debiased divergence); the solver's
    # marginal tolerance (1e-6) leaves ~1e-6 relative
    for epsilon in (None, 1e-2):
        assert metrics.sinkhorn_distance(CLOUD, CLOUD + s, epsilon=epsilon) == \
            pytest.approx(0.1, rel=1e-5)


def test_sinkhorn_is_within_epsilon_log_n_of_the_exact_transport_cost():
    """0 <= W_eps(x, y) - W_2^2 <= eps log N and 0 <= W_eps(x, x) <= eps log N bound the
    divergence to W_2^2 +- eps log N (8.3e-3 at eps = 2e-3, where Sinkhorn converges in
    10^4 iterations); W_2^2 is 0.0148 and the measured difference 2.7e-4."""
    other = RNG.random((64, 2))
    exact = ot.emd2(ot.unif(64), ot.unif(64), ot.dist(CLOUD, other))
    epsilon = 2e-3
    sink = metrics.sinkhorn_distance(CLOUD, other, epsilon=epsilon)
    assert abs(sink - exact) <= epsilon * np.log(64)
    # the default epsilon (0.05 x the mean cost, 0.017 m^2 here) blurs more than that
    assert abs(metrics.sinkhorn_distance(CLOUD, other) - exact) > 1e-3


def test_sinkhorn_is_permutation_invariant_but_mse_is_not():
    true = CLOUD + RNG.normal(0, 0.02, CLOUD.shape)
    order = RNG.permutation(64)
    s = metrics.sinkhorn_distance(CLOUD, true)
    assert metrics.sinkhorn_distance(CLOUD, true[order]) == pytest.approx(s, rel=1e-6)
    mse = metrics.position_mse(CLOUD[None], true[None])[0]
    assert metrics.position_mse(CLOUD[None], true[order][None])[0] > 100 * mse


def test_sinkhorn_mask_scores_only_the_selected_particles():
    pred, true = CLOUD.copy(), CLOUD + [0.2, 0.0]
    pred[:8] += 5.0  # far away, masked out
    mask = np.arange(64) >= 8
    assert metrics.sinkhorn_distance(pred, true, mask=mask) == pytest.approx(0.04, rel=1e-5)


def test_kinetic_energy_of_uniform_motion():
    mass = RNG.uniform(1e-3, 2e-3, 64)  # kg
    v = np.array([1.5, -2.0])  # |v|^2 = 6.25 m^2/s^2
    vel = np.tile(v, (3, 64, 1))
    mask = np.arange(64) < 40
    e = metrics.kinetic_energy(vel, mass, mask)
    assert torch.allclose(e, torch.full((3,), 0.5 * mass[:40].sum() * 6.25,
                                        dtype=torch.float64), rtol=1e-14)


def test_kinetic_energy_error_of_a_faster_rollout():
    """Speed 1.1 v against v: E_pred / E_true = 1.21 at every step, the error 0.21."""
    v, dt, mass = np.array([0.5, 0.2]), 0.01, np.full(64, 1e-3)
    true = uniform_motion(CLOUD, v, dt, 8)
    pred = uniform_motion(CLOUD, 1.1 * v, dt, 8)
    err = metrics.kinetic_energy_error(pred, true, mass, dt)
    assert err.shape == (7,)
    assert torch.allclose(err, torch.full((7,), 0.21, dtype=torch.float64))
    with pytest.raises(ValueError, match="true_pos"):
        metrics.kinetic_energy_error(pred, np.tile(CLOUD, (8, 1, 1)), mass, dt)


def test_constant_velocity_is_exact_for_uniform_motion():
    traj = uniform_motion(CLOUD, np.array([0.3, -0.7]), 0.02, 12)
    pred = metrics.constant_velocity_rollout(traj[:2], 10)
    assert torch.allclose(pred, torch.as_tensor(traj[2:]), atol=1e-13)


def test_constant_velocity_lags_free_fall_by_half_g_dt2_k_k_plus_1():
    """y(t) = v0 t - g t^2 / 2 from x_{-1}, x_0: after k steps the extrapolation is
    g dt^2 k (k + 1) / 2 above the truth, 0.0540 m at k = 10 (dt = 0.01 s), not the
    g t^2 / 2 = 0.0491 m of the continuous velocity."""
    g, dt, v0 = 9.81, 0.01, 1.0
    t = dt * np.arange(-1, 11)
    y = v0 * t - 0.5 * g * t**2
    traj = np.stack([np.zeros_like(y), y], -1)[:, None, :]  # (12, 1, 2)
    pred = metrics.constant_velocity_rollout(traj[:2], 10)
    k = np.arange(1, 11)
    lag = pred[:, 0, 1].numpy() - y[2:]
    assert np.allclose(lag, 0.5 * g * dt**2 * k * (k + 1), rtol=1e-10)
    assert lag[-1] == pytest.approx(0.05396, rel=1e-3)


def test_constant_velocity_sets_the_kinematic_particles_from_their_future():
    traj = uniform_motion(CLOUD, np.array([0.3, 0.0]), 0.02, 7)
    wall_future = np.tile(CLOUD, (5, 1, 1))  # walls at rest
    kin = np.arange(64) < 10
    pred = metrics.constant_velocity_rollout(traj[:2], 5, wall_future, kinematic=kin)
    assert torch.allclose(pred[:, :10], torch.as_tensor(CLOUD[:10]).expand(5, 10, 2))
    assert torch.allclose(pred[:, 10:], torch.as_tensor(traj[2:, 10:]), atol=1e-13)
    with pytest.raises(ValueError, match="kinematic"):
        metrics.constant_velocity_rollout(traj[:2], 5, wall_future)


def test_front_is_the_fifth_particle_from_the_front():
    x = 0.05 + 0.01 * np.arange(100)  # 0.05 .. 1.04 m
    x = np.append(x, 3.0)  # one stray droplet ahead
    # the stray is 1st, 1.04 .. 1.01 m are 2nd to 5th
    assert front(RNG.permutation(x), 0.05) == pytest.approx(0.96)
    assert front(x, 0.05, rank=1) == pytest.approx(2.95)
    with pytest.raises(ValueError, match="rank"):
        front(x[:3], 0.05)


def column(t_frames, speed, wall=0.05):
    """(T, 45, 2): a fluid column whose 40 particles spread from the wall to a front at
    wall + 0.2 + speed t, and 5 wall particles (indices 0-4) far ahead at x = 2 m."""
    fluid = np.linspace(0.0, 1.0, 40)
    lead = wall + 0.2 + speed * t_frames
    x = np.concatenate([np.full((len(t_frames), 5), 2.0),
                        wall + (lead - wall)[:, None] * fluid[None]], axis=1)
    return np.stack([x, np.zeros_like(x)], -1)


def test_surge_front_and_runout_follow_a_constructed_front():
    t = 0.01 * np.arange(10)
    pos = column(t, 1.5)
    mask = np.arange(45) >= 5
    # the 5th of 40 evenly spaced particles from the front: 35/39 of the way to it
    expected = torch.as_tensor((0.2 + 1.5 * t) * 35 / 39)
    assert torch.allclose(metrics.surge_front(pos, mask, 0.05), expected)
    assert torch.allclose(metrics.runout_length(pos, mask, 0.05), expected)
    assert metrics.surge_front(pos, None, 0.05)[0] == pytest.approx(1.95)  # walls count


def test_rollout_report_of_a_shifted_rollout():
    """pred = true + (0.01, 0): MSE 5e-5, Sinkhorn 1e-4, no kinetic-energy error; the
    surge front is 0.01 m ahead; the true front moves 0.0108 m a frame, so the
    frames from 3 on count (moved >= 0.1 of its 24-frame excursion) and the largest error is
    at t = 3."""
    dt = 0.01
    t = dt * np.arange(25)
    true = column(t, 1.2)
    pred = true + [0.01, 0.0]
    mask = np.arange(45) >= 5
    rep = metrics.rollout_report(pred, true, mask=mask, mass=1e-3, dt=dt, wall=0.05,
                                 readout="surge_front")
    for key in ("mse5", "mse20", "mse_full"):
        assert rep[key] == pytest.approx(5e-5)
    # exact up to the solver's marginal tolerance (1e-6): 2e-8 m^2 measured
    assert rep["sinkhorn_final"] == pytest.approx(1e-4, rel=1e-3)
    assert rep["sinkhorn_mean"] == pytest.approx(1e-4, rel=1e-3)
    assert rep["kinetic_energy_error"] == pytest.approx(0.0, abs=1e-12)
    front_true = (0.2 + 1.2 * t) * 35 / 39
    assert rep["surge_front_error"] == pytest.approx(0.01 / front_true[3])
    assert set(rep) == {"mse5", "mse20", "mse_full", "sinkhorn_final", "sinkhorn_mean",
                        "kinetic_energy_error", "surge_front_error"}


@pytest.mark.parametrize("call, name", [
    (lambda: metrics.position_mse(np.zeros((3, 5, 2)), np.zeros((3, 4, 2))), "true"),
    (lambda: metrics.position_mse(np.zeros((5, 2)), np.zeros((5, 2))), "pred"),
    (lambda: metrics.position_mse(np.zeros((3, 5, 2)), np.zeros((3, 5, 2)),
                                  np.ones(4, bool)), "mask"),
    (lambda: metrics.sinkhorn_distance(np.zeros((5, 2)), np.zeros((6, 2))), "true"),
    (lambda: metrics.sinkhorn_distance(CLOUD, CLOUD, epsilon=0.0), "epsilon"),
    (lambda: metrics.kinetic_energy(np.zeros((3, 5, 2)), np.ones(4)), "mass"),
    (lambda: metrics.kinetic_energy_error(np.zeros((1, 5, 2)), np.zeros((1, 5, 2)),
                                          1.0, 0.01), "pred_pos"),
    (lambda: metrics.constant_velocity_rollout(np.zeros((1, 5, 2)), 3), "history"),
    (lambda: metrics.rollout_report(np.zeros((10, 5, 2)), np.zeros((10, 5, 2)),
                                    mask=None, mass=1.0, dt=0.01), "pred"),
    (lambda: metrics.rollout_report(np.zeros((20, 5, 2)), np.zeros((20, 5, 2)),
                                    mask=None, mass=1.0, dt=0.01, wall=0.0,
                                    readout="front"), "readout"),
    (lambda: metrics.rollout_report(np.zeros((20, 5, 2)), np.zeros((20, 5, 2)),
                                    mask=None, mass=1.0, dt=0.01, readout="runout"),
     "wall"),
])
def test_bad_inputs_name_the_argument(call, name):
    with pytest.raises(ValueError, match=f"^{name}:"):
        call()
