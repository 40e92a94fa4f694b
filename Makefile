# Two commands on a fresh machine: `make demo` and `make test`. Both bootstrap .venv.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test test-slow bench lint clean-venv

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	# torch first and by exact version: that takes the CPU wheel (a GPU user installs
	# a CUDA build of torch==2.13.0 into .venv before running make; see README).
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(PY) -m experiments.demo --out runs/demo

# two worker processes (pytest-xdist), whole files per worker so module fixtures are
# shared; random order (pytest-randomly), its seed printed at the end
test: $(STAMP)
	$(PY) -m pytest -m "not slow and not gpu" -q -n 2 --dist loadfile

test-slow: $(STAMP)
	$(PY) -m pytest -m "slow" -q

bench: $(STAMP)
	$(PY) -m experiments.bench_io --out experiments/results
	$(PY) -m experiments.bench_mpm --out experiments/results
	$(PY) -m experiments.bench_spectral --out experiments/results
	$(PY) -m experiments.bench_fluid --out experiments/results
	$(PY) -m experiments.bench_nbody --out experiments/results
	$(PY) -m solvers.bench --name solvers_bench_128 --rtol 1e-6 --repeat 3 \
		--problems poisson:128,obstacles:128 \
		--methods cg,scipy_cg,ic0,scipy_ic0,mic0,gmg,amg_sa,amg_rs,pyamg_sa
	$(PY) -m solvers.bench --name solvers_bench_gallery --rtol 1e-8 --repeat 2 \
		--problems two_phase:64,lognormal:64,poisson_neumann:64,poisson_aniso:64,pyamg:airfoil,pyamg:bar,pyamg:knot,pyamg:unit_cube \
		--methods cg,ic0,mic0,gmg,amg_sa,amg_rs
	$(PY) -m experiments.bench_relax --out experiments/results
	$(PY) -m experiments.bench_surrogate --out experiments/results

lint: $(STAMP)
	$(VENV)/bin/ruff check simkit surrogates solvers experiments tests

clean-venv:
	rm -rf $(VENV)
