# One bootstrap for every target: .venv with the pinned torch first (a CPU wheel here; set
# TORCH_SPEC, e.g. TORCH_SPEC="torch==2.13.0 --index-url ...", on GPU clusters), then the
# project with its test and learning-check extras.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.echelon-installed

.PHONY: install test train learn-echelon bench bench-rllib bench-metrics learn learn-long clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet $(TORCH_SPEC)
	$(PY) -m pip install --quiet -e '.[test,learn]'
	touch $(STAMP)

install: $(STAMP)

# Lint first (pyflakes, pycodestyle errors, bugbear, complexity; pyproject.toml), then the tests.
test: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m pytest -q -m "not slow" tests

train: $(STAMP)
	$(PY) scripts/train_distributed.py

# The long Echelon recipe (ray_configs/learn_echelon.yaml): 115 minutes measured on 2 cores; then
# evaluate its last checkpoint with scripts/eval_policy.py (docs/learning.md, "G, second version").
learn-echelon: $(STAMP)
	$(PY) scripts/train_distributed.py --config ray_configs/learn_echelon.yaml --address local \
		--run-dir runs/learn-echelon-$$(date +%Y%m%d-%H%M%S)

# Benchmarks print JSON; record figures in docs/benchmarks.md. OMP_NUM_THREADS=1 keeps the
# env benchmark on one core.
bench: export OMP_NUM_THREADS=1
bench: $(STAMP)
	$(PY) scripts/bench_env.py --num-envs 64 --packs-per-team 2 --size 100 --steps 200
	$(PY) scripts/bench_env.py --num-envs 64 --packs-per-team 2 --size 100 --steps 200 --heuristic-both
	$(PY) scripts/bench_mapgen.py --size 100 --count 1000
	$(PY) scripts/bench_throughput.py --config ray_configs/smoke.yaml --workers 1 --envs-per-worker 4 --repeats 3

# Ours vs RLlib's PPO + LSTM, 5 min of wall time each on 2 CPUs (about 11 minutes); prints JSON,
# figures in docs/benchmarks.md.
bench-rllib: $(STAMP)
	$(PY) scripts/bench_vs_rllib.py --json --config ray_configs/bench_vs_rllib.yaml --seconds 200 --rllib-seconds 900 --num-cpus 2

# Every learning check (docs/learning.md) with seeds 1-3, two seeds at a time, one torch thread each.
learn: export OMP_NUM_THREADS=1
learn: $(STAMP)
	$(PY) scripts/bench_learning.py --seeds 1 2 3 --jobs 2

# The long check: LSTM Pendulum with the angular velocity masked, 1M env steps, seeds 1-3 (about
# 10 minutes a seed on one core; docs/learning.md).
learn-long: export OMP_NUM_THREADS=1
learn-long: $(STAMP)
	$(PY) scripts/bench_learning.py --tasks pendulum_memory --seeds 1 2 3 --jobs 2

# Cost of the metric families: everything on vs metrics.level=minimal, ABBA pairs with the policy
# frozen, warm-up and timed window stretched to the largest stride; the smoke workload at the
# default strides and at its own test strides, the heuristic-only local workload
# (heuristic_only.yaml, what make train ran until 2026-12-03); about 25 minutes, docs/benchmarks.md.
bench-metrics: $(STAMP)
	$(PY) scripts/bench_metrics.py --config ray_configs/smoke.yaml --pairs 8 --updates 50 \
		--set metrics.coordination_every=10 --set metrics.histogram_every=5 \
		--set metrics.spatial_every=50 --set metrics.table_every=25
	$(PY) scripts/bench_metrics.py --config ray_configs/smoke.yaml --pairs 6 --updates 40
	$(PY) scripts/bench_metrics.py --config ray_configs/heuristic_only.yaml --pairs 5 --updates 50

clean:
	rm -rf $(VENV) .pytest_cache
