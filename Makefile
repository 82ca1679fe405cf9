# Quick start:  make serve   (set up, train the demo model if needed, serve it)
#               make test    (set up, run the test suite)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: serve test demo-model bench bench-deepctr clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[$*]'
	touch $@

demo-model: $(VENV)/.installed-serve
	@if ls -d models/criteo_deepfm/[0-9]* >/dev/null 2>&1; then \
		echo "models/criteo_deepfm already has a version"; \
	else \
		$(BIN)/ctrkit train models/criteo_deepfm/spec.yaml --verbose 2; \
	fi

serve: demo-model
	$(BIN)/ctrkit serve --model-repository models --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test
	$(BIN)/python -m pytest -n 2

bench-deepctr: $(VENV)/.installed-serve
	$(BIN)/python benchmarks/vs_deepctr.py

clean:
	rm -rf $(VENV) models/*/[0-9]* models/*/.tmp-*
