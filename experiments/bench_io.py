"""Dataset I/O benchmark (``make bench``): window reads and generation scaling.

1. Random training-window reads (8 consecutive frames of one trajectory) from a grid
   dataset of at least 1 GB and from a ragged particle dataset, through
   ``simkit.io.WindowDataset``, against the same arrays read from raw ``.npy``
   memmaps. Shards are measured with gzip (the default), lzf and no compression,
   each with a warm page cache and a cold one (pages dropped with posix_fadvise
   before every repeat, for shards and memmaps alike).
2. ``simkit generate`` of one recipe with ``--workers 2`` against ``--workers 1``.

Shards carry Fletcher-32 chunk checksums unless said otherwise. Every number is the median over
repeats, baseline timed in the same run. Results go to ``<out>/io_bench.md`` and
``<out>/io_bench.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from simkit.benchmark import machine_line, utc_date, write_results
from simkit.generate import generate
from simkit.io import Compression, DatasetWriter, Schema, Trajectory, Variable, WindowDataset
from simkit.recipe import Recipe

WINDOW = (4, 4)  # n_input, n_output: 8 frames per window
CODECS = {"gzip+shuffle (default)": Compression("gzip", 4),
          "gzip": Compression("gzip", 4, shuffle=False),
          "lzf": Compression("lzf", shuffle=False),
          "none": Compression(None),
          "none, no fletcher32": Compression(None, fletcher32=False)}


def _slug(codec: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in codec)


def drop_cache(paths: list[Path]) -> None:
    """Evict files from the page cache (clean pages; no root needed)."""
    for p in paths:
        fd = os.open(p, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def smooth_fields(rng: np.random.Generator, n_frames: int, channels: int, res: int) -> np.ndarray:
    """(n_frames, channels, res, res) float32: a few drifting separable modes plus noise,
    so the data compresses like simulation output rather than like white noise."""
    x = np.linspace(0, 2 * np.pi, res, endpoint=False)
    steps = np.arange(n_frames)[:, None]
    out = np.zeros((n_frames, channels, res, res))
    for c in range(channels):
        for _ in range(4):
            kx, ky = rng.integers(1, 6, 2)
            along_x = np.sin(kx * x[None, :] + rng.uniform(0, 2 * np.pi)
                             + rng.uniform(0.01, 0.05) * steps)  # (frames, x), drifting
            out[:, c] += rng.normal() * np.cos(ky * x)[None, :, None] * along_x[:, None, :]
    out += 1e-3 * rng.normal(size=out.shape)
    return out.astype(np.float32)


def reopenable_memmaps(raw_dir: Path, names: tuple[str, ...]
                       ) -> tuple[dict[str, np.ndarray], Callable[[], None]]:
    """Read-only memmaps of ``raw_dir/<name>.npy`` and a function that reopens them
    (mapped pages cannot be dropped from the page cache)."""
    arrays: dict[str, np.ndarray] = {}

    def reopen() -> None:
        arrays.clear()
        arrays.update({n: np.load(raw_dir / f"{n}.npy", mmap_mode="r") for n in names})

    return arrays, reopen


def time_reads(read: Callable[[int], int], n_reads: int, repeats: int,
               files: list[Path], cold: bool, reopen: Callable[[], None]) -> tuple[float, float]:
    """Median windows/s and MB/s of ``read(i)`` (which returns bytes delivered).

    ``reopen`` closes and reopens the reader's files, so that a cold repeat finds no
    page still mapped or cached (opening is not timed).
    """
    rates, mbs = [], []
    for _ in range(repeats):
        reopen()
        if cold:
            drop_cache(files)
        t0 = time.perf_counter()
        nbytes = sum(read(i) for i in range(n_reads))
        dt = time.perf_counter() - t0
        rates.append(n_reads / dt)
        mbs.append(nbytes / dt / 1e6)
    return statistics.median(rates), statistics.median(mbs)


def time_shards(root: Path, picks: np.ndarray, repeats: int, **window_kwargs) -> dict:
    """Size on disk and warm/cold window reads of the dataset at ``root``; window ``i``
    is ``(trajectory, start) = picks[i]``."""
    wd = WindowDataset(root, "train", *WINDOW, **window_kwargs)
    per = wd.windows_per_trajectory

    def read(i: int) -> int:
        t, s = picks[i]
        item = wd[int(t) * per + int(s)]
        return sum(a.nbytes for part in ("input", "target") for a in item[part].values())

    files = sorted(root.rglob("*.h5"))
    entry: dict = {"bytes": sum(p.stat().st_size for p in files)}
    for cache in ("warm", "cold"):
        entry[cache] = time_reads(read, len(picks), repeats, files, cache == "cold", wd.close)
    wd.close()
    return entry


def bench_grid(scratch: Path, size_gb: float, n_reads: int, repeats: int) -> dict:
    res, n_frames = 128, 100
    frame_bytes = 4 * res * res * 4  # velocity (2) + pressure + density, float32
    n_traj = int(np.ceil(size_gb * 1e9 / (frame_bytes * n_frames)))
    space = ("y", "x")
    schema = Schema(kind="grid", variables=(
        Variable("velocity", ("component", *space), "m/s"),
        Variable("pressure", space, "Pa"),
        Variable("density", space, "kg/m^3")), sizes={"y": res, "x": res, "component": 2},
        space_dims=space)
    raw_dir = scratch / "grid_raw"
    raw_dir.mkdir()
    raw = {name: np.lib.format.open_memmap(raw_dir / f"{name}.npy", mode="w+", dtype=np.float32,
                                           shape=(n_traj, n_frames, *shp))
           for name, shp in (("velocity", (2, res, res)), ("pressure", (res, res)),
                             ("density", (res, res)))}
    writers = {c: DatasetWriter(scratch / f"grid_{_slug(c)}", schema, n_frames=n_frames,
                                write_interval=0.01, simulator={"name": "bench", "version": "1"},
                                trajectories_per_shard=4, compression=comp)
               for c, comp in CODECS.items()}
    write_s = dict.fromkeys(CODECS, 0.0)
    rng = np.random.default_rng(0)
    for i in range(n_traj):
        f = smooth_fields(rng, n_frames, 4, res)
        frames = {"velocity": f[:, :2], "pressure": f[:, 2], "density": 1000 + f[:, 3]}
        for name, arr in frames.items():
            raw[name][i] = arr
        for c, w in writers.items():
            t0 = time.perf_counter()
            w.add("train", Trajectory(f"t{i}", frames=frames))
            write_s[c] += time.perf_counter() - t0
    for c, w in writers.items():
        t0 = time.perf_counter()
        w.close()
        write_s[c] += time.perf_counter() - t0
    for m in raw.values():
        m.flush()
    del raw
    raw, reopen_raw = reopenable_memmaps(raw_dir, ("velocity", "pressure", "density"))

    raw_bytes = sum(p.stat().st_size for p in raw_dir.iterdir())
    span = sum(WINDOW)
    picks = np.random.default_rng(1).integers(0, [n_traj, n_frames - span + 1],
                                              size=(n_reads, 2))

    def raw_read(i: int) -> int:
        t, s = picks[i]
        return sum(np.array(m[t, s:s + span]).nbytes for m in raw.values())

    out = {"trajectories": n_traj, "frames": n_frames, "grid": f"{res}x{res}",
           "raw_bytes": raw_bytes, "window_frames": span, "reads": n_reads, "codecs": {}}
    raw_files = list(raw_dir.iterdir())
    for cache in ("warm", "cold"):
        out[f"raw_{cache}"] = time_reads(raw_read, n_reads, repeats, raw_files, cache == "cold",
                                         reopen_raw)
    for c in CODECS:
        entry = time_shards(scratch / f"grid_{_slug(c)}", picks, repeats)
        entry["write_s"] = write_s[c]
        out["codecs"][c] = entry
    return out


def bench_particles(scratch: Path, n_traj: int, n_reads: int, repeats: int) -> dict:
    n_frames = 100
    schema = Schema(kind="particles", variables=(
        Variable("position", ("particle", "component"), "m"),
        Variable("velocity", ("particle", "component"), "m/s"),
        Variable("particle_type", ("particle",), "1", dtype="int32", static=True)),
        sizes={"component": 2}, ragged_dim="particle",
        tables={"material": {"name": ("water", "sand")}})
    rng = np.random.default_rng(2)
    counts = rng.integers(4000, 16000, n_traj)
    offsets = np.concatenate([[0], np.cumsum(counts)])
    raw_dir = scratch / "particles_raw"
    raw_dir.mkdir()
    raw = {n: np.lib.format.open_memmap(raw_dir / f"{n}.npy", mode="w+", dtype=np.float32,
                                        shape=(int(offsets[-1]), n_frames, 2))
           for n in ("position", "velocity")}
    codecs = {c: CODECS[c] for c in ("gzip+shuffle (default)", "lzf", "none",
                                     "none, no fletcher32")}
    writers = {c: DatasetWriter(scratch / f"particles_{_slug(c)}", schema, n_frames=n_frames,
                                write_interval=0.01, simulator={"name": "bench", "version": "1"},
                                trajectories_per_shard=4, compression=comp)
               for c, comp in codecs.items()}
    for i, n in enumerate(counts):
        x0 = rng.random((n, 2))
        v = rng.normal(0, 0.1, (n, 2))
        t = 0.01 * np.arange(n_frames)[:, None, None]
        pos = (x0 + v * t + 0.5 * np.array([0, -9.81]) * t**2).astype(np.float32)
        vel = np.broadcast_to(v + np.array([0, -9.81]) * t, pos.shape).astype(np.float32)
        raw["position"][offsets[i]:offsets[i + 1]] = pos.swapaxes(0, 1)
        raw["velocity"][offsets[i]:offsets[i + 1]] = vel.swapaxes(0, 1)
        traj = Trajectory(f"p{i}", frames={"position": pos, "velocity": vel},
                          static={"particle_type": rng.integers(0, 2, n).astype(np.int32)})
        for w in writers.values():
            w.add("train", traj)
    for w in writers.values():
        w.close()
    for m in raw.values():
        m.flush()
    del raw
    raw, reopen_raw = reopenable_memmaps(raw_dir, ("position", "velocity"))

    span = sum(WINDOW)
    picks = np.random.default_rng(3).integers(0, [n_traj, n_frames - span + 1], size=(n_reads, 2))

    def raw_read(i: int) -> int:
        t, s = picks[i]
        lo, hi = offsets[t], offsets[t + 1]
        return sum(np.array(m[lo:hi, s:s + span]).swapaxes(0, 1).nbytes for m in raw.values())

    out = {"trajectories": n_traj, "frames": n_frames,
           "particles": [int(counts.min()), int(counts.max())],
           "raw_bytes": sum(p.stat().st_size for p in raw_dir.iterdir()), "codecs": {}}
    raw_files = list(raw_dir.iterdir())
    for cache in ("warm", "cold"):
        out[f"raw_{cache}"] = time_reads(raw_read, n_reads, repeats, raw_files, cache == "cold",
                                         reopen_raw)
    for c in codecs:
        entry = time_shards(scratch / f"particles_{_slug(c)}", picks, repeats,
                            variables=["position", "velocity"], include_static=False)
        out["codecs"][c] = entry
    return out


def bench_generation(scratch: Path, repeats: int) -> dict:
    recipe = Recipe.from_dict({
        "simulator": "heat", "scene": "modes3d",
        "fixed": {"resolution": 40, "n_modes": 12},
        "sampled": {"diffusivity": {"loguniform": [1e-4, 1e-3]}},
        "frames": 10, "write_interval": 0.1, "splits": {"train": 16}, "seed": 0,
        "trajectories_per_shard": 1})
    times: dict[int, list[float]] = {1: [], 2: []}
    for r in range(repeats):
        for workers in (1, 2):
            out = scratch / f"gen_w{workers}_{r}"
            t0 = time.perf_counter()
            generate(recipe, out, workers=workers, progress=False)
            times[workers].append(time.perf_counter() - t0)
            shutil.rmtree(out)
    med = {w: statistics.median(v) for w, v in times.items()}
    return {"recipe": recipe.to_json(), "seconds": times, "median_s": med,
            "speedup": med[1] / med[2]}


def render(results: dict) -> str:
    g, p, gen = results["grid"], results["particles"], results["generation"]
    lines = [
        "# Dataset I/O benchmark",
        "",
        f"Machine: {results['machine']}. Run {results['date']}, "
        f"`python -m experiments.bench_io` ({results['seconds']:.0f} s).",
        "",
        f"Random windows of {g['window_frames']} consecutive frames (n_input={WINDOW[0]}, "
        f"n_output={WINDOW[1]}) read one by one through `simkit.io.WindowDataset`, against "
        "the same arrays sliced from raw `.npy` memmaps (copied into memory). Median of "
        f"{results['repeats']} repeats of {g['reads']} reads. *warm*: files in the page "
        "cache; *cold*: pages dropped (posix_fadvise) before every repeat, for both.",
        "",
        f"## Grid: {g['trajectories']} trajectories x {g['frames']} frames of {g['grid']}, "
        f"4 float32 channels, {g['raw_bytes'] / 1e9:.2f} GB raw",
        "",
        "| storage | size on disk | write s | warm windows/s | warm MB/s | warm / raw "
        "| cold windows/s | cold MB/s | cold / raw |",
        "|---|---|---|---|---|---|---|---|---|",
        f"| raw .npy memmap | {g['raw_bytes'] / 1e9:.2f} GB | - | {g['raw_warm'][0]:.0f} | "
        f"{g['raw_warm'][1]:.0f} | 1.00 | {g['raw_cold'][0]:.0f} | {g['raw_cold'][1]:.0f} | "
        "1.00 |",
    ]
    for c, e in g["codecs"].items():
        lines.append(
            f"| shards, {c} | {e['bytes'] / 1e9:.2f} GB | {e['write_s']:.0f} | "
            f"{e['warm'][0]:.0f} | {e['warm'][1]:.0f} | {e['warm'][0] / g['raw_warm'][0]:.2f} | "
            f"{e['cold'][0]:.0f} | {e['cold'][1]:.0f} | {e['cold'][0] / g['raw_cold'][0]:.2f} |")
    lines += [
        "",
        f"## Particles: {p['trajectories']} trajectories x {p['frames']} frames, "
        f"{p['particles'][0]}-{p['particles'][1]} particles each (ragged), position + "
        f"velocity float32, {p['raw_bytes'] / 1e9:.2f} GB raw",
        "",
        "| storage | size on disk | warm windows/s | warm MB/s | warm / raw | cold windows/s "
        "| cold MB/s | cold / raw |",
        "|---|---|---|---|---|---|---|---|",
        f"| raw .npy memmap | {p['raw_bytes'] / 1e9:.2f} GB | {p['raw_warm'][0]:.0f} | "
        f"{p['raw_warm'][1]:.0f} | 1.00 | {p['raw_cold'][0]:.0f} | {p['raw_cold'][1]:.0f} | "
        "1.00 |",
    ]
    for c, e in p["codecs"].items():
        lines.append(
            f"| shards, {c} | {e['bytes'] / 1e9:.2f} GB | {e['warm'][0]:.0f} | "
            f"{e['warm'][1]:.0f} | {e['warm'][0] / p['raw_warm'][0]:.2f} | {e['cold'][0]:.0f} | "
            f"{e['cold'][1]:.0f} | {e['cold'][0] / p['raw_cold'][0]:.2f} |")
    m1, m2 = gen["median_s"]["1"], gen["median_s"]["2"]
    lines += [
        "",
        "## Generation: `--workers 2` against `--workers 1`",
        "",
        f"Recipe: heat modes3d, 40^3, 12 modes, 10 frames, 16 trajectories, one per shard "
        f"(gzip). Median of {len(gen['seconds']['1'])} runs each, Dask start-up included.",
        "",
        "| workers | median s | speed-up |",
        "|---|---|---|",
        f"| 1 (in process) | {m1:.1f} | 1.00 |",
        f"| 2 (Dask LocalCluster) | {m2:.1f} | {m1 / m2:.2f} |",
        "",
    ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    ap.add_argument("--size-gb", type=float, default=1.05, help="raw size of the grid dataset")
    ap.add_argument("--particle-trajectories", type=int, default=32)
    ap.add_argument("--reads", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--scratch", type=Path, default=None,
                    help="folder for the temporary datasets (default: a temp dir)")
    args = ap.parse_args()
    t0 = time.perf_counter()
    scratch = Path(tempfile.mkdtemp(prefix="simkit-bench-", dir=args.scratch))
    try:
        print("bench_io: grid dataset", flush=True)
        grid = bench_grid(scratch, args.size_gb, args.reads, args.repeats)
        print("bench_io: particle dataset", flush=True)
        particles = bench_particles(scratch, args.particle_trajectories, args.reads, args.repeats)
        print("bench_io: generation scaling", flush=True)
        gen = bench_generation(scratch, 3)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    results = json.loads(json.dumps({
        "machine": machine_line(gpu=False), "date": utc_date(),
        "repeats": args.repeats, "grid": grid, "particles": particles, "generation": gen,
        "seconds": time.perf_counter() - t0}))
    write_results(args.out, "io_bench", results, render(results), echo=True)


if __name__ == "__main__":
    main()
