"""Where data came from: code versions, git state, runtime, time of creation."""

from __future__ import annotations

import functools
import hashlib
import json
import subprocess
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

from simkit._version import __version__

__all__ = ["code_provenance", "runtime_provenance", "config_sha256", "utc_now", "machine"]


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


@functools.cache
def _git_state() -> tuple[str, bool]:
    """Commit and dirty flag of the checkout holding this package ('unknown' if none)."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10, check=True).stdout.strip()
        status = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"],
                                cwd=here, capture_output=True, text=True, timeout=10,
                                check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return "unknown", False
    return commit, bool(status.strip())


def code_provenance() -> dict[str, Any]:
    """simkit version, git commit and dirty flag."""
    commit, dirty = _git_state()
    return {"simkit_version": __version__, "git_commit": commit, "git_dirty": int(dirty)}


def runtime_provenance(uses_taichi: bool) -> dict[str, Any]:
    """Taichi version, arch and precision of the current runtime (``simkit.init``)."""
    from simkit.runtime import current_runtime

    rt = current_runtime() if uses_taichi else None
    return {
        "taichi_version": metadata.version("taichi"),
        "taichi_arch": rt.arch if rt else "none (simulator does not use Taichi)",
        "precision": rt.precision if rt else "f64",
    }


def config_sha256(config: dict[str, Any]) -> str:
    """sha256 of the canonical JSON form of a resolved config."""
    return hashlib.sha256(json.dumps(config, sort_keys=True).encode()).hexdigest()


def machine() -> str:
    """One line naming this machine for benchmark tables: host, CPU model, cores, RAM."""
    import os
    import platform

    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{platform.node()}: {cpu}, {os.cpu_count()} cores, {mem:.0f} GiB RAM, "
            f"Python {platform.python_version()}, {platform.system()}")
