"""Grid models as plain ``nn.Module`` (no Lightning): ``(batch, in_channels, *grid) ->
(batch, out_channels, *grid)``. :func:`build` makes one from a name and a config dict,
which is what checkpoints store."""

from collections.abc import Sequence
from functools import partial

from torch import nn

from surrogates.models.fno import fno, tfno
from surrogates.models.gns import GNS
from surrogates.models.stagger import NeuralStagger
from surrogates.models.unet import UNet

__all__ = ["build", "build_autoregressive", "MODELS", "fno", "tfno", "UNet", "NeuralStagger",
           "GNS"]

MODELS = {"fno": fno, "tfno": tfno, "unet": UNet}


def build(name: str, in_channels: int, out_channels: int, **config) -> nn.Module:
    """``name`` one of :data:`MODELS` or ``"stagger"`` (then ``config`` holds ``base``,
    ``base_config``, ``space``, ``time``, and a ``periodic`` is handed to the base)."""
    if name == "stagger":
        periodic = config.pop("periodic", None)
        base = config.pop("base", "fno")
        base_config = dict(config.pop("base_config", {}))
        if base not in MODELS:
            raise ValueError(f"stagger base must be one of {sorted(MODELS)}, got {base!r}")
        if periodic is not None:
            if "periodic" in base_config:
                raise ValueError("stagger: give 'periodic' once, not also in base_config")
            base_config["periodic"] = periodic
        return NeuralStagger(partial(MODELS[base], **base_config), in_channels, out_channels,
                             **config)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS) + ['stagger']}")
    return MODELS[name](in_channels, out_channels, **config)


def build_autoregressive(name: str, config: dict, channels: int, n_input: int,
                         frames_per_call: int | None = None,
                         static_channels: int = 0,
                         periodic: Sequence[bool] | None = None) -> tuple[nn.Module, int]:
    """A model from ``n_input`` frames of ``channels`` (stacked) and ``static_channels``
    fixed fields to the next frames, and how many it predicts per call: a NeuralStagger
    its config's ``time`` (its output channels are per frame), other models
    ``frames_per_call`` (default 1), stacked along the channels.

    ``periodic``: whether each grid axis wraps around (one bool per axis, as the dataset
    schema records it), handed to the model; ``None``: the model's default, periodic
    everywhere. It comes from the data, so ``config`` must not set it too.
    """
    if periodic is not None:
        if "periodic" in config or "periodic" in config.get("base_config", {}):
            raise ValueError("model config must not set 'periodic': it comes from the "
                             f"dataset schema (here {list(periodic)})")
        config = {**config, "periodic": periodic}
    inputs = n_input * channels + static_channels
    if name == "stagger":
        time = int(config.get("time", 1))
        if frames_per_call not in (None, time):
            raise ValueError(f"frames_per_call is the stagger model's time ({time}) and "
                             f"need not be given; got {frames_per_call}")
        return build(name, inputs, channels, **config), time
    k = 1 if frames_per_call is None else frames_per_call
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"frames_per_call must be a positive int, got {frames_per_call!r}")
    return build(name, inputs, channels * k, **config), k
