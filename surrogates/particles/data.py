"""Lightning data module over a simkit ``particles`` dataset (the MPM's): training
graphs of one step, rollout windows for validation and test.

A training item is a torch-geometric ``Data`` built in the DataLoader worker: the last
``n_velocities + 1`` positions with random-walk noise (``history (N, T, d)``, m), the
radius graph of the noisy positions and the GNS features
(:class:`surrogates.particles.features.ParticleFeatures`: ``x``, ``edge_index``,
``edge_attr``), the normalised target acceleration ``y (N, d)``, ``particle_type``,
``material (N, M)``, the free box ``walls (1, 2, d)`` (m) and, with pushforward, the
clean positions that follow, ``future (N, pushforward + 1, d)``. Batches are
torch-geometric ``Batch``es of graphs of any size.

A rollout item (validation, test, predict) is one trajectory: ``history (N, T, d)``,
``truth (N, rollout_steps, d)``, ``particle_type``, ``material``, ``walls``, ``mass
(N,)`` (kg) and ``trajectory`` (its id).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader
from torch_geometric.data import Data
from torch_geometric.loader import DataLoader as GraphLoader

from simkit.io import WindowDataset, open_dataset
from surrogates.data import _simulator_block
from surrogates.particles.features import ParticleFeatures, pooled_moments

__all__ = ["ParticleDataModule", "KINEMATIC_NAMES", "random_walk_noise", "free_box"]

#: Particle-type names (the schema's ``flag_meanings``) that follow a known path.
KINEMATIC_NAMES = ("kinematic",)


def free_box(record: dict) -> np.ndarray:
    """``(2, d)`` ``[lo, hi]`` of the free box inside the walls (m), from a trajectory's
    manifest record (or an MPM's ``trajectory_record()``)."""
    walls = record["boundary"]["walls"]
    return np.array([walls["lo"], walls["hi"]], dtype=np.float64)


def random_walk_noise(history: torch.Tensor, std: float, frozen: torch.Tensor) -> torch.Tensor:
    """Position noise ``(N, T, d)`` whose velocities are a random walk reaching ``std``
    (m per frame) at the last velocity (Sanchez-Gonzalez et al. 2020); the first
    position is exact, and so are the ``frozen (N,)`` particles (kinematic ones)."""
    n, t, d = history.shape
    steps = torch.randn(n, t - 1, d, dtype=history.dtype) * (std / (t - 1) ** 0.5)
    velocity_noise = steps.cumsum(dim=1)
    noise = torch.cat([history.new_zeros(n, 1, d), velocity_noise.cumsum(dim=1)], dim=1)
    return noise.masked_fill(frozen[:, None, None], 0.0)


class _Steps(torch.utils.data.Dataset):
    """One-step training graphs (see the module docstring)."""

    def __init__(self, windows: WindowDataset, features: ParticleFeatures, material: list[str],
                 walls: dict[str, torch.Tensor], noise_std: float) -> None:
        self.windows, self.features, self.noise_std = windows, features, noise_std
        self.material, self.walls = material, walls

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> Data:
        w = self.windows[i]
        item = _trajectory_item(w, self.material, self.walls)
        f = self.features
        history, future = item.pop("history"), item.pop("truth")
        frozen = f.kinematic(item["particle_type"])
        if self.noise_std > 0:
            noise = random_walk_noise(history, self.noise_std, frozen)
            history = history + noise
            # the target corrects the velocity noise, not the position noise (GNS)
            future = future + noise[:, -1:]
        x, edge_index, edge_attr = f.graph(history, item["particle_type"], item["material"],
                                           item["walls"])
        return Data(x=x, edge_index=edge_index, edge_attr=edge_attr,
                    y=f.target(history, future[:, 0]), history=history, future=future,
                    particle_type=item["particle_type"], material=item["material"],
                    walls=item["walls"], num_nodes=history.shape[0])


def _trajectory_item(w: dict, material: list[str], walls: dict[str, torch.Tensor]) -> dict:
    """A :class:`WindowDataset` window as node-major tensors."""
    s = w["static"]
    return {"history": torch.from_numpy(np.ascontiguousarray(
                np.swapaxes(w["input"]["position"], 0, 1), dtype=np.float32)),
            "truth": torch.from_numpy(np.ascontiguousarray(
                np.swapaxes(w["target"]["position"], 0, 1), dtype=np.float32)),
            "particle_type": torch.from_numpy(np.asarray(s["particle_type"], dtype=np.int64)),
            "material": torch.from_numpy(np.stack(
                [np.asarray(s[m], dtype=np.float32) for m in material], axis=1)
                if material else np.zeros((len(s["particle_type"]), 0), np.float32)),
            "walls": walls[w["trajectory"]][None],
            "mass": torch.from_numpy(np.asarray(s["mass"], dtype=np.float32)) if "mass" in s
            else None}


class _Rollouts(torch.utils.data.Dataset):
    def __init__(self, windows: WindowDataset, material: list[str],
                 walls: dict[str, torch.Tensor]) -> None:
        self.windows, self.material, self.walls = windows, material, walls

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, i: int) -> dict:
        w = self.windows[i]
        item = _trajectory_item(w, self.material, self.walls)
        if item["mass"] is None:
            item["mass"] = torch.ones(item["history"].shape[0])
        item["trajectory"] = w["trajectory"]
        return item


