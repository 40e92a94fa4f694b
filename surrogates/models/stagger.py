"""NeuralStagger (Huang et al. 2023): a fine field split into staggered coarse sub-fields,
one coarse solver per sub-task, all run as one batch.

Space: a fine grid ``(H, W[, D])`` is cut by pixel unshuffle into ``s_x s_y [s_z]``
interleaved coarse grids of size ``H/s_x, ...``. Time: ``s_t`` future frames are
predicted at once. Sub-task ``k = (time offset, spatial offset)`` has its own coarse
solver (any grid model built by ``make_model``); every solver sees all the coarse
sub-fields of the input and predicts its own sub-field, and the outputs are
re-interleaved to the fine grid. With ``shared=False`` the ``S = s_t prod(s)`` solvers
are independent networks, called one after another (``torch.vmap`` over stacked
parameters would batch them, but neuraloperator's spectral convolution writes in place,
which vmap refuses); with ``shared=True`` one network, told its sub-task by ``S``
one-hot channels, runs all sub-tasks as one batch of ``B S`` coarse inputs.
``forward(x, subset=...)`` runs only some sub-tasks: with those of one spatial offset it
returns that coarse grid alone (a coarser, cheaper solution).

Input ``(batch, in_channels, *grid)``; output ``(batch, s_t * out_channels, *grid)``
(frames ``t+1 .. t+s_t`` stacked along channels).
"""

import itertools
import math
from collections.abc import Callable, Sequence

import torch
from torch import nn

__all__ = ["NeuralStagger"]


def _unshuffle(x: torch.Tensor, s: tuple[int, ...]) -> torch.Tensor:
    """``(B, C, *grid)`` -> ``(B, C, S, *coarse)``, sub-field ``k`` of offsets
    ``itertools.product(*(range(f) for f in s))`` at index ``k``."""
    B, C = x.shape[:2]
    coarse = [n // f for n, f in zip(x.shape[2:], s, strict=True)]
    view = [B, C] + [v for n, f in zip(coarse, s, strict=True) for v in (n, f)]
    x = x.reshape(view)
    d = len(s)
    perm = [0, 1] + [3 + 2 * k for k in range(d)] + [2 + 2 * k for k in range(d)]
    return x.permute(perm).reshape(B, C, math.prod(s), *coarse)


def _shuffle(x: torch.Tensor, s: tuple[int, ...]) -> torch.Tensor:
    """Inverse of :func:`_unshuffle`: ``(B, C, S, *coarse)`` -> ``(B, C, *grid)``."""
    B, C, _ = x.shape[:3]
    coarse = x.shape[3:]
    d = len(s)
    x = x.reshape(B, C, *s, *coarse)
    perm = [0, 1] + [v for k in range(d) for v in (2 + d + k, 2 + k)]
    return x.permute(perm).reshape(B, C, *[n * f for n, f in zip(coarse, s, strict=True)])


class NeuralStagger(nn.Module):
    """Parameters
    ----------
    make_model : callable
        ``make_model(in_channels, out_channels) -> nn.Module``, a coarse grid solver.
    in_channels, out_channels : int
        Channels of the fine input, and of one predicted fine frame.
    space : sequence of int
        ``(s_x, s_y[, s_z])``; grid sizes must be divisible by them.
    time : int
        ``s_t``, frames predicted per call.
    """

    def __init__(self, make_model: Callable[[int, int], nn.Module], in_channels: int,
                 out_channels: int, *, space: Sequence[int] = (2, 2), time: int = 1,
                 shared: bool = False) -> None:
        super().__init__()
        self.space, self.time = tuple(int(f) for f in space), int(time)
        if len(self.space) not in (2, 3) or min(self.space) < 1 or self.time < 1:
            raise ValueError(f"space must hold 2 or 3 factors >= 1 and time must be >= 1, "
                             f"got {space}, {time}")
        self.in_channels, self.out_channels, self.shared = in_channels, out_channels, shared
        self.n_space = math.prod(self.space)
        self.n_tasks = self.n_space * self.time
        cin = in_channels * self.n_space
        if shared:
            self.solver = make_model(cin + self.n_tasks, out_channels)
        else:
            self.solvers = nn.ModuleList([make_model(cin, out_channels)
                                          for _ in range(self.n_tasks)])

    def tasks(self) -> list[tuple[int, tuple[int, ...]]]:
        """``(time offset, spatial offset)`` of each sub-task, in solver order."""
        return list(itertools.product(range(self.time),
                                      itertools.product(*(range(f) for f in self.space))))

    def forward(self, x: torch.Tensor, subset: Sequence[int] | None = None) -> torch.Tensor:
        """All solvers: ``(B, s_t * out_channels, *grid)``. With ``subset`` (solver
        indices): ``(B, len(subset), out_channels, *coarse)``, each solver's own coarse
        sub-field."""
        if x.dim() != len(self.space) + 2 or x.shape[1] != self.in_channels or any(
                n % f for n, f in zip(x.shape[2:], self.space, strict=True)):
            raise ValueError(f"NeuralStagger expects (batch, {self.in_channels}, *grid) with "
                             f"grid divisible by {self.space}, got {tuple(x.shape)}")
        coarse_in = _unshuffle(x, self.space).flatten(1, 2)  # (B, C_in S, *coarse)
        tasks = list(range(self.n_tasks)) if subset is None else [int(k) for k in subset]
        if any(not 0 <= k < self.n_tasks for k in tasks):
            raise ValueError(f"subset must hold solver indices in [0, {self.n_tasks}), got "
                             f"{subset}")
        B = x.shape[0]
        if self.shared:  # every sub-task in one batch, told apart by one-hot channels
            onehot = torch.zeros(len(tasks), self.n_tasks, *coarse_in.shape[2:],
                                 dtype=x.dtype, device=x.device)
            onehot[torch.arange(len(tasks)), torch.as_tensor(tasks)] = 1.0
            inp = torch.cat([coarse_in.unsqueeze(0).expand(len(tasks), *coarse_in.shape),
                             onehot.unsqueeze(1).expand(-1, B, *onehot.shape[1:])], dim=2)
            out = self.solver(inp.flatten(0, 1)).unflatten(0, (len(tasks), B))
        else:
            out = torch.stack([self.solvers[k](coarse_in) for k in tasks])
        out = out.transpose(0, 1)  # (B, tasks, C_out, *coarse)
        if subset is not None:
            return out
        out = out.reshape(B, self.time, self.n_space, self.out_channels, *out.shape[3:])
        out = out.permute(0, 1, 3, 2, *range(4, out.dim()))  # (B, T, C, S, *coarse)
        fine = _shuffle(out.reshape(B, self.time * self.out_channels, self.n_space,
                                    *out.shape[4:]), self.space)
        return fine
