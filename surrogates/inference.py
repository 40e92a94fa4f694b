"""Trained surrogates inside user PDE codes: ``surrogates.load(path)``.

A checkpoint written by ``simkit-train`` carries, besides the weights, a
``"surrogate"`` block: the model name and config, the normaliser, and the dataset
schema it was trained on (variables, channels, grid, frames in, seconds per frame).
It loads with ``torch.load(weights_only=True)``: nothing is unpickled.
"""

from pathlib import Path

import numpy as np
import torch

from surrogates.models import build_autoregressive
from surrogates.normaliser import Normaliser
from surrogates.rollout import advance, autoregress

__all__ = ["Surrogate", "load", "surrogate_info", "FORMAT"]

FORMAT = "simkit-surrogate/1"


def surrogate_info(model: str, model_config: dict | None, n_input: int, frames_per_call: int,
                   normaliser: dict, dataset_schema: dict) -> dict:
    """The checkpoint's ``"surrogate"`` block (plain types only): what :class:`Surrogate`
    needs besides the weights. ``dataset_schema`` as
    :attr:`surrogates.data.GridDataModule.dataset_schema` (at least ``variables``,
    ``frame_shapes``, ``grid`` and ``write_interval``)."""
    return {"format": FORMAT, "kind": "grid", "model": model,
            "model_config": dict(model_config or {}),
            "n_input": n_input, "frames_per_call": frames_per_call, "normaliser": normaliser,
            **dataset_schema}


class Surrogate:
    """A trained grid model in the simulator's layout and units.

    ``state`` is ``(..., n_input, *frame)`` for one variable, or a dict of such arrays
    for several (``frame`` the variable's per-frame shape, e.g. ``(y, x)`` or
    ``(component, y, x)``), numpy or torch, any leading batch axes. FNO and TFNO also
    take other grid sizes than the trained one (zero-shot super-resolution). A model
    trained with static inputs (``static``, e.g. ``["solid"]``) needs them in the dict
    too, ``(*grid)`` for the whole batch or ``(..., *grid)`` per sample.
    """

    def __init__(self, info: dict, state_dict: dict, device: str | torch.device = "cpu") -> None:
        self.info = info
        self.device = torch.device(device)
        self.variables: list[str] = info["variables"]
        self.static: list[str] = list(info.get("static", []))
        self.frame_shapes = {v: tuple(s) for v, s in info["frame_shapes"].items()}
        self.grid = tuple(info["grid"])
        self.n_input = int(info["n_input"])
        self.dt = float(info["write_interval"])
        # Fourier operators are discretisation-invariant: they run on other grid sizes
        # (zero-shot super-resolution); the others only on the grid they learned
        self.resolution_free = info["model"] in ("fno", "tfno")
        # channels of each variable: its per-frame shape less the grid axes
        self.components = {v: int(np.prod(s[:len(s) - len(self.grid)]))
                           for v, s in self.frame_shapes.items()}
        channels = self.channels = sum(self.components.values())
        # the grid axes that wrap around; absent (older checkpoints): all, as then
        self.net, self.frames_per_call = build_autoregressive(
            info["model"], info["model_config"], channels, self.n_input,
            int(info["frames_per_call"]), len(self.static), periodic=info.get("periodic"))
        try:
            self.net.load_state_dict(state_dict)
        except RuntimeError as err:
            raise ValueError(f"the weights do not fit a {info['model']} model with config "
                             f"{info['model_config']}: {err}") from None
        self.net.to(self.device).eval()
        self.normalisation = Normaliser(info["normaliser"], channels, len(self.grid)).to(
            self.device)

    def __repr__(self) -> str:
        return (f"Surrogate({self.info['model']}, variables {self.variables}, grid "
                f"{self.grid}, {self.n_input} frames in, dt {self.dt:g} s, on {self.device})")

    # ---- layout -------------------------------------------------------------------------

    def _to_tensor(self, state) -> tuple[torch.Tensor, tuple, bool, torch.Tensor | None]:
        """``(frames (B, n_input, C, *grid), lead axes, numpy in?, static (B, S, *grid))``."""
        if not isinstance(state, dict):
            if len(self.variables) != 1 or self.static:
                raise ValueError(f"state must be a dict of {self.variables + self.static}")
            state = {self.variables[0]: state}
        missing = sorted(set(self.variables + self.static) - set(state))
        if missing:
            raise ValueError(f"state lacks variables {missing}; expected "
                             f"{self.variables + self.static}")
        as_numpy = not all(isinstance(state[v], torch.Tensor) for v in self.variables)
        parts, lead, grid = [], None, None
        for v in self.variables:
            a = torch.as_tensor(state[v], dtype=torch.float32, device=self.device)
            want = (self.n_input, *self.frame_shapes[v])
            got = tuple(a.shape[a.dim() - len(want):])
            g = got[len(got) - len(self.grid):]
            if a.dim() < len(want) or got[:-len(self.grid)] != want[:-len(self.grid)] or (
                    g != self.grid and not self.resolution_free) or grid not in (None, g):
                free = "; any grid size for this model" if self.resolution_free else ""
                raise ValueError(f"state[{v!r}] must end in shape {want} (n_input frames of "
                                 f"{self.frame_shapes[v]}{free}), got {tuple(a.shape)}")
            _refuse_nonfinite(a, f"state[{v!r}]")
            lead, grid = tuple(a.shape[:a.dim() - len(want)]), g
            parts.append(a.reshape(-1, self.n_input, self.components[v], *g))
        return torch.cat(parts, dim=2), lead, as_numpy, self._static(state, lead, grid)

    def _static(self, state: dict, lead: tuple, grid: tuple) -> torch.Tensor | None:
        if not self.static:
            return None
        fields = []
        for name in self.static:
            a = torch.as_tensor(state[name], dtype=torch.float32, device=self.device)
            k = a.dim() - len(grid)
            if k < 0 or tuple(a.shape[k:]) != grid or tuple(a.shape[:k]) not in ((), lead):
                raise ValueError(f"state[{name!r}] (static) must have shape {grid} or "
                                 f"{lead + grid}, got {tuple(a.shape)}")
            _refuse_nonfinite(a, f"state[{name!r}] (static)")
            fields.append(a.expand(*lead, *grid).reshape(-1, *grid))
        return torch.stack(fields, dim=1)

    def _from_tensor(self, x: torch.Tensor, lead: tuple, as_numpy: bool):
        out, c = {}, 0
        for v in self.variables:
            k = self.components[v]
            shape = (*self.frame_shapes[v][:len(self.frame_shapes[v]) - len(self.grid)],
                     *x.shape[3:])
            a = x[:, :, c:c + k].reshape(*lead, x.shape[1], *shape)
            out[v] = a.detach().cpu().numpy() if as_numpy else a
            c += k
        return out[self.variables[0]] if len(self.variables) == 1 else out

    # ---- prediction ---------------------------------------------------------------------

    def step(self, state):
        """The next ``frames_per_call`` frames after ``state``: ``(..., frames, *frame)``.

        Raises
        ------
        ValueError
            A variable missing from ``state``, of the wrong shape, or holding a NaN or
            infinity (the message names the variable and the first bad index).
        """
        x, lead, as_numpy, static = self._to_tensor(state)
        with torch.no_grad():
            y = advance(self.net, self.normalisation.normalise(x), self.frames_per_call,
                        self.channels, static)
        return self._from_tensor(self.normalisation.denormalise(y), lead, as_numpy)

    @torch.no_grad()
    def rollout(self, state, n_steps: int, every: int = 1, callback=None):
        """``n_steps`` frames after ``state``, keeping every ``every``-th:
        ``(..., n_steps // every, *frame)``; ``callback(k, frame)`` sees each kept frame
        (``k`` its step number, 1-based) as it is made. Refuses ``state`` as
        :meth:`step` does."""
        if n_steps < 1 or every < 1:
            raise ValueError(f"n_steps and every must be >= 1, got {n_steps}, {every}")
        x, lead, as_numpy, static = self._to_tensor(state)
        chunks = autoregress(self.net, self.normalisation.normalise(x), self.frames_per_call,
                             self.channels, static)
        kept, done = [], 0
        while done < n_steps:
            nxt = next(chunks)
            for j in range(nxt.shape[1]):
                done += 1
                if done <= n_steps and done % every == 0:
                    frame = self.normalisation.denormalise(nxt[:, j:j + 1])
                    kept.append(frame)
                    if callback is not None:
                        callback(done, self._from_tensor(frame, lead, as_numpy))
        return self._from_tensor(torch.cat(kept, dim=1), lead, as_numpy)