class ParticleDataModule(pl.LightningDataModule):
    """Parameters
    ----------
    path : str
        A simkit dataset of kind ``particles`` with ``train`` and ``valid`` splits (and
        ``test`` for testing), ``stats.json`` with accelerations (``diff2_per_frame``),
        and a ``boundary`` record per trajectory (the free box inside the walls).
    radius : float
        Connectivity radius (m).
    max_neighbours : int
        Capacity of the neighbour list per particle; exceeding it is an error.
    n_velocities : int
        Past velocities in the node features (GNS: 5).
    noise_std : float
        Random-walk noise on the input velocities, its std at the last one (m per
        frame); 0 switches it off.
    pushforward : int
        Steps the model unrolls (without gradient) before the trained one; the
        windows carry that many more future frames.
    rollout_steps : int, optional
        Frames rolled out in validation and test (default: the rest of each
        trajectory after the first ``n_velocities + 1``).
    batch_size, num_workers, stride : int
    train_trajectories : int, optional
        Train on the first this many train trajectories (the statistics stay those of
        the whole split).
    material : list of str, optional
        Static per-particle fields given to the network (default: the float ones but
        ``mass``: density and moduli for the MPM).
    test_split : str
        The split :meth:`test_dataloader` and :meth:`predict_dataloader` read (e.g.
        ``test_ood``).
    """

    def __init__(self, path: str, radius: float = 0.025, max_neighbours: int = 64,
                 n_velocities: int = 5, noise_std: float = 3e-4, pushforward: int = 0,
                 rollout_steps: int | None = None, batch_size: int = 2, num_workers: int = 0,
                 stride: int = 1, train_trajectories: int | None = None,
                 material: list[str] | None = None, test_split: str = "test") -> None:
        super().__init__()
        self.root = Path(path)
        with open_dataset(self.root, verify="none") as ds:
            schema, stats, self.n_frames = ds.schema, ds.stats, ds.n_frames
            self.write_interval, self.splits = ds.write_interval, ds.splits
            records = {tid: ds.record(tid) for s in ds.splits for tid in ds.ids(s)}
            train_ids = ds.ids("train") if "train" in ds.splits else []
            self.simulator = _simulator_block(ds.manifest.simulator,
                                              [records[i]["params"] for i in train_ids])
        if schema.kind != "particles":
            raise ValueError(f"path: a particles dataset is needed, {path} is {schema.kind!r}")
        self.schema, self.stats = schema, stats
        self.dim = schema.sizes["component"]
        types = schema.variable("particle_type").flag_meanings
        self.particle_types = list(types)
        self.kinematic_types = [i for i, n in enumerate(types) if n in KINEMATIC_NAMES]
        floats = [v.name for v in schema.static if v.is_float and schema.is_ragged(v)]
        self.material = [m for m in floats if m != "mass"] if material is None else material
        bad = sorted(set(self.material) - set(floats))
        if bad:
            raise ValueError(f"material: {bad} are not static per-particle float fields of "
                             f"{path}; it has {floats}")
        missing = sorted(t for t, r in records.items() if "boundary" not in r)
        if missing:
            raise ValueError(f"path: {path} records no boundary (walls, colliders) for "
                             f"trajectories {missing[:3]}; regenerate it with this simkit")
        self.walls = {t: torch.tensor(free_box(r), dtype=torch.float32)
                      for t, r in records.items()}
        for name, value in (("radius", radius), ("noise_std", noise_std)):
            if not (isinstance(value, int | float) and np.isfinite(value) and value >= 0):
                raise ValueError(f"{name} must be a finite number >= 0, got {value!r}")
        if not radius > 0:
            raise ValueError(f"radius must be > 0 m, got {radius!r}")
        for name, value, low in (("max_neighbours", max_neighbours, 1),
                                 ("n_velocities", n_velocities, 1),
                                 ("pushforward", pushforward, 0),
                                 ("batch_size", batch_size, 1), ("stride", stride, 1)):
            if not isinstance(value, int) or isinstance(value, bool) or value < low:
                raise ValueError(f"{name} must be an int >= {low}, got {value!r}")
        self.n_input = n_velocities + 1
        if self.n_input + 1 + pushforward > self.n_frames:
            raise ValueError(f"n_velocities + pushforward = {n_velocities + pushforward} "
                             f"needs {self.n_input + 1 + pushforward} frames; the "
                             f"trajectories hold {self.n_frames}")
        most = self.n_frames - self.n_input
        self.rollout_steps = most if rollout_steps is None else rollout_steps
        if not isinstance(self.rollout_steps, int) or not 1 <= self.rollout_steps <= most:
            raise ValueError(f"rollout_steps must be an int in [1, {most}] (trajectories of "
                             f"{self.n_frames} frames, {self.n_input} in), got {rollout_steps!r}")
        n_train = len(train_ids)
        if train_trajectories is not None and not (
                isinstance(train_trajectories, int) and 1 <= train_trajectories <= n_train):
            raise ValueError(f"train_trajectories must be an int in [1, {n_train}] (the "
                             f"train split's size), got {train_trajectories!r}")
        if test_split not in self.splits:
            raise ValueError(f"test_split: {path} has no split {test_split!r} "
                             f"(it has {self.splits})")
        self.radius, self.max_neighbours = float(radius), max_neighbours
        self.n_velocities, self.noise_std, self.pushforward = n_velocities, noise_std, pushforward
        self.batch_size, self.num_workers, self.stride = batch_size, num_workers, stride
        self.train_trajectories, self.test_split = train_trajectories, test_split

    # ---- what the model needs of the data ---------------------------------------------

    @property
    def normaliser(self) -> dict:
        """Velocity and acceleration statistics of the non-kinematic particles (m per
        frame, m per frame^2) and the material fields' (train split, ``stats.json``)."""
        pos = self.stats["variables"]["position"]
        if "diff2_per_frame" not in pos:
            raise ValueError(f"path: {self.root}/stats.json has no accelerations "
                             "(diff2_per_frame); recompute it with `simkit stats`")
        by_type = pos.get("by_particle_type", {})
        learned = [b for t, b in by_type.items() if int(t) not in self.kinematic_types]
        if not learned:
            raise ValueError(f"path: {self.root}/stats.json has no per-type statistics of "
                             "non-kinematic particles")
        out = {}
        for key, block in (("velocity", "diff_per_frame"), ("acceleration", "diff2_per_frame")):
            mean, std = pooled_moments([b[block] for b in learned])
            out[key] = {"mean": mean, "std": std}
        mats = [self.stats["variables"][m]["value"] for m in self.material]
        out["material"] = {"names": list(self.material),
                           "mean": [v["mean"][0] for v in mats],
                           "std": [v["std"][0] for v in mats]}
        return out

    @property
    def gravity(self) -> list[float]:
        """Gravity (m/s^2) of the simulator block: ``-gravity`` along y, which every
        training trajectory must share."""
        g = self.simulator["params"].get("gravity")
        if g is None:
            raise ValueError(f"path: the training trajectories of {self.root} do not share "
                             "one gravity (or record none); a GNS takes it as a constant "
                             "global feature")
        return [0.0, -float(g)] + [0.0] * (self.dim - 2)

    @property
    def features(self) -> dict:
        """Keyword arguments of :class:`ParticleFeatures` for this dataset."""
        return {"dim": self.dim, "radius": self.radius, "max_neighbours": self.max_neighbours,
                "n_velocities": self.n_velocities, "normaliser": self.normaliser,
                "gravity": self.gravity, "write_interval": self.write_interval,
                "kinematic_types": self.kinematic_types}

    @property
    def dataset_schema(self) -> dict:
        """What a checkpoint must know of the data: dimension, particle-type names, the
        kinematic types, material fields, the free box ``walls`` ``[lo, hi]`` (m) when
        every trajectory shares it (else ``None``), seconds per frame, the dataset's path and the
        simulator that made it (as :attr:`surrogates.data.GridDataModule.dataset_schema`)."""
        walls = {tuple(w.flatten().tolist()) for w in self.walls.values()}
        shared = next(iter(walls)) if len(walls) == 1 else None
        return {"kind": "particles", "dim": self.dim, "particle_types": self.particle_types,
                "kinematic_types": self.kinematic_types, "material": self.material,
                "walls": None if shared is None else [list(shared[:self.dim]),
                                                      list(shared[self.dim:])],
                "write_interval": self.write_interval, "dataset": str(self.root),
                "simulator": self.simulator}

    # ---- loaders ----------------------------------------------------------------------

    def _windows(self, split: str, n_output: int, stride: int) -> WindowDataset:
        if split not in self.splits:
            raise ValueError(f"{self.root}: no {split!r} split (has {self.splits})")
        static = ["particle_type", *self.material]
        if "mass" in {v.name for v in self.schema.static}:
            static.append("mass")
        return WindowDataset(self.root, split, self.n_input, n_output, stride=stride,
                             variables=["position"], include_static=sorted(set(static)))

    def train_dataloader(self) -> GraphLoader:
        windows = self._windows("train", 1 + self.pushforward, self.stride)
        data = _Steps(windows, ParticleFeatures(**self.features), self.material,
                      self.walls, self.noise_std)
        if self.train_trajectories is not None:  # windows are trajectory-major
            data = torch.utils.data.Subset(
                data, range(self.train_trajectories * windows.windows_per_trajectory))
        return GraphLoader(data, batch_size=self.batch_size, shuffle=True,
                           num_workers=self.num_workers,
                           persistent_workers=self.num_workers > 0)

    def _rollouts(self, split: str) -> DataLoader:
        span = self.n_input + self.rollout_steps
        data = _Rollouts(self._windows(split, self.rollout_steps, span), self.material,
                         self.walls)
        return DataLoader(data, batch_size=None, shuffle=False, num_workers=self.num_workers,
                          persistent_workers=self.num_workers > 0)

    def val_dataloader(self) -> DataLoader:
        return self._rollouts("valid")

    def test_dataloader(self) -> DataLoader:
        return self._rollouts(self.test_split)

    def predict_dataloader(self) -> DataLoader:
        return self._rollouts(self.test_split)
