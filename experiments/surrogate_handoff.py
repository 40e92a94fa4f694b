"""Hand a running spectral solver's state to a trained surrogate, and compare.

The command line of :func:`surrogates.handoff.handoff`.

The solver (``spectral_ns``) runs from a fresh random vorticity for the surrogate's
``n_input`` stored frames; the surrogate then rolls out ``--steps`` frames from that
state while the solver goes on to make the truth. Both are timed. The solver is built
with the scene and parameters the checkpoint records for its training data (viscosity,
resolutions, time step, scheme, forcing), so the truth is the same equation solved the
same way; a fresh seed (one no training trajectory used) gives a held-out state.
Writes ``<out>/handoff.png`` (solver, surrogate, difference) and returns the numbers.

``python -m experiments.surrogate_handoff CHECKPOINT --steps 5 --seed 1234``
"""

import argparse
from pathlib import Path

import numpy as np

from surrogates.handoff import handoff


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/handoff"))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--seed", type=int, default=1234)
    args = ap.parse_args()
    res = handoff(args.checkpoint, args.out, steps=args.steps, seed=args.seed)
    print(f"relative L2 per step: {np.round(res['rel_l2'], 3).tolist()} (persistence "
          f"{np.round(res['persistence_rel_l2'], 3).tolist()}); solver {res['solver_s']:.2f} s, "
          f"surrogate {res['surrogate_s']:.3f} s; {res['figure']}")


if __name__ == "__main__":
    main()
