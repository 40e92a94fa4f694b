"""Learning to relax: online choice of the SSOR ``omega`` along a heat-equation simulation.

The sequence is :func:`solvers.heat.heat_sequence` (Khodak et al., ICLR 2024, Sec. 6):
Crank-Nicolson steps of a 2D heat equation with a time-varying diffusion coefficient,
``A_t = K + c_t I`` on ``n x n`` unknowns. Each system is solved by SSOR-preconditioned
CG (``solvers.cg``, warm-started from the previous solution, true relative residual
``--rtol``) with ``omega`` from the paper's grid ``linspace(1, 1.95, 20)``, chosen by:

* every fixed ``omega`` of the grid (one sweep; it gives ``omega = 1`` and the best fixed
  ``omega`` in hindsight, and the per-system minimum over the grid, an approximate
  instance-optimal lower reference);
* Tsallis-INF (bandit, sees only iteration counts);
* ChebCB and Tsallis-INF-CB (contextual bandits given the shift ``c_t``, in log scale).

Wall time is per system: choosing ``omega``, SSOR setup, CG and the policy update
(generating the sequence is not counted). Results: ``<out>/relax_bench.md``, ``.json``
and ``.png`` (cumulative iterations against the system index, and the chosen ``omega``).
"""

import argparse
import time
from pathlib import Path

import numpy as np

from simkit.benchmark import machine_line, utc_date, write_results
from solvers.heat import heat_sequence
from solvers.relax import (
    ChebCB,
    TsallisINF,
    TsallisINFCB,
    fixed_omega_sweep,
    paper_grid,
    tune_sequence,
)


def run(n: int, steps: int, stop_time: float, grid_size: int, seed: int, trials: int,
        rtol: float) -> dict:
    seq = heat_sequence(n=n, steps=steps, stop_time=stop_time, seed=seed)
    grid = paper_grid(grid_size)
    context_range = (float(seq.shifts.min()), float(seq.shifts.max()))
    t0 = time.perf_counter()
    sweep = fixed_omega_sweep(seq, grid, rtol=rtol)
    sweep_s = time.perf_counter() - t0
    best_omega, best_total = sweep.best()
    k_best = int(np.argmin(sweep.totals))
    k_one = int(np.flatnonzero(grid == 1.0)[0])
    rows = [
        {"policy": "omega = 1", "omega": "1", "iterations": sweep.iterations[:, k_one],
         "seconds": sweep.seconds[:, k_one], "omegas": np.full(steps, 1.0)},
        {"policy": "best fixed omega (hindsight)", "omega": f"{best_omega:.3f}",
         "iterations": sweep.iterations[:, k_best], "seconds": sweep.seconds[:, k_best],
         "omegas": np.full(steps, best_omega)},
    ]
    policies = {
        "Tsallis-INF": lambda s: TsallisINF(grid, seed=s),
        "ChebCB": lambda s: ChebCB(grid, context_range, log_context=True, seed=s),
        "Tsallis-INF-CB (6 bins)": lambda s: TsallisINFCB(grid, context_range, bins=6,
                                                            log_context=True, seed=s),
    }
    for name, make in policies.items():
        for trial in range(trials):
            r = tune_sequence(seq, make(trial), rtol=rtol)
            if not r.converged:
                raise RuntimeError(f"{name} (trial {trial}) did not converge on every system")
            chosen = f"{r.omegas.mean():.3f} +- {r.omegas.std():.3f}"
            rows.append({"policy": name, "trial": trial, "omega": f"mean {chosen}",
                         "iterations": r.iterations, "seconds": r.seconds,
                         "omegas": r.omegas})
    one = rows[0]
    for row in rows:
        row["total_iterations"] = int(np.sum(row["iterations"]))
        row["total_seconds"] = float(np.sum(row["seconds"]))
        row["iterations_vs_omega1"] = one["total_iterations"] / row["total_iterations"]
        row["seconds_vs_omega1"] = one["total_seconds"] / row["total_seconds"]
        row["iterations_vs_best_fixed"] = row["total_iterations"] / best_total
    return {"machine": machine_line(gpu=False), "date": utc_date(),
            "config": {"n": n, "unknowns": n * n, "steps": steps, "stop_time_s": stop_time,
                       "dt_s": seq.dt, "grid": grid.tolist(), "seed": seed, "trials": trials,
                       "rtol": rtol, "context_range_per_m2": list(context_range)},
            "sweep": {"totals": sweep.totals.tolist(), "seconds": sweep.seconds.sum(0).tolist(),
                      "wall_s": sweep_s, "instance_optimal": sweep.instance_optimal(),
                      "instance_optimal_per_system": sweep.iterations.min(1).tolist()},
            "rows": rows}


