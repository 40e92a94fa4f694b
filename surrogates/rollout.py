"""The autoregressive step shared by training (:mod:`surrogates.module`) and inference
(:mod:`surrogates.inference`): normalised frames in, normalised frames out."""

from collections.abc import Iterator

import torch
from torch import nn

__all__ = ["advance", "autoregress"]


def advance(net: nn.Module, window: torch.Tensor, frames_per_call: int, channels: int,
            static: torch.Tensor | None = None) -> torch.Tensor:
    """``(B, n_input, C, *grid)`` -> the next ``(B, frames_per_call, C, *grid)``;
    ``static`` ``(B, S, *grid)`` fields (obstacle masks) go in as extra channels."""
    inp = window.flatten(1, 2)
    if static is not None:
        inp = torch.cat([inp, static], dim=1)
    out = net(inp)
    return out.reshape(window.shape[0], frames_per_call, channels, *out.shape[2:])


def autoregress(net: nn.Module, window: torch.Tensor, frames_per_call: int, channels: int,
                static: torch.Tensor | None = None) -> Iterator[torch.Tensor]:
    """Each model call's new frames, forever; every call sees the last ``n_input``
    frames (the window's length), its own predictions included, and ``static``."""
    n_input = window.shape[1]
    while True:
        nxt = advance(net, window, frames_per_call, channels, static)
        yield nxt
        window = torch.cat([window, nxt], dim=1)[:, -n_input:]
