"""Grid models as plain ``nn.Module`` (no Lightning): ``(batch, in_channels, *grid) ->
(batch, out_channels, *grid)``. :func:`build` makes one from a name and a config dict,
which is what checkpoints store."""

from functools import partial

from torch import nn

from surrogates.models.fno import fno, tfno
from surrogates.models.stagger import NeuralStagger
from surrogates.models.unet import UNet

__all__ = ["build", "MODELS", "fno", "tfno", "UNet", "NeuralStagger"]

MODELS = {"fno": fno, "tfno": tfno, "unet": UNet}


def build(name: str, in_channels: int, out_channels: int, **config) -> nn.Module:
    """``name`` one of :data:`MODELS` or ``"stagger"`` (then ``config`` holds ``base``,
    ``base_config``, ``space``, ``time``)."""
    if name == "stagger":
        base = config.pop("base", "fno")
        base_config = dict(config.pop("base_config", {}))
        if base not in MODELS:
            raise ValueError(f"stagger base must be one of {sorted(MODELS)}, got {base!r}")
        return NeuralStagger(partial(MODELS[base], **base_config), in_channels, out_channels,
                             **config)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose from {sorted(MODELS) + ['stagger']}")
    return MODELS[name](in_channels, out_channels, **config)
