# Quick start:  make serve     (set up, train the demo model if needed, serve it)
#               make test      (set up, run the test suite)
# Then:         make loadtest  (locust, headless, against the service make serve runs)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# make loadtest: simulated users, users started per second, duration
USERS ?= 20
SPAWN_RATE ?= 10
DURATION ?= 20s

.PHONY: serve test demo-model loadtest bench clean

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

loadtest: $(VENV)/.installed-loadtest
	@$(BIN)/python -c "import urllib.request; urllib.request.urlopen('http://$(HOST):$(PORT)/readyz', timeout=5)" 2>/dev/null \
		|| { echo "no service ready at http://$(HOST):$(PORT): start one first (make serve, in another shell)"; exit 1; }
	@mkdir -p bench-results
	$(BIN)/locust -f loadtest/locustfile.py --headless -u $(USERS) -r $(SPAWN_RATE) -t $(DURATION) \
		--host http://$(HOST):$(PORT) --csv bench-results/locust --only-summary

clean:
	rm -rf $(VENV) models/*/[0-9]* models/*/.tmp-*
