"""Accuracy of a trained GNS on held-out MPM trajectories, with its baselines from the
same run: constant-velocity extrapolation and the MPM itself (its wall time per stored
frame, re-simulating one test trajectory).

Every trajectory of each split is rolled out from its first ``n_velocities + 1``
frames to its last, kinematic particles on their known path. Per split: position MSE
over the first 5 and 20 steps and the whole rollout (LagrangeBench's MSE5, MSE20),
the debiased Sinkhorn divergence, the kinetic-energy error, the read-out error (surge
front or run-out, largest relative error over the frames where the truth has moved),
the particles that left the box, and rollout failures; medians and worst cases over the
trajectories. With ``--double``, the dam break is also run on a scene with twice the
training particles (a wider box at the same resolution) to check the rollout stays
stable. Writes ``<out>/<name>.md`` and ``.json``, and a figure of one test rollout.

``python -m experiments.eval_gns CKPT --data runs/data/water2d --readout surge_front``
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np
import torch

import simkit
from simkit.io import open_dataset
from surrogates.inference import load
from surrogates.particles import metrics
from surrogates.particles.data import free_box
from surrogates.particles.plotting import plot_particle_rollout

#: Frames between Sinkhorn divergences: only the first and the last frame (at
#: LagrangeBench's stride of 10, the log-domain divergences of 2k particles cost several
#: minutes per trajectory on this 2-core CPU).
SINKHORN_STRIDE = 10_000
#: Frames of the twice-as-large scene.
DOUBLE_FRAMES = 120


def _trajectory(ds, tid: str) -> dict:
    traj = ds.trajectory(tid)
    rec = ds.record(tid)
    return {"position": traj.frames["position"], "static": traj.static,
            "walls": free_box(rec),
            "params": rec["params"], "seed": rec["seed"]}


def evaluate(surrogate, ds, split: str, readout: str | None, limit: int | None) -> dict:
    """Per-trajectory reports of the GNS and of constant velocity on ``split``."""
    n_in = surrogate.features.n_velocities + 1
    kin_types = surrogate.info["kinematic_types"]
    rows, example = [], None
    for tid in ds.ids(split)[:limit]:
        t = _trajectory(ds, tid)
        pos, static = t["position"], t["static"]
        kinematic = np.isin(static["particle_type"], kin_types)
        truth = pos[n_in:]
        state = {**static, "position": pos[:n_in], "walls": t["walls"]}
        start = time.perf_counter()
        with torch.no_grad():
            pred, done = _rollout(surrogate, state, truth, kinematic)
        seconds = time.perf_counter() - start
        cv = metrics.constant_velocity_rollout(pos[:n_in], len(truth),
                                               kinematic_future=truth, kinematic=kinematic)
        wall = float(t["walls"][0][0])
        report = {}
        for name, p in (("gns", pred), ("cv", cv.numpy())):
            report[name] = metrics.rollout_report(
                p, truth, mask=~kinematic, mass=static["mass"], dt=surrogate.dt,
                wall=wall if readout else None, readout=readout,
                sinkhorn_stride=SINKHORN_STRIDE)
        lo, hi = t["walls"]
        r = surrogate.features.radius
        outside = ((pred[:, ~kinematic] < lo - r) | (pred[:, ~kinematic] > hi + r)).any(-1)
        rows.append({"trajectory": tid, "particles": int((~kinematic).sum()),
                     "kinematic": int(kinematic.sum()), "steps": len(truth),
                     "completed": done, "left_box": int(outside.any(0).sum()),
                     "gns_s_per_frame": seconds / len(truth), **report})
        print(f"{split} {tid}: {rows[-1]['particles']} particles, {done} of {len(truth)} "
              f"steps in {seconds:.1f} s, MSE20 {report['gns']['mse20']:.3g} (constant "
              f"velocity {report['cv']['mse20']:.3g})", flush=True)
        if example is None:
            example = (truth, pred, cv.numpy(), static["particle_type"])
    return {"rows": rows, "example": example}


def _rollout(surrogate, state: dict, truth: np.ndarray, kinematic: np.ndarray):
    """The GNS rollout with the kinematic particles on their recorded path."""
    from surrogates.particles.module import rollout

    history, types, material, walls, _ = surrogate.tensors(state)
    path = torch.as_tensor(truth, dtype=torch.float32).transpose(0, 1)
    out, done = rollout(surrogate.net, surrogate.features, history, types, material, walls,
                        len(truth), kinematic_path=path)
    return out.transpose(0, 1).numpy(), done


def mpm_seconds_per_frame(surrogate, ds, split: str, frames: int = 20) -> tuple[float, int]:
    """Wall time per stored frame of the MPM re-running the first trajectory of
    ``split`` (after one frame of warm-up and compilation), and its particle count."""
    from simkit.simulators.mpm import MPMSimulator

    tid = ds.ids(split)[0]
    rec = ds.record(tid)
    sim = MPMSimulator.from_scene(surrogate.info["simulator"]["scene"], rec["params"],
                                  seed=rec["seed"])
    dt = surrogate.dt
    sim.advance(dt)
    start = time.perf_counter()
    sim.advance((1 + frames) * dt)
    return (time.perf_counter() - start) / frames, int(sim.positions().shape[0])


def double_scene(surrogate, ds, readout: str | None, frames: int) -> dict:
    """The first test trajectory's scene with its column twice as wide (about twice
    the particles, the same resolution), simulated by the MPM and rolled out by the
    GNS: whether the rollout stays stable and in the box, and its errors."""
    from simkit.simulators.mpm import KINEMATIC_TYPE, MPMSimulator

    rec = ds.record(ds.ids("test")[0])
    params = {**rec["params"], "width": 2 * rec["params"]["width"]}
    sim = MPMSimulator.from_scene(surrogate.info["simulator"]["scene"], params,
                                  seed=rec["seed"])
    pos = [sim.frame()["position"]]
    for k in range(1, frames):
        sim.advance(k * surrogate.dt)
        pos.append(sim.frame()["position"])
    pos = np.stack(pos)
    static = sim.static()
    kinematic = static["particle_type"] == KINEMATIC_TYPE
    walls = free_box(sim.trajectory_record())
    n_in = surrogate.features.n_velocities + 1
    state = {**static, "position": pos[:n_in], "walls": walls}
    with torch.no_grad():
        pred, done = _rollout(surrogate, state, pos[n_in:], kinematic)
    truth = pos[n_in:]
    cv = metrics.constant_velocity_rollout(pos[:n_in], len(truth), kinematic_future=truth,
                                           kinematic=kinematic).numpy()
    r = surrogate.features.radius
    outside = ((pred[:, ~kinematic] < walls[0] - r) | (pred[:, ~kinematic] > walls[1] + r))
    wall = float(walls[0][0])
    return {"params": params, "particles": int((~kinematic).sum()), "steps": len(truth),
            "completed": done, "left_box": int(outside.any(-1).any(0).sum()),
            **{who: metrics.rollout_report(p, truth, mask=~kinematic, mass=static["mass"],
                                           dt=surrogate.dt, wall=wall if readout else None,
                                           readout=readout, sinkhorn_stride=SINKHORN_STRIDE)
               for who, p in (("gns", pred), ("cv", cv))}}


def summarise(rows: list[dict], readout: str | None) -> dict:
    keys = ["mse5", "mse20", "mse_full", "sinkhorn_final", "kinetic_energy_error"]
    if readout:
        keys.append(f"{readout}_error")
    out = {}
    for who in ("gns", "cv"):
        for k in keys:
            v = np.array([r[who][k] for r in rows], dtype=float)
            out[f"{who}_{k}"] = {"median": float(np.nanmedian(v)), "worst": float(np.nanmax(v))}
    out["mse20_ratio_cv_over_gns"] = float(np.median(
        [r["cv"]["mse20"] / r["gns"]["mse20"] for r in rows]))
    out["failures"] = int(sum(r["completed"] < r["steps"] for r in rows))
    out["left_box"] = int(sum(r["left_box"] for r in rows))
    out["gns_s_per_frame"] = float(np.median([r["gns_s_per_frame"] for r in rows]))
    out["trajectories"] = len(rows)
    out["particles"] = [min(r["particles"] for r in rows), max(r["particles"] for r in rows)]
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--splits", default="test,test_ood")
    ap.add_argument("--readout", choices=sorted(metrics.READOUTS), default=None)
    ap.add_argument("--limit", type=int, default=None, help="trajectories per split")
    ap.add_argument("--double", action="store_true",
                    help="also roll out a scene with twice the particles (dam break)")
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    ap.add_argument("--name", default=None)
    args = ap.parse_args()
    torch.set_num_threads(2)
    simkit.init("cpu", "f32", seed=0)  # the MPM baseline, as the recipes generate
    surrogate = load(args.checkpoint)
    name = args.name or f"gns_{args.data.name}"
    result = {"checkpoint": str(args.checkpoint), "dataset": str(args.data),
              "machine": f"{platform.processor() or platform.machine()}, "
                         f"{torch.get_num_threads()} threads",
              "model": surrogate.info["model_config"], "splits": {}}
    with open_dataset(args.data, verify="none") as ds:
        mpm_s, mpm_n = mpm_seconds_per_frame(surrogate, ds, "test")
        result["mpm_s_per_frame"], result["mpm_particles"] = mpm_s, mpm_n
        for split in args.splits.split(","):
            if split not in ds.splits:
                continue
            ev = evaluate(surrogate, ds, split, args.readout, args.limit)
            result["splits"][split] = {"summary": summarise(ev["rows"], args.readout),
                                       "rows": ev["rows"]}
            if split == "test":
                truth, pred, cv, types = ev["example"]
                times = [(surrogate.features.n_velocities + 1 + k) * surrogate.dt
                         for k in range(len(truth))]
                learned = ~np.isin(types, surrogate.info["kinematic_types"])
                plot_particle_rollout(
                    truth, pred, types, surrogate.info["kinematic_types"], times,
                    {"GNS": metrics.position_mse(pred, truth, mask=learned).numpy(),
                     "constant velocity": metrics.position_mse(cv, truth,
                                                               mask=learned).numpy()},
                    args.out / f"{name}.png", title=f"{name}: first test trajectory")
        if args.double:
            result["double"] = double_scene(surrogate, ds, args.readout, DOUBLE_FRAMES)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / f"{name}.json").write_text(json.dumps(result, indent=1, default=float))
    (args.out / f"{name}.md").write_text(markdown(name, result, args.readout))
    print((args.out / f"{name}.md").read_text())


def markdown(name: str, result: dict, readout: str | None) -> str:
    lines = [f"# {name}", "", f"Checkpoint `{result['checkpoint']}` on `{result['dataset']}`; "
             f"model {result['model']}; {result['machine']}.", "",
             f"MPM: {result['mpm_s_per_frame'] * 1e3:.1f} ms per stored frame "
             f"({result['mpm_particles']} particles, first test trajectory).", ""]
    cols = ["mse5", "mse20", "mse_full", "sinkhorn_final", "kinetic_energy_error"]
    if readout:
        cols.append(f"{readout}_error")
    lines += ["| split | who | " + " | ".join(cols) + " |",
              "|---|---|" + "---|" * len(cols)]
    for split, s in result["splits"].items():
        summ = s["summary"]
        for who, label in (("gns", "GNS"), ("cv", "constant velocity")):
            cells = [f"{summ[f'{who}_{c}']['median']:.3g} ({summ[f'{who}_{c}']['worst']:.3g})"
                     for c in cols]
            lines.append(f"| {split} | {label} | " + " | ".join(cells) + " |")
    lines += ["", "Medians over trajectories (worst in brackets); MSE in m^2, Sinkhorn in m^2, "
              "kinetic-energy error relative to the truth's peak, read-out error relative.", ""]
    for split, s in result["splits"].items():
        summ = s["summary"]
        lines.append(f"- {split}: {summ['trajectories']} trajectories of {summ['particles'][0]}-"
                     f"{summ['particles'][1]} particles; MSE20 of constant velocity / GNS "
                     f"(median) {summ['mse20_ratio_cv_over_gns']:.1f}; failures "
                     f"{summ['failures']}; particles that left the box {summ['left_box']}; "
                     f"GNS {summ['gns_s_per_frame'] * 1e3:.1f} ms per frame.")
    if "double" in result:
        d = result["double"]
        lines += ["", f"Twice the particles: the first test trajectory's scene with its column "
                  f"twice as wide ({d['particles']} particles): {d['completed']} of "
                  f"{d['steps']} steps completed, {d['left_box']} particles left the box; "
                  f"MSE20 {d['gns']['mse20']:.3g} (constant velocity {d['cv']['mse20']:.3g}), "
                  f"full rollout {d['gns']['mse_full']:.3g} ({d['cv']['mse_full']:.3g})."]
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
