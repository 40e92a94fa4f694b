"""The autoregressive step shared by training (:mod:`surrogates.module`) and inference
(:mod:`surrogates.inference`): normalised frames in, normalised frames out."""

from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["advance", "autoregress"]


def advance(net: nn.Module, window: torch.Tensor, frames_per_call: int,
            channels: int) -> torch.Tensor:
    """``(B, n_input, C, *grid)`` -> the next ``(B, frames_per_call, C, *grid)``."""
    out = net(window.flatten(1, 2))
    return out.reshape(window.shape[0], frames_per_call, channels, *out.shape[2:])


def autoregress(net: nn.Module, window: torch.Tensor, frames_per_call: int,
                channels: int) -> Iterator[torch.Tensor]:
    """Each model call's new frames, forever; every call sees the last ``n_input``
    frames (the window's length), its own predictions included."""
    n_input = window.shape[1]
    while True:
        nxt = advance(net, window, frames_per_call, channels)
        yield nxt
        window = torch.cat([window, nxt], dim=1)[:, -n_input:]
