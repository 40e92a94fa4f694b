"""The Lightning wrapper of a graph network simulator: one-step training on noisy
inputs (optionally after pushforward steps), rollout validation that selects the
checkpoint, and the tested metrics of LagrangeBench.

Loss: the mean squared error of the normalised accelerations of the non-kinematic
particles. Validation: each ``valid`` trajectory rolled out from its first
``n_velocities + 1`` frames, kinematic particles on their known path; the checkpoint
monitor is ``val/rollout_mse`` (position MSE over the whole rollout, m^2), logged with
``val/mse5``, ``val/mse20`` and the same of constant-velocity extrapolation
(``val/cv_*``), the baseline every table carries. A rollout that fails (a non-finite
position, a neighbour list over capacity) keeps its last finite frame from then on and
counts in ``val/rollout_failures``.
"""

from __future__ import annotations

import pytorch_lightning as pl
import torch

from surrogates.graph import NeighbourOverflow
from surrogates.models.gns import GNS
from surrogates.particles import metrics
from surrogates.particles.features import ParticleFeatures

__all__ = ["ParticleSurrogate", "rollout"]


def rollout(net: torch.nn.Module, features: ParticleFeatures, history: torch.Tensor,
            particle_type: torch.Tensor, material: torch.Tensor, walls: torch.Tensor,
            n_steps: int, kinematic_path: torch.Tensor | None = None,
            callback=None) -> tuple[torch.Tensor, int]:
    """``n_steps`` positions after ``history (N, T, d)``: ``(N, n_steps, d)`` and the
    steps completed before a failure (``n_steps`` without one; after it the last finite
    frame is held). ``kinematic_path (N, >= n_steps, d)`` gives the kinematic particles'
    positions; without it they move on at their last velocity. ``callback(k, x)`` sees
    each new frame ``x (N, d)`` (``k`` from 1)."""
    window = history[:, -(features.n_velocities + 1):]
    out, done = [], 0
    for k in range(n_steps):
        try:
            x, edge_index, edge_attr = features.graph(window, particle_type, material, walls)
        except NeighbourOverflow:
            break
        acc = net(x, particle_type, edge_index, edge_attr)
        known = None if kinematic_path is None else kinematic_path[:, k]
        nxt = features.integrate(window, acc, particle_type, known)
        if not torch.isfinite(nxt).all():
            break
        out.append(nxt)
        done += 1
        if callback is not None:
            callback(k + 1, nxt)
        window = torch.cat([window[:, 1:], nxt[:, None]], dim=1)
    last = out[-1] if out else history[:, -1]
    out += [last] * (n_steps - done)
    return torch.stack(out, dim=1), done


