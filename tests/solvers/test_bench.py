"""The harness: identical problems, counts that match the methods, failures as failures."""

import json

import numpy as np

from solvers import bench, cg, gallery


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
        assert r["setup_s"] >= 0 and r["solve_s"] > 0 and r["peak_mib"] > 0
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
