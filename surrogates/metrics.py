"""Losses and rollout metrics for grid fields, with their formulas.

Tensors are ``(batch, ..., *grid)``; ``grid_dims`` is how many trailing axes are space.
``eps`` guards divisions by an all-zero truth. ``periodic`` says which grid axes wrap
around (the dataset schema's periodic dims): derivatives and spectra use the FFT only
along those.
"""

import math
from collections.abc import Sequence

import numpy as np
import torch

from surrogates._boundaries import periodic_axes

__all__ = ["relative_l2", "relative_h1", "vrmse", "steps_to_failure", "energy_spectrum",
           "spectrum_error", "rollout_summary", "relative_l2_per_step"]


def relative_l2(pred: torch.Tensor, true: torch.Tensor, dims: int, eps: float = 1e-12):
    """``||pred - true||_2 / ||true||_2`` over the last ``dims`` axes (e.g. channels and
    space for one step, or time, channels and space for a whole rollout); shape
    ``pred.shape[:-dims]``."""
    axes = tuple(range(-dims, 0))
    diff = torch.linalg.vector_norm(pred - true, dim=axes)
    return diff / (torch.linalg.vector_norm(true, dim=axes) + eps)


def _wavenumbers(shape, device) -> torch.Tensor:
    """``|k|^2`` of the integer wavenumbers of a periodic box, on the ``fftn`` grid."""
    ks = [torch.fft.fftfreq(n, 1.0 / n, device=device) for n in shape]
    return sum(g * g for g in torch.meshgrid(*ks, indexing="ij"))


def _h1_squared(f: torch.Tensor, periodic: tuple[bool, ...]) -> torch.Tensor:
    """``sum_x f^2 + sum_a sum_x (D_a f)^2`` per leading index, ``D_a`` as in
    :func:`relative_h1`; ``f`` is ``(batch, ..., *grid)``, the result ``(batch,)``."""
    dims = tuple(range(1, f.dim()))
    total = (f * f).sum(dim=dims)
    for a, wraps in enumerate(periodic):
        axis = f.dim() - len(periodic) + a
        n = f.shape[axis]
        if wraps:  # Parseval along the axis: sum_x (D f)^2 = sum_k k^2 |F_a f|^2 / n
            k2 = torch.fft.fftfreq(n, 1.0 / n, device=f.device, dtype=f.dtype) ** 2
            power = torch.fft.fft(f, dim=axis).abs() ** 2
            total = total + (power * k2.reshape([n] + [1] * (f.dim() - 1 - axis))).sum(
                dim=dims) / n
        elif n > 1:
            d = torch.gradient(f, spacing=2 * math.pi / n, dim=axis,
                               edge_order=2 if n > 2 else 1)[0]
            total = total + (d * d).sum(dim=dims)
    return total


def relative_h1(pred: torch.Tensor, true: torch.Tensor, grid_dims: int, eps: float = 1e-12,
                *, periodic: bool | Sequence[bool] = True) -> torch.Tensor:
    """Relative H1 norm per sample over channels and space.

    ``sqrt(|pred - true|_H1^2 / (|true|_H1^2 + eps))`` with
    ``|f|_H1^2 = sum_x f^2 + sum_a sum_x (D_a f)^2``, ``D_a`` the derivative along grid
    axis ``a`` in the coordinate ``s = 2 pi j / n_a`` (every axis has length ``2 pi``,
    so its Fourier modes have integer wavenumbers):

    * periodic axis: spectral, ``sum_x (D_a f)^2 = sum_{k_a} k_a^2 |F_a f|^2 / n_a``
      (``F_a`` the FFT along the axis, ``k_a`` its integer wavenumbers);
    * bounded axis: finite differences (``torch.gradient``, spacing ``2 pi / n_a``:
      second-order central inside, second-order one-sided at the two ends, exact on
      fields linear or quadratic along the axis), which see no jump between the ends.

    On an all-periodic grid this is
    ``sqrt(sum_k (1 + |k|^2) |F(pred - true)|^2 / sum_k (1 + |k|^2) |F(true)|^2)``
    (``F`` the FFT over the grid, ``k`` integer wavenumbers).

    Parameters
    ----------
    pred, true : Tensor
        ``(batch, ..., *grid)``.
    grid_dims : int
        Trailing axes that are space.
    eps : float
        Added to the denominator.
    periodic : bool or sequence of bool
        Whether each grid axis wraps around (one value for all, or one per axis).

    Returns
    -------
    Tensor
        ``(batch,)``.
    """
    wraps = periodic_axes(periodic, grid_dims)
    return torch.sqrt(_h1_squared(pred - true, wraps) / (_h1_squared(true, wraps) + eps))


