"""MPM throughput benchmark (``make bench``): our engine against Taichi's own examples.

Particle-steps per second (particles x substeps / wall seconds, after a warm-up that
compiles) on the same scene, particle count, grid and time step:

1. 2D, Taichi's ``mpm99`` example (fluid, jelly and snow blocks; SVD per particle)
   at quality 1 (9k particles, 128^2 grid) and quality 3 (81k particles, 384^2), against
   our ``mpm99`` scene running the full material pipeline (material table lookup,
   signed SVD, guards, colliders).
2. 3D, Taichi's ``mpm3d`` example at its 64^3 setting (65k particles, J-based fluid),
   against the same particles in our engine (``fluid`` model, linear equation of state).
3. 3D sand (Drucker-Prager with volume correction, about 100k particles, 64^3), ours
   only: the cost of the most expensive return map.

The examples ship inside the taichi wheel; they are imported unchanged except that
``ti.init`` is replaced by a CPU call (their ``ti.init(arch=ti.gpu)`` fails without a
GPU) and their resolution line is set as listed. Baseline and ours alternate, each
going first in every other round, for ``--repeats`` rounds; the table reports medians. Results go to
``<out>/mpm_bench.md`` and ``<out>/mpm_bench.json``.
"""

import argparse
import importlib.util
import statistics
import time
import types
from pathlib import Path

import numpy as np
import taichi as ti

import simkit
from simkit.benchmark import machine_line, utc_date, write_results
from simkit.simulators.mpm import MPM, MPMConfig, Particles, build_scene, material

EXAMPLES = Path(ti.__file__).parent / "examples" / "simulation"


def load_example(name: str, replace: dict[str, str]) -> types.ModuleType:
    """Import ``taichi/examples/simulation/<name>.py`` on the CPU with lines replaced.

    Replacements keep the line count, so Taichi still finds each kernel's source.
    """
    path = EXAMPLES / f"{name}.py"
    source = path.read_text()
    for old, new in {"ti.init(arch=ti.gpu)": "ti.init(arch=ti.cpu)", **replace}.items():
        if old not in source:
            raise RuntimeError(f"{path}: expected the line {old!r}; the example changed")
        source = source.replace(old, new)
    spec = importlib.util.spec_from_file_location(f"_bench_{name}", path)
    module = importlib.util.module_from_spec(spec)
    exec(compile(source, str(path), "exec"), module.__dict__)
    return module


def rate(step, n_particles: int, substeps: int) -> float:
    """Particle-steps per second of ``substeps`` calls of ``step`` (after syncing)."""
    ti.sync()
    t0 = time.perf_counter()
    for _ in range(substeps):
        step()
    ti.sync()
    return n_particles * substeps / (time.perf_counter() - t0)


def baseline_mpm99(quality: int, substeps: int) -> tuple[float, int]:
    m = load_example("mpm99", {"quality = 1": f"quality = {quality}"})
    m.initialize()
    for _ in range(20):
        m.substep()
    return rate(m.substep, m.n_particles, substeps), m.n_particles


def ours_mpm99(quality: int, substeps: int) -> tuple[float, int]:
    simkit.init("cpu", "f32", seed=0)
    built = build_scene("mpm99", {"quality": quality}, seed=0)
    sim = MPM(built.config, built.particles, built.colliders)
    for _ in range(20):
        sim.substep()
    return rate(sim.substep, sim.n_particles, substeps), sim.n_particles


def baseline_mpm3d(substeps: int) -> tuple[float, int]:
    m = load_example("mpm3d", {"dim, n_grid, steps, dt = 3, 32, 25, 4e-4":
                               "dim, n_grid, steps, dt = 3, 64, 25, 2e-4"})
    m.init()
    for _ in range(20):
        m.substep()
    return rate(m.substep, m.n_particles, substeps), m.n_particles


