# Quick start:  make serve     (set up, train the demo model if needed, serve it)
#               make test      (set up, run the test suite)
# Then:         make loadtest  (locust, headless, against the service make serve runs)
#               make bench     (set up, install wrk and h2load if needed, run `ctrkit bench` on the demo model)
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
# make loadtest: simulated users, users started per second, duration
USERS ?= 20
SPAWN_RATE ?= 10
DURATION ?= 20s

BENCH_ARGS ?=

.PHONY: serve test demo-model loadtest bench bench-deepctr wrk h2load clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# TensorFlow Serving's gRPC messages and stubs; the package requires `tensorflow`, which would install a second
# TensorFlow beside tensorflow-cpu on Linux: it goes in without its dependencies (they are already here)
TF_SERVING_API ?= tensorflow-serving-api==2.21.0

$(VENV)/.installed-%: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[$*]'
	$(BIN)/pip install --quiet --no-deps '$(TF_SERVING_API)'
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

# The bench's load generators: wrk (HTTP/1.1) and h2load (HTTP/2, for gRPC; Debian package nghttp2-client).
# apt-get installs them where it exists (with sudo unless root); elsewhere the message says how.
WRK_ELSEWHERE := macOS: brew install wrk;  Fedora: sudo dnf install wrk;  Alpine: apk add wrk;  elsewhere build it from https://github.com/wg/wrk and put it on the PATH
H2LOAD_ELSEWHERE := macOS: brew install nghttp2;  Fedora: sudo dnf install nghttp2;  elsewhere build nghttp2 with its applications (https://github.com/nghttp2/nghttp2), or leave the gRPC cases out with BENCH_ARGS=--no-protocols

# $(call load-generator,program,Debian package,how to install it elsewhere)
define load-generator
	@if command -v $(1) >/dev/null 2>&1; then :; \
	elif command -v apt-get >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
		echo "installing $(1) (Debian package $(2)) with apt-get"; \
		$$sudo apt-get update -qq && $$sudo apt-get install -y -qq $(2); \
	else \
		echo "ctrkit bench needs $(1), a load generator, and there is no apt-get here to install it:" >&2; \
		echo "  $(3)" >&2; \
		exit 1; \
	fi
endef

wrk:
	$(call load-generator,wrk,wrk,$(WRK_ELSEWHERE))

h2load:
	$(call load-generator,h2load,nghttp2-client,$(H2LOAD_ELSEWHERE))

bench: demo-model $(VENV)/.installed-loadtest wrk $(if $(findstring --no-protocols,$(BENCH_ARGS)),,h2load)
	$(BIN)/ctrkit bench $(BENCH_ARGS)

# ctrkit beside DeepCTR on the same data (DeepCTR in a virtual environment of its own)
bench-deepctr: $(VENV)/.installed-serve
	$(BIN)/python benchmarks/vs_deepctr.py

clean:
	rm -rf $(VENV) models/*/[0-9]* models/*/.tmp-* models/*/serving.json models/*/.serving.lock
