"""Per-channel normalisation of frames, shared by training and inference."""

import torch
from torch import nn

__all__ = ["Normaliser"]


class Normaliser(nn.Module):
    """``(x - mean) / std`` per channel of frames ``(B, T, C, *grid)``.

    ``stats`` is ``{"mean": [...], "std": [...]}``, one value per channel (the train
    split's, from :attr:`surrogates.data.GridDataModule.normaliser`); ``None`` is the
    identity. The values are buffers: they travel with the module's device and weights.
    """

    def __init__(self, stats: dict | None, channels: int, grid_dims: int) -> None:
        super().__init__()
        stats = stats or {"mean": [0.0] * channels, "std": [1.0] * channels}
        if len(stats["mean"]) != channels or len(stats["std"]) != channels:
            raise ValueError(f"normaliser must give {channels} means and stds, got "
                             f"{len(stats['mean'])} and {len(stats['std'])}")
        shape = (1, 1, channels) + (1,) * grid_dims
        for name in ("mean", "std"):
            self.register_buffer(name, torch.tensor(stats[name], dtype=torch.float32)
                                 .reshape(shape))

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.std + self.mean

    def as_dict(self) -> dict[str, list[float]]:
        """The ``stats`` it was made from (plain lists, for checkpoints)."""
        return {"mean": self.mean.flatten().tolist(), "std": self.std.flatten().tolist()}
