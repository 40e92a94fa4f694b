"""``simkit-train``: the Lightning CLI (fit / validate / test / predict) for grid surrogates.

``simkit-train fit --config experiments/configs/fno_ns2d.yaml``. Channels, frames in,
grid dimensions, the normaliser and the dataset schema go from the data module to the
model; the best checkpoint is chosen on ``val/rollout_rel_l2``; CSV logs and a progress
bar by default. Multi-GPU / multi-node: ``--trainer.strategy ddp --trainer.devices N``.
"""

from operator import attrgetter

from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningCLI

from surrogates.data import GridDataModule
from surrogates.module import GridSurrogate

__all__ = ["SurrogateCLI", "main"]


def _channel_count(data: GridDataModule) -> int:
    return len(data.channels)


class SurrogateCLI(LightningCLI):
    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.n_input", "model.n_input")
        parser.link_arguments("data", "model.channels", apply_on="instantiate",
                              compute_fn=_channel_count)
        for name in ("grid_dims", "normaliser", "dataset_schema"):  # module-level callables:
            parser.link_arguments("data", f"model.{name}", apply_on="instantiate",  # ddp_spawn
                                  compute_fn=attrgetter(name))  # pickles them


def main(args=None) -> SurrogateCLI:
    checkpoint = ModelCheckpoint(monitor="val/rollout_rel_l2", mode="min", save_last=True,
                                 filename="best-{epoch}")
    return SurrogateCLI(GridSurrogate, GridDataModule, args=args,
                        trainer_defaults={"callbacks": [checkpoint],
                                          "logger": {"class_path":
                                                     "pytorch_lightning.loggers.CSVLogger",
                                                     "init_args": {"save_dir": "runs/train"}}},
                        save_config_kwargs={"overwrite": True})


if __name__ == "__main__":
    main()