class ParticleSurrogate(pl.LightningModule):
    """Parameters
    ----------
    model : {"gns"}
        The network (:class:`surrogates.models.GNS`).
    model_config : dict
        Its keyword arguments (``latent``, ``message_passing_steps``, ``mlp_layers``,
        ``type_embedding``); the feature widths and the number of particle types come
        from the data.
    features : dict
        :attr:`surrogates.particles.data.ParticleDataModule.features` (radius,
        neighbour capacity, normaliser, gravity, frame interval, kinematic types).
    pushforward : int
        Steps unrolled without gradient before the trained one (Brandstetter et al.
        2022); the data module's ``pushforward`` must be as large.
    lr, lr_final : float
        Adam's learning rate decays exponentially from ``lr`` towards ``lr_final``,
        by a factor 10 every ``lr_decay_steps`` optimizer steps (the GNS schedule).
    lr_decay_steps : int
    dataset_schema : dict
        :attr:`surrogates.particles.data.ParticleDataModule.dataset_schema`, stored in
        checkpoints so :func:`surrogates.load` serves the model.
    """

    def __init__(self, model: str = "gns", model_config: dict | None = None,
                 features: dict | None = None, pushforward: int = 0, lr: float = 1e-4,
                 lr_final: float = 1e-6, lr_decay_steps: int = 100_000,
                 dataset_schema: dict | None = None) -> None:
        super().__init__()
        if model != "gns":
            raise ValueError(f"model must be 'gns' (the particle networks), got {model!r}")
        if features is None:
            raise ValueError("features: needed (the data module's ParticleDataModule.features)")
        if not isinstance(pushforward, int) or pushforward < 0:
            raise ValueError(f"pushforward must be an int >= 0, got {pushforward!r}")
        if not 0 < lr_final <= lr:
            raise ValueError(f"need 0 < lr_final <= lr, got lr={lr}, lr_final={lr_final}")
        self.save_hyperparameters()
        self.features = ParticleFeatures(**features)
        types = len((dataset_schema or {}).get("particle_types", [])) or 16
        self.net = GNS(self.features.node_features, self.features.edge_features,
                       self.features.dim, n_particle_types=types, **dict(model_config or {}))

    # ---- training ----------------------------------------------------------------------

    def _unrolled(self, batch):
        """Graph inputs and targets after ``pushforward`` steps without gradient."""
        f, history = self.features, batch.history
        with torch.no_grad():
            for k in range(self.hparams.pushforward):
                x, ei, ea = f.graph(history, batch.particle_type, batch.material, batch.walls,
                                    batch.batch)
                nxt = f.integrate(history, self.net(x, batch.particle_type, ei, ea),
                                  batch.particle_type, batch.future[:, k])
                history = torch.cat([history[:, 1:], nxt[:, None]], dim=1)
        x, ei, ea = f.graph(history, batch.particle_type, batch.material, batch.walls,
                            batch.batch)
        return x, ei, ea, f.target(history, batch.future[:, self.hparams.pushforward])

    def training_step(self, batch, batch_idx):
        if self.hparams.pushforward:
            if batch.future.shape[1] <= self.hparams.pushforward:
                raise ValueError(f"pushforward={self.hparams.pushforward} needs the data "
                                 "module's pushforward to be at least as large")
            x, ei, ea, y = self._unrolled(batch)
        else:
            x, ei, ea, y = batch.x, batch.edge_index, batch.edge_attr, batch.y
        pred = self.net(x, batch.particle_type, ei, ea)
        learned = ~self.features.kinematic(batch.particle_type)
        loss = torch.nn.functional.mse_loss(pred[learned], y[learned])
        self.log("train/loss", loss, prog_bar=True, batch_size=batch.num_graphs)
        return loss

    # ---- rollouts ----------------------------------------------------------------------

    def rollout_batch(self, batch: dict) -> tuple[torch.Tensor, int]:
        """The rollout of a data module rollout item: ``(N, steps, d)``, steps done."""
        steps = batch["truth"].shape[1]
        return rollout(self.net, self.features, batch["history"], batch["particle_type"],
                       batch["material"], batch["walls"], steps, batch["truth"])

    def _rollout_metrics(self, batch: dict, stage: str) -> None:
        pred, done = self.rollout_batch(batch)
        learned = ~self.features.kinematic(batch["particle_type"])
        truth = batch["truth"].transpose(0, 1)
        baseline = metrics.constant_velocity_rollout(batch["history"].transpose(0, 1),
                                                     truth.shape[0])
        for prefix, p in (("", pred.transpose(0, 1)), ("cv_", baseline)):
            per_step = metrics.position_mse(p, truth, mask=learned)
            self.log(f"{stage}/{prefix}rollout_mse", per_step.mean(), batch_size=1,
                     prog_bar=prefix == "")
            for k in (5, 20):
                if truth.shape[0] >= k:
                    self.log(f"{stage}/{prefix}mse{k}", metrics.mse_over(per_step, k),
                             batch_size=1)
        self.log(f"{stage}/rollout_failures", float(done < truth.shape[0]), batch_size=1,
                 reduce_fx="sum")

    def validation_step(self, batch, batch_idx):
        self._rollout_metrics(batch, "val")

    def test_step(self, batch, batch_idx):
        self._rollout_metrics(batch, "test")

    def predict_step(self, batch, batch_idx):
        return self.rollout_batch(batch)[0]

    def configure_optimizers(self):
        hp = self.hparams
        opt = torch.optim.Adam(self.parameters(), lr=hp.lr)
        floor = hp.lr_final / hp.lr

        def factor(step: int) -> float:
            return floor + (1 - floor) * 0.1 ** (step / hp.lr_decay_steps)

        sched = torch.optim.lr_scheduler.LambdaLR(opt, factor)
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Add the self-describing ``"surrogate"`` block (plain types only)."""
        from surrogates.particles.inference import surrogate_info

        hp = self.hparams
        if hp.dataset_schema is None:
            return
        checkpoint["surrogate"] = surrogate_info(hp.model, self.net.config, hp.features,
                                                 hp.dataset_schema)
