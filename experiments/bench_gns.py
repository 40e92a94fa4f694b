"""Speed of the graph network simulator against the MPM it learns from, in one run.

1. Training throughput on a ``particles`` dataset: graphs per second of one optimizer
   step (batch of ``--batch-size`` graphs), with its parts timed apart: reading the
   window, the neighbour search (``radius_graph``), the rest of the features, and the
   network's forward, backward and update. The neighbour search's share of a step is
   the issue's check (at most 25%).
2. Rollout time per frame of the GNS against the MPM's time per stored frame, on dam
   breaks of about 1k, 10k and 100k particles at the training resolution (the box grows
   with the particle count, the cell size stays), after a warm-up frame each.

Medians over ``--repeat`` repeats; the network is the checkpoint's, or an untrained one
of the given size (speed does not depend on the weights). Writes
``<out>/gns_bench.md`` and ``.json``.

``python -m experiments.bench_gns --data runs/data/water2d [--checkpoint CKPT]``
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
from surrogates.graph import radius_graph
from surrogates.models.gns import GNS
from surrogates.particles.data import ParticleDataModule
from surrogates.particles.features import ParticleFeatures
from surrogates.particles.module import rollout

SIZES = (1_000, 10_000, 100_000)


def _median_time(fn, repeat: int) -> float:
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def training_throughput(data: ParticleDataModule, net: GNS, features: ParticleFeatures,
                        batch_size: int, repeat: int) -> dict:
    """Seconds per training step and its parts, graphs per second."""
    windows = data._windows("train", 1, data.stride)
    from surrogates.particles.data import _trajectory_item

    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    rng = np.random.default_rng(0)
    parts = {"read": [], "neighbours": [], "features": [], "network": []}
    for _ in range(repeat):
        t0 = time.perf_counter()
        items = [_trajectory_item(windows[int(i)], data.material, data.walls)
                 for i in rng.integers(len(windows), size=batch_size)]
        t1 = time.perf_counter()
        for it in items:
            radius_graph(it["history"][:, -1], features.radius,
                         max_neighbours=features.max_neighbours)
        t2 = time.perf_counter()
        graphs = [features.graph(it["history"], it["particle_type"], it["material"],
                                 it["walls"]) for it in items]  # builds the graph again
        targets = [features.target(it["history"], it["truth"][:, 0]) for it in items]
        t3 = time.perf_counter()
        opt.zero_grad()
        loss = sum(torch.nn.functional.mse_loss(net(x, it["particle_type"], ei, ea), y)
                   for (x, ei, ea), it, y in zip(graphs, items, targets, strict=True))
        loss.backward()
        opt.step()
        t4 = time.perf_counter()
        for k, v in zip(parts, (t1 - t0, t2 - t1, (t3 - t2) - (t2 - t1), t4 - t3),
                        strict=True):
            parts[k].append(v)
    med = {k: float(np.median(v)) for k, v in parts.items()}
    step = sum(med.values())
    return {"batch_size": batch_size, "step_s": step, "graphs_per_s": batch_size / step,
            "parts_s": med, "neighbour_share": med["neighbours"] / step,
            "particles": int(np.mean([it["history"].shape[0] for it in items]))}


def dam_break(n_particles: int, write_interval: float):
    """A dam break of about ``n_particles`` at n_grid 64 per metre (dx = 1/64 m)."""
    from simkit.simulators.mpm import MPMSimulator

    area = n_particles / 4 / 64**2  # 4 particles per cell
    side = float(np.sqrt(area))
    domain = max(1.0, 2.5 * side)
    return MPMSimulator.from_scene("dam_break", {
        "n_grid": int(round(64 * domain)), "domain": domain, "width": side,
        "height": side}, seed=0)


def rollout_against_mpm(net: GNS, features: ParticleFeatures, material: list[str],
                        repeat: int) -> list[dict]:
    out = []
    dt = features.write_interval
    for n in SIZES:
        sim = dam_break(n, dt)
        n_in = features.n_velocities + 1
        frames = [sim.frame()["position"]]
        for k in range(1, n_in + 1):
            sim.advance(k * dt)  # the last one compiles and warms up
            frames.append(sim.frame()["position"])
        t_mpm = _median_time(lambda s=sim: s.advance(s.time + dt), repeat)
        static = sim.static()
        history = torch.as_tensor(np.stack(frames[-n_in:]), dtype=torch.float32).transpose(0, 1)
        types = torch.as_tensor(static["particle_type"]).long()
        mat = torch.stack([torch.as_tensor(static[m], dtype=torch.float32) for m in material],
                          dim=1)
        walls = torch.tensor([[sim.config.wall_cells * sim.config.dx] * 2,
                              [sim.config.domain - sim.config.wall_cells * sim.config.dx] * 2],
                             dtype=torch.float32)[None]
        with torch.no_grad():
            rollout(net, features, history, types, mat, walls, 1)  # warm-up
            t_gns = _median_time(lambda h=history, t=types, m=mat, w=walls:
                                 rollout(net, features, h, t, m, w, 1), repeat)
        out.append({"particles": int(len(types)), "mpm_s_per_frame": t_mpm,
                    "gns_s_per_frame": t_gns, "gns_over_mpm": t_gns / t_mpm})
        sim.close()
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data", type=Path, required=True)
    ap.add_argument("--checkpoint", type=Path, default=None)
    ap.add_argument("--latent", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--batch-size", type=int, default=2)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    args = ap.parse_args()
    torch.set_num_threads(2)
    simkit.init("cpu", "f32", seed=0)
    data = ParticleDataModule(str(args.data))
    if args.checkpoint is not None:
        from surrogates.inference import load

        s = load(args.checkpoint)
        net, features = s.net, s.features
    else:
        features = ParticleFeatures(**data.features)
        net = GNS(features.node_features, features.edge_features, features.dim,
                  latent=args.latent, message_passing_steps=args.steps,
                  n_particle_types=len(data.particle_types))
    result = {"machine": f"{platform.processor() or platform.machine()}, 2 torch threads, "
                         "Taichi on cpu",
              "model": net.config, "radius": features.radius,
              "training": training_throughput(data, net, features, args.batch_size,
                                              args.repeat),
              "rollout": rollout_against_mpm(net.eval(), features, data.material, args.repeat)}
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "gns_bench.json").write_text(json.dumps(result, indent=1))
    tr = result["training"]
    lines = ["# GNS speed against the MPM", "",
             f"{result['machine']}; GNS latent {net.config['latent']}, "
             f"{net.config['message_passing_steps']} message-passing steps, radius "
             f"{features.radius:g} m; medians of {args.repeat}.", "",
             "## Training step", "",
             f"Batch of {tr['batch_size']} graphs of ~{tr['particles']} particles from "
             f"`{args.data}`: {tr['step_s'] * 1e3:.0f} ms per step, "
             f"{tr['graphs_per_s']:.2f} graphs/s.", "",
             "| part | ms | share |", "|---|---|---|"]
    for k, v in tr["parts_s"].items():
        lines.append(f"| {k} | {v * 1e3:.1f} | {v / tr['step_s']:.0%} |")
    lines += ["", "## Rollout against the MPM (dam break, dx = 1/64 m)", "",
              "| particles | MPM ms per stored frame | GNS ms per frame | GNS / MPM |",
              "|---|---|---|---|"]
    for r in result["rollout"]:
        lines.append(f"| {r['particles']} | {r['mpm_s_per_frame'] * 1e3:.1f} | "
                     f"{r['gns_s_per_frame'] * 1e3:.1f} | {r['gns_over_mpm']:.2f} |")
    (args.out / "gns_bench.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
