"""The ``simkit`` command line: generate, info, validate, stats, simulators.

Failures exit with status 1 and one clear line on stderr (``--debug`` shows the
traceback); usage errors exit with status 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from simkit._version import __version__
from simkit.errors import DatasetError, RecipeError, SimulationDiverged
from simkit.runtime import ArchUnavailable

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="simkit", description=__doc__.splitlines()[0])
    p.add_argument("--version", action="version", version=f"simkit {__version__}")
    p.add_argument("--debug", action="store_true", help="show tracebacks")
    sub = p.add_subparsers(dest="command", required=True)

    g = sub.add_parser("generate", help="run a recipe into a dataset")
    g.add_argument("recipe", type=Path, help="recipe YAML file")
    g.add_argument("--out", type=Path, required=True, help="dataset folder to write")
    where = g.add_mutually_exclusive_group()
    where.add_argument("--workers", type=int, default=1,
                       help="worker processes on this machine (Dask LocalCluster if > 1)")
    where.add_argument("--scheduler", metavar="ADDR",
                       help="address of an existing Dask scheduler, e.g. tcp://host:8786")
    g.add_argument("--resume", action="store_true", help="complete an interrupted run in --out")
    g.add_argument("--arch", default="auto", choices=["auto", "cpu", "cuda", "vulkan"],
                   help="Taichi arch for Taichi simulators")
    g.add_argument("--no-progress", action="store_true", help="no progress bar")

    i = sub.add_parser("info", help="summarise a dataset")
    i.add_argument("path", type=Path)
    i.add_argument("--json", action="store_true", help="print the manifest summary as JSON")

    v = sub.add_parser("validate", help="check schema, checksums and data of a dataset")
    v.add_argument("path", type=Path)
    v.add_argument("--no-data", action="store_true", help="skip reading every value (faster)")

    s = sub.add_parser("stats", help="recompute stats.json from the train split")
    s.add_argument("path", type=Path)

    sub.add_parser("simulators", help="list registered simulators and their scenes")
    return p


def _cmd_generate(args: argparse.Namespace) -> int:
    from simkit.generate import generate

    res = generate(args.recipe, args.out, workers=args.workers, scheduler=args.scheduler,
                   resume=args.resume, arch=args.arch, progress=not args.no_progress)
    if res.already_complete:
        print(f"{res.root}: already complete ({res.stored} trajectories stored, {res.dropped} "
              f"dropped, {res.shards_reused} shards); nothing written")
        return 0
    print(f"wrote {res.root}: {res.stored} trajectories stored, {res.dropped} dropped, "
          f"{res.shards_written} shards written, {res.shards_reused} reused, "
          f"{res.seconds:.1f} s")
    return 0


def _cmd_info(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from simkit.io import open_dataset

    ds = open_dataset(args.path, verify="size")
    m = ds.manifest
    if args.json:
        summary = {"kind": ds.kind, "simulator": m.simulator, "n_frames": ds.n_frames,
                   "write_interval": ds.write_interval,
                   "splits": {s: len(ds.ids(s)) for s in ds.splits},
                   "dropped": [r["id"] for r in m.trajectories if r["status"] != "ok"],
                   "variables": {v.name: {"dims": list(v.dims), "units": v.units}
                                 for v in ds.schema.variables}}
        print(json.dumps(summary, indent=1))
        return 0
    con = Console()
    size = sum(s["bytes"] for info in m.splits.values() for s in info["shards"])
    con.print(f"[bold]{ds.root}[/]  kind={ds.kind}  simulator={m.simulator.get('name')}"
              f"/{m.simulator.get('scene', '')} v{m.simulator.get('version')}  "
              f"frames={ds.n_frames} every {ds.write_interval:g} s  {size / 2**20:.1f} MiB")
    t = Table("split", "stored", "dropped", "shards")
    for split in ds.splits:
        recs = [r for r in m.trajectories if r["split"] == split]
        t.add_row(split, str(sum(r["status"] == "ok" for r in recs)),
                  str(sum(r["status"] != "ok" for r in recs)), str(len(m.splits[split]["shards"])))
    con.print(t)
    sizes = ds.schema.all_sizes()
    t = Table("variable", "dims", "units", "dtype", "")
    for v in ds.schema.variables:
        t.add_row(v.name, ", ".join(f"{d}={sizes.get(d, 'ragged')}" for d in v.dims),
                  v.units, v.dtype, "static" if v.static else "per frame")
    con.print(t)
    return 0


def _cmd_validate(args: argparse.Namespace) -> int:
    from simkit.io import open_dataset

    ds = open_dataset(args.path, verify="none")
    report = ds.validate(data=not args.no_data)
    if report.ok:
        print(f"{ds.root}: valid ({report.checked['shards']} shards, "
              f"{report.checked['trajectories']} trajectories, checksums"
              f"{'' if args.no_data else ', data'} checked)")
        return 0
    for problem in report.problems:
        print(problem, file=sys.stderr)
    print(f"simkit: error: {ds.root}: {len(report.problems)} problems", file=sys.stderr)
    return 1


def _cmd_stats(args: argparse.Namespace) -> int:
    from simkit.io import open_dataset
    from simkit.io._atomic import atomic_write_text
    from simkit.io.manifest import STATS
    from simkit.io.writer import compute_stats

    ds = open_dataset(args.path)
    stats = compute_stats(ds, "train")
    atomic_write_text(ds.root / STATS, json.dumps(stats, indent=1) + "\n")
    for entry in stats["variables"].values():
        v = entry["value"]
        for c, label in enumerate(entry["components"]):
            print(f"{label:28s} mean {v['mean'][c]: .6g}  std {v['std'][c]: .6g}  "
                  f"min {v['min'][c]: .6g}  max {v['max'][c]: .6g}  [{v['units']}]")
    print(f"wrote {ds.root / STATS} ({stats['n_trajectories']} train trajectories)")
    return 0


def _cmd_simulators(args: argparse.Namespace) -> int:
    from simkit.registry import available_simulators

    for name, scenes in available_simulators().items():
        print(f"{name}: {', '.join(scenes)}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``simkit`` command."""
    args = _parser().parse_args(argv)
    log = logging.getLogger("simkit")
    if not log.handlers:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter("simkit: %(message)s"))
        log.addHandler(handler)
    log.setLevel(logging.INFO if args.debug else logging.WARNING)
    command = {"generate": _cmd_generate, "info": _cmd_info, "validate": _cmd_validate,
               "stats": _cmd_stats, "simulators": _cmd_simulators}[args.command]
    try:
        return command(args)
    except (DatasetError, RecipeError, SimulationDiverged, ArchUnavailable, ValueError,
            FileExistsError, FileNotFoundError, OSError) as exc:
        if args.debug:
            raise
        print(f"simkit: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("simkit: interrupted; `simkit generate ... --resume` completes a dataset",
              file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
