"""The benchmark helpers: the median they report, the machine line, atomic output."""

import json
import os
from importlib import metadata

import pytest

from simkit import benchmark


class FakeClock:
    """``perf_counter`` that moves only when a timed call says how long it took."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_median_seconds_is_the_median_of_the_timed_calls_only(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(benchmark.time, "perf_counter", clock)
    durations = iter([100.0, 5.0, 1.0, 3.0, 7.0, 2.0])  # the first is the warm-up
    events = []

    def fn():
        events.append("call")
        clock.now += next(durations)

    got = benchmark.median_seconds(fn, repeats=5, warmup=1, sync=lambda: events.append("sync"))
    assert got == 3.0  # median of 5, 1, 3, 7, 2; the 100 s warm-up left out
    assert events == ["call"] + ["sync", "call", "sync"] * 5


def test_median_seconds_of_an_even_count_averages_the_middle_two(monkeypatch):
    clock = FakeClock()
    monkeypatch.setattr(benchmark.time, "perf_counter", clock)
    durations = iter([4.0, 1.0, 2.0, 10.0])

    def fn():
        clock.now += next(durations)

    assert benchmark.median_seconds(fn, repeats=4, warmup=0) == 3.0


@pytest.mark.parametrize("kwargs, match", [
    ({"repeats": 0}, "repeats must be a positive int, got 0"),
    ({"repeats": 2.0}, "repeats must be a positive int, got 2.0"),
    ({"repeats": 1, "warmup": -1}, "warmup must be a non-negative int, got -1"),
])
def test_median_seconds_refuses(kwargs, match):
    with pytest.raises(ValueError, match=match):
        benchmark.median_seconds(lambda: None, **kwargs)


def test_machine_line_names_cores_and_versions():
    line = benchmark.machine_line(gpu=False)
    assert f"{os.cpu_count()} cores" in line
    assert f"torch {metadata.version('torch')}" in line
    assert f"taichi {metadata.version('taichi')}" in line
    assert "GPU" not in line
    assert benchmark.machine_line().startswith(line + "; GPU ")


def test_write_results_round_trips_and_leaves_no_temporary_file(tmp_path, capsys):
    record = {"rows": [{"n": 64, "solve_s": 0.125}], "machine": "m"}
    paths = benchmark.write_results(tmp_path / "new", "bench", record, "| a |\n|---|",
                                    echo=True)
    assert paths == [tmp_path / "new" / "bench.json", tmp_path / "new" / "bench.md"]
    assert json.loads(paths[0].read_text()) == record
    assert paths[1].read_text() == "| a |\n|---|\n"
    assert capsys.readouterr().out == "| a |\n|---|\n"
    assert sorted(p.name for p in (tmp_path / "new").iterdir()) == ["bench.json", "bench.md"]


def test_write_results_failing_midway_keeps_the_previous_file(tmp_path, monkeypatch):
    benchmark.write_results(tmp_path, "bench", {"run": 1})

    def crash(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", crash)
    with pytest.raises(OSError, match="disk full"):
        benchmark.write_results(tmp_path, "bench", {"run": 2})
    assert json.loads((tmp_path / "bench.json").read_text()) == {"run": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["bench.json"]


def test_write_results_refuses_before_writing(tmp_path):
    with pytest.raises(TypeError, match="not JSON serializable"):
        benchmark.write_results(tmp_path, "bench", {"x": object()})
    with pytest.raises(ValueError, match="name must be a file stem without a folder, got 'a/b'"):
        benchmark.write_results(tmp_path, "a/b", {})
    assert list(tmp_path.iterdir()) == []
