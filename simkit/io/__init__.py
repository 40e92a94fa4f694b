"""The simkit dataset format (v1): writing, reading, validating, windows for training.

See ``shared/DESIGN.md`` and :mod:`simkit.io.schema` for the layout.
"""

from simkit.io.dataset import Dataset, ValidationReport, open_dataset
from simkit.io.manifest import Manifest
from simkit.io.schema import KINDS, Schema, Trajectory, Variable
from simkit.io.shard import Compression
from simkit.io.window import WindowDataset
from simkit.io.writer import DatasetWriter, compute_stats

__all__ = [
    "KINDS",
    "Compression",
    "Dataset",
    "DatasetWriter",
    "Manifest",
    "Schema",
    "Trajectory",
    "ValidationReport",
    "Variable",
    "WindowDataset",
    "compute_stats",
    "open_dataset",
]
