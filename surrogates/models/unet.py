"""A U-Net baseline for grid fields, 2D or 3D.

Written here because no maintained library in our dependencies offers a plain U-Net
for both 2D and 3D regression. Input ``(batch, in_channels, *grid)`` with every grid
size divisible by ``2^(levels - 1)``; output ``(batch, out_channels, *grid)``.
"""

import torch
from torch import nn

__all__ = ["UNet"]


def _block(dim: int, cin: int, cout: int) -> nn.Sequential:
    conv = nn.Conv2d if dim == 2 else nn.Conv3d
    return nn.Sequential(conv(cin, cout, 3, padding=1, padding_mode="circular"),
                         nn.GroupNorm(min(8, cout), cout), nn.GELU(),
                         conv(cout, cout, 3, padding=1, padding_mode="circular"),
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
    """

    def __init__(self, in_channels: int, out_channels: int, *, dim: int = 2, width: int = 32,
                 levels: int = 3) -> None:
        super().__init__()
        if dim not in (2, 3) or levels < 1 or width < 1:
            raise ValueError(f"need dim in (2, 3), levels >= 1, width >= 1; got {dim}, "
                             f"{levels}, {width}")
        self.dim, self.levels = dim, levels
        widths = [width * 2**k for k in range(levels)]
        self.down = nn.ModuleList([_block(dim, in_channels, widths[0])] + [
            _block(dim, widths[k - 1], widths[k]) for k in range(1, levels)])
        convt = nn.ConvTranspose2d if dim == 2 else nn.ConvTranspose3d
        self.up = nn.ModuleList([convt(widths[k], widths[k - 1], 2, stride=2)
                                 for k in range(levels - 1, 0, -1)])
        self.merge = nn.ModuleList([_block(dim, 2 * widths[k - 1], widths[k - 1])
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
