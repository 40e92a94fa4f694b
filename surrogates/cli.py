"""``simkit-train``: the Lightning CLI (fit / validate / test / predict) for grid and
particle surrogates.

``simkit-train fit --config experiments/configs/fno_ns2d.yaml``. The model name picks
the family: a grid model (``fno``, ``tfno``, ``unet``, ``stagger``) trains a
:class:`GridSurrogate` on a :class:`GridDataModule`, ``gns`` a
:class:`~surrogates.particles.ParticleSurrogate` on a
:class:`~surrogates.particles.ParticleDataModule`. What the model needs of the data
(grid: channels, frames in, grid dimensions, the normaliser; particles: the feature
settings, the normaliser and pushforward; both: the dataset schema) goes from the data
module to the model; the best checkpoint is chosen on the rollout error
(``val/rollout_rel_l2``, ``val/rollout_mse``); CSV logs and a progress bar by default.
Multi-GPU / multi-node: ``--trainer.strategy ddp --trainer.devices N``.

Exit status 0 on success; a bad value (a config key out of range for the dataset, a
missing dataset) prints one line ``simkit-train: error: ...`` and exits with 1, a
mistyped option or key with 2; ``--debug`` (anywhere on the line) shows the traceback
instead. Only what goes wrong while the command line and config are parsed and checked
and the model and data module are built (where the data module checks the config
against the dataset) is one line: an error raised once the trainer runs the subcommand
(inside Lightning or the model) is a bug until shown otherwise and keeps its traceback.
Programs that want the trainer and model call :func:`run`.
"""

import sys
from argparse import ArgumentError
from collections.abc import Callable
from operator import attrgetter

import yaml
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.cli import LightningCLI

from simkit.errors import DatasetError
from surrogates.data import GridDataModule
from surrogates.module import GridSurrogate

__all__ = ["SurrogateCLI", "ParticleCLI", "main", "run", "PARTICLE_MODELS"]

PROG = "simkit-train"
SUBCOMMANDS = ("fit", "validate", "test", "predict")
#: Model names trained on particle datasets; every other name is a grid model.
PARTICLE_MODELS = ("gns",)


def _channel_count(data: GridDataModule) -> int:
    return len(data.channels)


class SurrogateCLI(LightningCLI):
    """The Lightning CLI of :class:`GridSurrogate` on a :class:`GridDataModule`.

    ``on_run``, if given, is called with the subcommand's name (``"fit"``, ...) once the
    configuration is parsed, checked and instantiated, just before the trainer runs it.
    """

    def __init__(self, *args, on_run: Callable[[str], None] | None = None,
                 **kwargs) -> None:
        self.on_run = on_run
        super().__init__(*args, **kwargs)

    def _starting(self, subcommand: str) -> None:
        if self.on_run is not None:
            self.on_run(subcommand)

    def before_fit(self) -> None:
        self._starting("fit")

    def before_validate(self) -> None:
        self._starting("validate")

    def before_test(self) -> None:
        self._starting("test")

    def before_predict(self) -> None:
        self._starting("predict")

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.n_input", "model.n_input")
        parser.link_arguments("data", "model.channels", apply_on="instantiate",
                              compute_fn=_channel_count)
        for name in ("grid_dims", "normaliser", "dataset_schema"):  # module-level callables:
            parser.link_arguments("data", f"model.{name}", apply_on="instantiate",  # ddp_spawn
                                  compute_fn=attrgetter(name))  # pickles them

    def parse_arguments(self, parser, args: list[str] | None) -> None:
        # main() hands over sys.argv less --debug: no warning that both were given
        self.config = parser.parse_args(args)


class ParticleCLI(SurrogateCLI):
    """The Lightning CLI of :class:`~surrogates.particles.ParticleSurrogate` on a
    :class:`~surrogates.particles.ParticleDataModule`."""

    def add_arguments_to_parser(self, parser) -> None:
        parser.link_arguments("data.pushforward", "model.pushforward")
        for name in ("features", "dataset_schema"):
            parser.link_arguments("data", f"model.{name}", apply_on="instantiate",
                                  compute_fn=attrgetter(name))


