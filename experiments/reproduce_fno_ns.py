"""The FNO paper's Navier-Stokes benchmark (nu = 1e-3) with this toolkit.

Learning curve, zero-shot super-resolution and NeuralStagger against its base model.

Li et al. (2021), section 5.3, nu = 1e-3: vorticity on the unit torus with forcing
``0.1 (sin 2 pi (x + y) + cos 2 pi (x + y))`` from Gaussian random initial fields; frames
at t = 0 .. 9 in, t = 10 .. 49 predicted autoregressively; the error is the relative L2
of each predicted frame, averaged over the 40 frames and the test trajectories. FNO-2D:
1.28% with 1000 training trajectories (and 200 for testing).

Subcommands, each writing under ``--work``:

``generate``  the recipe ``data/recipes/ns2d_nu1e-3.yaml`` with the command line's
              splits, grids, time step, scheme, seed and compression, run through
              ``simkit.generate`` (``--workers`` Dask processes) once per stored
              resolution (spectral truncation): simkit datasets ``<name>_<m>``.
``train``     :class:`GridSurrogate` on the first ``--n-train`` train trajectories with
              the paper's loss (all 40 frames, gradient through the rollout; or every
              window of ``--train-calls`` calls), optionally the physics-constrained
              loss (``--physics``), for a wall-clock budget: the epoch count is fixed
              up front from timed steps, so the cosine schedule runs to its end; the
              checkpoint is the best validation rollout. Writes ``train/<tag>.json``.
``evaluate``  ``surrogates.load(checkpoint).rollout`` on test trajectories (the path a
              user's code takes), and the time per rollout on the device. Writes
              ``eval/<tag>.json``.
``report``    the markdown and JSON tables of all ``train`` and ``evaluate`` records.
``check-solver``  stored 64^2 frames of cheaper solver set-ups against a fine reference
              (which grid and time step the data needs); writes ``--out/<name>.md``.
"""

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from simkit.benchmark import machine_line, utc_date, write_results
from simkit.generate import generate as simkit_generate
from simkit.io import open_dataset
from simkit.recipe import Recipe, load_recipe
from simkit.simulators.spectral_ns import (
    SpectralNS2D,
    downsample,
    forcing_field,
    gaussian_random_field,
)
from surrogates.timing import rollout_seconds

N_INPUT, N_PREDICT, FRAMES = 10, 40, 51  # frames t = 0 .. 50, one per second
NU, AMPLITUDE = 1e-3, 0.1


#: The FNO data recipe; ``generate`` runs it with the command line's overrides.
RECIPE = Path(__file__).resolve().parents[1] / "data" / "recipes" / "ns2d_nu1e-3.yaml"


def ns_recipe(splits: dict[str, int], resolution: int, stored: int, dt: float, scheme: str,
              seed: int | None, codec: str | None) -> Recipe:
    """:data:`RECIPE` with the given splits, solver grid, stored grid, time step, scheme,
    master seed (``None``: the recipe's) and shard compression (``None``: none); frames
    t = 0 .. 50, one per second, whatever the file says."""
    base = load_recipe(RECIPE).to_json()
    base["fixed"] = {**base["fixed"], "resolution": resolution, "stored_resolution": stored,
                     "viscosity": NU, "forcing_amplitude": AMPLITUDE, "dt": dt,
                     "scheme": scheme}
    base["storage"] = {**base["storage"], "compression": codec or "none",
                       "shuffle": codec is not None}
    return Recipe.from_dict({**base, "splits": dict(splits), "frames": FRAMES,
                             "write_interval": 1.0,
                             "seed": base["seed"] if seed is None else seed})


def generate(work: Path, name: str, splits: dict[str, int], resolution: int,
             stored: list[int], dt: float, scheme: str, seed: int | None, codec: str | None,
             workers: int) -> None:
    """One dataset ``<work>/<name>_<m>`` per stored grid ``m``, each through
    :func:`simkit.generate.generate` (``simkit generate``'s seed rule: trajectory ``i``
    of a split starts from the same initial field in every one of them, so the stored
    grids hold the same flows; each is solved again)."""
    for m in stored:
        recipe = ns_recipe(splits, resolution, m, dt, scheme, seed, codec)
        res = simkit_generate(recipe, work / f"{name}_{m}", workers=workers, progress=False)
        print(f"generate {name}_{m}: {res.stored} trajectories in {res.seconds:.1f} s "
              f"({res.dropped} dropped)", flush=True)


