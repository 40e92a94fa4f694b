"""What every benchmark script shares: median timings, the machine line, atomic output.

The benchmark scripts (``experiments/bench_*.py``, ``experiments/gpu_check_*.py``,
``python -m solvers.bench``) time with :func:`median_seconds`, head their tables with
:func:`machine_line` and write their ``<name>.json`` and ``<name>.md`` with
:func:`write_results`, so that an interrupted run never leaves a half-written table.
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any

from simkit.io._atomic import atomic_write_text
from simkit.provenance import machine

__all__ = ["median_seconds", "machine_line", "utc_date", "write_results"]


def median_seconds(fn: Callable[[], object], *, repeats: int, warmup: int = 1,
                   sync: Callable[[], object] | None = None) -> float:
    """Median wall time of ``fn()`` over ``repeats`` calls, after ``warmup`` untimed calls.

    Parameters
    ----------
    fn : callable
        Called with no arguments; its result is ignored.
    repeats : int
        Timed calls (at least 1).
    warmup : int
        Untimed calls first (JIT compilation, FFT plans, caches), at least 0.
    sync : callable, optional
        Called before each clock start and before each clock stop, e.g.
        ``torch.cuda.synchronize`` or ``taichi.sync``, so that queued device work is
        inside the timed call and only there.

    Returns
    -------
    float
        The median of the ``repeats`` wall times, in seconds (``time.perf_counter``).

    Raises
    ------
    ValueError
        ``repeats`` is not a positive int or ``warmup`` is negative.
    """
    if not isinstance(repeats, int) or isinstance(repeats, bool) or repeats < 1:
        raise ValueError(f"repeats must be a positive int, got {repeats!r}")
    if not isinstance(warmup, int) or isinstance(warmup, bool) or warmup < 0:
        raise ValueError(f"warmup must be a non-negative int, got {warmup!r}")
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        if sync is not None:
            sync()
        t0 = time.perf_counter()
        fn()
        if sync is not None:
            sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def _gpu() -> str:
    """The CUDA device torch sees, without importing torch where it is not installed."""
    try:
        import torch
    except ImportError:
        return "none (no torch)"
    if not torch.cuda.is_available():
        return "none"
    return ", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))


def machine_line(*, gpu: bool = True) -> str:
    """One line naming the machine and software a benchmark ran on.

    Host, CPU model, cores, RAM, Python and OS (:func:`simkit.provenance.machine`), then
    the torch and taichi versions and the GPU (``torch.cuda``; ``gpu=False`` skips the
    query, which imports torch and may initialise CUDA).

    Examples
    --------
    >>> machine_line(gpu=False)  # doctest: +SKIP
    'box: AMD EPYC 7763, 2 cores, 8 GiB RAM, Python 3.12.3, Linux; torch 2.5.1, taichi 1.7.2'
    """
    line = f"{machine()}; torch {_version('torch')}, taichi {_version('taichi')}"
    return f"{line}; GPU {_gpu()}" if gpu else line


def utc_date() -> str:
    """The current time as benchmark tables print it, e.g. ``2026-01-31 14:05 UTC``."""
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())


def write_results(out: str | Path, name: str, record: Mapping[str, Any],
                  markdown: str | None = None, *, echo: bool = False) -> list[Path]:
    """Write ``<out>/<name>.json`` (and ``<out>/<name>.md``) atomically.

    Each file is written under a temporary name in ``out``, fsynced and renamed, so a
    reader sees the previous complete file or the new one, never a part.

    Parameters
    ----------
    out : path
        Folder, created if missing.
    name : str
        File stem, without a folder or suffix.
    record : mapping
        JSON-serialisable results.
    markdown : str, optional
        The table; a final newline is added if missing.
    echo : bool
        Also print ``markdown`` to stdout.

    Returns
    -------
    list of Path
        The files written, JSON first.

    Raises
    ------
    ValueError
        ``name`` is empty or holds a path separator.
    TypeError
        ``record`` is not JSON-serialisable (nothing is written).
    """
    if not isinstance(name, str) or not name or "/" in name or "\\" in name:
        raise ValueError(f"name must be a file stem without a folder, got {name!r}")
    text = json.dumps(record, indent=1) + "\n"  # before any file is touched
    out = Path(out)
    paths = [out / f"{name}.json"]
    atomic_write_text(paths[0], text)
    if markdown is not None:
        paths.append(out / f"{name}.md")
        atomic_write_text(paths[1], markdown if markdown.endswith("\n") else markdown + "\n")
        if echo:
            sys.stdout.write(markdown if markdown.endswith("\n") else markdown + "\n")
    return paths
