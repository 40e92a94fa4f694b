"""FNO and TFNO from the neuraloperator library (2D or 3D by the length of ``n_modes``).

Input ``(batch, in_channels, *grid)``, output ``(batch, out_channels, *grid)``; the
library's grid embedding appends normalised coordinates in ``[0, 1]`` per axis, so a
model trained at one resolution runs at another (zero-shot super-resolution).

Bounded axes: a Fourier layer is spectral along every axis, so it treats the grid as
periodic and couples the two ends of each axis (on walled data, the opposite walls).
Along the axes that ``periodic`` marks bounded, the lifted features are padded with
zeros by ``domain_padding`` (neuraloperator's ``DomainPadding``, by default
:data:`BOUNDED_PADDING` of the axis length on each side) before the Fourier layers and
cropped after them, as the FNO paper's code does for its non-periodic Darcy flow: the
spectral layers then wrap through the padding, not from wall to wall, and the model
need not be periodic on the grid itself. The layers stay spectral; the padding only
weakens the coupling, it does not make a Fourier layer respect a wall.
"""

from collections.abc import Sequence

from torch import nn

from surrogates._boundaries import periodic_axes

__all__ = ["fno", "tfno", "BOUNDED_PADDING"]

#: Zero padding added on each side of a bounded axis, as a fraction of its length.
BOUNDED_PADDING = 0.125


def _prepare(n_modes, in_channels: int, out_channels: int, periodic,
             kwargs: dict) -> tuple[tuple[int, ...], dict]:
    """Checked ``n_modes``, and ``kwargs`` with the bounded axes' ``domain_padding``."""
    n_modes = tuple(int(m) for m in n_modes)
    if len(n_modes) not in (2, 3) or min(n_modes) < 1:
        raise ValueError(f"n_modes must hold 2 or 3 positive ints, got {n_modes}")
    if in_channels < 1 or out_channels < 1:
        raise ValueError(f"in_channels and out_channels must be >= 1, got {in_channels}, "
                         f"{out_channels}")
    wraps = periodic_axes(periodic, len(n_modes))
    if "domain_padding" not in kwargs and not all(wraps):
        kwargs = {**kwargs, "domain_padding": [0.0 if w else BOUNDED_PADDING for w in wraps]}
    return n_modes, kwargs


def fno(in_channels: int, out_channels: int, n_modes=(12, 12), hidden_channels: int = 32,
        n_layers: int = 4, *, periodic: bool | Sequence[bool] = True, **kwargs) -> nn.Module:
    """Fourier neural operator (Li et al. 2021) with ``n_modes`` kept per axis.

    ``periodic``: whether each grid axis wraps around (one bool, or one per axis);
    bounded axes get ``domain_padding`` (see the module docstring) unless ``kwargs``
    sets it. Other ``kwargs`` go to :class:`neuralop.models.FNO`.
    """
    from neuralop.models import FNO  # imported here: it takes 1.4 s

    n_modes, kwargs = _prepare(n_modes, in_channels, out_channels, periodic, kwargs)
    return FNO(n_modes, in_channels, out_channels, hidden_channels, n_layers=n_layers,
               **kwargs)


def tfno(in_channels: int, out_channels: int, n_modes=(12, 12), hidden_channels: int = 32,
         n_layers: int = 4, rank: float = 0.1, *, periodic: bool | Sequence[bool] = True,
         **kwargs) -> nn.Module:
    """Tucker-factorised FNO (Kossaifi et al.): spectral weights of ``rank`` x the size;
    ``periodic`` as in :func:`fno`."""
    from neuralop.models import TFNO

    n_modes, kwargs = _prepare(n_modes, in_channels, out_channels, periodic, kwargs)
    return TFNO(n_modes, in_channels, out_channels, hidden_channels, n_layers=n_layers,
                rank=rank, **kwargs)
