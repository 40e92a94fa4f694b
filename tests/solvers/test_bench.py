"""The harness: identical problems, counts that match the methods, failures as failures."""

import json
from types import SimpleNamespace

import numpy as np
import pytest

from solvers import AMG, IncompleteCholesky, bench, cg, gallery
from solvers.preconditioners import Preconditioner


def _csr_bytes(m) -> int:
    return m.data.nbytes + m.indices.nbytes + m.indptr.nbytes


def test_records_tables_and_plots(tmp_path):
    record = bench.run(["poisson:162d", "pyamg:airfoil"],
                       ["cg", "scipy_cg", "ic0", "gmg", "amg_sa", "pyamg_sa"], rtol=1e-8,
                       repeat=1, log=lambda *a: None)
    grid, airfoil = record["problems"]
    res = {r["method"]: r for r in grid["results"]}
    p = gallery.make("poisson:162d")
    its = []
    cg(p.matrix(), p.b, rtol=1e-8, callback=lambda xk: its.append(1))
    assert res["cg"]["iterations"] == len(its)
    assert abs(res["scipy_cg"]["iterations"] - len(its)) <= 1
    for r in grid["results"]:
        assert r["status"].startswith("ok") and r["residual"] <= 1e-8
        h = np.array(r["history"])
        assert len(h) == r["iterations"] + 1 and h[-1] <= 1e-8
        k = [r["crossings"][t]["iteration"] for t in ("0.0001", "1e-06", "1e-08")]
        assert k == sorted(k) and h[k[0]] <= 1e-4 < h[k[0] - 1]
        assert r["total_s"] == r["setup_s"] + r["solve_s"]
    # peak memory holds at least what the method keeps while it solves: CG's four
    # vectors of n float64, and besides them IC(0)'s two triangular CSR factors and
    # pivots, AMG's operators on every level (a peak traced from the solve on, after the
    # setup, would miss those)
    krylov = 4 * 8 * p.n
    assert res["cg"]["peak_mib"] * 2**20 >= krylov
    ic = IncompleteCholesky(p.matrix())
    held = _csr_bytes(ic.lower) + _csr_bytes(ic.upper) + ic.middle.nbytes
    assert res["ic0"]["peak_mib"] * 2**20 >= held + krylov
    levels = AMG(p.matrix(), "sa").hierarchy.levels
    held = sum(_csr_bytes(getattr(level, m)) for level in levels for m in ("A", "P", "R")
               if hasattr(level, m))
    assert res["amg_sa"]["peak_mib"] * 2**20 >= held + krylov
    assert res["cg"]["spmv_equivalents_per_iteration"] == 1.0
    assert res["ic0"]["spmv_equivalents_per_iteration"] > 1.0
    assert res["gmg"]["iterations"] < res["ic0"]["iterations"] < res["cg"]["iterations"]
    gmg = next(r for r in airfoil["results"] if r["method"] == "gmg")
    assert gmg["status"].startswith("n/a")
    paths = bench.write(record, tmp_path, "b")
    assert {q.name for q in paths} >= {"b.md", "b.json", "b_poisson2d_dirichlet_16.png"}
    assert json.loads((tmp_path / "b.json").read_text())["rtol"] == 1e-8
    assert "| IC(0)-PCG |" in (tmp_path / "b.md").read_text()


def test_non_convergence_and_errors_are_reported_not_raised(monkeypatch):
    record = bench.run(["lognormal:162d"], ["cg"], maxiter=5, repeat=1, log=lambda *a: None)
    assert record["problems"][0]["results"][0]["status"].startswith("no convergence (info 5")

    def broken(problem):
        raise RuntimeError("setup exploded")

    monkeypatch.setitem(bench.METHODS, "broken", bench.Method("broken", cg, broken))
    record = bench.run(["poisson:82d"], ["broken"], repeat=1, log=lambda *a: None)
    assert record["problems"][0]["results"][0]["status"] == \
        "error: RuntimeError: setup exploded"


class _Spending(Preconditioner):
    """Identity preconditioner whose setup spends the next of ``costs`` seconds of a
    fake clock."""

    name = "spending"

    def __init__(self, A, clock, costs) -> None:
        self.clock, self.costs = clock, costs
        super().__init__(A)

    def _setup(self, A) -> None:
        self.clock.advance(next(self.costs))
        self.shape = A.shape

    def apply(self, r):
        return r


def test_setup_and_solve_are_timed_apart(monkeypatch, fake_clock):
    """On a fake clock that only the fake setup and solve move, the bench attributes
    exactly what each spent: the first (traced) run apart, then the medians of three
    timed runs. Costs are powers of two, so the sums are exact."""
    monkeypatch.setattr(bench, "time", SimpleNamespace(perf_counter=fake_clock))
    setups = iter([2.0, 0.5, 0.125, 0.25])  # first: the traced run (compilation, say)
    solves = iter([8.0, 1.0, 0.5, 0.75])

    def spending_cg(A, b, **kwargs):
        fake_clock.advance(next(solves))
        return cg(A, b, **kwargs)

    monkeypatch.setitem(bench.METHODS, "spending", bench.Method(
        "spending", spending_cg, lambda p: _Spending(p.matrix(), fake_clock, setups)))
    (r,) = bench.run(["poisson:82d"], ["spending"], repeat=3, log=lambda *a: None)[
        "problems"][0]["results"]
    assert r["status"] == "ok"
    assert (r["first_setup_s"], r["setup_s"], r["solve_s"], r["total_s"]) == \
        (2.0, 0.25, 0.75, 1.0)
    assert r["per_iteration_s"] == 0.75 / r["iterations"]
    # the stop is the 1e-8 crossing, so its time is setup + solve
    assert r["crossings"]["1e-08"]["iteration"] == r["iterations"]
    assert r["crossings"]["1e-08"]["time"] == pytest.approx(0.25 + 0.75, rel=1e-15)
    assert next(setups, None) is None and next(solves, None) is None  # four runs, no more
