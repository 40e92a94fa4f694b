"""The Lightning wrapper of a grid model: normalisation, losses, pushforward training,
rollout validation.

The model maps the last ``n_input`` normalised frames, channels stacked, to the next
``frames_per_call`` frames (1, or ``s_t`` for a time-staggered NeuralStagger).
Training: ``pushforward`` unrolled calls without gradient (Brandstetter et al. 2022), then
``train_calls`` autoregressive calls trained with the gradient through all of them (1:
teacher forcing; the FNO paper's FNO-2D trains on its whole 40-step rollout).
Validation and test: an autoregressive rollout over the whole target; the checkpoint
monitor is ``val/rollout_rel_l2`` (relative L2 over the rollout), not a one-step loss;
``persistence_rollout_rel_l2`` is the same error of holding the last input frame.
"""

import pytorch_lightning as pl
import torch

from surrogates import metrics
from surrogates._boundaries import periodic_axes
from surrogates.models import build_autoregressive
from surrogates.normaliser import Normaliser
from surrogates.rollout import advance, autoregress

__all__ = ["GridSurrogate"]


class GridSurrogate(pl.LightningModule):
    """Parameters
    ----------
    model : str
        A name of :func:`surrogates.models.build`.
    model_config : dict
        Its keyword arguments (``in_channels``/``out_channels`` are set here).
    channels : int
        Channels per frame.
    n_input : int
        Frames in.
    frames_per_call : int, optional
        Frames one model call predicts, stacked along the output channels (default 1;
        a NeuralStagger predicts its ``time`` frames).
    grid_dims : int
    static_channels : int, optional
        Static fields given with every call (obstacle masks), appended to the input
        channels as they are; by default as many as ``dataset_schema["static"]`` names
        (none without a schema).
    normaliser : dict
        ``{"mean": [...], "std": [...]}`` per channel (train split statistics).
    loss : {"l2", "h1"}
        Relative L2 or relative H1 per sample, averaged
        (:func:`surrogates.metrics.relative_h1`: derivatives by FFT along periodic
        axes, by finite differences along bounded ones).
    pushforward : int
        Unrolled calls without gradient before the trained ones.
    train_calls : int
        Autoregressive calls trained with the gradient through the unrolled chain; the
        loss is the mean over calls (1: teacher forcing). The data module's ``n_output``
        must hold ``(pushforward + train_calls) frames_per_call`` frames to use them all.
    physics : dict, optional
        The physics-constrained loss (NeuralStagger) for single-channel 2D vorticity on
        the unit torus: ``{"weight": w}`` adds ``w`` times the mean
        :func:`surrogates.physics.relative_residual` of the trained frames (the last
        input frame first, dataset units, frames ``write_interval`` apart). The
        equation (viscosity, forcing) comes from the dataset's simulator block; for
        data made elsewhere give ``"nu"``, ``"forcing"`` (``"fno"`` or
        ``"kolmogorov"``), ``"amplitude"`` and optionally ``"wavenumber"`` and
        ``"drag"`` (:func:`surrogates.physics.equation_settings`).
    lr, weight_decay : float
        AdamW; the learning rate follows a cosine schedule over the run.
    dataset_schema : dict
        :attr:`surrogates.data.GridDataModule.dataset_schema`, stored in checkpoints so
        :func:`surrogates.load` can serve the model in the simulator's layout. Its
        ``"periodic"`` (one bool per grid axis) sets the boundaries: the model's padding
        (:class:`~surrogates.models.UNet`, :func:`~surrogates.models.fno`), the H1 loss
        and the spectrum error follow it. Without it (no schema, or a checkpoint from
        before the key) every axis is periodic, as models were then.
    """

    def __init__(self, model: str = "fno", model_config: dict | None = None, channels: int = 1,
                 n_input: int = 1, frames_per_call: int | None = None, grid_dims: int = 2,
                 static_channels: int | None = None, normaliser: dict | None = None,
                 loss: str = "l2",
                 pushforward: int = 0, train_calls: int = 1, physics: dict | None = None,
                 lr: float = 1e-3, weight_decay: float = 1e-4,
                 dataset_schema: dict | None = None) -> None:
        super().__init__()
        if loss not in ("l2", "h1"):
            raise ValueError(f"loss must be 'l2' or 'h1', got {loss!r}")
        if not isinstance(train_calls, int) or train_calls < 1:
            raise ValueError(f"train_calls must be a positive int, got {train_calls!r}")
        self.save_hyperparameters()
        self.periodic = self._periodic(dataset_schema, grid_dims)
        if physics is not None and not all(self.periodic):
            raise ValueError(f"physics: the vorticity residual is spectral on the unit torus, "
                             f"but the dataset schema marks grid axes bounded (periodic="
                             f"{list(self.periodic)}); datasets written before the schema "
                             f"recorded periodic axes read as bounded: regenerate them")
        self._equation = (None if physics is None else
                          self._physics_equation(physics, channels, grid_dims, dataset_schema))
        self._forcing: dict[tuple, torch.Tensor] = {}  # the physics loss's, per grid
        static = len((dataset_schema or {}).get("static", []))
        if static_channels not in (None, static):
            raise ValueError(f"static_channels={static_channels}, but the dataset schema "
                             f"names {static} static inputs")
        self.net, self.frames_per_call = build_autoregressive(
            model, dict(model_config or {}), channels, n_input, frames_per_call, static,
            periodic=self.periodic)
        self.normalisation = Normaliser(normaliser, channels, grid_dims)

    @staticmethod
    def _periodic(dataset_schema: dict | None, grid_dims: int) -> tuple[bool, ...]:
        """One bool per grid axis: the schema's ``"periodic"``, all True without it."""
        periodic = (dataset_schema or {}).get("periodic")
        return periodic_axes(True if periodic is None else periodic, grid_dims,
                             'dataset_schema["periodic"]')

    @staticmethod
    def _physics_equation(physics: dict, channels: int, grid_dims: int,
                          dataset_schema: dict | None) -> dict:
        from surrogates.physics import EQUATION_KEYS, equation_settings

        unknown = sorted(set(physics) - {"weight", *EQUATION_KEYS})
        if unknown:
            raise ValueError(f"physics: unknown keys {unknown}; expected 'weight' and some "
                             f"of {list(EQUATION_KEYS)}")
        if "weight" not in physics:
            raise ValueError("physics: needs 'weight'")
        if channels != 1 or grid_dims != 2 or dataset_schema is None:
            raise ValueError("physics: the vorticity residual needs one channel on a 2D "
                             "grid and the dataset schema (for the frame interval); got "
                             f"{channels} channels, {grid_dims} grid dims")
        return equation_settings(physics, dataset_schema.get("simulator"))

    def _physics_loss(self, last_input: torch.Tensor, pred: torch.Tensor) -> torch.Tensor:
        """Mean relative vorticity residual of ``[last input, predictions]`` (normalised
        ``(B, 1, 1, n, n)`` and ``(B, T, 1, n, n)``), in dataset units."""
        from simkit.simulators.spectral_ns import forcing_field
        from surrogates.physics import relative_residual

        eq = self._equation
        frames = self.denormalise(torch.cat([last_input, pred], dim=1))[:, :, 0]
        key = (frames.shape[-1], frames.device)
        if key not in self._forcing:  # made once per grid and device, not every step
            self._forcing[key] = torch.from_numpy(forcing_field(
                eq["forcing"], key[0], eq["amplitude"], int(eq["wavenumber"]))).to(key[1])
        return relative_residual(frames, self.hparams.dataset_schema["write_interval"],
                                 eq["nu"], self._forcing[key], eq["drag"]).mean()

    def state_dict(self, *args, **kwargs):
        """Tensors only: neuraloperator adds a ``_metadata`` entry holding Python
        functions, which ``torch.load(weights_only=True)`` rightly refuses (in our
        checkpoints and in the weights Lightning's ddp_spawn hands between processes)."""
        state = super().state_dict(*args, **kwargs)
        for key in [k for k, v in state.items() if not isinstance(v, torch.Tensor)]:
            del state[key]
        return state

    def on_load_checkpoint(self, checkpoint: dict) -> None:
        """Checkpoints written before the normaliser became a module kept its buffers as
        ``mean`` and ``std``: rename them, so those still resume and load."""
        state = checkpoint.get("state_dict", {})
        for name in ("mean", "std"):
            if name in state:
                state[f"normalisation.{name}"] = state.pop(name)

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        """Add the self-describing ``"surrogate"`` block (plain types only)."""
        from surrogates.inference import surrogate_info

        hp = self.hparams
        if hp.dataset_schema is None:
            return
        checkpoint["surrogate"] = surrogate_info(hp.model, hp.model_config, hp.n_input,
                                                 self.frames_per_call,
                                                 self.normalisation.as_dict(),
                                                 hp.dataset_schema)

    # ---- the model in dataset units --------------------------------------------------

    def step(self, frames: torch.Tensor, static: torch.Tensor | None = None) -> torch.Tensor:
        """``(B, n_input, C, *grid)`` normalised (and ``(B, S, *grid)`` static fields) ->
        the next ``(B, frames_per_call, C, *grid)``."""
        return advance(self.net, frames, self.frames_per_call, self.hparams.channels, static)

    def rollout(self, frames: torch.Tensor, n_steps: int,
                static: torch.Tensor | None = None) -> torch.Tensor:
        """Autoregressive prediction of ``n_steps`` frames from normalised inputs."""
        calls = -(-n_steps // self.frames_per_call)
        chunks = autoregress(self.net, frames, self.frames_per_call,
                             self.hparams.channels, static)
        return torch.cat([next(chunks) for _ in range(calls)], dim=1)[:, :n_steps]

    def normalise(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalisation.normalise(x)

    def denormalise(self, x: torch.Tensor) -> torch.Tensor:
        return self.normalisation.denormalise(x)

    # ---- training ----------------------------------------------------------------------

    def _loss(self, pred: torch.Tensor, true: torch.Tensor) -> torch.Tensor:
        if self.hparams.loss == "h1":
            return metrics.relative_h1(pred.flatten(1, 2), true.flatten(1, 2),
                                       self.hparams.grid_dims, periodic=self.periodic).mean()
        return metrics.relative_l2(pred.flatten(1, 2), true.flatten(1, 2),
                                   1 + self.hparams.grid_dims).mean()

    def training_step(self, batch, batch_idx):
        x, y = self.normalise(batch["input"]), self.normalise(batch["target"])
        static = batch.get("static")
        k = self.frames_per_call
        available = y.shape[1] // k
        if available < 1:
            raise ValueError(f"targets of {y.shape[1]} frames are fewer than one call's "
                             f"{k}: raise the data module's n_output")
        calls = min(self.hparams.train_calls, available)
        unroll = min(self.hparams.pushforward, available - calls)
        window = x
        if unroll > 0:
            with torch.no_grad():
                window = torch.cat([x, self.rollout(x, unroll * k, static)], dim=1)
                window = window[:, -self.hparams.n_input:]
        pred = self.rollout(window, calls * k, static)  # gradient through the whole chain
        true = y[:, unroll * k:(unroll + calls) * k]
        per_call = (calls * x.shape[0], k) + pred.shape[2:]
        # (B, calls k, C, *grid) -> (B calls, k, C, *grid): one relative error per call
        loss = self._loss(pred.reshape(per_call), true.reshape(per_call))
        if self.hparams.physics is not None:
            physics = self._physics_loss(window[:, -1:], pred)
            self.log("train/physics", physics, batch_size=x.shape[0])
            loss = loss + self.hparams.physics["weight"] * physics
        self.log("train/loss", loss, prog_bar=True, batch_size=x.shape[0])
        return loss

    def _rollout_metrics(self, batch, stage: str) -> None:
        x = self.normalise(batch["input"])
        y = batch["target"]
        pred = self.denormalise(self.rollout(x, y.shape[1], batch.get("static")))
        summary = metrics.rollout_summary(pred, y, self.hparams.grid_dims,
                                          periodic=self.periodic)
        B = y.shape[0]
        self.log(f"{stage}/rollout_rel_l2", summary["rollout_rel_l2"].mean(), prog_bar=True,
                 batch_size=B)
        self.log(f"{stage}/one_step_rel_l2", summary["frame_rel_l2"][:, 0].mean(),
                 batch_size=B)
        for name in ("vrmse", "steps_to_failure", "spectrum_error"):
            self.log(f"{stage}/{name}", summary[name].float().mean(), batch_size=B)
        # the baseline a surrogate must beat: the last input frame held
        held = batch["input"][:, -1:].expand_as(y)
        self.log(f"{stage}/persistence_rollout_rel_l2", metrics.relative_l2(
            held, y, 2 + self.hparams.grid_dims).mean(), batch_size=B)

    def validation_step(self, batch, batch_idx):
        self._rollout_metrics(batch, "val")

    def test_step(self, batch, batch_idx):
        self._rollout_metrics(batch, "test")

    def predict_step(self, batch, batch_idx):
        return self.denormalise(self.rollout(self.normalise(batch["input"]),
                                             batch["target"].shape[1], batch.get("static")))

    def configure_optimizers(self):
        opt = torch.optim.AdamW(self.parameters(), lr=self.hparams.lr,
                                weight_decay=self.hparams.weight_decay)
        steps = self.trainer.estimated_stepping_batches if self.trainer else 1000
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(int(steps), 1))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}
