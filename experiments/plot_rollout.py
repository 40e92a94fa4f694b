"""Truth, prediction and error of a trained surrogate on a test trajectory of a dataset.

The command line of :func:`surrogates.plotting.plot_rollout`.

The surrogate (``surrogates.load``) gets the trajectory's first ``n_input`` frames and
rolls out ``--steps`` more; the figure shows one variable (a vector variable's
magnitude, or ``--component``) at a few steps, solid cells blanked when the dataset has
a ``solid`` mask, and the relative L2 error per step of the surrogate and of holding the
last input frame (persistence). Writes ``<out>.png`` and ``<out>.json``.

``python -m experiments.plot_rollout CHECKPOINT DATASET --variable smoke --steps 20``
"""

import argparse
from pathlib import Path

import numpy as np

from surrogates.plotting import plot_rollout


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("dataset", type=Path)
    ap.add_argument("--out", type=Path, default=Path("runs/plot_rollout/rollout"),
                    help="output path without suffix")
    ap.add_argument("--trajectory", default=None, help="test trajectory id (default: the first)")
    ap.add_argument("--variable", default=None)
    ap.add_argument("--component", type=int, default=None,
                    help="of a vector variable (default: its magnitude)")
    ap.add_argument("--steps", type=int, default=None)
    ap.add_argument("--start", type=int, default=0, help="first input frame")
    args = ap.parse_args()
    rec = plot_rollout(args.checkpoint, args.dataset, args.out, trajectory=args.trajectory,
                       variable=args.variable, component=args.component, steps=args.steps,
                       start=args.start)
    for v, e in rec["rel_l2_per_step"].items():
        print(f"{v}: relative L2 per step {np.round(e['surrogate'], 3).tolist()} "
              f"(persistence {np.round(e['persistence'], 3).tolist()})")
    print(rec["figure"])


if __name__ == "__main__":
    main()
