"""The dataset card (``README.md``): what a person reads before using the data."""

from __future__ import annotations

import json
from typing import Any

from simkit.io.manifest import Manifest

__all__ = ["render_card"]


def _table(header: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def render_card(manifest: Manifest, *, description: str = "") -> str:
    """Markdown card: equations/BCs (``description``), variables and units, splits,
    parameter ranges, provenance, and how to load the data."""
    sim = manifest.simulator
    schema = manifest.schema
    title = f"{sim.get('name', 'unknown')}" + (f" / {sim['scene']}" if sim.get("scene") else "")
    split_rows = []
    for split in manifest.splits:
        recs = [r for r in manifest.trajectories if r["split"] == split]
        split_rows.append([split, sum(r["status"] == "ok" for r in recs),
                           sum(r["status"] != "ok" for r in recs),
                           len(manifest.splits[split]["shards"])])
    sizes = schema.all_sizes()
    var_rows = [[f"`{v.name}`", "(" + ", ".join(
        (["trajectory"] if not schema.is_ragged(v) else []) + ([] if v.static else ["time"])
        + [f"{d}={sizes.get(d, 'ragged')}" for d in v.dims]) + ")",
        v.units, "static" if v.static else "per frame", v.dtype,
        v.long_name + (f" (codes: {', '.join(f'{i}={m}' for i, m in enumerate(v.flag_meanings))})"
                       if v.flag_meanings else "")] for v in schema.variables]
    recipe = manifest.recipe
    prov = manifest.provenance
    parts = [
        f"# Dataset: {title}",
        "",
        description.strip() or "_No description was given by the simulator._",
        "",
        "## Contents",
        "",
        f"- format: simkit dataset v1, kind `{schema.kind}`",
        f"- frames per trajectory: {manifest.n_frames}, every {manifest.write_interval:g} s",
        f"- simulator: `{sim.get('name')}` version {sim.get('version')}",
        "",
        _table(["split", "stored", "failed/dropped", "shards"], split_rows),
        "",
        "## Variables (SI units)",
        "",
        _table(["name", "dims", "units", "time", "dtype", "description"], var_rows),
        "",
    ]
    if schema.ragged_dim:
        parts += [f"`{schema.ragged_dim}` is ragged: each trajectory's elements are contiguous "
                  f"and `{schema.ragged_dim}_count(trajectory)` holds their number "
                  "(CF contiguous ragged array).", ""]
    if schema.tables:
        for t, cols in schema.tables.items():
            rows = [list(r) for r in zip(*cols.values(), strict=True)]
            parts += [f"Table `{t}`:", "", _table(list(cols), rows), ""]
    if recipe:
        rows = [[f"`{k}`", "fixed", f"`{v}`", "all"] for k, v in recipe.get("fixed", {}).items()]
        rows += [[f"`{k}`", *next(iter(d.items())), "all"]
                 for k, d in recipe.get("sampled", {}).items()]
        for split, spec in recipe.get("splits", {}).items():
            if isinstance(spec, dict):
                rows += [[f"`{k}`", *next(iter(d.items())), split]
                         for k, d in spec.get("sampled", {}).items()]
        parts += ["## Parameters", "",
                  "The values each trajectory used are stored with it (`param_<name>` in the "
                  "shards, `params` in the manifest). A split-specific range overrides the "
                  "common one for that split (out-of-distribution splits).", "",
                  _table(["parameter", "distribution", "range / value", "splits"], rows), "",
                  f"Master seed `{recipe.get('seed')}`; failures: "
                  f"`{json.dumps(recipe.get('on_failure', {}), sort_keys=True)}`.", ""]
    parts += ["## Provenance", "",
              _table(["key", "value"], [[k, f"`{v}`"] for k, v in sorted(prov.items())]), "",
              "## Loading", "",
              "```python",
              "import simkit.io",
              "ds = simkit.io.open_dataset('.')          # verifies checksums",
              "traj = ds.trajectory(ds.ids('train')[0])  # numpy, frames first",
              "xr_train = ds.split_xarray('train')       # xarray.open_mfdataset",
              "windows = simkit.io.WindowDataset(ds, 'train', n_input=1, n_output=1)",
              "```", ""]
    return "\n".join(parts)
