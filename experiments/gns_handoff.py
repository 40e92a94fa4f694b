"""Hand a running MPM simulation's state to a trained GNS, run both on, and compare.

The command line of :func:`surrogates.particles.handoff.handoff`. The MPM runs the
scene of the checkpoint's training data (the parameters that varied between training
trajectories from ``--param name=value``, or from the first test trajectory of the
training dataset) for the GNS's frames in; both then go on for ``--steps`` frames.
Writes ``<out>/gns_handoff.png`` (MPM and GNS side by side, the error over time against
constant velocity) and prints the errors and wall times.

``python -m experiments.gns_handoff CHECKPOINT --steps 100 --param width=0.25``
"""

import argparse
from pathlib import Path

import numpy as np
import yaml

import simkit
from surrogates.particles.handoff import handoff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/gns_handoff"))
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--seed", type=int, default=1234)
    ap.add_argument("--param", action="append", default=[], metavar="NAME=VALUE",
                    help="a scene parameter (YAML value), repeatable")
    args = ap.parse_args()
    params = {}
    for item in args.param:
        name, sep, value = item.partition("=")
        if not sep:
            ap.error(f"--param must be NAME=VALUE, got {item!r}")
        params[name] = yaml.safe_load(value)
    simkit.init("cpu", "f32", seed=0)
    res = handoff(args.checkpoint, args.out, steps=args.steps, params=params, seed=args.seed)
    k = [0, len(res["mse"]) // 2, len(res["mse"]) - 1]
    print(f"{res['n_particles']} particles; position MSE at frames {[i + 1 for i in k]}: GNS "
          f"{np.array(res['mse'])[k].tolist()}, constant velocity "
          f"{np.array(res['cv_mse'])[k].tolist()}; MPM {res['mpm_s']:.2f} s, GNS "
          f"{res['gns_s']:.2f} s; {res['figure']}")


if __name__ == "__main__":
    main()
