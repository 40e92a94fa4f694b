"""Atomic file writes: write to a temporary name in the same folder, fsync, rename."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

TMP_MARK = ".tmp-"


def tmp_name(final: Path) -> Path:
    """A temporary sibling of ``final`` that readers and globs for ``*.h5`` skip."""
    return final.with_name(f".{final.name}{TMP_MARK}{os.getpid()}")


def fsync_dir(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextlib.contextmanager
def atomic_path(final: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path; on success fsync it and rename it to ``final``.

    On an exception the temporary file is removed and ``final`` is untouched.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = tmp_name(final)
    try:
        yield tmp
        with open(tmp, "rb+") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, final)
        fsync_dir(final.parent)
    finally:
        if tmp.exists():
            tmp.unlink()


def atomic_write_text(final: str | os.PathLike, text: str) -> None:
    """Write ``text`` (UTF-8) to ``final`` atomically."""
    with atomic_path(final) as tmp:
        tmp.write_text(text, encoding="utf-8")


def remove_stale_tmp(folder: Path) -> list[Path]:
    """Delete temporary files left by an interrupted writer; return what was removed."""
    removed = []
    if folder.exists():
        for p in folder.rglob(f".*{TMP_MARK}*"):
            p.unlink()
            removed.append(p)
    return removed
