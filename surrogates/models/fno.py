"""FNO and TFNO from the neuraloperator library (2D or 3D by the length of ``n_modes``).

Input ``(batch, in_channels, *grid)``, output ``(batch, out_channels, *grid)``; the
library's grid embedding appends normalised coordinates in ``[0, 1]`` per axis, so a
model trained at one resolution runs at another (zero-shot super-resolution).
"""

from torch import nn

__all__ = ["fno", "tfno"]


def _check(n_modes, in_channels: int, out_channels: int) -> tuple[int, ...]:
    n_modes = tuple(int(m) for m in n_modes)
    if len(n_modes) not in (2, 3) or min(n_modes) < 1:
        raise ValueError(f"n_modes must hold 2 or 3 positive ints, got {n_modes}")
    if in_channels < 1 or out_channels < 1:
        raise ValueError(f"in_channels and out_channels must be >= 1, got {in_channels}, "
                         f"{out_channels}")
    return n_modes


def fno(in_channels: int, out_channels: int, n_modes=(12, 12), hidden_channels: int = 32,
        n_layers: int = 4, **kwargs) -> nn.Module:
    """Fourier neural operator (Li et al. 2021) with ``n_modes`` kept per axis."""
    from neuralop.models import FNO  # imported here: it takes 1.4 s

    return FNO(_check(n_modes, in_channels, out_channels), in_channels, out_channels,
               hidden_channels, n_layers=n_layers, **kwargs)


def tfno(in_channels: int, out_channels: int, n_modes=(12, 12), hidden_channels: int = 32,
         n_layers: int = 4, rank: float = 0.1, **kwargs) -> nn.Module:
    """Tucker-factorised FNO (Kossaifi et al.): spectral weights of ``rank`` x the size."""
    from neuralop.models import TFNO

    return TFNO(_check(n_modes, in_channels, out_channels), in_channels, out_channels,
                hidden_channels, n_layers=n_layers, rank=rank, **kwargs)