def _model_name(args: list[str]) -> str | None:
    """The model named on the command line (``--model.model``) or, failing that, in the
    last ``--config`` file that names one."""
    name, configs = None, []
    for i, arg in enumerate(args):
        for flag in ("--model.model", "--config"):
            value = (args[i + 1] if arg == flag and i + 1 < len(args) else
                     arg[len(flag) + 1:] if arg.startswith(flag + "=") else None)
            if value is not None:
                if flag == "--config":
                    configs.append(value)
                else:
                    name = value
    if name is not None:
        return name
    for path in reversed(configs):
        try:
            with open(path, encoding="utf-8") as fh:
                config = yaml.safe_load(fh)
        except (OSError, yaml.YAMLError):
            continue  # the CLI's own parser reports it
        model = config.get("model") if isinstance(config, dict) else None
        if isinstance(model, dict) and isinstance(model.get("model"), str):
            return model["model"]
    return None


def run(args: list[str] | None = None, *,
        on_run: Callable[[str], None] | None = None) -> SurrogateCLI:
    """Run one ``simkit-train`` subcommand and return the CLI (for programs and tests).

    Parameters
    ----------
    args : list of str, optional
        The command line after the program name, e.g. ``["fit", "--config", "c.yaml"]``
        (default: ``sys.argv[1:]``).
    on_run : callable, optional
        Called with the subcommand's name once the configuration is parsed, checked and
        instantiated, just before the trainer runs the subcommand: an exception raised
        after that call comes from the run itself.

    Returns
    -------
    SurrogateCLI
        After the subcommand ran: ``.trainer`` (its ``checkpoint_callback`` holds the best
        checkpoint's path), ``.model``, ``.datamodule``.

    Raises
    ------
    argparse.ArgumentError
        An unknown option or config key, or a value of the wrong type.
    ValueError
        A value the data module or the model refuses (e.g. ``rollout_steps`` longer than
        the dataset's trajectories allow).
    SystemExit
        With status 0 after ``--help`` or ``--print_config``.
    """
    argv = sys.argv[1:] if args is None else list(args)
    if _model_name(argv) in PARTICLE_MODELS:
        from surrogates.particles import ParticleDataModule, ParticleSurrogate

        cli, model, data, monitor = (ParticleCLI, ParticleSurrogate, ParticleDataModule,
                                     "val/rollout_mse")
    else:
        cli, model, data, monitor = (SurrogateCLI, GridSurrogate, GridDataModule,
                                     "val/rollout_rel_l2")
    checkpoint = ModelCheckpoint(monitor=monitor, mode="min", save_last=True,
                                 filename="best-{epoch}")
    return cli(model, data, args=args, on_run=on_run,
                        parser_kwargs={"prog": PROG, "exit_on_error": False},
                        trainer_defaults={"callbacks": [checkpoint],
                                          "logger": {"class_path":
                                                     "pytorch_lightning.loggers.CSVLogger",
                                                     "init_args": {"save_dir": "runs/train"}}},
                        save_config_kwargs={"overwrite": True})


def main(args: list[str] | None = None) -> int:
    """The ``simkit-train`` console script: :func:`run` with errors as one line.

    Parameters
    ----------
    args : list of str, optional
        The command line after the program name (default: ``sys.argv[1:]``); ``--debug``
        anywhere in it lets errors raise with their traceback.

    Returns
    -------
    int
        0 on success; 1 after a refused value or dataset (a ``ValueError``,
        ``TypeError``, ``OSError`` or :class:`simkit.errors.DatasetError` raised before
        the trainer starts the subcommand), 2 after an unknown option or key; either
        prints one line ``simkit-train: error: ...`` on stderr (the latter with a pointer
        to ``--help``).

    Raises
    ------
    Exception
        Whatever the run raises once the trainer has started the subcommand (in
        Lightning or the model), with its traceback; with ``--debug``, any error.
    """
    argv = list(sys.argv[1:] if args is None else args)
    debug = "--debug" in argv
    argv = [a for a in argv if a != "--debug"]
    started: list[str] = []
    try:
        run(argv, on_run=started.append)
    except ArgumentError as err:
        if debug:
            raise
        command = [a for a in argv if a in SUBCOMMANDS][:1]
        usage = " ".join([PROG, *command, "--help"])
        print(f"{PROG}: error: {_one_line(err)} (options: {usage})", file=sys.stderr)
        return 2
    except (ValueError, TypeError, OSError, DatasetError) as err:
        if debug or started:  # raised by the run itself: a bug until shown otherwise
            raise
        print(f"{PROG}: error: {_one_line(err)} (--debug for the traceback)", file=sys.stderr)
        return 1
    return 0


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())


if __name__ == "__main__":
    sys.exit(main())
