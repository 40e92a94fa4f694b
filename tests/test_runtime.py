"""simkit.init is the only place Taichi is initialised."""

from __future__ import annotations

import subprocess
import sys

import pytest

import simkit


def test_import_does_not_initialise_taichi():
    code = ("import simkit, simkit.io, simkit.generate, simkit.cli, surrogates, solvers, sys;"
            "assert 'taichi' not in sys.modules, 'taichi imported at import time';"
            "print('ok')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_init_cpu_f64_sets_default_float_and_is_idempotent():
    import taichi as ti

    info = simkit.init(arch="cpu", precision="f64", seed=7)
    assert info.arch == "cpu" and info.precision == "f64" and info.taichi_version == "1.7.4"
    assert simkit.init(arch="cpu", precision="f64", seed=7) is info
    x = ti.field(dtype=float, shape=())  # `float` means Taichi's default_fp

    @ti.kernel
    def third():
        x[None] = 1.0 / 3.0

    third()
    assert x.dtype == ti.f64
    assert abs(x[None] - 1 / 3) < 1e-15  # would be ~1e-8 in f32
    info32 = simkit.init(arch="cpu", precision="f32")
    assert info32.precision == "f32" and simkit.current_runtime() is info32


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"arch": "gpu"}, r"arch must be one of \['auto', 'cpu', 'cuda', 'vulkan'\], got 'gpu'"),
    ({"precision": "f16"}, r"precision must be one of \['f32', 'f64'\], got 'f16'"),
    ({"seed": -1}, "seed must be a non-negative int or None"),
    ({"cpu_threads": 0}, "cpu_threads must be a positive int"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        simkit.init(**kwargs)


def test_missing_gpu_is_an_error_not_a_silent_fallback():
    import shutil

    if shutil.which("nvidia-smi"):
        pytest.skip("a GPU may be present")
    with pytest.raises(RuntimeError, match="arch='cuda' was requested but Taichi finds no cuda"):
        simkit.init(arch="cuda")
    assert simkit.init(arch="auto").arch == "cpu"


def test_init_notices_a_taichi_reinitialised_behind_its_back():
    import taichi as ti

    info = simkit.init(arch="cpu", precision="f32")
    ti.init(arch=ti.cpu)  # e.g. a third-party script
    again = simkit.init(arch="cpu", precision="f32")
    assert again is not info and again.precision == "f32"
    assert simkit.init(arch="cpu", precision="f32") is again


@pytest.mark.parametrize("level", ["debug", "error"])
def test_check_arch_leaves_the_callers_taichi_log_level(level):
    import taichi as ti

    from simkit.runtime import ArchUnavailable, _logging_level, check_arch

    before = _logging_level(ti)
    ti.set_logging_level(level)
    try:
        for arch in ("cuda", "vulkan"):  # both probe with the level lowered to ERROR
            try:
                check_arch(arch)
            except ArchUnavailable:
                pass
            assert _logging_level(ti) == level, arch
        # "debug" shows debug messages and "error" hides warnings, as the caller set
        assert ti.is_logging_effective("debug") == (level == "debug")
        assert ti.is_logging_effective("warn") == (level == "debug")
    finally:
        ti.set_logging_level(before)