def _refuse_nonfinite(a: torch.Tensor, name: str) -> None:
    """A ``ValueError`` naming ``name`` and the first index of ``a`` (in the layout the
    caller gave) holding a NaN or an infinity."""
    bad = ~torch.isfinite(a)
    if bad.any():
        index = tuple(int(i) for i in torch.nonzero(bad)[0])
        raise ValueError(f"{name} must be finite; it holds {a[index].item()} at index "
                         f"{index} (of shape {tuple(a.shape)})")


def load(path: str | Path, device: str | torch.device = "cpu"):
    """The surrogate stored in a ``simkit-train`` checkpoint: a :class:`Surrogate` for a
    grid model, a :class:`surrogates.particles.GraphSimulator` for a particle one
    (the checkpoint's ``"kind"``)."""
    ckpt = torch.load(Path(path), map_location="cpu", weights_only=True)
    info = ckpt.get("surrogate") if isinstance(ckpt, dict) else None
    if not info or info.get("format") != FORMAT:
        raise ValueError(f"{path}: not a simkit surrogate checkpoint (no {FORMAT!r} block); "
                         "checkpoints come from simkit-train")
    prefix = "net."
    weights = {k[len(prefix):]: v for k, v in ckpt["state_dict"].items() if k.startswith(prefix)}
    if info.get("kind") == "particles":
        from surrogates.particles.inference import GraphSimulator

        return GraphSimulator(info, weights, device)
    return Surrogate(info, weights, device)