def vrmse(pred: torch.Tensor, true: torch.Tensor, grid_dims: int, eps: float = 1e-7):
    """Variance-scaled RMSE (The Well): ``sqrt(mean((pred - true)^2) / (var(true) + eps))``
    over the last ``grid_dims`` axes, per leading index (e.g. per sample, step, channel)."""
    axes = tuple(range(-grid_dims, 0))
    mse = ((pred - true) ** 2).mean(dim=axes)
    return torch.sqrt(mse / (true.var(dim=axes, unbiased=False) + eps))


def steps_to_failure(errors: torch.Tensor, threshold: float = 0.3) -> torch.Tensor:
    """Per sample, the first step (1-based) whose error exceeds ``threshold``; the
    number of steps + 1 when none does. ``errors``: ``(batch, steps)``."""
    over = errors > threshold
    first = torch.argmax(over.to(torch.int64), dim=1) + 1
    return torch.where(over.any(dim=1), first, torch.full_like(first, errors.shape[1] + 1))


def energy_spectrum(field: torch.Tensor, grid_dims: int, *,
                    periodic: bool | Sequence[bool] = True) -> torch.Tensor:
    """Shell-summed energy spectrum per sample.

    ``E(k) = sum_{k - 1/2 <= |k'| < k + 1/2} sum_c |F(w f_c)(k')|^2 / (N^2 mean_x w^2)``
    for integer ``k = 0 .. K``, ``K = round(max |k'|)`` (the corner of the box:
    ``sqrt(d) n / 2`` on a ``n^d`` cube, so every mode is in a shell; shells above
    ``min(n) / 2`` are incomplete). ``F`` is the FFT over the grid, ``k'`` its integer
    wavenumbers, ``N`` the number of grid points, ``c`` runs over every axis between
    the batch and the grid (channels), and ``w`` is a window: ``1`` along periodic
    axes, the symmetric Hann window ``sin^2(pi j / (n - 1))`` along bounded ones (the
    field is not periodic there; without a window the jump between its two ends
    spreads energy over every wavenumber). So ``sum_k E(k) = sum_c mean_x (w f_c)^2 /
    mean_x w^2``: on a periodic grid Parseval, ``sum_c mean_x f_c^2`` exactly; on a
    bounded one the window-weighted mean square.

    Parameters
    ----------
    field : Tensor
        ``(batch, ..., *grid)``.
    grid_dims : int
        Trailing axes that are space.
    periodic : bool or sequence of bool
        Whether each grid axis wraps around (one value for all, or one per axis).

    Returns
    -------
    Tensor
        ``(batch, K + 1)``.

    Raises
    ------
    ValueError
        A bounded axis of fewer than 3 points (its Hann window is zero).
    """
    wraps = periodic_axes(periodic, grid_dims)
    shape = field.shape[-grid_dims:]
    window, mean_square = torch.ones((), dtype=field.dtype, device=field.device), 1.0
    for a, (n, wrap) in enumerate(zip(shape, wraps, strict=True)):
        if wrap:
            continue
        if n < 3:
            raise ValueError(f"energy_spectrum: bounded grid axis {a} needs at least 3 points "
                             f"for its Hann window, got {n}")
        w = torch.hann_window(n, periodic=False, dtype=field.dtype, device=field.device)
        window = window * w.reshape([n] + [1] * (grid_dims - 1 - a))
        mean_square *= float((w * w).mean())
    F = torch.fft.fftn(field * window, dim=tuple(range(-grid_dims, 0)))
    power = (F.abs() ** 2).reshape(field.shape[0], -1, *shape).sum(dim=1)
    power = power / (math.prod(shape) ** 2 * mean_square)
    shell = torch.round(torch.sqrt(_wavenumbers(shape, field.device))).to(torch.int64)
    out = torch.zeros(field.shape[0], int(shell.max()) + 1, dtype=power.dtype,
                      device=field.device)
    out.index_add_(1, shell.flatten(), power.flatten(1))
    return out