def render(r: dict) -> str:
    c = r["config"]
    lines = ["# Learning to relax: SSOR omega chosen online along a 2D heat simulation", "",
             f"Machine: {r['machine']}. Run {r['date']}. Produced by "
             "`python -m experiments.bench_relax`.", "",
             f"Sequence: `heat_sequence(n={c['n']}, steps={c['steps']}, "
             f"stop_time={c['stop_time_s']:g}, seed={c['seed']})`: {c['steps']} Crank-Nicolson "
             f"systems `A_t = K + c_t I` with {c['unknowns']} unknowns, dt = {c['dt_s']:g} s, "
             f"c_t in [{c['context_range_per_m2'][0]:.3g}, {c['context_range_per_m2'][1]:.3g}]"
             " 1/m^2. SSOR-preconditioned CG (`solvers.cg`) to a true relative residual of "
             f"{c['rtol']:g}, warm-started; grid of {len(c['grid'])} omegas in "
             f"[{c['grid'][0]:g}, {c['grid'][-1]:g}]. Bandits: {c['trials']} trial(s) each "
             "(seed = trial).", "",
             "Columns: cumulative iterations and wall time (choose + SSOR setup + CG + "
             "update, summed over systems); `x fewer than omega=1` = (omega = 1 total) / "
             "(policy total), for iterations and for wall time; `vs best fixed` = "
             "(policy iterations) / (best fixed omega's iterations).", "",
             "| policy | trial | omega | iterations | wall s | x fewer iterations than "
             "omega=1 | x less wall time than omega=1 | vs best fixed |",
             "|---|---|---|---|---|---|---|---|"]
    for row in r["rows"]:
        lines.append(f"| {row['policy']} | {row.get('trial', '-')} | {row['omega']} | "
                     f"{row['total_iterations']} | {row['total_seconds']:.2f} | "
                     f"{row['iterations_vs_omega1']:.2f} | {row['seconds_vs_omega1']:.2f} | "
                     f"{row['iterations_vs_best_fixed']:.3f} |")
    s = r["sweep"]
    one = r["rows"][0]["total_iterations"]
    best = r["rows"][1]["total_iterations"]
    lines.append(f"| instance-optimal on the grid (approx., per-system min of the sweep) | - | "
                 f"- | {s['instance_optimal']} | - | {one / s['instance_optimal']:.2f} | - | "
                 f"{s['instance_optimal'] / best:.3f} |")
    lines += ["", "Fixed-omega sweep (cumulative iterations): " + ", ".join(
        f"{w:.2f}: {t}" for w, t in zip(c["grid"], s["totals"], strict=True)) + ".", "",
        "Goal (issue): at least 2x fewer total iterations than omega = 1 (the paper "
        "reports 2.4x in wall time)."]
    return "\n".join(lines) + "\n"


def plot(r: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax, bx) = plt.subplots(2, 1, figsize=(8, 8), sharex=True,
                                 gridspec_kw={"height_ratios": [2, 1]})
    seen = set()
    for row in r["rows"]:
        key = row["policy"]
        if key in seen:  # first trial only
            continue
        seen.add(key)
        label = f"{key} ({row['omega']})" if "fixed" in key else key
        (line,) = ax.plot(np.cumsum(row["iterations"]), label=label)
        if "fixed" not in key and key != "omega = 1":
            bx.plot(row["omegas"], ".", ms=2, color=line.get_color(), label=key)
    ax.plot(np.cumsum(r["sweep"]["instance_optimal_per_system"]), "k--", lw=1,
            label="instance-optimal on the grid (approx.)")
    ax.set_ylabel("cumulative CG iterations")
    ax.legend(fontsize=8)
    ax.set_title(f"SSOR-PCG on {r['config']['steps']} heat-equation systems, "
                 f"n = {r['config']['n']}^2")
    bx.axhline(float(r["rows"][1]["omega"]), color="k", lw=1, label="best fixed")
    bx.set_xlabel("system (time step)")
    bx.set_ylabel("chosen omega")
    bx.legend(fontsize=7, markerscale=4)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def jsonable(r: dict) -> dict:
    out = dict(r)
    out["rows"] = [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in row.items()}
                   for row in r["rows"]]
    return out


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path("experiments/results"))
    ap.add_argument("--n", type=int, default=99, help="interior points per side (paper: 99)")
    ap.add_argument("--steps", type=int, default=500)
    ap.add_argument("--stop-time", type=float, default=1.0, help="simulated seconds")
    ap.add_argument("--grid", type=int, default=20, help="omegas in [1, 1.95]")
    ap.add_argument("--seed", type=int, default=0, help="seed of the sequence")
    ap.add_argument("--trials", type=int, default=2, help="seeds per bandit")
    ap.add_argument("--rtol", type=float, default=1e-8)
    args = ap.parse_args(argv)
    result = run(args.n, args.steps, args.stop_time, args.grid, args.seed, args.trials,
                 args.rtol)
    write_results(args.out, "relax_bench", jsonable(result), render(result), echo=True)
    plot(result, args.out / "relax_bench.png")


if __name__ == "__main__":
    main()
