"""A U-Net baseline for grid fields, 2D or 3D.

Written here because no maintained library in our dependencies offers a plain U-Net
for both 2D and 3D regression. Input ``(batch, in_channels, *grid)`` with every grid
size divisible by ``2^(levels - 1)``; output ``(batch, out_channels, *grid)``.

Every 3x3(x3) convolution pads its input by one cell per side, axis by axis: circularly
along periodic axes (the far side is the neighbour), with zeros along bounded ones.
Zeros rather than replicated edge values: nothing lies beyond a wall, so one wall's
values never reach the opposite wall, and the padding marks where the walls are, which
a walled flow (not translation invariant) needs; replicate padding would make a cell
at a wall look like an interior cell of a locally constant field.
"""

from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from surrogates._boundaries import periodic_axes

__all__ = ["UNet"]


def _pad(x: torch.Tensor, periodic: tuple[bool, ...]) -> torch.Tensor:
    """``(batch, channels, *grid)`` padded by one cell on both sides of every grid axis:
    the opposite edge along periodic axes, zeros along bounded ones."""
    for a, wraps in enumerate(periodic):
        axis = 2 + a
        n = x.shape[axis]
        if wraps:
            x = torch.cat([x.narrow(axis, n - 1, 1), x, x.narrow(axis, 0, 1)], dim=axis)
        else:
            pad = [0, 0] * (len(periodic) - 1 - a) + [1, 1]
            x = F.pad(x, pad)
    return x


class _AxisPadded:
    """A 3x3(x3) convolution (a :class:`torch.nn.Conv2d`/``Conv3d`` subclass, so its
    weights keep their names) padded per axis by :func:`_pad`."""

    periodic: tuple[bool, ...]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv = F.conv2d if len(self.periodic) == 2 else F.conv3d
        return conv(_pad(x, self.periodic), self.weight, self.bias)

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, periodic={self.periodic}"


class _Conv2d(_AxisPadded, nn.Conv2d):
    pass


class _Conv3d(_AxisPadded, nn.Conv3d):
    pass


def _conv3(periodic: tuple[bool, ...], cin: int, cout: int) -> nn.Module:
    conv = (_Conv2d if len(periodic) == 2 else _Conv3d)(cin, cout, 3)
    conv.periodic = periodic
    return conv


def _block(periodic: tuple[bool, ...], cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(_conv3(periodic, cin, cout), nn.GroupNorm(min(8, cout), cout),
                         nn.GELU(), _conv3(periodic, cout, cout),
                         nn.GroupNorm(min(8, cout), cout), nn.GELU())


class UNet(nn.Module):
    """Parameters
    ----------
    in_channels, out_channels : int
    dim : {2, 3}
    width : int
        Channels at the finest level (doubled per level down).
    levels : int
        Resolutions, the finest included.
    periodic : bool or sequence of bool
        Whether each grid axis (storage order) wraps around: circular padding there,
        zero padding along bounded axes. One value for all axes or one per axis;
        default periodic everywhere (what models trained before this option had).

    Shapes:
        input ``(batch, in_channels, *grid)``, every grid size divisible by
        ``2^(levels - 1)``; output ``(batch, out_channels, *grid)``.
    """

    def __init__(self, in_channels: int, out_channels: int, *, dim: int = 2, width: int = 32,
                 levels: int = 3, periodic: bool | Sequence[bool] = True) -> None:
        super().__init__()
        if dim not in (2, 3) or levels < 1 or width < 1:
            raise ValueError(f"need dim in (2, 3), levels >= 1, width >= 1; got {dim}, "
                             f"{levels}, {width}")
        self.dim, self.levels = dim, levels
        self.periodic = wraps = periodic_axes(periodic, dim)
        widths = [width * 2**k for k in range(levels)]
        self.down = nn.ModuleList([_block(wraps, in_channels, widths[0])] + [
            _block(wraps, widths[k - 1], widths[k]) for k in range(1, levels)])
        convt = nn.ConvTranspose2d if dim == 2 else nn.ConvTranspose3d
        self.up = nn.ModuleList([convt(widths[k], widths[k - 1], 2, stride=2)
                                 for k in range(levels - 1, 0, -1)])
        self.merge = nn.ModuleList([_block(wraps, 2 * widths[k - 1], widths[k - 1])
                                    for k in range(levels - 1, 0, -1)])
        conv = nn.Conv2d if dim == 2 else nn.Conv3d
        self.head = conv(widths[0], out_channels, 1)
        self.pool = nn.MaxPool2d(2) if dim == 2 else nn.MaxPool3d(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        factor = 2 ** (self.levels - 1)
        if x.dim() != self.dim + 2 or any(s % factor for s in x.shape[2:]):
            raise ValueError(f"UNet expects (batch, channels, *grid) with {self.dim} grid axes "
                             f"divisible by {factor}, got {tuple(x.shape)}")
        skips = []
        for k, block in enumerate(self.down):
            x = block(x if k == 0 else self.pool(x))
            skips.append(x)
        for up, merge, skip in zip(self.up, self.merge, skips[-2::-1], strict=True):
            x = merge(torch.cat([up(x), skip], dim=1))
        return self.head(x)