def spectrum_error(pred: torch.Tensor, true: torch.Tensor, grid_dims: int,
                   eps: float = 1e-30, *,
                   periodic: bool | Sequence[bool] = True) -> torch.Tensor:
    """``sum_k |E_pred(k) - E_true(k)| / sum_k E_true(k)`` per sample, ``E`` the
    :func:`energy_spectrum` (windowed along bounded axes); ``(batch,)``."""
    ep = energy_spectrum(pred, grid_dims, periodic=periodic)
    et = energy_spectrum(true, grid_dims, periodic=periodic)
    return (ep - et).abs().sum(dim=1) / (et.sum(dim=1) + eps)


def rollout_summary(pred: torch.Tensor, true: torch.Tensor, grid_dims: int, *,
                    periodic: bool | Sequence[bool] = True) -> dict[str, torch.Tensor]:
    """The rollout metrics of ``(batch, steps, channels, *grid)`` predictions, per sample:
    ``rollout_rel_l2`` (over steps, channels and space; ``(batch,)``), ``frame_rel_l2``
    (per step, ``(batch, steps)``), ``vrmse`` (mean over steps and channels),
    ``steps_to_failure`` (of ``frame_rel_l2``) and ``spectrum_error`` (last step;
    ``periodic`` as in :func:`energy_spectrum`)."""
    frame = relative_l2(pred, true, 1 + grid_dims)
    return {"rollout_rel_l2": relative_l2(pred, true, 2 + grid_dims),
            "frame_rel_l2": frame,
            "vrmse": vrmse(pred, true, grid_dims).flatten(1).mean(1),
            "steps_to_failure": steps_to_failure(frame),
            "spectrum_error": spectrum_error(pred[:, -1], true[:, -1], grid_dims,
                                             periodic=periodic)}


def relative_l2_per_step(pred: np.ndarray, true: np.ndarray) -> np.ndarray:
    """``||pred_k - true_k||_2 / ||true_k||_2`` for each step ``k`` (the first axis), the
    norm over all other axes; numpy arrays, for rollouts already back on the host.

    Parameters
    ----------
    pred, true : ndarray
        ``(steps, ...)``, the same shape.

    Returns
    -------
    ndarray
        ``(steps,)``, float64. A step whose truth is all zero gives ``inf`` (or ``nan``
        where the prediction is zero too): no ``eps`` hides it.

    Raises
    ------
    ValueError
        The shapes differ, or the arrays are 0-dimensional.
    """
    pred, true = np.asarray(pred), np.asarray(true)
    if pred.shape != true.shape or pred.ndim < 1:
        raise ValueError(f"pred and true must be (steps, ...) arrays of one shape, got "
                         f"{pred.shape} and {true.shape}")
    steps = len(true)
    diff = (pred.astype(np.float64) - true).reshape(steps, -1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return (np.linalg.norm(diff, axis=1)
                / np.linalg.norm(true.astype(np.float64).reshape(steps, -1), axis=1))
