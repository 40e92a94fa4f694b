"""``simkit generate``: run a recipe into a dataset, serially or on a Dask cluster.

Each work unit (one shard's trajectories) is built from the recipe alone, runs in any
process, and writes its own shard atomically; the driver only collects the
trajectory records and writes statistics, card and manifest at the end. A run
interrupted at any point resumes with ``resume=True``: finished shards are kept,
temporary files are removed, and the rest is generated with the same seeds.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from simkit.errors import DatasetError, RecipeError, SimulationDiverged
from simkit.io._atomic import atomic_write_text, remove_stale_tmp
from simkit.io.manifest import MANIFEST, Manifest, shard_relpath
from simkit.io.schema import Schema, Trajectory
from simkit.io.shard import ShardReader, sha256_file, shard_attrs, write_shard
from simkit.io.stats import merge_accumulators
from simkit.io.writer import finalize, shard_entry, shard_moments, trajectory_qc
from simkit.provenance import code_provenance, config_sha256, runtime_provenance, utc_now
from simkit.recipe import Recipe, WorkUnit, load_recipe
from simkit.registry import get_simulator

__all__ = ["GenerationResult", "generate", "simulate_trajectory", "run_work_unit"]

RECIPE_COPY = "recipe.json"
log = logging.getLogger("simkit.generate")


@dataclass(frozen=True)
class GenerationResult:
    """What :func:`generate` did.

    Attributes
    ----------
    root : Path
        The dataset folder.
    stored, dropped : int
        Trajectories in the dataset, and those dropped after failing.
    shards_written, shards_reused : int
        Shards written by this run, and those an earlier run had finished.
    seconds : float
        Wall time of this run.
    already_complete : bool
        ``resume=True`` found the dataset complete and wrote nothing.
    """

    root: Path
    stored: int
    dropped: int
    shards_written: int
    shards_reused: int
    seconds: float
    already_complete: bool = False


@dataclass(frozen=True)
class _Task:
    """Everything a worker needs for one work unit (plain data, cheap to ship)."""

    root: str
    recipe: dict[str, Any]
    unit: WorkUnit
    arch: str
    cpu_threads: int | None
    provenance: dict[str, Any]


def simulate_trajectory(sim: Any, recipe: Recipe, trajectory_id: str, seed: int) -> Trajectory:
    """Run one simulator instance through the recipe's frames.

    Raises
    ------
    SimulationDiverged
        A state variable became non-finite (frame, time, variable and index named).
    """
    frames: dict[str, list[np.ndarray]] = {}
    for k in range(recipe.frames):
        if k:
            sim.advance(k * recipe.write_interval)
        # frame(), not state(): what the dataset stores (state() is what a restart needs)
        for name, value in sim.frame().items():
            arr = np.array(value, copy=True)
            if np.issubdtype(arr.dtype, np.floating):
                bad = ~np.isfinite(arr)
                if bad.any():
                    raise SimulationDiverged(
                        f"non-finite value at output frame {k}", step=int(sim.step_count),
                        time=float(sim.time), index=tuple(int(i) for i in np.argwhere(bad)[0]),
                        field=name)
            frames.setdefault(name, []).append(arr)
    substeps = int(sim.step_count) // max(recipe.frames - 1, 1)
    return Trajectory(id=trajectory_id, frames={k: np.stack(v) for k, v in frames.items()},
                      static=sim.static(), params=sim.used_params(), seed=seed,
                      dt=float(sim.dt), substeps=substeps)


def run_work_unit(task: _Task, on_trajectory: Callable[[], None] | None = None) -> dict[str, Any]:
    """Simulate one work unit and write its shard. Runs in a worker process.

    Returns ``{"shard": manifest shard entry, "records": [trajectory records]}``.
    """
    recipe = Recipe.from_dict(task.recipe)
    entry = get_simulator(recipe.simulator)
    if entry.uses_taichi:
        from simkit.runtime import init

        init(task.arch, recipe.precision, seed=recipe.seed, cpu_threads=task.cpu_threads)
    unit = task.unit
    rel = shard_relpath(unit.split, unit.index)
    trajs: list[Trajectory] = []
    records: list[dict[str, Any]] = []
    schema: Schema | None = None
    for i in unit.members:
        tid = recipe.trajectory_id(unit.split, i)
        params = recipe.params(unit.split, i)
        rec: dict[str, Any] = {"id": tid, "split": unit.split, "index": i, "attempts": []}
        for attempt in range(recipe.max_attempts):
            seed = recipe.simulation_seed(unit.split, i, attempt)
            sim = entry.cls.from_scene(recipe.scene, dict(params), seed=seed)
            sim_schema = sim.schema()
            if schema is None:
                schema = sim_schema
            elif sim_schema != schema:
                raise DatasetError(f"simulator {recipe.simulator!r} declared a different schema "
                                   f"for trajectory {tid!r}; a dataset needs one schema")
            try:
                traj = simulate_trajectory(sim, recipe, tid, seed)
                own = sim.trajectory_record()  # e.g. the MPM's "boundary"
            except SimulationDiverged as exc:
                rec["attempts"].append({"seed": seed, "error": str(exc)})
                log.warning("trajectory %s attempt %d diverged: %s", tid, attempt + 1, exc)
                continue
            finally:
                del sim  # frees its arrays (and leased grid) before the next one is built
            rec.update(status="ok", seed=seed, params=traj.params, shard=rel, row=len(trajs),
                       qc=trajectory_qc(sim_schema, traj), **own)
            trajs.append(traj)
            break
        else:
            rec.update(status="dropped", seed=None, params=params, shard=None, row=None,
                       error=rec["attempts"][-1]["error"])
        records.append(rec)
        if on_trajectory is not None:
            on_trajectory()
    assert schema is not None  # every unit has at least one member
    attrs = {
        **task.provenance,
        **runtime_provenance(entry.uses_taichi),
        "units": {v.name: v.units for v in schema.variables},
        "created": utc_now(),
    }
    info = write_shard(Path(task.root) / rel, schema, trajs, n_frames=recipe.frames,
                       write_interval=recipe.write_interval, attrs=attrs, records=records,
                       compression=recipe.compression)
    # statistics are computed here, in parallel, while the data is in memory, on the
    # values as stored (float32 where the schema says so)
    moments = (shard_moments(schema, (t.as_stored(schema) for t in trajs))
               if unit.split == "train" else None)
    return {"shard": shard_entry(Path(task.root), info), "records": records, "moments": moments}


def _existing_unit(root: Path, unit: WorkUnit) -> dict[str, Any] | None:
    """The result of a unit whose shard an earlier run finished, or ``None``."""
    path = root / shard_relpath(unit.split, unit.index)
    if not path.exists():
        return None
    try:
        records = shard_attrs(path)["trajectory_records"]
    except (DatasetError, KeyError) as exc:
        log.warning("%s: unreadable (%s); generating it again", path, exc)
        path.unlink()
        return None
    info_ids = [r["id"] for r in records if r["status"] == "ok"]
    moments = None
    if unit.split == "train":
        reader = ShardReader(path, Schema.from_json(shard_attrs(path)["schema"]))
        moments = shard_moments(reader.schema, (reader.read_trajectory(row)
                                                for row in range(len(info_ids))))
        reader.close()
    return {"shard": {"path": shard_relpath(unit.split, unit.index), "sha256": sha256_file(path),
                      "bytes": path.stat().st_size, "trajectories": info_ids},
            "records": records, "moments": moments}


def _check_same_recipe(root: Path, recipe: Recipe) -> None:
    copy = root / RECIPE_COPY
    if not copy.exists():
        raise DatasetError(f"{copy}: missing; {root} was not started by `simkit generate`")
    earlier = json.loads(copy.read_text(encoding="utf-8"))
    if config_sha256(earlier) != config_sha256(recipe.to_json()):
        raise RecipeError(f"{root}: was started with a different recipe (see {copy}); "
                          "resume with the same recipe or choose another --out")


def _prepare_folder(root: Path, recipe: Recipe, resume: bool) -> None:
    if root.exists() and any(root.iterdir()):
        if not resume:
            raise FileExistsError(f"{root}: output folder exists and is not empty; pass --resume "
                                  "to complete it, or choose another --out")
        _check_same_recipe(root, recipe)
        removed = remove_stale_tmp(root)
        if removed:
            log.info("removed %d temporary files of the interrupted run", len(removed))
    else:
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(root / RECIPE_COPY,
                          json.dumps(recipe.to_json(), indent=1, sort_keys=True) + "\n")


def _complete(root: Path, recipe: Recipe, seconds: float) -> GenerationResult:
    """The result of resuming a finished dataset: nothing written."""
    _check_same_recipe(root, recipe)
    manifest = Manifest.read(root)
    stored = len(manifest.ok_records())
    shards = sum(len(info["shards"]) for info in manifest.splits.values())
    return GenerationResult(root=root, stored=stored, dropped=len(manifest.trajectories) - stored,
                            shards_written=0, shards_reused=shards, seconds=seconds,
                            already_complete=True)


def generate(
    recipe: Recipe | str | os.PathLike,
    out: str | os.PathLike,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    resume: bool = False,
    arch: str = "auto",
    progress: bool = True,
) -> GenerationResult:
    """Generate the dataset a recipe describes.

    Parameters
    ----------
    recipe : Recipe or path to a YAML recipe
    out : path
        Dataset folder to create (or to complete, with ``resume=True``). With a remote
        ``scheduler`` it must be on a filesystem every worker sees.
    workers : int
        1: run in this process. N > 1: start a Dask ``LocalCluster`` of N single-threaded
        worker processes.
    scheduler : str, optional
        Address of an existing Dask scheduler (``tcp://host:port``); excludes ``workers``.
    resume : bool
        Complete an interrupted run in ``out``; on a complete dataset, write nothing and
        return with ``already_complete=True``.
    arch : str
        Taichi arch for simulators that use Taichi (see :func:`simkit.init`); where it
        cannot work on this machine, nothing is written (a remote ``scheduler``'s
        workers check it themselves).
    progress : bool
        Show a live progress bar (trajectories, throughput, ETA) on stderr.

    Returns
    -------
    GenerationResult

    Raises
    ------
    RecipeError
        The recipe is invalid (before ``out`` is created), or differs from the one
        ``out`` was started with.
    FileExistsError
        ``out`` is not empty and ``resume`` is false.
    simkit.runtime.ArchUnavailable
        ``arch`` names a GPU arch this machine lacks.
    SimulationDiverged, DatasetError
        See :func:`run_work_unit` and the dataset checks.
    """
    t_start = time.perf_counter()
    if not isinstance(recipe, Recipe):
        recipe = load_recipe(recipe)
    if not isinstance(workers, int) or isinstance(workers, bool) or workers < 1:
        raise ValueError(f"workers must be a positive int, got {workers!r}")
    if scheduler is not None and workers != 1:
        raise ValueError("give either workers (a local cluster) or scheduler, not both")
    root = Path(out).resolve()
    if get_simulator(recipe.simulator).uses_taichi and scheduler is None:
        from simkit.runtime import check_arch

        check_arch(arch)
    if resume and (root / MANIFEST).exists():
        return _complete(root, recipe, time.perf_counter() - t_start)
    if (root / MANIFEST).exists():
        raise FileExistsError(f"{root}: holds a complete dataset (manifest.json); choose "
                              "another --out")
    _prepare_folder(root, recipe, resume)

    units = recipe.work_units()
    results: dict[int, dict[str, Any]] = {}
    for n, unit in enumerate(units):
        if resume and (done := _existing_unit(root, unit)) is not None:
            results[n] = done
    reused = len(results)
    pending = [n for n in range(len(units)) if n not in results]
    cpu_threads = max(1, (os.cpu_count() or 1) // workers) if scheduler is None else None
    provenance = {**code_provenance(), "config": recipe.to_json(),
                  "config_sha256": config_sha256(recipe.to_json()), "master_seed": recipe.seed,
                  "simulator": recipe.simulator,
                  "simulator_version": str(get_simulator(recipe.simulator).cls.version),
                  "scene": recipe.scene}
    tasks = {n: _Task(str(root), recipe.to_json(), units[n], arch, cpu_threads, provenance)
             for n in pending}
    total = sum(len(u.members) for u in units)
    done_before = sum(len(units[n].members) for n in results)

    with _Progress(total, done_before, enabled=progress) as bar:
        if scheduler is None and workers == 1:
            for n in pending:
                results[n] = run_work_unit(tasks[n], on_trajectory=bar.advance_one)
        else:
            results.update(_run_dask(tasks, units, workers, scheduler, bar))

    manifest = _assemble_manifest(root, recipe, units, results, provenance)
    train_moments: dict[str, Any] = {}
    for n in range(len(units)):  # unit order: the same float64 result for any worker count
        if results[n]["moments"] is not None:
            merge_accumulators(train_moments, results[n]["moments"])
    finalize(root, manifest, description=_description(recipe),
             train_moments=train_moments if "train" in recipe.splits else None)
    stored = len(manifest.ok_records())
    return GenerationResult(root=root, stored=stored,
                            dropped=len(manifest.trajectories) - stored,
                            shards_written=len(pending), shards_reused=reused,
                            seconds=time.perf_counter() - t_start)


@contextlib.contextmanager
def _workers_ignore_sigint() -> Iterator[None]:
    """Start worker processes with SIGINT ignored, so that Ctrl-C (sent by the terminal to
    every process of the group) interrupts the driver alone, which closes the cluster.

    Only an ignored disposition survives the workers' exec, so this process ignores
    SIGINT while it starts them: a Ctrl-C in those seconds is lost, not half-handled.
    """
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers belong to the main thread; leave them alone
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def _run_dask(tasks: dict[int, _Task], units: list[WorkUnit], workers: int,
              scheduler: str | None, bar: _Progress) -> dict[int, dict[str, Any]]:
    import dask
    from distributed import Client, LocalCluster, as_completed

    if scheduler is not None:
        client = Client(scheduler)
        cluster = None
    else:
        # Dask's default MALLOC_TRIM_THRESHOLD_ for workers makes every large numpy
        # temporary an mmap/munmap pair; measured here 10-15% slower per work unit.
        env = dict(dask.config.get("distributed.nanny.pre-spawn-environ"))
        env.pop("MALLOC_TRIM_THRESHOLD_", None)
        spawn_env = {"distributed.nanny.pre-spawn-environ": env}
        # dashboard_address=":0": the scheduler's HTTP server (which runs even without a
        # dashboard) takes a free port instead of warning when another cluster holds 8787
        with dask.config.set(spawn_env), _workers_ignore_sigint():
            cluster = LocalCluster(n_workers=workers, threads_per_worker=1, processes=True,
                                   dashboard_address=":0", silence_logs=logging.ERROR)
        client = Client(cluster)
    out: dict[int, dict[str, Any]] = {}
    try:
        futures = {client.submit(run_work_unit, task, key=f"simkit-unit-{n}-{os.getpid()}",
                                 pure=False): n for n, task in tasks.items()}
        for fut in as_completed(futures):
            n = futures[fut]
            out[n] = fut.result()  # re-raises a worker's exception here
            bar.advance(len(units[n].members))
    finally:
        client.close()
        if cluster is not None:
            cluster.close()
    return out


def _assemble_manifest(root: Path, recipe: Recipe, units: list[WorkUnit],
                       results: dict[int, dict[str, Any]], provenance: dict[str, Any]) -> Manifest:
    schemas = []
    splits: dict[str, dict[str, Any]] = {s: {"shards": []} for s in recipe.splits}
    records: list[dict[str, Any]] = []
    runtime: dict[str, Any] = {}
    for n, unit in enumerate(units):
        res = results[n]
        shard = res["shard"]
        attrs = shard_attrs(root / shard["path"])
        schemas.append(attrs["schema"])
        runtime = {k: attrs[k] for k in ("taichi_version", "taichi_arch", "precision")}
        splits[unit.split]["shards"].append(shard)
        records.extend(res["records"])
    if any(s != schemas[0] for s in schemas):
        raise DatasetError(f"{root}: shards were written with different schemas "
                           "(was the simulator changed between an interrupted run and --resume?)")
    prov = {k: v for k, v in provenance.items() if k != "config"}
    prov.update(runtime, created=utc_now())
    entry = get_simulator(recipe.simulator)
    return Manifest(schema=Schema.from_json(schemas[0]), n_frames=recipe.frames,
                    write_interval=recipe.write_interval,
                    simulator={"name": recipe.simulator, "version": str(entry.cls.version),
                               "scene": recipe.scene},
                    splits=splits, trajectories=records, recipe=recipe.to_json(),
                    provenance=prov)


def _description(recipe: Recipe) -> str:
    cls = get_simulator(recipe.simulator).cls
    text = str(getattr(cls, "description", ""))
    return f"{text}\n\n{recipe.description}".strip()


class _Progress:
    """A rich progress bar of trajectories (throughput, ETA), or nothing."""

    def __init__(self, total: int, completed: int, *, enabled: bool) -> None:
        self.enabled = enabled
        self.total, self.completed = total, completed

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )

            self._p = Progress(TextColumn("[bold]generate"), BarColumn(), MofNCompleteColumn(),
                               TextColumn("trajectories"),
                               TextColumn("{task.fields[rate]}"), TimeElapsedColumn(),
                               TextColumn("ETA"), TimeRemainingColumn(),
                               console=Console(stderr=True))
            self._p.__enter__()
            self._task = self._p.add_task("generate", total=self.total, completed=self.completed,
                                          rate="")
            self._t0, self._done0 = time.perf_counter(), self.completed
        return self

    def advance(self, n: int) -> None:
        self.completed += n
        if self.enabled:
            rate = (self.completed - self._done0) / max(time.perf_counter() - self._t0, 1e-9)
            self._p.update(self._task, advance=n, rate=f"{rate:.2f}/s")

    def advance_one(self) -> None:
        self.advance(1)

    def __exit__(self, *exc: object) -> None:
        if self.enabled:
            self._p.__exit__(*exc)