def check_seed(seed: int, index: int) -> int:
    """Initial field ``index`` of ``check-solver``."""
    return int(np.random.SeedSequence([seed, sum(map(ord, "check")), index])
               .generate_state(1, np.uint32)[0])


def _model_setup(model: str, width: int, modes: int, stagger_time: int) -> tuple[dict, int]:
    """The model config and frames per call; ``stagger`` is a 2 x 2 (x ``stagger_time``)
    NeuralStagger over one shared FNO of the same width on the 32^2 sub-grids."""
    if model == "fno":
        return {"n_modes": [modes, modes], "hidden_channels": width, "n_layers": 4}, 1
    if model == "stagger":
        half = max(modes // 2, 2)
        return {"base": "fno", "shared": True, "space": [2, 2], "time": stagger_time,
                "base_config": {"n_modes": [half, half], "hidden_channels": width,
                                "n_layers": 4}}, stagger_time
    raise ValueError(f"--model must be 'fno' or 'stagger', got {model!r}")


class _StepClock:
    """Lightning callback: wall time at the end of each training batch."""

    def __init__(self) -> None:
        import pytorch_lightning as pl

        self.times: list[float] = []
        outer = self

        class Clock(pl.Callback):
            def on_train_batch_end(self, trainer, module, *args) -> None:
                if module.device.type == "cuda":
                    torch.cuda.synchronize(module.device)
                outer.times.append(time.perf_counter())

        self.callback = Clock()

    def seconds_per_step(self) -> float:
        gaps = np.diff(self.times)[2:]  # the first steps carry warm-up
        return float(statistics.median(gaps))


def train(work: Path, data: Path, tag: str, n_train: int, model: str, width: int, modes: int,
          stagger_time: int, budget: float, batch_size: int, workers: int, seed: int,
          physics: float | None = None, train_calls: int | None = None,
          epochs: int | None = None) -> None:
    """``train_calls`` None: the paper's training, one window per trajectory with the
    gradient through all 40 frames; else every window of that many calls. ``epochs``
    fixes the epoch count (equal steps for comparisons) instead of fitting it to
    ``budget``, which then does not cap the run."""
    import pytorch_lightning as pl
    from pytorch_lightning.callbacks import ModelCheckpoint
    from pytorch_lightning.loggers import CSVLogger

    from surrogates.data import GridDataModule
    from surrogates.module import GridSurrogate

    pl.seed_everything(seed)
    config, per_call = _model_setup(model, width, modes, stagger_time)
    calls = N_PREDICT // per_call if train_calls is None else train_calls
    dm = GridDataModule(str(data), ["vorticity"], n_input=N_INPUT, n_output=calls * per_call,
                        rollout_steps=N_PREDICT, batch_size=batch_size, num_workers=workers,
                        stride=FRAMES if train_calls is None else 1, train_trajectories=n_train)
    module = GridSurrogate(model, config, channels=1, n_input=N_INPUT, frames_per_call=per_call,
                           grid_dims=2, normaliser=dm.normaliser, loss="l2",
                           train_calls=calls, lr=1e-3, weight_decay=1e-4,
                           dataset_schema=dm.dataset_schema,
                           physics=None if physics is None else {"weight": physics})
    quiet = {"logger": False, "enable_progress_bar": False, "enable_model_summary": False}

    clock = _StepClock()
    t0 = time.perf_counter()
    pl.Trainer(max_steps=8, limit_val_batches=0, enable_checkpointing=False,
               callbacks=[clock.callback], **quiet).fit(copy.deepcopy(module), dm)
    per_step = clock.seconds_per_step()
    steps_per_epoch = len(dm.train_dataloader())
    # at least one epoch, however short the budget
    remaining = max(budget - (time.perf_counter() - t0), per_step * steps_per_epoch)
    max_time = None if epochs else {"seconds": 1.3 * remaining + 20}
    # 10% of the time for validation rollouts and checkpoints
    epochs = epochs or max(1, int(0.9 * remaining / (per_step * steps_per_epoch)))
    print(f"train {tag}: {per_step * 1e3:.1f} ms per step, {epochs} epochs of "
          f"{steps_per_epoch} steps", flush=True)

    out = work / "train"
    best = ModelCheckpoint(dirpath=out / tag, filename="best", monitor="val/rollout_rel_l2",
                           mode="min")
    trainer = pl.Trainer(max_epochs=epochs, max_time=max_time,
                         check_val_every_n_epoch=max(1, epochs // 20),
                         callbacks=[best], logger=CSVLogger(out, name=tag),
                         log_every_n_steps=max(1, steps_per_epoch), enable_progress_bar=False,
                         enable_model_summary=False)
    t1 = time.perf_counter()
    trainer.fit(module, dm)
    record = {"tag": tag, "model": model, "model_config": config, "n_train": n_train,
              "batch_size": batch_size, "train_calls": calls, "physics_weight": physics,
              "epochs_planned": epochs,
              "epochs_run": trainer.current_epoch, "steps": trainer.global_step,
              "seconds_per_step": per_step, "fit_seconds": time.perf_counter() - t1,
              "best_val_rollout_rel_l2": float(best.best_model_score),
              "checkpoint": str(Path(best.best_model_path).relative_to(work.resolve())),
              "parameters": sum(p.numel() for p in module.net.parameters()),
              "device": str(module.device), "machine": machine_line()}
    write_results(out, tag, record)
    print(f"train {tag}: done, best validation rollout rel L2 "
          f"{record['best_val_rollout_rel_l2']:.4f}", flush=True)


def read_test(path: Path, limit: int | None = None) -> np.ndarray:
    """``(N, FRAMES, m, m)`` vorticity of a dataset's test split."""
    with open_dataset(path, verify="none") as ds:
        ids = ds.ids("test")[:limit]
        return np.stack([ds.trajectory(i).frames["vorticity"] for i in ids])


def _rollout_errors(surrogate, w: np.ndarray, batch: int) -> dict:
    from surrogates import metrics

    preds = [surrogate.rollout(w[i:i + batch, :N_INPUT], N_PREDICT)
             for i in range(0, len(w), batch)]
    pred = torch.from_numpy(np.concatenate(preds))[:, :, None]  # (N, 40, 1, m, m)
    true = torch.from_numpy(w[:, N_INPUT:N_INPUT + N_PREDICT])[:, :, None]
    summary = metrics.rollout_summary(pred, true, 2)
    per_frame = summary["frame_rel_l2"]  # (N, 40)
    return {"trajectories": len(w), "grid": list(w.shape[-2:]),
            "mean_frame_rel_l2": float(per_frame.mean()),  # the paper's number
            "rollout_rel_l2": float(summary["rollout_rel_l2"].mean()),
            "frame_rel_l2_by_step": per_frame.mean(0).tolist(),
            "steps_to_failure": float(summary["steps_to_failure"].float().mean()),
            "vrmse": float(summary["vrmse"].mean()),
            "spectrum_error_last_frame": float(summary["spectrum_error"].mean())}


def evaluate(work: Path, tag: str, tests: list[Path], device: str, batch: int,
             timing_batches: list[int], repeats: int) -> None:
    import surrogates

    record = json.loads((work / "train" / f"{tag}.json").read_text())
    surrogate = surrogates.load(work / record["checkpoint"], device=device)
    result = {"tag": tag, "device": device, "machine": machine_line(), "tests": {}}
    for path in tests:
        w = read_test(path)
        result["tests"][path.name] = _rollout_errors(surrogate, w, batch)
        print(f"evaluate {tag} on {path.name}: mean frame rel L2 "
              f"{result['tests'][path.name]['mean_frame_rel_l2']:.4f}", flush=True)
        if path == tests[0]:
            timing_input = w[:1]
    # one 40-frame rollout of b trajectories, numpy in and out, warm-up excluded
    result["rollout_seconds"] = {
        str(b): rollout_seconds(surrogate, np.repeat(timing_input[:1, :N_INPUT], b, axis=0),
                                N_PREDICT, repeats=repeats) for b in timing_batches}
    write_results(work / "eval", tag, result)


def report(work: Path, out: Path, name: str) -> None:
    trains = {p.stem: json.loads(p.read_text()) for p in sorted((work / "train").glob("*.json"))}
    evals = {p.stem: json.loads(p.read_text()) for p in sorted((work / "eval").glob("*.json"))}
    first = next(iter(evals.values()), {"machine": machine_line(), "device": "?"})
    date = utc_date()
    lines = [f"# {__doc__.splitlines()[0]}", "",
             f"Machine: {first['machine']}; device {first['device']}. Produced by "
             f"`python -m experiments.reproduce_fno_ns` ({date}).",
             "", "Mean relative L2 per predicted frame (t = 10 .. 49 from t = 0 .. 9), over "
             "the test trajectories; the FNO paper's FNO-2D reaches 1.28% with 1000.", "",
             "| run | model | train trajectories | calls per window | epochs | steps | "
             "training s | parameters | test | mean frame rel L2 | rollout rel L2 | "
             "steps to failure | rollout s (batch: s) |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for tag, t in trains.items():
        e = evals.get(tag)
        timing = ", ".join(f"{b}: {s:.3g}" for b, s in e["rollout_seconds"].items()) if e else ""
        c = t["model_config"].get("base_config", t["model_config"])
        model = (f"{t['model']} ({c['n_modes'][0]} modes, width {c['hidden_channels']})"
                 + (f" + physics {t['physics_weight']:g}"
                    if t.get("physics_weight") is not None else ""))
        for test, r in (e["tests"].items() if e else [("", None)]):
            err = (f"{100 * r['mean_frame_rel_l2']:.2f}% | {100 * r['rollout_rel_l2']:.2f}% | "
                   f"{r['steps_to_failure']:.1f}") if r else "| |"
            # records from before --train-calls trained on the whole rollout
            calls = t.get("train_calls", N_PREDICT // t["model_config"].get("time", 1))
            lines.append(f"| {tag} | {model} | {t['n_train']} | {calls} | {t['epochs_run']} | "
                         f"{t['steps']} | {t['fit_seconds']:.0f} | {t['parameters']} | {test} | "
                         f"{err} | {timing} |")
    write_results(out, name, {"train": trains, "evaluate": evals}, "\n".join(lines), echo=True)


def check_solver(out: Path, name: str, setups: list[tuple[int, float, str]], batch: int,
                 t_end: int, seed: int) -> None:
    """Relative L2 difference of each set-up's stored 64^2 frames from the first set-up's
    (the reference), at t = 1 .. ``t_end``, from the same initial fields (drawn at the
    finest grid and spectrally truncated)."""
    finest = max(n for n, _, _ in setups)
    w0 = np.concatenate([gaussian_random_field(
        np.random.default_rng(check_seed(seed, i)), finest) for i in range(batch)])
    stored, seconds = {}, {}
    for n, dt, scheme in setups:
        t0 = time.perf_counter()
        solver = SpectralNS2D(downsample(w0, n), nu=NU, dt=dt, scheme=scheme,
                              forcing=forcing_field("fno", n, AMPLITUDE))
        frames = []
        for t in range(1, t_end + 1):
            solver.advance(float(t))
            frames.append(downsample(solver.vorticity(), 64))
        stored[(n, dt, scheme)], seconds[(n, dt, scheme)] = np.stack(frames, 1), \
            time.perf_counter() - t0
        print(f"check-solver {n}^2 dt {dt:g} {scheme}: {seconds[(n, dt, scheme)]:.0f} s",
              flush=True)
    ref = stored[setups[0]]
    rows = []  # the first is the reference
    marks = sorted({min(t, t_end) for t in (1, 10, 30, 50)})
    host = machine_line(gpu=False)
    lines = [f"# Which solver set-up the FNO Navier-Stokes data needs (nu = {NU:g})", "",
             f"Machine: {host}. {batch} initial fields; the relative L2 difference of "
             f"the stored 64^2 vorticity from the reference ({setups[0][0]}^2, dt "
             f"{setups[0][1]:g}, {setups[0][2]}), mean over the fields. Produced by "
             "`python -m experiments.reproduce_fno_ns check-solver`.", "",
             "| grid | dt | scheme | seconds (this CPU, whole batch) | "
             + " | ".join(f"t = {t}" for t in marks) + " |",
             "|---|---|---|---|" + "---|" * len(marks)]
    for key, frames in stored.items():
        diff = np.linalg.norm((frames - ref).reshape(batch, t_end, -1), axis=-1) / \
            np.linalg.norm(ref.reshape(batch, t_end, -1), axis=-1)
        lines.append(f"| {key[0]}^2 | {key[1]:g} | {key[2]} | {seconds[key]:.0f} | "
                     + " | ".join(f"{diff[:, t - 1].mean():.2e}" for t in marks) + " |")
        rows.append({"grid": key[0], "dt": key[1], "scheme": key[2], "seconds": seconds[key],
                     "rel_l2_by_time": diff.mean(0).tolist()})
    write_results(out, name, {"machine": host, "fields": batch, "times": list(range(1, t_end + 1)),
                              "rows": rows}, "\n".join(lines), echo=True)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text}")
    return value


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/fno_ns"))
    sub = ap.add_subparsers(dest="command", required=True)
    g = sub.add_parser("generate")
    g.add_argument("name")
    g.add_argument("--splits", default="train:1000,valid:100,test:200",
                   help="split:count,... (trajectories)")
    g.add_argument("--resolution", type=int, default=64, help="solver grid")
    g.add_argument("--stored", default="64", help="stored grids, comma-separated")
    g.add_argument("--dt", type=float, default=4e-3)
    g.add_argument("--scheme", default="heun")
    g.add_argument("--workers", type=_positive, default=1,
                   help="Dask worker processes (1: in this process)")
    g.add_argument("--seed", type=int, default=None, help="master seed (default: the recipe's)")
    g.add_argument("--codec", default="gzip", choices=["gzip", "lzf", "none"],
                   help="shard compression; 'none' reads fastest in training")
    t = sub.add_parser("train")
    t.add_argument("data", type=Path)
    t.add_argument("tag")
    t.add_argument("--n-train", type=int, default=1000)
    t.add_argument("--model", default="fno", choices=["fno", "stagger"])
    t.add_argument("--width", type=int, default=32)
    t.add_argument("--modes", type=int, default=12)
    t.add_argument("--stagger-time", type=int, default=1)
    t.add_argument("--budget", type=float, default=600.0, help="wall-clock seconds")
    t.add_argument("--batch-size", type=int, default=20)
    t.add_argument("--workers", type=int, default=2)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--physics", type=float, default=None, metavar="WEIGHT",
                   help="add the physics-constrained loss with this weight")
    t.add_argument("--epochs", type=_positive, default=None,
                   help="fix the epoch count instead of fitting it to --budget")
    t.add_argument("--train-calls", type=_positive, default=None,
                   help="train on every window of this many calls (default: the paper's "
                        "one window of the whole 40-frame rollout per trajectory)")
    e = sub.add_parser("evaluate")
    e.add_argument("tag")
    e.add_argument("tests", type=Path, nargs="+", help="datasets with a test split")
    e.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    e.add_argument("--batch", type=int, default=50)
    e.add_argument("--timing-batches", default="1,20")
    e.add_argument("--repeats", type=int, default=5)
    r = sub.add_parser("report")
    r.add_argument("--out", type=Path, default=Path("experiments/results"))
    r.add_argument("--name", default="fno_ns_reproduction")
    c = sub.add_parser("check-solver")
    c.add_argument("--setups", default="256:1e-3:heun,128:4e-3:heun,64:4e-3:heun,64:1e-3:euler",
                   help="grid:dt:scheme,...; the first is the reference")
    c.add_argument("--batch", type=int, default=2)
    c.add_argument("--t-end", type=int, default=50)
    c.add_argument("--seed", type=int, default=20261127)
    c.add_argument("--out", type=Path, default=Path("experiments/results"))
    c.add_argument("--name", default="ns_solver_check")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    if args.command == "generate":
        splits = {k: int(v) for k, v in (s.split(":") for s in args.splits.split(","))}
        generate(args.work, args.name, splits, args.resolution,
                 [int(m) for m in args.stored.split(",")], args.dt, args.scheme, args.seed,
                 None if args.codec == "none" else args.codec, args.workers)
    elif args.command == "train":
        train(args.work, args.data, args.tag, args.n_train, args.model, args.width, args.modes,
              args.stagger_time, args.budget, args.batch_size, args.workers, args.seed,
              args.physics, args.train_calls, args.epochs)
    elif args.command == "evaluate":
        evaluate(args.work, args.tag, args.tests, args.device, args.batch,
                 [int(b) for b in args.timing_batches.split(",")], args.repeats)
    elif args.command == "check-solver":
        setups = [(int(n), float(dt), sch) for n, dt, sch in
                  (item.split(":") for item in args.setups.split(","))]
        check_solver(args.out, args.name, setups, args.batch, args.t_end, args.seed)
    else:
        report(args.work, args.out, args.name)


if __name__ == "__main__":
    main(sys.argv[1:])