def ours_mpm3d(substeps: int) -> tuple[float, int]:
    """mpm3d's scene: 64^3 grid, n_grid^3 / 4 particles uniform in [0.15, 0.55]^3."""
    simkit.init("cpu", "f32", seed=0)
    n_grid, dx = 64, 1 / 64
    n = n_grid**3 // 4
    x = np.random.default_rng(0).random((n, 3)) * 0.4 + 0.15
    fluid = material("fluid", density=1.0, bulk_modulus=400.0, viscosity=0.0, gamma=0.0)
    config = MPMConfig(dim=3, n_grid=n_grid, gravity=(0.0, -9.8, 0.0), dt=2e-4, wall_cells=3)
    sim = MPM(config, Particles(x, 0.0, (dx * 0.5) ** 2, 0, 0, [fluid]))
    for _ in range(20):
        sim.substep()
    return rate(sim.substep, sim.n_particles, substeps), sim.n_particles


def ours_sand3d(substeps: int) -> tuple[float, int]:
    simkit.init("cpu", "f32", seed=0)
    built = build_scene("column_collapse", {"dim": 3, "n_grid": 64, "width": 0.3, "aspect": 1.0,
                                            "depth": 0.3, "ppc": 10.0}, seed=0)
    sim = MPM(built.config, built.particles, built.colliders)
    for _ in range(20):
        sim.substep()
    return rate(sim.substep, sim.n_particles, substeps), sim.n_particles


def run(repeats: int, substeps: int) -> dict:
    cases = [
        ("2D mpm99 q=1", lambda: baseline_mpm99(1, substeps), lambda: ours_mpm99(1, substeps)),
        ("2D mpm99 q=3", lambda: baseline_mpm99(3, substeps // 4),
         lambda: ours_mpm99(3, substeps // 4)),
        ("3D mpm3d 64^3", lambda: baseline_mpm3d(substeps // 8),
         lambda: ours_mpm3d(substeps // 8)),
        ("3D sand (Drucker-Prager)", None, lambda: ours_sand3d(substeps // 8)),
    ]
    rows = []
    for name, base, ours in cases:
        b_rates, o_rates, n_b, n_o = [], [], 0, 0
        for k in range(repeats):
            # alternate which one goes first, so that neither always gets the warmer machine
            first_ours = k % 2 == 1
            if first_ours:
                r, n_o = ours()
                o_rates.append(r)
            if base is not None:
                r, n_b = base()
                b_rates.append(r)
            if not first_ours:
                r, n_o = ours()
                o_rates.append(r)
            print(f"{name}: baseline {b_rates[-1] if b_rates else float('nan'):.3g}, "
                  f"ours {o_rates[-1]:.3g} particle-steps/s", flush=True)
        b = statistics.median(b_rates) if b_rates else None
        o = statistics.median(o_rates)
        rows.append({"case": name, "particles_baseline": n_b or None, "particles_ours": n_o,
                     "baseline": b, "ours": o, "ratio": o / b if b else None,
                     "baseline_all": b_rates, "ours_all": o_rates})
    return {"machine": machine_line(), "arch": "cpu (x64)", "precision": "f32",
            "taichi": ".".join(str(v) for v in ti.__version__), "repeats": repeats,
            "date": utc_date(), "rows": rows}


def render(res: dict) -> str:
    lines = [
        "# MPM throughput (particle-steps per second)", "",
        f"Machine: {res['machine']}; Taichi {res['taichi']} on {res['arch']}, "
        f"{res['precision']}. Run {res['date']}; medians of {res['repeats']} alternating "
        "rounds. Baselines: Taichi's own mpm99 / mpm3d examples from the wheel, same scene, "
        "particles, grid and dt. Produced by `python -m experiments.bench_mpm`.", "",
        "| case | particles | baseline | ours (full material pipeline) | ours / baseline |",
        "|---|---:|---:|---:|---:|",
    ]
    for r in res["rows"]:
        base = f"{r['baseline']:.3g}" if r["baseline"] else "n/a"
        ratio = f"{r['ratio']:.2f}" if r["ratio"] else "n/a"
        lines.append(f"| {r['case']} | {r['particles_ours']} | {base} | {r['ours']:.3g} | "
                     f"{ratio} |")
    lines += ["", "GPU (3D at 1M particles, goal 1e9 particle-steps/s on an H100): not measured "
              "here; this machine has no GPU.", ""]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--substeps", type=int, default=400)
    args = ap.parse_args()
    res = run(args.repeats, args.substeps)
    write_results(args.out, "mpm_bench", res, render(res), echo=True)


if __name__ == "__main__":
    main()
