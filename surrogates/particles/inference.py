"""A trained graph network simulator inside user codes: what :func:`surrogates.load`
returns for a checkpoint of kind ``particles``.

The state is the MPM simulator's own layout: ``"position"`` frames ``(T, N, d)`` (m,
the last ``n_velocities + 1`` used, ``write_interval`` apart), ``"particle_type"``
``(N,)`` and the per-particle material fields the model was trained with (``(N,)``
each, e.g. ``density``, ``shear_modulus``, ``bulk_modulus``), as
``MPMSimulator.frame()`` and ``.static()`` give them; ``"walls"`` ``(2, d)`` (the free
box ``[lo, hi]``, m) when the training trajectories did not share one. Any particle
count, numpy or torch (the answer comes back the same way).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from surrogates.models.gns import GNS
from surrogates.particles.features import ParticleFeatures
from surrogates.particles.module import rollout

__all__ = ["GraphSimulator", "surrogate_info", "particle_state", "FORMAT"]

FORMAT = "simkit-surrogate/1"


def surrogate_info(model: str, model_config: dict, features: dict,
                   dataset_schema: dict) -> dict:
    """The checkpoint's ``"surrogate"`` block (plain types only)."""
    return {"format": FORMAT, "kind": "particles", "model": model,
            "model_config": dict(model_config), "features": dict(features), **dataset_schema}


def particle_state(frames: Sequence[dict], static: dict) -> dict:
    """A state from the simulator's read-outs: the ``frame()`` dicts of the last frames
    (oldest first) and ``static()``."""
    return {**static, "position": np.stack([np.asarray(f["position"]) for f in frames])}


class GraphSimulator:
    """A trained GNS in the simulator's layout and units (see the module docstring).

    ``step(state)`` gives the next positions ``(N, d)``, ``rollout(state, n_steps)``
    ``(n_steps, N, d)``. Kinematic particles (walls, colliders) move on at their last
    velocity, which is the known path of the MPM's colliders (fixed, or at a constant
    velocity).
    """

    def __init__(self, info: dict, state_dict: dict, device: str | torch.device = "cpu") -> None:
        self.info = info
        self.device = torch.device(device)
        self.features = ParticleFeatures(**info["features"]).to(self.device)
        self.net = GNS(**info["model_config"])
        try:
            self.net.load_state_dict(state_dict)
        except RuntimeError as err:
            raise ValueError(f"the weights do not fit a GNS with config "
                             f"{info['model_config']}: {err}") from None
        self.net.to(self.device).eval()
        self.material: list[str] = list(info["material"])
        self.dim = int(info["dim"])
        self.dt = float(info["write_interval"])
        self.n_types = len(info["particle_types"])
        walls = info.get("walls")
        self.walls = None if walls is None else torch.tensor(walls, dtype=torch.float32)

    def __repr__(self) -> str:
        return (f"GraphSimulator(gns, {self.dim}D, {self.features.n_velocities + 1} frames in, "
                f"dt {self.dt:g} s, radius {self.features.radius:g} m, on {self.device})")

    def tensors(self, state: dict):
        """``state`` checked and as tensors on the device: ``(history (N, T, d),
        particle_type (N,), material (N, M), walls (1, 2, d), numpy in?)``."""
        if not isinstance(state, dict):
            raise ValueError("state must be a dict with 'position', 'particle_type' and "
                             f"{self.material}")
        needed = ["position", "particle_type", *self.material]
        if self.walls is None:
            needed.append("walls")
        missing = [k for k in needed if k not in state]
        if missing:
            raise ValueError(f"state lacks {missing}; expected {needed}")
        as_numpy = not isinstance(state["position"], torch.Tensor)
        pos = torch.as_tensor(state["position"], dtype=torch.float32, device=self.device)
        t = self.features.n_velocities + 1
        if pos.dim() != 3 or pos.shape[0] < t or pos.shape[2] != self.dim:
            raise ValueError(f"state['position'] must have shape (>= {t} frames, particles, "
                             f"{self.dim}), got {tuple(pos.shape)}")
        if not torch.isfinite(pos).all():
            raise ValueError("state['position'] must be finite")
        n = pos.shape[1]
        types = torch.as_tensor(state["particle_type"], device=self.device)
        if tuple(types.shape) != (n,) or types.is_floating_point() or (
                n and (int(types.min()) < 0 or int(types.max()) >= self.n_types)):
            raise ValueError(f"state['particle_type'] must be ({n},) integer codes in "
                             f"[0, {self.n_types}) ({self.info['particle_types']}), got "
                             f"shape {tuple(types.shape)}")
        fields = []
        for name in self.material:
            a = torch.as_tensor(state[name], dtype=torch.float32, device=self.device)
            if tuple(a.shape) != (n,):
                raise ValueError(f"state[{name!r}] must have shape ({n},), got {tuple(a.shape)}")
            fields.append(a)
        material = torch.stack(fields, dim=1) if fields else pos.new_zeros(n, 0)
        walls = self.walls if "walls" not in state else torch.as_tensor(
            state["walls"], dtype=torch.float32)
        if tuple(walls.shape) != (2, self.dim):
            raise ValueError(f"state['walls'] must have shape (2, {self.dim}) ([lo, hi] of "
                             f"the free box, m), got {tuple(walls.shape)}")
        history = pos[-t:].transpose(0, 1).contiguous()
        return history, types.long(), material, walls.to(self.device)[None], as_numpy

    @torch.no_grad()
    def rollout(self, state: dict, n_steps: int, callback=None):
        """``(n_steps, N, d)`` positions after ``state``; ``callback(k, x)`` sees each
        frame ``x (N, d)`` as it is made (``k`` from 1).

        Raises
        ------
        ValueError
            A missing field, a wrong shape, or a non-finite position.
        RuntimeError
            The rollout failed (a non-finite position, or more neighbours than the
            trained capacity): says at which step.
        """
        if not isinstance(n_steps, int) or n_steps < 1:
            raise ValueError(f"n_steps must be an int >= 1, got {n_steps!r}")
        history, types, material, walls, as_numpy = self.tensors(state)
        wrapped = None if callback is None else (
            lambda k, x: callback(k, x.cpu().numpy() if as_numpy else x))
        out, done = rollout(self.net, self.features, history, types, material, walls, n_steps,
                            callback=wrapped)
        if done < n_steps:
            raise RuntimeError(f"the rollout failed at step {done + 1} of {n_steps} (t = "
                               f"{(done + 1) * self.dt:g} s after the state): a non-finite "
                               "position or a neighbour list over capacity")
        out = out.transpose(0, 1)
        return out.cpu().numpy() if as_numpy else out

    def step(self, state: dict):
        """The next positions ``(N, d)``; refuses ``state`` as :meth:`rollout` does."""
        return self.rollout(state, 1)[0]
