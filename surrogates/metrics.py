"""Losses and rollout metrics for grid fields, with their formulas.

Tensors are ``(batch, ..., *grid)``; ``grid_dims`` is how many trailing axes are space.
``eps`` guards divisions by an all-zero truth.
"""

import torch

__all__ = ["relative_l2", "relative_h1", "vrmse", "steps_to_failure", "energy_spectrum",
           "spectrum_error", "rollout_summary"]


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


def relative_h1(pred: torch.Tensor, true: torch.Tensor, grid_dims: int, eps: float = 1e-12):
    """Relative H1 norm on a periodic box, per sample over channels and space:
    ``sqrt(sum_k (1 + |k|^2) |F(pred - true)|^2 / sum_k (1 + |k|^2) |F(true)|^2)``
    (``F`` the FFT over the last ``grid_dims`` axes, ``k`` integer wavenumbers)."""
    axes = tuple(range(-grid_dims, 0))
    weight = 1.0 + _wavenumbers(pred.shape[-grid_dims:], pred.device)
    e = weight * torch.fft.fftn(pred - true, dim=axes).abs() ** 2
    t = weight * torch.fft.fftn(true, dim=axes).abs() ** 2
    dims = tuple(range(1, pred.dim()))
    return torch.sqrt(e.sum(dim=dims) / (t.sum(dim=dims) + eps))


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


def energy_spectrum(field: torch.Tensor, grid_dims: int) -> torch.Tensor:
    """Shell-summed spectrum ``E(k) = sum_{k - 1/2 <= |k'| < k + 1/2} |F(field)(k')|^2 / N^2``
    for integer ``k = 0 .. n/2``, summed over the axes before the grid except the first;
    shape ``(batch, n/2 + 1)``."""
    shape = field.shape[-grid_dims:]
    F = torch.fft.fftn(field, dim=tuple(range(-grid_dims, 0)))
    power = (F.abs() ** 2).reshape(field.shape[0], -1, *shape).sum(dim=1) / F[0].numel() ** 2
    kmag = torch.sqrt(_wavenumbers(shape, field.device))
    shell = torch.round(kmag).to(torch.int64)
    n_shells = min(shape) // 2 + 1
    keep = shell < n_shells
    out = torch.zeros(field.shape[0], n_shells, dtype=power.dtype, device=field.device)
    out.index_add_(1, shell[keep], power[:, keep])
    return out


def spectrum_error(pred: torch.Tensor, true: torch.Tensor, grid_dims: int,
                   eps: float = 1e-30) -> torch.Tensor:
    """``sum_k |E_pred(k) - E_true(k)| / sum_k E_true(k)`` per sample."""
    ep, et = energy_spectrum(pred, grid_dims), energy_spectrum(true, grid_dims)
    return (ep - et).abs().sum(dim=1) / (et.sum(dim=1) + eps)


def rollout_summary(pred: torch.Tensor, true: torch.Tensor,
                    grid_dims: int) -> dict[str, torch.Tensor]:
    """The rollout metrics of ``(batch, steps, channels, *grid)`` predictions, per sample:
    ``rollout_rel_l2`` (over steps, channels and space; ``(batch,)``), ``frame_rel_l2``
    (per step, ``(batch, steps)``), ``vrmse`` (mean over steps and channels),
    ``steps_to_failure`` (of ``frame_rel_l2``) and ``spectrum_error`` (last step)."""
    frame = relative_l2(pred, true, 1 + grid_dims)
    return {"rollout_rel_l2": relative_l2(pred, true, 2 + grid_dims),
            "frame_rel_l2": frame,
            "vrmse": vrmse(pred, true, grid_dims).flatten(1).mean(1),
            "steps_to_failure": steps_to_failure(frame),
            "spectrum_error": spectrum_error(pred[:, -1], true[:, -1], grid_dims)}
